/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VSTOP_OPTIONS_H
#define VSTOP_OPTIONS_H

/* vstop's application options (what follows "--" on the command line). */

#include <stdbool.h>
#include <stdint.h>

#define OPT_MAX_VHOST       1024 /* librte_vhost's RTE_MAX_VHOST_DEVICE */
#define OPT_MAX_QUEUES      64   /* queue pairs per vhost port */
#define OPT_MAX_LCORE_MAP   256
#define OPT_PATH_MAX        108  /* sun_path */

enum fwd_mode {
	FWD_IO = 0,
	FWD_MACSWAP,
	FWD_LOOPBACK,
	FWD_RXONLY,
	FWD_TXONLY,
};

struct opt_vhost {
	char path[OPT_PATH_MAX];
	bool client;
	uint16_t queues;
};

/* "--lcore-map P.Q@L": the rx queue Q of port P is polled by lcore L. */
struct opt_lcore_map {
	uint16_t port;
	uint16_t queue;
	unsigned int lcore;
};

struct app_opts {
	struct opt_vhost vhost[OPT_MAX_VHOST];
	unsigned int nb_vhost;
	enum fwd_mode fwd;
	struct opt_lcore_map lmap[OPT_MAX_LCORE_MAP];
	unsigned int nb_lmap;
	unsigned int stop_timeout_ms;
	unsigned int burst;
	unsigned int mbufs;          /* 0: as many as the ports need, at least 8192 */
	unsigned int hold;           /* frames held per queue for a stopped device */
	unsigned int idle_backoff_us;
	unsigned int eth_queues;     /* queues of an ethdev that is not paired with a vhost port */
	bool interactive;            /* -i: console prompt (console.c) */
	char cmdline_file[512];      /* --cmdline-file: console script */
	char ctl_path[OPT_PATH_MAX]; /* --ctl: control socket (ctl_sock.c) */
	char socket_group[64];       /* --socket-group: vhost-user sockets 0660 with this group */
	long socket_gid;             /* its gid; -1: sockets are owner-only (0600) */
	bool no_relay;               /* --no-relay: librte_vhost serves the sockets itself */
	char takeover_path[OPT_PATH_MAX]; /* --takeover CTL: take over that vstop's ports */
	unsigned int takeover_timeout_ms; /* --takeover-timeout-ms */
};

const char *fwd_mode_name(enum fwd_mode m);

/*
 * Parse the application options argv[1..argc-1] (argv[0] is the program name).
 * @return 0, 1 if help was printed, -1 after printing an error to stderr.
 */
int opts_parse(int argc, char **argv, struct app_opts *o);

void opts_usage(const char *prog);

#endif /* VSTOP_OPTIONS_H */
