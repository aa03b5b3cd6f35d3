/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_CTL_H
#define VS_CTL_H

/**
 * @file
 * The control lcore: the single owner of all device state, and the stop engine.
 *
 * Any thread (librte_vhost's message thread, the console, the control socket, tests)
 * posts ops to a multi-producer rte_ring; one control lcore runs them one at a time
 * through one ops table that mirrors vDPA's config ops (set/get status, suspend, resume,
 * reset, get/set vq state, set vq ready, get/set config). A caller may wait for an op's
 * completion with a timeout; no caller ever waits on a lock the data plane holds.
 *
 * Vocabulary:
 *  - device: something with a virtio status register that can be stopped (a vhost-user
 *    port). Its transport supplies struct vs_backend_ops.
 *  - stream: one unit of fast-path work owned by one polling lcore, e.g. "burst from
 *    device 0 vq 1, forward to port 1 queue 0". A stream names the device/vq it reads
 *    (rx side) and the one it writes (tx side); either side may be VS_DEV_NONE (a plain
 *    ethdev that is never stopped).
 *  - publish: the control lcore computes, per polling lcore, the list of streams that may
 *    run now and swaps it in. A stream runs (fn) iff every device it names is attached,
 *    running and its vq enabled. If only its tx device is stopped and it has a park
 *    handler, the park handler runs instead (e.g. hold frames for a stopped guest, M1).
 *  - stop: unpublish, wait one epoch (rte_rcu_qsbr) so no lcore still runs a removed
 *    stream, drain (backend), freeze config and notifications, save vq state, then show
 *    the status bit. Resume re-publishes; no epoch is needed to add streams.
 */

#include <stdbool.h>
#include <stdint.h>

#include "vs_poller.h"
#include "vs_status.h"

#define VS_DEV_NONE     UINT16_MAX
#define VS_MAX_DEVS     1024 /**< librte_vhost's RTE_MAX_VHOST_DEVICE */
#define VS_MAX_VQS      128 /**< per device (64 queue pairs) */
#define VS_MAX_POLLERS  64
#define VS_DEV_NAME_LEN 64

struct vs_ctl;

/** Saved position of one virtqueue (split ring): what GET/SET_VRING_BASE carry. */
struct vs_vq_state {
	uint16_t avail_idx; /**< next avail entry the device will read (last_avail_idx) */
	uint16_t used_idx;  /**< next used entry the device will write */
};

/** Device config the engine manages (virtio-net config space subset). */
struct vs_dev_config {
	uint8_t mac[6];
	uint16_t status;  /**< VIRTIO_NET_S_LINK_UP = 1 */
	uint16_t mtu;
	uint16_t max_vq_pairs;
};

/**
 * What a transport does for the engine. Every callback runs on the control lcore, one at
 * a time, never while a polling lcore may run a stream of the device (except where said).
 * Any callback may be NULL.
 */
struct vs_backend_ops {
	/**
	 * R5: complete what is in flight once no stream of the device runs (after the epoch).
	 * @return 0 when done, -EAGAIN to be called again on the next control-loop pass,
	 *         another negative errno to fail the stop (reported like a missed deadline).
	 */
	int (*drain)(void *priv);
	/** Read one vq's position (V1). @return 0 or -errno. */
	int (*get_vq_state)(void *priv, uint16_t vq, struct vs_vq_state *st);
	/** Set one vq's position before it runs again (V3, M1). @return 0 or -errno. */
	int (*set_vq_state)(void *priv, uint16_t vq, const struct vs_vq_state *st);
	/** Send a config-change notification to the driver (never called while stopped: R7). */
	void (*config_changed)(void *priv);
	/** The device just showed its stop bit and its waiters were answered (informational). */
	void (*stopped)(void *priv);
	/** Called before streams are re-published on resume (e.g. deliver held frames). */
	int (*resume)(void *priv);
	/** Status written 0 / RESET_OWNER: forget device state other than vq indices (R2, V5). */
	void (*reset)(void *priv);
};

