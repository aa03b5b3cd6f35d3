/* SPDX-License-Identifier: BSD-3-Clause */
/* Bad input to the engine's public functions: an error code, and nothing changes. */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "vs_ctl.h"

static struct vs_ctl *ctl;
static int dev;
static int ran;

static void fn(void *arg) { (void)arg; ran++; }

static int
run(struct vs_op *op)
{
	int rc;

	cr_assert_eq(vs_ctl_submit(ctl, op), 0);
	vs_ctl_run_once(ctl);
	cr_assert(vs_op_done(op));
	rc = op->result;
	vs_op_free(op);
	return rc;
}

static void
setup(void)
{
	struct vs_ctl_params p = { .nb_pollers = 1 };
	struct vs_op *op;

	ctl = vs_ctl_create(&p);
	cr_assert_not_null(ctl);
	op = vs_op_alloc(VS_OP_DEV_ADD, 0);
	op->in.dev_add = (struct vs_dev_add){ .name = "d", .nb_vqs = 2 };
	dev = run(op);
	cr_assert_eq(dev, 0);
	op = vs_op_alloc(VS_OP_STREAM_ADD, 0);
	op->in.stream = (struct vs_stream){ .fn = fn, .poller = 0, .rx_dev = 0, .rx_vq = 0,
					    .tx_dev = 0, .tx_vq = 1 };
	cr_assert_eq(run(op), 0);
	run(vs_op_alloc(VS_OP_ATTACH, 0));
}

static void teardown(void) { vs_ctl_free(ctl); }

TestSuite(badinput, .init = setup, .fini = teardown);

/* Everything a test may disturb, to compare before and after. */
static void
snapshot(struct vs_dev_info *i, uint32_t *nb_streams)
{
	struct vs_op *op = vs_op_alloc(VS_OP_GET_INFO, 0);

	cr_assert_eq(vs_ctl_submit(ctl, op), 0);
	vs_ctl_run_once(ctl);
	*i = op->out.info;
	vs_op_free(op);
	*nb_streams = vs_poller_streams(vs_ctl_poller(ctl, 0))->n;
}

static void
assert_unchanged(const struct vs_dev_info *before, uint32_t nb_before)
{
	struct vs_dev_info after;
	uint32_t nb_after;

	snapshot(&after, &nb_after);
	cr_assert(memcmp(before, &after, sizeof(after)) == 0, "device state changed");
	cr_assert_eq(nb_before, nb_after, "published streams changed");
}

Test(badinput, create_rejects_bad_params)
{
	struct vs_ctl_params none = { .nb_pollers = 0 };
	struct vs_ctl_params many = { .nb_pollers = VS_MAX_POLLERS + 1 };
	struct vs_ctl_params odd = { .nb_pollers = 1, .ring_size = 1000 };

	cr_assert_null(vs_ctl_create(&none));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(vs_ctl_create(&many));
	cr_assert_null(vs_ctl_create(&odd));
}

Test(badinput, unknown_op_type)
{
	struct vs_dev_info i;
	uint32_t n;
	struct vs_op *op;

	cr_assert_null(vs_op_alloc(VS_OP__MAX, 0));
	cr_assert_null(vs_op_alloc(9999, 0));
	snapshot(&i, &n);
	op = vs_op_alloc(VS_OP_NOP, 0);
	op->type = VS_OP__MAX + 3; /* corrupted after allocation */
	cr_assert_eq(run(op), -EINVAL);
	assert_unchanged(&i, n);
	cr_assert_str_eq(vs_op_name(9999), "?");
}

Test(badinput, op_on_missing_device)
{
	static const unsigned int types[] = {
		VS_OP_DEV_DEL, VS_OP_ATTACH, VS_OP_DETACH, VS_OP_SET_FEATURES, VS_OP_SET_STATUS,
		VS_OP_GET_STATUS, VS_OP_STOP, VS_OP_SUSPEND, VS_OP_RESUME, VS_OP_RESET,
		VS_OP_QUIESCE, VS_OP_GET_VQ_STATE, VS_OP_SET_VQ_STATE, VS_OP_SET_VQ_READY,
		VS_OP_GET_CONFIG, VS_OP_SET_CONFIG, VS_OP_GET_INFO,
	};
	uint16_t bad_ids[] = { 1, VS_MAX_DEVS - 1, VS_MAX_DEVS, VS_DEV_NONE };
	struct vs_dev_info i;
	uint32_t n;

	snapshot(&i, &n);
	for (unsigned int t = 0; t < sizeof(types) / sizeof(types[0]); t++)
		for (unsigned int b = 0; b < 4; b++)
			cr_assert_eq(run(vs_op_alloc(types[t], bad_ids[b])), -ENODEV,
				     "%s on device %u", vs_op_name(types[t]), bad_ids[b]);
	assert_unchanged(&i, n);
	cr_assert_eq(vs_ctl_status_shown(ctl, VS_DEV_NONE), 0);
}

