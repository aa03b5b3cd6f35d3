/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Conformance mode: one probe per rule of DESIGN.md section 1, each against the live
 * backend under traffic. A probe observes what a driver can observe — status reads,
 * REPLY_ACK answers, the used rings and call eventfds in guest memory, frames coming back
 * — and fails with the observation that contradicts the rule. Every probe starts from a
 * fresh connection, so one failure does not cascade into the next probe.
 */

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fe.h"
#include "fe_conf.h"
#include "fe_mig.h"
#include "vs_status.h"

enum verdict
verdict(struct conf *c, enum verdict v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	return v;
}

struct fe_dev *
dev(struct conf *c)
{
	return &c->a->dev;
}

struct fe_net *
net(struct conf *c)
{
	return &c->a->net;
}

void
snap_take(struct conf *c, struct snap *s)
{
	unsigned int i;

	s->n = fe_dev_nvrings(dev(c));
	s->ring_len = sizeof(struct fe_vring_used_elem) * net(c)->cfg.ring_size;
	if (!s->rings)
		s->rings = malloc(s->ring_len * FE_MAX_VRINGS);
	for (i = 0; i < s->n; i++) {
		struct fe_vq *vq = fe_net_vq(net(c), i);

		s->idx[i] = fe_vq_used_idx(vq);
		/*
		 * Packed: the driver rewrites the slots too (it re-posts what it consumed),
		 * so only what the device alone moves is compared: the used position (the
		 * run of used descriptors, fe_vq_used_idx). A used descriptor rewritten in
		 * place is not seen there.
		 */
		if (vq->packed)
			memset(s->rings + i * s->ring_len, 0, s->ring_len);
		else
			memcpy(s->rings + i * s->ring_len, vq->used->ring, s->ring_len);
	}
}

/* Same used indices and used rings? Describes the first difference in @p why. */
bool
snap_same(const struct snap *a, const struct snap *b, char *why, size_t len)
{
	unsigned int i;

	for (i = 0; i < a->n; i++) {
		if (a->idx[i] != b->idx[i]) {
			snprintf(why, len, "used index of ring %u moved %u -> %u", i, a->idx[i],
				 b->idx[i]);
			return false;
		}
		if (memcmp(a->rings + i * a->ring_len, b->rings + i * b->ring_len, a->ring_len)) {
			snprintf(why, len, "used ring %u rewritten", i);
			return false;
		}
	}
	return true;
}

bool
has_status(struct conf *c)
{
	return (c->proto >> VU_PF_STATUS) & 1;
}

bool
offered(struct conf *c, unsigned int bit)
{
	return (c->features >> bit) & 1;
}

/* Counters now, as the probe's zero. */
void
conf_mark(struct conf *c)
{
	fe_net_totals(net(c), &c->base);
}

/*
 * Start the probe on a fresh connection: finish what is in flight on the old one (so a
 * reset cannot eat frames), close it, bring a new one up without @p drop features.
 */
int
conf_fresh(struct conf *c, uint64_t drop)
{
	struct fe_app *a = c->a;
	int ret;

	fe_net_drain(net(c), 500);
	fe_dev_close(&a->dev);
	fe_net_set(&net(c)->force_kick, 0);
	fe_net_set(&net(c)->no_kick, 0);
	fe_net_set_interrupts(net(c), false);
	ret = fe_dev_start(&a->dev, net(c), a->cur, &a->o.dev, drop);
	if (ret)
		return ret;
	conf_mark(c);
	fe_net_set(&net(c)->pause, 0);
	return fe_net_wait_rx(net(c), 64, 2000);
}

