/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vstop-fe: vhost-user front end + virtio-net driver that exercises the stop contract of
 * a vhost-user backend (DESIGN.md section 1). Options and start-up.
 */

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "fe.h"
#include "fe_app.h"

static void
usage(FILE *f)
{
	fprintf(f,
"Usage: " FE_NAME " --socket PATH [options]\n"
"Drives a vhost-user backend (server mode) as front end and virtio-net driver:\n"
"sends sequence-numbered frames and checks each comes back once and in order\n"
"(backend in loopback/macswap), stops/resumes/migrates the device under traffic.\n"
"\n"
"Connection:\n"
"  -s, --socket PATH        vhost-user socket of the backend (A)\n"
"  -p, --peer PATH          second backend (B) for --migrate\n"
"      --retries N          connect retries, 100 ms apart (default 0)\n"
"      --msg-timeout MS     wait at most MS for any reply (default 2000)\n"
"Traffic:\n"
"  -q, --queues N           queue pairs (default 1)\n"
"  -r, --ring-size N        ring entries, power of 2 (default 256)\n"
"      --packed             packed virtqueues (VIRTIO_F_RING_PACKED, 34) instead of\n"
"                           split ones; the backend must offer feature 34\n"
"  -f, --frame-size N       frame bytes without virtio header (default 64)\n"
"      --flows N            flow ids cycled through (default 1)\n"
"      --rate PPS           total frames per second (default 0: flat out)\n"
"      --count N            frames per queue, then stop sending (default unlimited)\n"
"  -d, --duration SEC       traffic time (default 3, or 0 with --cycles/--migrate)\n"
"      --busy-poll          never sleep in the data thread when idle\n"
"Many devices:\n"
"      --devices N          N devices from one process (no traffic unless --traffic):\n"
"                           --socket is a\n"
"                           pattern with %%u (device index 0..N-1), e.g.\n"
"                           /tmp/vs%%u.sock. Each is brought up to DRIVER_OK; with\n"
"                           --cycles, all are stopped together (every status write,\n"
"                           then every poll) and resumed; then they stay up for\n"
"                           --duration (0: until SIGTERM/SIGINT, or with --cycles\n"
"                           not at all)\n"
"      --traffic            with --devices: every device sends sequence-numbered\n"
"                           frames (--rate is per device) and checks what comes back,\n"
"                           all from one thread; at the end every device drains\n"
"                           (--drain) and the totals are checked\n"
"Stop and migration:\n"
"  -c, --cycles N           stop/resume cycles under traffic\n"
"      --stop-kind K        auto|stopped|suspend|vring-base|enable (default auto:\n"
"                           DEVICE_STOPPED, else SUSPEND, else GET_VRING_BASE)\n"
"      --deadline MS        a stop must show within MS (default 1000)\n"
"      --hold MS            time spent stopped in each cycle (default 0)\n"
"      --gap MS             traffic between two operations (default 10)\n"
"  -m, --migrate M          M migrations alternating between --socket and --peer\n"
"      --mig-stop-kind K    how the source is stopped (default auto)\n"
"      --corrupt HOW        damage the device state sent to the destination:\n"
"                           flip|truncate|version|magic (M3 probe)\n"
"      --expect-refused     the destination must refuse and the source resume\n"
"      --no-preconnect      connect the destination only after the source stopped\n"
"      --state-first        load the state before the destination's ring setup\n"
"                           (default: rings, then state, then DRIVER_OK)\n"
"      --no-device-stop     do not negotiate VIRTIO_F_DEVICE_STOP (42)\n"
"      --no-suspend         do not negotiate VIRTIO_F_SUSPEND (43)\n"
"      --force-stop         write the stop bit even if its feature is not negotiated\n"
"      --no-cancel          on a missed stop deadline, leave the request in place\n"
"      --drain MS           at the end wait for frames in flight (default 1000)\n"
"      --gap-log US         list every receive gap longer than US microseconds\n"
"                           (end time CLOCK_MONOTONIC, length) in the summary\n"
"Conformance:\n"
"      --conformance        probe every rule R1..R12, S1..S4, V1..V3, M1..M3; one\n"
"                           line each, PASS/FAIL/SKIP; uses --peer for M2/M3\n"
"      --only IDS           run only these rules (comma list, e.g. R6,R8)\n"
"      --backend-ctl PATH   control socket of the backend behind --socket (vstop\n"
"                           --ctl): R7/S4 ask it for a config change (link down,\n"
"                           then up) while the device is stopped\n"
"      --backend-port N     the backend's port id of that device (default 0)\n"
"Output:\n"
"      --quiet              no progress lines\n"
"  -v, --verbose            debug messages\n"
"  -h, --help\n"
"\n"
"Exit status: 0 all good, 1 frames lost/duplicated/reordered/corrupt, a stop deadline\n"
"missed, a migration refused or failed, or a rule failed; 2 usage; 3 fatal (cannot\n"
"connect, protocol error, backend gone).\n");
}

