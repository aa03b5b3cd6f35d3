/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Accessors over struct app for the console, the control socket and telemetry, and
 * testpmd-like forwarding control (start / stop / set fwd) through the stop engine.
 *
 * Forwarding control: the engine owns which streams run. "stop" deletes every stream
 * from the engine (VS_OP_STREAM_DEL completes after the epoch: no lcore runs it any
 * more); "start" adds them again. The struct fwd_stream objects stay in app.streams, so
 * counters stay monotonic; a mode with another topology (io/macswap pairs ports,
 * loopback sends a port to itself, rxonly/txonly are one-sided) gets new streams,
 * appended to app.streams, the old ones kept (inactive) for their counters.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_ring.h>

#include "app_query.h"
#include "fwd.h"
#include "vhost_dev.h"

#define DEL_BATCH 64

static inline uint64_t
rd(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

unsigned int
aq_nb_ports(void)
{
	return app.nb_ports;
}

const struct app_port *
aq_port(uint16_t id)
{
	return app_port_get(id);
}

bool
aq_port_is_vhost(uint16_t id)
{
	const struct app_port *p = app_port_get(id);

	return p != NULL && p->kind == PORT_VHOST;
}

unsigned int
aq_nb_ports_used(void)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < app.nb_ports; i++)
		n += app.ports[i].used;
	return n;
}

int
aq_op_timeout_ms(void)
{
	return (int)app.opts.stop_timeout_ms + 2000;
}

/* ---- counters ---- */

static struct aq_queue_stats base_q[VSTOP_MAX_PORTS][OPT_MAX_QUEUES];
static struct port_counters base_p[VSTOP_MAX_PORTS];

static void
queue_raw(uint16_t port, uint16_t q, struct aq_queue_stats *s)
{
	const struct app_port *p = &app.ports[port];
	unsigned int n = __atomic_load_n(&app.nb_streams, __ATOMIC_ACQUIRE);

	memset(s, 0, sizeof(*s));
	for (unsigned int i = 0; i < n; i++) {
		const struct fwd_stream *st = app.streams[i];

		if (st->dead)
			continue;
		if (st->rx_port == port && st->rx_q == q)
			s->rx += rd(&st->c.rx);
		if (st->tx_port == port && st->tx_q == q) {
			s->tx += rd(&st->c.tx);
			s->drop += rd(&st->c.drop);
			s->held += rd(&st->c.held);
			s->held_drop += rd(&st->c.held_drop);
		}
	}
	if (p->kind == PORT_VHOST && q < p->vh->nb_qp) {
		const struct vhost_port *vp = p->vh;

		s->delivered = rd(&vp->hs[q].delivered);
		s->held_dropped = rd(&vp->hs[q].dropped);
		s->loaded = rd(&vp->hs[q].loaded);
		if (vp->hold[q] != NULL)
			s->held_now += rte_ring_count(vp->hold[q]);
		if (vp->loaded[q] != NULL)
			s->held_now += rte_ring_count(vp->loaded[q]);
	}
}

#define SUB(f) (s->f = s->f >= b->f ? s->f - b->f : 0)

int
aq_queue_stats(uint16_t port, uint16_t q, bool cleared, struct aq_queue_stats *s)
{
	const struct aq_queue_stats *b;

	if (app_port_get(port) == NULL || q >= app.ports[port].nb_queues || q >= OPT_MAX_QUEUES)
		return -EINVAL;
	queue_raw(port, q, s);
	if (!cleared)
		return 0;
	b = &base_q[port][q];
	SUB(rx);
	SUB(tx);
	SUB(drop);
	SUB(held);
	SUB(held_drop);
	SUB(delivered);
	SUB(held_dropped);
	SUB(loaded);
	return 0;
}

int
aq_port_stats(uint16_t port, bool cleared, struct port_counters *s)
{
	const struct port_counters *b;

	if (app_port_get(port) == NULL)
		return -EINVAL;
	port_counters_get(&app.ports[port], s);
	if (!cleared)
		return 0;
	b = &base_p[port];
	SUB(rx);
	SUB(tx);
	SUB(drop);
	SUB(held);
	SUB(held_drop);
	return 0;
}

