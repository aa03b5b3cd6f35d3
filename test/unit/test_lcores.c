/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The stop engine with the real EAL and real lcores: two polling lcores run a synthetic
 * queue workload, the control lcore runs vs_ctl_main(), and the test (main lcore) does
 * 10,000 stop/resume cycles. Each cycle "migrates" every queue of the stopped device: its
 * position is read (get_vq_state), a fresh queue object continues from there, and every
 * 100 cycles the queue also moves to the other polling lcore. The queue objects record
 * which work items they did, so a touch after the barrier, a lost item or a duplicate
 * shows up exactly.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include "vs_ctl.h"

#define NB_DEVS   2
#define NB_VQS    2
#define CYCLES    10000
#define BATCH     4

struct queue {
	uint64_t start;        /* first item this object did */
	uint64_t next;         /* next item to do */
	uint32_t fenced;       /* set once the device showed the stop bit */
	uint32_t busy;
	uint64_t late_touches; /* ran while fenced */
	uint64_t overlaps;     /* two lcores at once */
};

struct tdev {
	int id;
	struct queue *q[NB_VQS];
	int stream[NB_VQS];
	uint16_t poller[NB_VQS];
	uint64_t items_done;   /* summed over retired queue objects */
};

static struct vs_ctl *ctl;
static struct tdev devs[NB_DEVS];
static volatile int quit;

static void
queue_burst(void *arg)
{
	struct queue *q = arg;

	if (__atomic_exchange_n(&q->busy, 1, __ATOMIC_ACQUIRE))
		q->overlaps++;
	if (__atomic_load_n(&q->fenced, __ATOMIC_RELAXED))
		q->late_touches++;
	q->next += BATCH;
	__atomic_store_n(&q->busy, 0, __ATOMIC_RELEASE);
}

static int
poller_main(void *arg)
{
	struct vs_poller *p = arg;

	vs_poller_online(p);
	while (!quit) {
		const struct vs_stream_list *l = vs_poller_streams(p);

		for (uint32_t i = 0; i < l->n; i++)
			l->s[i].fn(l->s[i].arg);
		vs_poller_quiescent(p);
		sched_yield(); /* idle back-off for a 2-core machine: let the control lcore in */
	}
	vs_poller_offline(p);
	return 0;
}

static int
t_get_vq(void *priv, uint16_t vq, struct vs_vq_state *st)
{
	struct tdev *d = priv;

	st->avail_idx = (uint16_t)d->q[vq]->next;
	st->used_idx = st->avail_idx;
	return 0;
}

static const struct vs_backend_ops test_ops = { .get_vq_state = t_get_vq };

static int
call(struct vs_op *op)
{
	int rc = vs_ctl_call(ctl, op, 5000);

	if (rc != -ETIMEDOUT)
		vs_op_free(op);
	return rc;
}

static int
add_stream(struct tdev *d, int vq)
{
	struct vs_op *op = vs_op_alloc(VS_OP_STREAM_ADD, 0);

	op->in.stream = (struct vs_stream){ .fn = queue_burst, .arg = d->q[vq],
					    .poller = d->poller[vq], .rx_dev = d->id,
					    .rx_vq = vq, .tx_dev = d->id, .tx_vq = vq };
	return call(op);
}

static void
setup_dev(struct tdev *d, const char *name, int first_poller)
{
	struct vs_op *op = vs_op_alloc(VS_OP_DEV_ADD, 0);

	op->in.dev_add = (struct vs_dev_add){ .name = name, .ops = &test_ops, .priv = d,
					      .nb_vqs = NB_VQS };
	d->id = call(op);
	cr_assert_geq(d->id, 0);
	cr_assert_eq(vs_ctl_simple(ctl, VS_OP_ATTACH, d->id, 5000), 0);
	cr_assert_eq(vs_ctl_set_status(ctl, d->id, 0x0b, 5000), 0);
	cr_assert_eq(vs_ctl_set_status(ctl, d->id, 0x0f, 5000), 0);
	for (int v = 0; v < NB_VQS; v++) {
		d->q[v] = calloc(1, sizeof(struct queue));
		d->poller[v] = (first_poller + v) % 2;
		d->stream[v] = add_stream(d, v);
		cr_assert_geq(d->stream[v], 0);
	}
}