/** Counters and last measures of one device. Read with vs_ctl_dev_info(). */
struct vs_dev_info {
	char name[VS_DEV_NAME_LEN];
	uint8_t status_shown;    /**< what a status read returns now */
	uint8_t status_base;
	uint8_t stop_kind;       /**< enum vs_stop_kind */
	uint8_t run_state;       /**< enum vs_run_state */
	bool attached;
	bool quiesced;           /**< streams unpublished (stopping, stopped, reset or detached) */
	uint16_t nb_vqs;
	uint64_t features;
	struct vs_dev_config config;       /**< what the driver sees */
	bool config_pending;               /**< a change waits for resume (R7) */
	uint64_t stops;                    /**< stops completed */
	uint64_t resumes;
	uint64_t cancels;                  /**< R11 cancels */
	uint64_t merged;                   /**< R12 merged requests */
	uint64_t refused;                  /**< R10 refused writes */
	uint64_t deadline_misses;          /**< R11 */
	uint64_t resets;
	uint64_t last_stop_ns;             /**< request -> bit shown, wall time */
	/**
	 * Loop iterations the slowest owning poller went through between the request (its
	 * streams unpublished) and the control-loop pass that saw the barrier passed (the epoch
	 * waits for the slowest; the design bounds this by 2, plus the passes of an empty
	 * loop during the control lcore's own detection time).
	 */
	uint64_t last_stop_iters;
	uint64_t last_stop_iters_max;      /**< same, fastest owning poller */
	uint64_t stop_hist[8];             /**< stop latency: <10us <100us <1ms <10ms <100ms <1s <10s more */
};

/**
 * Engine-wide counters (E1). Read lock-free with vs_ctl_engine_stats(); each is written
 * by the control lcore only.
 */
struct vs_engine_stats {
	uint64_t epochs;           /**< epoch tokens started: one per publish that swapped lists */
	uint64_t passes;           /**< control-loop passes that ran at least one op */
	uint64_t ops;              /**< ops run */
	uint64_t batches;          /**< stop batches: passes that began at least one stop */
	uint64_t last_batch_stops; /**< stops begun in the last batch that completed */
	/** That batch: first stop request taken to the last bit shown (engine time). */
	uint64_t last_batch_ns;
	/** Epoch tokens started from the batch's pass to its last bit shown (E1: 1). */
	uint64_t last_batch_epochs;
	uint64_t max_batch_stops;  /**< largest completed batch */
};

/** Op types: the ops table of the engine (vDPA-like). */
enum vs_op_type {
	VS_OP_NOP = 0,
	VS_OP_DEV_ADD,       /**< register a device (in: dev_add) -> result = dev id */
	VS_OP_DEV_DEL,       /**< forget a device (must be detached) */
	VS_OP_ATTACH,        /**< the transport's queues exist (vhost new_device) */
	VS_OP_DETACH,        /**< completes only after the epoch: no stream runs (V4) */
	VS_OP_SET_FEATURES,  /**< negotiated features (in: features) */
	VS_OP_SET_STATUS,    /**< a driver's status write (in: status) -> 0 or -EPERM (R10) */
	VS_OP_GET_STATUS,    /**< -> out status */
	VS_OP_STOP,          /**< same as writing DEVICE_STOPPED; completes when stopped */
	VS_OP_SUSPEND,       /**< same as writing SUSPEND; completes when suspended */
	VS_OP_RESUME,        /**< clear the stop (R9/S3); completes when running */
	VS_OP_RESET,         /**< status 0 (R2, V5): quiesce, keep vq indices */
	VS_OP_QUIESCE,       /**< unpublish and wait the epoch, status untouched (V1 GET_VRING_BASE) */
	VS_OP_GET_VQ_STATE,  /**< (vq) -> out vq_state; device must be quiesced */
	VS_OP_SET_VQ_STATE,  /**< (vq, vq_state) */
	VS_OP_SET_VQ_READY,  /**< (vq, ready): V2; ready=0 completes after the epoch */
	VS_OP_GET_CONFIG,    /**< -> out config (what the driver sees) */
	VS_OP_SET_CONFIG,    /**< (config): applied now, or after resume if stopped (R7) */
	VS_OP_STREAM_ADD,    /**< (stream) -> result = stream id */
	VS_OP_STREAM_DEL,    /**< (stream id); completes after the epoch */
	VS_OP_GET_INFO,      /**< -> out info */
	VS_OP_CALL,          /**< run fn(ctl, arg) on the control lcore (transport extras) */
	/**
	 * The transport found the device broken (e.g. a driver that lies about its rings):
	 * DEVICE_NEEDS_RESET is shown at once and the device's streams are taken off as for
	 * VS_OP_QUIESCE; completes after the epoch. Only a reset (status 0) clears the bit;
	 * the streams return when the driver sets DRIVER_OK again or the transport
	 * re-attaches.
	 */
	VS_OP_SET_NEEDS_RESET,
	/**
	 * Undo a VS_OP_QUIESCE: the device's streams run again if nothing else keeps them
	 * off (a takeover that failed: U2). A device that needs a reset stays quiesced.
	 */
	VS_OP_UNQUIESCE,
	VS_OP__MAX
};

