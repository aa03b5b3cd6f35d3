/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_CTL_PRIVATE_H
#define VS_CTL_PRIVATE_H

/* Engine internals shared by vs_ctl.c, vs_ctl_ops.c and vs_publish.c. Control lcore only. */

#include <limits.h>

#include <rte_log.h>
#include <rte_ring.h>

#include "vs_ctl.h"

#define VS_MAX_STREAMS 8192

/* A token that the publish at the end of the current pass will give (batching). */
#define VS_TOKEN_PENDING UINT64_MAX

#define VS_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, vs_ctl_logtype, "vstop.ctl: " fmt "\n", ##__VA_ARGS__)

/* Where a device's quiesce (stop, suspend, reset, V1 quiesce) or resume is. */
enum vs_phase {
	VS_PHASE_IDLE = 0,
	VS_PHASE_QUIESCE_EPOCH, /* streams unpublished, waiting for every poller */
	VS_PHASE_DRAIN,         /* epoch passed, backend drain() not yet done */
	VS_PHASE_RESUME_EPOCH,  /* park streams unpublished before held frames go out */
};

/* Op completion states (vs_op.state_). */
enum { VS_OPS_PENDING = 0, VS_OPS_DONE, VS_OPS_ABANDONED, VS_OPS_ASYNC };

struct vs_op_list {
	struct vs_op *head;
};

struct vs_dev {
	bool used;
	char name[VS_DEV_NAME_LEN];
	const struct vs_backend_ops *ops;
	void *priv;
	uint16_t nb_vqs;
	uint8_t vq_ready[VS_MAX_VQS];

	struct vs_status_reg reg;
	bool attached;
	bool quiesce_req;      /* reset (V5) or V1 quiesce keeps streams off while "running" */
	bool resuming;         /* between a resume request and streams live again */
	uint8_t resume_base;   /* status base to store when the resume completes */

	enum vs_phase phase;
	uint64_t token;        /* epoch token the phase waits for */
	uint64_t t0_ns;        /* request time of the stop under way */
	uint64_t deadline_ns;
	bool deadline_reported;
	uint64_t owners;       /* bit p: poller p runs a stream that names the device */
	unsigned int nb_park;  /* streams with a park handler whose tx side is the device */
	struct vs_op_list quiesce_waiters; /* complete when the quiesce (and stop) is done */
	struct vs_op_list resume_waiters;

	struct vs_dev_config config;
	struct vs_dev_config config_pending;
	bool config_pending_set;

	uint8_t shown;         /* published status: read lock-free by any thread */
	bool status_dirty;     /* shown is to be published at the end of this pass */
	bool notify_stopped;   /* ops->stopped and the log line, after the pass */
	uint64_t batch;        /* E1: the stop batch (ctl->batch_seq) this stop began in */
	struct vs_dev_info stats; /* counters part of the info */
};

struct vs_retired {
	const struct vs_stream_list *list;
	uint64_t token;
};

struct vs_ctl {
	struct rte_ring *ring;
	int efd;               /* wakes the control lcore */
	volatile int quit;
	uint64_t stop_timeout_ns;
	uint64_t busy_spin_ns;  /* vs_ctl_params.busy_spin_ns */

	struct rte_rcu_qsbr *qsv;
	unsigned int nb_pollers;
	struct vs_poller *pollers;

	struct vs_dev devs[VS_MAX_DEVS];
	/*
	 * Per device, the owning pollers' loop counters when its stop began (UINT64_MAX: not
	 * an owner): VS_MAX_DEVS x nb_pollers, kept out of struct vs_dev so that a pass over
	 * many devices touches less memory.
	 */
	uint64_t *iters0;
	unsigned int devs_end;    /* 1 + the highest used device slot */
	struct vs_stream streams[VS_MAX_STREAMS];
	bool stream_used[VS_MAX_STREAMS];
	unsigned int streams_end; /* 1 + the highest used slot: loops over streams stop here */

	/* Lists waiting for their epoch; grows as needed: the control lcore never waits. */
	struct vs_retired *retired;
	unsigned int nb_retired, max_retired;
	uint64_t last_token;   /* token started by the last publish that removed something */
	struct vs_op_list epoch_waiters; /* ops that complete after their token (op->token_) */

