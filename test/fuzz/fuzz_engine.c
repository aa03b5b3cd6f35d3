/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness: the stop engine as a state machine. Each input byte pair is one step:
 * a driver status write, an orchestrator op, a vq/config/attach change, a poller iteration or
 * a control-loop pass, on one of two devices with streams on two simulated pollers. After
 * every step the contract's invariants must hold:
 *  - a device that shows DEVICE_STOPPED or SUSPEND has no stream on any poller's list, and no
 *    stream of it ran after its stop completed (R4, R8);
 *  - the bit is never shown before the drain ran after the last unpublish (R5, R6);
 *  - status reads never show both stop bits at once;
 *  - a device showing DEVICE_NEEDS_RESET has no stream on any list.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rte_log.h>

#include "vs_ctl.h"

#define NDEV 2

static struct vs_ctl *ctl;
static int ran_while_stopped;
static int stopped_flag[NDEV];
static int drains[NDEV], drain_eagain[NDEV], attached[NDEV];
static struct vs_vq_state vqs[NDEV][2];

static void
stream_fn(void *arg)
{
	int d = (int)(intptr_t)arg;

	if (stopped_flag[d])
		ran_while_stopped = 1;
}

static int
m_drain(void *priv)
{
	int d = (int)(intptr_t)priv;

	drains[d]++;
	if (drain_eagain[d] > 0) {
		drain_eagain[d]--;
		return -EAGAIN;
	}
	return 0;
}

static int
m_get(void *priv, uint16_t vq, struct vs_vq_state *st)
{
	*st = vqs[(intptr_t)priv][vq];
	return 0;
}

static int
m_set(void *priv, uint16_t vq, const struct vs_vq_state *st)
{
	vqs[(intptr_t)priv][vq] = *st;
	return 0;
}

static const struct vs_backend_ops ops = { .drain = m_drain, .get_vq_state = m_get,
					   .set_vq_state = m_set };

static int
run(struct vs_op *op)
{
	int rc;

	if (vs_ctl_submit(ctl, op) != 0) {
		vs_op_free(op);
		return -ENOBUFS;
	}
	vs_ctl_run_once(ctl);
	if (!vs_op_done(op)) {
		/* still pending (a stop or an epoch): the engine keeps it */
		rc = vs_ctl_wait(op, 0);
		if (rc != -ETIMEDOUT)
			vs_op_free(op);
		return rc;
	}
	rc = op->result;
	vs_op_free(op);
	return rc;
}

static void
poll_one(unsigned int p)
{
	struct vs_poller *pl = vs_ctl_poller(ctl, p);
	const struct vs_stream_list *l = vs_poller_streams(pl);

	for (unsigned int i = 0; i < l->n; i++)
		l->s[i].fn(l->s[i].arg);
	vs_poller_quiescent(pl);
}

static int
dev_listed(int d)
{
	for (unsigned int p = 0; p < 2; p++) {
		const struct vs_stream_list *l = vs_poller_streams(vs_ctl_poller(ctl, p));

		for (unsigned int i = 0; i < l->n; i++)
			if ((intptr_t)l->s[i].arg == d)
				return 1;
	}
	return 0;
}

