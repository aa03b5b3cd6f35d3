/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_DEVSTATE_H
#define VS_DEVSTATE_H

/**
 * @file
 * The device state blob (M1): what moves from one vstop instance to another.
 *
 * Wire format (little endian), versioned, length-prefixed, CRC-protected:
 *   header  { magic "VSTOPDS\0" (8), u16 version, u16 header_len, u32 total_len, u32 crc32c }
 *   body    sections of { u16 tag, u16 flags, u32 len, len bytes }: features+status,
 *           config, per-vq indices, held frames (one section per vq that holds any),
 *           counters. Unknown tags with flag OPTIONAL are skipped; others are refused.
 * crc32c covers everything after the crc field (header tail and body).
 *
 * Pure code, no DPDK, no allocation but the caller's buffers (held frames point into the
 * blob on decode). Any thread.
 */

#include <stddef.h>
#include <stdint.h>

#include "vs_ctl.h"

#define VS_DEVSTATE_VERSION   1
#define VS_DEVSTATE_MAX_HELD  1024   /**< held frames per vq carried in a blob */
#define VS_DEVSTATE_MAX_FRAME 16384  /**< bytes per held frame */

/*
 * Wire layout, version 1 (all integers little endian, no padding anywhere):
 *
 *   offset 0  magic "VSTOPDS\0"
 *          8  u16 version (1)
 *         10  u16 header_len (20; any other value is refused by a version 1 reader)
 *         12  u32 total_len (header + body; must equal the length handed to decode)
 *         16  u32 crc32c of bytes [20, total_len)
 *         20  sections, back to back, until total_len
 *
 * Section payloads (exact lengths; a version 1 reader refuses any other length):
 *   FEATURES  u64 features, u8 status                                        (9)
 *   CONFIG    u8 mac[6], u16 link status, u16 mtu, u16 max_vq_pairs           (12)
 *   VQS       u16 nb_vqs, nb_vqs x { u16 avail_idx, u16 used_idx }           (2 + 4n)
 *   HELD      u16 vq, u16 count, count x { u16 len, len bytes }
 *   COUNTERS  u64 rx_frames, tx_frames, held_drops, stops, resumes           (40)
 *   RINGS     u16 nb_vqs, nb_vqs x { u8 layout, u8 wrap }                    (2 + 2n)
 *             layout 0 = split, 1 = packed (P1); wrap bit 0 = avail wrap counter,
 *             bit 1 = used wrap counter (0 for split). nb_vqs equals VQS's.
 * FEATURES, CONFIG and VQS are required; every known tag may appear once (HELD once per
 * vq). New data goes in new tags; flag them OPTIONAL if an older reader may ignore them.
 *
 * Ring positions (P1): VQS carries what rte_vhost_get_vring_base() gives: for a split
 * ring the 16-bit indices, for a packed ring bits 0-14 the index and bit 15 the wrap
 * counter. RINGS says which, per vq, and repeats the wrap counters so that a reader can
 * check the two agree. A blob of a packed device writes RINGS as a mandatory section: a
 * reader that does not know packed rings refuses it (M3) instead of loading positions it
 * would misread. A split device writes it OPTIONAL, so older readers still load it; a
 * blob without RINGS (written before it existed) is read as split unless its features
 * say packed (VIRTIO_F_RING_PACKED), and a RINGS layout that contradicts the features
 * is refused.
 */
#define VS_DEVSTATE_MAGIC      "VSTOPDS"  /**< 7 chars + NUL = the 8 magic bytes */
#define VS_DEVSTATE_HDR_LEN    20         /**< header length in version 1 */
#define VS_DEVSTATE_SEC_HDR_LEN 8         /**< u16 tag, u16 flags, u32 len */
#define VS_DEVSTATE_SEC_OPTIONAL 0x0001   /**< section flag: may be skipped if unknown */

