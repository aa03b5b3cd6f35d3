/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Live migration between two backends. The order is the one a hypervisor uses with a
 * stoppable device:
 *
 *   (destination connected, features + memory negotiated ahead: not part of downtime)
 *   source:      SET_STATUS(|DEVICE_STOPPED) ... GET_STATUS shows it       (R4-R6)
 *                GET_VRING_BASE x rings                                    (V1)
 *                SET_DEVICE_STATE_FD(SAVE) + read to EOF + CHECK_DEVICE_STATE (M2)
 *   destination: rings at the source's bases                               (V3)
 *                SET_DEVICE_STATE_FD(LOAD) + write + CHECK_DEVICE_STATE     (M2, M3)
 *                SET_STATUS(DRIVER_OK)
 *   (--state-first: LOAD before the ring setup, the order QEMU uses for virtiofsd)
 *   destination: first rx used entry in guest memory = end of downtime
 *
 * End of downtime. Once its stop is complete the source writes no used entry any more
 * (R4, S2; GET_VRING_BASE stops the ring), so each rx ring's used index in guest memory
 * stays where the source left it, and the first change is the destination returning a
 * frame. The control thread watches those indices itself. It does not wait for the
 * driver (our data thread) to deal with the source's last frames first: that is the
 * driver's time, which a real migration does not have (the guest is paused), and it
 * would put the data thread's scheduling inside the window. The data thread keeps running
 * and takes those frames concurrently, with the same checks (each frame once, in order);
 * when it had caught up and when it took the destination's first frame are reported
 * beside the downtime, not in it (fe_net_arm_mark).
 *
 * If anything fails after the source stopped, the source is restarted (rings at the same
 * bases, stop bit cleared) so that the guest keeps its network: nothing may be lost.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fe.h"
#include "fe_mig.h"
#include "vs_status.h"

/*
 * Poll period while waiting for the destination's first frame: the figure is late by up
 * to one period, and the wait is short (DRIVER_OK shown -> first frame, ~0.1-0.3 ms).
 */
#define FE_FIRST_POLL_US 2

void
fe_net_wait_caught_up(struct fe_net *net, unsigned int timeout_ms)
{
	uint64_t end = fe_now_ns() + timeout_ms * 1000000ull;
	unsigned int i;

	for (;;) {
		bool done = true;

		for (i = 0; i < net->cfg.nqp; i++) {
			struct fe_vq *rx = &net->qp[i].rx;

			if (__atomic_load_n(&rx->last_used, __ATOMIC_ACQUIRE) != fe_vq_used_idx(rx))
				done = false;
		}
		if (done || fe_now_ns() >= end)
			return;
		fe_sleep_us(5);
	}
}

/*
 * Has the driver posted a tx frame the destination can forward (an avail index past the
 * source's base)? In loopback the destination can only return what the driver sends. The
 * driver never has more frames out than rx buffers, so if the source returned them all
 * before it stopped, nothing is left for the destination until the driver has taken some
 * back and sent new ones: on a loaded core that wait is the data thread's scheduling,
 * inside the window. It is reported apart (the destination idles, the driver is late).
 */
static bool
tx_posted(struct fe_net *net, const uint16_t *bases)
{
	unsigned int i;

	for (i = 0; i < net->cfg.nqp; i++)
		if (fe_vq_avail_idx(&net->qp[i].tx) != bases[fe_txq_vring(i)])
			return true;
	return false;
}

/*
 * Wait until the used index of any rx ring moved away from @p ref (where the stopped source
 * left it): the destination returned its first frame. @return when that was first seen,
 * 0 on timeout; @p t_work: when a tx frame for the destination was first seen posted
 * (tx_posted; @p t0 if at once). Two threads watch the rx indices: this one, and the data
 * thread, which reads them anyway (fe_net_arm_mark, same @p ref). Both see the same store
 * in guest memory, so the earlier sighting is the better bound; on a loaded core either
 * may be off the CPU for milliseconds while the other sees it. For a packed ring the "used
 * index" is the end of the run of used descriptors (fe_vq_used_idx): it moves when the
 * descriptor at the source's position becomes used at its wrap counter.
 */
