/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Conformance probes for DEVICE_STOPPED (R1-R12) and virtio 1.4 SUSPEND (S1-S4). Each
 * starts from a fresh connection under traffic and fails with the observation that
 * contradicts its rule.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fe.h"
#include "fe_conf.h"
#include "fe_mig.h"
#include "vs_status.h"

/* ---- R: DEVICE_STOPPED ---- */

enum verdict
chk_r1(struct conf *c)
{
	enum verdict v = need_stop(c, VS_F_DEVICE_STOP);
	uint8_t st;

	if (v != V_PASS)
		return v;
	STEP(conf_fresh(c, (1ull << VS_F_DEVICE_STOP) | (1ull << VS_F_SUSPEND)),
	     "bring-up without VIRTIO_F_DEVICE_STOP");
	if (fe_dev_has(dev(c), VS_F_DEVICE_STOP))
		return FAIL("feature 42 negotiated although the driver did not ask for it");
	fe_dev_set_status(dev(c), dev(c)->status | VS_STATUS_DEVICE_STOPPED, NULL);
	if (status_ever(c, VS_STATUS_DEVICE_STOPPED, QUIET_MS, &st))
		return FAIL("DEVICE_STOPPED (0x20) shown without feature 42 negotiated (status 0x%02x)",
			    st);
	if (fe_net_wait_rx(net(c), 256, 1000))
		return FAIL("traffic stopped although feature 42 was not negotiated: %s",
			    fe_errmsg());
	fe_dev_set_status(dev(c), dev(c)->status, NULL);
	return conf_clean(c);
}

enum verdict
chk_r2(struct conf *c)
{
	bool stop = has_status(c) && offered(c, VS_F_DEVICE_STOP);
	struct fe_stop_res r;
	unsigned int i;
	uint64_t ack;
	uint8_t st;
	int ret;

	if (!has_status(c))
		return SKIP("backend did not negotiate protocol feature STATUS (16)");
	STEP(conf_fresh(c, 0), "bring-up");
	if (stop)
		STEP(fe_dev_stop(dev(c), FE_STOP_STOPPED, &r), "stop");
	/* Reset by status 0 (V5: queues quiesced, indices kept). */
	ret = fe_dev_set_status(dev(c), 0, &ack);
	if (ret)
		return FAIL("SET_STATUS(0) refused: %s", fe_errmsg());
	if (status_until(c, 0xff, 0, c->a->o.dev.deadline_ms, &st))
		return FAIL("status 0x%02x after SET_STATUS(0), expected 0", st);
	STEP(fe_dev_get_bases(dev(c)), "GET_VRING_BASE after reset");
	for (i = 0; i < fe_dev_nvrings(dev(c)); i++) {
		uint16_t used = fe_vq_used_idx(fe_net_vq(net(c), i));

		if (dev(c)->base_cnt[i] != used)
			return FAIL("after reset ring %u base 0x%x (position %u) but used index %u",
				    i, dev(c)->bases[i], dev(c)->base_cnt[i], used);
	}
	/* Initialise again, QEMU style; the stop must be forgotten. */
	STEP(fe_dev_set_status(dev(c), VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER, NULL),
	     "status ACK|DRIVER");
	STEP(vu_set_u64(&dev(c)->vu, VU_SET_FEATURES, dev(c)->features, NULL), "SET_FEATURES");
	STEP(fe_dev_set_status(dev(c), VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER |
			       VS_STATUS_FEATURES_OK, NULL), "status FEATURES_OK");
	dev(c)->status = VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK;
	STEP(fe_dev_rings(dev(c), dev(c)->bases), "ring setup");
	STEP(fe_dev_driver_ok(dev(c)), "DRIVER_OK");
	STEP(fe_dev_get_status(dev(c), &st), "GET_STATUS");
	if (st & VS_STATUS_STOP_BITS)
		return FAIL("stop remembered across reset (status 0x%02x)", st);
	if (fe_net_wait_rx(net(c), 256, 1000))
		return FAIL("no traffic after reset and re-initialisation: %s", fe_errmsg());
	if (conf_clean(c) != V_PASS) {
		char why[sizeof(c->why)];

		snprintf(why, sizeof(why), "%s", c->why);
		return FAIL("across SET_STATUS(0): %s", why);
	}
	if (!stop)
		return V_PASS;
	/* Disconnect while stopped: a new connection starts from status 0. */
	STEP(fe_net_drain(net(c), 1000), "drain");
	STEP(fe_dev_stop(dev(c), FE_STOP_STOPPED, &r), "stop");
	fe_dev_close(dev(c));
	STEP(conf_fresh(c, 0), "reconnect after disconnect while stopped");
	STEP(fe_dev_get_status(dev(c), &st), "GET_STATUS");
	if (st & VS_STATUS_STOP_BITS)
		return FAIL("stop remembered across disconnect (status 0x%02x)", st);
	return conf_clean(c);
}

