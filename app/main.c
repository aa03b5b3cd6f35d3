/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vstop: a virtio-net device (vhost-user back end) that a driver can stop and resume.
 *
 *   vstop [EAL options] -- [options]
 *
 * The main lcore is the control lcore (it runs the stop engine, vs_ctl_main); every
 * worker lcore is a polling lcore (lcore_poll_main). A signal thread handles SIGINT /
 * SIGTERM (quit), SIGUSR1 (print statistics) and SIGUSR2 (stop / resume every vhost
 * device: the demo hook until the console exists).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* CPU_AND, CPU_COUNT, rte_cpuset_t */
#endif
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>

#include "cmd/cmd.h"
#include "console.h"
#include "ctl_sock.h"
#include "options.h"
#include "relay.h"
#include "takeover.h"
#include "telemetry.h"
#include "vhost_dev.h"
#include "vstop.h"

RTE_LOG_REGISTER(vstop_app_logtype, vstop.app, INFO);

struct app app;

static sigset_t handled_signals;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/*
 * SIGUSR2: stop every running, attached vhost device; or resume every stopped one.
 * Minimal on purpose: the console and the control socket replace it.
 */
static void
demo_toggle(void)
{
	int tmo = (int)app.opts.stop_timeout_ms + 1000;

	for (unsigned int i = 0; i < app.nb_ports; i++) {
		const struct app_port *p = &app.ports[i];
		struct vs_dev_info info;
		bool stop;
		uint64_t t0, t1;
		int rc;

		if (!p->used || p->kind != PORT_VHOST || vs_ctl_dev_info(app.ctl, p->dev, &info, tmo) != 0)
			continue;
		if (!info.attached) {
			printf("demo port=%u skipped: no running front end\n", p->id);
			continue;
		}
		stop = info.run_state == VS_RUN_RUNNING;
		t0 = now_ns();
		rc = vs_ctl_simple(app.ctl, stop ? VS_OP_STOP : VS_OP_RESUME, p->dev, tmo);
		t1 = now_ns();
		if (vs_ctl_dev_info(app.ctl, p->dev, &info, tmo) != 0)
			continue;
		printf("demo port=%u %s rc=%d wall_us=%" PRIu64 " stop_ns=%" PRIu64
		       " stop_iters=%" PRIu64 " status=0x%02x\n", p->id, stop ? "stop" : "resume",
		       rc, (t1 - t0) / 1000, info.last_stop_ns, info.last_stop_iters,
		       info.status_shown);
	}
	fflush(stdout);
}

static void
app_shutdown(int sig)
{
	/* After a takeover (either side of a failed one), the sockets are the other vstop's. */
	bool keep = takeover_handed_over() || takeover_pending();

	APP_LOG(INFO, "%s: shutting down%s", strsignal(sig),
		takeover_handed_over() ? " (ports handed over to the new vstop)" : "");
	/* Polling lcores first: they go offline, so no epoch waits for them. */
	app.quit = 1;
	/* destroy_device waits for the engine: the control lcore must still run. */
	for (unsigned int i = 0; i < app.nb_ports; i++)
		if (app.ports[i].used && app.ports[i].kind == PORT_VHOST && app.ports[i].vh != NULL)
			vhost_port_stop(app.ports[i].vh, keep);
	ports_print_stats("exit");
	vs_ctl_quit(app.ctl);
}

static void *
signal_thread(void *arg)
{
	RTE_SET_USED(arg);
	for (;;) {
		int sig;

		if (sigwait(&handled_signals, &sig) != 0)
			continue;
		switch (sig) {
		case SIGUSR1:
			cmd_lock_take();
			ports_print_stats("SIGUSR1");
			cmd_lock_give();
			break;
		case SIGUSR2:
			demo_toggle();
			break;
		default:
			app_shutdown(sig);
			return NULL;
		}
	}
}

static volatile int takeover_rc;

/* B: the takeover runs beside the control loop (it needs the engine). */
static void *
takeover_thread(void *arg)
{
	RTE_SET_USED(arg);
	takeover_rc = takeover_run();
	if (takeover_rc < 0) {
		APP_LOG(ERR, "takeover failed: exiting; the running vstop keeps its ports");
		kill(getpid(), SIGTERM);
		return NULL;
	}
	if (console_start(app.opts.interactive, app.opts.cmdline_file) != 0)
		APP_LOG(ERR, "console not started");
	return NULL;
}

