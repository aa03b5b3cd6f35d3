/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Port bookkeeping: the port table (ethdevs first, then vhost ports), the mbuf pool,
 * ethdev setup, statistics.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "fwd.h"
#include "vhost_dev.h"
#include "vstop.h"

#define ETH_RXD 512
#define ETH_TXD 512
#define POOL_CACHE 256

/*
 * Run an op on the engine before the control loop runs: the main lcore is the control
 * lcore, and during setup it drives the loop itself.
 */
int
app_ctl_call_local(struct vs_op *op)
{
	int rc = vs_ctl_submit(app.ctl, op);

	if (rc < 0) {
		vs_op_free(op);
		return rc;
	}
	while (!vs_op_done(op))
		vs_ctl_run_once(app.ctl);
	rc = op->result;
	vs_op_free(op);
	return rc;
}

int
app_ctl_call(struct vs_op *op)
{
	int rc = vs_ctl_call(app.ctl, op, (int)app.opts.stop_timeout_ms + 2000);

	if (rc != -ETIMEDOUT)
		vs_op_free(op);
	return rc;
}

static inline uint64_t
rd(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void
port_counters_get(const struct app_port *p, struct port_counters *c)
{
	memset(c, 0, sizeof(*c));
	for (unsigned int i = 0; i < app.nb_streams; i++) {
		const struct fwd_stream *s = app.streams[i];

		if (s->dead)
			continue;
		if (s->rx_port == p->id)
			c->rx += rd(&s->c.rx);
		if (s->tx_port == p->id) {
			c->tx += rd(&s->c.tx);
			c->drop += rd(&s->c.drop);
			c->held += rd(&s->c.held);
			c->held_drop += rd(&s->c.held_drop);
		}
	}
	if (p->kind == PORT_VHOST) {
		const struct vhost_port *vp = p->vh;

		for (unsigned int q = 0; q < vp->nb_qp; q++) {
			c->tx += rd(&vp->hs[q].delivered);
			c->held_drop += rd(&vp->hs[q].dropped);
		}
		c->rx += vp->base_rx;
		c->tx += vp->base_tx;
		c->held_drop += vp->base_held_drops;
	}
}

/* The port io/macswap pair @p id with (itself when it is the odd one out). */
static unsigned int
pair_of(unsigned int id)
{
	unsigned int peer = id ^ 1;

	return app_port_get(peer) != NULL ? peer : id;
}

static int
eth_setup(struct app_port *p)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	uint16_t q;
	int rc;

	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_info_get(p->eth_id, &info);
	if (rc != 0)
		return rc;
	if (p->nb_queues > info.max_rx_queues || p->nb_queues > info.max_tx_queues) {
		uint16_t n = RTE_MIN(info.max_rx_queues, info.max_tx_queues);

		APP_LOG(WARNING, "port %u (%s): %u queues wanted, it has %u", p->id, p->name,
			p->nb_queues, n);
		p->nb_queues = n;
	}
	rc = rte_eth_dev_configure(p->eth_id, p->nb_queues, p->nb_queues, &conf);
	if (rc != 0)
		return rc;
	for (q = 0; q < p->nb_queues; q++) {
		rc = rte_eth_rx_queue_setup(p->eth_id, q, ETH_RXD, rte_eth_dev_socket_id(p->eth_id),
					    NULL, app.pool);
		if (rc != 0)
			return rc;
		rc = rte_eth_tx_queue_setup(p->eth_id, q, ETH_TXD, rte_eth_dev_socket_id(p->eth_id),
					    NULL);
		if (rc != 0)
			return rc;
	}
	rc = rte_eth_dev_start(p->eth_id);
	if (rc != 0)
		return rc;
	rte_eth_promiscuous_enable(p->eth_id); /* not every vdev supports it */
	rte_eth_macaddr_get(p->eth_id, &p->mac);
	APP_LOG(INFO, "port %u: ethdev %s, %u queue(s)", p->id, p->name, p->nb_queues);
	return 0;
}

static unsigned int
pool_size_needed(void)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < app.nb_ports; i++) {
		const struct app_port *p = &app.ports[i];

		if (p->kind == PORT_ETHDEV)
			n += p->nb_queues * (ETH_RXD + ETH_TXD);
		else /* held frames, loaded frames, and a burst in flight per queue */
			n += p->nb_queues * (app.opts.hold + 2 * app.opts.burst);
	}
	n += (app.nb_pollers + 1) * POOL_CACHE * 3 / 2;
	return n;
}

/* Locally administered, one per port id: 52:54:00:00:<id high>:<id low> */
void
port_mac_default(struct app_port *p)
{
	p->mac = (struct rte_ether_addr){ { 0x52, 0x54, 0x00, 0x00, (uint8_t)(p->id >> 8),
					    (uint8_t)p->id } };
}

