/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Streams: which rx queue goes to which tx queue in each forwarding mode, which polling
 * lcore runs it, and its registration with the stop engine (which then publishes it
 * whenever the devices it names are running).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_lcore.h>
#include <rte_malloc.h>

#include "fwd.h"
#include "vhost_dev.h"
#include "vstop.h"

static int
poller_of_lcore(unsigned int lcore)
{
	for (unsigned int i = 0; i < app.nb_pollers; i++)
		if (app.lcores[i].lcore_id == lcore)
			return (int)i;
	return -1;
}

int
lcore_map_check(void)
{
	const struct app_opts *o = &app.opts;

	for (unsigned int i = 0; i < o->nb_lmap; i++) {
		const struct opt_lcore_map *m = &o->lmap[i];

		if (app_port_get(m->port) == NULL || m->queue >= app.ports[m->port].nb_queues) {
			fprintf(stderr, "vstop: --lcore-map: no queue %u on port %u\n", m->queue,
				m->port);
			return -1;
		}
		if (poller_of_lcore(m->lcore) < 0) {
			fprintf(stderr, "vstop: --lcore-map: lcore %u is not a worker lcore "
				"(the main lcore is the control lcore)\n", m->lcore);
			return -1;
		}
	}
	return 0;
}

/* The polling lcore of rx queue @p q of port @p port: mapped, or the next in turn. */
static unsigned int
assign_poller(uint16_t port, uint16_t q)
{
	static unsigned int next;

	for (unsigned int i = 0; i < app.opts.nb_lmap; i++) {
		const struct opt_lcore_map *m = &app.opts.lmap[i];

		if (m->port == port && m->queue == q)
			return (unsigned int)poller_of_lcore(m->lcore);
	}
	return next++ % app.nb_pollers;
}

static void
end_init(struct fwd_end *e, const struct app_port *p, uint16_t q, bool rx)
{
	e->kind = p->kind;
	if (p->kind == PORT_VHOST) {
		/* The guest's tx ring of pair q is vq 2q+1 (we dequeue), its rx ring 2q. */
		e->queue = rx ? 2 * q + 1 : 2 * q;
		e->vid = &p->vh->vid;
	} else {
		e->eth_id = p->eth_id;
		e->queue = q;
	}
}

vs_stream_fn
fwd_fn_of(enum fwd_mode m)
{
	switch (m) {
	case FWD_MACSWAP:
		return fwd_macswap;
	case FWD_RXONLY:
		return fwd_rxonly;
	case FWD_TXONLY:
		return fwd_txonly;
	case FWD_IO:
	case FWD_LOOPBACK:
	default:
		return fwd_io;
	}
}

/* The set new streams join (app_query.c). */
static uint32_t build_set;

void
streams_set_target(uint32_t set)
{
	build_set = set;
}

/*
 * One stream object from rx queue q of @p rxp to tx queue q of @p txp (either may be
 * NULL). The slot of a dead stream (a detached port's) is reused, object and all: no
 * reader looks at a dead stream, and readers other than the control lcore's ring check
 * (which sees only published streams) hold the command lock, as the caller does.
 */
static int
stream_new(const struct app_port *rxp, const struct app_port *txp, uint16_t q)
{
	struct fwd_stream *s = NULL;
	unsigned int idx;

	for (idx = 0; idx < app.nb_streams; idx++)
		if (app.streams[idx]->dead)
			break;
	if (idx < app.nb_streams) {
		s = app.streams[idx];
		memset(s, 0, sizeof(*s));
	} else {
		if (app.nb_streams == VSTOP_MAX_STREAMS)
			return -ENOSPC;
		s = rte_zmalloc("fwd_stream", sizeof(*s), RTE_CACHE_LINE_SIZE);
		if (s == NULL)
			return -ENOMEM;
	}
	s->set = build_set;
	s->pool = app.pool;
	s->burst = (uint16_t)app.opts.burst;
	s->watch_left = 1; /* sample the avail index at the first dequeue */
	s->engine_id = -1;
	s->lc = &app.lcores[assign_poller(rxp != NULL ? rxp->id : txp->id, q)];
	s->rx_port = rxp != NULL ? rxp->id : FWD_NO_PORT;
	s->tx_port = txp != NULL ? txp->id : FWD_NO_PORT;
	s->rx_q = q;
	s->tx_q = q;
	if (rxp != NULL)
		end_init(&s->rx, rxp, q, true);
	if (txp != NULL)
		end_init(&s->tx, txp, q, false);
	/* Frames for a stopped vhost device are held for it (M1), not left in the rx queue. */
	if (rxp != NULL && txp != NULL && txp != rxp && txp->kind == PORT_VHOST)
		s->hold = txp->vh->hold[q];
	s->idx = idx;
	if (idx == app.nb_streams) {
		app.streams[idx] = s;
		/* readers (statistics) walk app.streams up to nb_streams */
		__atomic_store_n(&app.nb_streams, app.nb_streams + 1, __ATOMIC_RELEASE);
	}
	return 0;
}