enum verdict
chk_r3(struct conf *c)
{
	enum verdict v = need_stop(c, VS_F_DEVICE_STOP);
	struct fe_app *a = c->a;
	uint8_t st, base;

	if (v != V_PASS)
		return v;
	fe_net_drain(net(c), 500);
	fe_dev_close(&a->dev);
	STEP(fe_dev_open(&a->dev, net(c), a->cur, &a->o.dev, 0, 0), "connect");
	STEP(fe_dev_set_mem(&a->dev), "SET_MEM_TABLE");
	STEP(fe_dev_rings(&a->dev, NULL), "ring setup");
	base = a->dev.status;
	fe_dev_set_status(&a->dev, base | VS_STATUS_DEVICE_STOPPED, NULL);
	if (status_ever(c, VS_STATUS_DEVICE_STOPPED, QUIET_MS / 2, &st))
		return FAIL("DEVICE_STOPPED shown before DRIVER_OK (status 0x%02x)", st);
	STEP(fe_dev_driver_ok(&a->dev), "DRIVER_OK");
	STEP(fe_dev_get_status(&a->dev, &st), "GET_STATUS");
	if (st & VS_STATUS_DEVICE_STOPPED)
		return FAIL("a stop written before DRIVER_OK took effect (status 0x%02x)", st);
	fe_net_set(&net(c)->pause, 0);
	conf_mark(c);
	if (fe_net_wait_rx(net(c), 256, 1000))
		return FAIL("device not running after DRIVER_OK: %s", fe_errmsg());
	return conf_clean(c);
}

enum verdict
chk_r4(struct conf *c)
{
	enum verdict v = need_stop(c, VS_F_DEVICE_STOP);
	struct fe_stop_res r;
	struct fe_vq *tx;
	uint16_t pending;

	if (v != V_PASS)
		return v;
	STEP(conf_fresh(c, 0), "bring-up");
	STEP(fe_dev_stop(dev(c), FE_STOP_STOPPED, &r), "stop");
	v = quiet_while_stopped(c, "DEVICE_STOPPED");
	if (v != V_PASS)
		return v;
	/* The probe means something only if the device had buffers it could have read. */
	tx = &net(c)->qp[0].tx;
	pending = fe_vq_avail_idx(tx) - fe_vq_used_idx(tx);
	if (!pending)
		return FAIL("probe void: no tx buffer was available while stopped");
	STEP(fe_dev_resume(dev(c), FE_STOP_STOPPED, &r), "resume");
	/* What was posted while stopped was not consumed then, so it must all come now. */
	return conf_clean(c);
}

enum verdict
chk_r5(struct conf *c)
{
	enum verdict v = need_stop(c, VS_F_DEVICE_STOP);
	struct fe_stop_res r;
	int i;

	if (v != V_PASS)
		return v;
	STEP(conf_fresh(c, 0), "bring-up");
	for (i = 0; i < 20; i++) {
		struct snap s1 = { 0 }, s2 = { 0 };
		char why[160];
		bool same;

		STEP(fe_dev_stop(dev(c), FE_STOP_STOPPED, &r), "stop");
		/* Anything still in flight would complete after the bit: look for it. */
		snap_take(c, &s1);
		fe_sleep_us(SETTLE_MS * 1000);
		snap_take(c, &s2);
		same = snap_same(&s1, &s2, why, sizeof(why));
		free(s1.rings);
		free(s2.rings);
		if (!same)
			return FAIL("stop %d: %s after DEVICE_STOPPED shown: work still in flight",
				    i, why);
		STEP(fe_dev_resume(dev(c), FE_STOP_STOPPED, &r), "resume");
		fe_sleep_us(2000);
	}
	/* Frames half copied would be corrupt; frames dropped, lost. */
	return conf_clean(c);
}

