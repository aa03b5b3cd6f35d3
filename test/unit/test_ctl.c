/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The stop engine, driven step by step from one thread: the test plays the control lcore
 * (vs_ctl_run_once) and both polling lcores (run their lists, report quiescent), so every
 * ordering a rule talks about can be checked exactly. No EAL needed.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "vs_ctl.h"

#define LIVE (VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK | \
	      VS_STATUS_DRIVER_OK)
#define STOP (LIVE | VS_STATUS_DEVICE_STOPPED)

struct mock {
	int drains, drain_eagain, drain_rc;
	int drained_while_listed; /* drain() ran while a poller still listed a stream */
	int config_changes, resumes, resets, stopped;
	int resume_saw_park;      /* resume() ran while a park stream was still listed */
	struct vs_vq_state vq[4];
};

static struct vs_ctl *ctl;
static struct mock mk;
static int ran[8];
static int dev0, dev1;

static void stream_fn(void *arg) { ran[(intptr_t)arg]++; }
static void park_fn(void *arg) { ran[4 + (intptr_t)arg]++; }

static bool
listed(vs_stream_fn fn)
{
	for (unsigned int p = 0; p < 2; p++) {
		const struct vs_stream_list *l = vs_poller_streams(vs_ctl_poller(ctl, p));

		for (unsigned int i = 0; i < l->n; i++)
			if (l->s[i].fn == fn)
				return true;
	}
	return false;
}

static int
m_drain(void *priv)
{
	struct mock *m = priv;

	m->drains++;
	if (listed(stream_fn))
		m->drained_while_listed++;
	if (m->drain_eagain > 0) {
		m->drain_eagain--;
		return -EAGAIN;
	}
	return m->drain_rc;
}

static int
m_get_vq(void *priv, uint16_t vq, struct vs_vq_state *st)
{
	*st = ((struct mock *)priv)->vq[vq];
	return 0;
}

static int
m_set_vq(void *priv, uint16_t vq, const struct vs_vq_state *st)
{
	((struct mock *)priv)->vq[vq] = *st;
	return 0;
}

static void m_config(void *priv) { ((struct mock *)priv)->config_changes++; }
static void m_stopped(void *priv) { ((struct mock *)priv)->stopped++; }
static void m_reset(void *priv) { ((struct mock *)priv)->resets++; }

static int
m_resume(void *priv)
{
	struct mock *m = priv;

	m->resumes++;
	if (listed(park_fn))
		m->resume_saw_park++;
	return 0;
}

static const struct vs_backend_ops mock_ops = {
	.drain = m_drain, .get_vq_state = m_get_vq, .set_vq_state = m_set_vq,
	.config_changed = m_config, .stopped = m_stopped, .resume = m_resume, .reset = m_reset,
};

/* Submit an op and run the control loop once; -EINPROGRESS if it has not completed. */
static int
run(struct vs_op *op)
{
	cr_assert_eq(vs_ctl_submit(ctl, op), 0);
	vs_ctl_run_once(ctl);
	return vs_op_done(op) ? op->result : -EINPROGRESS;
}

static int
run_free(struct vs_op *op)
{
	int rc = run(op);

	cr_assert_neq(rc, -EINPROGRESS, "op %s did not complete", vs_op_name(op->type));
	vs_op_free(op);
	return rc;
}

static void
poll_one(unsigned int p)
{
	struct vs_poller *pl = vs_ctl_poller(ctl, p);
	const struct vs_stream_list *l = vs_poller_streams(pl);

	for (unsigned int i = 0; i < l->n; i++)
		l->s[i].fn(l->s[i].arg);
	vs_poller_quiescent(pl);
}

/* Both pollers run an iteration, then the control lcore runs a pass; @n times. */
static void
settle(int n)
{
	while (n-- > 0) {
		poll_one(0);
		poll_one(1);
		vs_ctl_run_once(ctl);
	}
}

static int
set_status(int dev, uint8_t v)
{
	struct vs_op *op = vs_op_alloc(VS_OP_SET_STATUS, dev);

	op->in.status = v;
	return run_free(op);
}

static uint8_t
shown(int dev)
{
	return vs_ctl_status_shown(ctl, dev);
}