/** A stream as registered with VS_OP_STREAM_ADD. */
struct vs_stream {
	vs_stream_fn fn;        /**< runs while both sides are running */
	vs_stream_fn park;      /**< optional: runs while only the tx device is stopped */
	void *arg;
	uint16_t poller;        /**< index of the owning polling lcore */
	uint16_t rx_dev, rx_vq; /**< VS_DEV_NONE: not a stoppable device */
	uint16_t tx_dev, tx_vq;
};

struct vs_dev_add {
	const char *name;
	const struct vs_backend_ops *ops;
	void *priv;
	uint16_t nb_vqs;
	struct vs_dev_config config;
};

/** An op. Allocate with vs_op_alloc(); filled by the caller, run by the control lcore. */
struct vs_op {
	uint16_t type;          /**< enum vs_op_type */
	uint16_t dev;
	uint16_t vq;
	union {
		uint8_t status;
		uint64_t features;
		bool ready;
		struct vs_vq_state vq_state;
		struct vs_dev_config config;
		struct vs_stream stream;
		uint32_t stream_id;
		struct vs_dev_add dev_add;
		struct {
			int (*fn)(struct vs_ctl *ctl, void *arg);
			void *arg;
		} call;
	} in;
	union {
		uint8_t status;
		struct vs_vq_state vq_state;
		struct vs_dev_config config;
		struct vs_dev_info info;
	} out;
	int result;             /**< 0 or -errno, valid once complete */
	/* private to vs_ctl.c */
	uint32_t state_;
	uint64_t token_;
	struct vs_op *next_;
	int efd_;
};

/** Engine parameters. */
struct vs_ctl_params {
	unsigned int nb_pollers;     /**< polling lcores, 1..VS_MAX_POLLERS */
	unsigned int ring_size;      /**< op ring slots (power of 2), default 4096 */
	uint64_t stop_timeout_ns;    /**< R11 deadline, default 1 s */
	/**
	 * How long vs_ctl_main() spins while a stop is under way before it yields its core,
	 * default 0 (yield at once). Worth it only if no polling lcore shares the control
	 * lcore's core: the barrier then passes within microseconds, and a yield would hand
	 * a CPU-bound neighbour its whole time slice. On a shared core the spin only delays
	 * the polling lcore the barrier waits for.
	 */
	uint64_t busy_spin_ns;
};

/**
 * Create an engine: op ring, epoch variable (rte_rcu_qsbr) and one struct vs_poller per
 * polling lcore, every poller registered (offline until it calls vs_poller_online()).
 * Works with or without rte_eal_init(). Any thread, before anything else.
 * @return the engine, or NULL with errno set.
 */
struct vs_ctl *vs_ctl_create(const struct vs_ctl_params *params);

/** Free an engine whose control loop and polling lcores have stopped. Any thread. */
void vs_ctl_free(struct vs_ctl *ctl);

/** Poller @p idx (for the polling lcore that runs it). Any thread. */
struct vs_poller *vs_ctl_poller(struct vs_ctl *ctl, unsigned int idx);

/** Name of an op type, for logs. Any thread. */
const char *vs_op_name(unsigned int type);

/**
 * A zeroed op of @p type on device @p dev. Any thread (control plane; uses malloc).
 * @return NULL if out of memory or @p type is not a valid op.
 */
struct vs_op *vs_op_alloc(unsigned int type, uint16_t dev);

/**
 * Post @p op; the engine frees it when done and nobody waits for it. Any thread.
 * @return 0, or -ENOBUFS if the ring is full (the op is freed).
 */
