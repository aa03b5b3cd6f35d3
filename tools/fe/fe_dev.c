/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device bring-up and the driver side of the stop contract (DESIGN.md section 1).
 * Bring-up follows QEMU's order: ACKNOWLEDGE|DRIVER, features, FEATURES_OK, memory,
 * rings, DRIVER_OK. librte_vhost with protocol feature STATUS starts the device only
 * once DRIVER_OK is written, so the status write is the last step.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fe.h"
#include "fe_dev.h"
#include "vs_status.h"

#define FE_STATUS_POLL_US 10
#define FE_REFUSED_RETRIES 100
#define FE_REFUSED_WAIT_US 10000

static uint64_t
proto_wanted(void)
{
	return (1ull << VU_PF_MQ) | (1ull << VU_PF_REPLY_ACK) | (1ull << VU_PF_STATUS) |
	       (1ull << VU_PF_DEVICE_STATE) | (1ull << VU_PF_CONFIG) | (1ull << VU_PF_SLAVE_REQ);
}

const char *
fe_status_str(uint8_t st, char *buf, size_t len)
{
	static const char *const names[8] = {
		"ACK", "DRIVER", "DRIVER_OK", "FEATURES_OK", "SUSPEND", "DEVICE_STOPPED",
		"NEEDS_RESET", "FAILED",
	};
	const char *sep = " (";
	size_t off;
	int i;

	off = snprintf(buf, len, "0x%02x", st);
	for (i = 0; i < 8 && off < len; i++) {
		if (st & (1u << i)) {
			off += snprintf(buf + off, len - off, "%s%s", sep, names[i]);
			sep = "|";
		}
	}
	if (st && off < len)
		snprintf(buf + off, len - off, ")");
	return buf;
}

int
fe_dev_get_status(struct fe_dev *d, uint8_t *st)
{
	uint64_t v;
	int ret;

	if (!vu_has(&d->vu, VU_PF_STATUS))
		return fe_err(-ENOTSUP, "backend did not negotiate protocol feature STATUS");
	ret = vu_get_u64(&d->vu, VU_GET_STATUS, &v);
	if (ret)
		return ret;
	if (v > 0xff)
		return fe_err(-EPROTO, "GET_STATUS returned 0x%llx (more than 8 bits)",
			      (unsigned long long)v);
	*st = v;
	return 0;
}

int
fe_dev_set_status(struct fe_dev *d, uint8_t st, uint64_t *ack)
{
	if (!vu_has(&d->vu, VU_PF_STATUS))
		return fe_err(-ENOTSUP, "backend did not negotiate protocol feature STATUS");
	return vu_set_u64(&d->vu, VU_SET_STATUS, st, ack);
}

/* Status write that is part of bring-up: skipped when STATUS was not negotiated. */
static int
status_step(struct fe_dev *d, uint8_t st)
{
	int ret;

	if (!vu_has(&d->vu, VU_PF_STATUS)) {
		d->status = st;
		return 0;
	}
	ret = fe_dev_set_status(d, st, NULL);
	if (ret)
		return ret;
	d->status = st;
	return 0;
}

