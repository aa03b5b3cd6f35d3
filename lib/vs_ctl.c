/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control lcore: op ring, op completion, the control loop. What each op does is in
 * vs_ctl_ops.c; how streams are published and epochs waited for is in vs_publish.c.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <rte_lcore.h>
#include <rte_pause.h>

#include "vs_ctl_private.h"

RTE_LOG_REGISTER(vs_ctl_logtype, vstop.ctl, INFO);

static const char *const op_names[VS_OP__MAX] = {
	[VS_OP_NOP] = "nop",
	[VS_OP_DEV_ADD] = "dev_add",
	[VS_OP_DEV_DEL] = "dev_del",
	[VS_OP_ATTACH] = "attach",
	[VS_OP_DETACH] = "detach",
	[VS_OP_SET_FEATURES] = "set_features",
	[VS_OP_SET_STATUS] = "set_status",
	[VS_OP_GET_STATUS] = "get_status",
	[VS_OP_STOP] = "stop",
	[VS_OP_SUSPEND] = "suspend",
	[VS_OP_RESUME] = "resume",
	[VS_OP_RESET] = "reset",
	[VS_OP_QUIESCE] = "quiesce",
	[VS_OP_GET_VQ_STATE] = "get_vq_state",
	[VS_OP_SET_VQ_STATE] = "set_vq_state",
	[VS_OP_SET_VQ_READY] = "set_vq_ready",
	[VS_OP_GET_CONFIG] = "get_config",
	[VS_OP_SET_CONFIG] = "set_config",
	[VS_OP_STREAM_ADD] = "stream_add",
	[VS_OP_STREAM_DEL] = "stream_del",
	[VS_OP_GET_INFO] = "get_info",
	[VS_OP_CALL] = "call",
	[VS_OP_SET_NEEDS_RESET] = "set_needs_reset",
	[VS_OP_UNQUIESCE] = "unquiesce",
};

const char *
vs_op_name(unsigned int type)
{
	return type < VS_OP__MAX ? op_names[type] : "?";
}

uint64_t
vs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

struct vs_ctl *
vs_ctl_create(const struct vs_ctl_params *params)
{
	unsigned int ring_size = params->ring_size ? params->ring_size : 4096;
	struct vs_ctl *ctl;
	ssize_t sz;

	if (params->nb_pollers == 0 || params->nb_pollers > VS_MAX_POLLERS ||
	    !rte_is_power_of_2(ring_size)) {
		errno = EINVAL;
		return NULL;
	}
	ctl = calloc(1, sizeof(*ctl));
	if (ctl == NULL)
		return NULL;
	ctl->efd = -1;
	ctl->stop_timeout_ns = params->stop_timeout_ns ? params->stop_timeout_ns : 1000000000ull;
	ctl->busy_spin_ns = params->busy_spin_ns;
	ctl->nb_pollers = params->nb_pollers;

	/* Plain memory rather than memzones, so the engine also runs without the EAL. */
	sz = rte_ring_get_memsize(ring_size);
	if (sz < 0 || posix_memalign((void **)&ctl->ring, RTE_CACHE_LINE_SIZE, sz) != 0)
		goto fail;
	if (rte_ring_init(ctl->ring, "vs_ctl_ops", ring_size, RING_F_SC_DEQ) != 0)
		goto fail;

	sz = rte_rcu_qsbr_get_memsize(params->nb_pollers);
	if (sz < 0 || posix_memalign((void **)&ctl->qsv, RTE_CACHE_LINE_SIZE, sz) != 0)
		goto fail;
	if (rte_rcu_qsbr_init(ctl->qsv, params->nb_pollers) != 0)
		goto fail;

	ctl->iters0 = calloc((size_t)VS_MAX_DEVS * params->nb_pollers, sizeof(uint64_t));
	if (ctl->iters0 == NULL)
		goto fail;
	if (posix_memalign((void **)&ctl->pollers, RTE_CACHE_LINE_SIZE,
			   sizeof(*ctl->pollers) * params->nb_pollers) != 0)
		goto fail;
	memset(ctl->pollers, 0, sizeof(*ctl->pollers) * params->nb_pollers);
	for (unsigned int i = 0; i < params->nb_pollers; i++) {
		struct vs_poller *p = &ctl->pollers[i];

		p->qsv = ctl->qsv;
		p->tid = i;
		p->lcore_id = LCORE_ID_ANY;
		rte_rcu_qsbr_thread_register(ctl->qsv, i);
	}
	if (vs_publish(ctl) < 0) /* every poller starts with an empty list, never NULL */
		goto fail;

	ctl->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ctl->efd < 0)
		goto fail;
	return ctl;
fail:
	vs_ctl_free(ctl);
	errno = ENOMEM;
	return NULL;
}

