/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VSTOP_VHOST_LOG_H
#define VSTOP_VHOST_LOG_H

/**
 * @file
 * Dirty-page logging (V6) that librte_vhost 22.11 gets wrong for QEMU's packed rings.
 */

#include <stdint.h>

/**
 * Mark in the dirty log every page of ring @p vq's packed descriptor ring and device
 * event area, if the device is logging (VHOST_F_LOG_ALL) and its rings are packed;
 * nothing otherwise. Returns the number of bytes marked (0: nothing to do).
 *
 * Why: librte_vhost logs the write of used descriptor i of a packed ring at
 * SET_VRING_ADDR's log address + 16 * i, taking that address to be the descriptor
 * ring's; QEMU 7.2 sends vq->used_phys there, which for a packed ring is the device
 * event area. With QEMU, the pages the device wrote used descriptors to are not marked
 * (others are), and a migration can send them stale. Marking them all once the ring is
 * quiesced, before GET_VRING_BASE's reply, puts them in QEMU's final log sync, which
 * QEMU runs right after the last GET_VRING_BASE: the destination gets every used
 * descriptor whatever the log address was.
 *
 * Caller: librte_vhost's message thread (the GET_VRING_BASE hook), once the device is
 * quiesced (no polling lcore runs its streams) and before librte_vhost's handler
 * unmaps the rings.
 */
uint64_t vhost_log_packed_ring(int vid, uint16_t vq);

#endif /* VSTOP_VHOST_LOG_H */