int
fe_dev_open(struct fe_dev *d, struct fe_net *net, const char *path,
	    const struct fe_dev_opts *o, uint64_t drop, uint64_t need)
{
	uint64_t want, pf = 0, v;
	unsigned int attempt;
	uint8_t st;
	int ret;

	memset(d, 0, sizeof(*d));
	d->net = net;
	d->o = o;
	d->nqp = net->cfg.nqp;
	for (attempt = 0;; attempt++) {
		ret = vu_connect(&d->vu, path, o->connect_retries, o->retry_ms,
				 o->msg_timeout_ms);
		if (ret)
			return ret;
		ret = vu_get_u64(&d->vu, VU_GET_FEATURES, &d->vu.features);
		if (!ret)
			break;
		vu_close(&d->vu);
		/*
		 * A backend that serves one front end at a time refuses a new connection until
		 * it has processed the close of the previous one: try again for a while.
		 */
		if ((ret != -ECONNRESET && ret != -EPIPE) || attempt >= FE_REFUSED_RETRIES)
			return ret;
		fe_sleep_us(FE_REFUSED_WAIT_US);
	}
	want = (1ull << FE_F_VERSION_1) | (1ull << FE_F_PROTOCOL);
	if (d->nqp > 1)
		want |= 1ull << FE_F_MQ;
	if (!o->no_device_stop)
		want |= 1ull << VS_F_DEVICE_STOP;
	if (!o->no_suspend)
		want |= 1ull << VS_F_SUSPEND;
	if (net->cfg.packed)
		want |= 1ull << FE_F_RING_PACKED;
	want |= need;
	want &= ~drop;
	/* The layout is the driver's: it cannot be dropped, nor picked up from a peer. */
	if (!net->cfg.packed)
		want &= ~(1ull << FE_F_RING_PACKED);
	if (net->cfg.packed && !(d->vu.features & (1ull << FE_F_RING_PACKED))) {
		ret = fe_err(-ENOTSUP, "backend %s does not offer VIRTIO_F_RING_PACKED (34): cannot drive packed rings (--packed)",
			     path);
		goto fail;
	}
	if (net->cfg.packed && (drop & (1ull << FE_F_RING_PACKED))) {
		ret = fe_err(-EINVAL, "packed rings, yet asked to drop VIRTIO_F_RING_PACKED");
		goto fail;
	}
	if (need & ~d->vu.features) {
		ret = fe_err(-ENOTSUP, "backend %s does not offer features 0x%llx it must have",
			     path, (unsigned long long)(need & ~d->vu.features));
		goto fail;
	}
	if (!(d->vu.features & (1ull << FE_F_VERSION_1))) {
		ret = fe_err(-ENOTSUP, "backend %s does not offer VIRTIO_F_VERSION_1", path);
		goto fail;
	}
	d->features = want & d->vu.features;
	ret = vu_send(&d->vu, VU_SET_OWNER, 0, NULL, 0, NULL, 0);
	if (ret)
		goto fail;
	if (d->features & (1ull << FE_F_PROTOCOL)) {
		ret = vu_get_u64(&d->vu, VU_GET_PROTOCOL_FEATURES, &d->vu.proto_offered);
		if (ret)
			goto fail;
		pf = d->vu.proto_offered & proto_wanted();
		/* The back-end channel is only needed for config-change notifications. */
		if (!(pf & (1ull << VU_PF_CONFIG)))
			pf &= ~(1ull << VU_PF_SLAVE_REQ);
		ret = vu_set_u64(&d->vu, VU_SET_PROTOCOL_FEATURES, pf, NULL);
		if (ret)
			goto fail;
		/* From here on REPLY_ACK (if any) applies. */
		d->vu.proto = pf;
		if (vu_has(&d->vu, VU_PF_SLAVE_REQ)) {
			ret = vu_open_backend_channel(&d->vu);
			if (ret)
				goto fail;
		}
	}
	if (d->nqp > 1) {
		if (!vu_has(&d->vu, VU_PF_MQ) || !(d->features & (1ull << FE_F_MQ))) {
			ret = fe_err(-ENOTSUP, "backend %s does not do multiqueue, %u pairs asked",
				     path, d->nqp);
			goto fail;
		}
	}
	if (vu_has(&d->vu, VU_PF_MQ)) {
		ret = vu_get_u64(&d->vu, VU_GET_QUEUE_NUM, &v);
		if (ret)
			goto fail;
		d->queue_num = v;
		if (v < d->nqp) {
			ret = fe_err(-ENOTSUP, "backend %s has %llu queue pairs, %u asked", path,
				     (unsigned long long)v, d->nqp);
			goto fail;
		}
	}
	ret = status_step(d, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER);
	if (ret)
		goto fail;
	ret = vu_set_u64(&d->vu, VU_SET_FEATURES, d->features, NULL);
	if (ret)
		goto fail;
	ret = status_step(d, d->status | VS_STATUS_FEATURES_OK);
	if (ret)
		goto fail;
	if (vu_has(&d->vu, VU_PF_STATUS)) {
		/* The device clears FEATURES_OK if it cannot take our features. */
		ret = fe_dev_get_status(d, &st);
		if (ret)
			goto fail;
		if (!(st & VS_STATUS_FEATURES_OK)) {
			ret = fe_err(-ENOTSUP, "backend %s did not accept features 0x%llx (status 0x%02x)",
				     path, (unsigned long long)d->features, st);
			goto fail;
		}
	}
	FE_DBG("%s: features 0x%llx protocol 0x%llx queue_num %u", path,
	       (unsigned long long)d->features, (unsigned long long)pf, d->queue_num);
	return 0;
fail:
	vu_close(&d->vu);
	return ret;
}

