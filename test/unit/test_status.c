/* SPDX-License-Identifier: BSD-3-Clause */
/* Status register logic, rule by rule (DESIGN.md R1-R12, S1-S4), without a transport. */
#include <string.h>

#include <criterion/criterion.h>

#include "vs_status.h"

#define INIT (VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK)
#define LIVE (INIT | VS_STATUS_DRIVER_OK)
#define F_STOP (1ull << VS_F_DEVICE_STOP)
#define F_SUSP (1ull << VS_F_SUSPEND)

static struct vs_status_reg
reg_live(uint64_t features)
{
	struct vs_status_reg r = { .base = LIVE, .features = features };
	return r;
}

/* Write @v as a driver would and carry out the decision; returns the action. */
static enum vs_status_action
write_status(struct vs_status_reg *r, uint8_t v)
{
	uint8_t base;
	enum vs_status_action act = vs_status_decide(r, v, &base);

	vs_status_apply(r, act, base);
	return act;
}

Test(status, R1_wire_values)
{
	cr_assert_eq(VS_STATUS_DEVICE_STOPPED, 0x20);
	cr_assert_eq(VS_F_DEVICE_STOP, 42);
}

Test(status, R1_stop_bit_ignored_without_feature)
{
	struct vs_status_reg r = reg_live(0);

	cr_assert_eq(write_status(&r, LIVE | VS_STATUS_DEVICE_STOPPED), VS_ACT_IGNORE);
	cr_assert_eq(r.state, VS_RUN_RUNNING);
	cr_assert_eq(vs_status_show(&r), LIVE);
}

Test(status, R2_zero_resets_from_every_state)
{
	uint8_t stop_bits[] = { VS_STATUS_DEVICE_STOPPED, VS_STATUS_SUSPEND };

	for (unsigned int i = 0; i < 2; i++) {
		for (int done = 0; done < 2; done++) {
			struct vs_status_reg r = reg_live(F_STOP | F_SUSP);

			write_status(&r, LIVE | stop_bits[i]);
			if (done)
				vs_status_stop_done(&r);
			cr_assert_eq(write_status(&r, 0), VS_ACT_RESET);
			cr_assert_eq(r.base, 0);
			cr_assert_eq(r.kind, VS_STOP_NONE);
			cr_assert_eq(r.state, VS_RUN_RUNNING);
			cr_assert_eq(vs_status_show(&r), 0);
		}
	}
}

Test(status, R3_stop_bit_ignored_before_driver_ok)
{
	struct vs_status_reg r = { .base = INIT, .features = F_STOP };

	/* Alone, and in the same write that sets DRIVER_OK. */
	cr_assert_eq(write_status(&r, INIT | VS_STATUS_DEVICE_STOPPED), VS_ACT_IGNORE);
	cr_assert_eq(write_status(&r, LIVE | VS_STATUS_DEVICE_STOPPED), VS_ACT_STORE);
	cr_assert_eq(r.state, VS_RUN_RUNNING);
	cr_assert_eq(vs_status_show(&r), LIVE);
}

Test(status, R4_stop_request_starts_stopping)
{
	struct vs_status_reg r = reg_live(F_STOP);

	cr_assert_eq(write_status(&r, LIVE | VS_STATUS_DEVICE_STOPPED), VS_ACT_STOP);
	cr_assert_eq(r.state, VS_RUN_STOPPING);
	cr_assert_eq(r.kind, VS_STOP_DEVICE_STOPPED);
	cr_assert_eq(r.base, LIVE, "the stop bit is not stored as an ordinary bit");
}

Test(status, R6_bit_shown_only_when_stop_done)
{
	struct vs_status_reg r = reg_live(F_STOP);

	write_status(&r, LIVE | VS_STATUS_DEVICE_STOPPED);
	cr_assert_eq(vs_status_show(&r), LIVE, "stopping: no bit yet");
	vs_status_stop_done(&r);
	cr_assert_eq(vs_status_show(&r), LIVE | VS_STATUS_DEVICE_STOPPED);
}

