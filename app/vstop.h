/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VSTOP_APP_H
#define VSTOP_APP_H

/*
 * Types shared by the vstop application's files: ports (ethdevs and vhost-user ports),
 * polling lcore contexts and the one global application context.
 */

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_ether.h>
#include <rte_log.h>
#include <rte_mempool.h>

#include "vs_ctl.h"
#include "options.h"

#define VSTOP_MAX_PORTS   32
#define VSTOP_MAX_STREAMS 1024

extern int vstop_app_logtype;
extern int vstop_vhost_logtype;

#define APP_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, vstop_app_logtype, "vstop: " fmt "\n", ##__VA_ARGS__)
#define VH_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, vstop_vhost_logtype, "vstop.vhost: " fmt "\n", ##__VA_ARGS__)

enum port_kind {
	PORT_ETHDEV = 0,
	PORT_VHOST,
};

struct vhost_port;

/* One port as the application numbers them: ethdevs first, then vhost ports. */
struct app_port {
	uint16_t id;
	enum port_kind kind;
	char name[128];
	uint16_t nb_queues;         /* queue pairs the streams use */
	uint16_t eth_id;            /* PORT_ETHDEV: the ethdev port id */
	struct vhost_port *vh;      /* PORT_VHOST */
	uint16_t dev;               /* engine device id; VS_DEV_NONE for an ethdev */
	struct rte_ether_addr mac;
};

/* One polling lcore. */
struct lcore_ctx {
	struct vs_poller *poller;
	unsigned int lcore_id;
	unsigned int idx;           /* poller index in the engine */
	/* Frames moved by this lcore's streams (idle detection); written by this lcore only. */
	uint64_t moved;
} __rte_cache_aligned;

struct fwd_stream;

struct app {
	struct app_opts opts;
	struct vs_ctl *ctl;
	struct rte_mempool *pool;
	struct app_port ports[VSTOP_MAX_PORTS];
	unsigned int nb_ports;
	unsigned int nb_eth;
	struct fwd_stream *streams[VSTOP_MAX_STREAMS];
	unsigned int nb_streams;
	struct lcore_ctx *lcores;   /* one per polling lcore */
	unsigned int nb_pollers;
	volatile int quit;          /* polling lcores leave their loop */
};

extern struct app app;

/* What a port moved, summed over its streams (and, for vhost, the control side). */
struct port_counters {
	uint64_t rx;          /* frames received from the port */
	uint64_t tx;          /* frames sent to the port (held frames delivered included) */
	uint64_t drop;        /* frames the port's tx queue refused */
	uint64_t held;        /* frames held for the port while it was stopped */
	uint64_t held_drop;   /* held frames dropped (buffer full, reset, ring full) */
};

/* port.c */
void port_counters_get(const struct app_port *p, struct port_counters *c);
int ports_plan(void);
int ports_create(void);
void ports_close(void);
void ports_print_stats(const char *why);
int app_ctl_call_local(struct vs_op *op);

/* fwd_setup.c */
int lcore_map_check(void);
int streams_setup(void);

/* lcore_poll.c */
int lcore_poll_main(void *arg);

#endif /* VSTOP_APP_H */