static struct vs_dev_info
info(int dev)
{
	struct vs_op *op = vs_op_alloc(VS_OP_GET_INFO, dev);
	struct vs_dev_info i;

	cr_assert_eq(run(op), 0);
	i = op->out.info;
	vs_op_free(op);
	return i;
}

static int
add_dev(const char *name, void *priv)
{
	struct vs_op *op = vs_op_alloc(VS_OP_DEV_ADD, 0);
	int id;

	op->in.dev_add = (struct vs_dev_add){ .name = name, .ops = &mock_ops, .priv = priv,
					      .nb_vqs = 2, .config = { .mtu = 1500 } };
	id = run_free(op);
	cr_assert_geq(id, 0);
	op = vs_op_alloc(VS_OP_SET_FEATURES, id);
	op->in.features = 1ull << VS_F_DEVICE_STOP | 1ull << VS_F_SUSPEND;
	run_free(op);
	run_free(vs_op_alloc(VS_OP_ATTACH, id));
	return id;
}

static int
add_stream(uint16_t poller, uint16_t rx_dev, uint16_t tx_dev, intptr_t tag, bool park)
{
	struct vs_op *op = vs_op_alloc(VS_OP_STREAM_ADD, 0);

	op->in.stream = (struct vs_stream){ .fn = stream_fn, .park = park ? park_fn : NULL,
					    .arg = (void *)tag, .poller = poller,
					    .rx_dev = rx_dev, .rx_vq = 0,
					    .tx_dev = tx_dev, .tx_vq = 1 };
	return run_free(op);
}

static void
setup(void)
{
	struct vs_ctl_params p = { .nb_pollers = 2, .stop_timeout_ns = 20 * 1000000ull };

	memset(&mk, 0, sizeof(mk));
	memset(ran, 0, sizeof(ran));
	ctl = vs_ctl_create(&p);
	cr_assert_not_null(ctl);
	vs_poller_online(vs_ctl_poller(ctl, 0));
	vs_poller_online(vs_ctl_poller(ctl, 1));
	dev0 = add_dev("dev0", &mk);
	add_stream(0, dev0, dev0, 0, false);
	add_stream(1, dev0, dev0, 1, false);
	set_status(dev0, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK);
	set_status(dev0, LIVE);
	settle(1);
	cr_assert_eq(ran[0], 1);
	cr_assert_eq(ran[1], 1);
}

static void
teardown(void)
{
	vs_ctl_free(ctl);
}

TestSuite(ctl, .init = setup, .fini = teardown);

Test(ctl, R4_stop_unpublishes_every_stream_of_the_device)
{
	cr_assert_eq(set_status(dev0, STOP), 0);
	cr_assert(!listed(stream_fn), "no poller lists a stream of a stopping device");
	settle(3);
	cr_assert_eq(ran[0], 1);
	cr_assert_eq(ran[1], 1);
}

Test(ctl, R6_bit_shown_only_after_every_poller_passed_and_drain_done)
{
	mk.drain_eagain = 2;
	set_status(dev0, STOP);
	cr_assert_eq(shown(dev0), LIVE);
	poll_one(0);
	vs_ctl_run_once(ctl);
	cr_assert_eq(shown(dev0), LIVE, "poller 1 has not passed a quiescent state");
	cr_assert_eq(mk.drains, 0, "R5: no drain before the epoch");
	poll_one(1);
	vs_ctl_run_once(ctl);
	cr_assert_eq(mk.drains, 1);
	cr_assert_eq(shown(dev0), LIVE, "drain not finished");
	vs_ctl_run_once(ctl);
	cr_assert_eq(shown(dev0), LIVE);
	vs_ctl_run_once(ctl);
	cr_assert_eq(mk.drains, 3);
	cr_assert_eq(shown(dev0), STOP);
	cr_assert_eq(mk.stopped, 1);
}

Test(ctl, R5_drain_runs_after_streams_are_gone)
{
	set_status(dev0, STOP);
	settle(2);
	cr_assert_eq(mk.drains, 1);
	cr_assert_eq(mk.drained_while_listed, 0);
	cr_assert_eq(shown(dev0), STOP);
}

