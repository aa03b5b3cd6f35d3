/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packed virtqueue (VIRTIO_F_RING_PACKED, virtio 1.1+ section 2.8), driver side.
 *
 * One descriptor ring that both sides write. The driver makes buffer id available at
 * position c by writing {addr, len, id} into slot c % size and then, last, its flags:
 * AVAIL = the driver's avail wrap counter, USED = its inverse. The device returns a buffer
 * by writing {id, len} and flags AVAIL = USED = its used wrap counter into the next slot of
 * its own (used) sequence: used entries come in slot order, their ids in any order. The
 * driver reads the slot at its last_used position and takes it when both flag bits equal
 * its used wrap counter. Single-descriptor buffers: every buffer takes one slot on each
 * side, so the avail, used and consumed positions all advance by one per buffer and can
 * be kept as free-running 16-bit counts (fe_ring.h); wrap counter = !((c / size) & 1).
 *
 * Event suppression: the driver area (SET_VRING_ADDR "avail") holds the driver's wish
 * about used-buffer notifications, DISABLE unless a probe asks for calls; the device
 * area ("used") holds the device's wish about kicks, read before kicking.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fe.h"
#include "fe_ring.h"

int
fe_vq_packed_layout(struct fe_vq *vq, struct fe_mem *m)
{
	uint16_t i;

	/* Alignments (2.8.10.1): descriptor ring 16, event areas 4; pages are simpler. */
	vq->pdesc = fe_mem_alloc(m, sizeof(*vq->pdesc) * vq->size, 4096);
	vq->drv_event = fe_mem_alloc(m, sizeof(*vq->drv_event), 4096);
	vq->dev_event = fe_mem_alloc(m, sizeof(*vq->dev_event), 4096);
	vq->bufs = fe_mem_alloc(m, (uint64_t)vq->buf_len * vq->size, 4096);
	if (!vq->pdesc || !vq->drv_event || !vq->dev_event || !vq->bufs)
		return fe_err(-ENOMEM, "guest memory too small for ring %u", vq->index);
	vq->bufs_gpa = fe_mem_gpa(m, vq->bufs);
	vq->free_ids = calloc(vq->size, sizeof(*vq->free_ids));
	vq->posted = calloc(vq->size, 1);
	vq->slot_id = calloc(vq->size, sizeof(*vq->slot_id));
	if (!vq->free_ids || !vq->posted || !vq->slot_id)
		return fe_err(-ENOMEM, "out of memory");
	/*
	 * A zeroed slot has AVAIL = USED = 0: neither available nor used on the first lap
	 * (wrap counter 1). Positions past the published avail count are never looked at,
	 * so on later laps its old content cannot be taken for a used entry either.
	 */
	for (i = 0; i < vq->size; i++)
		vq->free_ids[i] = vq->size - 1 - i;
	vq->nfree = vq->size;
	return 0;
}

/*
 * Hand the posted descriptors over. The published count goes first, then the flags of
 * each new descriptor (release: its addr/len/id are visible before it is). A reader of
 * the count (fe_vq_packed_used_idx) that meets a slot whose flags are not written yet
 * sees the previous lap's content there, whose wrap counter is the other one: never
 * taken for used. Each single-descriptor buffer stands alone, so the order of the flag
 * stores among themselves does not matter to the device.
 */
void
fe_vq_packed_publish(struct fe_vq *vq)
{
	uint16_t c = vq->pub_avail, end = vq->avail_idx;
	uint16_t base = vq->device_writes ? FE_VRING_DESC_F_WRITE : 0;

	if (c == end)
		return;
	__atomic_store_n(&vq->pub_avail, end, __ATOMIC_RELEASE);
	for (; c != end; c++) {
		uint16_t f = base | (fe_vq_wrap(vq, c) ? FE_VRING_PACKED_DESC_F_AVAIL :
				     FE_VRING_PACKED_DESC_F_USED);

		__atomic_store_n(&vq->pdesc[c & (vq->size - 1)].flags, f, __ATOMIC_RELEASE);
	}
}

/* Data thread: end of the run of used descriptors from last_used (at most avail_idx). */
uint16_t
fe_vq_packed_used_end(const struct fe_vq *vq)
{
	uint16_t c = vq->last_used;

	while (c != vq->avail_idx && fe_vq_packed_is_used(vq, c))
		c++;
	return c;
}

/*
 * Any thread: the device's used position as guest memory shows it. There is no used
 * index in memory; the run of used slots from the driver's consumed position L (its
 * last_used) ends at it. The driver thread may consume and re-post meanwhile: a slot
 * at position p is rewritten (made available for p + size) only after the driver
 * consumed p, i.e. once L > p. So a scan from L1 that stops at S, S being not used
 * at its lap, is exact if the driver's L read afterwards is still <= S (slot S was not
 * re-posted, the device had not written it); otherwise it starts again from there.
 */
uint16_t
fe_vq_packed_used_idx(const struct fe_vq *vq)
{
	uint16_t l = __atomic_load_n(&vq->last_used, __ATOMIC_ACQUIRE);

	for (;;) {
		uint16_t a = __atomic_load_n(&vq->pub_avail, __ATOMIC_ACQUIRE), c = l, l2;

		while (c != a && fe_vq_packed_is_used(vq, c))
			c++;
		l2 = __atomic_load_n(&vq->last_used, __ATOMIC_ACQUIRE);
		if ((uint16_t)(c - l) >= (uint16_t)(l2 - l))
			return c;
		l = l2;
	}
}