/** Section tags of version 1. */
enum vs_devstate_tag {
	VS_DEVSTATE_TAG_FEATURES = 1, /**< negotiated features + status */
	VS_DEVSTATE_TAG_CONFIG   = 2, /**< mac, link status, mtu, max_vq_pairs */
	VS_DEVSTATE_TAG_VQS      = 3, /**< nb_vqs + per vq avail/used indices */
	VS_DEVSTATE_TAG_HELD     = 4, /**< frames held for one vq */
	VS_DEVSTATE_TAG_COUNTERS = 5, /**< struct vs_devstate_counters (written OPTIONAL) */
	VS_DEVSTATE_TAG_RINGS    = 6, /**< per vq ring layout and wrap counters (P1) */
};

#define VS_DEVSTATE_F_RING_PACKED 34 /**< VIRTIO_F_RING_PACKED: the layout of every vq */

/** One frame held for the guest while the device was stopped. */
struct vs_held_frame {
	uint16_t len;
	const uint8_t *data; /**< encode: caller's; decode: points into the blob */
};

struct vs_devstate_vq {
	struct vs_vq_state st;
	uint16_t nb_held;
	const struct vs_held_frame *held; /**< encode: caller's array; decode: see below */
};

/** Counters carried along, so that totals survive a migration. */
struct vs_devstate_counters {
	uint64_t rx_frames, tx_frames, held_drops, stops, resumes;
};

/** A decoded (or to-be-encoded) device state. */
struct vs_devstate {
	uint64_t features;          /**< negotiated; bit 34 (packed) gives the ring layout */
	uint8_t status;             /**< status base bits (what the driver wrote) */
	struct vs_dev_config config;
	uint16_t nb_vqs;
	struct vs_devstate_vq vq[VS_MAX_VQS];
	struct vs_devstate_counters counters;
};

/**
 * Encode @p ds into @p buf: vqs 0..nb_vqs-1 and their held frames (held frames of vqs
 * beyond nb_vqs are not carried). Nothing is written past @p len.
 * @return bytes written; with @p buf NULL, the size needed (nothing written); or
 *         -ENOSPC if @p len is too small, -EINVAL if @p ds is out of range (nb_vqs >
 *         VS_MAX_VQS, nb_held > VS_DEVSTATE_MAX_HELD, a frame longer than
 *         VS_DEVSTATE_MAX_FRAME, a NULL held/data pointer where data is needed, or a
 *         total size over UINT32_MAX).
 */
long vs_devstate_encode(const struct vs_devstate *ds, uint8_t *buf, size_t len);

/**
 * Decode and validate @p buf (M3): magic, version, lengths, crc, every section in range.
 * Held frames are returned in @p frames (capacity @p max_frames), each vq's held pointer
 * pointing into it; frame data points into @p buf, which must outlive @p ds.
 * @return 0, or -errno with @p ds unspecified: -EBADMSG (magic, crc, malformed section),
 *         -EPROTO (other version), -EMSGSIZE (truncated / length mismatch), -ENOSPC
 *         (more held frames than @p max_frames), -EINVAL (values out of range).
 *         @p err, if not NULL, gets a one-line human reason.
 */
int vs_devstate_decode(const uint8_t *buf, size_t len, struct vs_devstate *ds,
		       struct vs_held_frame *frames, unsigned int max_frames,
		       char *err, size_t errlen);

/** True if the device state is of a device with packed virtqueues (P1). Any thread. */
static inline int
vs_devstate_packed(const struct vs_devstate *ds)
{
	return (ds->features >> VS_DEVSTATE_F_RING_PACKED) & 1;
}

/**
 * Can a device that offers @p offered and has negotiated @p negotiated (0 = not yet) load
 * @p ds? Refuses features the device does not offer, or that differ from what is negotiated
 * (the ring layout first, with its own message: a packed blob into a split device).
 * @return 0 or -ENOTSUP with @p err set.
 */
int vs_devstate_compatible(const struct vs_devstate *ds, uint64_t offered, uint64_t negotiated,
			   char *err, size_t errlen);

/**
 * CRC-32C (Castagnoli) of @p len bytes, continuing from @p crc (start with 0).
 * vs_crc32c(0, d, n) is the standard CRC-32C of d (init ~0, final xor ~0), and
 * vs_crc32c(vs_crc32c(0, a, n), b, m) is the CRC of a followed by b. Any thread.
 */
uint32_t vs_crc32c(uint32_t crc, const void *data, size_t len);

#endif /* VS_DEVSTATE_H */