static void
setup(void)
{
	struct vs_ctl_params p = { .nb_pollers = 2, .stop_timeout_ns = 1 };

	ctl = vs_ctl_create(&p);
	if (ctl == NULL)
		abort();
	vs_poller_online(vs_ctl_poller(ctl, 0));
	vs_poller_online(vs_ctl_poller(ctl, 1));
	for (intptr_t d = 0; d < NDEV; d++) {
		struct vs_op *op = vs_op_alloc(VS_OP_DEV_ADD, 0);

		op->in.dev_add = (struct vs_dev_add){ .name = "f", .ops = &ops,
						      .priv = (void *)d, .nb_vqs = 2 };
		if (run(op) != d)
			abort();
		op = vs_op_alloc(VS_OP_SET_FEATURES, d);
		op->in.features = 1ull << VS_F_DEVICE_STOP | 1ull << VS_F_SUSPEND;
		run(op);
		run(vs_op_alloc(VS_OP_ATTACH, d));
		for (uint16_t q = 0; q < 2; q++) {
			op = vs_op_alloc(VS_OP_STREAM_ADD, 0);
			op->in.stream = (struct vs_stream){ .fn = stream_fn, .arg = (void *)d,
							    .poller = q, .rx_dev = d, .rx_vq = q,
							    .tx_dev = d, .tx_vq = q };
			if (run(op) < 0)
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Quiet: the engine logs every refused write and cancel, millions of them here. */
	rte_log_set_global_level(RTE_LOG_EMERG);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	memset(stopped_flag, 0, sizeof(stopped_flag));
	memset(drains, 0, sizeof(drains));
	memset(drain_eagain, 0, sizeof(drain_eagain));
	attached[0] = attached[1] = 1;
	ran_while_stopped = 0;

	for (size_t i = 0; i + 1 < size; i += 2) {
		uint8_t what = data[i], arg = data[i + 1];
		int d = what & 1;
		struct vs_op *op;

		switch ((what >> 1) % 13) {
		case 0: /* a driver's status write */
			op = vs_op_alloc(VS_OP_SET_STATUS, d);
			op->in.status = arg;
			run(op);
			break;
		case 1:
			run(vs_op_alloc(VS_OP_STOP + arg % 4, d)); /* STOP SUSPEND RESUME RESET */
			break;
		case 2:
			run(vs_op_alloc(VS_OP_QUIESCE, d));
			break;
		case 3:
			op = vs_op_alloc(VS_OP_SET_VQ_READY, d);
			op->vq = arg & 1;
			op->in.ready = (arg >> 1) & 1;
			run(op);
			break;
		case 4:
			run(vs_op_alloc(arg & 1 ? VS_OP_ATTACH : VS_OP_DETACH, d));
			attached[d] = arg & 1;
			break;
		case 5:
			op = vs_op_alloc(VS_OP_SET_CONFIG, d);
			op->in.config.mtu = arg;
			run(op);
			break;
		case 6:
			op = vs_op_alloc(arg & 1 ? VS_OP_GET_VQ_STATE : VS_OP_SET_VQ_STATE, d);
			op->vq = (arg >> 1) & 3; /* 2 and 3 are out of range */
			op->in.vq_state.avail_idx = arg;
			run(op);
			break;
		case 7:
			drain_eagain[d] = arg % 4;
			break;
		case 8:
		case 9:
			poll_one(arg & 1);
			break;
		case 12: /* the transport found the device broken */
			run(vs_op_alloc(VS_OP_SET_NEEDS_RESET, d));
			break;
		default:
			vs_ctl_run_once(ctl);
			break;
		}
		for (int k = 0; k < NDEV; k++) {
			uint8_t s = vs_ctl_status_shown(ctl, k);
			int stopped = (s & (VS_STATUS_DEVICE_STOPPED | VS_STATUS_SUSPEND)) != 0;

			if (stopped && dev_listed(k))
				abort(); /* R4/R8: shown stopped but a poller may run it */
			if (stopped && !stopped_flag[k]) {
				/* R5: the bit shows on an attached device only after a drain
				 * (a detached one has no rings to drain). */
				if (attached[k] && drains[k] == 0)
					abort();
				/* From here until resume nothing of k may run. Any poller iteration
				 * that already started has ended (single thread). */
				stopped_flag[k] = 1;
			} else if (!stopped) {
				stopped_flag[k] = 0;
			}
			if ((s & VS_STATUS_DEVICE_STOPPED) && (s & VS_STATUS_SUSPEND))
				abort();
			if ((s & VS_STATUS_NEEDS_RESET) && dev_listed(k))
				abort(); /* a broken device must not run */
		}
		if (ran_while_stopped)
			abort();
	}
	vs_ctl_free(ctl);
	return 0;
}
