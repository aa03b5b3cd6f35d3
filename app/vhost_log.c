/* SPDX-License-Identifier: BSD-3-Clause */
/* Dirty-page logging for QEMU's packed rings: see vhost_log.h. */

#include <stdlib.h>

#include <linux/virtio_config.h>
#include <rte_vhost.h>

#include "vhost_log.h"
#include "vstop.h"

#ifndef VHOST_F_LOG_ALL
#define VHOST_F_LOG_ALL 26
#endif

/* The guest physical address of our mapping @p hva of guest memory; 0 if none. */
static uint64_t
hva_to_gpa(const struct rte_vhost_memory *mem, uint64_t hva)
{
	for (uint32_t i = 0; i < mem->nregions; i++) {
		const struct rte_vhost_mem_region *r = &mem->regions[i];

		if (hva >= r->host_user_addr && hva - r->host_user_addr < r->size)
			return r->guest_phys_addr + (hva - r->host_user_addr);
	}
	return 0;
}

uint64_t
vhost_log_packed_ring(int vid, uint16_t vq)
{
	struct rte_vhost_memory *mem = NULL;
	struct rte_vhost_vring vr;
	uint64_t features, desc_gpa, event_gpa, marked = 0;

	if (rte_vhost_get_negotiated_features(vid, &features) != 0 ||
	    !(features & (1ull << VIRTIO_F_RING_PACKED)) ||
	    !(features & (1ull << VHOST_F_LOG_ALL)))
		return 0;
	if (rte_vhost_get_vhost_vring(vid, vq, &vr) != 0 || vr.desc_packed == NULL ||
	    rte_vhost_get_mem_table(vid, &mem) != 0)
		return 0;
	desc_gpa = hva_to_gpa(mem, (uint64_t)(uintptr_t)vr.desc_packed);
	event_gpa = vr.device_event == NULL ? 0 :
		hva_to_gpa(mem, (uint64_t)(uintptr_t)vr.device_event);
	free(mem);
	if (desc_gpa != 0) {
		rte_vhost_log_write(vid, desc_gpa, (uint64_t)vr.size * sizeof(*vr.desc_packed));
		marked += (uint64_t)vr.size * sizeof(*vr.desc_packed);
	}
	if (event_gpa != 0) {
		rte_vhost_log_write(vid, event_gpa, sizeof(*vr.device_event));
		marked += sizeof(*vr.device_event);
	}
	VH_LOG(DEBUG, "vid %d vq %u: packed ring marked dirty: descriptors at 0x%" PRIx64
	       ", device area at 0x%" PRIx64 " (%" PRIu64 " bytes)", vid, vq, desc_gpa,
	       event_gpa, marked);
	return marked;
}