Test(status, R9_clearing_bit_resumes_stopped_device)
{
	struct vs_status_reg r = reg_live(F_STOP);

	write_status(&r, LIVE | VS_STATUS_DEVICE_STOPPED);
	vs_status_stop_done(&r);
	cr_assert_eq(write_status(&r, LIVE), VS_ACT_RESUME);
	cr_assert_eq(r.state, VS_RUN_RUNNING);
	cr_assert_eq(vs_status_show(&r), LIVE);
}

Test(status, R10_clearing_other_bits_refused)
{
	uint8_t others[] = { VS_STATUS_ACKNOWLEDGE, VS_STATUS_DRIVER, VS_STATUS_DRIVER_OK,
			     VS_STATUS_FEATURES_OK };

	for (unsigned int i = 0; i < sizeof(others); i++) {
		for (int stopped = 0; stopped < 2; stopped++) {
			struct vs_status_reg r = reg_live(F_STOP), before;
			uint8_t v;

			if (stopped) {
				write_status(&r, LIVE | VS_STATUS_DEVICE_STOPPED);
				vs_status_stop_done(&r);
			}
			before = r;
			v = vs_status_show(&r) & ~others[i];
			cr_assert_eq(write_status(&r, v), VS_ACT_REFUSE, "write 0x%x", v);
			cr_assert(memcmp(&r, &before, sizeof(r)) == 0, "register unchanged");
		}
	}
}

Test(status, R10_refused_during_init_too)
{
	struct vs_status_reg r = { .base = INIT };

	cr_assert_eq(write_status(&r, VS_STATUS_ACKNOWLEDGE), VS_ACT_REFUSE);
	cr_assert_eq(r.base, INIT);
}

Test(status, R10_needs_reset_is_the_devices_bit)
{
	struct vs_status_reg r = { .base = INIT };

	/* A driver cannot set it ... */
	cr_assert_eq(write_status(&r, INIT | VS_STATUS_NEEDS_RESET), VS_ACT_IGNORE);
	cr_assert_eq(vs_status_show(&r), INIT);
	cr_assert_eq(write_status(&r, LIVE | VS_STATUS_NEEDS_RESET), VS_ACT_STORE);
	cr_assert_eq(vs_status_show(&r), LIVE);
	/* ... nor clear it once the device set it; writing it back is fine. */
	r.base |= VS_STATUS_NEEDS_RESET;
	cr_assert_eq(write_status(&r, LIVE), VS_ACT_REFUSE);
	cr_assert_eq(write_status(&r, LIVE | VS_STATUS_NEEDS_RESET), VS_ACT_IGNORE);
	cr_assert_eq(vs_status_show(&r), LIVE | VS_STATUS_NEEDS_RESET);
	cr_assert_eq(write_status(&r, 0), VS_ACT_RESET);
	cr_assert_eq(vs_status_show(&r), 0);
}

Test(status, R11_clearing_bit_while_stopping_cancels)
{
	struct vs_status_reg r = reg_live(F_STOP);

	write_status(&r, LIVE | VS_STATUS_DEVICE_STOPPED);
	cr_assert_eq(write_status(&r, LIVE), VS_ACT_CANCEL);
	cr_assert_eq(r.state, VS_RUN_RUNNING);
	cr_assert_eq(r.kind, VS_STOP_NONE);
	vs_status_stop_done(&r); /* a late completion must not stop a running device */
	cr_assert_eq(vs_status_show(&r), LIVE);
}

Test(status, R12_repeated_requests_merge)
{
	struct vs_status_reg r = reg_live(F_STOP);

	write_status(&r, LIVE | VS_STATUS_DEVICE_STOPPED);
	cr_assert_eq(write_status(&r, LIVE | VS_STATUS_DEVICE_STOPPED), VS_ACT_MERGE);
	cr_assert_eq(r.state, VS_RUN_STOPPING);
	vs_status_stop_done(&r);
	cr_assert_eq(write_status(&r, LIVE | VS_STATUS_DEVICE_STOPPED), VS_ACT_MERGE);
	cr_assert_eq(r.state, VS_RUN_STOPPED);
	cr_assert_eq(write_status(&r, LIVE), VS_ACT_RESUME);
	cr_assert_eq(write_status(&r, LIVE), VS_ACT_STORE, "a second resume changes nothing");
	cr_assert_eq(r.state, VS_RUN_RUNNING);
}

