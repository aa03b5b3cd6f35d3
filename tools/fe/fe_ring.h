/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef FE_RING_H
#define FE_RING_H

/**
 * @file
 * "Guest memory" (one memfd, shared with every backend we connect to) and split
 * virtqueues laid out in it, driver side. Single-descriptor buffers: descriptor i always
 * points at buffer i, so a used id names the buffer directly.
 *
 * Threading: the data thread owns the driver state of every ring (avail_idx, last_used,
 * free list). Other threads only read the used index and used ring (snapshots for the
 * conformance checks) and the avail index.
 */

#include <stdbool.h>
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
	struct fe_vring_desc *desc;
	struct fe_vring_avail *avail;
	struct fe_vring_used *used;
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
};

/** Lay out a ring of @p size entries with @p buf_len byte buffers. @return 0 or -errno. */
int fe_vq_init(struct fe_vq *vq, struct fe_mem *m, uint16_t index, uint16_t size,
	       uint32_t buf_len, bool device_writes);
void fe_vq_fini(struct fe_vq *vq);

static inline uint8_t *
fe_vq_buf(const struct fe_vq *vq, uint16_t id)
{
	return vq->bufs + (uint64_t)id * vq->buf_len;
}

/** Put buffer @p id (first @p len bytes) in the avail ring; visible after publish. */
static inline void
fe_vq_post(struct fe_vq *vq, uint16_t id, uint32_t len)
{
	vq->desc[id].len = len;
	vq->posted[id] = 1;
	vq->avail->ring[vq->avail_idx & (vq->size - 1)] = id;
	vq->avail_idx++;
}

/** Make posted buffers visible: descriptors and ring entries before the index. */
static inline void
fe_vq_publish(struct fe_vq *vq)
{
	__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
}

/** Avail index as the driver last published it (for threads other than the data thread). */
static inline uint16_t
fe_vq_avail_idx(const struct fe_vq *vq)
{
	return __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
}

/** Used index as the device last wrote it. */
static inline uint16_t
fe_vq_used_idx(const struct fe_vq *vq)
{
	return __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
}

/** Does the device want kicks (VRING_USED_F_NO_NOTIFY clear)? */
static inline bool
fe_vq_wants_kick(const struct fe_vq *vq)
{
	return !(__atomic_load_n(&vq->used->flags, __ATOMIC_ACQUIRE) &
		 FE_VRING_USED_F_NO_NOTIFY);
}

/** Notify the device through the kick eventfd. */
void fe_vq_kick(struct fe_vq *vq);

/** Ask for (or suppress) used-buffer notifications (call eventfd writes). */
void fe_vq_set_interrupts(struct fe_vq *vq, bool on);

/** Read and reset the call eventfd counter (0 if none since last read). */
uint64_t fe_vq_drain_call(struct fe_vq *vq);

#endif /* FE_RING_H */