int
stream_register(struct fwd_stream *s, vs_stream_fn fn, int (*call)(struct vs_op *op))
{
	struct vs_op *op = vs_op_alloc(VS_OP_STREAM_ADD, 0);
	int rc;

	if (op == NULL)
		return -ENOMEM;
	op->in.stream = (struct vs_stream){
		.fn = fn,
		.park = s->hold != NULL ? fwd_park : NULL,
		.arg = s,
		.poller = (uint16_t)s->lc->idx,
		.rx_dev = s->rx_port != FWD_NO_PORT ? app.ports[s->rx_port].dev : VS_DEV_NONE,
		.rx_vq = s->rx_port != FWD_NO_PORT ? s->rx.queue : 0,
		.tx_dev = s->tx_port != FWD_NO_PORT ? app.ports[s->tx_port].dev : VS_DEV_NONE,
		.tx_vq = s->tx_port != FWD_NO_PORT ? s->tx.queue : 0,
	};
	rc = call(op);
	if (rc < 0)
		return rc;
	s->engine_id = rc;
	APP_LOG(DEBUG, "stream %d: port %d q %u -> port %d q %u on lcore %u", rc,
		s->rx_port == FWD_NO_PORT ? -1 : s->rx_port, s->rx_q,
		s->tx_port == FWD_NO_PORT ? -1 : s->tx_port, s->tx_q, s->lc->lcore_id);
	return 0;
}

static int
pair_new(const struct app_port *a, const struct app_port *b)
{
	uint16_t nq = RTE_MIN(a->nb_queues, b->nb_queues);
	int rc = 0;

	if (a->nb_queues != b->nb_queues)
		APP_LOG(WARNING, "ports %u and %u have %u and %u queues: forwarding %u",
			a->id, b->id, a->nb_queues, b->nb_queues, nq);
	for (uint16_t q = 0; q < nq && rc == 0; q++) {
		rc = stream_new(a, b, q);
		if (rc == 0 && a != b)
			rc = stream_new(b, a, q);
	}
	return rc;
}

/* The streams of port @p p alone; in io/macswap it forwards to itself. */
int
streams_build_port(enum fwd_mode m, const struct app_port *p)
{
	int rc = 0;

	switch (m) {
	case FWD_IO:
	case FWD_MACSWAP:
	case FWD_LOOPBACK:
		return pair_new(p, p);
	case FWD_RXONLY:
	case FWD_TXONLY:
		for (uint16_t q = 0; q < p->nb_queues && rc == 0; q++)
			rc = m == FWD_RXONLY ? stream_new(p, NULL, q) : stream_new(NULL, p, q);
		break;
	}
	return rc;
}

int
streams_build(enum fwd_mode m)
{
	struct app_port *prev = NULL;
	int rc = 0;

	for (unsigned int i = 0; i < app.nb_ports && rc == 0; i++) {
		struct app_port *p = app_port_get(i);

		if (p == NULL)
			continue;
		if (m != FWD_IO && m != FWD_MACSWAP) {
			rc = streams_build_port(m, p);
			continue;
		}
		/* io/macswap: ports in id order, two by two (ids may have holes). */
		if (prev == NULL) {
			prev = p;
			continue;
		}
		rc = pair_new(prev, p);
		prev = NULL;
	}
	if (rc == 0 && prev != NULL) {
		APP_LOG(WARNING, "port %u has no pair: it forwards to itself", prev->id);
		rc = pair_new(prev, prev);
	}
	return rc;
}

int
streams_setup(void)
{
	enum fwd_mode mode = app.opts.fwd;
	int rc = streams_build(mode);

	for (unsigned int i = 0; i < app.nb_streams && rc == 0; i++)
		rc = stream_register(app.streams[i], fwd_fn_of(mode), app_ctl_call_local);
	if (rc < 0) {
		APP_LOG(ERR, "cannot set up streams: %s", strerror(-rc));
		return rc;
	}
	APP_LOG(INFO, "%s forwarding: %u streams over %u polling lcore(s)",
		fwd_mode_name(mode), app.nb_streams, app.nb_pollers);
	return 0;
}
