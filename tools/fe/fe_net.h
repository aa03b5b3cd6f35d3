/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef FE_NET_H
#define FE_NET_H

/**
 * @file
 * The virtio-net driver: queue pairs in guest memory, a data thread that sends
 * sequence-numbered frames on every tx ring and checks every frame that comes back on
 * the rx ring of the same pair (backend in loopback / macswap): exactly once, in order,
 * intact. It keeps running, and keeps kicking, whatever the control thread does to the
 * device (stop, migrate): a real guest does not stop sending because its NIC is migrated.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "fe_ring.h"

#define FE_NET_HDR_LEN   12     /* virtio_net_hdr with VERSION_1 (num_buffers included) */
#define FE_BUF_LEN       2048
#define FE_ETH_HLEN      14
#define FE_ETHERTYPE     0x88b5 /* IEEE local experimental */
#define FE_FRAME_MAGIC   0x45465356u /* "VSFE" */
#define FE_FRAME_MIN     (FE_ETH_HLEN + 16)
#define FE_FRAME_MAX     (FE_BUF_LEN - FE_NET_HDR_LEN)
#define FE_SEQ_WINDOW    65536  /* frames remembered per queue to tell late from dup */

struct fe_qstats {
	uint64_t sent;     /**< frames posted on tx */
	uint64_t txdone;   /**< tx buffers the device returned */
	uint64_t rcvd;     /**< distinct own frames received */
	uint64_t lost;     /**< gaps seen (a later frame arrived first), minus late arrivals */
	uint64_t dup;      /**< a frame received twice */
	uint64_t reord;    /**< a frame that arrived after a later one */
	uint64_t bad;      /**< corrupt frame, wrong length, wrong queue, bad used id */
	uint64_t foreign;  /**< not ours (another ethertype) */
};

struct fe_qp {
	uint16_t id;
	struct fe_vq rx;
	struct fe_vq tx;
	uint64_t next_seq;
	uint64_t expect;
	uint64_t *seen;       /**< bitmap of FE_SEQ_WINDOW seqs below expect */
	struct fe_qstats st;
	double tokens;
	uint64_t tok_ns;
	/* Migration mark (fe_net_arm_mark): control thread writes, data thread reads. */
	uint16_t mark_idx;       /**< rx used position of the destination's first frame */
	uint64_t mark_caught_ns; /**< data thread had taken every rx entry before mark_idx */
};

struct fe_net_cfg {
	unsigned int nqp;
	unsigned int ring_size;
	unsigned int frame_size;
	unsigned int flows;      /**< flow ids cycled through (carried, not checked) */
	uint64_t rate_pps;       /**< total, 0 = flat out */
	uint64_t count;          /**< frames per queue, 0 = unlimited */
	bool busy_poll;          /**< never sleep when idle */
	bool packed;             /**< packed virtqueues (VIRTIO_F_RING_PACKED) */
	uint64_t gap_log_ns;     /**< remember every receive gap longer than this (0: off) */
};

#define FE_GAP_LOG_MAX 65536

/** A receive gap (--gap-log): when it ended (CLOCK_MONOTONIC) and how long it was. */
struct fe_gap {
	uint64_t end_ns;
	uint64_t len_ns;
};

struct fe_net;
typedef void (*fe_net_tick_fn)(struct fe_net *net, void *arg);

struct fe_net {
	struct fe_net_cfg cfg;
	struct fe_mem mem;
	struct fe_qp *qp;
	pthread_t thr;
	bool started;
	/* Control -> data thread knobs (atomic ints). */
	int quit;
	int pause;        /**< post no new tx frames */
	int force_kick;   /**< kick every ring every 100 us, wanted or not (R8 probe) */
	int no_kick;      /**< never kick (R9 probe) */
	/* Migration mark (see fe_net_arm_mark). */
	int mark_armed;
	uint64_t mark_seen_ns;  /**< an rx used index read past its mark */
	uint64_t mark_rx_ns;    /**< the entry at a mark taken */
	uint64_t last_rx_ns;
	uint64_t max_rx_gap_ns;
	struct fe_gap *gaps;     /**< --gap-log: written by the data thread only */
	unsigned int nb_gaps;
	uint64_t loops;
	uint64_t last_force_ns;  /**< the poller's last forced kick (force_kick) */
	fe_net_tick_fn tick;  /**< called about once a second from the data thread */
	void *tick_arg;
};

