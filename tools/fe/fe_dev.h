/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef FE_DEV_H
#define FE_DEV_H

/**
 * @file
 * One vhost-user device as the driver sees it: bring-up over a connection (features,
 * memory, rings, status), the driver side of the stop contract (DEVICE_STOPPED, SUSPEND,
 * GET_VRING_BASE, SET_VRING_ENABLE), and device state save/load. The control thread
 * calls these; the data thread (fe_net) keeps running underneath.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fe_net.h"
#include "fe_vu.h"

#define FE_MAX_VRINGS 256

struct fe_dev_opts {
	unsigned int msg_timeout_ms;  /**< every reply */
	unsigned int connect_retries;
	unsigned int retry_ms;
	unsigned int deadline_ms;     /**< a stop (or resume) must show within this */
	bool no_device_stop;          /**< never negotiate VIRTIO_F_DEVICE_STOP (42) */
	bool no_suspend;              /**< never negotiate VIRTIO_F_SUSPEND (43) */
	bool force_stop_bit;          /**< write a stop bit even if not negotiated */
	bool no_cancel;               /**< on a missed deadline, do not cancel the stop */
};

enum fe_stop_kind {
	FE_STOP_AUTO = 0,    /**< DEVICE_STOPPED if negotiated, else SUSPEND, else VRING_BASE */
	FE_STOP_STOPPED,     /**< status DEVICE_STOPPED (R4..R9) */
	FE_STOP_SUSPEND,     /**< status SUSPEND (S2, S3) */
	FE_STOP_VRING_BASE,  /**< GET_VRING_BASE on every ring (V1), restart = V3 */
	FE_STOP_ENABLE,      /**< SET_VRING_ENABLE 0 on every ring (V2) */
};

struct fe_stop_res {
	uint64_t ns;         /**< request -> shown (or last reply) */
	unsigned int polls;  /**< status reads until shown */
	bool first_shown;    /**< the very first read already showed it (R6: allowed) */
	uint8_t status;      /**< status read when done */
};

struct fe_dev {
	struct vu_conn vu;
	struct fe_net *net;
	const struct fe_dev_opts *o;
	unsigned int nqp;
	uint64_t features;    /**< negotiated */
	uint8_t status;       /**< what the driver last wrote, stop bits excluded */
	uint32_t queue_num;   /**< GET_QUEUE_NUM (0 if unknown) */
	uint32_t bases[FE_MAX_VRINGS]; /**< last GET_VRING_BASE answers (wire form) */
	uint16_t base_cnt[FE_MAX_VRINGS]; /**< the same as ring positions (fe_ring.h counts) */
	bool bases_valid;
	enum fe_stop_kind stopped; /**< how it is stopped now (AUTO = running) */
};

static inline bool
fe_dev_has(const struct fe_dev *d, unsigned int bit)
{
	return (d->features >> bit) & 1;
}

static inline unsigned int
fe_dev_nvrings(const struct fe_dev *d)
{
	return 2 * d->nqp;
}

/**
 * Connect and negotiate: features (VERSION_1, PROTOCOL_FEATURES, MQ when more than one
 * pair, DEVICE_STOP and SUSPEND when offered), protocol features, SET_OWNER, then status
 * ACKNOWLEDGE|DRIVER and FEATURES_OK. Features in @p drop are never negotiated; features
 * in @p need must be offered (migration destination) or it fails.
 */
int fe_dev_open(struct fe_dev *d, struct fe_net *net, const char *path,
		const struct fe_dev_opts *o, uint64_t drop, uint64_t need);
/** SET_MEM_TABLE: the one guest memory region. */
int fe_dev_set_mem(struct fe_dev *d);
/**
 * Set every ring up (NUM, BASE, ADDR, KICK, CALL, ENABLE 1). @p bases per vring, or NULL
 * to start each ring at the used index the driver sees in memory.
 */
int fe_dev_rings(struct fe_dev *d, const uint32_t *bases);
/** Write DRIVER_OK and wait (deadline) until the status shows it. */
int fe_dev_driver_ok(struct fe_dev *d);
/** open + set_mem + rings + driver_ok. */
int fe_dev_start(struct fe_dev *d, struct fe_net *net, const char *path,
		 const struct fe_dev_opts *o, uint64_t drop);
void fe_dev_close(struct fe_dev *d);

int fe_dev_get_status(struct fe_dev *d, uint8_t *st);
/** Raw status write; REPLY_ACK (if negotiated) in @p ack. */
int fe_dev_set_status(struct fe_dev *d, uint8_t st, uint64_t *ack);

/** Resolve FE_STOP_AUTO for this device. */
enum fe_stop_kind fe_dev_stop_kind(const struct fe_dev *d, enum fe_stop_kind k);
const char *fe_stop_kind_name(enum fe_stop_kind k);
/**
 * Stop the device, timed. @return 0; -ETIME when the stop did not show within the
 * deadline (then it is cancelled, R11, unless no_cancel); another -errno on a message
 * failure (-ETIMEDOUT: no reply at all, -ECONNRESET: backend gone).
 */
int fe_dev_stop(struct fe_dev *d, enum fe_stop_kind k, struct fe_stop_res *r);
/** Undo fe_dev_stop of the same kind, timed. */
int fe_dev_resume(struct fe_dev *d, enum fe_stop_kind k, struct fe_stop_res *r);
/**
 * GET_VRING_BASE on every ring into d->bases (and d->base_cnt). A packed answer whose
 * bits 16-31 (used slot and wrap counter) are set and differ from bits 0-15 is an error:
 * a stopped device has nothing in flight (R5, P1).
 */
int fe_dev_get_bases(struct fe_dev *d);
/** GET_VRING_BASE on one ring, checked and converted as above. */
int fe_dev_get_base(struct fe_dev *d, unsigned int vring);
/** "split" or "packed". */
const char *fe_dev_layout(const struct fe_dev *d);
/** SET_VRING_ENABLE on one ring. */
int fe_dev_enable_ring(struct fe_dev *d, unsigned int vring, bool on);

/** Device state (M2): save through SET_DEVICE_STATE_FD(SAVE) + CHECK. Caller frees. */
int fe_dev_save_state(struct fe_dev *d, uint8_t **blob, size_t *len);
/** Load through SET_DEVICE_STATE_FD(LOAD) + CHECK; @p check gets the CHECK answer. */
int fe_dev_load_state(struct fe_dev *d, const uint8_t *blob, size_t len, uint64_t *check);

/** Decode a status byte for messages. */
const char *fe_status_str(uint8_t st, char *buf, size_t len);

#endif /* FE_DEV_H */