int vs_ctl_post(struct vs_ctl *ctl, struct vs_op *op);

/**
 * Post @p op and wait until it completes or @p timeout_ms passes (negative: forever).
 * On completion the caller owns @p op again (read out/result, then vs_op_free()).
 * On timeout the engine takes @p op over and frees it later: do not touch it again.
 * Any thread except the control lcore.
 * @return op->result, -ETIMEDOUT, or -ENOBUFS (ring full; caller still owns op).
 */
int vs_ctl_call(struct vs_ctl *ctl, struct vs_op *op, int timeout_ms);

/**
 * Post @p op without waiting; the caller keeps it and must later vs_ctl_wait() for it
 * (or poll vs_op_done()). Any thread (the control lcore itself only in tests that drive
 * vs_ctl_run_once() by hand). @return 0 or -ENOBUFS / -errno.
 */
int vs_ctl_submit(struct vs_ctl *ctl, struct vs_op *op);

/** True once a submitted op has completed (op->result and out are valid). Any thread. */
bool vs_op_done(const struct vs_op *op);

/**
 * Wait for a submitted op, as vs_ctl_call() does, with the same ownership rules: if it
 * is not done when @p timeout_ms runs out (0 included) the engine takes it over. To check
 * without giving it up, use vs_op_done(). Any thread except the control lcore.
 */
int vs_ctl_wait(struct vs_op *op, int timeout_ms);

/**
 * Post @p n ops as one: either all of them are queued, at once (the control lcore sees
 * all or none), or none is (-ENOBUFS). The caller keeps them, as with vs_ctl_submit().
 * Ops queued together are run in one control-loop pass: their stops share one epoch
 * barrier (E1). Any thread. @return 0 or -ENOBUFS / -errno.
 */
int vs_ctl_submit_bulk(struct vs_ctl *ctl, struct vs_op *const *ops, unsigned int n);

/** Engine counters, lock-free. Any thread. */
void vs_ctl_engine_stats(const struct vs_ctl *ctl, struct vs_engine_stats *st);

/** Free an op the caller owns. */
void vs_op_free(struct vs_op *op);

/**
 * One pass of the control loop: run every queued op, advance stops under way (epoch,
 * drain, deadline). Control lcore only (tests may call it from their own thread).
 * @return the number of ops run plus stops advanced (0 = nothing happened).
 */
int vs_ctl_run_once(struct vs_ctl *ctl);

/**
 * The control lcore's main loop: vs_ctl_run_once() until vs_ctl_quit(); sleeps on an
 * eventfd while nothing is queued or under way, so it costs no CPU at rest.
 * Control lcore only. Signature fits rte_eal_remote_launch().
 */
int vs_ctl_main(void *ctl);

/** Make vs_ctl_main() return. Any thread. */
void vs_ctl_quit(struct vs_ctl *ctl);

/**
 * Status a read returns now, without an op: what the control lcore last published.
 * Any thread; lock-free. Use for GET_STATUS on a hot message path and telemetry.
 */
uint8_t vs_ctl_status_shown(const struct vs_ctl *ctl, uint16_t dev);

/** Number of devices registered. Any thread. */
unsigned int vs_ctl_nb_devs(const struct vs_ctl *ctl);

/**
 * Shorthand for vs_op_alloc(VS_OP_GET_INFO) + vs_ctl_call(). Any thread but the control lcore.
 * @return 0 or -errno (-ENODEV: no such device).
 */
int vs_ctl_dev_info(struct vs_ctl *ctl, uint16_t dev, struct vs_dev_info *info, int timeout_ms);

/**
 * Convenience wrappers around vs_op_alloc() + vs_ctl_call() for the common ops; each
 * returns what vs_ctl_call() returns. Any thread but the control lcore.
 */
int vs_ctl_set_status(struct vs_ctl *ctl, uint16_t dev, uint8_t status, int timeout_ms);
int vs_ctl_get_status(struct vs_ctl *ctl, uint16_t dev, uint8_t *status, int timeout_ms);
int vs_ctl_simple(struct vs_ctl *ctl, unsigned int type, uint16_t dev, int timeout_ms);

/** Engine log type (registered as "vstop.ctl"). */
extern int vs_ctl_logtype;

#endif /* VS_CTL_H */
