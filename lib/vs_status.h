/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_STATUS_H
#define VS_STATUS_H

/**
 * @file
 * The virtio device status register of one device, as the stop engine sees it.
 *
 * Pure logic, no DPDK: it decides what a status write asks for and what a status read
 * shows. It implements DESIGN.md rules R1-R12 (DEVICE_STOPPED) and S1-S4 (SUSPEND). The
 * engine (vs_ctl.h) owns one register per device and acts on the decisions; only the
 * control lcore changes a register, but the functions themselves are reentrant and may
 * be called from any thread on a register the caller owns.
 */

#include <stdbool.h>
#include <stdint.h>

/* Device status bits (virtio 1.x, section 2.1), wire values. */
#define VS_STATUS_ACKNOWLEDGE    0x01
#define VS_STATUS_DRIVER         0x02
#define VS_STATUS_DRIVER_OK      0x04
#define VS_STATUS_FEATURES_OK    0x08
#define VS_STATUS_SUSPEND        0x10 /**< virtio 1.4 (S1) */
#define VS_STATUS_DEVICE_STOPPED 0x20 /**< the seed's proposal (R1) */
#define VS_STATUS_NEEDS_RESET    0x40
#define VS_STATUS_FAILED         0x80

/** Bits that request a stop; everything else is an ordinary status bit. */
#define VS_STATUS_STOP_BITS (VS_STATUS_SUSPEND | VS_STATUS_DEVICE_STOPPED)

/*
 * Feature bit numbers. The seed assigned VIRTIO_F_DEVICE_STOP no number; 42 is the lowest
 * transport bit virtio 1.4 leaves free (R1). VIRTIO_F_SUSPEND is 43 in virtio 1.4 (S1).
 */
#define VS_F_DEVICE_STOP 42
#define VS_F_SUSPEND     43

/** What kind of stop a device is in (or heading for). */
enum vs_stop_kind {
	VS_STOP_NONE = 0,
	VS_STOP_DEVICE_STOPPED, /**< R4: shows DEVICE_STOPPED when done */
	VS_STOP_SUSPEND,        /**< S2: shows SUSPEND=1, DRIVER_OK=0 when done */
};

/** Where a device is on its way between running and stopped. */
enum vs_run_state {
	VS_RUN_RUNNING = 0,
	VS_RUN_STOPPING, /**< stop requested, not complete: the bit is not shown (R6) */
	VS_RUN_STOPPED,  /**< R4 and R5 hold for every queue: the bit is shown */
};

/** The register: what the driver wrote plus where the stop machinery is. */
struct vs_status_reg {
	uint8_t base;       /**< bits the driver set, never SUSPEND or DEVICE_STOPPED */
	uint8_t kind;       /**< enum vs_stop_kind */
	uint8_t state;      /**< enum vs_run_state */
	uint64_t features;  /**< negotiated features (R1, S1 look at bits 42 and 43) */
};

/** What a status write asks the engine to do. */
enum vs_status_action {
	VS_ACT_STORE = 0, /**< ordinary bits set (initialisation); nothing to stop or resume */
	VS_ACT_IGNORE,    /**< nothing changes (stop bit not negotiated / no DRIVER_OK: R1, R3, S1) */
	VS_ACT_RESET,     /**< written 0: R2 */
	VS_ACT_STOP,      /**< start a DEVICE_STOPPED stop: R4 */
	VS_ACT_SUSPEND,   /**< start a SUSPEND stop: S2 */
	VS_ACT_MERGE,     /**< a stop or resume that is already under way or done: R12 */
	VS_ACT_CANCEL,    /**< bit cleared before the stop completed: R11 */
	VS_ACT_RESUME,    /**< resume a stopped device: R9, S3 */
	VS_ACT_REFUSE,    /**< the write clears a bit it may not clear: R10 */
	VS_ACT__MAX
};

/** Human name of an action, for logs. Any thread. */
const char *vs_status_action_name(enum vs_status_action act);

/**
 * Decide what writing @p value to the register asks for. Does not change @p reg.
 * @param new_base  out: the ordinary bits to store if the action is carried out
 * @return the action. Any thread.
 */
enum vs_status_action vs_status_decide(const struct vs_status_reg *reg, uint8_t value,
				       uint8_t *new_base);

/**
 * Carry out the register part of a decided action: bits stored, stop kind and state
 * updated (STOP/SUSPEND -> STOPPING, CANCEL/RESUME -> RUNNING, RESET -> all zero).
 * REFUSE, IGNORE and MERGE leave the register as it is. Any thread.
 */
void vs_status_apply(struct vs_status_reg *reg, enum vs_status_action act, uint8_t new_base);

/** Mark a STOPPING register STOPPED (the engine calls it once R4/R5 hold). Any thread. */
void vs_status_stop_done(struct vs_status_reg *reg);

/**
 * The value a status read returns (R6, S2, S3): base bits, plus DEVICE_STOPPED once
 * stopped, or SUSPEND with DRIVER_OK cleared once suspended. Any thread.
 */
uint8_t vs_status_show(const struct vs_status_reg *reg);

/** True if feature bit @p bit is set in @p features. */
static inline bool
vs_feature_has(uint64_t features, unsigned int bit)
{
	return (features >> bit) & 1;
}

/**
 * Write the decoded names of @p status ("ACKNOWLEDGE|DRIVER|...") into @p buf.
 * @return @p buf. Any thread.
 */
char *vs_status_format(uint8_t status, char *buf, unsigned int len);

#endif /* VS_STATUS_H */
