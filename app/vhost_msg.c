/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The extern pre_msg_handle. librte_vhost 22.11 (lib/vhost/vhost_user.c,
 * vhost_user_msg_handler) calls it for every message, unknown request ids included, after
 * taking the vq locks listed in DESIGN.md §5 and before its own handler. What each
 * return value does there:
 *   RESULT_REPLY        it sends ctx->msg as the reply (NEED_REPLY is cleared by that),
 *                       skips its own handler; fds still in ctx are sent along, so
 *                       fd_num must be 0.
 *   RESULT_OK           handled: its own handler is skipped; with NEED_REPLY it acks 0.
 *   RESULT_ERR          handled: with NEED_REPLY it acks 1, without it closes the
 *                       connection.
 *   RESULT_NOT_HANDLED  its own handler runs; an unknown request (no handler) is then
 *                       an error: ack 1, or connection closed without NEED_REPLY.
 * So a refused write is answered here with our own non-zero ack (RESULT_REPLY) when the
 * driver asked for one, and with RESULT_OK otherwise: the connection stays up and the
 * library never stores the refused status.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>

#include "devstate_io.h"
#include "vhost_dev.h"
#include "vhost_log.h"
#include "vhost_msg.h"
#include "vhost_msg_layout.h"
#include "relay.h"

#define STOP_FEATURES ((1ull << VS_F_DEVICE_STOP) | (1ull << VS_F_SUSPEND))

static int
wait_ms(void)
{
	return (int)app.opts.stop_timeout_ms + 1000;
}

/* The reply carries no fd: pre_msg() closes the message's and clears fd_num. */
static enum rte_vhost_msg_result
reply_u64(struct vhu_msg_ctx *ctx, uint64_t v)
{
	ctx->msg.payload.u64 = v;
	ctx->msg.size = sizeof(uint64_t);
	return RTE_VHOST_MSG_RESULT_REPLY;
}

/* Answer a write that carries no reply of its own (REPLY_ACK semantics). */
static enum rte_vhost_msg_result
ack(struct vhu_msg_ctx *ctx, bool ok)
{
	if (ok || !(ctx->msg.flags & VHU_FLAG_NEED_REPLY))
		return RTE_VHOST_MSG_RESULT_OK; /* library acks 0 if asked; never closes */
	return reply_u64(ctx, 1);
}

static void
close_fds(struct vhu_msg_ctx *ctx, int from)
{
	for (int i = from; i < ctx->fd_num && i < VHU_MAX_FDS; i++) {
		if (ctx->fds[i] >= 0)
			close(ctx->fds[i]);
		ctx->fds[i] = -1;
	}
}

static enum rte_vhost_msg_result
on_get_features(struct vhost_port *vp, struct vhu_msg_ctx *ctx)
{
	return reply_u64(ctx, vp->offered);
}