static int
find_dashdash(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0)
			return i;
	return argc;
}

/*
 * How long the control lcore spins on a stop under way (vs_ctl_params.busy_spin_ns): the
 * barrier normally passes in a few microseconds; longer means a polling lcore lost its core.
 */
#define CTL_BUSY_SPIN_NS 50000

/* Does the control (main) lcore run on CPUs that no polling lcore may run on? */
static bool
control_core_is_own(void)
{
	rte_cpuset_t ctl_cpus = rte_lcore_cpuset(rte_get_main_lcore());

	for (unsigned int i = 0; i < app.nb_pollers; i++) {
		rte_cpuset_t shared, poll_cpus = rte_lcore_cpuset(app.lcores[i].lcore_id);

		CPU_AND(&shared, &ctl_cpus, &poll_cpus);
		if (CPU_COUNT(&shared) > 0)
			return false;
	}
	return true;
}

/* Did the EAL part of the command line (argv[0..n)) ask for syslog? */
static bool
eal_wants_syslog(int n, char **argv)
{
	for (int i = 1; i < n; i++)
		if (strncmp(argv[i], "--syslog", 8) == 0)
			return true;
	return false;
}

int
main(int argc, char **argv)
{
	int dd = find_dashdash(argc, argv);
	char **app_argv;
	struct vs_ctl_params cp;
	pthread_t sig_thr;
	unsigned int lcore, i;
	int rc;

	/*
	 * Application options first: a bad command line exits 2 before the EAL takes any
	 * memory or creates any file.
	 */
	app_argv = calloc(argc - dd + 1, sizeof(char *));
	if (app_argv == NULL)
		return 1;
	app_argv[0] = argv[0];
	for (i = 1; (int)i < argc - dd; i++)
		app_argv[i] = argv[dd + i];
	rc = opts_parse(argc - dd, app_argv, &app.opts);
	free(app_argv);
	if (rc > 0)
		return 0;
	if (rc < 0)
		return 2;
	if (dd == argc) {
		for (i = 1; (int)i < argc; i++) {
			if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
				opts_usage(argv[0]);
				printf("\nEAL options: see '%s --no-huge --no-pci -- -h' or the DPDK "
				       "documentation.\n", argv[0]);
				return 0;
			}
		}
	}

	/* Every thread (EAL's, librte_vhost's) inherits this mask: one thread takes them. */
	sigemptyset(&handled_signals);
	sigaddset(&handled_signals, SIGINT);
	sigaddset(&handled_signals, SIGTERM);
	sigaddset(&handled_signals, SIGUSR1);
	sigaddset(&handled_signals, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &handled_signals, NULL);
	signal(SIGPIPE, SIG_IGN); /* a front end that closes a state pipe early */

	/*
	 * librte_vhost logs several INFO lines per vhost-user message: hundreds per migration,
	 * each a write on its one message thread, inside the downtime. vstop logs what a user
	 * needs of them (connections, stops, errors). Set before EAL parses --log-level, so
	 * --log-level=lib.vhost.*:info still brings them back.
	 */
	rte_log_set_level_pattern("lib.vhost.*", RTE_LOG_WARNING);
	optind = 1;
	rc = rte_eal_init(dd, argv);
	if (rc < 0) {
		fprintf(stderr, "vstop: EAL initialisation failed: %s\n", rte_strerror(rte_errno));
		return 2;
	}
	/*
	 * DPDK 22.11 writes every log line to stderr and to syslog(); where there is no
	 * /dev/log the syslog copy is a socket, connect and close per line, tens of
	 * microseconds on the control lcore in the middle of a stop. stderr only, unless the
	 * user asked for syslog with EAL's --syslog.
	 */
	if (!eal_wants_syslog(dd, argv))
		rte_openlog_stream(stderr);

	app.nb_pollers = rte_lcore_count() - 1;
	if (app.nb_pollers == 0 || app.nb_pollers > VS_MAX_POLLERS) {
		fprintf(stderr, "vstop: needs 2..%d lcores: the main lcore controls, the others "
			"poll (e.g. -l 0-1)\n", VS_MAX_POLLERS + 1);
		rte_eal_cleanup();
		return 2;
	}
	app.lcores = rte_zmalloc("lcores", sizeof(*app.lcores) * app.nb_pollers,
				 RTE_CACHE_LINE_SIZE);
	if (app.lcores == NULL)
		rte_exit(EXIT_FAILURE, "out of memory\n");
	i = 0;
	RTE_LCORE_FOREACH_WORKER(lcore) {
		app.lcores[i].lcore_id = lcore;
		app.lcores[i].idx = i;
		i++;
	}

	pthread_rwlock_init(&app.ports_lock, NULL);
	rc = ports_plan();
	if (rc == 0)
		rc = lcore_map_check();
	if (rc < 0) {
		rte_eal_cleanup();
		return 2;
	}

	memset(&cp, 0, sizeof(cp));
	cp.nb_pollers = app.nb_pollers;
	cp.stop_timeout_ns = (uint64_t)app.opts.stop_timeout_ms * 1000000ull;
	cp.busy_spin_ns = control_core_is_own() ? CTL_BUSY_SPIN_NS : 0;
	app.ctl = vs_ctl_create(&cp);
	if (app.ctl == NULL)
		rte_exit(EXIT_FAILURE, "cannot create the stop engine: %s\n", strerror(errno));
	for (i = 0; i < app.nb_pollers; i++) {
		app.lcores[i].poller = vs_ctl_poller(app.ctl, i);
		app.lcores[i].poller->lcore_id = app.lcores[i].lcore_id;
	}

	if (ports_create() != 0 || streams_setup() != 0)
		rte_exit(EXIT_FAILURE, "setup failed\n");

	for (i = 0; i < app.nb_pollers; i++)
		rte_eal_remote_launch(lcore_poll_main, &app.lcores[i], app.lcores[i].lcore_id);
	for (i = 0; i < app.nb_ports; i++) {
		if (app.ports[i].kind == PORT_VHOST &&
		    vhost_port_start_fd(app.ports[i].vh, takeover_pending() ? VHOST_LISTEN_DEFER
					: -1) != 0) {
			/* rte_exit() waits for the polling lcores (rte_eal_cleanup): let them go. */
			app.quit = 1;
			rte_exit(EXIT_FAILURE, "cannot start vhost port %u (librte_vhost 22.11 "
				 "polls at most 1023 sockets and connections)\n", i);
		}
	}
	if (pthread_create(&sig_thr, NULL, signal_thread, NULL) != 0)
		rte_exit(EXIT_FAILURE, "cannot start the signal thread\n");

	vstop_telemetry_register();
	ctl_sock_set_takeover(takeover_serve);
	if (!takeover_pending() && ctl_sock_start(app.opts.ctl_path) != 0)
		rte_exit(EXIT_FAILURE, "cannot create the control socket\n");
	APP_LOG(INFO, "ready: %u port(s), %s forwarding, control lcore %u (%s), %u polling "
		"lcore(s)", app.nb_ports, fwd_mode_name(app.opts.fwd), rte_get_main_lcore(),
		cp.busy_spin_ns ? "own core: spins on a stop" : "core shared with a polling lcore",
		app.nb_pollers);
	printf("vstop ready pid=%d\n", (int)getpid());
	fflush(stdout);
	if (takeover_pending()) {
		pthread_t thr;

		if (rte_ctrl_thread_create(&thr, "vstop-takeover", NULL, takeover_thread, NULL) != 0)
			rte_exit(EXIT_FAILURE, "cannot start the takeover thread\n");
		pthread_detach(thr);
	} else if (console_start(app.opts.interactive, app.opts.cmdline_file) != 0) {
		APP_LOG(ERR, "console not started");
	}

	vs_ctl_main(app.ctl); /* until app_shutdown() */

	console_stop();
	ctl_sock_stop();
	relay_fini();
	rte_eal_mp_wait_lcore();
	pthread_join(sig_thr, NULL);
	ports_close();
	vs_ctl_free(app.ctl);
	rte_eal_cleanup();
	return takeover_rc < 0 ? 1 : 0;
}
