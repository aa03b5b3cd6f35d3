/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The engine's ops table (vDPA-like config ops) and the per-device stop/resume
 * transitions. Everything here runs on the control lcore, one op at a time.
 */
#include <errno.h>
#include <string.h>

#include "vs_ctl_private.h"

static struct vs_dev *
op_dev(struct vs_ctl *ctl, const struct vs_op *op)
{
	if (op->dev >= VS_MAX_DEVS || !ctl->devs[op->dev].used)
		return NULL;
	return &ctl->devs[op->dev];
}

static uint16_t
dev_id(const struct vs_ctl *ctl, const struct vs_dev *d)
{
	return (uint16_t)(d - ctl->devs);
}

static bool
op_is_stop_request(const struct vs_op *op)
{
	return op->type == VS_OP_STOP || op->type == VS_OP_SUSPEND;
}

/* Complete the waiters a predicate selects, keep the others. */
static void
complete_waiters_if(struct vs_ctl *ctl, struct vs_op_list *l, bool (*pred)(const struct vs_op *),
		    int result)
{
	struct vs_op **pp = &l->head;

	while (*pp != NULL) {
		struct vs_op *op = *pp;

		if (pred(op)) {
			*pp = op->next_;
			vs_op_complete(ctl, op, result);
		} else {
			pp = &op->next_;
		}
	}
}

static void
config_apply(struct vs_dev *d, const struct vs_dev_config *cfg, bool notify)
{
	d->config = *cfg;
	if (notify && d->attached && d->ops->config_changed != NULL)
		d->ops->config_changed(d->priv);
}

/* R7/S4: a change requested while stopped is applied and notified once running again. */
static void
config_flush_pending(struct vs_dev *d)
{
	if (!d->config_pending_set)
		return;
	d->config_pending_set = false;
	config_apply(d, &d->config_pending, true);
}

/* Unpublish the device's streams; the phase machine waits for the epoch, then drains. */
static void
dev_quiesce_start(struct vs_ctl *ctl, struct vs_dev *d)
{
	vs_publish(ctl);
	d->token = vs_publish_token(ctl);
	d->phase = VS_PHASE_QUIESCE_EPOCH;
}

static void
dev_stop_start(struct vs_ctl *ctl, struct vs_dev *d, enum vs_status_action act, uint8_t base)
{
	uint16_t id = dev_id(ctl, d);

	d->t0_ns = vs_ctl_now(ctl);
	d->deadline_ns = d->t0_ns + ctl->stop_timeout_ns;
	d->deadline_reported = false;
	vs_dev_snapshot_iters(ctl, id);
	/* E1: the stops begun in one pass are one batch, under one epoch. */
	if (ctl->pass_stops++ == 0)
		ctl->pass_t0 = d->t0_ns;
	d->batch = ctl->batch_seq + 1;
	vs_status_apply(&d->reg, act, base);
	dev_quiesce_start(ctl, d);
	VS_LOG(DEBUG, "%s: %s requested", d->name, act == VS_ACT_STOP ? "stop" : "suspend");
}

static unsigned int
hist_bucket(uint64_t ns)
{
	uint64_t limit = 10000; /* 10 us */
	unsigned int b = 0;

	while (b < 7 && ns >= limit) {
		limit *= 10;
		b++;
	}
	return b;
}

static void
batch_stop_done(struct vs_ctl *ctl, struct vs_dev *d, uint64_t now)
{
	struct vs_engine_stats *es = &ctl->es;

	if (d->batch != ctl->batch_seq || ctl->batch_left == 0 || --ctl->batch_left > 0)
		return;
	__atomic_store_n(&es->last_batch_stops, ctl->batch_size, __ATOMIC_RELAXED);
	__atomic_store_n(&es->last_batch_ns, now - ctl->batch_t0, __ATOMIC_RELAXED);
	__atomic_store_n(&es->last_batch_epochs, es->epochs - ctl->batch_epochs0,
			 __ATOMIC_RELAXED);
	if (ctl->batch_size > es->max_batch_stops)
		__atomic_store_n(&es->max_batch_stops, ctl->batch_size, __ATOMIC_RELAXED);
}

