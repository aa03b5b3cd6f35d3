/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness: vstop's extern vhost-user message handler (app/vhost_msg.c, the
 * pre_msg_handle librte_vhost calls for every message) on top of the real stop engine
 * (lib/), driven by hand on this thread. What librte_vhost and the rest of the
 * application would provide is mocked here: the port, the negotiated protocol
 * features, the SET_DEVICE_STATE_FD worker, the timer frequency.
 *
 * Input: a sequence of steps. A step is either one message -- any request id (those vstop
 * handles, those it passes on, unknown ones), any flags, any size, any payload bytes, 0..8
 * file descriptors, from the current front end or from a second connection -- or an event
 * (device attached/detached, a control-loop pass, a protocol-feature or worker change).
 *
 * After every message, what librte_vhost 22.11 relies on must hold (vhost_user.c,
 * vhost_user_msg_handler; DESIGN.md section 5):
 *  - the result is one of REPLY, OK, ERR, NOT_HANDLED; ERR (which closes the connection
 *    when the driver asked for no reply) only to refuse a second front end;
 *  - REPLY: no fd left in the message (they would be sent back), a payload size that fits
 *    the payload union, 8 bytes for the u64 answers;
 *  - REPLY, OK, ERR: the library closes nothing afterwards, so every fd that came with the
 *    message must be closed (or handed to the state worker, which closes it): no leak;
 *  - NOT_HANDLED: every fd still listed is open (the library's handler owns it), and
 *    every fd no longer listed was closed;
 *  - GET_STATUS answers what the engine shows; a refused SET_STATUS (R10) changes
 *    nothing; SET_FEATURES hides bits 42 and 43 from librte_vhost.
 * FUZZ_VHOST_MSG_NO_FD_CHECK=1 in the environment turns the fd checks off (to explore past
 * a known leak).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_log.h>
#include <rte_vhost.h>

#include "devstate_io.h"
#include "vhost_dev.h"
#include "vhost_log.h"
#include "vhost_msg.h"
#include "vhost_msg_layout.h"
#include "vs_ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define NQP 2
#define FD_BASE 900 /* fds of a message live up here: never reused by what the code opens */

/* ---- what the rest of vstop provides -------------------------------------------------- */

struct app app;
int vstop_vhost_logtype;
int vstop_app_logtype;

static struct vhost_port vp;
static int cur_vid;               /* the connection the port serves */
static uint64_t proto_features;   /* rte_vhost_get_negotiated_protocol_features */
static uint64_t xfer_reply;       /* what the SET_DEVICE_STATE_FD worker start answers */
static int xfer_check;            /* what CHECK_DEVICE_STATE's wait returns */
static int xfer_fd_taken = -1;    /* fd handed to the worker (it closes it) */
static bool fd_check = true;
static int devnull = -1;
static bool verbose; /* FUZZ_VHOST_MSG_VERBOSE=1: one line per step */

struct vhost_port *
vhost_port_by_vid(int vid)
{
	return vid == 0 || vid == 1 ? &vp : NULL;
}

bool
vhost_port_is_current(struct vhost_port *p, int vid)
{
	return p == &vp && vid == cur_vid;
}

void
vhost_port_vring_base_set(struct vhost_port *p, uint16_t vq, uint16_t base)
{
	if (p != &vp)
		abort();
	(void)vq;
	(void)base;
}

/* The ring debug log and the packed-ring dirty log read guest memory: none here. */
void
vhost_port_log_rings(struct vhost_port *p, int vid, const char *when)
{
	(void)p;
	(void)vid;
	(void)when;
}

uint64_t
vhost_log_packed_ring(int vid, uint16_t vq)
{
	(void)vid;
	(void)vq;
	return 0;
}

uint64_t
devstate_xfer_start(struct vhost_port *p, uint32_t dir, uint32_t phase, int fd)
{
	if (p != &vp || fd < 0 || fcntl(fd, F_GETFD) < 0)
		abort(); /* the handler must pass an fd it owns */
	(void)dir;
	(void)phase;
	xfer_fd_taken = fd;
	close(fd); /* the worker owns it from now on */
	return xfer_reply;
}

int
devstate_xfer_check(struct vhost_port *p)
{
	if (p != &vp)
		abort();
	return xfer_check;
}

int
rte_vhost_get_negotiated_protocol_features(int vid, uint64_t *pf)
{
	if (vid != 0 && vid != 1)
		return -1;
	*pf = proto_features;
	return 0;
}

/* No EAL here: give the timer a frequency (the handler converts cycles to us). */
uint64_t
rte_get_tsc_hz(void)
{
	return 2000000000ull;
}

/* ---- the engine, run on this thread ---------------------------------------------------- */

/*
 * librte_vhost's thread waits for ops; here the control loop runs right away instead, a
 * bounded number of passes (a stop whose drain never ends stays with the engine, as a
 * timed-out wait leaves it).
 */
int __real_vs_ctl_call(struct vs_ctl *ctl, struct vs_op *op, int timeout_ms);
int __wrap_vs_ctl_call(struct vs_ctl *ctl, struct vs_op *op, int timeout_ms);
int __wrap_vs_ctl_set_status(struct vs_ctl *ctl, uint16_t dev, uint8_t status, int timeout_ms);
int __wrap_vs_ctl_simple(struct vs_ctl *ctl, unsigned int type, uint16_t dev, int timeout_ms);

int
__wrap_vs_ctl_call(struct vs_ctl *ctl, struct vs_op *op, int timeout_ms)
{
	int rc = vs_ctl_submit(ctl, op);

	(void)timeout_ms;
	if (rc != 0)
		return rc;
	for (int i = 0; i < 8 && !vs_op_done(op); i++)
		vs_ctl_run_once(ctl);
	return vs_ctl_wait(op, 0); /* done: its result; else -ETIMEDOUT, the engine keeps it */
}

static int
call_free(struct vs_op *op)
{
	int rc;

	if (op == NULL)
		return -ENOMEM;
	rc = __wrap_vs_ctl_call(app.ctl, op, 0);
	if (rc != -ETIMEDOUT)
		vs_op_free(op);
	return rc;
}

int
__wrap_vs_ctl_set_status(struct vs_ctl *ctl, uint16_t dev, uint8_t status, int timeout_ms)
{
	struct vs_op *op = vs_op_alloc(VS_OP_SET_STATUS, dev);

	(void)ctl;
	(void)timeout_ms;
	if (op != NULL)
		op->in.status = status;
	return call_free(op);
}

int
__wrap_vs_ctl_simple(struct vs_ctl *ctl, unsigned int type, uint16_t dev, int timeout_ms)
{
	(void)ctl;
	(void)timeout_ms;
	return call_free(vs_op_alloc(type, dev));
}

static int drain_eagain;

static int
be_drain(void *priv)
{
	(void)priv;
	if (drain_eagain > 0) {
		drain_eagain--;
		return -EAGAIN;
	}
	return 0;
}

static struct vs_vq_state vqs[2 * NQP];

static int
be_get(void *priv, uint16_t vq, struct vs_vq_state *st)
{
	(void)priv;
	if (vq >= 2 * NQP)
		return -EINVAL;
	*st = vqs[vq];
	return 0;
}

static int
be_set(void *priv, uint16_t vq, const struct vs_vq_state *st)
{
	(void)priv;
	if (vq >= 2 * NQP)
		return -EINVAL;
	vqs[vq] = *st;
	return 0;
}

static void
stream_fn(void *arg)
{
	(void)arg;
}

static const struct vs_backend_ops be_ops = { .drain = be_drain, .get_vq_state = be_get,
					      .set_vq_state = be_set };

static struct app_port port;

static void
setup(void)
{
	struct vs_ctl_params p = { .nb_pollers = 1, .stop_timeout_ns = 1000000000ull };
	struct vs_op *op;

	app.ctl = vs_ctl_create(&p);
	if (app.ctl == NULL)
		abort();
	op = vs_op_alloc(VS_OP_DEV_ADD, 0);
	op->in.dev_add = (struct vs_dev_add){ .name = "fuzz", .ops = &be_ops,
					      .nb_vqs = 2 * NQP,
					      .config = { .mtu = 1500, .status = 1,
							  .max_vq_pairs = NQP } };
	if (call_free(op) != 0)
		abort();
	for (uint16_t q = 0; q < NQP; q++) {
		op = vs_op_alloc(VS_OP_STREAM_ADD, 0);
		op->in.stream = (struct vs_stream){ .fn = stream_fn, .poller = 0,
						    .rx_dev = 0, .rx_vq = 2 * q + 1,
						    .tx_dev = 0, .tx_vq = 2 * q };
		if (call_free(op) < 0)
			abort();
	}
	memset(&port, 0, sizeof(port));
	port.kind = PORT_VHOST;
	port.dev = 0;
	port.vh = &vp;
	port.nb_queues = NQP;
	memset(&vp, 0, sizeof(vp));
	vp.port = &port;
	snprintf(vp.path, sizeof(vp.path), "/fuzz.sock");
	vp.nb_qp = NQP;
	vp.vid = 0;
	vp.connected = true;
	vp.offered = (1ull << 32) | (1ull << 30) | (1ull << 22) | (1ull << VS_F_DEVICE_STOP) |
		     (1ull << VS_F_SUSPEND);
	memset(vqs, 0, sizeof(vqs));
	cur_vid = 0;
	proto_features = (1ull << VHU_PROTO_F_STATUS) | (1ull << VHU_PROTO_F_REPLY_ACK) |
			 (1ull << VHU_PROTO_F_DEVICE_STATE);
	xfer_reply = VHU_STATE_REPLY_NO_FD;
	xfer_check = 0;
	drain_eagain = 0;
}

static void
teardown(void)
{
	for (int i = 0; i < 16; i++)
		vs_ctl_run_once(app.ctl);
	vs_ctl_free(app.ctl);
	app.ctl = NULL;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	rte_log_set_global_level(RTE_LOG_EMERG); /* quiet: millions of messages */
	app.opts.stop_timeout_ms = 1000;
	fd_check = getenv("FUZZ_VHOST_MSG_NO_FD_CHECK") == NULL;
	verbose = getenv("FUZZ_VHOST_MSG_VERBOSE") != NULL;
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0)
		abort();
	return 0;
}