Test(ctl, R5_stop_latency_recorded_in_loop_iterations)
{
	struct vs_dev_info i;

	set_status(dev0, STOP);
	settle(1);
	i = info(dev0);
	cr_assert_eq(i.stops, 1);
	cr_assert_eq(i.last_stop_iters, 1, "one iteration of each owning poller: got %lu",
		     (unsigned long)i.last_stop_iters);
	cr_assert_gt(i.last_stop_ns, 0);
}

Test(ctl, R7_config_change_deferred_while_stopped)
{
	struct vs_op *op;
	struct vs_dev_info i;

	set_status(dev0, STOP);
	settle(2);
	op = vs_op_alloc(VS_OP_SET_CONFIG, dev0);
	op->in.config = (struct vs_dev_config){ .mtu = 9000, .status = 1 };
	cr_assert_eq(run_free(op), 0);
	i = info(dev0);
	cr_assert_eq(i.config.mtu, 1500, "config space unchanged while stopped");
	cr_assert(i.config_pending);
	cr_assert_eq(mk.config_changes, 0, "no notification while stopped");
	cr_assert_eq(set_status(dev0, LIVE), 0);
	i = info(dev0);
	cr_assert_eq(i.config.mtu, 9000);
	cr_assert_eq(mk.config_changes, 1, "notified after resume");
}

Test(ctl, R7_config_change_applied_at_once_while_running)
{
	struct vs_op *op = vs_op_alloc(VS_OP_SET_CONFIG, dev0);

	op->in.config = (struct vs_dev_config){ .mtu = 4000 };
	run_free(op);
	cr_assert_eq(info(dev0).config.mtu, 4000);
	cr_assert_eq(mk.config_changes, 1);
}

Test(ctl, R8_no_stream_of_a_stopped_device_runs)
{
	set_status(dev0, STOP);
	settle(2);
	cr_assert_eq(shown(dev0), STOP);
	settle(50);
	cr_assert_eq(ran[0] + ran[1], 2, "streams ran while stopped");
}

Test(ctl, R9_resume_publishes_streams_before_bit_clears)
{
	set_status(dev0, STOP);
	settle(2);
	cr_assert_eq(set_status(dev0, LIVE), 0);
	cr_assert(listed(stream_fn), "queues live again");
	cr_assert_eq(shown(dev0), LIVE);
	settle(1);
	cr_assert_eq(ran[0], 2);
	cr_assert_eq(ran[1], 2);
	cr_assert_eq(info(dev0).resumes, 1);
}

Test(ctl, R9_resume_with_park_streams_flushes_first)
{
	dev1 = add_dev("dev1", &mk);
	add_stream(0, VS_DEV_NONE, dev1, 2, true); /* a peer port feeding dev1 */
	set_status(dev1, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK);
	set_status(dev1, LIVE);
	settle(1);
	cr_assert_eq(ran[2], 1);
	set_status(dev1, STOP);
	settle(2);
	cr_assert_eq(shown(dev1), STOP);
	cr_assert(listed(park_fn), "frames for a stopped device are parked (M1)");
	settle(1);
	cr_assert_eq(ran[6], 3, "parking starts with the stop request");
	set_status(dev1, LIVE);
	cr_assert_eq(shown(dev1), STOP, "not live yet: park stream still running");
	cr_assert(!listed(park_fn));
	settle(2);
	cr_assert_eq(mk.resumes, 1);
	cr_assert_eq(mk.resume_saw_park, 0, "held frames delivered only after park stopped");
	cr_assert_eq(shown(dev1), LIVE);
	cr_assert(listed(stream_fn));
}

Test(ctl, M1_no_parking_for_a_detached_device)
{
	dev1 = add_dev("dev1", &mk);
	add_stream(0, VS_DEV_NONE, dev1, 2, true);
	cr_assert(!listed(park_fn), "attached, DRIVER_OK not set yet: nothing to hold for");
	cr_assert(!listed(stream_fn) || ran[2] == 0);
	set_status(dev1, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK);
	set_status(dev1, LIVE);
	set_status(dev1, STOP);
	cr_assert(listed(park_fn));
	struct vs_op *op = vs_op_alloc(VS_OP_DETACH, dev1);
	run(op);
	cr_assert(!listed(park_fn), "front end gone: the peer's frames are not held");
	settle(1);
	cr_assert(vs_op_done(op));
	vs_op_free(op);
}

