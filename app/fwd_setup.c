/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Streams: which rx queue goes to which tx queue in each forwarding mode, which polling
 * lcore runs it, and its registration with the stop engine (which then publishes it
 * whenever the devices it names are running).
 */
#include <errno.h>
#include <stdio.h>

#include <rte_lcore.h>
#include <rte_malloc.h>

#include "fwd.h"
#include "vhost_dev.h"
#include "vstop.h"

#define NO_PORT UINT16_MAX

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

		if (m->port >= app.nb_ports || m->queue >= app.ports[m->port].nb_queues) {
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

/* One stream from rx queue q of @p rxp to tx queue q of @p txp (either may be NULL). */
static int
add_stream(vs_stream_fn fn, const struct app_port *rxp, const struct app_port *txp,
	   uint16_t q)
{
	struct fwd_stream *s;
	struct vs_op *op;
	unsigned int poller;
	int rc;

	if (app.nb_streams == VSTOP_MAX_STREAMS)
		return -ENOSPC;
	s = rte_zmalloc("fwd_stream", sizeof(*s), RTE_CACHE_LINE_SIZE);
	if (s == NULL)
		return -ENOMEM;
	poller = rxp != NULL ? assign_poller(rxp->id, q) : assign_poller(txp->id, q);
	s->pool = app.pool;
	s->burst = (uint16_t)app.opts.burst;
	s->watch_left = 1; /* sample the avail index at the first dequeue */
	s->lc = &app.lcores[poller];
	s->rx_port = rxp != NULL ? rxp->id : NO_PORT;
	s->tx_port = txp != NULL ? txp->id : NO_PORT;
	s->rx_q = q;
	s->tx_q = q;
	if (rxp != NULL)
		end_init(&s->rx, rxp, q, true);
	if (txp != NULL)
		end_init(&s->tx, txp, q, false);

	op = vs_op_alloc(VS_OP_STREAM_ADD, 0);
	if (op == NULL)
		return -ENOMEM;
	op->in.stream.fn = fn;
	op->in.stream.arg = s;
	op->in.stream.poller = (uint16_t)poller;
	op->in.stream.rx_dev = rxp != NULL ? rxp->dev : VS_DEV_NONE;
	op->in.stream.rx_vq = s->rx.queue;
	op->in.stream.tx_dev = txp != NULL ? txp->dev : VS_DEV_NONE;
	op->in.stream.tx_vq = s->tx.queue;
	/* Frames for a stopped vhost device are held for it (M1), not left in the rx queue. */
	if (rxp != NULL && txp != NULL && txp != rxp && txp->kind == PORT_VHOST &&
	    txp->vh->hold[q] != NULL) {
		s->hold = txp->vh->hold[q];
		op->in.stream.park = fwd_park;
	}
	if (rxp == NULL)
		op->in.stream.rx_vq = 0;
	if (txp == NULL)
		op->in.stream.tx_vq = 0;
	rc = app_ctl_call_local(op);
	if (rc < 0) {
		rte_free(s);
		return rc;
	}
	s->idx = app.nb_streams;
	app.streams[app.nb_streams++] = s;
	APP_LOG(DEBUG, "stream %d: port %d q %u -> port %d q %u on lcore %u", rc,
		rxp ? rxp->id : -1, q, txp ? txp->id : -1, q, app.lcores[poller].lcore_id);
	return 0;
}

static int
add_pair(vs_stream_fn fn, const struct app_port *a, const struct app_port *b)
{
	uint16_t nq = RTE_MIN(a->nb_queues, b->nb_queues);
	int rc;

	if (a->nb_queues != b->nb_queues)
		APP_LOG(WARNING, "ports %u and %u have %u and %u queues: forwarding %u",
			a->id, b->id, a->nb_queues, b->nb_queues, nq);
	for (uint16_t q = 0; q < nq; q++) {
		rc = add_stream(fn, a, b, q);
		if (rc == 0 && a != b)
			rc = add_stream(fn, b, a, q);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int
streams_setup(void)
{
	enum fwd_mode mode = app.opts.fwd;
	unsigned int i;
	int rc = 0;

	switch (mode) {
	case FWD_IO:
	case FWD_MACSWAP:
		for (i = 0; i < app.nb_ports && rc == 0; i += 2) {
			unsigned int peer = i + 1 < app.nb_ports ? i + 1 : i;

			if (peer == i)
				APP_LOG(WARNING, "port %u has no pair: it forwards to itself", i);
			rc = add_pair(mode == FWD_IO ? fwd_io : fwd_macswap, &app.ports[i],
				      &app.ports[peer]);
		}
		break;
	case FWD_LOOPBACK:
		for (i = 0; i < app.nb_ports && rc == 0; i++)
			rc = add_pair(fwd_io, &app.ports[i], &app.ports[i]);
		break;
	case FWD_RXONLY:
	case FWD_TXONLY:
		for (i = 0; i < app.nb_ports && rc == 0; i++)
			for (uint16_t q = 0; q < app.ports[i].nb_queues && rc == 0; q++)
				rc = mode == FWD_RXONLY ?
					add_stream(fwd_rxonly, &app.ports[i], NULL, q) :
					add_stream(fwd_txonly, NULL, &app.ports[i], q);
		break;
	}
	if (rc < 0) {
		APP_LOG(ERR, "cannot set up streams: %s", strerror(-rc));
		return rc;
	}
	APP_LOG(INFO, "%s forwarding: %u streams over %u polling lcore(s)",
		fwd_mode_name(mode), app.nb_streams, app.nb_pollers);
	return 0;
}