/* ---- one message ----------------------------------------------------------------------- */

static const uint32_t requests[] = {
	VHU_GET_FEATURES, VHU_SET_FEATURES, 3 /* SET_OWNER */, VHU_RESET_OWNER,
	VHU_SET_MEM_TABLE, VHU_SET_VRING_BASE, VHU_GET_VRING_BASE, VHU_GET_QUEUE_NUM,
	VHU_SET_VRING_ENABLE, VHU_SET_STATUS, VHU_GET_STATUS, VHU_SET_DEVICE_STATE_FD,
	VHU_CHECK_DEVICE_STATE, 24 /* GET_CONFIG */, 25 /* SET_CONFIG */,
	21 /* SET_SLAVE_REQ_FD */, 12 /* SET_VRING_KICK */, 15, 16, 0, 41, 44, 0xffffffffu,
};

/* No stop of the device under way (its status cannot change by itself). */
static bool
engine_settled(void)
{
	struct vs_op *op = vs_op_alloc(VS_OP_GET_INFO, 0);
	bool settled = false;
	int rc;

	if (op == NULL)
		return false;
	rc = __wrap_vs_ctl_call(app.ctl, op, 0);
	if (rc == 0)
		settled = op->out.info.run_state != VS_RUN_STOPPING;
	if (rc != -ETIMEDOUT)
		vs_op_free(op);
	return settled;
}