static enum rte_vhost_msg_result
on_set_features(struct vhost_port *vp, struct vhu_msg_ctx *ctx)
{
	uint64_t f = ctx->msg.payload.u64;
	struct vs_op *op;

	/* Every vq lock is held: post, do not wait. Ops run in order, so a later
	 * SET_STATUS (which waits) sees the features. */
	vp->negotiated = f;
	op = vs_op_alloc(VS_OP_SET_FEATURES, vp->port->dev);
	if (op != NULL)
		op->in.features = f;
	if (op == NULL || vs_ctl_post(app.ctl, op) < 0)
		VH_LOG(ERR, "%s: cannot pass features to the engine", vp->path);
	/* librte_vhost does not know bits 42/43 and would refuse them. */
	ctx->msg.payload.u64 = f & ~STOP_FEATURES;
	VH_LOG(INFO, "%s: features 0x%" PRIx64 " (stop: %s, suspend: %s)", vp->path, f,
	       (f >> VS_F_DEVICE_STOP) & 1 ? "yes" : "no", (f >> VS_F_SUSPEND) & 1 ? "yes" : "no");
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

static enum rte_vhost_msg_result
on_set_status(struct vhost_port *vp, struct vhu_msg_ctx *ctx)
{
	uint64_t v = ctx->msg.payload.u64;
	char buf[96];
	int rc;

	if (v > UINT8_MAX)
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED; /* the library refuses it */
	/* No librte_vhost lock is held for SET_STATUS: waiting is safe. */
	rc = vs_ctl_set_status(app.ctl, vp->port->dev, (uint8_t)v, wait_ms());
	if (v == 0)
		vhost_port_log_rings(vp, vp->vid, "SET_STATUS 0");
	VH_LOG(DEBUG, "%s: SET_STATUS 0x%02x (%s) -> %d", vp->path, (unsigned int)v,
	       vs_status_format((uint8_t)v, buf, sizeof(buf)), rc);
	if (rc == -EPERM)
		return ack(ctx, false); /* R10: status unchanged, counted by the engine */
	if (rc < 0) {
		VH_LOG(ERR, "%s: SET_STATUS 0x%02x: %s", vp->path, (unsigned int)v, strerror(-rc));
		return ack(ctx, false);
	}
	/*
	 * Initialisation writes and 0 (reset, V5) go on to librte_vhost: its readiness
	 * check waits for DRIVER_OK in its own copy of the status. A write with a stop bit
	 * is the engine's business only.
	 */
	if (v == 0 || !(v & VS_STATUS_STOP_BITS))
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	return RTE_VHOST_MSG_RESULT_OK;
}

static enum rte_vhost_msg_result
on_get_status(struct vhost_port *vp, struct vhu_msg_ctx *ctx)
{
	/* R6: what the control lcore last published; lock-free. */
	return reply_u64(ctx, vs_ctl_status_shown(app.ctl, vp->port->dev));
}

static enum rte_vhost_msg_result
on_get_vring_base(struct vhost_port *vp, struct vhu_msg_ctx *ctx)
{
	int rc;

	/*
	 * V1: stop every queue of the device through the epoch barrier before librte_vhost
	 * calls destroy_device and reads last_avail_idx. No lock is held for this message.
	 */
	uint64_t t0 = rte_get_timer_cycles();

	rc = vs_ctl_simple(app.ctl, VS_OP_QUIESCE, vp->port->dev, wait_ms());
	if (rc < 0)
		VH_LOG(ERR, "%s: GET_VRING_BASE %u: quiesce: %s", vp->path,
		       ctx->msg.payload.state.index, strerror(-rc));
	else
		VH_LOG(INFO, "%s: GET_VRING_BASE %u: device quiesced in %" PRIu64 " us", vp->path,
		       ctx->msg.payload.state.index,
		       (rte_get_timer_cycles() - t0) * 1000000 / rte_get_timer_hz());
	vhost_port_log_rings(vp, vp->vid, "GET_VRING_BASE");
	/* V6 with QEMU's packed rings (vhost_log.h): before the reply, QEMU's last sync. */
	vhost_log_packed_ring(vp->vid, (uint16_t)ctx->msg.payload.state.index);
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

static enum rte_vhost_msg_result
on_reset_owner(struct vhost_port *vp)
{
	int rc = vs_ctl_simple(app.ctl, VS_OP_RESET, vp->port->dev, wait_ms());

	if (rc < 0)
		VH_LOG(ERR, "%s: RESET_OWNER: %s", vp->path, strerror(-rc));
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

/* virtio-net config space: mac[6], status, max_virtqueue_pairs, mtu (le16 each). */
#define NET_CONFIG_LEN 12

static void
net_config_bytes(const struct vs_dev_config *c, uint8_t b[NET_CONFIG_LEN])
{
	memcpy(b, c->mac, 6);
	b[6] = c->status & 0xff;
	b[7] = c->status >> 8;
	b[8] = c->max_vq_pairs & 0xff;
	b[9] = c->max_vq_pairs >> 8;
	b[10] = c->mtu & 0xff;
	b[11] = c->mtu >> 8;
}

/* What the driver sees now (R7: frozen while stopped). No lock is held: waiting is safe. */
static int
visible_config(struct vhost_port *vp, struct vs_dev_config *cfg)
{
	struct vs_op *op = vs_op_alloc(VS_OP_GET_CONFIG, vp->port->dev);
	int rc;

	if (op == NULL)
		return -ENOMEM;
	rc = vs_ctl_call(app.ctl, op, wait_ms());
	if (rc == 0)
		*cfg = op->out.config;
	if (rc != -ETIMEDOUT)
		vs_op_free(op);
	return rc;
}

static bool
config_range_ok(const struct vhu_msg_ctx *ctx, uint32_t off, uint32_t size)
{
	return ctx->msg.size >= VHU_CONFIG_HDR_SIZE && size <= VHU_MAX_CONFIG_SIZE &&
	       off <= VHU_MAX_CONFIG_SIZE - size && ctx->msg.size - VHU_CONFIG_HDR_SIZE >= size;
}

/* GET_CONFIG (protocol feature CONFIG): the engine's visible config, virtio-net layout. */
static enum rte_vhost_msg_result
on_get_config(struct vhost_port *vp, struct vhu_msg_ctx *ctx)
{
	struct vhu_config *m = &ctx->msg.payload.cfg;
	uint32_t off = m->offset, size = m->size;
	uint8_t net[NET_CONFIG_LEN];
	struct vs_dev_config cfg;
	int rc;

	rc = config_range_ok(ctx, off, size) ? visible_config(vp, &cfg) : -EINVAL;
	if (rc < 0) {
		VH_LOG(ERR, "%s: GET_CONFIG offset %u size %u: %s", vp->path, off, size,
		       strerror(-rc));
		ctx->msg.size = 0; /* the protocol's error answer: an empty payload */
		return RTE_VHOST_MSG_RESULT_REPLY;
	}
	net_config_bytes(&cfg, net);
	for (uint32_t i = 0; i < size; i++)
		m->region[i] = off + i < NET_CONFIG_LEN ? net[off + i] : 0;
	ctx->msg.size = VHU_CONFIG_HDR_SIZE + size;
	return RTE_VHOST_MSG_RESULT_REPLY;
}

/*
 * SET_CONFIG: virtio-net lets the driver write the MAC only. The write goes through the
 * engine, so on a stopped device it waits for resume like any config change (R7).
 */
static enum rte_vhost_msg_result
on_set_config(struct vhost_port *vp, struct vhu_msg_ctx *ctx)
{
	struct vhu_config *m = &ctx->msg.payload.cfg;
	uint32_t off = m->offset, size = m->size;
	struct vs_dev_config cfg;
	struct vs_op *op;
	int rc;

	if (!config_range_ok(ctx, off, size) || off + size > 6) {
		VH_LOG(ERR, "%s: SET_CONFIG offset %u size %u refused: only the MAC is writable",
		       vp->path, off, size);
		return ack(ctx, false);
	}
	rc = visible_config(vp, &cfg);
	op = rc == 0 ? vs_op_alloc(VS_OP_SET_CONFIG, vp->port->dev) : NULL;
	if (op == NULL)
		return ack(ctx, false);
	memcpy(cfg.mac + off, m->region, size);
	op->in.config = cfg;
	rc = vs_ctl_call(app.ctl, op, wait_ms());
	if (rc != -ETIMEDOUT)
		vs_op_free(op);
	return ack(ctx, rc == 0);
}

/*
 * A message from a connection this port does not serve: a second front end that
 * connected while the first is still up. Refused by closing it: without NEED_REPLY, an
 * ERR makes librte_vhost close the connection.
 */
static enum rte_vhost_msg_result
refuse_second(struct vhost_port *vp, int vid, struct vhu_msg_ctx *ctx)
{
	VH_LOG(ERR, "%s: refusing a second front end (vid %d): vid %d is connected", vp->path,
	       vid, vp->vid);
	ctx->msg.flags &= ~VHU_FLAG_NEED_REPLY;
	return RTE_VHOST_MSG_RESULT_ERR;
}

static bool
device_state_negotiated(int vid)
{
	uint64_t pf = 0;

	return rte_vhost_get_negotiated_protocol_features(vid, &pf) == 0 &&
	       (pf & (1ull << VHU_PROTO_F_DEVICE_STATE));
}

static enum rte_vhost_msg_result
on_set_device_state_fd(struct vhost_port *vp, int vid, struct vhu_msg_ctx *ctx)
{
	struct vhu_device_state ds = ctx->msg.payload.dstate; /* packed: copy */
	int fd = ctx->fd_num > 0 ? ctx->fds[0] : -1;
	uint64_t rep;

	close_fds(ctx, 1);
	ctx->fd_num = 0;
	if (!device_state_negotiated(vid) || ctx->msg.size != sizeof(ds) || fd < 0) {
		VH_LOG(ERR, "%s: SET_DEVICE_STATE_FD: %s", vp->path,
		       fd < 0 ? "no fd" : "protocol feature DEVICE_STATE not negotiated "
		       "or bad size");
		if (fd >= 0)
			close(fd);
		return reply_u64(ctx, 1 | VHU_STATE_REPLY_NO_FD);
	}
	/* The pipe is served by a worker thread: this thread serves every device. */
	rep = devstate_xfer_start(vp, ds.transfer_direction, ds.migration_phase, fd);
	return reply_u64(ctx, rep);
}

static enum rte_vhost_msg_result
on_check_device_state(struct vhost_port *vp, int vid, struct vhu_msg_ctx *ctx)
{
	if (!device_state_negotiated(vid))
		return reply_u64(ctx, 1);
	return reply_u64(ctx, devstate_xfer_check(vp) == 0 ? 0 : 1);
}

static enum rte_vhost_msg_result dispatch(int vid, struct vhu_msg_ctx *ctx);

/*
 * librte_vhost closes a message's fds only when its own handler runs: any fd a front end
 * attached to a message vstop answered itself (stray, or not taken by the handler) is
 * closed here, so a front end cannot make vstop leak descriptors. A handler that keeps
 * an fd takes it out of the message first (on_set_device_state_fd).
 */
static enum rte_vhost_msg_result
pre_msg(int vid, void *msg)
{
	struct vhu_msg_ctx *ctx = msg;
	enum rte_vhost_msg_result r;

	/* The relay's barrier (relay.h): answered at once, whatever the connection. */
	if (ctx->msg.request == RELAY_SYNC_REQUEST) {
		close_fds(ctx, 0);
		ctx->fd_num = 0;
		return reply_u64(ctx, RELAY_SYNC_MAGIC);
	}
	r = dispatch(vid, ctx);

	if (r != RTE_VHOST_MSG_RESULT_NOT_HANDLED) {
		close_fds(ctx, 0);
		ctx->fd_num = 0;
	}
	return r;
}

static enum rte_vhost_msg_result
dispatch(int vid, struct vhu_msg_ctx *ctx)
{
	struct vhost_port *vp = vhost_port_by_vid(vid);

	if (vp == NULL)
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	if (!vhost_port_is_current(vp, vid))
		return refuse_second(vp, vid, ctx);
	switch (ctx->msg.request) {
	case VHU_GET_FEATURES:
		return on_get_features(vp, ctx);
	case VHU_SET_FEATURES:
		return on_set_features(vp, ctx);
	case VHU_GET_QUEUE_NUM:
		return reply_u64(ctx, vp->nb_qp);
	case VHU_SET_STATUS:
		return on_set_status(vp, ctx);
	case VHU_GET_STATUS:
		return on_get_status(vp, ctx);
	case VHU_GET_VRING_BASE:
		return on_get_vring_base(vp, ctx);
	case VHU_RESET_OWNER:
		return on_reset_owner(vp);
	case VHU_GET_CONFIG:
		return on_get_config(vp, ctx);
	case VHU_SET_CONFIG:
		return on_set_config(vp, ctx);
	case VHU_SET_SLAVE_REQ_FD:
		/* librte_vhost keeps the fd; config changes can be notified from now on. */
		if (ctx->fd_num == 1)
			__atomic_store_n(&vp->slave_channel, true, __ATOMIC_RELEASE);
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	case VHU_SET_VRING_BASE:
		VH_LOG(DEBUG, "%s: SET_VRING_BASE vq %u num %u", vp->path,
		       ctx->msg.payload.state.index, ctx->msg.payload.state.num);
		/* The front end positions the ring itself: a loaded position yields (M2). */
		vhost_port_vring_base_set(vp, (uint16_t)ctx->msg.payload.state.index,
					  (uint16_t)ctx->msg.payload.state.num);
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	case VHU_SET_MEM_TABLE:
		/*
		 * Not quiesced here on purpose: librte_vhost holds every vq access_lock
		 * while this hook and its handler run, so waiting for the epoch could
		 * deadlock with a polling lcore spinning on that lock in
		 * rte_vhost_enqueue_burst. That same lock is what protects the remap:
		 * vstop touches guest memory only through rte_vhost_enqueue/dequeue_burst,
		 * which take it.
		 */
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	case VHU_SET_DEVICE_STATE_FD:
		return on_set_device_state_fd(vp, vid, ctx);
	case VHU_CHECK_DEVICE_STATE:
		return on_check_device_state(vp, vid, ctx);
	default:
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	}
}

struct rte_vhost_user_extern_ops vhost_msg_ops = {
	.pre_msg_handle = pre_msg,
	.post_msg_handle = NULL,
};
