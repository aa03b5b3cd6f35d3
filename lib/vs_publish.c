/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Publishing stream lists to polling lcores, and the epoch barrier (rte_rcu_qsbr).
 *
 * The control lcore recomputes every poller's list from device state, swaps in the lists
 * that changed (release store), and retires the old ones: an old list, and any stream that
 * is on it but not on the new one, may be in use until every online poller has reported a
 * quiescent state after the swap. Waiting is never blocking: a token is started and
 * checked on each control-loop pass, so the control lcore keeps serving other devices.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vs_ctl_private.h"

static const struct vs_stream_list empty_list = { .n = 0 };

bool
vs_dev_live(const struct vs_ctl *ctl, uint16_t dev)
{
	const struct vs_dev *d = &ctl->devs[dev];

	return d->used && d->attached && d->reg.state == VS_RUN_RUNNING && !d->quiesce_req &&
	       !d->resuming;
}

static bool
side_live(const struct vs_ctl *ctl, uint16_t dev, uint16_t vq)
{
	return dev == VS_DEV_NONE || (vs_dev_live(ctl, dev) && ctl->devs[dev].vq_ready[vq]);
}

/*
 * Park streams hold frames for a tx device that is attached and stopped (or stopping, or
 * quiesced for a migration): a guest that will come back. Not for a device nobody is
 * connected to, nor while a resume flushes what was held.
 */
static bool
side_parkable(const struct vs_ctl *ctl, uint16_t dev)
{
	const struct vs_dev *d;

	if (dev == VS_DEV_NONE)
		return false;
	d = &ctl->devs[dev];
	return d->attached && !d->resuming && (d->reg.state != VS_RUN_RUNNING || d->quiesce_req);
}

static vs_stream_fn
stream_fn_now(const struct vs_ctl *ctl, const struct vs_stream *s)
{
	if (!side_live(ctl, s->rx_dev, s->rx_vq))
		return NULL;
	if (side_live(ctl, s->tx_dev, s->tx_vq))
		return s->fn;
	if (s->park != NULL && side_parkable(ctl, s->tx_dev))
		return s->park;
	return NULL;
}

bool
vs_dev_has_park(const struct vs_ctl *ctl, uint16_t dev)
{
	return ctl->devs[dev].nb_park > 0;
}

static bool
list_equal(const struct vs_stream_list *a, const struct vs_stream_list *b)
{
	return a->n == b->n && memcmp(a->s, b->s, sizeof(a->s[0]) * a->n) == 0;
}

static struct vs_stream_list *
build_list(const struct vs_ctl *ctl, unsigned int poller)
{
	struct vs_stream_list *l;
	unsigned int n = 0;

	l = malloc(sizeof(*l) + sizeof(l->s[0]) * ctl->streams_end);
	if (l == NULL)
		return NULL;
	for (unsigned int i = 0; i < ctl->streams_end; i++) {
		const struct vs_stream *s = &ctl->streams[i];
		vs_stream_fn fn;

		if (!ctl->stream_used[i] || s->poller != poller)
			continue;
		fn = stream_fn_now(ctl, s);
		if (fn == NULL)
			continue;
		l->s[n].fn = fn;
		l->s[n].arg = s->arg;
		n++;
	}
	l->n = n;
	return l;
}

/*
 * Keep @p old until the epoch of this publish has passed. Never waits: a polling lcore
 * that is slow, descheduled or stuck must not stop the control lcore (R11 needs it to
 * report and cancel). @return 0 or -ENOMEM (then @p old is leaked, not freed early).
 */
static int
retire(struct vs_ctl *ctl, const struct vs_stream_list *old)
{
	if (old == NULL || old == &empty_list)
		return 0;
	if (ctl->nb_retired == ctl->max_retired) {
		unsigned int n = ctl->max_retired ? 2 * ctl->max_retired : 64;
		struct vs_retired *r = realloc(ctl->retired, n * sizeof(*r));

		if (r == NULL)
			return -ENOMEM;
		ctl->retired = r;
		ctl->max_retired = n;
	}
	ctl->retired[ctl->nb_retired].list = old;
	ctl->retired[ctl->nb_retired].token = 0; /* set by vs_publish() */
	ctl->nb_retired++;
	return 0;
}

