/* SPDX-License-Identifier: BSD-3-Clause */
/* show port info|stats|xstats, show queue map, show lcores, show device status. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ethdev.h>

#include "app_query.h"
#include "cmd.h"
#include "vhost_dev.h"
#include "vs_status.h"

const char *
cmd_run_state_name(uint8_t s)
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

const char *
cmd_stop_kind_name(uint8_t k)
{
	switch (k) {
	case VS_STOP_NONE:
		return "none";
	case VS_STOP_DEVICE_STOPPED:
		return "device_stopped";
	case VS_STOP_SUSPEND:
		return "suspend";
	default:
		return "?";
	}
}

/* virtio / vhost-user feature bit names (virtio 1.x, virtio-net), for humans. */
static const char *const feature_names[64] = {
	[0] = "CSUM", [1] = "GUEST_CSUM", [2] = "CTRL_GUEST_OFFLOADS", [3] = "MTU",
	[5] = "MAC", [7] = "GUEST_TSO4", [8] = "GUEST_TSO6", [9] = "GUEST_ECN",
	[10] = "GUEST_UFO", [11] = "HOST_TSO4", [12] = "HOST_TSO6", [13] = "HOST_ECN",
	[14] = "HOST_UFO", [15] = "MRG_RXBUF", [16] = "STATUS", [17] = "CTRL_VQ",
	[18] = "CTRL_RX", [19] = "CTRL_VLAN", [21] = "GUEST_ANNOUNCE", [22] = "MQ",
	[23] = "CTRL_MAC_ADDR", [24] = "NOTIFY_ON_EMPTY", [26] = "LOG_ALL",
	[27] = "ANY_LAYOUT", [28] = "RING_INDIRECT_DESC", [29] = "RING_EVENT_IDX",
	[30] = "PROTOCOL_FEATURES", [32] = "VERSION_1", [33] = "ACCESS_PLATFORM",
	[34] = "RING_PACKED", [35] = "IN_ORDER", [36] = "ORDER_PLATFORM", [37] = "SR_IOV",
	[38] = "NOTIFICATION_DATA", [39] = "NOTIF_CONFIG_DATA", [40] = "RING_RESET",
	[VS_F_DEVICE_STOP] = "DEVICE_STOP", [VS_F_SUSPEND] = "SUSPEND",
};

char *
cmd_features_format(uint64_t f, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned int b = 0; b < 64; b++) {
		char unk[16];
		const char *n = feature_names[b];
		int w;

		if (!(f & (1ull << b)))
			continue;
		if (n == NULL) {
			snprintf(unk, sizeof(unk), "bit%u", b);
			n = unk;
		}
		w = snprintf(buf + used, len - used, "%s%s", used ? "|" : "", n);
		if (w < 0 || (size_t)w >= len - used)
			break;
		used += (size_t)w;
	}
	return buf;
}

static const char *const hist_names[8] = {
	"lt_10us", "lt_100us", "lt_1ms", "lt_10ms", "lt_100ms", "lt_1s", "lt_10s", "ge_10s",
};

const char *
cmd_hist_bucket_name(unsigned int i)
{
	return i < RTE_DIM(hist_names) ? hist_names[i] : "?";
}

