/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Forwarding modes (testpmd semantics). This file holds no stop logic on purpose: a
 * stream runs because the control lcore published it, and stops running because it was
 * unpublished and an epoch has passed. No branch on device state, no lock, no atomic
 * read-modify-write: every counter is written by the one lcore that runs the stream.
 */
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_udp.h>
#include <rte_vhost.h>

#include "fwd.h"

#define MAX_BURST 512
#define WATCH_BURSTS 16

/*
 * Every WATCH_BURSTS dequeues from a guest tx ring: is the driver's avail index more than
 * the ring size ahead? librte_vhost 22.11 does not check (it would take stale entries, up
 * to a burst at a time, and drain a lie of 30000 entries in a few milliseconds: faster
 * than any periodic check from the control lcore). Only counted here; the control lcore
 * reads the count and gives the device DEVICE_NEEDS_RESET (vhost_health.c). Not a stop
 * branch: the stream runs only while published, like any other.
 *
 * A packed ring has no avail index: the device takes a descriptor only when its flags
 * say available for the current wrap counter, so a driver cannot be "ahead"
 * (rte_vhost_avail_entries() would read the driver event area as if it were one). The
 * control lcore's checks cover packed rings (vhost_health.c).
 */
static __rte_noinline void
watch_avail(struct fwd_stream *s)
{
	struct rte_vhost_vring vr;
	uint64_t features;
	int vid = *s->rx.vid;

	s->watch_left = WATCH_BURSTS;
	if (rte_vhost_get_negotiated_features(vid, &features) != 0 ||
	    (features & (1ull << VIRTIO_F_RING_PACKED)))
		return;
	if (rte_vhost_get_vhost_vring(vid, s->rx.queue, &vr) == 0 &&
	    rte_vhost_avail_entries(vid, s->rx.queue) > vr.size)
		s->c.ring_errors++;
}

static inline uint16_t
end_rx(struct fwd_stream *s, struct rte_mbuf **pkts, uint16_t n)
{
	if (s->rx.kind == PORT_VHOST) {
		uint16_t nb = rte_vhost_dequeue_burst(*s->rx.vid, s->rx.queue, s->pool, pkts, n);

		if (unlikely(--s->watch_left == 0))
			watch_avail(s);
		return nb;
	}
	return rte_eth_rx_burst(s->rx.eth_id, s->rx.queue, pkts, n);
}

/* Send @p n frames; free what was not sent. @return frames sent. */
static inline uint16_t
end_tx(const struct fwd_stream *s, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t sent;

	if (s->tx.kind == PORT_VHOST) {
		/* vhost copies into guest buffers: the mbufs stay ours. */
		sent = rte_vhost_enqueue_burst(*s->tx.vid, s->tx.queue, pkts, n);
		rte_pktmbuf_free_bulk(pkts, n);
		return sent;
	}
	sent = rte_eth_tx_burst(s->tx.eth_id, s->tx.queue, pkts, n);
	if (unlikely(sent < n))
		rte_pktmbuf_free_bulk(&pkts[sent], n - sent);
	return sent;
}

static inline void
count(struct fwd_stream *s, uint16_t rx, uint16_t tx, uint16_t dropped)
{
	s->c.rx += rx;
	s->c.tx += tx;
	s->c.drop += dropped;
	s->lc->moved += rx + tx;
}

void
fwd_io(void *arg)
{
	struct fwd_stream *s = arg;
	struct rte_mbuf *pkts[MAX_BURST];
	uint16_t nb_rx, nb_tx;

	nb_rx = end_rx(s, pkts, s->burst);
	if (nb_rx == 0)
		return;
	nb_tx = end_tx(s, pkts, nb_rx);
	count(s, nb_rx, nb_tx, nb_rx - nb_tx);
}

static inline void
mac_swap(struct rte_mbuf *m)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ether_addr tmp;

	rte_ether_addr_copy(&eth->dst_addr, &tmp);
	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(&tmp, &eth->src_addr);
}

void
fwd_macswap(void *arg)
{
	struct fwd_stream *s = arg;
	struct rte_mbuf *pkts[MAX_BURST];
	uint16_t nb_rx, nb_tx, i;

	nb_rx = end_rx(s, pkts, s->burst);
	if (nb_rx == 0)
		return;
	for (i = 0; i < nb_rx; i++)
		mac_swap(pkts[i]);
	nb_tx = end_tx(s, pkts, nb_rx);
	count(s, nb_rx, nb_tx, nb_rx - nb_tx);
}

void
fwd_rxonly(void *arg)
{
	struct fwd_stream *s = arg;
	struct rte_mbuf *pkts[MAX_BURST];
	uint16_t nb_rx;

	nb_rx = end_rx(s, pkts, s->burst);
	if (nb_rx == 0)
		return;
	rte_pktmbuf_free_bulk(pkts, nb_rx);
	count(s, nb_rx, 0, 0);
}

/* 64-byte UDP/IPv4 frame, like testpmd's txonly default. */
#define TXONLY_LEN 64

static void
txonly_fill(struct rte_mbuf *m, uint16_t port)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	uint16_t ip_len = TXONLY_LEN - sizeof(*eth);

	memset(eth, 0, TXONLY_LEN);
	eth->dst_addr.addr_bytes[0] = 0x02;
	eth->dst_addr.addr_bytes[5] = 0x01;
	eth->src_addr.addr_bytes[0] = 0x02;
	eth->src_addr.addr_bytes[4] = (uint8_t)(port >> 8);
	eth->src_addr.addr_bytes[5] = (uint8_t)port;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->total_length = rte_cpu_to_be_16(ip_len);
	ip->src_addr = rte_cpu_to_be_32(RTE_IPV4(198, 18, 0, 1));
	ip->dst_addr = rte_cpu_to_be_32(RTE_IPV4(198, 18, 0, 2));
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	udp->src_port = rte_cpu_to_be_16(9);
	udp->dst_port = rte_cpu_to_be_16(9);
	udp->dgram_len = rte_cpu_to_be_16(ip_len - sizeof(*ip));
	m->data_len = TXONLY_LEN;
	m->pkt_len = TXONLY_LEN;
}

void
fwd_txonly(void *arg)
{
	struct fwd_stream *s = arg;
	struct rte_mbuf *pkts[MAX_BURST];
	uint16_t nb_tx, i;

	if (rte_pktmbuf_alloc_bulk(s->pool, pkts, s->burst) != 0)
		return;
	for (i = 0; i < s->burst; i++)
		txonly_fill(pkts[i], s->tx_port);
	nb_tx = end_tx(s, pkts, s->burst);
	count(s, 0, nb_tx, s->burst - nb_tx);
}

void
fwd_park(void *arg)
{
	struct fwd_stream *s = arg;
	struct rte_mbuf *pkts[MAX_BURST];
	unsigned int held;
	uint16_t nb_rx;

	nb_rx = end_rx(s, pkts, s->burst);
	if (nb_rx == 0)
		return;
	held = rte_ring_sp_enqueue_burst(s->hold, (void **)pkts, nb_rx, NULL);
	if (held < nb_rx)
		rte_pktmbuf_free_bulk(&pkts[held], nb_rx - held);
	s->c.rx += nb_rx;
	s->c.held += held;
	s->c.held_drop += nb_rx - held;
	s->lc->moved += nb_rx;
}