/* Everything sent since conf_mark came back once, in order, intact? */
enum verdict
conf_clean(struct conf *c)
{
	struct fe_qstats s;
	int64_t lost;
	uint64_t sent;
	int dr;

	dr = fe_net_drain(net(c), 1000);
	fe_net_totals(net(c), &s);
	fe_net_set(&net(c)->pause, 0);
	sent = s.sent - c->base.sent;
	/*
	 * Unaccounted now minus gaps already known at the mark: frames still in flight at
	 * the mark belong to this probe, lost or not.
	 */
	lost = (int64_t)(s.sent - s.rcvd) - (int64_t)c->base.lost;
	if (s.dup != c->base.dup || s.reord != c->base.reord || s.bad != c->base.bad)
		return FAIL("frames duplicated %llu, reordered %llu, corrupt %llu",
			    (unsigned long long)(s.dup - c->base.dup),
			    (unsigned long long)(s.reord - c->base.reord),
			    (unsigned long long)(s.bad - c->base.bad));
	if (dr || lost > 0)
		return FAIL("%lld of %llu frames lost%s", (long long)lost,
			    (unsigned long long)sent, dr ? " (still in flight after 1 s)" : "");
	if (!sent)
		return FAIL("no traffic during the probe");
	return V_PASS;
}

/* Read the status until @p mask & status == @p want, at most @p ms. */
int
status_until(struct conf *c, uint8_t mask, uint8_t want, unsigned int ms, uint8_t *st)
{
	uint64_t end = fe_now_ns() + ms * 1000000ull;
	int ret;

	for (;;) {
		ret = fe_dev_get_status(dev(c), st);
		if (ret)
			return ret;
		if ((*st & mask) == want)
			return 0;
		if (fe_now_ns() >= end)
			return -ETIMEDOUT;
		fe_sleep_us(20);
	}
}

/* Watch the status for @p ms: @return true if @p bit ever showed. */
bool
status_ever(struct conf *c, uint8_t bit, unsigned int ms, uint8_t *st)
{
	return status_until(c, bit, bit, ms, st) == 0;
}

enum verdict
need_stop(struct conf *c, unsigned int feat)
{
	if (!has_status(c))
		return SKIP("backend did not negotiate protocol feature STATUS (16)");
	if (!offered(c, feat))
		return SKIP("backend does not offer %s (feature %u)",
			    feat == VS_F_DEVICE_STOP ? "VIRTIO_F_DEVICE_STOP" : "VIRTIO_F_SUSPEND",
			    feat);
	return V_PASS;
}

/* After a stop shows: nothing changes in guest memory for QUIET_MS while kicking. */
enum verdict
quiet_while_stopped(struct conf *c, const char *what)
{
	struct snap s1 = { 0 }, s2 = { 0 };
	char why[160];
	bool same;

	fe_net_wait_caught_up(net(c), 50);
	fe_net_set(&net(c)->force_kick, 1);
	snap_take(c, &s1);
	fe_sleep_us(QUIET_MS * 1000);
	snap_take(c, &s2);
	fe_net_set(&net(c)->force_kick, 0);
	same = snap_same(&s1, &s2, why, sizeof(why));
	free(s1.rings);
	free(s2.rings);
	if (!same)
		return FAIL("%s after %s was shown (driver kicking)", why, what);
	return V_PASS;
}

/* Virtio-net config: mac[6], status, max_virtqueue_pairs, mtu. */
#define NET_CFG_LEN 12

static int
get_config(struct conf *c, uint8_t *cfg)
{
	struct {
		uint32_t offset, size, flags;
		uint8_t data[NET_CFG_LEN];
	} __attribute__((packed)) m = { .size = NET_CFG_LEN };
	uint32_t size;
	int ret;

	ret = vu_send(&dev(c)->vu, VU_GET_CONFIG, 0, &m, sizeof(m), NULL, 0);
	if (ret)
		return ret;
	ret = vu_recv(&dev(c)->vu, VU_GET_CONFIG, &m, sizeof(m), &size, NULL);
	if (ret)
		return ret;
	if (size < 12)
		return fe_err(-EPROTO, "GET_CONFIG reply of %u bytes", size);
	memcpy(cfg, m.data, NET_CFG_LEN);
	return 0;
}

