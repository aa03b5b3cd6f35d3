/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VSTOP_VHOST_MSG_LAYOUT_H
#define VSTOP_VHOST_MSG_LAYOUT_H

/*
 * Mirror of librte_vhost 22.11's internal message context (lib/vhost/vhost_user.h:
 * struct vhu_msg_context = { VhostUserMsg msg; int fds[8]; int fd_num; }, packed), which
 * is what the extern pre_msg_handle's "void *msg" points at. The header is not installed,
 * so the layout is pinned here with static asserts; the offsets are those of v22.11.
 */

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

/* Master requests vstop looks at. */
#define VHU_GET_FEATURES           1
#define VHU_SET_FEATURES           2
#define VHU_RESET_OWNER            4
#define VHU_SET_MEM_TABLE          5
#define VHU_SET_VRING_BASE         10
#define VHU_GET_VRING_BASE         11
#define VHU_GET_QUEUE_NUM          17
#define VHU_SET_VRING_ENABLE       18
#define VHU_SET_SLAVE_REQ_FD       21
#define VHU_GET_CONFIG             24
#define VHU_SET_CONFIG             25
#define VHU_SET_STATUS             39
#define VHU_GET_STATUS             40
#define VHU_SET_DEVICE_STATE_FD    42 /* not known to librte_vhost 22.11 */
#define VHU_CHECK_DEVICE_STATE     43 /* idem */

#define VHU_FLAG_VERSION_MASK      0x3
#define VHU_FLAG_REPLY             (1u << 2)
#define VHU_FLAG_NEED_REPLY        (1u << 3)

/* Protocol feature bits (VHOST_USER_PROTOCOL_F_*). */
#define VHU_PROTO_F_LOG_SHMFD      1
#define VHU_PROTO_F_REPLY_ACK      3
#define VHU_PROTO_F_SLAVE_REQ      5
#define VHU_PROTO_F_CONFIG         9
#define VHU_PROTO_F_STATUS         16
#define VHU_PROTO_F_DEVICE_STATE   19

#define VHU_PAYLOAD_SIZE           632 /* largest member: VhostUserCryptoSessionParam */
#define VHU_MAX_FDS                8   /* VHOST_MEMORY_MAX_NREGIONS */

/* SET_DEVICE_STATE_FD payload and reply. */
#define VHU_STATE_DIR_SAVE         0
#define VHU_STATE_DIR_LOAD         1
#define VHU_STATE_PHASE_STOPPED    0
#define VHU_STATE_REPLY_NO_FD      (1ull << 8) /* back end uses the front end's fd */

struct vhu_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vhu_device_state {
	uint32_t transfer_direction;
	uint32_t migration_phase;
};

/* GET_CONFIG / SET_CONFIG payload (VhostUserConfig). */
#define VHU_CONFIG_HDR_SIZE        12
#define VHU_MAX_CONFIG_SIZE        256
struct __attribute__((packed)) vhu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[VHU_MAX_CONFIG_SIZE];
};

struct __attribute__((packed)) vhu_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;           /* payload bytes that follow */
	union {
		uint64_t u64;
		struct vhu_vring_state state;
		struct vhu_device_state dstate;
		struct vhu_config cfg;
		uint8_t raw[VHU_PAYLOAD_SIZE];
	} payload;
};

struct __attribute__((packed)) vhu_msg_ctx {
	struct vhu_msg msg;
	int fds[VHU_MAX_FDS];
	int fd_num;
};

static_assert(offsetof(struct vhu_msg, payload) == 12, "vhost-user header is 12 bytes");
static_assert(sizeof(((struct vhu_msg *)0)->payload) == VHU_PAYLOAD_SIZE,
	      "payload union size of librte_vhost 22.11");
static_assert(offsetof(struct vhu_msg_ctx, fds) == 644, "fds follow the message at 644");
static_assert(offsetof(struct vhu_msg_ctx, fd_num) == 644 + 4 * VHU_MAX_FDS,
	      "fd count follows the fds");
static_assert(sizeof(struct vhu_msg_ctx) == 680, "struct vhu_msg_context is 680 bytes");

#endif /* VSTOP_VHOST_MSG_LAYOUT_H */