static int
publish_now(struct vs_ctl *ctl)
{
	unsigned int first_retired = ctl->nb_retired;
	int swapped = 0;

	for (unsigned int p = 0; p < ctl->nb_pollers; p++) {
		struct vs_poller *pl = &ctl->pollers[p];
		const struct vs_stream_list *cur = pl->list;
		struct vs_stream_list *l = build_list(ctl, p);

		if (l == NULL)
			return -ENOMEM;
		if (cur != NULL && list_equal(cur, l)) {
			free(l);
			continue;
		}
		if (l->n == 0) {
			free(l);
			l = (struct vs_stream_list *)(uintptr_t)&empty_list;
		}
		__atomic_store_n(&pl->list, l, __ATOMIC_RELEASE);
		if (retire(ctl, cur) < 0)
			VS_LOG(ERR, "out of memory: a retired stream list is leaked");
		swapped++;
	}
	if (swapped > 0) {
		/* One token covers every list swapped in this pass. */
		ctl->last_token = rte_rcu_qsbr_start(ctl->qsv);
		__atomic_store_n(&ctl->es.epochs, ctl->es.epochs + 1, __ATOMIC_RELAXED);
		for (unsigned int i = first_retired; i < ctl->nb_retired; i++)
			ctl->retired[i].token = ctl->last_token;
	}
	return swapped;
}

/*
 * Outside a batch: publish now. In a batch (a control-loop pass running its ops or
 * advancing its devices): note it; vs_batch_flush() publishes once for the whole pass.
 */
int
vs_publish(struct vs_ctl *ctl)
{
	if (ctl->batching) {
		ctl->publish_pending = true;
		return 0;
	}
	return publish_now(ctl);
}

uint64_t
vs_publish_token(const struct vs_ctl *ctl)
{
	return ctl->batching && ctl->publish_pending ? VS_TOKEN_PENDING : ctl->last_token;
}

void
vs_batch_flush(struct vs_ctl *ctl)
{
	ctl->batching = false;
	if (ctl->publish_pending) {
		struct vs_op *op;

		ctl->publish_pending = false;
		if (publish_now(ctl) < 0)
			VS_LOG(ERR, "out of memory: stream lists not published");
		for (unsigned int i = 0; i < ctl->devs_end; i++)
			if (ctl->devs[i].token == VS_TOKEN_PENDING)
				ctl->devs[i].token = ctl->last_token;
		for (op = ctl->epoch_waiters.head; op != NULL; op = op->next_)
			if (op->token_ == VS_TOKEN_PENDING)
				op->token_ = ctl->last_token;
	}
	/* Statuses after the lists (R9), completions after both. */
	for (unsigned int i = 0; ctl->nb_status_dirty > 0 && i < ctl->devs_end; i++) {
		struct vs_dev *d = &ctl->devs[i];

		if (!d->status_dirty)
			continue;
		d->status_dirty = false;
		ctl->nb_status_dirty--;
		vs_dev_publish_status(ctl, d);
	}
	vs_ctl_complete_queued(ctl);
	/*
	 * The backend's notice and the log line come after the bit is shown and the waiters
	 * are answered: the driver is waiting for the bit, not for the log.
	 */
	for (unsigned int i = 0; ctl->nb_notify_stopped > 0 && i < ctl->devs_end; i++) {
		struct vs_dev *d = &ctl->devs[i];

		if (!d->notify_stopped)
			continue;
		d->notify_stopped = false;
		ctl->nb_notify_stopped--;
		if (d->ops->stopped != NULL)
			d->ops->stopped(d->priv);
		VS_LOG(DEBUG, "%s: stopped in %lu ns, %lu loop iterations", d->name,
		       (unsigned long)d->stats.last_stop_ns,
		       (unsigned long)d->stats.last_stop_iters);
	}
}

void
vs_publish_release(struct vs_ctl *ctl)
{
	for (unsigned int i = 0; i < ctl->nb_retired; i++)
		free((void *)ctl->retired[i].list);
	ctl->nb_retired = 0;
	free(ctl->retired);
	ctl->retired = NULL;
	ctl->max_retired = 0;
	for (unsigned int p = 0; p < ctl->nb_pollers; p++) {
		if (ctl->pollers[p].list != &empty_list)
			free((void *)ctl->pollers[p].list);
		ctl->pollers[p].list = NULL;
	}
}

