/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef FE_RING_H
#define FE_RING_H

/**
 * @file
 * "Guest memory" (one memfd, shared with every backend we connect to) and virtqueues
 * laid out in it, driver side, in either layout:
 *
 *  - split (virtio 1.x 2.7): descriptor table, avail ring, used ring. Descriptor i
 *    always points at buffer i, so a used id names the buffer directly.
 *  - packed (VIRTIO_F_RING_PACKED, 2.8; fe_ring_packed.c): one descriptor ring that the
 *    driver and the device both write, AVAIL/USED flag bits against wrap counters, and the
 *    two event suppression areas. A buffer is one descriptor carrying its buffer id; the
 *    used descriptor's id names the buffer, whatever order the device returns them in.
 *
 * Single-descriptor buffers in both. Every ring position the rest of the front end sees
 * is a free-running 16-bit count of buffers (made available, used, consumed), whatever
 * the layout: for a split ring it is the avail/used index itself; for a packed ring the
 * slot is count % size and the wrap counter is !((count / size) & 1) (both counters
 * start at 1, ring sizes are powers of 2 so the count wraps at 65536 in step). The
 * vhost-user wire form of a packed position (bits 0-14 slot, bit 15 wrap counter) is
 * made and read only by fe_vq_base_wire / fe_vq_base_count.
 *
 * Threading: the data thread owns the driver state of every ring (avail_idx, last_used,
 * free list). Other threads only read the used index and used entries (snapshots for the
 * conformance checks) and the avail index, through the fe_vq_* accessors below.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FE_VRING_DESC_F_WRITE     2
#define FE_VRING_AVAIL_F_NO_INTERRUPT 1
#define FE_VRING_USED_F_NO_NOTIFY 1

struct fe_vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct fe_vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
};

struct fe_vring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct fe_vring_used {
	uint16_t flags;
	uint16_t idx;
	struct fe_vring_used_elem ring[];
};

/* Packed ring (virtio 1.1+ 2.8). */
#define FE_F_RING_PACKED          34
#define FE_VRING_PACKED_DESC_F_AVAIL (1u << 7)
#define FE_VRING_PACKED_DESC_F_USED  (1u << 15)
#define FE_RING_EVENT_FLAGS_ENABLE   0
#define FE_RING_EVENT_FLAGS_DISABLE  1

struct fe_vring_packed_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};

/* Driver area (driver event suppression) and device area (device event suppression). */
struct fe_vring_packed_event {
	uint16_t off_wrap;
	uint16_t flags;
};

struct fe_mem {
	int fd;
	uint8_t *base;
	uint64_t size;
	uint64_t off;   /**< bump allocator */
	uint64_t gpa0;  /**< guest physical address of offset 0 */
};

/** Create @p size bytes of shared guest memory. @return 0 or -errno. */
int fe_mem_init(struct fe_mem *m, uint64_t size);
void fe_mem_fini(struct fe_mem *m);
/** Carve @p size bytes aligned to @p align (zeroed). NULL when full. */
void *fe_mem_alloc(struct fe_mem *m, uint64_t size, uint64_t align);

static inline uint64_t
fe_mem_gpa(const struct fe_mem *m, const void *p)
{
	return m->gpa0 + (uint64_t)((const uint8_t *)p - m->base);
}

struct fe_vq {
	uint16_t index;     /**< vhost-user vring index (rx = 2q, tx = 2q + 1) */
	uint16_t size;
	bool device_writes; /**< rx ring: buffers are device-writable */
	bool packed;        /**< packed layout (the split pointers below are NULL) */
	/* split */
	struct fe_vring_desc *desc;
	struct fe_vring_avail *avail;
	struct fe_vring_used *used;
	/* packed */
	struct fe_vring_packed_desc *pdesc;
	struct fe_vring_packed_event *drv_event; /**< driver area: we suppress calls here */
	struct fe_vring_packed_event *dev_event; /**< device area: the device suppresses kicks */
	uint16_t *slot_id;   /**< packed: buffer id the driver put in each slot (private) */
	uint16_t pub_avail;  /**< packed: avail count published (atomic; see fe_vq_publish) */
	uint64_t bufs_gpa;
	uint8_t *bufs;
	uint32_t buf_len;
	uint16_t avail_idx;  /**< driver's next avail index (published with release) */
	uint16_t last_used;  /**< next used entry the driver will read */
	uint16_t *free_ids;  /**< ids not posted to the device */
	uint16_t nfree;
	uint8_t *posted;     /**< per id: 1 while the device owns it (catches double use) */
	int kickfd;          /**< eventfd, same one handed to every backend */
	int callfd;
	uint64_t kicks;
	uint64_t avail_total; /**< buffers ever made available (laps: / size) */
	uint64_t used_total;  /**< used entries ever consumed by the driver */
};

/** Lay out a ring of @p size entries with @p buf_len byte buffers. @return 0 or -errno. */
int fe_vq_init(struct fe_vq *vq, struct fe_mem *m, uint16_t index, uint16_t size,
	       uint32_t buf_len, bool device_writes, bool packed);
void fe_vq_fini(struct fe_vq *vq);

/* ---- packed layout (fe_ring_packed.c) ---- */

int fe_vq_packed_layout(struct fe_vq *vq, struct fe_mem *m);
void fe_vq_packed_publish(struct fe_vq *vq);
uint16_t fe_vq_packed_used_idx(const struct fe_vq *vq);
uint16_t fe_vq_packed_used_end(const struct fe_vq *vq);

