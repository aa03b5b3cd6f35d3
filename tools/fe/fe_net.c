/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-net driver data path: one thread polls every queue pair, sends frames that carry
 * (magic, queue, flow, 64-bit sequence) and a payload pattern derived from the sequence,
 * and checks what comes back. The pattern catches half-copied frames (R5); the sequence
 * catches loss, duplicates and reordering, per queue.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fe.h"
#include "fe_net.h"

#define FE_TX_BURST      32
#define FE_IDLE_SLEEP_US 50
#define FE_FORCE_KICK_NS 100000ull

static inline uint64_t
align4k(uint64_t v)
{
	return (v + 4095) & ~4095ull;
}

static uint64_t
ring_bytes(unsigned int n)
{
	return align4k(16ull * n) + align4k(6 + 2ull * n) + align4k(6 + 8ull * n) +
	       align4k((uint64_t)FE_BUF_LEN * n) + 4096;
}

struct fe_vq *
fe_net_vq(struct fe_net *net, unsigned int vring)
{
	struct fe_qp *q = &net->qp[vring / 2];

	return (vring & 1) ? &q->tx : &q->rx;
}

int
fe_net_init(struct fe_net *net, const struct fe_net_cfg *cfg)
{
	unsigned int i;
	int ret;

	memset(net, 0, sizeof(*net));
	net->cfg = *cfg;
	if (cfg->frame_size < FE_FRAME_MIN || cfg->frame_size > FE_FRAME_MAX)
		return fe_err(-EINVAL, "frame size must be %u..%u", FE_FRAME_MIN, FE_FRAME_MAX);
	ret = fe_mem_init(&net->mem, 2ull * cfg->nqp * ring_bytes(cfg->ring_size) + 65536);
	if (ret)
		return ret;
	if (cfg->gap_log_ns) {
		net->gaps = calloc(FE_GAP_LOG_MAX, sizeof(*net->gaps));
		if (net->gaps == NULL)
			return fe_err(-ENOMEM, "out of memory");
	}
	net->qp = calloc(cfg->nqp, sizeof(*net->qp));
	if (!net->qp)
		return fe_err(-ENOMEM, "out of memory");
	for (i = 0; i < cfg->nqp; i++) {
		struct fe_qp *q = &net->qp[i];

		q->id = i;
		ret = fe_vq_init(&q->rx, &net->mem, fe_rxq_vring(i), cfg->ring_size,
				 FE_BUF_LEN, true, cfg->packed);
		if (!ret)
			ret = fe_vq_init(&q->tx, &net->mem, fe_txq_vring(i), cfg->ring_size,
					 FE_BUF_LEN, false, cfg->packed);
		if (ret)
			return ret;
		q->seen = calloc(FE_SEQ_WINDOW / 64, sizeof(uint64_t));
		if (!q->seen)
			return fe_err(-ENOMEM, "out of memory");
		/* Polling driver: no interrupts unless a probe asks for them. */
		fe_vq_set_interrupts(&q->rx, false);
		fe_vq_set_interrupts(&q->tx, false);
	}
	return 0;
}

void
fe_net_fini(struct fe_net *net)
{
	unsigned int i;

	fe_net_stop(net);
	free(net->gaps);
	net->gaps = NULL;
	for (i = 0; net->qp && i < net->cfg.nqp; i++) {
		fe_vq_fini(&net->qp[i].rx);
		fe_vq_fini(&net->qp[i].tx);
		free(net->qp[i].seen);
	}
	free(net->qp);
	net->qp = NULL;
	fe_mem_fini(&net->mem);
}

static inline bool
seen_test(const uint64_t *bm, uint64_t seq)
{
	uint64_t b = seq % FE_SEQ_WINDOW;

	return (bm[b / 64] >> (b % 64)) & 1;
}

static inline void
seen_put(uint64_t *bm, uint64_t seq, bool v)
{
	uint64_t b = seq % FE_SEQ_WINDOW;

	if (v)
		bm[b / 64] |= 1ull << (b % 64);
	else
		bm[b / 64] &= ~(1ull << (b % 64));
}