static void
dev_quiesce_done(struct vs_ctl *ctl, struct vs_dev *d)
{
	d->phase = VS_PHASE_IDLE;
	if (d->reg.state == VS_RUN_STOPPING) {
		uint64_t now = vs_ctl_now(ctl), ns = now - d->t0_ns;

		vs_status_stop_done(&d->reg); /* R6: only now does a read show the bit */
		d->stats.stops++;
		d->stats.last_stop_ns = ns;
		d->stats.stop_hist[hist_bucket(ns)]++;
		batch_stop_done(ctl, d, now);
		/* The backend's notice and the log line: after the bit shows (vs_batch_flush). */
		if (!d->notify_stopped) {
			d->notify_stopped = true;
			ctl->nb_notify_stopped++;
		}
	}
	vs_dev_publish_status(ctl, d);
	vs_op_list_complete(ctl, &d->quiesce_waiters, 0);
	if (!ctl->batching)
		vs_batch_flush(ctl); /* not in a pass (cannot happen today): notify now */
}

/* R11: report a stop that is late, once; it goes on, and the driver may cancel it. */
static void
dev_check_deadline(struct vs_ctl *ctl, struct vs_dev *d, const char *why)
{
	if (d->deadline_reported || d->reg.state != VS_RUN_STOPPING ||
	    vs_ctl_now(ctl) < d->deadline_ns)
		return;
	d->deadline_reported = true;
	d->stats.deadline_misses++;
	VS_LOG(WARNING, "%s: stop not complete after %lu ms (%s); status stays without the bit",
	       d->name, (unsigned long)((vs_now_ns() - d->t0_ns) / 1000000), why);
	complete_waiters_if(ctl, &d->quiesce_waiters, op_is_stop_request, -ETIMEDOUT);
}

static void
dev_resume_finish(struct vs_ctl *ctl, struct vs_dev *d)
{
	int rc = 0;

	d->phase = VS_PHASE_IDLE;
	if (d->attached && d->ops->resume != NULL)
		rc = d->ops->resume(d->priv);
	d->resuming = false;
	if (rc < 0) {
		/* S3: the device could not resume; it stays stopped and asks for a reset. */
		d->reg.base |= VS_STATUS_NEEDS_RESET;
		VS_LOG(ERR, "%s: resume failed (%s): DEVICE_NEEDS_RESET", d->name, strerror(-rc));
		vs_publish(ctl);
		vs_dev_publish_status(ctl, d);
		vs_op_list_complete(ctl, &d->resume_waiters, rc);
		return;
	}
	vs_status_apply(&d->reg, VS_ACT_RESUME, d->resume_base);
	d->stats.resumes++;
	vs_publish(ctl);           /* R9: streams live again ... */
	vs_dev_publish_status(ctl, d);  /* ... before the bit shows cleared */
	config_flush_pending(d);
	vs_op_list_complete(ctl, &d->resume_waiters, 0);
}

int
vs_dev_advance(struct vs_ctl *ctl, uint16_t dev)
{
	struct vs_dev *d = &ctl->devs[dev];
	int rc;

	switch (d->phase) {
	case VS_PHASE_QUIESCE_EPOCH:
		if (!vs_epoch_passed(ctl, d->token)) {
			dev_check_deadline(ctl, d, "waiting for polling lcores");
			return 0;
		}
		/*
		 * Counted here, not when the bit shows: the drain and the status update are the
		 * control lcore's work, not the polling lcores'.
		 */
		if (d->reg.state == VS_RUN_STOPPING)
			vs_dev_iters_since(ctl, dev, &d->stats.last_stop_iters,
					   &d->stats.last_stop_iters_max);
		d->phase = VS_PHASE_DRAIN;
		/* fall through */
	case VS_PHASE_DRAIN:
		rc = (d->attached && d->ops->drain != NULL) ? d->ops->drain(d->priv) : 0;
		if (rc == -EAGAIN) {
			dev_check_deadline(ctl, d, "drain not finished");
			return 0;
		}
		if (rc < 0) {
			dev_check_deadline(ctl, d, strerror(-rc));
			return 0;
		}
		dev_quiesce_done(ctl, d);
		return 1;
	case VS_PHASE_RESUME_EPOCH:
		if (!vs_epoch_passed(ctl, d->token))
			return 0;
		dev_resume_finish(ctl, d);
		return 1;
	case VS_PHASE_IDLE:
	default:
		return 0;
	}
}