enum {
	O_RETRIES = 256, O_DEVICES, O_MSG_TIMEOUT, O_FLOWS, O_RATE, O_COUNT, O_BUSY, O_STOP_KIND,
	O_DEADLINE, O_HOLD, O_GAP, O_MIG_KIND, O_CORRUPT, O_EXPECT_REFUSED, O_NO_PRECONNECT,
	O_NO_DSTOP, O_NO_SUSPEND, O_FORCE_STOP, O_NO_CANCEL, O_DRAIN, O_CONFORMANCE, O_ONLY,
	O_QUIET, O_STATE_FIRST, O_BACKEND_CTL, O_BACKEND_PORT, O_PACKED, O_TRAFFIC, O_GAP_LOG,
};

static const struct option long_opts[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "peer", required_argument, NULL, 'p' },
	{ "retries", required_argument, NULL, O_RETRIES },
	{ "msg-timeout", required_argument, NULL, O_MSG_TIMEOUT },
	{ "queues", required_argument, NULL, 'q' },
	{ "ring-size", required_argument, NULL, 'r' },
	{ "packed", no_argument, NULL, O_PACKED },
	{ "frame-size", required_argument, NULL, 'f' },
	{ "flows", required_argument, NULL, O_FLOWS },
	{ "rate", required_argument, NULL, O_RATE },
	{ "count", required_argument, NULL, O_COUNT },
	{ "duration", required_argument, NULL, 'd' },
	{ "busy-poll", no_argument, NULL, O_BUSY },
	{ "devices", required_argument, NULL, O_DEVICES },
	{ "traffic", no_argument, NULL, O_TRAFFIC },
	{ "cycles", required_argument, NULL, 'c' },
	{ "stop-kind", required_argument, NULL, O_STOP_KIND },
	{ "deadline", required_argument, NULL, O_DEADLINE },
	{ "hold", required_argument, NULL, O_HOLD },
	{ "gap", required_argument, NULL, O_GAP },
	{ "migrate", required_argument, NULL, 'm' },
	{ "mig-stop-kind", required_argument, NULL, O_MIG_KIND },
	{ "corrupt", required_argument, NULL, O_CORRUPT },
	{ "expect-refused", no_argument, NULL, O_EXPECT_REFUSED },
	{ "no-preconnect", no_argument, NULL, O_NO_PRECONNECT },
	{ "state-first", no_argument, NULL, O_STATE_FIRST },
	{ "no-device-stop", no_argument, NULL, O_NO_DSTOP },
	{ "no-suspend", no_argument, NULL, O_NO_SUSPEND },
	{ "force-stop", no_argument, NULL, O_FORCE_STOP },
	{ "no-cancel", no_argument, NULL, O_NO_CANCEL },
	{ "drain", required_argument, NULL, O_DRAIN },
	{ "gap-log", required_argument, NULL, O_GAP_LOG },
	{ "conformance", no_argument, NULL, O_CONFORMANCE },
	{ "only", required_argument, NULL, O_ONLY },
	{ "backend-ctl", required_argument, NULL, O_BACKEND_CTL },
	{ "backend-port", required_argument, NULL, O_BACKEND_PORT },
	{ "quiet", no_argument, NULL, O_QUIET },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int
num(const char *opt, const char *s, unsigned long long max, unsigned long long *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || *v > max) {
		fprintf(stderr, FE_NAME ": invalid value for --%s: '%s'\n", opt, s);
		return -1;
	}
	return 0;
}

static int
stop_kind(const char *s, enum fe_stop_kind *k)
{
	static const struct { const char *n; enum fe_stop_kind k; } t[] = {
		{ "auto", FE_STOP_AUTO }, { "stopped", FE_STOP_STOPPED },
		{ "suspend", FE_STOP_SUSPEND }, { "vring-base", FE_STOP_VRING_BASE },
		{ "enable", FE_STOP_ENABLE },
	};
	unsigned int i;

	for (i = 0; i < FE_DIM(t); i++) {
		if (strcmp(s, t[i].n) == 0) {
			*k = t[i].k;
			return 0;
		}
	}
	fprintf(stderr, FE_NAME ": unknown stop kind '%s'\n", s);
	return -1;
}