Test(ctl, R10_refused_write_counted_and_changes_nothing)
{
	uint8_t v = LIVE & ~VS_STATUS_FEATURES_OK;

	cr_assert_eq(set_status(dev0, v), -EPERM);
	cr_assert_eq(shown(dev0), LIVE);
	cr_assert_eq(info(dev0).refused, 1);
	cr_assert(listed(stream_fn));
}

Test(ctl, R11_late_stop_reported_then_cancelled_then_stops)
{
	struct vs_op *op;
	struct vs_dev_info i;

	mk.drain_eagain = 1000000;
	op = vs_op_alloc(VS_OP_STOP, dev0);
	cr_assert_eq(run(op), -EINPROGRESS);
	settle(2);
	usleep(25000);
	settle(1);
	cr_assert(vs_op_done(op), "a waiting stop op is told it is late");
	cr_assert_eq(op->result, -ETIMEDOUT);
	vs_op_free(op);
	i = info(dev0);
	cr_assert_eq(i.deadline_misses, 1);
	cr_assert_eq(shown(dev0), LIVE, "bit stays clear");
	cr_assert_eq(set_status(dev0, LIVE), 0, "cancel");
	cr_assert_eq(info(dev0).cancels, 1);
	cr_assert(listed(stream_fn), "running again");
	settle(1);
	cr_assert_eq(ran[0], 2, "nothing lost: the stream runs again");
	mk.drain_eagain = 0;
	set_status(dev0, STOP);
	settle(2);
	cr_assert_eq(shown(dev0), STOP);
}

Test(ctl, R12_second_request_merged)
{
	set_status(dev0, STOP);
	set_status(dev0, STOP);
	settle(2);
	set_status(dev0, STOP);
	cr_assert_eq(info(dev0).stops, 1);
	cr_assert_eq(info(dev0).merged, 2);
	cr_assert_eq(mk.drains, 1);
	set_status(dev0, LIVE);
	set_status(dev0, LIVE);
	cr_assert_eq(info(dev0).resumes, 1);
}

Test(ctl, R12_orchestrator_stop_op_completes_when_stopped)
{
	struct vs_op *op = vs_op_alloc(VS_OP_STOP, dev0);

	cr_assert_eq(run(op), -EINPROGRESS);
	settle(1);
	cr_assert(vs_op_done(op));
	cr_assert_eq(op->result, 0);
	vs_op_free(op);
	cr_assert_eq(shown(dev0), STOP);
	op = vs_op_alloc(VS_OP_STOP, dev0);
	cr_assert_eq(run_free(op), 0, "already stopped: done at once");
	cr_assert_eq(run_free(vs_op_alloc(VS_OP_RESUME, dev0)), 0);
	cr_assert_eq(shown(dev0), LIVE);
}

Test(ctl, R2_reset_forgets_stop_quiesces_keeps_vq_state)
{
	struct vs_op *op;

	mk.vq[0] = (struct vs_vq_state){ .avail_idx = 77, .used_idx = 77 };
	set_status(dev0, STOP);
	op = vs_op_alloc(VS_OP_SET_STATUS, dev0);
	op->in.status = 0;
	cr_assert_eq(run(op), 0);
	vs_op_free(op);
	cr_assert_eq(shown(dev0), 0);
	cr_assert(!listed(stream_fn), "V5: quiesced like a stop");
	settle(2);
	cr_assert_eq(mk.resets, 1);
	op = vs_op_alloc(VS_OP_GET_VQ_STATE, dev0);
	op->vq = 0;
	cr_assert_eq(run(op), 0);
	cr_assert_eq(op->out.vq_state.avail_idx, 77, "V5: indices kept");
	vs_op_free(op);
	set_status(dev0, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK);
	cr_assert(!listed(stream_fn));
	set_status(dev0, LIVE);
	cr_assert(listed(stream_fn), "driver brought it up again");
}

Test(ctl, S2_S3_suspend_and_resume_through_engine)
{
	uint8_t susp = (LIVE & ~VS_STATUS_DRIVER_OK) | VS_STATUS_SUSPEND;

	set_status(dev0, LIVE | VS_STATUS_SUSPEND);
	cr_assert_eq(shown(dev0), LIVE);
	settle(2);
	cr_assert_eq(shown(dev0), susp);
	cr_assert(!listed(stream_fn));
	cr_assert_eq(set_status(dev0, susp | VS_STATUS_DRIVER_OK), 0);
	cr_assert_eq(shown(dev0), LIVE);
	cr_assert(listed(stream_fn));
}