/* Account one received sequence number on its queue. */
static void
seq_account(struct fe_qp *q, uint64_t seq)
{
	if (seq >= q->next_seq) {
		/* Never sent: a corrupt frame that happened to keep its magic. */
		fe_cnt_add(&q->st.bad, 1);
		return;
	}
	if (seq >= q->expect) {
		uint64_t gap = seq - q->expect, s;

		/* Slots expect..seq now describe these seqs, forget what they held. */
		if (gap + 1 >= FE_SEQ_WINDOW)
			memset(q->seen, 0, FE_SEQ_WINDOW / 8);
		else
			for (s = q->expect; s < seq; s++)
				seen_put(q->seen, s, false);
		seen_put(q->seen, seq, true);
		if (gap)
			fe_cnt_add(&q->st.lost, gap);
		q->expect = seq + 1;
		fe_cnt_add(&q->st.rcvd, 1);
	} else if (q->expect - seq > FE_SEQ_WINDOW || seen_test(q->seen, seq)) {
		fe_cnt_add(&q->st.dup, 1);
	} else {
		/* A gap filled late: it was not lost, it was reordered. */
		seen_put(q->seen, seq, true);
		fe_cnt_add(&q->st.reord, 1);
		fe_cnt_add(&q->st.lost, (uint64_t)-1);
		fe_cnt_add(&q->st.rcvd, 1);
	}
}

static void
frame_build(uint8_t *buf, const struct fe_qp *q, uint16_t flow, uint64_t seq, unsigned int len)
{
	uint8_t *eth = buf + FE_NET_HDR_LEN, *p = eth + FE_ETH_HLEN;
	unsigned int i;

	memset(buf, 0, FE_NET_HDR_LEN);
	/* dst 02:00:00:00:00:01 (the "host"), src 02:fe:00:00:<q>:<q>; local admin. */
	memcpy(eth, "\x02\x00\x00\x00\x00\x01\x02\xfe\x00\x00", 10);
	eth[10] = q->id >> 8;
	eth[11] = q->id & 0xff;
	eth[12] = FE_ETHERTYPE >> 8;
	eth[13] = FE_ETHERTYPE & 0xff;
	p[0] = FE_FRAME_MAGIC & 0xff;
	p[1] = (FE_FRAME_MAGIC >> 8) & 0xff;
	p[2] = (FE_FRAME_MAGIC >> 16) & 0xff;
	p[3] = FE_FRAME_MAGIC >> 24;
	p[4] = q->id & 0xff;
	p[5] = q->id >> 8;
	p[6] = flow & 0xff;
	p[7] = flow >> 8;
	for (i = 0; i < 8; i++)
		p[8 + i] = (seq >> (8 * i)) & 0xff;
	for (i = FE_FRAME_MIN; i < len; i++)
		eth[i] = (uint8_t)(seq + i);
}