void
vs_ctl_free(struct vs_ctl *ctl)
{
	struct vs_op *op;

	if (ctl == NULL)
		return;
	if (ctl->ring != NULL)
		while (rte_ring_dequeue(ctl->ring, (void **)&op) == 0)
			vs_op_complete(ctl, op, -ESHUTDOWN);
	ctl->batching = false;
	/* Ops still waiting for a stop, a resume or an epoch: answered, freed if abandoned. */
	for (unsigned int i = 0; i < VS_MAX_DEVS; i++) {
		vs_op_list_complete(ctl, &ctl->devs[i].quiesce_waiters, -ESHUTDOWN);
		vs_op_list_complete(ctl, &ctl->devs[i].resume_waiters, -ESHUTDOWN);
	}
	vs_op_list_complete(ctl, &ctl->epoch_waiters, -ESHUTDOWN);
	if (ctl->pollers != NULL)
		vs_publish_release(ctl);
	if (ctl->efd >= 0)
		close(ctl->efd);
	free(ctl->pollers);
	free(ctl->iters0);
	free(ctl->qsv);
	free(ctl->ring);
	free(ctl);
}

struct vs_poller *
vs_ctl_poller(struct vs_ctl *ctl, unsigned int idx)
{
	return idx < ctl->nb_pollers ? &ctl->pollers[idx] : NULL;
}

struct vs_op *
vs_op_alloc(unsigned int type, uint16_t dev)
{
	struct vs_op *op;

	if (type >= VS_OP__MAX)
		return NULL;
	op = calloc(1, sizeof(*op));
	if (op == NULL)
		return NULL;
	op->type = type;
	op->dev = dev;
	op->efd_ = -1;
	return op;
}

void
vs_op_free(struct vs_op *op)
{
	if (op == NULL)
		return;
	if (op->efd_ >= 0)
		close(op->efd_);
	free(op);
}

/*
 * Completion hand-off. The waiter and the control lcore race only through state_: the
 * side that finds the other's final state frees the op (a waiter that timed out leaves
 * it to the engine). The eventfd is written before state_ changes, so a waiter that sees
 * DONE never closes an fd the engine is about to write.
 */
static void
op_complete_now(struct vs_op *op, int result)
{
	uint32_t old;

	op->result = result;
	if (__atomic_load_n(&op->state_, __ATOMIC_ACQUIRE) == VS_OPS_ASYNC) {
		vs_op_free(op);
		return;
	}
	if (op->efd_ >= 0) {
		uint64_t one = 1;

		if (write(op->efd_, &one, sizeof(one)) < 0)
			VS_LOG(ERR, "op %s: cannot wake waiter: %s", vs_op_name(op->type),
			       strerror(errno));
	}
	old = __atomic_exchange_n(&op->state_, VS_OPS_DONE, __ATOMIC_ACQ_REL);
	if (old == VS_OPS_ABANDONED)
		vs_op_free(op);
}

/*
 * While a pass batches (vs_ctl_private.h), completions wait for the end of the pass, so
 * that a caller never sees its op done before the lists and statuses it changed are out.
 */
void
vs_op_complete(struct vs_ctl *ctl, struct vs_op *op, int result)
{
	if (ctl == NULL || !ctl->batching) {
		op_complete_now(op, result);
		return;
	}
	op->result = result;
	op->next_ = NULL;
	if (ctl->done_tail != NULL)
		ctl->done_tail->next_ = op;
	else
		ctl->done_head = op;
	ctl->done_tail = op;
}

/* The completions a pass queued, in the order they were made. */
void
vs_ctl_complete_queued(struct vs_ctl *ctl)
{
	struct vs_op *op = ctl->done_head, *next;

	ctl->done_head = ctl->done_tail = NULL;
	for (; op != NULL; op = next) {
		next = op->next_;
		op_complete_now(op, op->result);
	}
}

void
vs_op_list_push(struct vs_op_list *l, struct vs_op *op)
{
	op->next_ = l->head;
	l->head = op;
}

void
vs_op_list_complete(struct vs_ctl *ctl, struct vs_op_list *l, int result)
{
	struct vs_op *op = l->head, *next;

	l->head = NULL;
	for (; op != NULL; op = next) {
		next = op->next_;
		vs_op_complete(ctl, op, result);
	}
}

