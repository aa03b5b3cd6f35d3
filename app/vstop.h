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

#include <pthread.h>

#include <rte_ethdev.h>

/* ethdevs (RTE_MAX_ETHPORTS) then up to OPT_MAX_VHOST vhost-user ports */
#define VSTOP_MAX_PORTS   (RTE_MAX_ETHPORTS + OPT_MAX_VHOST)
#define VSTOP_MAX_STREAMS 8192

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
	bool used;                  /* a port has this id (ids of detached ports are free) */
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
	unsigned int nb_ports;      /* 1 + the highest port id in use (ids may have holes) */
	/*
	 * Taken for writing while a port is added to or removed from the table (runtime
	 * attach / detach), for reading by librte_vhost's callbacks that look a port up by
	 * path. Never taken by a polling lcore.
	 */
	pthread_rwlock_t ports_lock;
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
void port_mac_default(struct app_port *p);
int ports_plan(void);
int ports_create(void);
void ports_close(void);
void ports_print_stats(const char *why);
int app_ctl_call_local(struct vs_op *op);
/* Run @p op on the running control lcore and free it (unless it timed out). */
int app_ctl_call(struct vs_op *op);
/* The port @p id if it is in use, else NULL. */
static inline struct app_port *
app_port_get(unsigned int id)
{
	return id < app.nb_ports && app.ports[id].used ? &app.ports[id] : NULL;
}
/* Runtime ports (port_rt.c). Command lock held. @return the port id / 0, or -errno. */
int port_attach_vhost(const char *spec, char *err, size_t errlen);
int port_detach(uint16_t id, char *err, size_t errlen);

/* fwd_setup.c */
int lcore_map_check(void);
int streams_setup(void);

/* lcore_poll.c */
int lcore_poll_main(void *arg);

#endif /* VSTOP_APP_H */