/*
 * One command on the backend's control socket (vstop --ctl: a line in, one JSON line
 * back). @return 0 if it answered "ok":true, else -errno (error text set).
 */
static int
backend_cmd(struct conf *c, const char *cmd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = c->a->o.backend_ctl;
	uint64_t end = fe_now_ns() + 2000000000ull;
	char buf[1024];
	size_t n = 0;
	int fd, ret = 0;

	if (strlen(path) >= sizeof(sa.sun_path))
		return fe_err(-ENAMETOOLONG, "--backend-ctl path too long");
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fe_err(-errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) != (ssize_t)strlen(cmd) ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
		ret = fe_err(-errno, "backend control socket %s: %s", path, strerror(errno));
		goto out;
	}
	while (!memchr(buf, '\n', n)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = fe_now_ns();
		ssize_t k;

		if (n == sizeof(buf) - 1 || now >= end ||
		    poll(&p, 1, (int)((end - now) / 1000000) + 1) <= 0 ||
		    (k = recv(fd, buf + n, sizeof(buf) - 1 - n, 0)) <= 0) {
			ret = fe_err(-ETIMEDOUT, "backend control socket %s: no answer to '%s'",
				     path, cmd);
			goto out;
		}
		n += k;
		buf[n] = '\0';
	}
	*strchr(buf, '\n') = '\0';
	if (!strstr(buf, "\"ok\":true"))
		ret = fe_err(-EREMOTEIO, "backend control socket answered '%s' to '%s'", buf, cmd);
out:
	close(fd);
	return ret;
}

#define NET_S_LINK_UP 1

/*
 * R7 / S4: while stopped, a config change the backend is asked for (link state, through
 * its control socket) leaves config space as it is and sends no notification; after the
 * resume it is applied and notified. A second change while running is notified at once
 * and restores the link.
 */
enum verdict
config_frozen(struct conf *c, enum fe_stop_kind k)
{
	uint8_t before[NET_CFG_LEN], now[NET_CFG_LEN];
	struct fe_stop_res r;
	unsigned int port = c->a->o.backend_port;
	char cmd[64];
	bool up;
	int i, n;

	if (!((c->proto >> VU_PF_CONFIG) & 1))
		return SKIP("backend offers no config space over vhost-user (protocol feature CONFIG 9)");
	if (!c->a->o.backend_ctl)
		return SKIP("no way to ask for a config change while stopped: give --backend-ctl");
	if (c->a->cur != c->a->o.sock)
		return SKIP("the device runs on --peer; --backend-ctl is the backend of --socket");
	STEP(conf_fresh(c, 0), "bring-up");
	if (dev(c)->vu.backend_fd < 0)
		return SKIP("backend offers no request channel (protocol feature SLAVE_REQ 5): "
			    "config-change notifications cannot be seen");
	STEP(get_config(c, before), "GET_CONFIG");
	up = before[6] & NET_S_LINK_UP;
	n = vu_backend_poll(&dev(c)->vu, 0);
	STEP(n < 0 ? n : 0, "back-end channel");
	STEP(fe_dev_stop(dev(c), k, &r), "stop");
	snprintf(cmd, sizeof(cmd), "set link %s %u", up ? "down" : "up", port);
	STEP(backend_cmd(c, cmd), "config change request");
	for (i = 0; i < 10; i++) {
		fe_sleep_us(QUIET_MS * 100);
		STEP(get_config(c, now), "GET_CONFIG");
		if (memcmp(before, now, NET_CFG_LEN))
			return FAIL("config space changed while stopped (after '%s')", cmd);
		n = vu_backend_poll(&dev(c)->vu, 0);
		STEP(n < 0 ? n : 0, "back-end channel");
		if (n > 0)
			return FAIL("config-change notification sent while stopped (after '%s')",
				    cmd);
	}
	STEP(fe_dev_resume(dev(c), k, &r), "resume");
	n = vu_backend_poll(&dev(c)->vu, 1000);
	STEP(n < 0 ? n : 0, "back-end channel");
	if (n == 0)
		return FAIL("no config-change notification within 1 s of the resume ('%s' was "
			    "asked for while stopped)", cmd);
	STEP(get_config(c, now), "GET_CONFIG");
	if (!!(now[6] & NET_S_LINK_UP) == up)
		return FAIL("'%s' asked for while stopped is not applied after the resume", cmd);
	snprintf(cmd, sizeof(cmd), "set link %s %u", up ? "up" : "down", port);
	STEP(backend_cmd(c, cmd), "config change request");
	n = vu_backend_poll(&dev(c)->vu, 1000);
	STEP(n < 0 ? n : 0, "back-end channel");
	if (n == 0)
		return FAIL("no config-change notification within 1 s for '%s' while running",
			    cmd);
	STEP(get_config(c, now), "GET_CONFIG");
	if (memcmp(before, now, NET_CFG_LEN))
		return FAIL("config space not back to what it was after '%s'", cmd);
	return conf_clean(c);
}