/*
 * Resume. If the device has park streams (frames held for it while stopped), they are
 * unpublished first and the backend delivers what they held before the normal streams
 * return, so held frames keep their place in front of new ones. Otherwise adding the
 * streams back needs no epoch.
 */
static int
dev_resume_start(struct vs_ctl *ctl, struct vs_dev *d, uint8_t base, struct vs_op *waiter)
{
	d->resume_base = base;
	d->resuming = true;
	if (d->attached && vs_dev_has_park(ctl, dev_id(ctl, d))) {
		vs_publish(ctl);
		d->token = vs_publish_token(ctl);
		d->phase = VS_PHASE_RESUME_EPOCH;
		if (waiter == NULL)
			return 0;
		vs_op_list_push(&d->resume_waiters, waiter);
		return VS_OP_PENDING;
	}
	dev_resume_finish(ctl, d);
	return (d->reg.base & VS_STATUS_NEEDS_RESET) ? -EIO : 0;
}

/* R11 cancel: back to running, nothing lost (the streams simply return). */
static void
dev_stop_cancel(struct vs_ctl *ctl, struct vs_dev *d, uint8_t base)
{
	vs_status_apply(&d->reg, VS_ACT_CANCEL, base);
	d->phase = VS_PHASE_IDLE;
	d->stats.cancels++;
	complete_waiters_if(ctl, &d->quiesce_waiters, op_is_stop_request, -ECANCELED);
	vs_publish(ctl);
	if (d->quiesce_req && d->quiesce_waiters.head != NULL)
		dev_quiesce_start(ctl, d); /* a V1 quiesce still waits: let it finish */
	vs_dev_publish_status(ctl, d);
	config_flush_pending(d);
	VS_LOG(INFO, "%s: stop cancelled", d->name);
}

static void
dev_resume_abort(struct vs_ctl *ctl, struct vs_dev *d)
{
	if (!d->resuming)
		return;
	d->resuming = false;
	if (d->phase == VS_PHASE_RESUME_EPOCH)
		d->phase = VS_PHASE_IDLE;
	vs_op_list_complete(ctl, &d->resume_waiters, -ECANCELED);
	vs_publish(ctl);
}

/* R2/V5: status 0. Forget any stop, quiesce like a stop, keep vq indices. */
static int
dev_reset(struct vs_ctl *ctl, struct vs_dev *d, struct vs_op *waiter)
{
	dev_resume_abort(ctl, d);
	complete_waiters_if(ctl, &d->quiesce_waiters, op_is_stop_request, -ECANCELED);
	vs_status_apply(&d->reg, VS_ACT_RESET, 0);
	d->quiesce_req = true;
	if (d->config_pending_set) {
		d->config = d->config_pending;
		d->config_pending_set = false;
	}
	d->stats.resets++;
	if (d->ops->reset != NULL)
		d->ops->reset(d->priv);
	dev_quiesce_start(ctl, d);
	vs_dev_publish_status(ctl, d);
	if (waiter == NULL)
		return 0;
	vs_op_list_push(&d->quiesce_waiters, waiter);
	return VS_OP_PENDING;
}

/* ---- the ops table ---- */

static int
op_nop(struct vs_ctl *ctl, struct vs_op *op)
{
	RTE_SET_USED(ctl);
	RTE_SET_USED(op);
	return 0;
}

static int
op_dev_add(struct vs_ctl *ctl, struct vs_op *op)
{
	const struct vs_dev_add *a = &op->in.dev_add;
	static const struct vs_backend_ops no_ops;

	if (a->name == NULL || a->nb_vqs == 0 || a->nb_vqs > VS_MAX_VQS)
		return -EINVAL;
	for (uint16_t i = 0; i < VS_MAX_DEVS; i++) {
		struct vs_dev *d = &ctl->devs[i];

		if (d->used)
			continue;
		memset(d, 0, sizeof(*d));
		snprintf(d->name, sizeof(d->name), "%s", a->name);
		d->ops = a->ops != NULL ? a->ops : &no_ops;
		d->priv = a->priv;
		d->nb_vqs = a->nb_vqs;
		memset(d->vq_ready, 1, sizeof(d->vq_ready));
		d->config = a->config;
		__atomic_store_n(&d->used, true, __ATOMIC_RELEASE);
		if (i >= ctl->devs_end)
			ctl->devs_end = i + 1u;
		vs_dev_publish_status(ctl, d);
		return i;
	}
	return -ENOSPC;
}