enum verdict
chk_r6(struct conf *c)
{
	enum verdict v = need_stop(c, VS_F_DEVICE_STOP);
	struct fe_stop_res r;
	uint8_t st;

	if (v != V_PASS)
		return v;
	STEP(conf_fresh(c, 0), "bring-up");
	STEP(fe_dev_set_status(dev(c), dev(c)->status | VS_STATUS_DEVICE_STOPPED, NULL),
	     "stop request");
	/* The first read may or may not show it (R6); either is fine. */
	STEP(fe_dev_get_status(dev(c), &st), "GET_STATUS");
	if (status_until(c, VS_STATUS_DEVICE_STOPPED, VS_STATUS_DEVICE_STOPPED,
			 c->a->o.dev.deadline_ms, &st))
		return FAIL("DEVICE_STOPPED not shown within %u ms (status 0x%02x)",
			    c->a->o.dev.deadline_ms, st);
	if (!(st & VS_STATUS_DRIVER_OK))
		return FAIL("DRIVER_OK cleared by a DEVICE_STOPPED stop (status 0x%02x)", st);
	dev(c)->stopped = FE_STOP_STOPPED;
	v = quiet_while_stopped(c, "DEVICE_STOPPED");
	if (v != V_PASS)
		return v;
	STEP(fe_dev_resume(dev(c), FE_STOP_STOPPED, &r), "resume");
	return conf_clean(c);
}

enum verdict
chk_r7(struct conf *c)
{
	enum verdict v = need_stop(c, VS_F_DEVICE_STOP);

	return v != V_PASS ? v : config_frozen(c, FE_STOP_STOPPED);
}

enum verdict
chk_r8(struct conf *c)
{
	enum verdict v = need_stop(c, VS_F_DEVICE_STOP);
	struct fe_stop_res r;
	uint64_t calls = 0;
	unsigned int i, q, n = fe_dev_nvrings(dev(c));
	struct fe_vq *rx;
	uint16_t u, a, p;

	if (v != V_PASS)
		return v;
	STEP(conf_fresh(c, 0), "bring-up");
	/* Positive control: with interrupts on, a running device does call. */
	fe_net_set_interrupts(net(c), true);
	fe_sleep_us(20000);
	for (i = 0; i < n; i++)
		calls += fe_vq_drain_call(fe_net_vq(net(c), i));
	if (!calls)
		return FAIL("probe void: no call eventfd write while running with interrupts enabled");
	STEP(fe_dev_stop(dev(c), FE_STOP_STOPPED, &r), "stop");
	fe_net_wait_caught_up(net(c), 50);
	for (i = 0; i < n; i++)
		fe_vq_drain_call(fe_net_vq(net(c), i));
	/* Canary every rx buffer the device owns: it may not write one while stopped. */
	for (q = 0; q < net(c)->cfg.nqp; q++) {
		rx = &net(c)->qp[q].rx;
		u = fe_vq_used_idx(rx);
		a = fe_vq_avail_idx(rx);
		for (p = u; p != a; p++)
			memset(fe_vq_buf(rx, fe_vq_slot_id(rx, p)), 0xa5, 64);
	}
	v = quiet_while_stopped(c, "DEVICE_STOPPED");
	if (v != V_PASS)
		return v;
	for (i = 0; i < n; i++) {
		uint64_t k = fe_vq_drain_call(fe_net_vq(net(c), i));

		if (k)
			return FAIL("%llu call eventfd write(s) on ring %u while stopped",
				    (unsigned long long)k, i);
	}
	for (q = 0; q < net(c)->cfg.nqp; q++) {
		rx = &net(c)->qp[q].rx;
		u = fe_vq_used_idx(rx);
		a = fe_vq_avail_idx(rx);
		for (p = u; p != a; p++) {
			const uint8_t *b = fe_vq_buf(rx, fe_vq_slot_id(rx, p));

			for (i = 0; i < 64; i++)
				if (b[i] != 0xa5)
					return FAIL("rx buffer of queue %u written while stopped", q);
		}
	}
	STEP(fe_dev_resume(dev(c), FE_STOP_STOPPED, &r), "resume");
	fe_net_set_interrupts(net(c), false);
	return conf_clean(c);
}

