/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * set link up|down <port>. On a vhost-user port the link is virtio-net config space
 * (VIRTIO_NET_S_LINK_UP): the change goes to the engine (VS_OP_SET_CONFIG), which
 * applies and notifies it now, or, while the device is stopped, after resume (R7/S4).
 */
#include <errno.h>
#include <string.h>

#include <rte_ethdev.h>

#include "app_query.h"
#include "cmd.h"

#define VIRTIO_NET_S_LINK_UP 1

static int
set_link(struct cmd_out *o, int argc, char **argv)
{
	bool up = strcmp(argv[2], "up") == 0;
	const struct app_port *p;
	struct vs_dev_config cfg;
	struct vs_dev_info info;
	struct vs_op *op;
	uint16_t port;
	int rc;

	RTE_SET_USED(argc);
	if (cmd_port(o, argv[3], &port) != 0)
		return -1;
	p = aq_port(port);
	if (p->kind == PORT_ETHDEV) {
		rc = up ? rte_eth_dev_set_link_up(p->eth_id) : rte_eth_dev_set_link_down(p->eth_id);
		if (rc < 0)
			return cmd_err(o, "port %u: set link %s: %s", port, argv[2], strerror(-rc));
		out_u64(o, "port", port);
		out_str(o, "link", "%s", argv[2]);
		return 0;
	}

	op = vs_op_alloc(VS_OP_GET_CONFIG, p->dev);
	if (op == NULL)
		return cmd_err(o, "out of memory");
	rc = vs_ctl_call(app.ctl, op, aq_op_timeout_ms());
	if (rc < 0) {
		if (rc != -ETIMEDOUT)
			vs_op_free(op);
		return cmd_err(o, "port %u: read config: %s", port, strerror(-rc));
	}
	cfg = op->out.config;
	vs_op_free(op);
	op = vs_op_alloc(VS_OP_SET_CONFIG, p->dev);
	if (op == NULL)
		return cmd_err(o, "out of memory");
	op->in.config = cfg;
	if (up)
		op->in.config.status |= VIRTIO_NET_S_LINK_UP;
	else
		op->in.config.status &= ~VIRTIO_NET_S_LINK_UP;
	rc = vs_ctl_call(app.ctl, op, aq_op_timeout_ms());
	if (rc != -ETIMEDOUT)
		vs_op_free(op);
	if (rc < 0)
		return cmd_err(o, "port %u: set config: %s", port, strerror(-rc));
	rc = vs_ctl_dev_info(app.ctl, p->dev, &info, aq_op_timeout_ms());
	if (rc < 0)
		return cmd_err(o, "port %u: engine did not answer: %s", port, strerror(-rc));
	APP_LOG(INFO, "command: port %u link %s%s", port, argv[2],
		info.config_pending ? " (deferred until resume, R7)" : "");
	out_u64(o, "port", port);
	out_str(o, "requested", "%s", argv[2]);
	out_str(o, "link", "%s", (info.config.status & VIRTIO_NET_S_LINK_UP) ? "up" : "down");
	out_bool(o, "deferred", info.config_pending);
	if (info.config_pending)
		out_text(o, "Device stopped: the link changes and the driver is notified on "
			 "resume (R7).\n");
	return 0;
}

const struct cmd_def cmd_link_defs[] = {
	{ "set link up|down <port>",
	  "Set a port's link. On a stopped vhost-user device the change waits for resume "
	  "(R7) and is then applied and notified.",
	  "set link down 0", set_link },
	{ NULL, NULL, NULL, NULL },
};