static bool
dev_in_streams(const struct vs_ctl *ctl, uint16_t dev)
{
	for (unsigned int i = 0; i < ctl->streams_end; i++)
		if (ctl->stream_used[i] &&
		    (ctl->streams[i].rx_dev == dev || ctl->streams[i].tx_dev == dev))
			return true;
	return false;
}

static int
op_dev_del(struct vs_ctl *ctl, struct vs_op *op)
{
	struct vs_dev *d = op_dev(ctl, op);

	if (d == NULL)
		return -ENODEV;
	if (d->attached || d->phase != VS_PHASE_IDLE || dev_in_streams(ctl, op->dev))
		return -EBUSY;
	__atomic_store_n(&d->used, false, __ATOMIC_RELEASE);
	if (d->status_dirty) {
		d->status_dirty = false;
		ctl->nb_status_dirty--;
	}
	while (ctl->devs_end > 0 && !ctl->devs[ctl->devs_end - 1].used)
		ctl->devs_end--;
	return 0;
}

static int
op_attach(struct vs_ctl *ctl, struct vs_op *op)
{
	struct vs_dev *d = op_dev(ctl, op);

	if (d == NULL)
		return -ENODEV;
	d->attached = true;
	d->quiesce_req = (d->reg.base & VS_STATUS_NEEDS_RESET) != 0; /* only a reset revives */
	vs_publish(ctl);
	return 0;
}

/* V4: completes only once no polling lcore can still touch the device's rings. */
static int
op_detach(struct vs_ctl *ctl, struct vs_op *op)
{
	struct vs_dev *d = op_dev(ctl, op);

	if (d == NULL)
		return -ENODEV;
	d->attached = false;
	vs_publish(ctl);
	vs_epoch_wait_op(ctl, op);
	return VS_OP_PENDING;
}

static int
op_set_features(struct vs_ctl *ctl, struct vs_op *op)
{
	struct vs_dev *d = op_dev(ctl, op);

	if (d == NULL)
		return -ENODEV;
	d->reg.features = op->in.features;
	return 0;
}

static int
status_write(struct vs_ctl *ctl, struct vs_dev *d, uint8_t value, struct vs_op *waiter)
{
	uint8_t base, shown = vs_status_show(&d->reg);
	enum vs_status_action act = vs_status_decide(&d->reg, value, &base);
	char b1[96], b2[96];

	switch (act) {
	case VS_ACT_REFUSE:
		d->stats.refused++;
		VS_LOG(WARNING, "%s: refused status write 0x%02x (%s): it clears bits of 0x%02x (%s)",
		       d->name, value, vs_status_format(value, b1, sizeof(b1)), shown,
		       vs_status_format(shown, b2, sizeof(b2)));
		return -EPERM;
	case VS_ACT_IGNORE:
		return 0;
	case VS_ACT_STORE:
		/* The driver brought the device up again; a broken one waits for a reset. */
		if (!(d->reg.base & VS_STATUS_DRIVER_OK) && (base & VS_STATUS_DRIVER_OK) &&
		    !(base & VS_STATUS_NEEDS_RESET))
			d->quiesce_req = false;
		vs_status_apply(&d->reg, act, base);
		vs_publish(ctl);
		vs_dev_publish_status(ctl, d);
		return 0;
	case VS_ACT_RESET:
		return dev_reset(ctl, d, waiter);
	case VS_ACT_STOP:
	case VS_ACT_SUSPEND:
		dev_stop_start(ctl, d, act, base);
		vs_dev_publish_status(ctl, d);
		break;
	case VS_ACT_MERGE:
		d->stats.merged++;
		vs_status_apply(&d->reg, act, base);
		if (d->resuming)
			dev_resume_abort(ctl, d); /* stop asked again before the resume finished */
		break;
	case VS_ACT_CANCEL:
		dev_stop_cancel(ctl, d, base);
		return 0;
	case VS_ACT_RESUME:
		if (d->resuming) {
			d->stats.merged++; /* R12 */
			return 0;
		}
		return dev_resume_start(ctl, d, base, NULL);
	default:
		return -EINVAL;
	}
	if (waiter != NULL && d->reg.state == VS_RUN_STOPPING) {
		vs_op_list_push(&d->quiesce_waiters, waiter);
		return VS_OP_PENDING;
	}
	return 0;
}