static void
ctl_wake(struct vs_ctl *ctl)
{
	uint64_t one = 1;

	if (write(ctl->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		VS_LOG(ERR, "cannot wake control lcore: %s", strerror(errno));
}

static int
ctl_enqueue(struct vs_ctl *ctl, struct vs_op *op)
{
	if (rte_ring_mp_enqueue(ctl->ring, op) != 0)
		return -ENOBUFS;
	ctl_wake(ctl);
	return 0;
}

int
vs_ctl_post(struct vs_ctl *ctl, struct vs_op *op)
{
	int rc;

	op->state_ = VS_OPS_ASYNC;
	rc = ctl_enqueue(ctl, op);
	if (rc < 0)
		vs_op_free(op);
	return rc;
}

int
vs_ctl_submit_bulk(struct vs_ctl *ctl, struct vs_op *const *ops, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		if (ops[i]->efd_ < 0) {
			ops[i]->efd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (ops[i]->efd_ < 0)
				return -errno;
		}
		ops[i]->state_ = VS_OPS_PENDING;
	}
	if (n == 0)
		return 0;
	/* All or nothing, made visible to the consumer at once (one tail update). */
	if (rte_ring_mp_enqueue_bulk(ctl->ring, (void *const *)ops, n, NULL) != n)
		return -ENOBUFS;
	ctl_wake(ctl);
	return 0;
}

int
vs_ctl_submit(struct vs_ctl *ctl, struct vs_op *op)
{
	if (op->efd_ < 0) {
		op->efd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (op->efd_ < 0)
			return -errno;
	}
	op->state_ = VS_OPS_PENDING;
	return ctl_enqueue(ctl, op);
}

bool
vs_op_done(const struct vs_op *op)
{
	return __atomic_load_n(&op->state_, __ATOMIC_ACQUIRE) == VS_OPS_DONE;
}

int
vs_ctl_wait(struct vs_op *op, int timeout_ms)
{
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : vs_now_ns() + timeout_ms * 1000000ull;
	uint32_t expected = VS_OPS_PENDING;

	for (;;) {
		struct pollfd pfd = { .fd = op->efd_, .events = POLLIN };
		uint64_t now = vs_now_ns();
		int wait_ms = deadline == UINT64_MAX ? 1000 :
			now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);

		if (vs_op_done(op))
			return op->result;
		if (wait_ms == 0)
			break;
		if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR)
			break;
	}
	if (__atomic_compare_exchange_n(&op->state_, &expected, VS_OPS_ABANDONED, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return -ETIMEDOUT; /* the engine owns op now */
	return op->result;         /* completed just in time */
}

int
vs_ctl_call(struct vs_ctl *ctl, struct vs_op *op, int timeout_ms)
{
	int rc = vs_ctl_submit(ctl, op);

	if (rc < 0)
		return rc;
	return vs_ctl_wait(op, timeout_ms);
}

static bool
ctl_busy(const struct vs_ctl *ctl)
{
	if (ctl->epoch_waiters.head != NULL)
		return true;
#ifndef VS_NO_QUIESCENT_REPORT
	/*
	 * Not in the benchmark build without quiescent reports: no epoch ever passes there,
	 * its retired lists stay retired (leaked) and must not keep this lcore spinning.
	 */
	if (ctl->nb_retired > 0)
		return true;
#endif
	for (unsigned int i = 0; i < ctl->devs_end; i++)
		if (ctl->devs[i].used && ctl->devs[i].phase != VS_PHASE_IDLE)
			return true;
	return false;
}

/* E1: what the stops begun in this pass are, for the batch counters. */
static void
batch_begin(struct vs_ctl *ctl)
{
	if (ctl->pass_stops == 0)
		return;
	ctl->batch_seq++;
	ctl->batch_left = ctl->pass_stops;
	ctl->batch_size = ctl->pass_stops;
	ctl->batch_t0 = ctl->pass_t0;
	ctl->batch_epochs0 = ctl->es.epochs;
	__atomic_store_n(&ctl->es.batches, ctl->es.batches + 1, __ATOMIC_RELAXED);
	ctl->pass_stops = 0;
}

int
vs_ctl_run_once(struct vs_ctl *ctl)
{
	struct vs_op *ops[32];
	unsigned int n, nops = 0;
	int done = 0;

	/*
	 * Every op queued now runs in this pass, with one publish at its end: stops that
	 * arrive together share one epoch barrier (E1).
	 */
	ctl->batching = true;
	ctl->now_cache = 0;
	ctl->iters_valid = false;
	while ((n = rte_ring_sc_dequeue_burst(ctl->ring, (void **)ops, RTE_DIM(ops), NULL)) > 0) {
		for (unsigned int i = 0; i < n; i++) {
			struct vs_op *op = ops[i];
			int rc = op->type < VS_OP__MAX ? vs_op_table[op->type](ctl, op) : -EINVAL;

			if (rc != VS_OP_PENDING)
				vs_op_complete(ctl, op, rc);
			done++;
		}
		nops += n;
	}
	batch_begin(ctl);
	vs_batch_flush(ctl);
	if (nops > 0) {
		__atomic_store_n(&ctl->es.passes, ctl->es.passes + 1, __ATOMIC_RELAXED);
		__atomic_store_n(&ctl->es.ops, ctl->es.ops + nops, __ATOMIC_RELAXED);
	}
	/* The same for what the devices' phases do in this pass (drains, resumes). */
	ctl->batching = true;
	ctl->now_cache = 0;
	ctl->iters_valid = false;
	for (unsigned int d = 0; d < ctl->devs_end; d++)
		if (ctl->devs[d].used && ctl->devs[d].phase != VS_PHASE_IDLE)
			done += vs_dev_advance(ctl, (uint16_t)d);
	done += vs_epoch_advance(ctl);
	vs_batch_flush(ctl);
	return done;
}

int
vs_ctl_main(void *arg)
{
	struct vs_ctl *ctl = arg;
	uint64_t busy_since = 0;

	while (!__atomic_load_n(&ctl->quit, __ATOMIC_ACQUIRE)) {
		uint64_t cnt, now;

		vs_ctl_run_once(ctl);
		if (ctl_busy(ctl)) {
			/*
			 * A stop is under way: spin for busy_spin_ns (see vs_ctl_params), then
			 * give a polling lcore that may share this core its turn.
			 */
			now = vs_now_ns();
			if (busy_since == 0)
				busy_since = now;
			if (now - busy_since < ctl->busy_spin_ns)
				rte_pause();
			else
				sched_yield();
			continue;
		}
		busy_since = 0;
		struct pollfd pfd = { .fd = ctl->efd, .events = POLLIN };
		if (poll(&pfd, 1, 100) > 0 && read(ctl->efd, &cnt, sizeof(cnt)) < 0 &&
		    errno != EAGAIN)
			VS_LOG(ERR, "eventfd read: %s", strerror(errno));
	}
	return 0;
}

void
vs_ctl_quit(struct vs_ctl *ctl)
{
	__atomic_store_n(&ctl->quit, 1, __ATOMIC_RELEASE);
	ctl_wake(ctl);
}

uint8_t
vs_ctl_status_shown(const struct vs_ctl *ctl, uint16_t dev)
{
	if (dev >= VS_MAX_DEVS)
		return 0;
	return __atomic_load_n(&ctl->devs[dev].shown, __ATOMIC_ACQUIRE);
}

unsigned int
vs_ctl_nb_devs(const struct vs_ctl *ctl)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < VS_MAX_DEVS; i++)
		n += __atomic_load_n(&ctl->devs[i].used, __ATOMIC_RELAXED);
	return n;
}

