/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <string.h>

#include "vs_status.h"

static const char *const action_names[VS_ACT__MAX] = {
	[VS_ACT_STORE] = "store",     [VS_ACT_IGNORE] = "ignore",   [VS_ACT_RESET] = "reset",
	[VS_ACT_STOP] = "stop",       [VS_ACT_SUSPEND] = "suspend", [VS_ACT_MERGE] = "merge",
	[VS_ACT_CANCEL] = "cancel",   [VS_ACT_RESUME] = "resume",   [VS_ACT_REFUSE] = "refuse",
};

const char *
vs_status_action_name(enum vs_status_action act)
{
	return (unsigned int)act < VS_ACT__MAX ? action_names[act] : "?";
}

/*
 * A suspended device shows DRIVER_OK=0 (S2), so a driver that writes back what it read
 * omits DRIVER_OK without meaning to clear it, and writing DRIVER_OK again is the resume
 * (S3). Clearing SUSPEND is read as a resume too: it is the only other thing it can mean.
 */
static enum vs_status_action
decide_suspended(const struct vs_status_reg *reg, uint8_t value, uint8_t ordinary,
		 uint8_t *new_base)
{
	uint8_t cur = reg->base;

	if ((cur & ~VS_STATUS_DRIVER_OK) & ~ordinary)
		return VS_ACT_REFUSE;
	*new_base = ordinary | (cur & VS_STATUS_DRIVER_OK);
	if (reg->state == VS_RUN_STOPPED) {
		if ((value & VS_STATUS_DRIVER_OK) || !(value & VS_STATUS_SUSPEND))
			return VS_ACT_RESUME;
		return VS_ACT_MERGE;
	}
	/* Still suspending: the driver sees DRIVER_OK=1 and must keep it (R10). */
	if (!(value & VS_STATUS_DRIVER_OK))
		return VS_ACT_REFUSE;
	return (value & VS_STATUS_SUSPEND) ? VS_ACT_MERGE : VS_ACT_CANCEL;
}

enum vs_status_action
vs_status_decide(const struct vs_status_reg *reg, uint8_t value, uint8_t *new_base)
{
	uint8_t cur = reg->base;
	/*
	 * DEVICE_NEEDS_RESET belongs to the device: a driver's write can neither set it nor
	 * (short of a reset) clear it. Writing it back is fine; leaving it out clears it (R10).
	 */
	uint8_t ordinary = (value & (uint8_t)~(VS_STATUS_STOP_BITS | VS_STATUS_NEEDS_RESET)) |
			   (cur & value & VS_STATUS_NEEDS_RESET);

	*new_base = cur;
	if (value == 0) {
		*new_base = 0;
		return VS_ACT_RESET; /* R2 */
	}
	if (reg->kind == VS_STOP_SUSPEND)
		return decide_suspended(reg, value, ordinary, new_base);

	/* R10: only DEVICE_STOPPED (and, in its own way, SUSPEND) may ever be cleared. */
	if (cur & ~ordinary)
		return VS_ACT_REFUSE;
	*new_base = ordinary;

	if (reg->kind == VS_STOP_DEVICE_STOPPED) {
		if (value & VS_STATUS_DEVICE_STOPPED)
			return VS_ACT_MERGE; /* R12 */
		return reg->state == VS_RUN_STOPPED ? VS_ACT_RESUME : VS_ACT_CANCEL; /* R9, R11 */
	}

	/* Running. R3/S1: no stop before DRIVER_OK; R1/S1: no stop unless negotiated. */
	if (cur & VS_STATUS_DRIVER_OK) {
		if ((value & VS_STATUS_DEVICE_STOPPED) &&
		    vs_feature_has(reg->features, VS_F_DEVICE_STOP))
			return VS_ACT_STOP;
		if ((value & VS_STATUS_SUSPEND) && vs_feature_has(reg->features, VS_F_SUSPEND))
			return VS_ACT_SUSPEND;
	}
	if (ordinary == cur && (value & (VS_STATUS_STOP_BITS | VS_STATUS_NEEDS_RESET)))
		return VS_ACT_IGNORE;
	return VS_ACT_STORE;
}

void
vs_status_apply(struct vs_status_reg *reg, enum vs_status_action act, uint8_t new_base)
{
	switch (act) {
	case VS_ACT_RESET:
		reg->base = 0;
		reg->kind = VS_STOP_NONE;
		reg->state = VS_RUN_RUNNING;
		break;
	case VS_ACT_STORE:
	case VS_ACT_MERGE:
		reg->base = new_base;
		break;
	case VS_ACT_STOP:
	case VS_ACT_SUSPEND:
		reg->base = new_base;
		reg->kind = act == VS_ACT_STOP ? VS_STOP_DEVICE_STOPPED : VS_STOP_SUSPEND;
		reg->state = VS_RUN_STOPPING;
		break;
	case VS_ACT_CANCEL:
	case VS_ACT_RESUME:
		reg->base = new_base;
		reg->kind = VS_STOP_NONE;
		reg->state = VS_RUN_RUNNING;
		break;
	case VS_ACT_IGNORE:
	case VS_ACT_REFUSE:
	default:
		break;
	}
}

void
vs_status_stop_done(struct vs_status_reg *reg)
{
	if (reg->state == VS_RUN_STOPPING)
		reg->state = VS_RUN_STOPPED;
}

uint8_t
vs_status_show(const struct vs_status_reg *reg)
{
	if (reg->state != VS_RUN_STOPPED)
		return reg->base; /* R6: no bit until the stop is complete */
	if (reg->kind == VS_STOP_SUSPEND)
		return (reg->base & ~VS_STATUS_DRIVER_OK) | VS_STATUS_SUSPEND; /* S2 */
	return reg->base | VS_STATUS_DEVICE_STOPPED;
}

char *
vs_status_format(uint8_t status, char *buf, unsigned int len)
{
	static const char *const names[8] = {
		"ACKNOWLEDGE", "DRIVER", "DRIVER_OK", "FEATURES_OK",
		"SUSPEND", "DEVICE_STOPPED", "NEEDS_RESET", "FAILED",
	};
	unsigned int used = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	for (unsigned int i = 0; i < 8; i++) {
		if (!(status & (1u << i)))
			continue;
		int n = snprintf(buf + used, len - used, "%s%s", used ? "|" : "", names[i]);
		if (n < 0 || (unsigned int)n >= len - used)
			break;
		used += n;
	}
	if (status == 0)
		snprintf(buf, len, "RESET");
	return buf;
}