Test(ctl, S4_config_change_notified_after_suspend)
{
	struct vs_op *op;

	set_status(dev0, LIVE | VS_STATUS_SUSPEND);
	settle(2);
	op = vs_op_alloc(VS_OP_SET_CONFIG, dev0);
	op->in.config = (struct vs_dev_config){ .mtu = 1400 };
	run_free(op);
	cr_assert_eq(mk.config_changes, 0);
	set_status(dev0, LIVE);
	cr_assert_eq(mk.config_changes, 1);
	cr_assert_eq(info(dev0).config.mtu, 1400);
}

Test(ctl, V1_quiesce_completes_after_epoch_and_drain_status_untouched)
{
	struct vs_op *op = vs_op_alloc(VS_OP_QUIESCE, dev0);

	cr_assert_eq(run(op), -EINPROGRESS);
	poll_one(0);
	vs_ctl_run_once(ctl);
	cr_assert(!vs_op_done(op), "poller 1 may still run the rings");
	poll_one(1);
	vs_ctl_run_once(ctl);
	cr_assert(vs_op_done(op));
	cr_assert_eq(mk.drains, 1);
	vs_op_free(op);
	cr_assert_eq(shown(dev0), LIVE);
	op = vs_op_alloc(VS_OP_GET_VQ_STATE, dev0);
	op->vq = 1;
	cr_assert_eq(run_free(op), 0, "position readable once quiesced");
}

Test(ctl, V1_quiesce_during_a_quiesce_unpublishes_what_came_back)
{
	struct vs_op *reset = vs_op_alloc(VS_OP_RESET, dev0), *q;

	cr_assert_eq(run(reset), -EINPROGRESS);
	poll_one(0); /* poller 1 lags: the reset's quiesce is still waiting */
	vs_ctl_run_once(ctl);
	set_status(dev0, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK);
	set_status(dev0, LIVE);
	cr_assert(listed(stream_fn), "the driver brought it up again");
	q = vs_op_alloc(VS_OP_QUIESCE, dev0);
	cr_assert_eq(run(q), -EINPROGRESS);
	cr_assert(!listed(stream_fn), "a second quiesce unpublishes at once");
	settle(2);
	cr_assert(vs_op_done(q) && vs_op_done(reset));
	vs_op_free(q);
	vs_op_free(reset);
}

Test(ctl, V1_vq_state_refused_while_live)
{
	struct vs_op *op = vs_op_alloc(VS_OP_GET_VQ_STATE, dev0);

	op->vq = 0;
	cr_assert_eq(run_free(op), -EBUSY);
}

Test(ctl, V2_vq_ready_off_unpublishes_streams_of_that_vq)
{
	struct vs_op *op = vs_op_alloc(VS_OP_SET_VQ_READY, dev0);

	op->vq = 1; /* the tx vq of both streams */
	op->in.ready = false;
	cr_assert_eq(run(op), -EINPROGRESS);
	cr_assert(!listed(stream_fn));
	settle(1);
	cr_assert(vs_op_done(op));
	vs_op_free(op);
	op = vs_op_alloc(VS_OP_SET_VQ_READY, dev0);
	op->vq = 1;
	op->in.ready = true;
	cr_assert_eq(run_free(op), 0);
	cr_assert(listed(stream_fn));
}

Test(ctl, V3_vq_state_set_while_stopped_is_read_back)
{
	struct vs_op *op;

	set_status(dev0, STOP);
	settle(2);
	op = vs_op_alloc(VS_OP_SET_VQ_STATE, dev0);
	op->vq = 1;
	op->in.vq_state = (struct vs_vq_state){ .avail_idx = 500, .used_idx = 500 };
	cr_assert_eq(run_free(op), 0);
	cr_assert_eq(mk.vq[1].avail_idx, 500);
}