void
vs_ctl_engine_stats(const struct vs_ctl *ctl, struct vs_engine_stats *st)
{
	const uint64_t *src = (const uint64_t *)&ctl->es;
	uint64_t *dst = (uint64_t *)st;

	for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

void
vs_dev_publish_status(struct vs_ctl *ctl, struct vs_dev *d)
{
	if (ctl->batching) {
		if (!d->status_dirty) {
			d->status_dirty = true;
			ctl->nb_status_dirty++;
		}
		return;
	}
	__atomic_store_n(&d->shown, vs_status_show(&d->reg), __ATOMIC_RELEASE);
}

int
vs_ctl_simple(struct vs_ctl *ctl, unsigned int type, uint16_t dev, int timeout_ms)
{
	struct vs_op *op = vs_op_alloc(type, dev);
	int rc;

	if (op == NULL)
		return -EINVAL;
	rc = vs_ctl_call(ctl, op, timeout_ms);
	if (rc != -ETIMEDOUT)
		vs_op_free(op);
	return rc;
}

int
vs_ctl_set_status(struct vs_ctl *ctl, uint16_t dev, uint8_t status, int timeout_ms)
{
	struct vs_op *op = vs_op_alloc(VS_OP_SET_STATUS, dev);
	int rc;

	if (op == NULL)
		return -ENOMEM;
	op->in.status = status;
	rc = vs_ctl_call(ctl, op, timeout_ms);
	if (rc != -ETIMEDOUT)
		vs_op_free(op);
	return rc;
}

int
vs_ctl_get_status(struct vs_ctl *ctl, uint16_t dev, uint8_t *status, int timeout_ms)
{
	struct vs_op *op = vs_op_alloc(VS_OP_GET_STATUS, dev);
	int rc;

	if (op == NULL)
		return -ENOMEM;
	rc = vs_ctl_call(ctl, op, timeout_ms);
	if (rc == 0)
		*status = op->out.status;
	if (rc != -ETIMEDOUT)
		vs_op_free(op);
	return rc;
}

int
vs_ctl_dev_info(struct vs_ctl *ctl, uint16_t dev, struct vs_dev_info *info, int timeout_ms)
{
	struct vs_op *op = vs_op_alloc(VS_OP_GET_INFO, dev);
	int rc;

	if (op == NULL)
		return -ENOMEM;
	rc = vs_ctl_call(ctl, op, timeout_ms);
	if (rc == 0)
		*info = op->out.info;
	if (rc != -ETIMEDOUT)
		vs_op_free(op);
	return rc;
}
