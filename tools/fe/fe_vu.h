/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef FE_VU_H
#define FE_VU_H

/**
 * @file
 * vhost-user front-end side of one connection: framing, fd passing, replies with a
 * timeout, and one typed helper per message. Written from the protocol description
 * (QEMU docs/interop/vhost-user.rst); nothing here knows about virtio-net.
 */

#include <stdbool.h>
#include <stdint.h>

/* Front-end requests (wire values). */
enum {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_SET_SLAVE_REQ_FD = 21,
	VU_GET_CONFIG = 24,
	VU_SET_STATUS = 39,
	VU_GET_STATUS = 40,
	VU_SET_DEVICE_STATE_FD = 42,
	VU_CHECK_DEVICE_STATE = 43,
};

/* Header flags. */
#define VU_FLAG_VERSION    0x1
#define VU_FLAG_REPLY      0x4
#define VU_FLAG_NEED_REPLY 0x8

/* Protocol feature bits. */
#define VU_PF_MQ           0
#define VU_PF_REPLY_ACK    3
#define VU_PF_SLAVE_REQ    5  /* back-end request channel */
#define VU_PF_CONFIG       9
#define VU_PF_STATUS       16
#define VU_PF_DEVICE_STATE 19

/* Back-end (slave) requests on the back-end channel. */
#define VU_BACKEND_CONFIG_CHANGE 2

/* Virtio / vhost feature bits the front end cares about. */
#define FE_F_MQ              22
#define FE_F_PROTOCOL        30 /* VHOST_USER_F_PROTOCOL_FEATURES */
#define FE_F_VERSION_1       32

#define VU_VRING_NOFD        (1u << 8)
#define VU_MAX_REGIONS       8
#define VU_HDR_SIZE          12

/* SET_DEVICE_STATE_FD */
#define VU_STATE_SAVE        0
#define VU_STATE_LOAD        1
#define VU_PHASE_STOPPED     0
#define VU_STATE_REPLY_NOFD  (1ull << 8)

struct vu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uva;
	uint64_t mmap_offset;
};

struct vu_conn {
	int fd;                   /**< -1 when not connected */
	char path[108];
	unsigned int timeout_ms;  /**< every reply is awaited at most this long */
	uint64_t features;        /**< offered by the backend (GET_FEATURES) */
	uint64_t proto_offered;   /**< GET_PROTOCOL_FEATURES (0 if not offered) */
	uint64_t proto;           /**< negotiated protocol features */
	uint64_t nmsgs;           /**< messages sent */
	int backend_fd;           /**< our end of the back-end channel; -1 if none */
	uint64_t config_changes;  /**< CONFIG_CHANGE_MSG received on it */
};

/** Protocol feature negotiated? */
static inline bool
vu_has(const struct vu_conn *c, unsigned int pf)
{
	return (c->proto >> pf) & 1;
}

/**
 * Connect to a backend listening on @p path. Retries @p retries times, @p retry_ms apart
 * (the backend may still be starting). @return 0 or -errno (error text set).
 */
int vu_connect(struct vu_conn *c, const char *path, unsigned int retries,
	       unsigned int retry_ms, unsigned int timeout_ms);
void vu_close(struct vu_conn *c);

/**
 * Is the connection still up? Polls the socket without waiting: anything readable when
 * no reply is expected is either EOF (backend gone) or a message we never asked for.
 * @return 0 or -ECONNRESET (error text set).
 */
int vu_check_alive(struct vu_conn *c);

/** Send one message with optional fds. @return 0 or -errno. */
int vu_send(struct vu_conn *c, uint32_t req, uint32_t flags, const void *payload,
	    uint32_t size, const int *fds, int nfds);

/**
 * Receive the reply to @p req: at most @p max payload bytes into @p payload, its size in
 * @p size, the first fd passed along in @p fd (or -1). @return 0 or -errno.
 */
int vu_recv(struct vu_conn *c, uint32_t req, void *payload, uint32_t max, uint32_t *size,
	    int *fd);

/** Request whose reply is one u64 (GET_FEATURES, GET_STATUS, ...). */
int vu_get_u64(struct vu_conn *c, uint32_t req, uint64_t *val);

/**
 * Send a message that has no reply of its own. If REPLY_ACK is negotiated, NEED_REPLY is
 * set and the ack read: @p ack (may be NULL) gets it and a non-zero ack is returned as
 * -EREMOTEIO. Without REPLY_ACK, @p ack is set to 0.
 */
int vu_msg_ack(struct vu_conn *c, uint32_t req, const void *payload, uint32_t size,
	       const int *fds, int nfds, uint64_t *ack);

int vu_set_u64(struct vu_conn *c, uint32_t req, uint64_t val, uint64_t *ack);
int vu_set_vring_state(struct vu_conn *c, uint32_t req, uint32_t idx, uint32_t num,
		       uint64_t *ack);
int vu_set_vring_addr(struct vu_conn *c, uint32_t idx, uint64_t desc, uint64_t used,
		      uint64_t avail);
int vu_set_vring_fd(struct vu_conn *c, uint32_t req, uint32_t idx, int fd);
int vu_get_vring_base(struct vu_conn *c, uint32_t idx, uint32_t *num);
int vu_set_mem_table(struct vu_conn *c, const struct vu_region *r, const int *fds, int n);

/**
 * SET_DEVICE_STATE_FD. @p fd is the front end's end of a pipe handed to the backend.
 * @return 0 with @p reply (error byte + NOFD flag) and @p backend_fd (-1 unless the
 * backend returned an fd of its own), or -errno.
 */
int vu_set_device_state_fd(struct vu_conn *c, uint32_t dir, uint32_t phase, int fd,
			   uint64_t *reply, int *backend_fd);

/**
 * Give the backend a request channel (SET_SLAVE_REQ_FD with one end of a socketpair);
 * protocol feature SLAVE_REQ must be negotiated. @return 0 or -errno.
 */
int vu_open_backend_channel(struct vu_conn *c);

/**
 * Read what the backend sent on its request channel, waiting at most @p ms for the first
 * message (0: only what is there). Requests that want a reply get an ack of 0.
 * @return how many CONFIG_CHANGE_MSG arrived (also added to c->config_changes), or -errno.
 */
int vu_backend_poll(struct vu_conn *c, unsigned int ms);

/** Human name of a request, for messages. */
const char *vu_req_name(uint32_t req);

#endif /* FE_VU_H */