static int
op_set_status(struct vs_ctl *ctl, struct vs_op *op)
{
	struct vs_dev *d = op_dev(ctl, op);

	if (d == NULL)
		return -ENODEV;
	return status_write(ctl, d, op->in.status, NULL);
}

static int
op_get_status(struct vs_ctl *ctl, struct vs_op *op)
{
	struct vs_dev *d = op_dev(ctl, op);

	if (d == NULL)
		return -ENODEV;
	op->out.status = vs_status_show(&d->reg);
	return 0;
}

/*
 * Orchestrator stop/suspend (console, control socket): the same transition a driver's
 * status write starts, but it does not depend on what the driver negotiated, and the op
 * completes only when the bit shows (or the stop is cancelled / late).
 */
static int
op_stop_common(struct vs_ctl *ctl, struct vs_op *op, enum vs_stop_kind kind)
{
	struct vs_dev *d = op_dev(ctl, op);

	if (d == NULL)
		return -ENODEV;
	if (!(d->reg.base & VS_STATUS_DRIVER_OK))
		return -EINVAL;
	if (d->reg.kind != VS_STOP_NONE && d->reg.kind != kind)
		return -EBUSY;
	if (d->reg.state == VS_RUN_STOPPED && !d->resuming) {
		d->stats.merged++;
		return 0;
	}
	if (d->reg.state == VS_RUN_RUNNING) {
		dev_stop_start(ctl, d, kind == VS_STOP_SUSPEND ? VS_ACT_SUSPEND : VS_ACT_STOP,
			       d->reg.base);
		vs_dev_publish_status(ctl, d);
	} else {
		d->stats.merged++;
		dev_resume_abort(ctl, d);
	}
	vs_op_list_push(&d->quiesce_waiters, op);
	return VS_OP_PENDING;
}

static int
op_stop(struct vs_ctl *ctl, struct vs_op *op)
{
	return op_stop_common(ctl, op, VS_STOP_DEVICE_STOPPED);
}

static int
op_suspend(struct vs_ctl *ctl, struct vs_op *op)
{
	return op_stop_common(ctl, op, VS_STOP_SUSPEND);
}

static int
op_resume(struct vs_ctl *ctl, struct vs_op *op)
{
	struct vs_dev *d = op_dev(ctl, op);

	if (d == NULL)
		return -ENODEV;
	if (d->reg.state == VS_RUN_RUNNING)
		return 0; /* R12 */
	if (d->reg.state == VS_RUN_STOPPING) {
		dev_stop_cancel(ctl, d, d->reg.base);
		return 0;
	}
	if (d->resuming) {
		vs_op_list_push(&d->resume_waiters, op);
		return VS_OP_PENDING;
	}
	return dev_resume_start(ctl, d, d->reg.base, op);
}

static int
op_reset(struct vs_ctl *ctl, struct vs_op *op)
{
	struct vs_dev *d = op_dev(ctl, op);

	if (d == NULL)
		return -ENODEV;
	return dev_reset(ctl, d, op);
}

/* V1: GET_VRING_BASE. Unpublish, epoch, drain; status untouched. */
static int
op_quiesce(struct vs_ctl *ctl, struct vs_op *op)
{
	struct vs_dev *d = op_dev(ctl, op);

	if (d == NULL)
		return -ENODEV;
	d->quiesce_req = true;
	dev_resume_abort(ctl, d);
	/*
	 * Even with a quiesce already under way: streams may have been published again since
	 * it began (the driver set DRIVER_OK), so unpublish now and wait for this epoch.
	 */
	dev_quiesce_start(ctl, d);
	vs_op_list_push(&d->quiesce_waiters, op);
	return VS_OP_PENDING;
}