Test(badinput, out_of_range_queue)
{
	static const unsigned int types[] = {
		VS_OP_GET_VQ_STATE, VS_OP_SET_VQ_STATE, VS_OP_SET_VQ_READY,
	};
	struct vs_dev_info i;
	uint32_t n;

	snapshot(&i, &n);
	for (unsigned int t = 0; t < 3; t++) {
		struct vs_op *op = vs_op_alloc(types[t], 0);

		op->vq = 2;
		cr_assert_eq(run(op), -EINVAL, "%s", vs_op_name(types[t]));
		op = vs_op_alloc(types[t], 0);
		op->vq = UINT16_MAX;
		cr_assert_eq(run(op), -EINVAL);
	}
	assert_unchanged(&i, n);
}

Test(badinput, bad_streams)
{
	struct vs_stream bad[] = {
		{ .fn = NULL, .poller = 0, .rx_dev = VS_DEV_NONE, .tx_dev = VS_DEV_NONE },
		{ .fn = fn, .poller = 1, .rx_dev = VS_DEV_NONE, .tx_dev = VS_DEV_NONE },
		{ .fn = fn, .poller = 0, .rx_dev = 5, .tx_dev = VS_DEV_NONE },
		{ .fn = fn, .poller = 0, .rx_dev = 0, .rx_vq = 2, .tx_dev = VS_DEV_NONE },
		{ .fn = fn, .poller = 0, .rx_dev = VS_DEV_NONE, .tx_dev = 0, .tx_vq = 200 },
	};
	struct vs_dev_info i;
	uint32_t n;

	snapshot(&i, &n);
	for (unsigned int k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct vs_op *op = vs_op_alloc(VS_OP_STREAM_ADD, 0);

		op->in.stream = bad[k];
		cr_assert_eq(run(op), -EINVAL, "stream %u", k);
	}
	struct vs_op *op = vs_op_alloc(VS_OP_STREAM_DEL, 0);
	op->in.stream_id = 77;
	cr_assert_eq(run(op), -EINVAL);
	assert_unchanged(&i, n);
}

Test(badinput, bad_device_add_and_busy_delete)
{
	struct vs_op *op = vs_op_alloc(VS_OP_DEV_ADD, 0);
	struct vs_dev_info i;
	uint32_t n;

	snapshot(&i, &n);
	op->in.dev_add = (struct vs_dev_add){ .name = NULL, .nb_vqs = 2 };
	cr_assert_eq(run(op), -EINVAL);
	op = vs_op_alloc(VS_OP_DEV_ADD, 0);
	op->in.dev_add = (struct vs_dev_add){ .name = "x", .nb_vqs = 0 };
	cr_assert_eq(run(op), -EINVAL);
	op = vs_op_alloc(VS_OP_DEV_ADD, 0);
	op->in.dev_add = (struct vs_dev_add){ .name = "x", .nb_vqs = VS_MAX_VQS + 1 };
	cr_assert_eq(run(op), -EINVAL);
	cr_assert_eq(run(vs_op_alloc(VS_OP_DEV_DEL, 0)), -EBUSY, "attached, with streams");
	assert_unchanged(&i, n);
	cr_assert_eq(vs_ctl_nb_devs(ctl), 1);
}

Test(badinput, stop_before_driver_ok_refused)
{
	struct vs_dev_info i;
	uint32_t n;

	snapshot(&i, &n);
	cr_assert_eq(run(vs_op_alloc(VS_OP_STOP, 0)), -EINVAL);
	cr_assert_eq(run(vs_op_alloc(VS_OP_SUSPEND, 0)), -EINVAL);
	assert_unchanged(&i, n);
}

