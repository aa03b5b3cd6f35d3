/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A driver that lies about its rings: an avail index more than the ring size ahead of the
 * device, descriptor chains that loop, name a descriptor that does not exist, or point
 * outside guest memory. vstop gives such a device DEVICE_NEEDS_RESET and stops it; it
 * never crashes, and the other devices keep forwarding.
 *
 * What librte_vhost 22.11 does with such rings (lib/vhost/virtio_net.c, v22.11.11):
 *  - guest tx ring (rte_vhost_dequeue_burst, split): avail_entries = avail->idx -
 *    last_avail_idx is not compared with the ring size: an index far ahead makes it read
 *    stale entries again and again. fill_vec_buf_split() returns -1 for a head index >=
 *    size, a chain longer than the ring (a loop: "cnt++ >= nr_descs"), an indirect table
 *    larger than the ring, or an address vhost_iova_to_vva() cannot map (map_one_desc):
 *    the burst stops there without a log and without consuming the entry, so every
 *    later burst stops at the same entry: the ring is stuck, silently.
 *  - guest rx ring (rte_vhost_enqueue_burst): the same checks in reserve_avail_buf_split;
 *    the frame is dropped (the enqueue returns fewer), the entry is not consumed.
 * Nothing crashes, but the device is wedged and nobody is told.
 *
 * Detection stays off the fast path (no branch there): the control lcore checks, every
 * HEALTH_PERIOD_MS, each ring a published stream reads or writes (so only rings of a
 * running device: R4 holds, a stopped device's avail ring is never read):
 *  - split rings: the avail index (read without the ring's access_lock: see
 *    check_ring) more than the ring size ahead of the used index: broken at once. A
 *    packed ring has no avail index to lie with (P1): a descriptor is the device's
 *    only when its flags say so for the current wrap counter;
 *  - entries pending (packed: the descriptor at the device's position is available)
 *    and not one consumed while the owning polling lcore kept polling,
 *    for HEALTH_STUCK_CHECKS checks: on the guest tx ring in a row (with mbufs to
 *    dequeue into), on the guest rx ring counting only checks in which frames for it
 *    were refused: broken.
 * A broken device gets VS_OP_SET_NEEDS_RESET: the engine shows DEVICE_NEEDS_RESET and
 * takes the device's streams off; a reset by the driver (status 0) or a reconnect
 * brings it back.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_setname_np */
#endif
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include <rte_mempool.h>
#include <rte_vhost.h>

#include "fwd.h"
#include "vhost_dev.h"

#define HEALTH_PERIOD_MS    100
#define HEALTH_STUCK_CHECKS 10  /* about 1 s without progress */
#define HEALTH_MIN_ITERS    16  /* the owning lcore polled the ring at least this often */

enum { SIDE_RX = 0, SIDE_TX = 1 }; /* the stream reads (guest tx ring) / writes (guest rx) */

struct ring_watch {
	uint32_t gen;       /* check pass that last saw the ring published */
	uint16_t idx;       /* last_avail_idx (guest tx ring) or last_used_idx (guest rx) */
	uint64_t iters;     /* owning poller's loop iterations then */
	uint64_t drops;     /* frames the stream could not put into the guest rx ring */
	uint64_t errors;    /* the stream's ring_errors when last reported */
	unsigned int stuck; /* checks in a row without progress */
};

static struct {
	pthread_t thread;
	bool running;
	volatile bool stop;
	bool queued;        /* a check op is on the op ring */
	uint32_t gen;
	uint32_t reported[VSTOP_MAX_PORTS]; /* pass that reported the port */
	struct ring_watch w[VSTOP_MAX_STREAMS][2];
} hc;

static void
report(struct vhost_port *vp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Control lcore: the device is broken; NEEDS_RESET through the engine, once per pass. */
static void
report(struct vhost_port *vp, const char *fmt, ...)
{
	struct vs_op *op;
	char why[256];
	va_list ap;

	if (hc.reported[vp->port->id] == hc.gen)
		return;
	hc.reported[vp->port->id] = hc.gen;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	VH_LOG(ERR, "%s: driver error: %s: DEVICE_NEEDS_RESET, device stopped", vp->path, why);
	op = vs_op_alloc(VS_OP_SET_NEEDS_RESET, vp->port->dev);
	if (op == NULL || vs_ctl_post(app.ctl, op) < 0)
		VH_LOG(ERR, "%s: cannot post NEEDS_RESET", vp->path);
}

/*
 * Packed ring (P1): is the descriptor at the device's position @p pos (bits 0-14 index,
 * bit 15 wrap counter, as rte_vhost_get_vring_base() gives it) available to the device?
 * It is when its AVAIL flag equals the wrap counter and its USED flag does not. Read
 * without the access_lock, like the split avail index (see check_ring).
 */
static bool
packed_desc_available(const struct rte_vhost_vring *vr, uint16_t pos)
{
	uint16_t idx = pos & 0x7fff, flags;
	bool wrap = (pos >> 15) & 1;

	if (idx >= vr->size)
		return false;
	flags = __atomic_load_n(&vr->desc_packed[idx].flags, __ATOMIC_ACQUIRE);
	return ((flags >> VRING_PACKED_DESC_F_AVAIL) & 1) == wrap &&
	       ((flags >> VRING_PACKED_DESC_F_USED) & 1) != wrap;
}

static void
check_ring(const struct fwd_stream *s, int side)
{
	const struct fwd_end *e = side == SIDE_RX ? &s->rx : &s->tx;
	struct app_port *port = &app.ports[side == SIDE_RX ? s->rx_port : s->tx_port];
	struct ring_watch *w = &hc.w[s->idx][side];
	uint16_t vq = e->queue, last_avail, last_used, last_avail2, last_used2, avail_idx = 0;
	uint16_t pending, cur;
	struct rte_vhost_vring vr;
	uint64_t iters, drops, features;
	bool packed, next_avail = false;
	bool fresh = w->gen + 1 != hc.gen;
	int vid = *e->vid;

	w->gen = hc.gen;
	/*
	 * The stream is published, so the device is attached: the vid is valid until a
	 * VS_OP_DETACH, which runs on this lcore after this check.
	 */
	if (vid < 0 || rte_vhost_get_vhost_vring(vid, vq, &vr) != 0 || vr.size == 0)
		return;
	/*
	 * Not rte_vhost_avail_entries(): it takes the ring's access_lock, which a polling
	 * lcore holds inside rte_vhost_enqueue/dequeue_burst, and the control lcore must
	 * never wait for a polling lcore (a stuck one would hang the engine: R11). The
	 * index is read from the ring as the library would, without the lock. The ring
	 * stays mapped while the stream is published, except during a SET_MEM_TABLE on a
	 * running device (docs/design.rst).
	 *
	 * The driver's index is read between two reads of the device's, and the sample
	 * counts only if the device's did not move: the polling lcore and the driver both go
	 * on meanwhile, and a driver reuses the entries the device returns, so an avail
	 * index read after a stale device index can be up to a whole ring further ahead of
	 * it than the driver ever was (an honest driver was once given DEVICE_NEEDS_RESET
	 * that way under ASan, where the window is long). With the device's index unchanged
	 * across the read, an honest driver is never more than the ring size ahead of it.
	 * A moving device makes the pass inconclusive: the next one, or the polling lcore's
	 * own sample of the rings it dequeues from (fwd.c), will see a lie.
	 */
	if (side == SIDE_RX) {
		uint64_t errors = __atomic_load_n(&s->c.ring_errors, __ATOMIC_RELAXED);

		/* Kept across passes: a count that grew since the last report is news. */
		if (errors != w->errors) {
			w->errors = errors;
			report(port->vh, "vq %u: avail index more than the ring's %u entries ahead "
			       "of the device (seen by the polling lcore)", vq, vr.size);
			return;
		}
	}
	packed = rte_vhost_get_negotiated_features(vid, &features) == 0 &&
		 (features & (1ull << VIRTIO_F_RING_PACKED));
	if (rte_vhost_get_vring_base(vid, vq, &last_avail, &last_used) != 0)
		return;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (packed)
		next_avail = packed_desc_available(&vr, last_avail);
	else
		avail_idx = __atomic_load_n(&vr.avail->idx, __ATOMIC_ACQUIRE);
	if (rte_vhost_get_vring_base(vid, vq, &last_avail2, &last_used2) != 0)
		return;
	if (last_used2 != last_used || last_avail2 != last_avail) {
		w->stuck = 0; /* inconclusive, but the device is moving */
		return;
	}
	if (packed) {
		/* No index to be ahead of: pending means "the next descriptor is ours". */
		pending = next_avail;
	} else {
		pending = (uint16_t)(avail_idx - last_used);
		if (pending > vr.size) {
			report(port->vh, "vq %u: avail index %u is %u entries ahead of the "
			       "device, the ring has %u", vq, avail_idx, pending, vr.size);
			return;
		}
	}
	cur = side == SIDE_RX ? last_avail : last_used;
	iters = __atomic_load_n(&s->lc->poller->iterations, __ATOMIC_RELAXED);
	drops = __atomic_load_n(&s->c.drop, __ATOMIC_RELAXED);
	if (fresh || pending == 0 || cur != w->idx) {
		/* Progress (or nothing to do): start counting again. */
		w->stuck = 0;
		w->drops = drops;
	} else if (iters - w->iters >= HEALTH_MIN_ITERS) {
		/*
		 * Polled all along and not one entry taken. Guest tx ring: with mbufs to
		 * dequeue into, that can only be a chain the device cannot read. Guest rx
		 * ring: only a period in which frames for it were refused counts (a ring
		 * nobody sends to may well sit still; a frame too big for the buffers is
		 * refused too, but the next smaller one moves the ring on).
		 */
		if (side == SIDE_RX ? rte_mempool_avail_count(s->pool) >= 2u * s->burst :
		    drops > w->drops)
			w->stuck++;
		w->drops = drops;
	}
	w->idx = cur;
	w->iters = iters;
	if (w->stuck >= HEALTH_STUCK_CHECKS) {
		w->stuck = 0;
		report(port->vh, "vq %u: %u entries pending from index %u, none %s in %u ms of "
		       "polling (a descriptor chain that loops, names no descriptor or points "
		       "outside guest memory)", vq, pending, cur,
		       side == SIDE_RX ? "taken" : "filled",
		       HEALTH_STUCK_CHECKS * HEALTH_PERIOD_MS);
	}
}

/* VS_OP_CALL: on the control lcore, which alone swaps the lists it reads here. */
static int
health_check_fn(struct vs_ctl *ctl, void *arg)
{
	RTE_SET_USED(ctl);
	RTE_SET_USED(arg);
	__atomic_store_n(&hc.queued, false, __ATOMIC_RELEASE);
	hc.gen++;
	for (unsigned int p = 0; p < app.nb_pollers; p++) {
		const struct vs_stream_list *l =
			__atomic_load_n(&app.lcores[p].poller->list, __ATOMIC_ACQUIRE);

		for (uint32_t i = 0; l != NULL && i < l->n; i++) {
			const struct fwd_stream *s = l->s[i].arg;

			if (s->rx.kind == PORT_VHOST)
				check_ring(s, SIDE_RX);
			/* A park stream does not write its (stopped) tx device. */
			if (s->tx.kind == PORT_VHOST && l->s[i].fn != fwd_park)
				check_ring(s, SIDE_TX);
		}
	}
	return 0;
}

static void *
health_thread(void *arg)
{
	RTE_SET_USED(arg);
	while (!hc.stop) {
		struct vs_op *op;

		usleep(HEALTH_PERIOD_MS * 1000);
		if (hc.stop || __atomic_load_n(&hc.queued, __ATOMIC_ACQUIRE))
			continue;
		op = vs_op_alloc(VS_OP_CALL, 0);
		if (op == NULL)
			continue;
		op->in.call.fn = health_check_fn;
		__atomic_store_n(&hc.queued, true, __ATOMIC_RELEASE);
		if (vs_ctl_post(app.ctl, op) < 0)
			__atomic_store_n(&hc.queued, false, __ATOMIC_RELEASE);
	}
	return NULL;
}

int
vhost_health_start(void)
{
	int rc;

	if (hc.running)
		return 0;
	hc.stop = false;
	rc = pthread_create(&hc.thread, NULL, health_thread, NULL);
	if (rc != 0) {
		APP_LOG(ERR, "cannot start the ring health thread: %s", strerror(rc));
		return -rc;
	}
	pthread_setname_np(hc.thread, "vstop-health");
	hc.running = true;
	return 0;
}

void
vhost_health_stop(void)
{
	if (!hc.running)
		return;
	hc.stop = true;
	pthread_join(hc.thread, NULL);
	hc.running = false;
}