#undef SUB

uint64_t
aq_frames_held(uint16_t port)
{
	const struct app_port *p = aq_port(port);
	uint64_t n = 0;

	if (p == NULL || p->kind != PORT_VHOST)
		return 0;
	for (uint16_t q = 0; q < p->vh->nb_qp; q++) {
		if (p->vh->hold[q] != NULL)
			n += rte_ring_count(p->vh->hold[q]);
		if (p->vh->loaded[q] != NULL)
			n += rte_ring_count(p->vh->loaded[q]);
	}
	return n;
}

void
aq_clear_stats(uint16_t port)
{
	const struct app_port *p = aq_port(port);

	if (p == NULL)
		return;
	if (p->kind == PORT_ETHDEV) {
		rte_eth_stats_reset(p->eth_id);
		rte_eth_xstats_reset(p->eth_id);
	}
	port_counters_get(p, &base_p[port]);
	for (uint16_t q = 0; q < p->nb_queues && q < OPT_MAX_QUEUES; q++)
		queue_raw(port, q, &base_q[port][q]);
}

/* ---- lcores and streams ---- */

/* Which streams the engine runs now (forwarding started); see the file comment. */
static bool active[VSTOP_MAX_STREAMS];
static bool started;
static enum fwd_mode cur_mode;
/* The newest set of streams (fwd_stream.set == cur_set), built for topology set_topo. */
static uint32_t cur_set;
static int set_topo;
/* A port came or went since the set was built: the next start builds a new one. */
static bool ports_changed;
static pthread_once_t fwd_once = PTHREAD_ONCE_INIT;

enum topo { TOPO_PAIRS, TOPO_SELF, TOPO_RX, TOPO_TX };

static int
topo_of(enum fwd_mode m)
{
	switch (m) {
	case FWD_IO:
	case FWD_MACSWAP:
		return TOPO_PAIRS;
	case FWD_LOOPBACK:
		return TOPO_SELF;
	case FWD_RXONLY:
		return TOPO_RX;
	default:
		return TOPO_TX;
	}
}

/* At the first command: what main() set up runs, in the mode of the command line. */
static void
fwd_init(void)
{
	cur_mode = app.opts.fwd;
	cur_set = 0;
	set_topo = topo_of(cur_mode);
	for (unsigned int i = 0; i < app.nb_streams; i++)
		active[i] = !app.streams[i]->dead;
	started = true;
}

unsigned int
aq_nb_lcores(void)
{
	return app.nb_pollers;
}

int
aq_lcore(unsigned int i, struct aq_lcore *l)
{
	const struct lcore_ctx *lc;

	if (i >= app.nb_pollers)
		return -EINVAL;
	pthread_once(&fwd_once, fwd_init);
	lc = &app.lcores[i];
	l->lcore_id = lc->lcore_id;
	l->poller = lc->idx;
	l->iterations = lc->poller != NULL ? rd(&lc->poller->iterations) : 0;
	l->moved = rd(&lc->moved);
	l->nb_streams = 0;
	for (unsigned int s = 0; s < app.nb_streams; s++)
		if (active[s] && app.streams[s]->lc == lc)
			l->nb_streams++;
	return 0;
}

unsigned int
aq_nb_active_streams(void)
{
	unsigned int n = 0;

	pthread_once(&fwd_once, fwd_init);
	for (unsigned int s = 0; s < app.nb_streams; s++)
		n += active[s];
	return n;
}