int fe_net_init(struct fe_net *net, const struct fe_net_cfg *cfg);
void fe_net_fini(struct fe_net *net);
/** Post every rx buffer and start the data thread (paused if @p paused). */
int fe_net_start(struct fe_net *net, bool paused);
void fe_net_stop(struct fe_net *net);
/**
 * For a poller of one's own (vstop-fe --devices --traffic drives every device from one
 * thread): post every rx buffer, once, before the device is started; then call
 * fe_net_poll() from that one thread. @return of fe_net_poll: the work done (0: idle).
 */
void fe_net_post_rx(struct fe_net *net);
unsigned int fe_net_poll(struct fe_net *net, uint64_t now);

static inline void
fe_net_set(int *knob, int v)
{
	__atomic_store_n(knob, v, __ATOMIC_RELEASE);
}

/** Sum of all queues' counters. */
void fe_net_totals(const struct fe_net *net, struct fe_qstats *sum);
/** Frames sent and neither received nor known lost. */
uint64_t fe_net_inflight(const struct fe_net *net);
/**
 * Pause tx and wait until every frame in flight came back (or was declared lost),
 * at most @p timeout_ms. @return 0, or -ETIMEDOUT with frames still in flight.
 */
int fe_net_drain(struct fe_net *net, unsigned int timeout_ms);
/** Wait until at least @p n more own frames were received; @return 0 or -ETIMEDOUT. */
int fe_net_wait_rx(struct fe_net *net, uint64_t n, unsigned int timeout_ms);

/**
 * Arm the migration mark at rx used position @p rx_idx[q] of every pair q (the used index
 * the stopped source left: entries before it are the source's, the entry at it is the
 * destination's first). The data thread then timestamps, once, the first time it reads
 * an rx used index that moved past its mark (the device returned a frame, seen from
 * the data thread: fe_net_mark_seen), per pair the moment it has taken every entry before
 * the mark (caught up), and, once, the moment it takes an entry at a mark (the driver has
 * the destination's first frame).
 */
void fe_net_arm_mark(struct fe_net *net, const uint16_t *rx_idx);
void fe_net_disarm_mark(struct fe_net *net);
/** When the data thread saw a used index past its mark; 0 if not yet. */
static inline uint64_t
fe_net_mark_seen(const struct fe_net *net)
{
	return __atomic_load_n(&net->mark_seen_ns, __ATOMIC_ACQUIRE);
}
/**
 * Wait, at most @p timeout_ms, until the driver took the destination's first frame and
 * caught up on every pair. @return 0 (times in @p first, @p caught: the latest pair) or
 * -ETIMEDOUT (what was measured so far, 0 otherwise). The mark is disarmed either way.
 */
int fe_net_wait_mark(struct fe_net *net, unsigned int timeout_ms, uint64_t *first,
		     uint64_t *caught);

/**
 * Print the layout and how many laps the rings went round: "rings: packed, 4 x 2 of 64
 * entries; wrap counter flips: avail N (min M per ring), used N (min M)". For a split
 * ring a lap is the index passing a multiple of the ring size. After fe_net_stop.
 */
void fe_net_print_laps(const struct fe_net *net);

/** Interrupts (call eventfd writes by the device) on/off on every ring. */
void fe_net_set_interrupts(struct fe_net *net, bool on);

/** Ring index helpers: vhost-user vring numbers of queue pair q. */
static inline unsigned int fe_rxq_vring(unsigned int q) { return 2 * q; }
static inline unsigned int fe_txq_vring(unsigned int q) { return 2 * q + 1; }
/** The ring with vhost-user index @p vring. */
struct fe_vq *fe_net_vq(struct fe_net *net, unsigned int vring);

#endif /* FE_NET_H */
