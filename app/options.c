/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Application options. Parsed before rte_eal_init() touches any memory, so that a bad
 * command line costs nothing and always exits 2 with one clear message.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

static const char *const mode_names[] = {
	[FWD_IO] = "io",
	[FWD_MACSWAP] = "macswap",
	[FWD_LOOPBACK] = "loopback",
	[FWD_RXONLY] = "rxonly",
	[FWD_TXONLY] = "txonly",
};
#define NB_MODES (sizeof(mode_names) / sizeof(mode_names[0]))

const char *
fwd_mode_name(enum fwd_mode m)
{
	return (unsigned int)m < NB_MODES ? mode_names[m] : "?";
}

void
opts_usage(const char *prog)
{
	printf("Usage: %s [EAL options] -- [options]\n"
	       "\n"
	       "A virtio-net device (vhost-user back end) that a driver can stop and resume.\n"
	       "Ports: every ethdev created with EAL --vdev, in the EAL's order, then every\n"
	       "--vhost port in command-line order; port ids start at 0.\n"
	       "\n"
	       "Options:\n"
	       "  --vhost PATH[,client][,queues=N]\n"
	       "                        vhost-user virtio-net port on unix socket PATH; server\n"
	       "                        mode unless 'client'; N queue pairs (1..%d, default 1).\n"
	       "                        Repeatable.\n"
	       "  --fwd MODE            io (default), macswap, loopback, rxonly, txonly.\n"
	       "                        io/macswap pair ports 0<->1, 2<->3...; loopback sends a\n"
	       "                        port's frames back on the queue pair they came from.\n"
	       "  --lcore-map P.Q@L[,P.Q@L...]\n"
	       "                        poll rx queue Q of port P on worker lcore L; queues not\n"
	       "                        listed are spread evenly over the worker lcores.\n"
	       "  --stop-timeout-ms N   stop deadline (R11), 1..600000, default 1000\n"
	       "  --burst N             frames per burst, 1..512, default 32\n"
	       "  --mbufs N             mbuf pool size, default: what the ports need, >= 8192\n"
	       "  --hold N              frames held per queue for a stopped device, 0..1024,\n"
	       "                        default 256\n"
	       "  --eth-queues N        queues of an ethdev not paired with a vhost port,\n"
	       "                        1..64, default 1\n"
	       "  --idle-backoff-us N   sleep N us when a polling lcore found nothing to do for\n"
	       "                        a while (0 = never sleep, the default)\n"
	       "  -i, --interactive     console with a vstop> prompt ('help' lists commands)\n"
	       "  --cmdline-file FILE   run the console commands in FILE at start-up\n"
	       "  --ctl PATH            control socket (mode 0600): one command per line,\n"
	       "                        one JSON line back per command\n"
	       "  --socket-group NAME   vhost-user server sockets mode 0660, group NAME\n"
	       "                        (default: owner only, 0600)\n"
	       "  --takeover CTL        live upgrade: take over every port of the running vstop\n"
	       "                        whose control socket is CTL (same ports, same order);\n"
	       "                        this vstop then serves CTL. See docs/upgrade.rst\n"
	       "  --takeover-timeout-ms N\n"
	       "                        give up a takeover after N ms (both sides), default 5000\n"
	       "  --no-relay            librte_vhost serves the server sockets itself (no\n"
	       "                        takeover possible); default: vstop relays them\n"
	       "  -h, --help            this help\n"
	       "\n"
	       "Signals: SIGUSR1 prints port statistics; SIGUSR2 stops every running vhost\n"
	       "device, or resumes every stopped one (demo hook); SIGINT/SIGTERM quit.\n",
	       prog, OPT_MAX_QUEUES);
}

static int
fail(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vstop: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s -- --help'.\n", prog);
	return -1;
}