enum verdict
chk_r9(struct conf *c)
{
	enum verdict v = need_stop(c, VS_F_DEVICE_STOP);
	struct fe_vq *tx = &net(c)->qp[0].tx;
	struct fe_stop_res r;
	uint16_t at, a, p;
	uint64_t end;

	if (v != V_PASS)
		return v;
	STEP(conf_fresh(c, 0), "bring-up");
	/* From here the driver never kicks: resume must look at the rings by itself. */
	fe_net_set(&net(c)->no_kick, 1);
	STEP(fe_dev_stop(dev(c), FE_STOP_STOPPED, &r), "stop");
	fe_sleep_us(SETTLE_MS * 1000);
	fe_net_set(&net(c)->pause, 1);
	fe_sleep_us(1000);
	at = fe_vq_used_idx(tx);
	a = fe_vq_avail_idx(tx);
	if (a == at)
		return FAIL("probe void: nothing posted while stopped");
	STEP(fe_dev_resume(dev(c), FE_STOP_STOPPED, &r), "resume");
	end = fe_now_ns() + 500000000ull;
	while (fe_vq_used_idx(tx) != a) {
		if (fe_now_ns() > end)
			return FAIL("after resume, tx used index %u, posted up to %u: avail ring not rechecked without a kick",
				    fe_vq_used_idx(tx), a);
		fe_sleep_us(100);
	}
	/* Restarted exactly where it stopped: used entries follow the avail entries. */
	for (p = at; p != a; p++)
		if (fe_vq_used_elem(tx, p).id != fe_vq_slot_id(tx, p))
			return FAIL("tx used entry %u is buffer %u, avail entry was %u", p,
				    fe_vq_used_elem(tx, p).id, fe_vq_slot_id(tx, p));
	fe_net_set(&net(c)->no_kick, 0);
	fe_net_set(&net(c)->pause, 0);
	return conf_clean(c);
}

enum verdict
chk_r10(struct conf *c)
{
	enum verdict v = need_stop(c, VS_F_DEVICE_STOP);
	static const uint8_t clear[] = { VS_STATUS_FEATURES_OK, VS_STATUS_DRIVER_OK,
					 VS_STATUS_ACKNOWLEDGE };
	uint8_t st0, st;
	uint64_t ack;
	unsigned int i;

	if (v != V_PASS)
		return v;
	if (!((c->proto >> VU_PF_REPLY_ACK) & 1))
		return SKIP("REPLY_ACK not negotiated: a refused write is not observable");
	STEP(conf_fresh(c, 0), "bring-up");
	STEP(fe_dev_get_status(dev(c), &st0), "GET_STATUS");
	for (i = 0; i < FE_DIM(clear); i++) {
		int ret = fe_dev_set_status(dev(c), st0 & ~clear[i], &ack);

		if (ret && ret != -EREMOTEIO)
			return FAIL("status write: %s", fe_errmsg());
		if (!ack)
			return FAIL("SET_STATUS(0x%02x) clearing 0x%02x was acknowledged (0), not refused",
				    st0 & ~clear[i], clear[i]);
		STEP(fe_dev_get_status(dev(c), &st), "GET_STATUS");
		if (st != st0)
			return FAIL("refused write changed status 0x%02x -> 0x%02x", st0, st);
	}
	if (fe_net_wait_rx(net(c), 256, 1000))
		return FAIL("traffic stopped after refused writes: %s", fe_errmsg());
	return conf_clean(c);
}