int
aq_active_stream(unsigned int i, struct aq_stream *out)
{
	pthread_once(&fwd_once, fwd_init);
	for (unsigned int s = 0; s < app.nb_streams; s++) {
		const struct fwd_stream *st = app.streams[s];

		if (!active[s] || i-- != 0)
			continue;
		out->lcore_id = st->lc->lcore_id;
		out->rx_port = st->rx_port == FWD_NO_PORT ? -1 : st->rx_port;
		out->rx_q = st->rx_port == FWD_NO_PORT ? -1 : st->rx_q;
		out->tx_port = st->tx_port == FWD_NO_PORT ? -1 : st->tx_port;
		out->tx_q = st->tx_port == FWD_NO_PORT ? -1 : st->tx_q;
		out->parks = st->hold != NULL;
		return 0;
	}
	return -EINVAL;
}

/* ---- forwarding control ---- */

bool
aq_fwd_started(void)
{
	pthread_once(&fwd_once, fwd_init);
	return started;
}

enum fwd_mode
aq_fwd_mode(void)
{
	pthread_once(&fwd_once, fwd_init);
	return cur_mode;
}

int
aq_fwd_mode_parse(const char *name)
{
	for (int m = FWD_IO; m <= FWD_TXONLY; m++)
		if (strcmp(name, fwd_mode_name((enum fwd_mode)m)) == 0)
			return m;
	return -1;
}

static bool
any_stream(const struct fwd_stream *st, uint16_t port)
{
	RTE_SET_USED(st);
	RTE_SET_USED(port);
	return true;
}

static bool
stream_of_port(const struct fwd_stream *st, uint16_t port)
{
	return st->rx_port == port || st->tx_port == port;
}

/*
 * Delete the streams @p pred selects from the engine: afterwards (epoch passed) no lcore
 * runs any of them. Submitted in bulks, so a bulk costs one epoch.
 */
static int
streams_unregister_if(bool (*pred)(const struct fwd_stream *, uint16_t), uint16_t port)
{
	struct vs_op *ops[DEL_BATCH];
	struct fwd_stream *owner[DEL_BATCH];
	unsigned int s = 0;
	int rc = 0;

	while (s < app.nb_streams) {
		unsigned int n = 0;

		/* Submit a batch, then wait: each delete completes after one epoch. */
		for (; s < app.nb_streams && n < DEL_BATCH; s++) {
			struct fwd_stream *st = app.streams[s];
			struct vs_op *op;

			if (st->engine_id < 0 || !pred(st, port))
				continue;
			op = vs_op_alloc(VS_OP_STREAM_DEL, 0);
			if (op == NULL) {
				for (unsigned int i = 0; i < n; i++)
					vs_op_free(ops[i]);
				return -ENOMEM;
			}
			op->in.stream_id = (uint32_t)st->engine_id;
			owner[n] = st;
			ops[n++] = op;
		}
		if (vs_ctl_submit_bulk(app.ctl, ops, n) < 0) {
			for (unsigned int i = 0; i < n; i++)
				vs_op_free(ops[i]);
			return -ENOBUFS;
		}
		for (unsigned int i = 0; i < n; i++) {
			int r = vs_ctl_wait(ops[i], aq_op_timeout_ms());

			if (r == -ETIMEDOUT) {
				rc = r;
				continue;
			}
			if (r == 0)
				owner[i]->engine_id = -1;
			else if (rc == 0)
				rc = r;
			vs_op_free(ops[i]);
		}
	}
	return rc;
}

static int
streams_unregister_all(void)
{
	return streams_unregister_if(any_stream, 0);
}

/* Streams for the layout of @p m (fwd_setup.c), not registered yet. */
static int
set_build(enum fwd_mode m)
{
	int rc;

	streams_set_target(++cur_set);
	rc = streams_build(m);
	if (rc < 0)
		return rc; /* streams made so far stay unused in app.streams */
	set_topo = topo_of(m);
	ports_changed = false;
	return 0;
}

static bool
set_empty(void)
{
	for (unsigned int i = 0; i < app.nb_streams; i++)
		if (!app.streams[i]->dead && app.streams[i]->set == cur_set)
			return false;
	return true;
}

static int
call_ctl(struct vs_op *op)
{
	int rc = vs_ctl_call(app.ctl, op, aq_op_timeout_ms());

	if (rc != -ETIMEDOUT)
		vs_op_free(op);
	return rc;
}