Test(ctl, V4_detach_completes_only_after_every_poller_passed)
{
	struct vs_op *op = vs_op_alloc(VS_OP_DETACH, dev0);

	cr_assert_eq(run(op), -EINPROGRESS);
	poll_one(1);
	vs_ctl_run_once(ctl);
	cr_assert(!vs_op_done(op));
	poll_one(0);
	vs_ctl_run_once(ctl);
	cr_assert(vs_op_done(op));
	vs_op_free(op);
	settle(3);
	cr_assert_eq(ran[0] + ran[1], 2);
}

Test(ctl, V4_detach_mid_stop_still_completes_stop)
{
	struct vs_op *op;

	mk.drain_eagain = 100;
	set_status(dev0, STOP);
	op = vs_op_alloc(VS_OP_DETACH, dev0);
	run(op);
	settle(2);
	cr_assert(vs_op_done(op));
	vs_op_free(op);
	cr_assert_eq(shown(dev0), STOP, "no rings left to drain");
}

Test(ctl, offline_poller_is_not_waited_for)
{
	vs_poller_offline(vs_ctl_poller(ctl, 1));
	set_status(dev0, STOP);
	poll_one(0);
	vs_ctl_run_once(ctl);
	cr_assert_eq(shown(dev0), STOP);
}

Test(ctl, NEEDS_RESET_broken_device_shows_bit_streams_off_until_reset)
{
	struct vs_op *op = vs_op_alloc(VS_OP_SET_NEEDS_RESET, dev0);
	int dev2 = add_dev("dev2", NULL);

	add_stream(0, dev2, dev2, 2, false);
	set_status(dev2, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK);
	set_status(dev2, LIVE);
	cr_assert_eq(run(op), -EINPROGRESS, "completes after the epoch");
	cr_assert_eq(shown(dev0), LIVE | VS_STATUS_NEEDS_RESET, "shown at once");
	settle(2);
	cr_assert(vs_op_done(op));
	cr_assert_eq(op->result, 0);
	vs_op_free(op);
	cr_assert_eq(ran[0] + ran[1], 2, "no stream of the broken device ran");
	cr_assert_eq(ran[2], 2, "the other device keeps running");
	cr_assert_eq(set_status(dev0, LIVE), -EPERM, "R10: the driver cannot clear it");
	cr_assert_eq(shown(dev0), LIVE | VS_STATUS_NEEDS_RESET);
	run_free(vs_op_alloc(VS_OP_STOP, dev0));
	settle(2);
	run_free(vs_op_alloc(VS_OP_RESUME, dev0));
	settle(2);
	cr_assert_eq(ran[0] + ran[1], 2, "a stop and resume do not bring it back");
	op = vs_op_alloc(VS_OP_DETACH, dev0);
	run(op);
	settle(1);
	vs_op_free(op);
	run_free(vs_op_alloc(VS_OP_ATTACH, dev0));
	settle(1);
	cr_assert_eq(ran[0] + ran[1], 2, "nor does a re-attach without a reset");
	cr_assert_eq(set_status(dev0, 0), 0);
	cr_assert_eq(shown(dev0), 0, "reset clears DEVICE_NEEDS_RESET");
	set_status(dev0, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK);
	set_status(dev0, LIVE);
	settle(1);
	cr_assert_eq(ran[0] + ran[1], 4, "running again after reset and DRIVER_OK");
}

Test(ctl, NEEDS_RESET_driver_ok_write_does_not_revive)
{
	struct vs_op *op = vs_op_alloc(VS_OP_SET_NEEDS_RESET, dev0);

	run(op);
	settle(2);
	vs_op_free(op);
	/* Reset-less re-initialisation that keeps the device's bit. */
	cr_assert_eq(set_status(dev0, LIVE | VS_STATUS_NEEDS_RESET), 0);
	cr_assert(!listed(stream_fn), "a broken device waits for a reset");
}

/* ---- E1: many devices at once ---- */

#define E1_DEVS 256

/* dev0 and E1_DEVS - 1 more live devices, a stream each, spread over both pollers. */
static void
e1_devices(int *ids)
{
	ids[0] = dev0;
	for (int i = 1; i < E1_DEVS; i++) {
		char name[16];

		snprintf(name, sizeof(name), "e1_%d", i);
		ids[i] = add_dev(name, &mk);
		add_stream((uint16_t)(i % 2), (uint16_t)ids[i], (uint16_t)ids[i], 2, false);
		set_status(ids[i], VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK);
		set_status(ids[i], LIVE);
	}
	settle(1);
}

