/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Conformance probes for the vhost-user stop path (V1-V3: GET_VRING_BASE,
 * SET_VRING_ENABLE, SET_VRING_BASE) and device state (M1-M3: save, migrate, refuse).
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

/* ---- V: vhost-user stop ---- */

enum verdict
chk_v1(struct conf *c)
{
	unsigned int i;

	STEP(conf_fresh(c, 0), "bring-up");
	/* No stop bit: GET_VRING_BASE alone must stop the device, QEMU style. */
	for (i = 0; i < fe_dev_nvrings(dev(c)); i++) {
		uint16_t used;

		STEP(fe_dev_get_base(dev(c), i), "GET_VRING_BASE");
		used = fe_vq_used_idx(fe_net_vq(net(c), i));
		if (dev(c)->base_cnt[i] != used)
			return FAIL("ring %u: GET_VRING_BASE 0x%x (position %u) but used index %u",
				    i, dev(c)->bases[i], dev(c)->base_cnt[i], used);
	}
	dev(c)->bases_valid = true;
	dev(c)->stopped = FE_STOP_VRING_BASE;
	{
		enum verdict v = quiet_while_stopped(c, "GET_VRING_BASE");

		if (v != V_PASS)
			return v;
	}
	/* The answers must still hold after the quiet period. */
	for (i = 0; i < fe_dev_nvrings(dev(c)); i++)
		if (dev(c)->base_cnt[i] != fe_vq_used_idx(fe_net_vq(net(c), i)))
			return FAIL("ring %u moved after GET_VRING_BASE", i);
	STEP(fe_dev_rings(dev(c), dev(c)->bases), "restart rings");
	if (fe_net_wait_rx(net(c), 256, 1000))
		return FAIL("no traffic after restart: %s", fe_errmsg());
	return conf_clean(c);
}

enum verdict
chk_v2(struct conf *c)
{
	struct fe_vq *tx = &net(c)->qp[0].tx;
	struct fe_qstats s0, s1;
	uint16_t u0, u1;
	uint64_t end;

	STEP(conf_fresh(c, 0), "bring-up");
	STEP(fe_dev_enable_ring(dev(c), fe_txq_vring(0), false), "SET_VRING_ENABLE 0");
	fe_sleep_us(SETTLE_MS * 1000);
	fe_net_set(&net(c)->force_kick, 1);
	u0 = fe_vq_used_idx(tx);
	fe_net_totals(net(c), &s0);
	fe_sleep_us(QUIET_MS * 1000);
	u1 = fe_vq_used_idx(tx);
	fe_net_totals(net(c), &s1);
	fe_net_set(&net(c)->force_kick, 0);
	if (u0 != u1)
		return FAIL("disabled tx ring 1 still consumed: used %u -> %u", u0, u1);
	if (net(c)->cfg.nqp > 1 && s1.rcvd == s0.rcvd)
		return FAIL("disabling one ring stopped the other queue pairs too");
	STEP(fe_dev_enable_ring(dev(c), fe_txq_vring(0), true), "SET_VRING_ENABLE 1");
	end = fe_now_ns() + 1000000000ull;
	while (fe_vq_used_idx(tx) == u1) {
		if (fe_now_ns() > end)
			return FAIL("re-enabled tx ring 1 does not run");
		fe_sleep_us(100);
	}
	return conf_clean(c);
}

enum verdict
chk_v3(struct conf *c)
{
	struct fe_vq *tx = &net(c)->qp[0].tx;
	uint16_t at, a, p;
	uint64_t end;

	STEP(conf_fresh(c, 0), "bring-up");
	STEP(fe_dev_get_bases(dev(c)), "GET_VRING_BASE");
	/* Post while stopped, then restart at the saved bases. */
	fe_sleep_us(SETTLE_MS * 1000);
	fe_net_set(&net(c)->pause, 1);
	fe_sleep_us(1000);
	at = dev(c)->base_cnt[fe_txq_vring(0)];
	a = fe_vq_avail_idx(tx);
	if (at != fe_vq_used_idx(tx))
		return FAIL("tx base %u but used index %u", at, fe_vq_used_idx(tx));
	if (a == at)
		return FAIL("probe void: nothing posted while stopped");
	STEP(fe_dev_rings(dev(c), dev(c)->bases), "SET_VRING_BASE + kick fd");
	end = fe_now_ns() + 1000000000ull;
	while (fe_vq_used_idx(tx) != a) {
		if (fe_now_ns() > end)
			return FAIL("after restart tx used index %u, posted up to %u",
				    fe_vq_used_idx(tx), a);
		fe_sleep_us(100);
	}
	for (p = at; p != a; p++)
		if (fe_vq_used_elem(tx, p).id != fe_vq_slot_id(tx, p))
			return FAIL("did not resume at index %u: used entry %u is buffer %u, avail had %u",
				    at, p, fe_vq_used_elem(tx, p).id, fe_vq_slot_id(tx, p));
	fe_net_set(&net(c)->pause, 0);
	return conf_clean(c);
}

/* ---- M: device state ---- */

static enum verdict
need_state(struct conf *c)
{
	if (!((c->proto >> VU_PF_DEVICE_STATE) & 1))
		return SKIP("backend did not negotiate protocol feature DEVICE_STATE (19)");
	return V_PASS;
}