/** Wrap counter of ring position @p c (count): 1 on the first lap, flips every lap. */
static inline bool
fe_vq_wrap(const struct fe_vq *vq, uint16_t c)
{
	return !(c & vq->size);
}

/** Is the packed descriptor at position @p c used (AVAIL == USED == its wrap counter)? */
static inline bool
fe_vq_packed_is_used(const struct fe_vq *vq, uint16_t c)
{
	uint16_t f = __atomic_load_n(&vq->pdesc[c & (vq->size - 1)].flags, __ATOMIC_ACQUIRE);
	bool w = fe_vq_wrap(vq, c);

	return !!(f & FE_VRING_PACKED_DESC_F_AVAIL) == w && !!(f & FE_VRING_PACKED_DESC_F_USED) == w;
}

/**
 * vhost-user form of ring position @p c for SET_VRING_BASE: split, the index; packed,
 * bits 0-14 the slot and bit 15 the wrap counter.
 */
uint32_t fe_vq_base_wire(const struct fe_vq *vq, uint16_t c);
/**
 * Ring position (count) of a GET_VRING_BASE answer, for packed the one of its slot and
 * wrap counter nearest @p near (counts are 16-bit, a packed answer names a position
 * modulo 2 * size). Bits 16-31 of a packed answer, when not 0, are the used slot and wrap
 * counter (QEMU's reading): they must equal bits 0-15. @return 0, -ERANGE (slot out of
 * the ring) or -EPROTO (used half differs: buffers in flight), with a reason in @p why.
 */
int fe_vq_base_count(const struct fe_vq *vq, uint32_t wire, uint16_t near, uint16_t *c,
		     char *why, size_t wlen);

static inline uint8_t *
fe_vq_buf(const struct fe_vq *vq, uint16_t id)
{
	return vq->bufs + (uint64_t)id * vq->buf_len;
}

/** Put buffer @p id (first @p len bytes) in the avail ring; visible after publish. */
static inline void
fe_vq_post(struct fe_vq *vq, uint16_t id, uint32_t len)
{
	uint16_t slot = vq->avail_idx & (vq->size - 1);

	vq->posted[id] = 1;
	if (vq->packed) {
		struct fe_vring_packed_desc *d = &vq->pdesc[slot];

		/* Flags (the hand-over) are written by fe_vq_publish. */
		d->addr = vq->bufs_gpa + (uint64_t)id * vq->buf_len;
		d->len = len;
		d->id = id;
		vq->slot_id[slot] = id;
	} else {
		vq->desc[id].len = len;
		vq->avail->ring[slot] = id;
	}
	vq->avail_idx++;
	vq->avail_total++;
}

/** Make posted buffers visible: descriptors and ring entries before the index. */
static inline void
fe_vq_publish(struct fe_vq *vq)
{
	if (vq->packed)
		fe_vq_packed_publish(vq);
	else
		__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
}

/** Avail count as the driver last published it (for threads other than the data thread). */
static inline uint16_t
fe_vq_avail_idx(const struct fe_vq *vq)
{
	if (vq->packed)
		return __atomic_load_n(&vq->pub_avail, __ATOMIC_ACQUIRE);
	return __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
}

/**
 * Used count as the device last wrote it in guest memory, from any thread: split, the
 * used index; packed, the end of the run of used descriptors from the driver's
 * last_used on (fe_ring_packed.c).
 */
static inline uint16_t
fe_vq_used_idx(const struct fe_vq *vq)
{
	if (vq->packed)
		return fe_vq_packed_used_idx(vq);
	return __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
}

/** Buffer id the driver made available at position @p c. */
static inline uint16_t
fe_vq_slot_id(const struct fe_vq *vq, uint16_t c)
{
	if (vq->packed)
		return vq->slot_id[c & (vq->size - 1)];
	return vq->avail->ring[c & (vq->size - 1)];
}

/** The used entry at position @p c (valid once the device wrote it). */
static inline struct fe_vring_used_elem
fe_vq_used_elem(const struct fe_vq *vq, uint16_t c)
{
	struct fe_vring_used_elem e;

	if (vq->packed) {
		const struct fe_vring_packed_desc *d = &vq->pdesc[c & (vq->size - 1)];

		e.id = d->id;
		e.len = d->len;
	} else {
		e = vq->used->ring[c & (vq->size - 1)];
	}
	return e;
}

/** Does the device want kicks (split VRING_USED_F_NO_NOTIFY, packed device area flags)? */
static inline bool
fe_vq_wants_kick(const struct fe_vq *vq)
{
	if (vq->packed)
		return __atomic_load_n(&vq->dev_event->flags, __ATOMIC_ACQUIRE) !=
		       FE_RING_EVENT_FLAGS_DISABLE;
	return !(__atomic_load_n(&vq->used->flags, __ATOMIC_ACQUIRE) &
		 FE_VRING_USED_F_NO_NOTIFY);
}

/** Ring addresses for SET_VRING_ADDR (packed: descriptor ring, device area, driver area). */
void fe_vq_addrs(const struct fe_vq *vq, uint64_t *desc, uint64_t *used, uint64_t *avail);

/** Notify the device through the kick eventfd. */
void fe_vq_kick(struct fe_vq *vq);

/** Ask for (or suppress) used-buffer notifications (call eventfd writes). */
void fe_vq_set_interrupts(struct fe_vq *vq, bool on);

/** Read and reset the call eventfd counter (0 if none since last read). */
uint64_t fe_vq_drain_call(struct fe_vq *vq);

#endif /* FE_RING_H */