static void
frame_check(struct fe_net *net, struct fe_qp *q, const uint8_t *buf, uint32_t len,
	    uint64_t now)
{
	const uint8_t *eth = buf + FE_NET_HDR_LEN, *p = eth + FE_ETH_HLEN;
	unsigned int flen = net->cfg.frame_size, i;
	struct fe_qp *owner;
	uint32_t magic;
	uint16_t qid;
	uint64_t seq = 0;
	bool ok = true;

	if (len < FE_NET_HDR_LEN + FE_ETH_HLEN) {
		fe_cnt_add(&q->st.bad, 1);
		return;
	}
	if (((eth[12] << 8) | eth[13]) != FE_ETHERTYPE) {
		fe_cnt_add(&q->st.foreign, 1);
		return;
	}
	if (len != FE_NET_HDR_LEN + flen) {
		fe_cnt_add(&q->st.bad, 1);
		return;
	}
	magic = p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
	qid = p[4] | p[5] << 8;
	for (i = 0; i < 8; i++)
		seq |= (uint64_t)p[8 + i] << (8 * i);
	if (magic != FE_FRAME_MAGIC || qid >= net->cfg.nqp) {
		fe_cnt_add(&q->st.bad, 1);
		return;
	}
	for (i = FE_FRAME_MIN; i < flen; i++)
		if (eth[i] != (uint8_t)(seq + i))
			ok = false;
	/* Loopback and macswap answer on the pair the frame was sent on. */
	if (qid != q->id || !ok)
		fe_cnt_add(&q->st.bad, 1);
	owner = &net->qp[qid];
	seq_account(owner, seq);
	if (net->last_rx_ns && now - net->last_rx_ns > net->max_rx_gap_ns)
		__atomic_store_n(&net->max_rx_gap_ns, now - net->last_rx_ns, __ATOMIC_RELAXED);
	if (net->gaps != NULL && net->last_rx_ns && now - net->last_rx_ns > net->cfg.gap_log_ns &&
	    net->nb_gaps < FE_GAP_LOG_MAX) {
		net->gaps[net->nb_gaps].end_ns = now;
		net->gaps[net->nb_gaps].len_ns = now - net->last_rx_ns;
		__atomic_store_n(&net->nb_gaps, net->nb_gaps + 1, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&net->last_rx_ns, now, __ATOMIC_RELAXED);
}

/*
 * Take back a used entry; false if the device returned something it did not own. The
 * caller calls used_done() once it has dealt with the entry.
 */
static bool
used_take(struct fe_vq *vq, struct fe_qp *q, struct fe_vring_used_elem *e)
{
	*e = fe_vq_used_elem(vq, vq->last_used);
	if (e->id >= vq->size || !vq->posted[e->id]) {
		fe_cnt_add(&q->st.bad, 1);
		return false;
	}
	vq->posted[e->id] = 0;
	return true;
}

/*
 * Release store: the control thread watches last_used (fe_net_wait_caught_up), and an
 * entry must count as consumed only once its frame is fully accounted.
 */
static void
used_done(struct fe_vq *vq)
{
	__atomic_store_n(&vq->last_used, vq->last_used + 1, __ATOMIC_RELEASE);
	vq->used_total++;
}

/*
 * The used index the device published, if it is plausible: it can never run ahead of
 * what the driver made available. A device that moves it backwards or tears the store
 * would make the driver re-read stale entries, so such a value is counted and ignored.
 */
static uint16_t
used_idx_checked(struct fe_vq *vq, struct fe_qp *q)
{
	uint16_t used;

	/*
	 * Packed: the run of used descriptors from last_used, never past what was made
	 * available; an id the device does not own is caught by used_take.
	 */
	if (vq->packed)
		return fe_vq_packed_used_end(vq);
	used = fe_vq_used_idx(vq);
	if ((uint16_t)(used - vq->last_used) > (uint16_t)(vq->avail_idx - vq->last_used)) {
		fe_cnt_add(&q->st.bad, 1);
		return vq->last_used;
	}
	return used;
}

/*
 * Migration mark, driver side (fe_net_arm_mark). Times are taken now, not at the loop's
 * start, which may predate arming. Write-once per arming: the control thread resets them.
 */
static void
mark_caught(struct fe_qp *q)
{
	if (q->rx.last_used == __atomic_load_n(&q->mark_idx, __ATOMIC_RELAXED) &&
	    !__atomic_load_n(&q->mark_caught_ns, __ATOMIC_RELAXED))
		__atomic_store_n(&q->mark_caught_ns, fe_now_ns(), __ATOMIC_RELEASE);
}

/*
 * The device returned an entry past the mark: seen here, however far behind the driver
 * is in taking entries. The index as in memory (what the control thread compares too),
 * not used_idx_checked's, which falls back to last_used.
 */
static void
mark_seen(struct fe_net *net, struct fe_qp *q)
{
	if (fe_vq_used_idx(&q->rx) != __atomic_load_n(&q->mark_idx, __ATOMIC_RELAXED) &&
	    !__atomic_load_n(&net->mark_seen_ns, __ATOMIC_RELAXED))
		__atomic_store_n(&net->mark_seen_ns, fe_now_ns(), __ATOMIC_RELEASE);
}

static void
mark_first(struct fe_net *net, struct fe_qp *q)
{
	if (q->rx.last_used == __atomic_load_n(&q->mark_idx, __ATOMIC_RELAXED) &&
	    !__atomic_load_n(&net->mark_rx_ns, __ATOMIC_RELAXED))
		__atomic_store_n(&net->mark_rx_ns, fe_now_ns(), __ATOMIC_RELEASE);
}

static unsigned int
qp_rx(struct fe_net *net, struct fe_qp *q, uint64_t now, bool kick_ok)
{
	struct fe_vq *vq = &q->rx;
	uint16_t used = used_idx_checked(vq, q);
	unsigned int n = 0;
	bool mark;

	/*
	 * Read after the used index: an entry the destination wrote is ordered after the
	 * arming (which precedes its DRIVER_OK), so it is never taken with a stale "unarmed".
	 */
	mark = __atomic_load_n(&net->mark_armed, __ATOMIC_ACQUIRE);
	if (mark) {
		mark_seen(net, q);
		mark_caught(q);
	}
	while (vq->last_used != used) {
		struct fe_vring_used_elem e;

		if (mark)
			mark_first(net, q);
		if (used_take(vq, q, &e)) {
			frame_check(net, q, fe_vq_buf(vq, e.id), e.len, now);
			/* Give the buffer straight back: the rx ring never runs dry. */
			fe_vq_post(vq, e.id, vq->buf_len);
			n++;
		}
		used_done(vq);
		if (mark)
			mark_caught(q);
	}
	if (n) {
		fe_vq_publish(vq);
		if (kick_ok && fe_vq_wants_kick(vq))
			fe_vq_kick(vq);
	}
	return n;
}

static unsigned int
qp_txdone(struct fe_qp *q)
{
	struct fe_vq *vq = &q->tx;
	uint16_t used = used_idx_checked(vq, q);
	unsigned int n = 0;

	while (vq->last_used != used) {
		struct fe_vring_used_elem e;

		if (used_take(vq, q, &e)) {
			vq->free_ids[vq->nfree++] = e.id;
			n++;
		}
		used_done(vq);
	}
	if (n)
		fe_cnt_add(&q->st.txdone, n);
	return n;
}

static unsigned int
qp_tx(struct fe_net *net, struct fe_qp *q, uint64_t now, bool kick_ok)
{
	struct fe_vq *vq = &q->tx;
	uint64_t inflight, budget = FE_MIN((unsigned int)vq->nfree, FE_TX_BURST);
	unsigned int i, flen = net->cfg.frame_size;

	if (__atomic_load_n(&net->pause, __ATOMIC_ACQUIRE))
		return 0;
	/*
	 * Never have more frames out than rx buffers: then the rx ring cannot overflow and
	 * any loss is the backend's, not a slow driver's.
	 */
	inflight = q->st.sent - q->st.rcvd - q->st.lost;
	if (inflight >= q->rx.size)
		return 0;
	budget = FE_MIN(budget, q->rx.size - inflight);
	if (net->cfg.rate_pps) {
		double rate = (double)net->cfg.rate_pps / net->cfg.nqp;

		if (!q->tok_ns)
			q->tok_ns = now;
		q->tokens += (double)(now - q->tok_ns) * rate / 1e9;
		q->tok_ns = now;
		if (q->tokens > FE_TX_BURST)
			q->tokens = FE_TX_BURST;
		budget = FE_MIN(budget, (uint64_t)q->tokens);
	}
	if (net->cfg.count)
		budget = FE_MIN(budget, net->cfg.count - FE_MIN(net->cfg.count, q->next_seq));
	if (!budget)
		return 0;
	for (i = 0; i < budget; i++) {
		uint16_t id = vq->free_ids[--vq->nfree];

		frame_build(fe_vq_buf(vq, id), q, q->next_seq % FE_MAX(net->cfg.flows, 1u),
			    q->next_seq, flen);
		fe_vq_post(vq, id, FE_NET_HDR_LEN + flen);
		q->next_seq++;
	}
	if (net->cfg.rate_pps)
		q->tokens -= budget;
	fe_vq_publish(vq);
	fe_cnt_add(&q->st.sent, budget);
	if (kick_ok && fe_vq_wants_kick(vq))
		fe_vq_kick(vq);
	return budget;
}

unsigned int
fe_net_poll(struct fe_net *net, uint64_t now)
{
	bool kick_ok = !__atomic_load_n(&net->no_kick, __ATOMIC_ACQUIRE);
	unsigned int work = 0, i;

	for (i = 0; i < net->cfg.nqp; i++) {
		struct fe_qp *q = &net->qp[i];

		work += qp_rx(net, q, now, kick_ok);
		work += qp_txdone(q);
		work += qp_tx(net, q, now, kick_ok);
	}
	if (__atomic_load_n(&net->force_kick, __ATOMIC_ACQUIRE) &&
	    now - net->last_force_ns >= FE_FORCE_KICK_NS) {
		for (i = 0; i < net->cfg.nqp; i++) {
			fe_vq_kick(&net->qp[i].rx);
			fe_vq_kick(&net->qp[i].tx);
		}
		net->last_force_ns = now;
	}
	return work;
}

static void *
data_thread(void *arg)
{
	struct fe_net *net = arg;
	uint64_t next_tick = fe_now_ns() + 1000000000ull;

	while (!__atomic_load_n(&net->quit, __ATOMIC_ACQUIRE)) {
		uint64_t now = fe_now_ns();
		unsigned int work = fe_net_poll(net, now);

		if (net->tick && now >= next_tick) {
			net->tick(net, net->tick_arg);
			next_tick += 1000000000ull;
		}
		__atomic_store_n(&net->loops, net->loops + 1, __ATOMIC_RELAXED);
		if (!work && !net->cfg.busy_poll)
			fe_sleep_us(FE_IDLE_SLEEP_US);
	}
	return NULL;
}

void
fe_net_post_rx(struct fe_net *net)
{
	unsigned int i, j;

	for (i = 0; i < net->cfg.nqp; i++) {
		struct fe_vq *rx = &net->qp[i].rx;

		for (j = 0; j < rx->size; j++)
			fe_vq_post(rx, rx->free_ids[--rx->nfree], rx->buf_len);
		fe_vq_publish(rx);
	}
}

int
fe_net_start(struct fe_net *net, bool paused)
{
	int ret;

	fe_net_post_rx(net);
	net->pause = paused;
	ret = pthread_create(&net->thr, NULL, data_thread, net);
	if (ret)
		return fe_err(-ret, "cannot start data thread");
	net->started = true;
	return 0;
}

void
fe_net_stop(struct fe_net *net)
{
	if (!net->started)
		return;
	fe_net_set(&net->quit, 1);
	pthread_join(net->thr, NULL);
	net->started = false;
}

void
fe_net_totals(const struct fe_net *net, struct fe_qstats *sum)
{
	unsigned int i;

	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < net->cfg.nqp; i++) {
		const struct fe_qstats *s = &net->qp[i].st;

		sum->sent += fe_cnt_get(&s->sent);
		sum->txdone += fe_cnt_get(&s->txdone);
		sum->rcvd += fe_cnt_get(&s->rcvd);
		sum->lost += fe_cnt_get(&s->lost);
		sum->dup += fe_cnt_get(&s->dup);
		sum->reord += fe_cnt_get(&s->reord);
		sum->bad += fe_cnt_get(&s->bad);
		sum->foreign += fe_cnt_get(&s->foreign);
	}
}