static uint64_t
wait_first_frame(struct fe_net *net, const uint16_t *ref, const uint16_t *bases, uint64_t t0,
		 unsigned int timeout_ms, uint64_t *t_work)
{
	uint64_t end = t0 + timeout_ms * 1000000ull, seen, t = 0;
	unsigned int i;

	*t_work = tx_posted(net, bases) ? t0 : 0;
	for (;;) {
		/* The post is looked at first: seen late, never before it happened. */
		if (!*t_work && tx_posted(net, bases))
			*t_work = fe_now_ns();
		for (i = 0; i < net->cfg.nqp && !t; i++)
			if (fe_vq_used_idx(&net->qp[i].rx) != ref[i])
				t = fe_now_ns();
		seen = fe_net_mark_seen(net);
		if (seen && (!t || seen < t))
			t = seen;
		if (t) {
			/* A frame came back, so one was posted, at the latest then. */
			if (!*t_work || *t_work > t)
				*t_work = t;
			return t;
		}
		if (fe_now_ns() >= end)
			return 0;
		fe_sleep_us(FE_FIRST_POLL_US);
	}
}

/* Bring the source back after a failed migration. */
static int
src_resume(struct fe_dev *src, enum fe_stop_kind kind, bool bases_read)
{
	struct fe_stop_res sr;
	int ret = 0;

	if (bases_read) {
		/* GET_VRING_BASE stopped the rings: restart them where they were (V3). */
		ret = fe_dev_rings(src, src->bases);
		if (ret)
			return ret;
		src->stopped = FE_STOP_AUTO;
	}
	if (kind == FE_STOP_STOPPED || kind == FE_STOP_SUSPEND)
		ret = fe_dev_resume(src, kind, &sr);
	return ret;
}

static int
fail_resume(struct fe_dev *src, struct fe_dev *dst, enum fe_stop_kind kind, bool bases_read,
	    struct fe_mig_res *r, int err)
{
	char first[512], second[512];
	int ret;

	snprintf(first, sizeof(first), "%s", fe_errmsg());
	fe_net_disarm_mark(src->net);
	fe_dev_close(dst);
	ret = src_resume(src, kind, bases_read);
	if (ret) {
		/* fe_err writes the buffer fe_errmsg reads: copy first. */
		snprintf(second, sizeof(second), "%s", fe_errmsg());
		return fe_err(err, "%s; resuming at the source failed too: %s", first, second);
	}
	r->resumed_src = true;
	return fe_err(err, "%s; migration aborted, device resumed at the source %s", first,
		      src->vu.path);
}