/* The port table and queue counts; nothing created yet. */
int
ports_plan(void)
{
	const struct app_opts *o = &app.opts;
	unsigned int i;
	uint16_t pid;

	RTE_ETH_FOREACH_DEV(pid) {
		struct app_port *p;

		if (app.nb_ports == VSTOP_MAX_PORTS)
			break;
		p = &app.ports[app.nb_ports];
		p->used = true;
		p->id = app.nb_ports++;
		p->kind = PORT_ETHDEV;
		p->eth_id = pid;
		p->dev = VS_DEV_NONE;
		rte_eth_dev_get_name_by_port(pid, p->name);
	}
	app.nb_eth = app.nb_ports;
	if (app.nb_ports + o->nb_vhost > VSTOP_MAX_PORTS) {
		fprintf(stderr, "vstop: too many ports (%u), at most %d\n",
			app.nb_ports + o->nb_vhost, VSTOP_MAX_PORTS);
		return -E2BIG;
	}
	for (i = 0; i < o->nb_vhost; i++) {
		struct app_port *p = &app.ports[app.nb_ports];

		p->used = true;
		p->id = app.nb_ports++;
		p->kind = PORT_VHOST;
		p->nb_queues = o->vhost[i].queues;
		port_mac_default(p);
	}
	if (app.nb_ports == 0) {
		fprintf(stderr, "vstop: no port: give --vhost PATH, or an ethdev with EAL "
			"--vdev\nTry 'vstop -- --help'.\n");
		return -ENODEV;
	}
	/* An ethdev gets the queue count of the vhost port it is paired with. */
	for (i = 0; i < app.nb_eth; i++) {
		struct app_port *p = &app.ports[i];
		const struct app_port *peer = &app.ports[pair_of(i)];

		p->nb_queues = o->eth_queues;
		if ((o->fwd == FWD_IO || o->fwd == FWD_MACSWAP) && peer->kind == PORT_VHOST)
			p->nb_queues = peer->nb_queues;
	}

	return 0;
}

int
ports_create(void)
{
	const struct app_opts *o = &app.opts;
	unsigned int i, nb_mbufs;
	int rc;

	nb_mbufs = o->mbufs ? o->mbufs : RTE_MAX(8192u, pool_size_needed());
	if (nb_mbufs < pool_size_needed())
		APP_LOG(WARNING, "--mbufs %u is less than the %u the ports may hold", nb_mbufs,
			pool_size_needed());
	app.pool = rte_pktmbuf_pool_create("vstop_mbufs", nb_mbufs, POOL_CACHE, 0,
					   RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (app.pool == NULL) {
		APP_LOG(ERR, "cannot create a pool of %u mbufs: %s", nb_mbufs,
			rte_strerror(rte_errno));
		return -ENOMEM;
	}

	for (i = 0; i < app.nb_eth; i++) {
		rc = eth_setup(&app.ports[i]);
		if (rc != 0) {
			APP_LOG(ERR, "port %u (%s): setup failed: %s", i, app.ports[i].name,
				rte_strerror(-rc));
			return rc;
		}
	}
	for (i = 0; i < o->nb_vhost; i++) {
		rc = vhost_port_create(&app.ports[app.nb_eth + i], &o->vhost[i],
				       app_ctl_call_local);
		if (rc != 0)
			return rc;
	}
	return 0;
}

void
ports_close(void)
{
	for (unsigned int i = 0; i < app.nb_ports; i++) {
		struct app_port *p = &app.ports[i];

		if (p->used && p->kind == PORT_ETHDEV) {
			rte_eth_dev_stop(p->eth_id);
			rte_eth_dev_close(p->eth_id);
		}
	}
}

static const char *
run_state_name(uint8_t s)
{
	switch (s) {
	case VS_RUN_RUNNING:
		return "running";
	case VS_RUN_STOPPING:
		return "stopping";
	case VS_RUN_STOPPED:
		return "stopped";
	default:
		return "?";
	}
}

/* One line per port, key=value, for people and for test scripts. */
void
ports_print_stats(const char *why)
{
	printf("stats begin (%s)\n", why);
	for (unsigned int i = 0; i < app.nb_ports; i++) {
		const struct app_port *p = &app.ports[i];
		struct port_counters c;
		struct vs_dev_info info;

		if (!p->used)
			continue;
		port_counters_get(p, &c);
		printf("stats port=%u kind=%s name=%s rx=%" PRIu64 " tx=%" PRIu64 " drop=%" PRIu64
		       " held=%" PRIu64 " held_drop=%" PRIu64, p->id,
		       p->kind == PORT_VHOST ? "vhost" : "ethdev", p->name, c.rx, c.tx, c.drop,
		       c.held, c.held_drop);
		if (p->kind == PORT_VHOST &&
		    vs_ctl_dev_info(app.ctl, p->dev, &info, 1000) == 0)
			printf(" connected=%d attached=%d state=%s status=0x%02x stops=%" PRIu64
			       " resumes=%" PRIu64 " cancels=%" PRIu64 " merged=%" PRIu64
			       " refused=%" PRIu64 " resets=%" PRIu64 " deadline_misses=%" PRIu64
			       " last_stop_ns=%" PRIu64 " last_stop_iters=%" PRIu64,
			       p->vh->connected, info.attached, run_state_name(info.run_state),
			       info.status_shown, info.stops, info.resumes, info.cancels, info.merged,
			       info.refused, info.resets, info.deadline_misses, info.last_stop_ns,
			       info.last_stop_iters);
		printf("\n");
	}
	printf("stats end\n");
	fflush(stdout);
}