static bool
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void
check(bool ok, const char *what, uint32_t req, int rc)
{
	if (ok)
		return;
	fprintf(stderr, "fuzz_vhost_msg: request %u -> %d: %s\n", req, rc, what);
	abort();
}

static size_t
one_message(const uint8_t *d, size_t n)
{
	struct vhu_msg_ctx ctx;
	int given[VHU_MAX_FDS], nfd, vid, rc;
	uint32_t req;
	uint8_t before, flags;
	bool settled;
	size_t used;

	if (n < 6)
		return n;
	req = d[0] < RTE_DIM(requests) * 8 ? requests[d[0] % RTE_DIM(requests)] :
	      (uint32_t)d[1] | (uint32_t)d[2] << 8;
	flags = d[1];
	nfd = d[3] % (VHU_MAX_FDS + 1);
	nfd = nfd > 4 && !(d[3] & 0x80) ? 0 : nfd; /* mostly none */
	vid = (d[4] & 0x0f) == 0x0f ? !cur_vid : cur_vid; /* sometimes a second front end */
	memset(&ctx, 0, sizeof(ctx));
	ctx.msg.request = req;
	ctx.msg.flags = 1 | (flags & (VHU_FLAG_NEED_REPLY | VHU_FLAG_REPLY | 0xf0));
	/* Sizes: the exact ones vstop expects, 0, or anything up to the payload union. */
	switch (d[5] & 3) {
	case 0: ctx.msg.size = 8; break;
	case 1: ctx.msg.size = (d[5] >> 2) % 24; break;
	default: ctx.msg.size = ((uint32_t)d[5] << 2 | d[2]) % (VHU_PAYLOAD_SIZE + 1); break;
	}
	used = 6;
	for (size_t i = 0; i < VHU_PAYLOAD_SIZE && used < n && i < 64; i++)
		ctx.msg.payload.raw[i] = d[used++];
	for (int i = 0; i < nfd; i++) {
		given[i] = dup2(devnull, FD_BASE + i);
		if (given[i] < 0)
			abort();
		ctx.fds[i] = given[i];
	}
	ctx.fd_num = nfd;
	for (int i = nfd; i < VHU_MAX_FDS; i++)
		ctx.fds[i] = -1;
	settled = engine_settled();
	before = vs_ctl_status_shown(app.ctl, 0);
	uint64_t wrote = ctx.msg.payload.u64;
	xfer_fd_taken = -1;

	rc = vhost_msg_ops.pre_msg_handle(vid, &ctx);
	if (verbose)
		fprintf(stderr, "msg %u flags 0x%x size %u u64 0x%" PRIx64 " fds %d vid %d -> %d, "
			"reply size %u u64 0x%" PRIx64 "; status 0x%02x -> 0x%02x\n", req,
			flags, (unsigned int)(used - 6), wrote, nfd, vid, rc, ctx.msg.size,
			ctx.msg.payload.u64, before, vs_ctl_status_shown(app.ctl, 0));

	check(rc == RTE_VHOST_MSG_RESULT_OK || rc == RTE_VHOST_MSG_RESULT_ERR ||
	      rc == RTE_VHOST_MSG_RESULT_REPLY || rc == RTE_VHOST_MSG_RESULT_NOT_HANDLED,
	      "unknown result", req, rc);
	check(rc != RTE_VHOST_MSG_RESULT_ERR || vid != cur_vid,
	      "ERR (closes the connection) for the current front end", req, rc);
	if (rc == RTE_VHOST_MSG_RESULT_REPLY) {
		check(ctx.fd_num == 0, "REPLY with fds (sent back to the front end)", req, rc);
		check(ctx.msg.size <= VHU_PAYLOAD_SIZE, "REPLY larger than the payload", req, rc);
		if (req == VHU_GET_FEATURES || req == VHU_GET_STATUS || req == VHU_SET_STATUS ||
		    req == VHU_GET_QUEUE_NUM || req == VHU_SET_DEVICE_STATE_FD ||
		    req == VHU_CHECK_DEVICE_STATE)
			check(ctx.msg.size == 8, "u64 answer not 8 bytes", req, rc);
		if (req == VHU_GET_STATUS)
			check(ctx.msg.payload.u64 == vs_ctl_status_shown(app.ctl, 0),
			      "GET_STATUS differs from the engine's status", req, rc);
		/* (A stop under way may complete meanwhile: only when none was.) */
		if (req == VHU_SET_STATUS && ctx.msg.payload.u64 != 0 && settled)
			check(vs_ctl_status_shown(app.ctl, 0) == before,
			      "a refused SET_STATUS changed the status (R10)", req, rc);
	}
	if (req == VHU_SET_FEATURES && rc == RTE_VHOST_MSG_RESULT_NOT_HANDLED && vid == cur_vid)
		check((ctx.msg.payload.u64 & ((1ull << VS_F_DEVICE_STOP) | (1ull << VS_F_SUSPEND))) ==
		      0 && (ctx.msg.payload.u64 | (1ull << VS_F_DEVICE_STOP) |
			    (1ull << VS_F_SUSPEND)) == (wrote | (1ull << VS_F_DEVICE_STOP) |
							(1ull << VS_F_SUSPEND)),
		      "SET_FEATURES passed on with bits 42/43, or other bits changed", req, rc);
	if (fd_check) {
		for (int i = 0; i < nfd; i++) {
			bool listed = false;

			if (rc == RTE_VHOST_MSG_RESULT_NOT_HANDLED)
				for (int j = 0; j < ctx.fd_num && j < VHU_MAX_FDS; j++)
					listed |= ctx.fds[j] == given[i];
			if (listed)
				check(fd_open(given[i]), "fd left for librte_vhost but closed", req, rc);
			else
				check(!fd_open(given[i]),
				      rc == RTE_VHOST_MSG_RESULT_NOT_HANDLED ?
				      "fd dropped from the message but not closed (leak)" :
				      "fd of a handled message not closed (leak: librte_vhost "
				      "closes nothing after REPLY/OK/ERR)", req, rc);
		}
	}
	/* What librte_vhost does next: its handler closes what is left. */
	for (int i = 0; i < nfd; i++)
		if (fd_open(given[i]))
			close(given[i]);
	return used;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i = 0;

	setup();
	while (i < size) {
		uint8_t op = data[i++];
		uint8_t arg = i < size ? data[i] : 0;

		if (verbose && op % 8 >= 4)
			fprintf(stderr, "event %u arg 0x%02x\n", op % 8, arg);
		switch (op % 8) {
		case 0: case 1: case 2: case 3: /* a message */
			i += one_message(data + i, size - i);
			break;
		case 4: /* the device's queues exist (new_device) or go (destroy_device) */
			call_free(vs_op_alloc(arg & 1 ? VS_OP_ATTACH : VS_OP_DETACH, 0));
			i++;
			break;
		case 5: /* a control-loop pass (stops under way advance) */
			vs_ctl_run_once(app.ctl);
			break;
		case 6: /* what the mocks answer */
			proto_features ^= (uint64_t)(arg & 1) << VHU_PROTO_F_DEVICE_STATE;
			xfer_reply = VHU_STATE_REPLY_NO_FD | ((arg >> 1) & 1);
			xfer_check = (arg >> 2) & 1 ? -EIO : 0;
			drain_eagain = (arg >> 3) & 3;
			i++;
			break;
		case 7: /* reconnect: the port now serves the other connection */
			cur_vid = !cur_vid;
			vp.vid = cur_vid;
			break;
		}
	}
	teardown();
	return 0;
}
