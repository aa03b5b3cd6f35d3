/* SPDX-License-Identifier: BSD-3-Clause */
/* Guest memory and virtqueue layout, driver side (packed specifics: fe_ring_packed.c). */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fe.h"
#include "fe_ring.h"

/* A realistic, non-zero guest physical base: address 0 must never look valid. */
#define FE_GPA_BASE 0x40000000ull

int
fe_mem_init(struct fe_mem *m, uint64_t size)
{
	long pg = sysconf(_SC_PAGESIZE);

	memset(m, 0, sizeof(*m));
	size = (size + pg - 1) & ~((uint64_t)pg - 1);
	m->fd = memfd_create("vstop-fe-guest", MFD_CLOEXEC);
	if (m->fd < 0)
		return fe_err(-errno, "memfd_create: %s", strerror(errno));
	if (ftruncate(m->fd, size) != 0) {
		int err = errno;

		close(m->fd);
		return fe_err(-err, "ftruncate guest memory: %s", strerror(err));
	}
	m->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, m->fd, 0);
	if (m->base == MAP_FAILED) {
		int err = errno;

		close(m->fd);
		return fe_err(-err, "mmap guest memory: %s", strerror(err));
	}
	m->size = size;
	m->gpa0 = FE_GPA_BASE;
	return 0;
}

void
fe_mem_fini(struct fe_mem *m)
{
	if (m->base)
		munmap(m->base, m->size);
	if (m->fd >= 0)
		close(m->fd);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

void *
fe_mem_alloc(struct fe_mem *m, uint64_t size, uint64_t align)
{
	uint64_t off = (m->off + align - 1) & ~(align - 1);
	void *p;

	if (off + size > m->size)
		return NULL;
	p = m->base + off;
	m->off = off + size;
	memset(p, 0, size);
	return p;
}

int
fe_vq_init(struct fe_vq *vq, struct fe_mem *m, uint16_t index, uint16_t size,
	   uint32_t buf_len, bool device_writes, bool packed)
{
	uint16_t i;
	int ret;

	memset(vq, 0, sizeof(*vq));
	vq->kickfd = vq->callfd = -1;
	if (size == 0 || (size & (size - 1)) || size > 32768)
		return fe_err(-EINVAL, "ring size %u is not a power of 2 <= 32768", size);
	vq->index = index;
	vq->size = size;
	vq->device_writes = device_writes;
	vq->buf_len = buf_len;
	vq->packed = packed;
	if (packed) {
		ret = fe_vq_packed_layout(vq, m);
		if (ret)
			return ret;
		goto fds;
	}
	/* Alignments of the split ring (virtio 1.x 2.7): 16, 2, 4; pages are simpler. */
	vq->desc = fe_mem_alloc(m, sizeof(*vq->desc) * size, 4096);
	vq->avail = fe_mem_alloc(m, sizeof(*vq->avail) + sizeof(uint16_t) * (size + 1), 4096);
	vq->used = fe_mem_alloc(m, sizeof(*vq->used) +
				sizeof(struct fe_vring_used_elem) * size + 2, 4096);
	vq->bufs = fe_mem_alloc(m, (uint64_t)buf_len * size, 4096);
	if (!vq->desc || !vq->avail || !vq->used || !vq->bufs)
		return fe_err(-ENOMEM, "guest memory too small for ring %u", index);
	vq->free_ids = calloc(size, sizeof(*vq->free_ids));
	vq->posted = calloc(size, 1);
	if (!vq->free_ids || !vq->posted)
		return fe_err(-ENOMEM, "out of memory");
	for (i = 0; i < size; i++) {
		vq->desc[i].addr = fe_mem_gpa(m, fe_vq_buf(vq, i));
		vq->desc[i].len = buf_len;
		vq->desc[i].flags = device_writes ? FE_VRING_DESC_F_WRITE : 0;
		vq->free_ids[i] = size - 1 - i;
	}
	vq->nfree = size;
fds:
	vq->kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vq->callfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vq->kickfd < 0 || vq->callfd < 0)
		return fe_err(-errno, "eventfd: %s", strerror(errno));
	return 0;
}

void
fe_vq_fini(struct fe_vq *vq)
{
	free(vq->free_ids);
	free(vq->posted);
	free(vq->slot_id);
	if (vq->kickfd >= 0)
		close(vq->kickfd);
	if (vq->callfd >= 0)
		close(vq->callfd);
	memset(vq, 0, sizeof(*vq));
	vq->kickfd = vq->callfd = -1;
}

void
fe_vq_kick(struct fe_vq *vq)
{
	uint64_t one = 1;

	/* Order the avail index store before the notification (it is a syscall anyway). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (write(vq->kickfd, &one, sizeof(one)) == sizeof(one))
		vq->kicks++;
}

void
fe_vq_set_interrupts(struct fe_vq *vq, bool on)
{
	uint16_t f = on ? 0 : FE_VRING_AVAIL_F_NO_INTERRUPT;

	if (vq->packed) {
		__atomic_store_n(&vq->drv_event->flags, on ? FE_RING_EVENT_FLAGS_ENABLE :
				 FE_RING_EVENT_FLAGS_DISABLE, __ATOMIC_RELEASE);
		return;
	}
	__atomic_store_n(&vq->avail->flags, f, __ATOMIC_RELEASE);
}

uint64_t
fe_vq_drain_call(struct fe_vq *vq)
{
	uint64_t v = 0;

	if (read(vq->callfd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

void
fe_vq_addrs(const struct fe_vq *vq, uint64_t *desc, uint64_t *used, uint64_t *avail)
{
	/* Front-end virtual addresses (no IOMMU negotiated). */
	if (vq->packed) {
		*desc = (uintptr_t)vq->pdesc;
		*used = (uintptr_t)vq->dev_event;
		*avail = (uintptr_t)vq->drv_event;
	} else {
		*desc = (uintptr_t)vq->desc;
		*used = (uintptr_t)vq->used;
		*avail = (uintptr_t)vq->avail;
	}
}

uint32_t
fe_vq_base_wire(const struct fe_vq *vq, uint16_t c)
{
	if (!vq->packed)
		return c;
	return (c & (vq->size - 1)) | (uint32_t)fe_vq_wrap(vq, c) << 15;
}

int
fe_vq_base_count(const struct fe_vq *vq, uint32_t wire, uint16_t near, uint16_t *c,
		 char *why, size_t wlen)
{
	uint32_t slot = wire & 0x7fff, period = 2u * vq->size, hi = wire >> 16;
	bool w = (wire >> 15) & 1;
	uint16_t cand;
	int32_t d;

	if (!vq->packed) {
		*c = (uint16_t)wire;
		return 0;
	}
	if (slot >= vq->size) {
		snprintf(why, wlen, "ring %u: base 0x%08x names slot %u of a %u-entry ring",
			 vq->index, wire, slot, vq->size);
		return -ERANGE;
	}
	if (hi && hi != (wire & 0xffff)) {
		snprintf(why, wlen, "ring %u: base 0x%08x: used slot %u wrap %u but avail slot %u wrap %u: buffers in flight after a stop (R5, P1)",
			 vq->index, wire, hi & 0x7fff, hi >> 15, slot, w);
		return -EPROTO;
	}
	/* Any position with this slot and wrap counter, then the nearest to @p near. */
	cand = (near & ~(uint16_t)(vq->size - 1)) | slot;
	if (fe_vq_wrap(vq, cand) != w)
		cand += vq->size;
	d = (uint16_t)(cand - near) % period;
	if (d >= (int32_t)vq->size)
		d -= period;
	*c = near + d;
	return 0;
}