/* Strict unsigned parse: digits only, within [lo, hi]. */
static int
parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int
parse_vhost(const char *prog, const char *arg, struct app_opts *o)
{
	struct opt_vhost *v;
	char buf[512], *tok, *save = NULL;
	unsigned long n;

	if (o->nb_vhost == OPT_MAX_VHOST)
		return fail(prog, "--vhost: at most %d vhost ports", OPT_MAX_VHOST);
	if (strlen(arg) >= sizeof(buf))
		return fail(prog, "--vhost: argument too long");
	v = &o->vhost[o->nb_vhost];
	memset(v, 0, sizeof(*v));
	v->queues = 1;
	snprintf(buf, sizeof(buf), "%s", arg);

	tok = strtok_r(buf, ",", &save);
	if (tok == NULL || *tok == '\0' || arg[0] == ',')
		return fail(prog, "--vhost: missing socket path in '%s'", arg);
	if (strlen(tok) >= sizeof(v->path))
		return fail(prog, "--vhost: socket path '%s' longer than %zu bytes", tok,
			    sizeof(v->path) - 1);
	snprintf(v->path, sizeof(v->path), "%s", tok);
	while ((tok = strtok_r(NULL, ",", &save)) != NULL) {
		if (strcmp(tok, "client") == 0) {
			v->client = true;
		} else if (strcmp(tok, "server") == 0) {
			v->client = false;
		} else if (strncmp(tok, "queues=", 7) == 0) {
			if (parse_uint(tok + 7, 1, OPT_MAX_QUEUES, &n) < 0)
				return fail(prog, "--vhost: queues must be 1..%d, got '%s'",
					    OPT_MAX_QUEUES, tok + 7);
			v->queues = (uint16_t)n;
		} else {
			return fail(prog, "--vhost: unknown parameter '%s' (expected client, "
				    "server or queues=N)", tok);
		}
	}
	for (unsigned int i = 0; i < o->nb_vhost; i++)
		if (strcmp(o->vhost[i].path, v->path) == 0)
			return fail(prog, "--vhost: socket path '%s' given twice", v->path);
	o->nb_vhost++;
	return 0;
}

static int
parse_lcore_map(const char *prog, const char *arg, struct app_opts *o)
{
	char buf[2048], *tok, *save = NULL;

	if (strlen(arg) >= sizeof(buf))
		return fail(prog, "--lcore-map: argument too long");
	snprintf(buf, sizeof(buf), "%s", arg);
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *dot = strchr(tok, '.'), *at = strchr(tok, '@');
		unsigned long p, q, l;

		if (dot == NULL || at == NULL || at < dot)
			return fail(prog, "--lcore-map: '%s' is not PORT.QUEUE@LCORE", tok);
		*dot = '\0';
		*at = '\0';
		if (parse_uint(tok, 0, 65535, &p) < 0 || parse_uint(dot + 1, 0, 65535, &q) < 0 ||
		    parse_uint(at + 1, 0, 1023, &l) < 0)
			return fail(prog, "--lcore-map: bad numbers in '%s.%s@%s'", tok, dot + 1,
				    at + 1);
		if (o->nb_lmap == OPT_MAX_LCORE_MAP)
			return fail(prog, "--lcore-map: at most %d entries", OPT_MAX_LCORE_MAP);
		o->lmap[o->nb_lmap].port = (uint16_t)p;
		o->lmap[o->nb_lmap].queue = (uint16_t)q;
		o->lmap[o->nb_lmap].lcore = (unsigned int)l;
		o->nb_lmap++;
	}
	if (o->nb_lmap == 0)
		return fail(prog, "--lcore-map: empty map");
	return 0;
}

enum {
	OPT_VHOST = 256,
	OPT_FWD,
	OPT_LCORE_MAP,
	OPT_STOP_TIMEOUT,
	OPT_BURST,
	OPT_MBUFS,
	OPT_HOLD,
	OPT_IDLE_BACKOFF,
	OPT_ETH_QUEUES,
	OPT_CMDLINE_FILE,
	OPT_CTL,
	OPT_SOCKET_GROUP,
	OPT_NO_RELAY,
	OPT_TAKEOVER,
	OPT_TAKEOVER_TIMEOUT,
};