/* The transport found the device broken: show DEVICE_NEEDS_RESET, quiesce like V1. */
static int
op_set_needs_reset(struct vs_ctl *ctl, struct vs_op *op)
{
	struct vs_dev *d = op_dev(ctl, op);

	if (d == NULL)
		return -ENODEV;
	if (!(d->reg.base & VS_STATUS_NEEDS_RESET))
		VS_LOG(ERR, "%s: DEVICE_NEEDS_RESET", d->name);
	d->reg.base |= VS_STATUS_NEEDS_RESET;
	vs_dev_publish_status(ctl, d);
	return op_quiesce(ctl, op);
}

/* U2: a takeover that failed gives the device back its streams. */
static int
op_unquiesce(struct vs_ctl *ctl, struct vs_op *op)
{
	struct vs_dev *d = op_dev(ctl, op);

	if (d == NULL)
		return -ENODEV;
	if (!(d->reg.base & VS_STATUS_NEEDS_RESET))
		d->quiesce_req = false;
	vs_publish(ctl);
	return 0;
}

static int
vq_op_check(struct vs_ctl *ctl, const struct vs_op *op, struct vs_dev **dp)
{
	struct vs_dev *d = op_dev(ctl, op);

	if (d == NULL)
		return -ENODEV;
	if (op->vq >= d->nb_vqs)
		return -EINVAL;
	*dp = d;
	return 0;
}

static int
op_get_vq_state(struct vs_ctl *ctl, struct vs_op *op)
{
	struct vs_dev *d;
	int rc = vq_op_check(ctl, op, &d);

	if (rc < 0)
		return rc;
	if (vs_dev_live(ctl, op->dev) || d->phase != VS_PHASE_IDLE)
		return -EBUSY; /* only a quiesced device has a stable position */
	if (d->ops->get_vq_state == NULL)
		return -ENOTSUP;
	return d->ops->get_vq_state(d->priv, op->vq, &op->out.vq_state);
}

static int
op_set_vq_state(struct vs_ctl *ctl, struct vs_op *op)
{
	struct vs_dev *d;
	int rc = vq_op_check(ctl, op, &d);

	if (rc < 0)
		return rc;
	if (vs_dev_live(ctl, op->dev) || d->phase != VS_PHASE_IDLE)
		return -EBUSY;
	if (d->ops->set_vq_state == NULL)
		return -ENOTSUP;
	return d->ops->set_vq_state(d->priv, op->vq, &op->in.vq_state);
}

/* V2: one queue on or off; off completes after the epoch. */
static int
op_set_vq_ready(struct vs_ctl *ctl, struct vs_op *op)
{
	struct vs_dev *d;
	int rc = vq_op_check(ctl, op, &d);

	if (rc < 0)
		return rc;
	d->vq_ready[op->vq] = op->in.ready;
	vs_publish(ctl);
	if (op->in.ready)
		return 0;
	vs_epoch_wait_op(ctl, op);
	return VS_OP_PENDING;
}

static int
op_get_config(struct vs_ctl *ctl, struct vs_op *op)
{
	struct vs_dev *d = op_dev(ctl, op);

	if (d == NULL)
		return -ENODEV;
	op->out.config = d->config;
	return 0;
}

/* R7/S4: config does not change while stopped (or on the way to or from stopped). */
static int
op_set_config(struct vs_ctl *ctl, struct vs_op *op)
{
	struct vs_dev *d = op_dev(ctl, op);

	if (d == NULL)
		return -ENODEV;
	if (d->reg.state != VS_RUN_RUNNING || d->resuming) {
		d->config_pending = op->in.config;
		d->config_pending_set = true;
		return 0;
	}
	config_apply(d, &op->in.config, true);
	return 0;
}

static bool
stream_side_valid(const struct vs_ctl *ctl, uint16_t dev, uint16_t vq)
{
	if (dev == VS_DEV_NONE)
		return true;
	return dev < VS_MAX_DEVS && ctl->devs[dev].used && vq < ctl->devs[dev].nb_vqs;
}