static void
mac_str(const uint8_t *m, char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* ---- show device status ---- */

int
cmd_show_device(struct cmd_out *o, uint16_t port)
{
	const struct app_port *p = aq_port(port);
	struct vs_dev_info info;
	char buf[512];
	int rc;

	rc = vs_ctl_dev_info(app.ctl, p->dev, &info, aq_op_timeout_ms());
	if (rc < 0)
		return cmd_err(o, "port %u: engine did not answer: %s", port, strerror(-rc));
	out_u64(o, "port", port);
	out_str(o, "name", "%s", p->name);
	out_bool(o, "connected", p->vh->connected);
	out_bool(o, "attached", info.attached);
	out_hex(o, "status", info.status_shown);
	out_str(o, "status_names", "%s", vs_status_format(info.status_shown, buf, sizeof(buf)));
	out_str(o, "state", "%s", cmd_run_state_name(info.run_state));
	out_str(o, "stop_kind", "%s", cmd_stop_kind_name(info.stop_kind));
	out_bool(o, "quiesced", info.quiesced);
	out_hex(o, "features", info.features);
	out_str(o, "feature_names", "%s", cmd_features_format(info.features, buf, sizeof(buf)));
	out_bool(o, "device_stop_negotiated", vs_feature_has(info.features, VS_F_DEVICE_STOP));
	out_bool(o, "suspend_negotiated", vs_feature_has(info.features, VS_F_SUSPEND));
	out_u64(o, "nb_vqs", info.nb_vqs);
	out_str(o, "link", "%s", (info.config.status & 1) ? "up" : "down");
	out_bool(o, "config_change_pending", info.config_pending);
	mac_str(info.config.mac, buf, sizeof(buf));
	out_str(o, "mac", "%s", buf);
	out_u64(o, "mtu", info.config.mtu);
	out_double(o, "last_stop_us", (double)info.last_stop_ns / 1000.0, 3);
	out_u64(o, "last_stop_ns", info.last_stop_ns);
	out_u64(o, "last_stop_iters", info.last_stop_iters);
	out_u64(o, "last_stop_iters_fastest", info.last_stop_iters_max);
	out_u64(o, "stops", info.stops);
	out_u64(o, "resumes", info.resumes);
	out_u64(o, "cancels", info.cancels);
	out_u64(o, "merged", info.merged);
	out_u64(o, "refused_writes", info.refused);
	out_u64(o, "deadline_misses", info.deadline_misses);
	out_u64(o, "resets", info.resets);
	out_u64(o, "frames_held", aq_frames_held(port));
	out_obj_begin(o, "stop_latency_hist");
	for (unsigned int i = 0; i < RTE_DIM(info.stop_hist); i++)
		out_u64(o, hist_names[i], info.stop_hist[i]);
	out_obj_end(o);
	return 0;
}

static int
show_device_status(struct cmd_out *o, int argc, char **argv)
{
	uint16_t port;

	if (cmd_vhost_port(o, argv[argc - 1], &port) != 0)
		return -1;
	return cmd_show_device(o, port);
}

/* ---- show port ... ---- */

static void
port_info(struct cmd_out *o, const struct app_port *p)
{
	char buf[512];

	out_u64(o, "port", p->id);
	out_str(o, "kind", "%s", p->kind == PORT_VHOST ? "vhost" : "ethdev");
	out_str(o, "name", "%s", p->name);
	out_u64(o, "queues", p->nb_queues);
	mac_str(p->mac.addr_bytes, buf, sizeof(buf));
	out_str(o, "mac", "%s", buf);
	if (p->kind == PORT_VHOST) {
		const struct vhost_port *vp = p->vh;

		out_str(o, "socket", "%s", vp->path);
		out_str(o, "mode", "%s", vp->client ? "client" : "server");
		out_bool(o, "connected", vp->connected);
		out_int(o, "vid", vp->connected ? vp->vid : -1);
		out_u64(o, "engine_dev", p->dev);
		out_hex(o, "offered_features", vp->offered);
		out_hex(o, "negotiated_features", vp->negotiated);
		out_str(o, "negotiated_names", "%s",
			cmd_features_format(vp->negotiated, buf, sizeof(buf)));
	} else {
		struct rte_eth_dev_info di;
		struct rte_eth_link link;

		out_u64(o, "ethdev", p->eth_id);
		if (rte_eth_dev_info_get(p->eth_id, &di) == 0)
			out_str(o, "driver", "%s", di.driver_name);
		if (rte_eth_link_get_nowait(p->eth_id, &link) == 0) {
			out_str(o, "link", "%s", link.link_status ? "up" : "down");
			out_u64(o, "speed_mbps", link.link_speed);
		}
	}
}

static void
port_stats(struct cmd_out *o, const struct app_port *p)
{
	struct port_counters c;
	struct aq_queue_stats q;

	aq_port_stats(p->id, true, &c);
	out_u64(o, "port", p->id);
	out_u64(o, "rx", c.rx);
	out_u64(o, "tx", c.tx);
	out_u64(o, "drop", c.drop);
	out_u64(o, "held", c.held);
	out_u64(o, "held_drop", c.held_drop);
	if (p->kind == PORT_VHOST)
		out_u64(o, "frames_held", aq_frames_held(p->id));
	if (p->kind == PORT_ETHDEV) {
		struct rte_eth_stats es;

		if (rte_eth_stats_get(p->eth_id, &es) == 0) {
			out_obj_begin(o, "ethdev");
			out_u64(o, "ipackets", es.ipackets);
			out_u64(o, "opackets", es.opackets);
			out_u64(o, "ibytes", es.ibytes);
			out_u64(o, "obytes", es.obytes);
			out_u64(o, "imissed", es.imissed);
			out_u64(o, "ierrors", es.ierrors);
			out_u64(o, "oerrors", es.oerrors);
			out_u64(o, "rx_nombuf", es.rx_nombuf);
			out_obj_end(o);
		}
	}
	out_arr_begin(o, "queues");
	for (uint16_t i = 0; i < p->nb_queues; i++) {
		char name[32];

		if (aq_queue_stats(p->id, i, true, &q) != 0)
			continue;
		snprintf(name, sizeof(name), "queue %u", i);
		out_obj_begin(o, name);
		out_u64(o, "queue", i);
		out_u64(o, "rx", q.rx);
		out_u64(o, "tx", q.tx);
		out_u64(o, "drop", q.drop);
		out_u64(o, "held", q.held);
		out_u64(o, "held_drop", q.held_drop);
		if (p->kind == PORT_VHOST) {
			out_u64(o, "delivered", q.delivered);
			out_u64(o, "held_dropped", q.held_dropped);
			out_u64(o, "loaded", q.loaded);
			out_u64(o, "held_now", q.held_now);
		}
		out_obj_end(o);
	}
	out_arr_end(o);
}

static void
port_xstats(struct cmd_out *o, const struct app_port *p)
{
	out_u64(o, "port", p->id);
	out_obj_begin(o, "xstats");
	if (p->kind == PORT_ETHDEV) {
		int n = rte_eth_xstats_get_names(p->eth_id, NULL, 0);
		struct rte_eth_xstat_name *names = n > 0 ? calloc(n, sizeof(*names)) : NULL;
		struct rte_eth_xstat *vals = n > 0 ? calloc(n, sizeof(*vals)) : NULL;

		if (names != NULL && vals != NULL &&
		    rte_eth_xstats_get_names(p->eth_id, names, n) == n &&
		    rte_eth_xstats_get(p->eth_id, vals, n) == n)
			for (int i = 0; i < n; i++)
				out_u64(o, names[vals[i].id].name, vals[i].value);
		free(names);
		free(vals);
	} else {
		struct aq_queue_stats q;
		struct vs_dev_info info;
		char name[64];

		for (uint16_t i = 0; i < p->nb_queues; i++) {
			if (aq_queue_stats(p->id, i, true, &q) != 0)
				continue;
#define X(f) do { snprintf(name, sizeof(name), "q%u_" #f, i); out_u64(o, name, q.f); } while (0)
			X(rx);
			X(tx);
			X(drop);
			X(held);
			X(held_drop);
			X(delivered);
			X(held_dropped);
			X(loaded);
			X(held_now);
#undef X
		}
		if (vs_ctl_dev_info(app.ctl, p->dev, &info, aq_op_timeout_ms()) == 0) {
			out_u64(o, "dev_stops", info.stops);
			out_u64(o, "dev_resumes", info.resumes);
			out_u64(o, "dev_cancels", info.cancels);
			out_u64(o, "dev_merged", info.merged);
			out_u64(o, "dev_refused_writes", info.refused);
			out_u64(o, "dev_deadline_misses", info.deadline_misses);
			out_u64(o, "dev_resets", info.resets);
			out_u64(o, "dev_last_stop_ns", info.last_stop_ns);
			out_u64(o, "dev_last_stop_iters", info.last_stop_iters);
		}
	}
	out_obj_end(o);
}

static int
show_port(struct cmd_out *o, int argc, char **argv)
{
	void (*fn)(struct cmd_out *, const struct app_port *);
	uint16_t port;
	bool all;

	RTE_SET_USED(argc);
	if (cmd_port_or_all(o, argv[3], &port, &all) != 0)
		return -1;
	if (strcmp(argv[2], "info") == 0)
		fn = port_info;
	else if (strcmp(argv[2], "stats") == 0)
		fn = port_stats;
	else
		fn = port_xstats;
	if (!all) {
		fn(o, aq_port(port));
		return 0;
	}
	out_arr_begin(o, "ports");
	for (uint16_t i = 0; i < aq_nb_ports(); i++) {
		char name[32];

		if (aq_port(i) == NULL)
			continue;
		snprintf(name, sizeof(name), "port %u", i);
		out_obj_begin(o, name);
		fn(o, aq_port(i));
		out_obj_end(o);
	}
	out_arr_end(o);
	return 0;
}

/* ---- show queue map / lcores ---- */

static int
show_queue_map(struct cmd_out *o, int argc, char **argv)
{
	unsigned int n = aq_nb_active_streams();

	RTE_SET_USED(argc);
	RTE_SET_USED(argv);
	out_str(o, "fwd", "%s", fwd_mode_name(aq_fwd_mode()));
	out_bool(o, "started", aq_fwd_started());
	out_arr_begin(o, "streams");
	for (unsigned int i = 0; i < n; i++) {
		struct aq_stream s;
		char from[32] = "-", to[32] = "-", label[96];

		if (aq_active_stream(i, &s) != 0)
			break;
		if (s.rx_port >= 0)
			snprintf(from, sizeof(from), "port %d queue %d", s.rx_port, s.rx_q);
		if (s.tx_port >= 0)
			snprintf(to, sizeof(to), "port %d queue %d", s.tx_port, s.tx_q);
		snprintf(label, sizeof(label), "lcore %u: %s -> %s", s.lcore_id, from, to);
		if (o->fmt == CMD_FMT_TEXT) {
			out_str(o, NULL, "%s%s", label, s.parks ? " (holds for a stopped device)" : "");
			continue;
		}
		out_obj_begin(o, NULL);
		out_u64(o, "lcore", s.lcore_id);
		out_int(o, "rx_port", s.rx_port);
		out_int(o, "rx_queue", s.rx_q);
		out_int(o, "tx_port", s.tx_port);
		out_int(o, "tx_queue", s.tx_q);
		out_bool(o, "holds", s.parks);
		out_obj_end(o);
	}
	out_arr_end(o);
	return 0;
}

static int
show_lcores(struct cmd_out *o, int argc, char **argv)
{
	RTE_SET_USED(argc);
	RTE_SET_USED(argv);
	out_u64(o, "control_lcore", rte_get_main_lcore());
	out_arr_begin(o, "polling_lcores");
	for (unsigned int i = 0; i < aq_nb_lcores(); i++) {
		struct aq_lcore l;
		char name[32];

		if (aq_lcore(i, &l) != 0)
			break;
		snprintf(name, sizeof(name), "lcore %u", l.lcore_id);
		out_obj_begin(o, name);
		out_u64(o, "lcore", l.lcore_id);
		out_u64(o, "poller", l.poller);
		out_u64(o, "streams", l.nb_streams);
		out_u64(o, "iterations", l.iterations);
		out_u64(o, "frames_moved", l.moved);
		out_obj_end(o);
	}
	out_arr_end(o);
	return 0;
}

const struct cmd_def cmd_show_defs[] = {
	{ "show port info|stats|xstats <port|all>",
	  "Port configuration, counters (since 'clear port stats') or extended counters.",
	  "show port stats all", show_port },
	{ "show queue map",
	  "Forwarding streams: which polling lcore moves which rx queue to which tx queue.",
	  "show queue map", show_queue_map },
	{ "show lcores",
	  "The control lcore and each polling lcore: streams, loop iterations, frames moved.",
	  "show lcores", show_lcores },
	{ "show device status <port>",
	  "Virtio status (decoded), stop state, features, link, stop latency and counters "
	  "of a vhost-user port.",
	  "show device status 0", show_device_status },
	{ NULL, NULL, NULL, NULL },
};