struct rule {
	const char *id;
	enum verdict (*fn)(struct conf *c);
};

static const struct rule rules[] = {
	{ "R1", chk_r1 }, { "R2", chk_r2 }, { "R3", chk_r3 }, { "R4", chk_r4 },
	{ "R5", chk_r5 }, { "R6", chk_r6 }, { "R7", chk_r7 }, { "R8", chk_r8 },
	{ "R9", chk_r9 }, { "R10", chk_r10 }, { "R11", chk_r11 }, { "R12", chk_r12 },
	{ "S1", chk_s1 }, { "S2", chk_s2 }, { "S3", chk_s3 }, { "S4", chk_s4 },
	{ "V1", chk_v1 }, { "V2", chk_v2 }, { "V3", chk_v3 },
	{ "M1", chk_m1 }, { "M2", chk_m2 }, { "M3", chk_m3 },
};

static bool
selected(const char *only, const char *id)
{
	size_t n = strlen(id);
	const char *p = only;

	if (!only)
		return true;
	while ((p = strstr(p, id)) != NULL) {
		if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

int
fe_conformance_run(struct fe_app *a)
{
	struct conf c = { .a = a, .features = a->dev.vu.features, .proto = a->dev.vu.proto };
	unsigned int i, pass = 0, fail = 0, skip = 0;
	uint64_t t;

	if (fe_net_wait_rx(&a->net, 64, 2000)) {
		FE_LOG("error: %s", fe_errmsg());
		return FE_EXIT_FATAL;
	}
	for (i = 0; i < FE_DIM(rules); i++) {
		enum verdict v;

		if (!selected(a->o.only, rules[i].id))
			continue;
		c.why[0] = '\0';
		fe_err_clear();
		t = fe_now_ns();
		v = rules[i].fn(&c);
		FE_DBG("%s took %.1f ms", rules[i].id, (fe_now_ns() - t) / 1e6);
		if (v == V_PASS) {
			printf("%s PASS\n", rules[i].id);
			pass++;
		} else if (v == V_FAIL) {
			printf("%s FAIL %s\n", rules[i].id, c.why);
			fail++;
		} else {
			printf("%s SKIP %s\n", rules[i].id, c.why);
			skip++;
		}
		/* Leave the next probe a running device with nothing in flight. */
		fe_net_set(&a->net.force_kick, 0);
		fe_net_set(&a->net.no_kick, 0);
		fe_net_set(&a->net.pause, 0);
	}
	fe_net_drain(&a->net, 500);
	fe_net_stop(&a->net);
	if (skip)
		printf("%u passed, %u failed, %u skipped\n", pass, fail, skip);
	else
		printf("%u passed, %u failed\n", pass, fail);
	return fail ? FE_EXIT_CHECK : FE_EXIT_OK;
}
