/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VSTOP_FWD_H
#define VSTOP_FWD_H

/*
 * The fast path: one stream = one rx queue of one port forwarded to one tx queue of one
 * port. The stop engine decides which streams a polling lcore runs (vs_poller.h); a
 * stream function never asks whether anything is stopped.
 */

#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "vstop.h"

/* One side of a stream: an ethdev queue or a vhost-user virtqueue. */
struct fwd_end {
	uint8_t kind;            /* enum port_kind */
	uint16_t eth_id;         /* PORT_ETHDEV */
	uint16_t queue;          /* ethdev queue, or vhost vq index (2q+1 rx, 2q tx) */
	const int *vid;          /* PORT_VHOST: the port's current connection */
};

/* Counters of one stream; written only by the lcore that runs it. */
struct fwd_counters {
	uint64_t rx;             /* frames received */
	uint64_t tx;             /* frames sent */
	uint64_t drop;           /* frames the tx queue did not take */
	uint64_t held;           /* frames held for a stopped tx device (park) */
	uint64_t held_drop;      /* frames dropped because the hold buffer was full */
	uint64_t ring_errors;    /* samples of a guest tx ring whose avail index was more
				  * than the ring size ahead (fwd.c, vhost_health.c) */
};

struct fwd_stream {
	struct fwd_end rx, tx;
	struct rte_mempool *pool;
	struct rte_ring *hold;   /* frames for the tx vhost queue while it is stopped */
	struct lcore_ctx *lc;    /* owner */
	uint16_t burst;
	uint16_t rx_port, rx_q, tx_port, tx_q; /* app port ids and queue pairs, for stats */
	uint32_t idx;            /* in app.streams (control side: ring health checks) */
	int engine_id;           /* id from VS_OP_STREAM_ADD; -1 while not registered */
	/*
	 * The forwarding set the stream belongs to (app_query.c); a runtime port's streams
	 * join the set that runs. A dead stream (its port was detached) is skipped by every
	 * reader and its slot in app.streams is reused.
	 */
	uint32_t set;
	bool dead;
	uint16_t watch_left;     /* vhost dequeues until the next avail index sample */
	struct fwd_counters c;
} __rte_cache_aligned;

/* Stream functions (vs_stream_fn), one per forwarding mode. */
void fwd_io(void *arg);
void fwd_macswap(void *arg);
void fwd_rxonly(void *arg);
void fwd_txonly(void *arg);
/* Park: receive as usual, hold the frames for the stopped tx device (M1). */
void fwd_park(void *arg);

/*
 * Stream set-up (fwd_setup.c). Control plane only: main() before the lcores run, or the
 * console thread (one command at a time).
 */
#define FWD_NO_PORT UINT16_MAX

/* The stream function of a forwarding mode. */
vs_stream_fn fwd_fn_of(enum fwd_mode m);

/*
 * Create (not register) the stream objects of mode @p m's layout over every port, in
 * app.streams (dead slots reused), in set streams_set_target(). @return 0 or -errno.
 */
int streams_build(enum fwd_mode m);
/* The same for port @p p alone (a port attached at runtime). */
int streams_build_port(enum fwd_mode m, const struct app_port *p);
/* The set that streams built from now on belong to. */
void streams_set_target(uint32_t set);

/*
 * Register @p s with the engine to run @p fn (and fwd_park while its tx device is
 * stopped, if it has a hold buffer), through @p call: app_ctl_call_local() before the
 * control lcore runs, a vs_ctl_call() wrapper after. @return 0 or -errno.
 */
int stream_register(struct fwd_stream *s, vs_stream_fn fn, int (*call)(struct vs_op *op));

#endif /* VSTOP_FWD_H */