int
fe_migrate(struct fe_dev *src, struct fe_dev *dst, const char *dst_path,
	   const struct fe_mig_opts *mo, struct fe_mig_res *r)
{
	struct fe_net *net = src->net;
	enum fe_stop_kind kind = fe_dev_stop_kind(src, mo->kind);
	uint64_t same = src->features;
	bool connected = false, state;
	uint16_t rx_ref[FE_MAX_VRINGS / 2];
	struct fe_stop_res sr;
	uint8_t *blob = NULL;
	size_t len = 0;
	unsigned int i;
	char why[160];
	int ret;

	memset(r, 0, sizeof(*r));
	if (kind == FE_STOP_ENABLE)
		kind = FE_STOP_VRING_BASE;
	/* Negotiate with the destination first: none of it is downtime. */
	if (mo->preconnect) {
		ret = fe_dev_open(dst, net, dst_path, src->o, ~same, same);
		if (!ret)
			ret = fe_dev_set_mem(dst);
		if (ret) {
			char first[512];

			snprintf(first, sizeof(first), "%s", fe_errmsg());
			fe_dev_close(dst);
			return fe_err(ret, "destination not ready: %s (source untouched)", first);
		}
		connected = true;
	}

	r->t_stop = fe_now_ns();
	if (kind != FE_STOP_VRING_BASE) {
		ret = fe_dev_stop(src, kind, &sr);
		if (ret) {
			/* fe_dev_stop cancelled the stop already (R11). */
			char first[512];

			snprintf(first, sizeof(first), "%s", fe_errmsg());
			fe_dev_close(dst);
			r->resumed_src = ret == -ETIME;
			return fe_err(ret, "source stop failed: %s", first);
		}
	}
	r->t_shown = fe_now_ns();
	ret = fe_dev_get_bases(src);
	if (ret)
		return fail_resume(src, dst, kind, false, r, ret);
	r->t_bases = fe_now_ns();
	/*
	 * V1: the index to resume from is the used index: nothing half done.
	 *
	 * The rx used index read here, rather than the base, is the reference for the end of
	 * downtime: it is the last value the source wrote, whatever it answered, so only the
	 * destination can move it. The two are equal unless V1 is broken (base_mismatch,
	 * which fails the run); then the base could differ from the index in memory from the
	 * start and be taken for a frame at once. A SET_VRING_ENABLE stop is migrated as
	 * GET_VRING_BASE (above): disabling the tx rings leaves the rx rings running, and
	 * the source could still return frames there after the reference was read.
	 */
	for (i = 0; i < fe_dev_nvrings(src); i++) {
		uint16_t used = fe_vq_used_idx(fe_net_vq(net, i));

		if (i == fe_rxq_vring(i / 2))
			rx_ref[i / 2] = used;
		if (src->base_cnt[i] != used) {
			r->base_mismatch++;
			FE_LOG("warning: ring %u (%s): GET_VRING_BASE 0x%x (position %u) but used index %u",
			       i, fe_dev_layout(src), src->bases[i], src->base_cnt[i], used);
		}
	}
	/* No wait for the driver: it takes the source's last frames while we go on. */
	fe_net_arm_mark(net, rx_ref);

	state = vu_has(&src->vu, VU_PF_DEVICE_STATE);
	if (state) {
		ret = fe_dev_save_state(src, &blob, &len);
		if (ret)
			return fail_resume(src, dst, kind, true, r, ret);
		r->blob_len = len;
		if (fe_blob_check(blob, len, &r->blob_version, why, sizeof(why)) != 0)
			FE_LOG("warning: saved device state: %s", why);
	}
	r->t_saved = fe_now_ns();

	if (!connected) {
		ret = fe_dev_open(dst, net, dst_path, src->o, ~same, same);
		if (!ret)
			ret = fe_dev_set_mem(dst);
		if (ret) {
			free(blob);
			return fail_resume(src, dst, kind, true, r, ret);
		}
	}
	if (state && !vu_has(&dst->vu, VU_PF_DEVICE_STATE)) {
		free(blob);
		fe_err(-ENOTSUP, "destination %s cannot load device state (no DEVICE_STATE)",
		       dst_path);
		return fail_resume(src, dst, kind, true, r, -ENOTSUP);
	}
	/*
	 * Rings first (default): vstop maps the loaded ring positions onto rings that exist;
	 * with protocol feature STATUS nothing runs before DRIVER_OK anyway.
	 */
	if (!mo->state_first) {
		ret = fe_dev_rings(dst, src->bases);
		if (ret) {
			free(blob);
			return fail_resume(src, dst, kind, true, r, ret);
		}
	}
	if (state) {
		if (mo->corrupt != FE_CORRUPT_NONE) {
			fe_blob_corrupt(blob, &len, mo->corrupt);
			FE_LOG("sending a damaged device state (%s, %zu bytes) on purpose",
			       fe_corrupt_name(mo->corrupt), len);
		}
		ret = fe_dev_load_state(dst, blob, len, &r->check);
		free(blob);
		if (ret) {
			r->refused = ret == -EREMOTEIO;
			return fail_resume(src, dst, kind, true, r, ret);
		}
		r->state_moved = true;
	}
	r->t_loaded = fe_now_ns();

	ret = mo->state_first ? fe_dev_rings(dst, src->bases) : 0;
	if (!ret)
		ret = fe_dev_driver_ok(dst);
	if (!ret && vu_has(&dst->vu, VU_PF_STATUS)) {
		uint8_t st;

		/* A state saved while stopped may come back stopped: resume it then. */
		ret = fe_dev_get_status(dst, &st);
		if (!ret && (st & VS_STATUS_DEVICE_STOPPED)) {
			dst->stopped = FE_STOP_STOPPED;
			ret = fe_dev_resume(dst, FE_STOP_STOPPED, &sr);
		}
	}
	if (ret)
		return fail_resume(src, dst, kind, true, r, ret);
	r->t_started = fe_now_ns();

	r->t_first = wait_first_frame(net, rx_ref, src->base_cnt, r->t_started, mo->first_frame_ms,
				      &r->t_work);
	if (!r->t_first) {
		fe_net_disarm_mark(net);
		return fe_err(-ETIMEDOUT, "no frame came back through the destination %s within %u ms",
			      dst_path, mo->first_frame_ms);
	}
	/* Downtime is over; the driver's figures, bounded the same way. */
	if (fe_net_wait_mark(net, mo->first_frame_ms, &r->t_drv_first, &r->t_caught))
		FE_LOG("warning: within %u ms of the first frame through %s the driver had not %s",
		       mo->first_frame_ms, dst_path,
		       r->t_drv_first ? "caught up on every ring" : "taken it");
	/* The source is done: a fresh connection will be needed to go back (ping-pong). */
	fe_dev_close(src);
	return 0;
}