int
fe_dev_set_mem(struct fe_dev *d)
{
	const struct fe_mem *m = &d->net->mem;
	struct vu_region r = {
		.gpa = m->gpa0,
		.size = m->size,
		.uva = (uint64_t)(uintptr_t)m->base,
		.mmap_offset = 0,
	};

	return vu_set_mem_table(&d->vu, &r, &m->fd, 1);
}

static int
ring_setup(struct fe_dev *d, struct fe_vq *vq, uint32_t base)
{
	uint32_t i = vq->index;
	int ret;

	uint64_t desc, used, avail;

	/*
	 * Packed: the base is bits 0-14 slot, bit 15 wrap counter (the vhost-user spec);
	 * bits 16-31 of a GET_VRING_BASE answer are not sent back (librte_vhost sets the
	 * used position to the avail one; see docs/migration.rst).
	 */
	if (vq->packed)
		base &= 0xffff;
	fe_vq_addrs(vq, &desc, &used, &avail);
	ret = vu_set_vring_state(&d->vu, VU_SET_VRING_NUM, i, vq->size, NULL);
	if (!ret)
		ret = vu_set_vring_state(&d->vu, VU_SET_VRING_BASE, i, base, NULL);
	/*
	 * Ring addresses are front-end virtual addresses (no IOMMU negotiated). Packed:
	 * descriptor ring, device area (as "used"), driver area (as "avail").
	 */
	if (!ret)
		ret = vu_set_vring_addr(&d->vu, i, desc, used, avail);
	if (!ret)
		ret = vu_set_vring_fd(&d->vu, VU_SET_VRING_KICK, i, vq->kickfd);
	if (!ret)
		ret = vu_set_vring_fd(&d->vu, VU_SET_VRING_CALL, i, vq->callfd);
	return ret;
}

int
fe_dev_enable_ring(struct fe_dev *d, unsigned int vring, bool on)
{
	return vu_set_vring_state(&d->vu, VU_SET_VRING_ENABLE, vring, on, NULL);
}