	/*
	 * E1, batching: while a control-loop pass runs its ops (and again while it advances
	 * the devices), a publish only marks the lists dirty, status publications and op
	 * completions are queued, and the pass ends with one publish (one epoch token for
	 * everything the pass changed), then the statuses, then the completions, in that
	 * order (R9: streams before the bit; a caller sees its op done only after both).
	 */
	bool batching;
	bool publish_pending;
	uint64_t now_cache;    /* the pass's clock reading (vs_ctl_now), 0 = not read yet */
	/* The pollers' loop counters as this pass read them (each read is a cache miss on
	 * a line the poller writes): read once per pass, not once per device. */
	bool iters_valid;
	uint64_t epoch_seen;   /* every token up to this one has passed (per pass cache) */
	uint64_t iters_pass[VS_MAX_POLLERS];
	unsigned int nb_status_dirty;
	unsigned int nb_notify_stopped;
	struct vs_op *done_head, *done_tail; /* completions queued by this pass, in order */

	/* Engine counters (struct vs_engine_stats); written by the control lcore only. */
	struct vs_engine_stats es;
	unsigned int pass_stops;  /* stops begun in the pass under way */
	uint64_t pass_t0;         /* first of them */
	uint64_t batch_seq;       /* stop batches begun */
	unsigned int batch_left;  /* stops of the current batch not shown yet */
	unsigned int batch_size;
	uint64_t batch_t0, batch_epochs0;
};

uint64_t vs_now_ns(void);
/*
 * The clock for per-device times (stop start, bit shown, deadlines): read once per pass
 * while batching, so that a pass over 1024 devices does not read it 2048 times (a
 * kvm-clock read costs tens of ns). Stop times are then exact to within that pass.
 */
static inline uint64_t
vs_ctl_now(struct vs_ctl *ctl)
{
	if (!ctl->batching)
		return vs_now_ns();
	if (ctl->now_cache == 0)
		ctl->now_cache = vs_now_ns();
	return ctl->now_cache;
}

/* vs_ctl.c */
void vs_op_complete(struct vs_ctl *ctl, struct vs_op *op, int result);
void vs_op_list_push(struct vs_op_list *l, struct vs_op *op);
void vs_ctl_complete_queued(struct vs_ctl *ctl);
void vs_op_list_complete(struct vs_ctl *ctl, struct vs_op_list *l, int result);
void vs_dev_publish_status(struct vs_ctl *ctl, struct vs_dev *d);

/* vs_publish.c */
bool vs_dev_live(const struct vs_ctl *ctl, uint16_t dev);
int vs_publish(struct vs_ctl *ctl);
/* The token that covers the last vs_publish() (VS_TOKEN_PENDING while batching). */
uint64_t vs_publish_token(const struct vs_ctl *ctl);
/* End of a batch: publish once, resolve pending tokens, statuses, completions, notices. */
void vs_batch_flush(struct vs_ctl *ctl);
void vs_publish_release(struct vs_ctl *ctl);
bool vs_epoch_passed(struct vs_ctl *ctl, uint64_t token);
void vs_epoch_wait_op(struct vs_ctl *ctl, struct vs_op *op);
int vs_epoch_advance(struct vs_ctl *ctl);
void vs_dev_snapshot_iters(struct vs_ctl *ctl, uint16_t dev);
void vs_dev_owners_update(struct vs_ctl *ctl, uint16_t dev);
void vs_dev_iters_since(struct vs_ctl *ctl, uint16_t dev, uint64_t *slowest,
			uint64_t *fastest);
bool vs_dev_has_park(const struct vs_ctl *ctl, uint16_t dev);

/* vs_ctl_ops.c */
typedef int (*vs_op_handler)(struct vs_ctl *ctl, struct vs_op *op);
/* A handler returns 0/-errno (op done) or VS_OP_PENDING (the engine completes it later). */
#define VS_OP_PENDING INT_MAX /* never a valid result: results are ids >= 0 or -errno */
extern const vs_op_handler vs_op_table[VS_OP__MAX];
int vs_dev_advance(struct vs_ctl *ctl, uint16_t dev);

#endif /* VS_CTL_PRIVATE_H */