static const struct option long_opts[] = {
	{ "vhost", required_argument, NULL, OPT_VHOST },
	{ "fwd", required_argument, NULL, OPT_FWD },
	{ "lcore-map", required_argument, NULL, OPT_LCORE_MAP },
	{ "stop-timeout-ms", required_argument, NULL, OPT_STOP_TIMEOUT },
	{ "burst", required_argument, NULL, OPT_BURST },
	{ "mbufs", required_argument, NULL, OPT_MBUFS },
	{ "hold", required_argument, NULL, OPT_HOLD },
	{ "idle-backoff-us", required_argument, NULL, OPT_IDLE_BACKOFF },
	{ "eth-queues", required_argument, NULL, OPT_ETH_QUEUES },
	{ "interactive", no_argument, NULL, 'i' },
	{ "cmdline-file", required_argument, NULL, OPT_CMDLINE_FILE },
	{ "ctl", required_argument, NULL, OPT_CTL },
	{ "socket-group", required_argument, NULL, OPT_SOCKET_GROUP },
	{ "no-relay", no_argument, NULL, OPT_NO_RELAY },
	{ "takeover", required_argument, NULL, OPT_TAKEOVER },
	{ "takeover-timeout-ms", required_argument, NULL, OPT_TAKEOVER_TIMEOUT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int
num_opt(const char *prog, const char *name, const char *arg, unsigned long lo,
	unsigned long hi, unsigned int *out)
{
	unsigned long v;

	if (parse_uint(arg, lo, hi, &v) < 0)
		return fail(prog, "--%s: expected an integer in %lu..%lu, got '%s'", name, lo, hi,
			    arg);
	*out = (unsigned int)v;
	return 0;
}

int
opts_parse(int argc, char **argv, struct app_opts *o)
{
	const char *prog = argv[0];
	int c, rc = 0;

	memset(o, 0, sizeof(*o));
	o->fwd = FWD_IO;
	o->stop_timeout_ms = 1000;
	o->burst = 32;
	o->hold = 256;
	o->eth_queues = 1;
	o->socket_gid = -1;
	o->takeover_timeout_ms = 5000;

	optind = 1;
	opterr = 0; /* our own messages */
	while (rc == 0 && (c = getopt_long(argc, argv, ":hi", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_VHOST:
			rc = parse_vhost(prog, optarg, o);
			break;
		case OPT_FWD: {
			unsigned int m;

			for (m = 0; m < NB_MODES; m++)
				if (strcmp(optarg, mode_names[m]) == 0)
					break;
			if (m == NB_MODES)
				rc = fail(prog, "--fwd: unknown mode '%s' (io, macswap, loopback, "
					  "rxonly, txonly)", optarg);
			else
				o->fwd = (enum fwd_mode)m;
			break;
		}
		case OPT_LCORE_MAP:
			rc = parse_lcore_map(prog, optarg, o);
			break;
		case OPT_STOP_TIMEOUT:
			rc = num_opt(prog, "stop-timeout-ms", optarg, 1, 600000, &o->stop_timeout_ms);
			break;
		case OPT_BURST:
			rc = num_opt(prog, "burst", optarg, 1, 512, &o->burst);
			break;
		case OPT_MBUFS:
			rc = num_opt(prog, "mbufs", optarg, 1024, 4194304, &o->mbufs);
			break;
		case OPT_HOLD:
			rc = num_opt(prog, "hold", optarg, 0, 1024, &o->hold);
			break;
		case OPT_IDLE_BACKOFF:
			rc = num_opt(prog, "idle-backoff-us", optarg, 0, 1000000,
				     &o->idle_backoff_us);
			break;
		case OPT_ETH_QUEUES:
			rc = num_opt(prog, "eth-queues", optarg, 1, OPT_MAX_QUEUES, &o->eth_queues);
			break;
		case 'i':
			o->interactive = true;
			break;
		case OPT_CMDLINE_FILE:
			if (snprintf(o->cmdline_file, sizeof(o->cmdline_file), "%s", optarg) >=
			    (int)sizeof(o->cmdline_file))
				rc = fail(prog, "--cmdline-file: path too long");
			break;
		case OPT_CTL:
			if (snprintf(o->ctl_path, sizeof(o->ctl_path), "%s", optarg) >=
			    (int)sizeof(o->ctl_path))
				rc = fail(prog, "--ctl: socket path longer than %zu bytes",
					  sizeof(o->ctl_path) - 1);
			break;
		case OPT_SOCKET_GROUP: {
			const struct group *g = getgrnam(optarg);

			if (g == NULL || strlen(optarg) >= sizeof(o->socket_group)) {
				rc = fail(prog, "--socket-group: no group '%s'", optarg);
				break;
			}
			snprintf(o->socket_group, sizeof(o->socket_group), "%s", optarg);
			o->socket_gid = (long)g->gr_gid;
			break;
		}
		case OPT_NO_RELAY:
			o->no_relay = true;
			break;
		case OPT_TAKEOVER:
			if (snprintf(o->takeover_path, sizeof(o->takeover_path), "%s", optarg) >=
			    (int)sizeof(o->takeover_path))
				rc = fail(prog, "--takeover: socket path longer than %zu bytes",
					  sizeof(o->takeover_path) - 1);
			break;
		case OPT_TAKEOVER_TIMEOUT:
			rc = num_opt(prog, "takeover-timeout-ms", optarg, 100, 600000,
				     &o->takeover_timeout_ms);
			break;
		case 'h':
			opts_usage(prog);
			return 1;
		case ':':
			rc = fail(prog, "option '%s' needs an argument", argv[optind - 1]);
			break;
		default:
			rc = fail(prog, "unknown option '%s'", argv[optind - 1]);
			break;
		}
	}
	if (rc == 0 && optind < argc)
		rc = fail(prog, "unexpected argument '%s'", argv[optind]);
	if (rc == 0 && o->takeover_path[0] != '\0' && o->no_relay)
		rc = fail(prog, "--takeover needs the relay: drop --no-relay");
	return rc;
}