static int
op_stream_add(struct vs_ctl *ctl, struct vs_op *op)
{
	const struct vs_stream *s = &op->in.stream;

	if (s->fn == NULL || s->poller >= ctl->nb_pollers ||
	    !stream_side_valid(ctl, s->rx_dev, s->rx_vq) ||
	    !stream_side_valid(ctl, s->tx_dev, s->tx_vq))
		return -EINVAL;
	for (unsigned int i = 0; i < VS_MAX_STREAMS; i++) {
		if (ctl->stream_used[i])
			continue;
		ctl->streams[i] = *s;
		ctl->stream_used[i] = true;
		if (i >= ctl->streams_end)
			ctl->streams_end = i + 1;
		if (s->rx_dev != VS_DEV_NONE)
			ctl->devs[s->rx_dev].owners |= 1ull << s->poller;
		if (s->tx_dev != VS_DEV_NONE)
			ctl->devs[s->tx_dev].owners |= 1ull << s->poller;
		if (s->tx_dev != VS_DEV_NONE && s->park != NULL)
			ctl->devs[s->tx_dev].nb_park++;
		vs_publish(ctl);
		return (int)i;
	}
	return -ENOSPC;
}

static int
op_stream_del(struct vs_ctl *ctl, struct vs_op *op)
{
	uint32_t id = op->in.stream_id;

	if (id >= VS_MAX_STREAMS || !ctl->stream_used[id])
		return -EINVAL;
	ctl->stream_used[id] = false;
	while (ctl->streams_end > 0 && !ctl->stream_used[ctl->streams_end - 1])
		ctl->streams_end--;
	vs_dev_owners_update(ctl, ctl->streams[id].rx_dev);
	vs_dev_owners_update(ctl, ctl->streams[id].tx_dev);
	vs_publish(ctl);
	vs_epoch_wait_op(ctl, op);
	return VS_OP_PENDING;
}

static int
op_get_info(struct vs_ctl *ctl, struct vs_op *op)
{
	struct vs_dev *d = op_dev(ctl, op);
	struct vs_dev_info *i = &op->out.info;

	if (d == NULL)
		return -ENODEV;
	*i = d->stats;
	snprintf(i->name, sizeof(i->name), "%s", d->name);
	i->status_shown = vs_status_show(&d->reg);
	i->status_base = d->reg.base;
	i->stop_kind = d->reg.kind;
	i->run_state = d->reg.state;
	i->attached = d->attached;
	i->quiesced = !vs_dev_live(ctl, op->dev);
	i->nb_vqs = d->nb_vqs;
	i->features = d->reg.features;
	i->config = d->config;
	i->config_pending = d->config_pending_set;
	return 0;
}

static int
op_call(struct vs_ctl *ctl, struct vs_op *op)
{
	if (op->in.call.fn == NULL)
		return -EINVAL;
	return op->in.call.fn(ctl, op->in.call.arg);
}

const vs_op_handler vs_op_table[VS_OP__MAX] = {
	[VS_OP_NOP] = op_nop,
	[VS_OP_DEV_ADD] = op_dev_add,
	[VS_OP_DEV_DEL] = op_dev_del,
	[VS_OP_ATTACH] = op_attach,
	[VS_OP_DETACH] = op_detach,
	[VS_OP_SET_FEATURES] = op_set_features,
	[VS_OP_SET_STATUS] = op_set_status,
	[VS_OP_GET_STATUS] = op_get_status,
	[VS_OP_STOP] = op_stop,
	[VS_OP_SUSPEND] = op_suspend,
	[VS_OP_RESUME] = op_resume,
	[VS_OP_RESET] = op_reset,
	[VS_OP_QUIESCE] = op_quiesce,
	[VS_OP_GET_VQ_STATE] = op_get_vq_state,
	[VS_OP_SET_VQ_STATE] = op_set_vq_state,
	[VS_OP_SET_VQ_READY] = op_set_vq_ready,
	[VS_OP_GET_CONFIG] = op_get_config,
	[VS_OP_SET_CONFIG] = op_set_config,
	[VS_OP_STREAM_ADD] = op_stream_add,
	[VS_OP_STREAM_DEL] = op_stream_del,
	[VS_OP_GET_INFO] = op_get_info,
	[VS_OP_CALL] = op_call,
	[VS_OP_SET_NEEDS_RESET] = op_set_needs_reset,
	[VS_OP_UNQUIESCE] = op_unquiesce,
};