Test(badinput, null_call_function)
{
	struct vs_op *op = vs_op_alloc(VS_OP_CALL, 0);

	cr_assert_eq(run(op), -EINVAL);
}

Test(badinput, full_ring_refuses_and_frees)
{
	struct vs_ctl_params p = { .nb_pollers = 1, .ring_size = 4 };
	struct vs_ctl *small = vs_ctl_create(&p);
	int posted = 0, refused = 0;

	cr_assert_not_null(small);
	for (int k = 0; k < 16; k++) {
		int rc = vs_ctl_post(small, vs_op_alloc(VS_OP_NOP, 0));

		if (rc == 0)
			posted++;
		else if (rc == -ENOBUFS)
			refused++;
	}
	cr_assert_eq(posted, 3, "ring of 4 holds 3");
	cr_assert_eq(refused, 13);
	cr_assert_eq(vs_ctl_run_once(small), 3);
	vs_ctl_free(small);
}

Test(badinput, free_with_ops_still_pending)
{
	struct vs_ctl_params p = { .nb_pollers = 1 };
	struct vs_ctl *c = vs_ctl_create(&p);
	struct vs_op *op = vs_op_alloc(VS_OP_DEV_ADD, 0), *pending;

	op->in.dev_add = (struct vs_dev_add){ .name = "p", .nb_vqs = 1 };
	cr_assert_eq(vs_ctl_submit(c, op), 0);
	vs_ctl_run_once(c);
	vs_op_free(op);
	vs_poller_online(vs_ctl_poller(c, 0)); /* never reports: every epoch stays open */
	op = vs_op_alloc(VS_OP_ATTACH, 0);
	cr_assert_eq(vs_ctl_submit(c, op), 0);
	vs_ctl_run_once(c);
	vs_op_free(op);
	op = vs_op_alloc(VS_OP_STREAM_ADD, 0);
	op->in.stream = (struct vs_stream){ .fn = fn, .poller = 0, .rx_dev = 0, .tx_dev = 0 };
	cr_assert_eq(vs_ctl_submit(c, op), 0);
	vs_ctl_run_once(c);
	vs_op_free(op);
	pending = vs_op_alloc(VS_OP_QUIESCE, 0);
	cr_assert_eq(vs_ctl_submit(c, pending), 0);
	vs_ctl_run_once(c);
	cr_assert(!vs_op_done(pending), "waits for an epoch that never comes");
	vs_ctl_free(c); /* answers it (an abandoned op would be freed the same way) */
	cr_assert(vs_op_done(pending));
	cr_assert_eq(pending->result, -ESHUTDOWN);
	vs_op_free(pending);
}

Test(badinput, R11_stuck_poller_never_blocks_the_control_lcore)
{
	struct vs_poller *stuck = vs_ctl_poller(ctl, 0);

	/* An online poller that never reports: 2,000 publishes must not wait for it. */
	vs_poller_online(stuck);
	for (int k = 0; k < 1000; k++) {
		struct vs_op *op = vs_op_alloc(VS_OP_SET_VQ_READY, 0);

		op->vq = 1;
		op->in.ready = false;
		cr_assert_eq(vs_ctl_submit(ctl, op), 0);
		vs_ctl_run_once(ctl); /* returns: the epoch is checked, never waited for */
		cr_assert(!vs_op_done(op));
		cr_assert_eq(vs_ctl_wait(op, 0), -ETIMEDOUT);
		cr_assert_eq(run(vs_op_alloc(VS_OP_NOP, 0)), 0);
		op = vs_op_alloc(VS_OP_SET_VQ_READY, 0);
		op->vq = 1;
		op->in.ready = true;
		cr_assert_eq(run(op), 0);
	}
	vs_poller_offline(stuck);
	vs_ctl_run_once(ctl);
}

Test(badinput, timed_out_waiter_hands_op_to_engine)
{
	struct vs_op *op = vs_op_alloc(VS_OP_NOP, 0);

	/* Nobody runs the control loop: the wait times out, the engine frees the op later. */
	cr_assert_eq(vs_ctl_call(ctl, op, 10), -ETIMEDOUT);
	cr_assert_eq(vs_ctl_run_once(ctl), 1);
}