int
fe_dev_rings(struct fe_dev *d, const uint32_t *bases)
{
	unsigned int i;
	int ret;

	for (i = 0; i < fe_dev_nvrings(d); i++) {
		struct fe_vq *vq = fe_net_vq(d->net, i);
		uint32_t base = bases ? bases[i] : fe_vq_base_wire(vq, fe_vq_used_idx(vq));

		ret = ring_setup(d, vq, base);
		if (ret)
			return ret;
	}
	/* With PROTOCOL_FEATURES rings start disabled (vhost-user "Ring states"). */
	if (d->features & (1ull << FE_F_PROTOCOL)) {
		for (i = 0; i < fe_dev_nvrings(d); i++) {
			ret = fe_dev_enable_ring(d, i, true);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* Poll the status until @p done(status) or the deadline. */
static int
status_wait(struct fe_dev *d, bool (*done)(uint8_t, uint8_t), uint8_t arg, uint64_t t0,
	    struct fe_stop_res *r)
{
	uint64_t end = t0 + (uint64_t)d->o->deadline_ms * 1000000ull;
	uint8_t st = 0;
	int ret;

	r->polls = 0;
	for (;;) {
		ret = fe_dev_get_status(d, &st);
		if (ret)
			return ret;
		r->polls++;
		if (done(st, arg)) {
			r->ns = fe_now_ns() - t0;
			r->status = st;
			if (r->polls == 1)
				r->first_shown = true;
			return 0;
		}
		if (fe_now_ns() >= end) {
			r->status = st;
			return -ETIME;
		}
		fe_sleep_us(FE_STATUS_POLL_US);
	}
}

static bool
has_bits(uint8_t st, uint8_t bits)
{
	return (st & bits) == bits;
}

static bool
lacks_bits(uint8_t st, uint8_t bits)
{
	return !(st & bits);
}

static bool
suspended(uint8_t st, uint8_t unused)
{
	(void)unused;
	return (st & VS_STATUS_SUSPEND) && !(st & VS_STATUS_DRIVER_OK);
}

static bool
unsuspended(uint8_t st, uint8_t unused)
{
	(void)unused;
	return !(st & VS_STATUS_SUSPEND) && (st & VS_STATUS_DRIVER_OK);
}

int
fe_dev_driver_ok(struct fe_dev *d)
{
	struct fe_stop_res r = { 0 };
	char b[96];
	int ret;

	ret = status_step(d, d->status | VS_STATUS_DRIVER_OK);
	if (ret || !vu_has(&d->vu, VU_PF_STATUS))
		return ret;
	ret = status_wait(d, has_bits, VS_STATUS_DRIVER_OK, fe_now_ns(), &r);
	if (ret == -ETIME)
		return fe_err(ret, "%s: DRIVER_OK not shown within %u ms (status %s)",
			      d->vu.path, d->o->deadline_ms, fe_status_str(r.status, b, sizeof(b)));
	return ret;
}

int
fe_dev_start(struct fe_dev *d, struct fe_net *net, const char *path,
	     const struct fe_dev_opts *o, uint64_t drop)
{
	int ret;

	ret = fe_dev_open(d, net, path, o, drop, 0);
	if (ret)
		return ret;
	ret = fe_dev_set_mem(d);
	if (!ret)
		ret = fe_dev_rings(d, NULL);
	if (!ret)
		ret = fe_dev_driver_ok(d);
	if (ret)
		vu_close(&d->vu);
	return ret;
}

void
fe_dev_close(struct fe_dev *d)
{
	vu_close(&d->vu);
	d->stopped = FE_STOP_AUTO;
}

enum fe_stop_kind
fe_dev_stop_kind(const struct fe_dev *d, enum fe_stop_kind k)
{
	if (k != FE_STOP_AUTO)
		return k;
	if (vu_has(&d->vu, VU_PF_STATUS) && fe_dev_has(d, VS_F_DEVICE_STOP))
		return FE_STOP_STOPPED;
	if (vu_has(&d->vu, VU_PF_STATUS) && fe_dev_has(d, VS_F_SUSPEND))
		return FE_STOP_SUSPEND;
	return FE_STOP_VRING_BASE;
}

const char *
fe_stop_kind_name(enum fe_stop_kind k)
{
	switch (k) {
	case FE_STOP_STOPPED: return "DEVICE_STOPPED";
	case FE_STOP_SUSPEND: return "SUSPEND";
	case FE_STOP_VRING_BASE: return "GET_VRING_BASE";
	case FE_STOP_ENABLE: return "SET_VRING_ENABLE";
	default: return "auto";
	}
}

const char *
fe_dev_layout(const struct fe_dev *d)
{
	return d->net->cfg.packed ? "packed" : "split";
}

int
fe_dev_get_base(struct fe_dev *d, unsigned int vring)
{
	struct fe_vq *vq = fe_net_vq(d->net, vring);
	char why[256];
	int ret;

	ret = vu_get_vring_base(&d->vu, vring, &d->bases[vring]);
	if (ret)
		return ret;
	/* The nearest position to the used one in memory: equal if V1 holds. */
	ret = fe_vq_base_count(vq, d->bases[vring], fe_vq_used_idx(vq), &d->base_cnt[vring],
			       why, sizeof(why));
	if (ret)
		return fe_err(ret, "%s: GET_VRING_BASE: %s", d->vu.path, why);
	return 0;
}

int
fe_dev_get_bases(struct fe_dev *d)
{
	unsigned int i;
	int ret;

	for (i = 0; i < fe_dev_nvrings(d); i++) {
		ret = fe_dev_get_base(d, i);
		if (ret)
			return ret;
	}
	d->bases_valid = true;
	return 0;
}

/* Status-bit stop: write, then poll until shown. R11: cancel on a missed deadline. */
static int
stop_bit(struct fe_dev *d, enum fe_stop_kind k, struct fe_stop_res *r)
{
	uint8_t bit = k == FE_STOP_STOPPED ? VS_STATUS_DEVICE_STOPPED : VS_STATUS_SUSPEND;
	unsigned int feat = k == FE_STOP_STOPPED ? VS_F_DEVICE_STOP : VS_F_SUSPEND;
	uint64_t t0, ack;
	char b[96];
	int ret;

	if (!vu_has(&d->vu, VU_PF_STATUS))
		return fe_err(-ENOTSUP, "%s: no STATUS protocol feature, cannot stop by status",
			      d->vu.path);
	if (!fe_dev_has(d, feat) && !d->o->force_stop_bit)
		return fe_err(-ENOTSUP, "%s: feature %u (%s) not negotiated", d->vu.path, feat,
			      fe_stop_kind_name(k));
	t0 = fe_now_ns();
	ret = fe_dev_set_status(d, d->status | bit, &ack);
	if (ret)
		return ret;
	ret = status_wait(d, k == FE_STOP_STOPPED ? has_bits : suspended, bit, t0, r);
	if (ret != -ETIME) {
		if (!ret)
			d->stopped = k;
		return ret;
	}
	fe_status_str(r->status, b, sizeof(b));
	if (!d->o->no_cancel) {
		struct fe_stop_res rr = { 0 };
		uint64_t t1 = fe_now_ns();

		/* Cancel: clearing the bit returns the device to running (R11). */
		if (fe_dev_set_status(d, d->status, &ack) == 0 &&
		    status_wait(d, k == FE_STOP_STOPPED ? lacks_bits : unsuspended, bit, t1,
				&rr) == 0)
			return fe_err(-ETIME, "%s: %s stop not shown within %u ms (status %s); stop cancelled, device running",
				      d->vu.path, fe_stop_kind_name(k), d->o->deadline_ms, b);
	}
	return fe_err(-ETIME, "%s: %s stop not shown within %u ms (status %s)%s",
		      d->vu.path, fe_stop_kind_name(k), d->o->deadline_ms, b,
		      d->o->no_cancel ? "" : "; cancel failed too");
}

static int
resume_bit(struct fe_dev *d, enum fe_stop_kind k, struct fe_stop_res *r)
{
	uint8_t bit = k == FE_STOP_STOPPED ? VS_STATUS_DEVICE_STOPPED : VS_STATUS_SUSPEND;
	uint64_t t0 = fe_now_ns(), ack;
	char b[96];
	int ret;

	/*
	 * DEVICE_STOPPED: clear the bit (R9). SUSPEND: write DRIVER_OK again, without
	 * SUSPEND (S3); d->status always holds DRIVER_OK and never a stop bit.
	 */
	ret = fe_dev_set_status(d, d->status, &ack);
	if (ret)
		return ret;
	ret = status_wait(d, k == FE_STOP_STOPPED ? lacks_bits : unsuspended, bit, t0, r);
	if (ret == -ETIME)
		return fe_err(ret, "%s: resume from %s not shown within %u ms (status %s)",
			      d->vu.path, fe_stop_kind_name(k), d->o->deadline_ms,
			      fe_status_str(r->status, b, sizeof(b)));
	if (!ret)
		d->stopped = FE_STOP_AUTO;
	return ret;
}

int
fe_dev_stop(struct fe_dev *d, enum fe_stop_kind k, struct fe_stop_res *r)
{
	unsigned int i;
	uint64_t t0;
	int ret;

	memset(r, 0, sizeof(*r));
	k = fe_dev_stop_kind(d, k);
	switch (k) {
	case FE_STOP_STOPPED:
	case FE_STOP_SUSPEND:
		return stop_bit(d, k, r);
	case FE_STOP_VRING_BASE:
		t0 = fe_now_ns();
		ret = fe_dev_get_bases(d);
		r->ns = fe_now_ns() - t0;
		if (!ret)
			d->stopped = k;
		return ret;
	case FE_STOP_ENABLE:
		/* tx rings first, so what the device already took still reaches rx. */
		t0 = fe_now_ns();
		for (i = 0; i < d->nqp; i++) {
			ret = fe_dev_enable_ring(d, fe_txq_vring(i), false);
			if (ret)
				return ret;
		}
		r->ns = fe_now_ns() - t0;
		d->stopped = k;
		return 0;
	default:
		return fe_err(-EINVAL, "bad stop kind");
	}
}

int
fe_dev_resume(struct fe_dev *d, enum fe_stop_kind k, struct fe_stop_res *r)
{
	unsigned int i;
	uint64_t t0;
	int ret;

	memset(r, 0, sizeof(*r));
	k = fe_dev_stop_kind(d, k);
	switch (k) {
	case FE_STOP_STOPPED:
	case FE_STOP_SUSPEND:
		return resume_bit(d, k, r);
	case FE_STOP_VRING_BASE:
		/* V3: rings come back at the index GET_VRING_BASE returned. */
		t0 = fe_now_ns();
		ret = fe_dev_rings(d, d->bases_valid ? d->bases : NULL);
		r->ns = fe_now_ns() - t0;
		if (!ret)
			d->stopped = FE_STOP_AUTO;
		return ret;
	case FE_STOP_ENABLE:
		t0 = fe_now_ns();
		for (i = 0; i < d->nqp; i++) {
			ret = fe_dev_enable_ring(d, fe_txq_vring(i), true);
			if (ret)
				return ret;
		}
		r->ns = fe_now_ns() - t0;
		d->stopped = FE_STOP_AUTO;
		return 0;
	default:
		return fe_err(-EINVAL, "bad stop kind");
	}
}