/* The stop bit is shown: fence every queue, swap in fresh objects that continue. */
static void
migrate_queues(struct tdev *d, int cycle)
{
	for (int v = 0; v < NB_VQS; v++) {
		struct queue *old = d->q[v], *fresh;
		struct vs_op *op = vs_op_alloc(VS_OP_GET_VQ_STATE, d->id);
		uint64_t seen;

		__atomic_store_n(&old->fenced, 1, __ATOMIC_RELEASE);
		op->vq = v;
		cr_assert_eq(vs_ctl_call(ctl, op, 5000), 0);
		cr_assert_eq(op->out.vq_state.avail_idx, (uint16_t)old->next);
		vs_op_free(op);
		seen = old->next;
		op = vs_op_alloc(VS_OP_STREAM_DEL, 0);
		op->in.stream_id = d->stream[v];
		cr_assert_eq(call(op), 0);
		cr_assert_eq(old->next, seen, "queue advanced after the stop completed");
		cr_assert_eq(old->late_touches, 0, "cycle %d: lcore ran a stopped queue", cycle);
		cr_assert_eq(old->overlaps, 0, "cycle %d: two lcores ran one queue", cycle);

		fresh = calloc(1, sizeof(*fresh));
		fresh->start = fresh->next = old->next;
		d->items_done += old->next - old->start;
		free(old);
		d->q[v] = fresh;
		if (cycle % 100 == 0)
			d->poller[v] ^= 1;
		d->stream[v] = add_stream(d, v);
		cr_assert_geq(d->stream[v], 0);
	}
}

Test(lcores, R4_R5_R8_R9_10000_stop_resume_cycles_nothing_lost_or_doubled, .timeout = 240)
{
	char prefix[64];
	char *argv[] = { "test_lcores", "--no-huge", "--no-pci", "-m", "128", "--lcores",
			 "0@0,1@1,2@0,3@1", "--log-level", "error", "--no-telemetry", prefix };
	struct vs_ctl_params p = { .nb_pollers = 2, .stop_timeout_ns = 2000000000ull };
	uint64_t b_progress = 0;
	unsigned int lc, k = 0;

	snprintf(prefix, sizeof(prefix), "--file-prefix=vs-lcores-%d", getpid());
	cr_assert_geq(rte_eal_init(RTE_DIM(argv), argv), 0, "EAL init");
	ctl = vs_ctl_create(&p);
	cr_assert_not_null(ctl);
	RTE_LCORE_FOREACH_WORKER(lc) {
		if (k < 2)
			rte_eal_remote_launch(poller_main, vs_ctl_poller(ctl, k), lc);
		else
			rte_eal_remote_launch(vs_ctl_main, ctl, lc);
		k++;
	}
	setup_dev(&devs[0], "a", 0);
	setup_dev(&devs[1], "b", 1);

	for (int c = 0; c < CYCLES; c++) {
		struct tdev *d = &devs[c % 2], *other = &devs[(c + 1) % 2];
		uint64_t other_before = other->q[0]->next + other->q[1]->next;

		cr_assert_eq(vs_ctl_simple(ctl, VS_OP_STOP, d->id, 5000), 0, "cycle %d stop", c);
		cr_assert_eq(vs_ctl_status_shown(ctl, d->id), 0x2f);
		migrate_queues(d, c);
		cr_assert_eq(vs_ctl_simple(ctl, VS_OP_RESUME, d->id, 5000), 0, "cycle %d", c);
		cr_assert_eq(vs_ctl_status_shown(ctl, d->id), 0x0f);
		if (other->q[0]->next + other->q[1]->next > other_before)
			b_progress++;
		if (c % 2000 == 0)
			fprintf(stderr, "test_lcores: cycle %d/%d\n", c, CYCLES);
	}

	quit = 1;
	vs_ctl_quit(ctl);
	rte_eal_mp_wait_lcore();
	for (int i = 0; i < NB_DEVS; i++) {
		struct vs_dev_info info;

		/* Final positions: everything done exactly once is a gap-free count. */
		for (int v = 0; v < NB_VQS; v++) {
			devs[i].items_done += devs[i].q[v]->next - devs[i].q[v]->start;
			cr_assert_eq(devs[i].q[v]->overlaps, 0);
			cr_assert_eq(devs[i].q[v]->next % BATCH, 0);
		}
		cr_assert_eq(devs[i].items_done, devs[i].q[0]->next + devs[i].q[1]->next,
			     "items lost or done twice");
		cr_assert_gt(devs[i].items_done, 0);
		/* The loop is done; read the counters straight from a pass of our own. */
		struct vs_op *op = vs_op_alloc(VS_OP_GET_INFO, devs[i].id);
		vs_ctl_submit(ctl, op);
		vs_ctl_run_once(ctl);
		info = op->out.info;
		vs_op_free(op);
		cr_assert_eq(info.stops, CYCLES / 2);
		cr_assert_eq(info.resumes, CYCLES / 2);
		cr_assert_eq(info.deadline_misses, 0);
		fprintf(stderr, "test_lcores: dev %s: %lu items, last stop %lu ns / %lu iterations\n",
			info.name, (unsigned long)devs[i].items_done,
			(unsigned long)info.last_stop_ns, (unsigned long)info.last_stop_iters);
	}
	cr_assert_gt(b_progress, 0, "the device not being stopped kept running");
	vs_ctl_free(ctl);
	rte_eal_cleanup();
}