uint64_t
fe_net_inflight(const struct fe_net *net)
{
	struct fe_qstats s;

	fe_net_totals(net, &s);
	return s.sent - s.rcvd - s.lost;
}

int
fe_net_drain(struct fe_net *net, unsigned int timeout_ms)
{
	uint64_t end = fe_now_ns() + timeout_ms * 1000000ull;
	uint64_t left;

	fe_net_set(&net->pause, 1);
	while ((left = fe_net_inflight(net)) != 0) {
		if (fe_now_ns() >= end)
			return fe_err(-ETIMEDOUT, "%llu frame(s) still in flight after %u ms",
				      (unsigned long long)left, timeout_ms);
		fe_sleep_us(500);
	}
	return 0;
}

int
fe_net_wait_rx(struct fe_net *net, uint64_t n, unsigned int timeout_ms)
{
	uint64_t end = fe_now_ns() + timeout_ms * 1000000ull;
	struct fe_qstats s;
	uint64_t start;

	fe_net_totals(net, &s);
	start = s.rcvd;
	for (;;) {
		fe_net_totals(net, &s);
		if (s.rcvd - start >= n)
			return 0;
		if (fe_now_ns() >= end)
			return fe_err(-ETIMEDOUT, "traffic does not flow: %llu of %llu frames back in %u ms",
				      (unsigned long long)(s.rcvd - start),
				      (unsigned long long)n, timeout_ms);
		fe_sleep_us(200);
	}
}