static uint64_t
epochs(void)
{
	struct vs_engine_stats st;

	vs_ctl_engine_stats(ctl, &st);
	return st.epochs;
}

/* Post one op of @p type per device in one bulk, run until all are done. */
static void
e1_bulk(int *ids, unsigned int type, int expect_rc)
{
	struct vs_op *ops[E1_DEVS];

	for (int i = 0; i < E1_DEVS; i++)
		ops[i] = vs_op_alloc(type, (uint16_t)ids[i]);
	cr_assert_eq(vs_ctl_submit_bulk(ctl, ops, E1_DEVS), 0);
	for (int n = 0; n < 10; n++) {
		bool all = true;

		settle(1);
		for (int i = 0; i < E1_DEVS; i++)
			all = all && vs_op_done(ops[i]);
		if (all)
			break;
	}
	for (int i = 0; i < E1_DEVS; i++) {
		cr_assert(vs_op_done(ops[i]), "op %s on dev %d not done", vs_op_name(type), ids[i]);
		cr_assert_eq(ops[i]->result, expect_rc);
		vs_op_free(ops[i]);
	}
}

Test(ctl, E1_stop_of_many_devices_is_one_epoch)
{
	int ids[E1_DEVS];
	struct vs_engine_stats st;
	uint64_t e0;

	e1_devices(ids);
	e0 = epochs();
	e1_bulk(ids, VS_OP_STOP, 0);
	cr_assert_eq(epochs() - e0, 1, "%d stops took %lu epochs, not 1", E1_DEVS,
		     (unsigned long)(epochs() - e0));
	for (int i = 0; i < E1_DEVS; i++)
		cr_assert(shown(ids[i]) & VS_STATUS_DEVICE_STOPPED, "dev %d not stopped", ids[i]);
	cr_assert(!listed(stream_fn));
	vs_ctl_engine_stats(ctl, &st);
	cr_assert_eq(st.last_batch_stops, E1_DEVS);
	cr_assert_eq(st.last_batch_epochs, 1);
	cr_assert_gt(st.last_batch_ns, 0);

	/* Resume all: no park streams, so adding the streams back is one publish too. */
	e0 = epochs();
	e1_bulk(ids, VS_OP_RESUME, 0);
	cr_assert_eq(epochs() - e0, 1, "%d resumes took %lu epochs, not 1", E1_DEVS,
		     (unsigned long)(epochs() - e0));
	for (int i = 0; i < E1_DEVS; i++)
		cr_assert_eq(shown(ids[i]), LIVE, "dev %d not running", ids[i]);
}

Test(ctl, E1_stop_requests_arriving_together_share_one_epoch)
{
	int ids[E1_DEVS];
	uint64_t e0;

	e1_devices(ids);
	/* Driver status writes from many front ends, queued before the control lcore runs. */
	for (int i = 0; i < E1_DEVS; i++) {
		struct vs_op *op = vs_op_alloc(VS_OP_SET_STATUS, (uint16_t)ids[i]);

		op->in.status = STOP;
		cr_assert_eq(vs_ctl_post(ctl, op), 0);
	}
	e0 = epochs();
	settle(3);
	cr_assert_eq(epochs() - e0, 1, "%lu epochs", (unsigned long)(epochs() - e0));
	for (int i = 0; i < E1_DEVS; i++)
		cr_assert_eq(shown(ids[i]), STOP, "dev %d", ids[i]);
}

Test(ctl, E1_one_request_per_pass_is_one_epoch_each)
{
	int ids[E1_DEVS];
	uint64_t e0;

	/* The comparison the batching is for: stops that come one at a time. */
	e1_devices(ids);
	e0 = epochs();
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(vs_ctl_post(ctl, vs_op_alloc(VS_OP_STOP, (uint16_t)ids[i])), 0);
		settle(1);
	}
	settle(2);
	for (int i = 0; i < 8; i++)
		cr_assert(shown(ids[i]) & VS_STATUS_DEVICE_STOPPED, "dev %d not stopped", ids[i]);
	cr_assert_eq(epochs() - e0, 8);
}