static int
parse(int argc, char **argv, struct fe_opts *o)
{
	unsigned long long v;
	bool dur_set = false;
	char *end;
	int c;

	memset(o, 0, sizeof(*o));
	o->net.nqp = 1;
	o->net.ring_size = 256;
	o->net.frame_size = 64;
	o->net.flows = 1;
	o->dev.msg_timeout_ms = 2000;
	o->dev.retry_ms = 100;
	o->dev.deadline_ms = 1000;
	o->duration_s = 3;
	o->gap_ms = 10;
	o->drain_ms = 1000;
	while ((c = getopt_long(argc, argv, "s:p:q:r:f:d:c:m:vh", long_opts, NULL)) != -1) {
		switch (c) {
		case 's': o->sock = optarg; break;
		case 'p': o->peer = optarg; break;
		case O_RETRIES:
			if (num("retries", optarg, 100000, &v)) return -1;
			o->dev.connect_retries = v;
			break;
		case O_MSG_TIMEOUT:
			if (num("msg-timeout", optarg, 600000, &v) || !v) return -1;
			o->dev.msg_timeout_ms = v;
			break;
		case 'q':
			if (num("queues", optarg, FE_MAX_VRINGS / 2, &v) || !v) return -1;
			o->net.nqp = v;
			break;
		case 'r':
			if (num("ring-size", optarg, 32768, &v) || !v || (v & (v - 1))) {
				fprintf(stderr, FE_NAME ": --ring-size must be a power of 2 <= 32768\n");
				return -1;
			}
			o->net.ring_size = v;
			break;
		case 'f':
			if (num("frame-size", optarg, FE_FRAME_MAX, &v) || v < FE_FRAME_MIN) {
				fprintf(stderr, FE_NAME ": --frame-size must be %u..%u\n",
					FE_FRAME_MIN, FE_FRAME_MAX);
				return -1;
			}
			o->net.frame_size = v;
			break;
		case O_FLOWS:
			if (num("flows", optarg, 65535, &v) || !v) return -1;
			o->net.flows = v;
			break;
		case O_RATE:
			if (num("rate", optarg, 1000000000ull, &v)) return -1;
			o->net.rate_pps = v;
			break;
		case O_COUNT:
			if (num("count", optarg, ~0ull, &v)) return -1;
			o->net.count = v;
			break;
		case 'd':
			o->duration_s = strtod(optarg, &end);
			if (*end || o->duration_s < 0) {
				fprintf(stderr, FE_NAME ": invalid --duration '%s'\n", optarg);
				return -1;
			}
			dur_set = true;
			break;
		case O_BUSY: o->net.busy_poll = true; break;
		case O_PACKED: o->net.packed = true; break;
		case O_TRAFFIC: o->multi_traffic = true; break;
		case O_DEVICES:
			if (num("devices", optarg, 1024, &v) || !v) return -1;
			o->devices = v;
			break;
		case 'c':
			if (num("cycles", optarg, 100000000, &v)) return -1;
			o->cycles = v;
			break;
		case O_STOP_KIND:
			if (stop_kind(optarg, &o->stop_kind)) return -1;
			break;
		case O_DEADLINE:
			if (num("deadline", optarg, 600000, &v) || !v) return -1;
			o->dev.deadline_ms = v;
			break;
		case O_HOLD:
			if (num("hold", optarg, 600000, &v)) return -1;
			o->hold_ms = v;
			break;
		case O_GAP:
			if (num("gap", optarg, 600000, &v)) return -1;
			o->gap_ms = v;
			break;
		case 'm':
			if (num("migrate", optarg, 100000000, &v)) return -1;
			o->migrations = v;
			break;
		case O_MIG_KIND:
			if (stop_kind(optarg, &o->mig_stop_kind)) return -1;
			break;
		case O_CORRUPT:
			if (fe_corrupt_parse(optarg, &o->corrupt)) {
				fprintf(stderr, FE_NAME ": unknown --corrupt '%s'\n", optarg);
				return -1;
			}
			break;
		case O_EXPECT_REFUSED: o->expect_refused = true; break;
		case O_NO_PRECONNECT: o->no_preconnect = true; break;
		case O_STATE_FIRST: o->state_first = true; break;
		case O_NO_DSTOP: o->dev.no_device_stop = true; break;
		case O_NO_SUSPEND: o->dev.no_suspend = true; break;
		case O_FORCE_STOP: o->dev.force_stop_bit = true; break;
		case O_NO_CANCEL: o->dev.no_cancel = true; break;
		case O_DRAIN:
			if (num("drain", optarg, 600000, &v)) return -1;
			o->drain_ms = v;
			break;
		case O_GAP_LOG:
			if (num("gap-log", optarg, 60000000, &v)) return -1;
			o->net.gap_log_ns = (uint64_t)v * 1000;
			break;
		case O_CONFORMANCE: o->conformance = true; break;
		case O_ONLY: o->only = optarg; break;
		case O_BACKEND_CTL: o->backend_ctl = optarg; break;
		case O_BACKEND_PORT:
			if (num("backend-port", optarg, 65535, &v)) return -1;
			o->backend_port = v;
			break;
		case O_QUIET: o->quiet = true; break;
		case 'v': fe_verbose = 1; break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, FE_NAME ": unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!o->sock) {
		fprintf(stderr, FE_NAME ": --socket is required\n");
		return -1;
	}
	if (o->migrations && !o->peer) {
		fprintf(stderr, FE_NAME ": --migrate needs --peer\n");
		return -1;
	}
	if ((o->corrupt || o->expect_refused) && !o->migrations) {
		fprintf(stderr, FE_NAME ": --corrupt/--expect-refused need --migrate\n");
		return -1;
	}
	if (o->devices && (o->migrations || o->conformance || o->peer)) {
		fprintf(stderr, FE_NAME ": --devices does not go with --migrate/--conformance\n");
		return -1;
	}
	if (o->multi_traffic && !o->devices) {
		fprintf(stderr, FE_NAME ": --traffic goes with --devices\n");
		return -1;
	}
	if (o->multi_traffic && !o->net.rate_pps) {
		fprintf(stderr, FE_NAME ": --devices --traffic needs --rate (frames per second "
			"per device): one thread drives every device\n");
		return -1;
	}
	if (!dur_set && (o->cycles || o->migrations || o->conformance))
		o->duration_s = 0;
	return 0;
}

int
main(int argc, char **argv)
{
	static struct fe_app app;
	struct fe_app *a = &app;
	int ret;

	/*
	 * Both threads wait in short sleeps (2-50 us) between polls: status reads, the first
	 * frame of a migration, the data thread when idle. The default timer slack (50 us)
	 * lets each of them last 50 us longer, which lands in the stop latency and the
	 * migration downtime we measure. 1 us instead; set before the data thread is created,
	 * which inherits it. Best effort: a refusal only makes the figures coarser.
	 */
	if (prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0) != 0)
		FE_LOG("warning: cannot set timer slack to 1 us: %s", strerror(errno));
	/* A backend that dies must show up as EPIPE on a write, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (parse(argc, argv, &a->o)) {
		usage(stderr);
		return FE_EXIT_USAGE;
	}
	if (a->o.devices)
		return fe_multi_run(a);
	ret = fe_net_init(&a->net, &a->o.net);
	if (ret) {
		FE_LOG("error: %s", fe_errmsg());
		return FE_EXIT_FATAL;
	}
	ret = fe_net_start(&a->net, true);
	if (ret) {
		FE_LOG("error: %s", fe_errmsg());
		return FE_EXIT_FATAL;
	}
	a->t0 = fe_now_ns();
	a->cur = a->o.sock;
	ret = fe_dev_start(&a->dev, &a->net, a->o.sock, &a->o.dev, 0);
	if (ret) {
		FE_LOG("error: %s", fe_errmsg());
		fe_net_fini(&a->net);
		return FE_EXIT_FATAL;
	}
	{
		char b[96];
		uint8_t st = 0;

		if (vu_has(&a->dev.vu, VU_PF_STATUS))
			fe_dev_get_status(&a->dev, &st);
		FE_LOG("connected to %s: features 0x%llx, protocol 0x%llx, %u queue pair(s), %s rings of %u, status %s",
		       a->o.sock, (unsigned long long)a->dev.features,
		       (unsigned long long)a->dev.vu.proto, a->dev.nqp, fe_dev_layout(&a->dev),
		       a->o.net.ring_size, fe_status_str(st, b, sizeof(b)));
	}
	fe_net_set(&a->net.pause, 0);
	if (a->o.conformance)
		ret = fe_conformance_run(a);
	else
		ret = fe_scenario_run(a);
	fe_dev_close(&a->dev);
	fe_net_fini(&a->net);
	return ret;
}