enum verdict
chk_r11(struct conf *c)
{
	enum verdict v = need_stop(c, VS_F_DEVICE_STOP);
	uint8_t st;
	int i;

	if (v != V_PASS)
		return v;
	STEP(conf_fresh(c, 0), "bring-up");
	/* Cancel stops that are under way: clear the bit right after setting it. */
	for (i = 0; i < 20; i++) {
		STEP(fe_dev_set_status(dev(c), dev(c)->status | VS_STATUS_DEVICE_STOPPED, NULL),
		     "stop request");
		STEP(fe_dev_set_status(dev(c), dev(c)->status, NULL), "cancel");
		if (status_until(c, VS_STATUS_DEVICE_STOPPED | VS_STATUS_DRIVER_OK,
				 VS_STATUS_DRIVER_OK, c->a->o.dev.deadline_ms, &st))
			return FAIL("cancelled stop %d: status 0x%02x, not running", i, st);
		if (fe_net_wait_rx(net(c), 32, 1000))
			return FAIL("cancelled stop %d: traffic does not flow: %s", i, fe_errmsg());
	}
	return conf_clean(c);
}

enum verdict
chk_r12(struct conf *c)
{
	enum verdict v = need_stop(c, VS_F_DEVICE_STOP);
	uint8_t on = dev(c)->status | VS_STATUS_DEVICE_STOPPED, st;
	struct snap s1 = { 0 }, s2 = { 0 };
	char why[160];
	bool same;

	if (v != V_PASS)
		return v;
	STEP(conf_fresh(c, 0), "bring-up");
	on = dev(c)->status | VS_STATUS_DEVICE_STOPPED;
	STEP(fe_dev_set_status(dev(c), on, NULL), "first stop request");
	STEP(fe_dev_set_status(dev(c), on, NULL), "second stop request (merged)");
	if (status_until(c, VS_STATUS_DEVICE_STOPPED, VS_STATUS_DEVICE_STOPPED,
			 c->a->o.dev.deadline_ms, &st))
		return FAIL("two stop requests: not stopped within %u ms (status 0x%02x)",
			    c->a->o.dev.deadline_ms, st);
	fe_net_wait_caught_up(net(c), 50);
	snap_take(c, &s1);
	STEP(fe_dev_set_status(dev(c), on, NULL), "stop request while stopped");
	STEP(fe_dev_get_status(dev(c), &st), "GET_STATUS");
	fe_sleep_us(SETTLE_MS * 1000);
	snap_take(c, &s2);
	same = snap_same(&s1, &s2, why, sizeof(why));
	free(s1.rings);
	free(s2.rings);
	if (!(st & VS_STATUS_DEVICE_STOPPED))
		return FAIL("repeated stop request un-stopped the device (status 0x%02x)", st);
	if (!same)
		return FAIL("repeated stop request: %s", why);
	STEP(fe_dev_set_status(dev(c), dev(c)->status, NULL), "first resume request");
	STEP(fe_dev_set_status(dev(c), dev(c)->status, NULL), "second resume request");
	if (status_until(c, VS_STATUS_DEVICE_STOPPED | VS_STATUS_DRIVER_OK, VS_STATUS_DRIVER_OK,
			 c->a->o.dev.deadline_ms, &st))
		return FAIL("two resume requests: status 0x%02x", st);
	dev(c)->stopped = FE_STOP_AUTO;
	if (fe_net_wait_rx(net(c), 256, 1000))
		return FAIL("no traffic after resume: %s", fe_errmsg());
	return conf_clean(c);
}

/* ---- S: SUSPEND ---- */