/* Stop the device for a state save: stop bit if there is one, then ring bases. */
static int
stop_for_save(struct conf *c, enum fe_stop_kind *k)
{
	struct fe_stop_res r;
	int ret;

	*k = fe_dev_stop_kind(dev(c), FE_STOP_AUTO);
	if (*k == FE_STOP_STOPPED || *k == FE_STOP_SUSPEND) {
		ret = fe_dev_stop(dev(c), *k, &r);
		if (ret)
			return ret;
	}
	return fe_dev_get_bases(dev(c));
}

static int
restart_after_save(struct conf *c, enum fe_stop_kind k)
{
	struct fe_stop_res r;
	int ret;

	ret = fe_dev_rings(dev(c), dev(c)->bases);
	if (!ret && (k == FE_STOP_STOPPED || k == FE_STOP_SUSPEND))
		ret = fe_dev_resume(dev(c), k, &r);
	return ret;
}

enum verdict
chk_m1(struct conf *c)
{
	enum verdict v = need_state(c);
	enum fe_stop_kind k;
	uint8_t *blob;
	size_t len;
	uint16_t ver;
	char why[160];
	int ret;

	if (v != V_PASS)
		return v;
	STEP(conf_fresh(c, 0), "bring-up");
	STEP(stop_for_save(c, &k), "stop");
	STEP(fe_dev_save_state(dev(c), &blob, &len), "save");
	ret = fe_blob_check(blob, len, &ver, why, sizeof(why));
	free(blob);
	if (ret)
		return FAIL("saved state (%zu bytes): %s", len, why);
	if (ver != 1)
		return FAIL("saved state has version %u, expected 1", ver);
	STEP(restart_after_save(c, k), "restart after save");
	return conf_clean(c);
}

enum verdict
chk_m2(struct conf *c)
{
	struct fe_app *a = c->a;
	struct fe_mig_opts mo = {
		.preconnect = true,
		.state_first = c->a->o.state_first,
		.first_frame_ms = 2000,
	};
	struct fe_mig_res r;
	enum verdict v = need_state(c);
	const char *home = a->cur;
	struct fe_dev dst;
	int i;

	if (v != V_PASS)
		return v;
	if (!a->o.peer)
		return SKIP("needs a second backend (--peer)");
	STEP(conf_fresh(c, 0), "bring-up");
	/* There and back: the second leg needs a fresh connection to the first backend. */
	for (i = 0; i < 2; i++) {
		const char *to = a->cur == home ? a->o.peer : home;

		if (fe_migrate(&a->dev, &dst, to, &mo, &r))
			return FAIL("migration %d to %s: %s", i + 1, to, fe_errmsg());
		if (!r.state_moved)
			return FAIL("migration %d: no device state moved", i + 1);
		a->dev = dst;
		a->cur = to;
		fe_meas_add(&a->downtime_ns, r.t_first - r.t_stop);
		if (fe_net_wait_rx(net(c), 256, 1000))
			return FAIL("after migration %d: %s", i + 1, fe_errmsg());
	}
	return conf_clean(c);
}

enum verdict
chk_m3(struct conf *c)
{
	static const enum fe_corrupt how[] = {
		FE_CORRUPT_FLIP, FE_CORRUPT_TRUNCATE, FE_CORRUPT_VERSION, FE_CORRUPT_MAGIC,
	};
	struct fe_app *a = c->a;
	enum verdict v = need_state(c);
	const char *to = a->o.peer;
	enum fe_stop_kind k;
	struct fe_dev dst;
	uint8_t *blob, *bad, st0, st;
	uint64_t check;
	size_t len, blen;
	unsigned int i;
	int ret;

	if (v != V_PASS)
		return v;
	if (!to)
		return SKIP("needs a second backend (--peer)");
	STEP(conf_fresh(c, 0), "bring-up");
	STEP(stop_for_save(c, &k), "stop");
	STEP(fe_dev_save_state(dev(c), &blob, &len), "save");
	ret = fe_dev_open(&dst, net(c), to, &a->o.dev, ~dev(c)->features, dev(c)->features);
	if (!ret)
		ret = fe_dev_set_mem(&dst);
	if (!ret && !a->o.state_first)
		ret = fe_dev_rings(&dst, dev(c)->bases);
	if (!ret)
		ret = fe_dev_get_status(&dst, &st0);
	if (ret) {
		free(blob);
		return FAIL("destination %s: %s", to, fe_errmsg());
	}
	bad = malloc(len);
	for (i = 0; i < FE_DIM(how); i++) {
		memcpy(bad, blob, len);
		blen = len;
		fe_blob_corrupt(bad, &blen, how[i]);
		ret = fe_dev_load_state(&dst, bad, blen, &check);
		if (ret != -EREMOTEIO) {
			v = ret ? FAIL("%s blob: %s", fe_corrupt_name(how[i]), fe_errmsg()) :
				  FAIL("%s blob accepted (CHECK_DEVICE_STATE 0)",
				       fe_corrupt_name(how[i]));
			break;
		}
		if (fe_dev_get_status(&dst, &st)) {
			v = FAIL("after %s blob: %s", fe_corrupt_name(how[i]), fe_errmsg());
			break;
		}
		if (st != st0) {
			v = FAIL("%s blob refused but status 0x%02x -> 0x%02x",
				 fe_corrupt_name(how[i]), st0, st);
			break;
		}
	}
	/* Refusals must leave it able to take the real thing. */
	if (v == V_PASS && fe_dev_load_state(&dst, blob, len, &check))
		v = FAIL("good blob refused after the bad ones: %s", fe_errmsg());
	free(bad);
	free(blob);
	fe_dev_close(&dst);
	if (v != V_PASS)
		return v;
	STEP(restart_after_save(c, k), "resume at the source");
	return conf_clean(c);
}

