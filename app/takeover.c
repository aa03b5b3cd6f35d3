/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Live upgrade (U1-U3): vstop B, started with --takeover CTL, takes over every port of the
 * running vstop A whose control socket is CTL. docs/upgrade.rst tells the why; in short:
 *
 *   B: start-up (EAL, lcores, mempool, ports; librte_vhost listens on B's private relay
 *      sockets, the front ends' sockets are not opened), then connect to CTL, "takeover".
 *   A: HELLO (pid, ports)                                  -> B checks they match its own
 *   B: READY, or REFUSE reason (A keeps serving)           -> A
 *   A: freezes its relay (front ends are not read; what was relayed has been handled),
 *      quiesces every running device in one engine pass (epoch barrier + drain: R4, R5),
 *      then per vhost port: PORT (listening socket, front end connection), BLOB (device
 *      state, M1), MSG... (the recorded session, ring bases set where the rings stopped),
 *      PORT_END; then CTL (the control socket's listening fd), END
 *   B: per port: holds the device, loads the state, replays the session to its own
 *      librte_vhost (replies swallowed), waits for the relay barrier; then ACK
 *   A: DONE, lets go of everything (U1), prints its statistics and exits 0
 *   B: on DONE: starts each device (held frames first, counters continue), reads the
 *      front ends, serves CTL.
 *
 * Any failure before A has sent DONE (B refuses, dies, times out, or sends FAIL) and A
 * thaws its relay and un-quiesces the devices it quiesced (U2). B never touches a ring
 * before DONE, so A resumes exactly where it stopped. A second takeover while one is
 * under way is refused by A.
 *
 * The transfer goes one way, A to B: takeover.c calls devstate_io.c (collect, apply),
 * vhost_dev.c and relay.c; none of them calls back here.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_vhost.h>

#include "ctl_sock.h"
#include "devstate_io.h"
#include "relay.h"
#include "fd_msg.h"
#include "takeover.h"
#include "vhost_dev.h"
#include "vstop.h"

#define TO_VERSION 1
#define TO_MAX_PAYLOAD (64u << 20)

enum to_type {
	TO_HELLO = 1, TO_READY, TO_REFUSE, TO_PORT, TO_BLOB, TO_MSG, TO_PORT_END, TO_CTL,
	TO_END, TO_ACK, TO_FAIL, TO_DONE, TO_PRE_END, TO_PRE_ACK, TO_BASES,
};

/* How a port is sent (struct to_port.mode). */
enum {
	PORT_PRE = 1,    /* devices still running: sockets and session, ring bases stale */
	PORT_STATE,      /* stopped, session unchanged since PRE: device state + ring bases */
	PORT_FULL,       /* stopped, session changed (or no PRE): state + the whole session */
};

struct to_base {
	uint32_t index;
	uint32_t num;
};

struct to_hdr {
	uint32_t type;
	uint32_t port;
	uint32_t len;
	uint32_t nfds;
};

struct to_hello {
	uint32_t version;
	uint32_t pid;
	uint32_t fwd;
	uint32_t nb_ports;
};

struct to_port_desc {
	uint16_t id;
	uint8_t kind;
	uint8_t client;
	uint16_t queues;
	uint8_t relayed;
	uint8_t pad;
	char path[128];
};

struct to_port {
	uint8_t has_listen;
	uint8_t has_conn;
	uint16_t nb_msgs;
	uint32_t blob_len;
	uint32_t mode;
};

static struct {
	pthread_mutex_t lock;
	bool busy;               /* A: a takeover is under way */
	bool handed_over;        /* A: done, the ports are B's */
	bool pending;            /* B: --takeover given, not done yet */
	char status[256];
	uint64_t done, failed;
} T = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
set_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
set_status(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&T.lock);
	va_start(ap, fmt);
	vsnprintf(T.status, sizeof(T.status), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&T.lock);
	APP_LOG(INFO, "takeover: %s", T.status);
}

const char *
takeover_status(void)
{
	static char copy[sizeof(T.status) + 64];

	pthread_mutex_lock(&T.lock);
	snprintf(copy, sizeof(copy), "%s (done %" PRIu64 ", failed %" PRIu64 ")",
		 T.status[0] ? T.status : "none", T.done, T.failed);
	pthread_mutex_unlock(&T.lock);
	return copy;
}

bool
takeover_pending(void)
{
	return app.opts.takeover_path[0] != '\0' && !__atomic_load_n(&T.done, __ATOMIC_ACQUIRE) &&
	       !T.handed_over;
}

bool
takeover_handed_over(void)
{
	return __atomic_load_n(&T.handed_over, __ATOMIC_ACQUIRE);
}

/* ---- the channel ---- */

static int
send_rec(int fd, uint32_t type, uint32_t port, const void *p, uint32_t len, const int *fds,
	 int nfds)
{
	struct to_hdr h = { type, port, len, (uint32_t)nfds };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)(uintptr_t)p, len } };

	return fd_msg_sendv(fd, iov, 2, fds, nfds);
}

static int
recv_all(int fd, void *p, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, (uint8_t *)p + got, len - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		got += (size_t)n;
	}
	return 0;
}

