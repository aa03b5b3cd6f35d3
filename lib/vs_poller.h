/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_POLLER_H
#define VS_POLLER_H

/**
 * @file
 * The polling lcore's side of the stop engine: read the list of streams this lcore runs,
 * and report a quiescent state once per loop iteration. That is all a polling lcore does
 * for stop support. Everything here is inline and meant for the fast path.
 *
 * A polling lcore's loop, top to bottom:
 *
 *     vs_poller_online(p);
 *     while (!quit) {
 *         const struct vs_stream_list *l = vs_poller_streams(p);
 *         for (i = 0; i < l->n; i++)
 *             l->s[i].fn(l->s[i].arg);
 *         vs_poller_quiescent(p);
 *     }
 *     vs_poller_offline(p);
 *
 * The control lcore swaps the list pointer (release store) and then waits an epoch
 * (rte_rcu_qsbr) before it frees the old list or touches the streams it removed: once the
 * epoch has passed, no polling lcore runs a removed stream.
 */

#include <stdint.h>

#include <rte_common.h>
#include <rte_rcu_qsbr.h>

/** A fast-path handler: one burst of one stream (rx queue -> tx queue). */
typedef void (*vs_stream_fn)(void *arg);

/** One entry of a polling lcore's list. */
struct vs_stream_entry {
	vs_stream_fn fn;
	void *arg;
};

/** The list a polling lcore runs; immutable once published. */
struct vs_stream_list {
	uint32_t n;
	struct vs_stream_entry s[];
};

/** Per polling lcore state. Written by the control lcore (list) and by its owner (iterations). */
struct vs_poller {
	/** Published list; swapped by the control lcore only. */
	const struct vs_stream_list *list;
	struct rte_rcu_qsbr *qsv;
	unsigned int tid;          /**< thread id in qsv */
	unsigned int lcore_id;     /**< informational */
	/** Loop iterations; written only by the owning lcore, read by the control lcore. */
	uint64_t iterations __rte_cache_aligned;
} __rte_cache_aligned;

/** The current list. Owning polling lcore only. */
static inline const struct vs_stream_list *
vs_poller_streams(const struct vs_poller *p)
{
	return __atomic_load_n(&p->list, __ATOMIC_ACQUIRE);
}

/**
 * Report that this lcore holds no reference to any list or stream it read before this
 * call. Once per loop iteration, after the streams ran. Owning polling lcore only.
 * Costs a couple of cycles when no stop is under way; plain stores, no read-modify-write.
 */
static inline void
vs_poller_quiescent(struct vs_poller *p)
{
	__atomic_store_n(&p->iterations, p->iterations + 1, __ATOMIC_RELAXED);
#ifndef VS_NO_QUIESCENT_REPORT /* the "cost of stop support" benchmark build only */
	rte_rcu_qsbr_quiescent(p->qsv, p->tid);
#endif
}

/** Start reporting (the control lcore will wait for this lcore). Owning lcore only. */
static inline void
vs_poller_online(struct vs_poller *p)
{
	rte_rcu_qsbr_thread_online(p->qsv, p->tid);
}

/**
 * Stop reporting, before the lcore blocks or exits (the control lcore stops waiting for
 * it). The lcore must not touch any stream after this until vs_poller_online().
 * Owning lcore only.
 */
static inline void
vs_poller_offline(struct vs_poller *p)
{
	rte_rcu_qsbr_thread_offline(p->qsv, p->tid);
}

#endif /* VS_POLLER_H */