int
aq_fwd_start(char *err, size_t errlen)
{
	int rc;

	pthread_once(&fwd_once, fwd_init);
	if (started) {
		snprintf(err, errlen, "forwarding already started (%s)", fwd_mode_name(cur_mode));
		return -EALREADY;
	}
	if (set_topo != topo_of(cur_mode) || ports_changed || set_empty()) {
		rc = set_build(cur_mode);
		if (rc < 0) {
			snprintf(err, errlen, "cannot create streams for %s: %s",
				 fwd_mode_name(cur_mode), strerror(-rc));
			return rc;
		}
	}
	unsigned int nb = 0;

	for (unsigned int i = 0; i < app.nb_streams; i++) {
		if (app.streams[i]->dead || app.streams[i]->set != cur_set)
			continue;
		nb++;
		rc = stream_register(app.streams[i], fwd_fn_of(cur_mode), call_ctl);
		if (rc < 0) {
			snprintf(err, errlen, "engine refused stream %u: %s", i, strerror(-rc));
			streams_unregister_all();
			memset(active, 0, sizeof(active));
			return rc;
		}
		active[i] = true;
	}
	started = true;
	APP_LOG(INFO, "%s forwarding started: %u streams", fwd_mode_name(cur_mode), nb);
	return 0;
}

int
aq_fwd_port_added(uint16_t port, char *err, size_t errlen)
{
	const struct app_port *p = app_port_get(port);
	int rc;

	pthread_once(&fwd_once, fwd_init);
	ports_changed = true;
	if (!started || p == NULL)
		return 0;
	streams_set_target(cur_set);
	rc = streams_build_port(cur_mode, p);
	for (unsigned int i = 0; i < app.nb_streams && rc == 0; i++) {
		struct fwd_stream *st = app.streams[i];

		if (st->dead || st->engine_id >= 0 || st->set != cur_set ||
		    !stream_of_port(st, port))
			continue;
		rc = stream_register(st, fwd_fn_of(cur_mode), call_ctl);
		if (rc == 0)
			active[i] = true;
	}
	if (rc < 0) {
		snprintf(err, errlen, "cannot set up the port's streams: %s", strerror(-rc));
		aq_fwd_port_removed(port);
	}
	return rc;
}

int
aq_fwd_port_removed(uint16_t port)
{
	int rc;

	pthread_once(&fwd_once, fwd_init);
	ports_changed = true;
	rc = streams_unregister_if(stream_of_port, port);
	if (rc < 0)
		return rc;
	for (unsigned int i = 0; i < app.nb_streams; i++) {
		struct fwd_stream *st = app.streams[i];

		if (st->dead || !stream_of_port(st, port))
			continue;
		active[i] = false;
		st->dead = true; /* no reader looks at it any more; its slot is free */
	}
	memset(base_q[port], 0, sizeof(base_q[port]));
	memset(&base_p[port], 0, sizeof(base_p[port]));
	return 0;
}

int
aq_fwd_stop(char *err, size_t errlen)
{
	int rc;

	pthread_once(&fwd_once, fwd_init);
	if (!started) {
		snprintf(err, errlen, "forwarding not started");
		return -EALREADY;
	}
	rc = streams_unregister_all();
	if (rc < 0) {
		snprintf(err, errlen, "cannot remove streams: %s", strerror(-rc));
		return rc;
	}
	memset(active, 0, sizeof(active));
	started = false;
	APP_LOG(INFO, "forwarding stopped");
	return 0;
}

int
aq_fwd_set_mode(enum fwd_mode m, char *err, size_t errlen)
{
	bool was = aq_fwd_started();
	int rc;

	if (was) {
		rc = aq_fwd_stop(err, errlen);
		if (rc < 0)
			return rc;
	}
	cur_mode = m;
	app.opts.fwd = m;
	return was ? aq_fwd_start(err, errlen) : 0;
}