/* One record; *payload malloc'd (NUL-terminated), fds in @p fds (up to 8). */
static int
recv_rec(int fd, struct to_hdr *h, uint8_t **payload, int *fds, int *nfds)
{
	ssize_t n;
	int rc;

	*payload = NULL;
	n = fd_msg_recv_first(fd, h, sizeof(*h), fds, nfds, 8);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return n == -EAGAIN ? -ETIMEDOUT : (int)n;
	if ((size_t)n < sizeof(*h)) {
		rc = recv_all(fd, (uint8_t *)h + n, sizeof(*h) - (size_t)n);
		if (rc < 0)
			goto fail;
	}
	rc = -EPROTO;
	if (h->len > TO_MAX_PAYLOAD)
		goto fail;
	*payload = malloc(h->len + 1);
	if (*payload == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	(*payload)[h->len] = 0;
	rc = recv_all(fd, *payload, h->len);
	if (rc == 0)
		return 0;
fail:
	for (int i = 0; i < *nfds; i++)
		close(fds[i]);
	*nfds = 0;
	free(*payload);
	*payload = NULL;
	return rc;
}

static void
chan_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = app.opts.takeover_timeout_ms / 1000,
			      .tv_usec = (app.opts.takeover_timeout_ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* ---- ports ---- */

static uint32_t
port_descs(struct to_port_desc **out)
{
	struct to_port_desc *d = calloc(app.nb_ports ? app.nb_ports : 1, sizeof(*d));
	uint32_t n = 0;

	*out = d;
	if (d == NULL)
		return 0;
	for (unsigned int i = 0; i < app.nb_ports; i++) {
		const struct app_port *p = app_port_get(i);

		if (p == NULL)
			continue;
		d[n].id = p->id;
		d[n].kind = (uint8_t)p->kind;
		d[n].queues = p->nb_queues;
		if (p->kind == PORT_VHOST) {
			d[n].client = p->vh->client;
			d[n].relayed = p->vh->relay != NULL || takeover_pending();
			snprintf(d[n].path, sizeof(d[n].path), "%s", p->vh->path);
		} else {
			snprintf(d[n].path, sizeof(d[n].path), "%s", p->name);
		}
		n++;
	}
	return n;
}

/* B: do A's ports match ours? @return 0 or -EINVAL with @p why. */
static int
ports_match(const uint8_t *payload, uint32_t len, char *why, size_t wlen)
{
	const struct to_hello *h = (const void *)payload;
	const struct to_port_desc *theirs;
	struct to_port_desc *ours;
	uint32_t n;
	int rc = 0;

	if (len < sizeof(*h) || h->version != TO_VERSION ||
	    len != sizeof(*h) + h->nb_ports * sizeof(struct to_port_desc)) {
		snprintf(why, wlen, "the running vstop speaks another takeover version");
		return -EPROTO;
	}
	theirs = (const void *)(h + 1);
	n = port_descs(&ours);
	if (n != h->nb_ports) {
		snprintf(why, wlen, "the running vstop has %u port(s), this one %u", h->nb_ports, n);
		rc = -EINVAL;
	}
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		const struct to_port_desc *a = &theirs[i], *b = &ours[i];

		if (a->id != b->id || a->kind != b->kind || a->client != b->client ||
		    a->queues != b->queues || strcmp(a->path, b->path) != 0) {
			snprintf(why, wlen, "port %u differs: running vstop has %s %s%s queues=%u, "
				 "this one port %u %s %s%s queues=%u", a->id,
				 a->kind == PORT_VHOST ? "vhost" : "ethdev", a->path,
				 a->client ? ",client" : "", a->queues, b->id,
				 b->kind == PORT_VHOST ? "vhost" : "ethdev", b->path,
				 b->client ? ",client" : "", b->queues);
			rc = -EINVAL;
		} else if (a->kind == PORT_VHOST && !a->relayed) {
			snprintf(why, wlen, "port %u (%s) is not relayed by the running vstop "
				 "(client mode, or --no-relay): it cannot move", a->id, a->path);
			rc = -EINVAL;
		}
	}
	if (rc == 0 && h->fwd != (uint32_t)app.opts.fwd)
		APP_LOG(WARNING, "takeover: forwarding mode changes from %s to %s",
			fwd_mode_name((enum fwd_mode)h->fwd), fwd_mode_name(app.opts.fwd));
	free(ours);
	return rc;
}

/* ---- A: the source ---- */

struct src {
	int fd;
	int ctl_lfd;
	uint16_t quiesced[VSTOP_MAX_PORTS]; /* engine devices A quiesced (to undo) */
	unsigned int nb_quiesced;
	bool frozen;
	uint64_t gen[VSTOP_MAX_PORTS];      /* session generations at the pre-copy */
};

static int
vring_base_cb(void *arg, uint16_t vq, uint32_t *num)
{
	struct vhost_port *vp = arg;
	uint16_t avail, used;

	if (vp->vid < 0 || rte_vhost_get_vring_base(vp->vid, vq, &avail, &used) != 0)
		return -1;
	/* Drained (R5): avail == used; a packed ring's wrap counter is bit 15 (P1). */
	*num = avail;
	return 0;
}

static int
quiesce_all(struct src *s)
{
	struct vs_op *ops[VSTOP_MAX_PORTS];
	unsigned int n = 0;
	int rc = 0;

	for (unsigned int i = 0; i < app.nb_ports; i++) {
		const struct app_port *p = app_port_get(i);
		struct vs_dev_info info;

		if (p == NULL || p->kind != PORT_VHOST ||
		    vs_ctl_dev_info(app.ctl, p->dev, &info, 1000) != 0 || info.quiesced)
			continue;
		ops[n] = vs_op_alloc(VS_OP_QUIESCE, p->dev);
		if (ops[n] == NULL)
			return -ENOMEM;
		s->quiesced[n] = p->dev;
		n++;
	}
	if (n == 0)
		return 0;
	/* E1: one engine pass, one epoch barrier for every device. */
	rc = vs_ctl_submit_bulk(app.ctl, ops, n);
	if (rc < 0) {
		for (unsigned int i = 0; i < n; i++)
			vs_op_free(ops[i]);
		return rc;
	}
	s->nb_quiesced = n;
	for (unsigned int i = 0; i < n; i++) {
		int r = vs_ctl_wait(ops[i], (int)app.opts.stop_timeout_ms + 1000);

		if (r != -ETIMEDOUT)
			vs_op_free(ops[i]);
		if (r < 0 && rc == 0)
			rc = r;
	}
	return rc;
}

static void
src_resume(struct src *s)
{
	for (unsigned int i = 0; i < s->nb_quiesced; i++) {
		int rc = vs_ctl_simple(app.ctl, VS_OP_UNQUIESCE, s->quiesced[i],
				       (int)app.opts.stop_timeout_ms + 1000);

		if (rc < 0)
			APP_LOG(ERR, "takeover: device %u not resumed: %s", s->quiesced[i],
				strerror(-rc));
	}
	s->nb_quiesced = 0;
	if (s->frozen)
		relay_thaw_all();
	s->frozen = false;
}

static int
send_port(struct src *s, struct app_port *p, unsigned int mode, char *why, size_t wlen)
{
	struct vhost_port *vp = p->vh;
	struct relay_msg *msgs = NULL;
	struct to_port tp = { .mode = mode };
	struct to_base bases[2 * OPT_MAX_QUEUES];
	uint8_t live[2 * OPT_MAX_QUEUES];
	int conn_fd = -1, listen_fd = -1, fds[2], nfds = 0, n = 0, nb = 0, rc;
	uint8_t *blob = NULL;
	long blen = 0;
	struct vs_dev_info info;

	if (mode != PORT_STATE) {
		n = relay_port_export(vp->relay, &msgs, &conn_fd, &listen_fd,
				      mode == PORT_PRE ? NULL : vring_base_cb, vp);
		if (n < 0) {
			snprintf(why, wlen, "port %u: session export: %s", p->id, strerror(-n));
			return n;
		}
		if (mode != PORT_PRE && listen_fd >= 0) {
			close(listen_fd); /* went with PRE */
			listen_fd = -1;
		}
	}
	if (mode != PORT_PRE && vs_ctl_dev_info(app.ctl, p->dev, &info, 1000) == 0 &&
	    info.attached) {
		char err[160] = "";

		blen = devstate_collect(vp, &blob, err, sizeof(err));
		if (blen < 0) {
			snprintf(why, wlen, "port %u: device state: %s", p->id, err);
			rc = (int)blen;
			goto out;
		}
	}
	if (mode == PORT_STATE) {
		int k = relay_port_live_rings(vp->relay, live, (int)RTE_DIM(live));

		for (int q = 0; q < k; q++) {
			uint32_t num;

			if (live[q] && vring_base_cb(vp, (uint16_t)q, &num) == 0)
				bases[nb++] = (struct to_base){ (uint32_t)q, num };
		}
	}
	if (listen_fd >= 0)
		fds[nfds++] = listen_fd;
	if (conn_fd >= 0)
		fds[nfds++] = conn_fd;
	tp.has_listen = listen_fd >= 0;
	tp.has_conn = conn_fd >= 0;
	tp.nb_msgs = (uint16_t)n;
	tp.blob_len = (uint32_t)blen;
	rc = send_rec(s->fd, TO_PORT, p->id, &tp, sizeof(tp), fds, nfds);
	if (rc == 0 && blen > 0)
		rc = send_rec(s->fd, TO_BLOB, p->id, blob, (uint32_t)blen, NULL, 0);
	if (rc == 0 && nb > 0)
		rc = send_rec(s->fd, TO_BASES, p->id, bases, (uint32_t)(nb * sizeof(bases[0])),
			      NULL, 0);
	for (int i = 0; i < n && rc == 0; i++)
		rc = send_rec(s->fd, TO_MSG, p->id, msgs[i].buf, msgs[i].len, msgs[i].fds,
			      msgs[i].nfds);
	if (rc == 0)
		rc = send_rec(s->fd, TO_PORT_END, p->id, NULL, 0, NULL, 0);
	if (rc < 0)
		snprintf(why, wlen, "port %u: send: %s", p->id, strerror(-rc));
	else
		APP_LOG(INFO, "takeover: port %u (%s): %s: %s, %d session message(s), %d ring "
			"base(s), state %ld bytes", p->id, vp->path, mode == PORT_PRE ?
			"sockets and session (devices running)" : mode == PORT_STATE ?
			"device state" : "device state and session (it changed)",
			conn_fd >= 0 || mode == PORT_STATE ? "front end connected" :
			"no front end", n, nb, blen);
out:
	if (listen_fd >= 0)
		close(listen_fd);
	if (conn_fd >= 0)
		close(conn_fd);
	relay_msgs_free(msgs, n);
	free(blob);
	return rc;
}

static void
src_fail(struct src *s, const char *why)
{
	src_resume(s);
	pthread_mutex_lock(&T.lock);
	T.failed++;
	pthread_mutex_unlock(&T.lock);
	set_status("failed: %s; every device resumed here", why);
	printf("takeover failed: %s\n", why);
	fflush(stdout);
}

static void *
src_thread(void *arg)
{
	struct src *s = arg;
	struct to_desc_buf { struct to_hello h; } *unused = NULL;
	struct to_port_desc *descs = NULL;
	struct to_hdr h;
	uint8_t *pl = NULL, *hello = NULL;
	int fds[8], nfds = 0, rc;
	uint32_t nb;
	size_t hlen;
	char why[256] = "";
	uint64_t t0, t1, tf = 0, tq = 0, ts = 0, ta = 0;

	RTE_SET_USED(unused);
	chan_timeouts(s->fd);
	set_status("a new vstop asks for the ports");
	nb = port_descs(&descs);
	hlen = sizeof(struct to_hello) + nb * sizeof(*descs);
	hello = calloc(1, hlen);
	if (hello == NULL || descs == NULL) {
		src_fail(s, "out of memory");
		goto out;
	}
	*(struct to_hello *)hello = (struct to_hello){ TO_VERSION, (uint32_t)getpid(),
						       (uint32_t)app.opts.fwd, nb };
	memcpy(hello + sizeof(struct to_hello), descs, nb * sizeof(*descs));
	for (uint32_t i = 0; i < nb; i++) {
		if (descs[i].kind == PORT_VHOST && !descs[i].relayed) {
			snprintf(why, sizeof(why), "port %u (%s) is not relayed (client mode or "
				 "--no-relay): it cannot move", descs[i].id, descs[i].path);
			send_rec(s->fd, TO_FAIL, 0, why, (uint32_t)strlen(why), NULL, 0);
			src_fail(s, why);
			goto out;
		}
	}
	rc = send_rec(s->fd, TO_HELLO, 0, hello, (uint32_t)hlen, NULL, 0);
	if (rc == 0)
		rc = recv_rec(s->fd, &h, &pl, fds, &nfds);
	if (rc < 0 || h.type != TO_READY) {
		if (rc < 0)
			snprintf(why, sizeof(why), "the new vstop went away before it was ready: %s",
				 strerror(-rc));
		else
			snprintf(why, sizeof(why), "the new vstop refused: %s",
				 h.type == TO_REFUSE || h.type == TO_FAIL ? (char *)pl : "?");
		src_fail(s, why);
		goto out;
	}
	free(pl);
	pl = NULL;

	/*
	 * Pre-copy, the devices still running: sockets and sessions, which B replays to its
	 * librte_vhost now (its rings at stale bases; it touches none). What the front ends
	 * send meanwhile changes a session's generation: such a port goes again in full.
	 */
	set_status("sending sockets and sessions (devices running)");
	for (unsigned int i = 0; i < app.nb_ports && rc == 0; i++) {
		struct app_port *p = app_port_get(i);

		if (p == NULL || p->kind != PORT_VHOST)
			continue;
		s->gen[i] = relay_port_gen(p->vh->relay);
		rc = send_port(s, p, PORT_PRE, why, sizeof(why));
	}
	if (rc == 0)
		rc = send_rec(s->fd, TO_PRE_END, 0, NULL, 0, NULL, 0);
	if (rc == 0)
		rc = recv_rec(s->fd, &h, &pl, fds, &nfds);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	nfds = 0;
	if (rc < 0 || h.type != TO_PRE_ACK) {
		if (rc < 0)
			snprintf(why, sizeof(why), "pre-copy: %s", strerror(-rc));
		else if (why[0] == '\0')
			snprintf(why, sizeof(why), "the new vstop failed: %s",
				 h.type == TO_FAIL ? (char *)pl : "unexpected message");
		send_rec(s->fd, TO_FAIL, 0, why, (uint32_t)strlen(why), NULL, 0);
		src_fail(s, why);
		goto out;
	}
	free(pl);
	pl = NULL;

	/* U1 step 1: nothing more from the front ends, every device stopped (R4, R5). */
	t0 = now_us();
	set_status("stopping every device");
	s->frozen = true;
	rc = relay_freeze_all((int)app.opts.takeover_timeout_ms);
	tf = now_us();
	if (rc == 0)
		rc = quiesce_all(s);
	tq = now_us();
	if (rc < 0) {
		snprintf(why, sizeof(why), "cannot stop the devices: %s", strerror(-rc));
		send_rec(s->fd, TO_FAIL, 0, why, (uint32_t)strlen(why), NULL, 0);
		src_fail(s, why);
		goto out;
	}
	/* Step 2: connections, sessions, device states. */
	set_status("handing the ports over");
	for (unsigned int i = 0; i < app.nb_ports && rc == 0; i++) {
		struct app_port *p = app_port_get(i);

		if (p != NULL && p->kind == PORT_VHOST)
			rc = send_port(s, p, relay_port_gen(p->vh->relay) == s->gen[i] &&
				       s->gen[i] != UINT64_MAX ? PORT_STATE : PORT_FULL, why,
				       sizeof(why));
	}
	if (rc == 0)
		rc = send_rec(s->fd, TO_CTL, 0, NULL, 0, &s->ctl_lfd, s->ctl_lfd >= 0 ? 1 : 0);
	if (rc == 0)
		rc = send_rec(s->fd, TO_END, 0, NULL, 0, NULL, 0);
	if (rc < 0) {
		if (why[0] == '\0')
			snprintf(why, sizeof(why), "send: %s", strerror(-rc));
		send_rec(s->fd, TO_FAIL, 0, why, (uint32_t)strlen(why), NULL, 0);
		src_fail(s, why);
		goto out;
	}
	/* Step 4: let go only once B has everything. */
	ts = now_us();
	rc = recv_rec(s->fd, &h, &pl, fds, &nfds);
	ta = now_us();
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (rc < 0 || h.type != TO_ACK) {
		if (rc < 0)
			snprintf(why, sizeof(why), "no acknowledgement from the new vstop: %s",
				 strerror(-rc));
		else
			snprintf(why, sizeof(why), "the new vstop failed: %s",
				 h.type == TO_FAIL ? (char *)pl : "unexpected message");
		src_fail(s, why);
		goto out;
	}
	rc = send_rec(s->fd, TO_DONE, 0, NULL, 0, NULL, 0);
	if (rc < 0) {
		snprintf(why, sizeof(why), "the new vstop went away after its acknowledgement");
		src_fail(s, why);
		goto out;
	}
	__atomic_store_n(&T.handed_over, true, __ATOMIC_RELEASE);
	ctl_sock_handover();
	relay_release_all();
	t1 = now_us();
	pthread_mutex_lock(&T.lock);
	T.done++;
	pthread_mutex_unlock(&T.lock);
	set_status("done: every port handed over in %.3f ms (relay frozen %" PRIu64 " us, "
		   "devices stopped %" PRIu64 " us, state and sessions sent %" PRIu64 " us, "
		   "the new vstop's load and replay %" PRIu64 " us); exiting", (t1 - t0) / 1e3,
		   tf - t0, tq - tf, ts - tq, ta - ts);
	printf("takeover handed over: %.3f ms freeze_us=%" PRIu64 " stop_us=%" PRIu64
	       " send_us=%" PRIu64 " ack_wait_us=%" PRIu64 "\n", (t1 - t0) / 1e3, tf - t0,
	       tq - tf, ts - tq, ta - ts);
	fflush(stdout);
	/* A exits 0, with its final statistics (app_shutdown prints them). */
	kill(getpid(), SIGTERM);
out:
	free(pl);
	free(hello);
	free(descs);
	close(s->fd);
	pthread_mutex_lock(&T.lock);
	T.busy = false;
	pthread_mutex_unlock(&T.lock);
	free(s);
	return NULL;
}

int
takeover_serve(int fd, int ctl_lfd)
{
	struct src *s;
	pthread_t thr;
	int rc;

	pthread_mutex_lock(&T.lock);
	if (T.busy || T.handed_over || takeover_pending()) {
		pthread_mutex_unlock(&T.lock);
		APP_LOG(WARNING, "takeover: refused: one is under way");
		return -EBUSY;
	}
	T.busy = true;
	pthread_mutex_unlock(&T.lock);
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	s->fd = fd;
	s->ctl_lfd = ctl_lfd;
	rc = rte_ctrl_thread_create(&thr, "vstop-takeover", NULL, src_thread, s);
	if (rc != 0) {
		rc = -rc;
		free(s);
		goto fail;
	}
	pthread_detach(thr);
	return 0;
fail:
	pthread_mutex_lock(&T.lock);
	T.busy = false;
	pthread_mutex_unlock(&T.lock);
	return rc;
}

/* ---- B: the destination ---- */

struct dst_port {
	struct app_port *p;
	struct to_port tp;
	struct to_base *bases;
	uint32_t nb_bases;
	int listen_fd, conn_fd;
	uint8_t *blob;
	uint32_t blob_len;
	struct relay_msg *msgs;
	int nb_msgs;
};

static void
dst_port_clear(struct dst_port *d)
{
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	if (d->conn_fd >= 0)
		close(d->conn_fd);
	free(d->blob);
	free(d->bases);
	relay_msgs_free(d->msgs, d->nb_msgs);
	memset(d, 0, sizeof(*d));
	d->listen_fd = d->conn_fd = -1;
}

static int
load_state(struct dst_port *d, char *why, size_t wlen)
{
	char err[160] = "";
	int rc;

	if (d->blob_len == 0)
		return 0;
	rc = devstate_apply(d->p->vh, d->blob, d->blob_len, err, sizeof(err));
	if (rc < 0)
		snprintf(why, wlen, "port %u: device state refused: %s", d->p->id, err);
	return rc;
}

/* B: the port's librte_vhost side is gone (destroy_connection ran): a clean slate. */
static int
wait_disconnected(struct vhost_port *vp)
{
	uint64_t end = now_us() + app.opts.takeover_timeout_ms * 1000ull;

	while (__atomic_load_n(&vp->vid, __ATOMIC_ACQUIRE) >= 0) {
		if (now_us() > end)
			return -ETIMEDOUT;
		usleep(200);
	}
	return 0;
}

/*
 * B: one port is complete. PRE: hold the device, serve the listening socket, replay the
 * session (stale ring bases). STATE: load the device state, then the ring bases where A
 * stopped. FULL: the session changed after PRE: start the librte_vhost side over, load
 * the state, replay the whole session (bases where A stopped).
 */
static int
dst_port_apply(struct dst_port *d, char *why, size_t wlen)
{
	struct vhost_port *vp = d->p->vh;
	uint64_t t0 = now_us(), t1, t2;
	int rc = 0, nmsgs = d->nb_msgs;

	switch (d->tp.mode) {
	case PORT_PRE:
		vhost_port_takeover_hold(vp);
		if (d->listen_fd < 0 && !vp->client) {
			snprintf(why, wlen, "port %u: no listening socket came", d->p->id);
			return -EPROTO;
		}
		rc = vhost_port_start_fd(vp, d->listen_fd);
		if (rc < 0) {
			snprintf(why, wlen, "port %u: cannot serve the socket: %s", d->p->id,
				 strerror(-rc));
			return rc;
		}
		d->listen_fd = -1; /* the relay's now */
		break;
	case PORT_STATE:
		rc = load_state(d, why, wlen);
		if (rc < 0)
			return rc;
		if (d->nb_bases > 0) {
			/* SET_VRING_BASE where A's rings stopped (drained: avail = used). */
			relay_msgs_free(d->msgs, d->nb_msgs);
			d->nb_msgs = 0;
			d->msgs = calloc(d->nb_bases, sizeof(*d->msgs));
			if (d->msgs == NULL)
				return -ENOMEM;
			for (uint32_t i = 0; i < d->nb_bases; i++) {
				uint32_t hdr[3] = { 10 /* SET_VRING_BASE */, 1, 8 };

				d->msgs[i].buf = malloc(20);
				if (d->msgs[i].buf == NULL)
					return -ENOMEM;
				memcpy(d->msgs[i].buf, hdr, 12);
				memcpy(d->msgs[i].buf + 12, &d->bases[i], 8);
				d->msgs[i].len = 20;
				d->nb_msgs++;
			}
			nmsgs = d->nb_msgs;
			rc = relay_port_replay_more(vp->relay, d->msgs, d->nb_msgs,
						    (int)app.opts.takeover_timeout_ms);
			if (rc < 0) {
				snprintf(why, wlen, "port %u: ring bases: %s", d->p->id,
					 strerror(-rc));
				return rc;
			}
		}
		break;
	case PORT_FULL: {
		int old = relay_port_unadopt(vp->relay);

		if (old >= 0)
			close(old); /* the same socket comes again in this record */
		rc = wait_disconnected(vp);
		if (rc < 0) {
			snprintf(why, wlen, "port %u: librte_vhost did not let the old session go",
				 d->p->id);
			return rc;
		}
		rc = load_state(d, why, wlen);
		if (rc < 0)
			return rc;
		break;
	}
	default:
		snprintf(why, wlen, "port %u: unknown mode %u", d->p->id, d->tp.mode);
		return -EPROTO;
	}
	t1 = now_us();
	if (d->conn_fd >= 0 && d->tp.mode != PORT_STATE) {
		/*
		 * The pre-copied session sets the rings up at the bases the front end gave
		 * long ago: librte_vhost warns that they differ from the used index (and
		 * uses that). Expected here, and the right bases follow once A has stopped.
		 */
		int lt = rte_log_register("lib.vhost.config");
		int lvl = lt >= 0 ? rte_log_get_level(lt) : -1;

		if (d->tp.mode == PORT_PRE && lvl > (int)RTE_LOG_ERR)
			rte_log_set_level(lt, RTE_LOG_ERR);
		rc = relay_port_adopt(vp->relay, d->conn_fd, d->msgs, d->nb_msgs,
				      (int)app.opts.takeover_timeout_ms);
		if (d->tp.mode == PORT_PRE && lvl > (int)RTE_LOG_ERR)
			rte_log_set_level(lt, (uint32_t)lvl);
		if (rc < 0) {
			snprintf(why, wlen, "port %u: session replay: %s", d->p->id, strerror(-rc));
			return rc;
		}
		d->conn_fd = -1;
	}
	t2 = now_us();
	APP_LOG(INFO, "takeover: port %u: %s: state loaded in %" PRIu64 " us, %d message(s) "
		"replayed in %" PRIu64 " us", d->p->id, d->tp.mode == PORT_PRE ? "pre-copy" :
		d->tp.mode == PORT_STATE ? "device state" : "full session", t1 - t0, nmsgs,
		t2 - t1);
	return 0;
}

static int
connect_ctl(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/*
 * Fault injection for the U2 tests (VSTOP_TAKEOVER_FAULT): "die-before-ack" (B is
 * killed after it has replayed everything, before its acknowledgement), "delay-ready:MS"
 * (B waits MS before it says it is ready: a second takeover meanwhile is refused).
 */
static void
fault_point(const char *where)
{
	const char *f = getenv("VSTOP_TAKEOVER_FAULT");
	size_t n = strlen(where);

	if (f == NULL || strncmp(f, where, n) != 0)
		return;
	APP_LOG(WARNING, "takeover: fault injected: %s", f);
	if (strcmp(where, "die-before-ack") == 0)
		raise(SIGKILL);
	if (f[n] == ':')
		usleep((useconds_t)atoi(f + n + 1) * 1000);
}

static bool
pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

int
takeover_run(void)
{
	const char *ctl = app.opts.takeover_path;
	struct dst_port d;
	struct to_hdr h;
	uint8_t *pl = NULL;
	int fds[8], nfds = 0, fd, rc, ctl_fd = -1;
	char why[256] = "";
	pid_t src_pid = 0;
	unsigned int nb_ports = 0;
	uint64_t t0, t1, t2, tack = 0, tdone = 0;

	memset(&d, 0, sizeof(d));
	d.listen_fd = d.conn_fd = -1;
	T.pending = true;
	/*
	 * librte_vhost 22.11 adds a listening socket to its poll set without waking the poll
	 * (socket.c: vhost_user_start_server has no fdset_pipe_notify), which times out every
	 * second: a connection to a socket started less than a second ago waits for that.
	 * Still start-up: wait it out before A stops anything.
	 */
	usleep(1100 * 1000);
	relay_freeze_all(0); /* nothing is read before the takeover is done */
	fd = connect_ctl(ctl);
	if (fd < 0) {
		fprintf(stderr, "vstop: --takeover %s: cannot connect: %s\n", ctl, strerror(-fd));
		return fd;
	}
	chan_timeouts(fd);
	t0 = now_us();
	set_status("asking %s for its ports", ctl);
	if (send(fd, "takeover\n", 9, MSG_NOSIGNAL) != 9) {
		rc = -errno;
		fprintf(stderr, "vstop: --takeover %s: %s\n", ctl, strerror(errno));
		goto out;
	}
	{
		char first = 0;

		if (recv(fd, &first, 1, MSG_PEEK) == 1 && first == '{') {
			/* A JSON line: the running vstop refused (another takeover under way). */
			char line[200];
			ssize_t n = recv(fd, line, sizeof(line) - 1, 0);

			line[n > 0 ? n : 0] = 0;
			line[strcspn(line, "\n")] = 0;
			snprintf(why, sizeof(why), "the running vstop refused: %s", line);
			rc = -EBUSY;
			goto refused;
		}
	}
	rc = recv_rec(fd, &h, &pl, fds, &nfds);
	if (rc < 0) {
		snprintf(why, sizeof(why), "no answer from %s: %s (is it a vstop with the relay?)",
			 ctl, strerror(-rc));
		goto refused;
	}
	if (h.type == TO_FAIL) {
		snprintf(why, sizeof(why), "the running vstop cannot hand over: %s", (char *)pl);
		rc = -EINVAL;
		goto refused;
	}
	if (h.type != TO_HELLO) {
		snprintf(why, sizeof(why), "unexpected message %u from %s", h.type, ctl);
		rc = -EPROTO;
		goto refused;
	}
	src_pid = (pid_t)((const struct to_hello *)pl)->pid;
	rc = ports_match(pl, h.len, why, sizeof(why));
	if (rc < 0) {
		send_rec(fd, TO_REFUSE, 0, why, (uint32_t)strlen(why), NULL, 0);
		goto refused;
	}
	fault_point("delay-ready");
	rc = send_rec(fd, TO_READY, 0, NULL, 0, NULL, 0);
	free(pl);
	pl = NULL;
	t1 = now_us();
	/* Ports, in order, then the control socket, then END. */
	while (rc == 0) {
		rc = recv_rec(fd, &h, &pl, fds, &nfds);
		if (rc < 0) {
			snprintf(why, sizeof(why), "transfer: %s", strerror(-rc));
			break;
		}
		switch (h.type) {
		case TO_PORT: {
			struct app_port *p = app_port_get(h.port);
			int k = 0;

			dst_port_clear(&d);
			if (p == NULL || p->kind != PORT_VHOST || h.len != sizeof(d.tp)) {
				snprintf(why, sizeof(why), "unexpected port %u", h.port);
				rc = -EPROTO;
				break;
			}
			d.p = p;
			memcpy(&d.tp, pl, sizeof(d.tp));
			if (d.tp.has_listen && k < nfds)
				d.listen_fd = fds[k++];
			if (d.tp.has_conn && k < nfds)
				d.conn_fd = fds[k++];
			while (k < nfds)
				close(fds[k++]);
			nfds = 0;
			d.msgs = calloc(d.tp.nb_msgs + 1, sizeof(*d.msgs));
			if (d.msgs == NULL)
				rc = -ENOMEM;
			break;
		}
		case TO_BLOB:
			d.blob = pl;
			d.blob_len = h.len;
			pl = NULL;
			break;
		case TO_BASES:
			d.bases = (struct to_base *)pl;
			d.nb_bases = h.len / sizeof(struct to_base);
			pl = NULL;
			break;
		case TO_PRE_END:
			/* Everything replayed at stale bases: A may stop its devices now. */
			t1 = now_us();
			rc = send_rec(fd, TO_PRE_ACK, 0, NULL, 0, NULL, 0);
			break;
		case TO_MSG:
			if (d.p == NULL || d.nb_msgs >= d.tp.nb_msgs) {
				rc = -EPROTO;
				break;
			}
			d.msgs[d.nb_msgs].buf = pl;
			d.msgs[d.nb_msgs].len = h.len;
			memcpy(d.msgs[d.nb_msgs].fds, fds, sizeof(int) * nfds);
			d.msgs[d.nb_msgs].nfds = nfds;
			d.nb_msgs++;
			nfds = 0;
			pl = NULL;
			break;
		case TO_PORT_END:
			if (d.p == NULL) {
				rc = -EPROTO;
				break;
			}
			rc = dst_port_apply(&d, why, sizeof(why));
			if (rc == 0 && d.tp.mode != PORT_PRE)
				nb_ports++;
			dst_port_clear(&d);
			break;
		case TO_CTL:
			if (nfds > 0) {
				ctl_fd = fds[0];
				for (int i = 1; i < nfds; i++)
					close(fds[i]);
				nfds = 0;
			}
			break;
		case TO_END:
			rc = 1;
			break;
		case TO_FAIL:
			snprintf(why, sizeof(why), "the running vstop gave up: %s", (char *)pl);
			rc = -ECANCELED;
			break;
		default:
			snprintf(why, sizeof(why), "unexpected message %u", h.type);
			rc = -EPROTO;
			break;
		}
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		nfds = 0;
		free(pl);
		pl = NULL;
	}
	dst_port_clear(&d);
	if (rc < 0) {
		if (why[0] == '\0')
			snprintf(why, sizeof(why), "%s", strerror(-rc));
		send_rec(fd, TO_FAIL, 0, why, (uint32_t)strlen(why), NULL, 0);
		goto failed;
	}
	/* Everything is here and replayed: A may let go. */
	fault_point("die-before-ack");
	tack = now_us();
	rc = send_rec(fd, TO_ACK, 0, NULL, 0, NULL, 0);
	if (rc == 0)
		rc = recv_rec(fd, &h, &pl, fds, &nfds);
	tdone = now_us();
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	nfds = 0;
	if (rc == 0 && h.type != TO_DONE) {
		snprintf(why, sizeof(why), "the running vstop did not let go: %s",
			 h.type == TO_FAIL ? (char *)pl : "unexpected message");
		rc = -ECANCELED;
		goto failed;
	}
	if (rc < 0 && pid_alive(src_pid)) {
		/* It may have resumed: starting here too would drive the rings twice. */
		snprintf(why, sizeof(why), "no word from the running vstop after the "
			 "acknowledgement (%s), and it is still alive", strerror(-rc));
		goto failed;
	}
	/* U1 done: A has let go. Start the devices (held frames first), read the front ends. */
	for (unsigned int i = 0; i < app.nb_ports; i++) {
		struct app_port *p = app_port_get(i);

		if (p != NULL && p->kind == PORT_VHOST && vhost_port_takeover_release(p->vh) < 0)
			APP_LOG(ERR, "takeover: port %u: the device did not start", p->id);
	}
	T.pending = false;
	relay_start_reading();
	t2 = now_us();
	if (ctl_fd >= 0) {
		if (app.opts.ctl_path[0] != '\0' && strcmp(app.opts.ctl_path, ctl) != 0)
			APP_LOG(WARNING, "takeover: --ctl %s ignored: this vstop serves %s, the "
				"control socket it took over", app.opts.ctl_path, ctl);
		snprintf(app.opts.ctl_path, sizeof(app.opts.ctl_path), "%s", ctl);
		if (ctl_sock_start_fd(ctl, ctl_fd) < 0)
			close(ctl_fd);
		ctl_fd = -1;
	}
	pthread_mutex_lock(&T.lock);
	T.done++;
	pthread_mutex_unlock(&T.lock);
	set_status("done: %u port(s) taken over from pid %d in %.3f ms (%.3f ms from the "
		   "first stop)", nb_ports, (int)src_pid, (t2 - t0) / 1e3, (t2 - t1) / 1e3);
	/* tools/bench/takeover.py matches the front end's receive gaps to [ready, done]. */
	printf("takeover done ports=%u total_ms=%.3f handover_ms=%.3f ready_mono=%.6f "
	       "done_mono=%.6f receive_load_replay_us=%" PRIu64 " ack_us=%" PRIu64
	       " start_us=%" PRIu64 "\n", nb_ports, (t2 - t0) / 1e3, (t2 - t1) / 1e3,
	       t1 / 1e6, t2 / 1e6, tack - t1, tdone - tack, t2 - tdone);
	fflush(stdout);
	rc = 0;
	goto out;
refused:
	fprintf(stderr, "vstop: takeover refused: %s\n", why);
	set_status("refused: %s", why);
	goto out;
failed:
	fprintf(stderr, "vstop: takeover failed: %s\n", why);
	set_status("failed: %s", why);
	if (rc >= 0)
		rc = -EIO;
out:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (ctl_fd >= 0)
		close(ctl_fd);
	free(pl);
	close(fd);
	return rc;
}