enum verdict
chk_s1(struct conf *c)
{
	enum verdict v = need_stop(c, VS_F_SUSPEND);
	struct fe_app *a = c->a;
	uint8_t st;

	if (v != V_PASS)
		return v;
	STEP(conf_fresh(c, 1ull << VS_F_SUSPEND), "bring-up without VIRTIO_F_SUSPEND");
	fe_dev_set_status(dev(c), dev(c)->status | VS_STATUS_SUSPEND, NULL);
	if (status_ever(c, VS_STATUS_SUSPEND, QUIET_MS, &st))
		return FAIL("SUSPEND shown without feature 43 negotiated (status 0x%02x)", st);
	if (!(st & VS_STATUS_DRIVER_OK) || fe_net_wait_rx(net(c), 256, 1000))
		return FAIL("device not running after an ignored SUSPEND (status 0x%02x)", st);
	fe_dev_set_status(dev(c), dev(c)->status, NULL);
	v = conf_clean(c);
	if (v != V_PASS)
		return v;
	/* Negotiated, but before DRIVER_OK: ignored too. */
	fe_net_drain(net(c), 500);
	fe_dev_close(&a->dev);
	STEP(fe_dev_open(&a->dev, net(c), a->cur, &a->o.dev, 0, 0), "connect");
	STEP(fe_dev_set_mem(&a->dev), "SET_MEM_TABLE");
	STEP(fe_dev_rings(&a->dev, NULL), "ring setup");
	fe_dev_set_status(&a->dev, a->dev.status | VS_STATUS_SUSPEND, NULL);
	if (status_ever(c, VS_STATUS_SUSPEND, QUIET_MS / 2, &st))
		return FAIL("SUSPEND shown before DRIVER_OK (status 0x%02x)", st);
	STEP(fe_dev_driver_ok(&a->dev), "DRIVER_OK");
	STEP(fe_dev_get_status(&a->dev, &st), "GET_STATUS");
	if (st & VS_STATUS_SUSPEND)
		return FAIL("SUSPEND written before DRIVER_OK took effect (status 0x%02x)", st);
	fe_net_set(&net(c)->pause, 0);
	conf_mark(c);
	if (fe_net_wait_rx(net(c), 256, 1000))
		return FAIL("device not running: %s", fe_errmsg());
	return conf_clean(c);
}

enum verdict
chk_s2(struct conf *c)
{
	enum verdict v = need_stop(c, VS_F_SUSPEND);
	struct fe_stop_res r;

	if (v != V_PASS)
		return v;
	STEP(conf_fresh(c, 0), "bring-up");
	/* fe_dev_stop waits for SUSPEND=1 with DRIVER_OK=0 (S2). */
	STEP(fe_dev_stop(dev(c), FE_STOP_SUSPEND, &r), "suspend");
	v = quiet_while_stopped(c, "SUSPEND");
	if (v != V_PASS)
		return v;
	STEP(fe_dev_resume(dev(c), FE_STOP_SUSPEND, &r), "resume");
	return conf_clean(c);
}

enum verdict
chk_s3(struct conf *c)
{
	enum verdict v = need_stop(c, VS_F_SUSPEND);
	struct fe_stop_res r;
	uint8_t st;
	int i;

	if (v != V_PASS)
		return v;
	STEP(conf_fresh(c, 0), "bring-up");
	for (i = 0; i < 10; i++) {
		STEP(fe_dev_stop(dev(c), FE_STOP_SUSPEND, &r), "suspend");
		fe_sleep_us(2000);
		/* fe_dev_resume writes DRIVER_OK again and waits for SUSPEND=0 DRIVER_OK=1. */
		STEP(fe_dev_resume(dev(c), FE_STOP_SUSPEND, &r), "resume by DRIVER_OK");
		STEP(fe_dev_get_status(dev(c), &st), "GET_STATUS");
		if (st & VS_STATUS_NEEDS_RESET)
			return FAIL("DEVICE_NEEDS_RESET after resume (status 0x%02x)", st);
		if (fe_net_wait_rx(net(c), 32, 1000))
			return FAIL("no traffic after resume %d: %s", i, fe_errmsg());
	}
	return conf_clean(c);
}

enum verdict
chk_s4(struct conf *c)
{
	enum verdict v = need_stop(c, VS_F_SUSPEND);

	return v != V_PASS ? v : config_frozen(c, FE_STOP_SUSPEND);
}