void
fe_net_arm_mark(struct fe_net *net, const uint16_t *rx_idx)
{
	unsigned int i;

	for (i = 0; i < net->cfg.nqp; i++) {
		__atomic_store_n(&net->qp[i].mark_idx, rx_idx[i], __ATOMIC_RELAXED);
		__atomic_store_n(&net->qp[i].mark_caught_ns, 0, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&net->mark_seen_ns, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&net->mark_rx_ns, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&net->mark_armed, 1, __ATOMIC_RELEASE);
}

void
fe_net_disarm_mark(struct fe_net *net)
{
	fe_net_set(&net->mark_armed, 0);
}

int
fe_net_wait_mark(struct fe_net *net, unsigned int timeout_ms, uint64_t *first,
		 uint64_t *caught)
{
	uint64_t end = fe_now_ns() + timeout_ms * 1000000ull;
	unsigned int i;
	int ret = 0;

	for (;;) {
		bool all = true;

		*first = __atomic_load_n(&net->mark_rx_ns, __ATOMIC_ACQUIRE);
		*caught = 0;
		for (i = 0; i < net->cfg.nqp; i++) {
			uint64_t t = __atomic_load_n(&net->qp[i].mark_caught_ns, __ATOMIC_ACQUIRE);

			all = all && t;
			*caught = FE_MAX(*caught, t);
		}
		/* Caught up means on every pair: a partial figure would understate it. */
		if (!all)
			*caught = 0;
		if (*first && all)
			break;
		if (fe_now_ns() >= end) {
			ret = -ETIMEDOUT;
			break;
		}
		fe_sleep_us(20);
	}
	fe_net_disarm_mark(net);
	return ret;
}

void
fe_net_print_laps(const struct fe_net *net)
{
	uint64_t av = 0, us = 0, avmin = UINT64_MAX, usmin = UINT64_MAX;
	unsigned int i, r;

	for (i = 0; i < net->cfg.nqp; i++) {
		for (r = 0; r < 2; r++) {
			const struct fe_vq *vq = r ? &net->qp[i].tx : &net->qp[i].rx;
			uint64_t a = vq->avail_total / vq->size, u = vq->used_total / vq->size;

			av += a;
			us += u;
			avmin = FE_MIN(avmin, a);
			usmin = FE_MIN(usmin, u);
		}
	}
	printf("rings: %s, %u x 2 of %u entries; %s: avail %llu (min %llu per ring), used %llu (min %llu per ring)\n",
	       net->cfg.packed ? "packed" : "split", net->cfg.nqp, net->cfg.ring_size,
	       net->cfg.packed ? "wrap counter flips" : "laps",
	       (unsigned long long)av, (unsigned long long)avmin, (unsigned long long)us,
	       (unsigned long long)usmin);
}

void
fe_net_set_interrupts(struct fe_net *net, bool on)
{
	unsigned int i;

	for (i = 0; i < net->cfg.nqp; i++) {
		fe_vq_set_interrupts(&net->qp[i].rx, on);
		fe_vq_set_interrupts(&net->qp[i].tx, on);
	}
}