bool
vs_epoch_passed(struct vs_ctl *ctl, uint64_t token)
{
	if (token == VS_TOKEN_PENDING)
		return false; /* its publish has not happened yet */
	/* Tokens grow: one that passed covers every older one (many devices share one). */
	if (token == 0 || token <= ctl->epoch_seen)
		return true;
	if (rte_rcu_qsbr_check(ctl->qsv, token, false) != 1)
		return false;
	ctl->epoch_seen = token;
	return true;
}

void
vs_epoch_wait_op(struct vs_ctl *ctl, struct vs_op *op)
{
	op->token_ = vs_publish_token(ctl);
	vs_op_list_push(&ctl->epoch_waiters, op);
}

/* Free retired lists and complete epoch waiters whose token has passed. */
int
vs_epoch_advance(struct vs_ctl *ctl)
{
	struct vs_op **pp = &ctl->epoch_waiters.head;
	unsigned int kept = 0;
	int done = 0;

	for (unsigned int i = 0; i < ctl->nb_retired; i++) {
		if (vs_epoch_passed(ctl, ctl->retired[i].token)) {
			free((void *)ctl->retired[i].list);
			done++;
		} else {
			ctl->retired[kept++] = ctl->retired[i];
		}
	}
	ctl->nb_retired = kept;

	while (*pp != NULL) {
		struct vs_op *op = *pp;

		if (vs_epoch_passed(ctl, op->token_)) {
			*pp = op->next_;
			vs_op_complete(ctl, op, 0);
			done++;
		} else {
			pp = &op->next_;
		}
	}
	return done;
}

/*
 * The pollers that run a stream of @p dev (struct vs_dev.owners), kept up to date on
 * stream add and delete, so that a stop does not scan every stream: with many devices
 * stopped in one pass that scan was quadratic.
 */
void
vs_dev_owners_update(struct vs_ctl *ctl, uint16_t dev)
{
	unsigned int park = 0;
	uint64_t m = 0;

	if (dev == VS_DEV_NONE || dev >= VS_MAX_DEVS)
		return;
	for (unsigned int i = 0; i < ctl->streams_end; i++) {
		const struct vs_stream *s = &ctl->streams[i];

		if (!ctl->stream_used[i] || (s->rx_dev != dev && s->tx_dev != dev))
			continue;
		m |= 1ull << s->poller;
		park += s->tx_dev == dev && s->park != NULL;
	}
	ctl->devs[dev].owners = m;
	ctl->devs[dev].nb_park = park;
}

/* Poller @p p's loop counter, read once per pass while batching. */
static uint64_t
poller_iters(struct vs_ctl *ctl, unsigned int p)
{
	if (!ctl->batching)
		return __atomic_load_n(&ctl->pollers[p].iterations, __ATOMIC_RELAXED);
	if (!ctl->iters_valid) {
		for (unsigned int i = 0; i < ctl->nb_pollers; i++)
			ctl->iters_pass[i] = __atomic_load_n(&ctl->pollers[i].iterations,
							     __ATOMIC_RELAXED);
		ctl->iters_valid = true;
	}
	return ctl->iters_pass[p];
}

void
vs_dev_snapshot_iters(struct vs_ctl *ctl, uint16_t dev)
{
	const struct vs_dev *d = &ctl->devs[dev];
	uint64_t *i0 = &ctl->iters0[(size_t)dev * ctl->nb_pollers];

	for (unsigned int p = 0; p < ctl->nb_pollers; p++)
		i0[p] = (d->owners >> p) & 1 ? poller_iters(ctl, p) : UINT64_MAX;
}

void
vs_dev_iters_since(struct vs_ctl *ctl, uint16_t dev, uint64_t *slowest, uint64_t *fastest)
{
	const uint64_t *i0 = &ctl->iters0[(size_t)dev * ctl->nb_pollers];
	uint64_t min = UINT64_MAX, max = 0;

	for (unsigned int p = 0; p < ctl->nb_pollers; p++) {
		uint64_t now, delta;

		if (i0[p] == UINT64_MAX)
			continue;
		now = poller_iters(ctl, p);
		delta = now - i0[p];
		min = delta < min ? delta : min;
		max = delta > max ? delta : max;
	}
	*slowest = min == UINT64_MAX ? 0 : min;
	*fastest = max;
}