Test(status, S1_wire_values_and_ignored_unless_negotiated)
{
	struct vs_status_reg r = reg_live(F_STOP);
	struct vs_status_reg early = { .base = INIT, .features = F_SUSP };

	cr_assert_eq(VS_STATUS_SUSPEND, 0x10);
	cr_assert_eq(VS_F_SUSPEND, 43);
	cr_assert_eq(write_status(&r, LIVE | VS_STATUS_SUSPEND), VS_ACT_IGNORE);
	cr_assert_eq(r.state, VS_RUN_RUNNING);
	cr_assert_eq(write_status(&early, INIT | VS_STATUS_SUSPEND), VS_ACT_IGNORE);
	cr_assert_eq(early.state, VS_RUN_RUNNING);
}

Test(status, S2_suspended_shows_suspend_without_driver_ok)
{
	struct vs_status_reg r = reg_live(F_SUSP);

	cr_assert_eq(write_status(&r, LIVE | VS_STATUS_SUSPEND), VS_ACT_SUSPEND);
	cr_assert_eq(vs_status_show(&r), LIVE, "not shown before done");
	vs_status_stop_done(&r);
	cr_assert_eq(vs_status_show(&r), INIT | VS_STATUS_SUSPEND);
	/* Writing back what it read is not clearing DRIVER_OK (not R10). */
	cr_assert_eq(write_status(&r, INIT | VS_STATUS_SUSPEND), VS_ACT_MERGE);
	cr_assert_eq(r.state, VS_RUN_STOPPED);
}

Test(status, S3_setting_driver_ok_resumes)
{
	struct vs_status_reg r = reg_live(F_SUSP);

	write_status(&r, LIVE | VS_STATUS_SUSPEND);
	vs_status_stop_done(&r);
	cr_assert_eq(write_status(&r, INIT | VS_STATUS_SUSPEND | VS_STATUS_DRIVER_OK),
		     VS_ACT_RESUME);
	cr_assert_eq(vs_status_show(&r), LIVE);
	cr_assert_eq(r.kind, VS_STOP_NONE);
}

Test(status, S3_suspending_cancel_and_refuse)
{
	struct vs_status_reg r = reg_live(F_SUSP);

	write_status(&r, LIVE | VS_STATUS_SUSPEND);
	cr_assert_eq(write_status(&r, INIT | VS_STATUS_SUSPEND), VS_ACT_REFUSE,
		     "DRIVER_OK is still shown while suspending");
	cr_assert_eq(write_status(&r, LIVE), VS_ACT_CANCEL);
	cr_assert_eq(r.state, VS_RUN_RUNNING);
}

Test(status, S2_suspended_refuses_clearing_other_bits)
{
	struct vs_status_reg r = reg_live(F_SUSP);

	write_status(&r, LIVE | VS_STATUS_SUSPEND);
	vs_status_stop_done(&r);
	cr_assert_eq(write_status(&r, (INIT & ~VS_STATUS_FEATURES_OK) | VS_STATUS_SUSPEND),
		     VS_ACT_REFUSE);
	cr_assert_eq(r.state, VS_RUN_STOPPED);
}

Test(status, format_names_bits)
{
	char buf[128];

	cr_assert_str_eq(vs_status_format(LIVE | VS_STATUS_DEVICE_STOPPED, buf, sizeof(buf)),
			 "ACKNOWLEDGE|DRIVER|DRIVER_OK|FEATURES_OK|DEVICE_STOPPED");
	cr_assert_str_eq(vs_status_format(0, buf, sizeof(buf)), "RESET");
	cr_assert_str_eq(vs_status_action_name(VS_ACT_REFUSE), "refuse");
	cr_assert_str_eq(vs_status_action_name((enum vs_status_action)99), "?");
}
