/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vhost-user relay: see relay.h.
 *
 * Threads: one relay thread runs an epoll loop and handles every event under relay.lock;
 * other threads (port setup, takeover) take the same lock to change the tables. Objects
 * are freed on the relay thread only, after the events of the loop pass that may still
 * name them (a closed object is marked dead and put on the graveyard list).
 *
 * Messages are read one at a time, as librte_vhost does: the 12-byte header with
 * recvmsg() (the fds come with the first byte of the message), then the payload. A
 * front end sends a message in one sendmsg(), so this never waits for long; a socket
 * that stalls mid-message for over a second is closed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rte_lcore.h>

#include "fd_msg.h"
#include "relay.h"
#include "vhost_dev.h"
#include "vhost_msg_layout.h"
#include "vstop.h"

#define HDR_LEN 12
#define MAX_PAYLOAD 4096
#define MAX_VRINGS (2 * OPT_MAX_QUEUES)
#define IO_TIMEOUT_S 1

/* vhost-user requests the session keeps (front end -> back end). */
enum {
	RQ_GET_FEATURES = 1, RQ_SET_FEATURES = 2, RQ_SET_OWNER = 3, RQ_RESET_OWNER = 4,
	RQ_SET_MEM_TABLE = 5, RQ_SET_LOG_BASE = 6, RQ_SET_LOG_FD = 7, RQ_SET_VRING_NUM = 8,
	RQ_SET_VRING_ADDR = 9, RQ_SET_VRING_BASE = 10, RQ_GET_VRING_BASE = 11,
	RQ_SET_VRING_KICK = 12, RQ_SET_VRING_CALL = 13, RQ_SET_VRING_ERR = 14,
	RQ_SET_PROTOCOL_FEATURES = 16, RQ_SET_VRING_ENABLE = 18, RQ_NET_SET_MTU = 20,
	RQ_SET_SLAVE_REQ_FD = 21, RQ_SET_STATUS = 39,
};

/* Session slots, in replay order. */
enum {
	G_OWNER, G_PROTO, G_FEATURES, G_MEM, G_LOG_BASE, G_LOG_FD, G_SLAVE, G_MTU, G_NB
};
enum {
	V_NUM, V_ADDR, V_BASE, V_CALL, V_ERR, V_KICK, V_ENABLE, V_NB
};

struct session {
	struct relay_msg g[G_NB];
	struct relay_msg v[MAX_VRINGS][V_NB];
	struct relay_msg status;
};

enum rfd_kind { RFD_LISTEN, RFD_FE, RFD_LIB, RFD_WAKE };

struct rfd {
	enum rfd_kind kind;
	void *obj;
};

struct rconn {
	struct relay_port *rp;
	int fe_fd, lib_fd;
	struct rfd fe_ev, lib_ev;
	bool fe_polled;        /* fe_fd is in the epoll set */
	bool dead;
	int sync_wait;         /* barrier replies still to come */
	bool swallow;          /* replay: librte_vhost's replies go nowhere */
	uint64_t gen;          /* front end messages relayed: the session's generation */
	struct session s;
	struct rconn *next;    /* in rp->conns, or the graveyard */
};

struct relay_port {
	struct vhost_port *vp;
	char path[OPT_PATH_MAX];
	char lib_path[OPT_PATH_MAX];
	int lfd;
	struct rfd l_ev;
	bool l_polled;           /* lfd is in the epoll set (not while frozen) */
	bool client;             /* we connect to the front end's socket */
	bool released;           /* handed over: no reconnect */
	uint64_t next_try_ms;    /* client: next connection attempt */
	bool dead;
	struct rconn *conns;
	struct relay_port *next; /* all ports, or the graveyard */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool running;
	volatile bool stop;
	int epfd;
	int wake;
	struct rfd wake_ev;
	struct relay_port *ports;
	struct relay_port *dead_ports;
	struct rconn *dead_conns;
	bool frozen;            /* takeover: front ends are not read */
	struct relay_stats st;
} R = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .epfd = -1,
	.wake = -1 };

/* ---- messages ---- */

static void
msg_clear(struct relay_msg *m)
{
	for (int i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	free(m->buf);
	memset(m, 0, sizeof(*m));
}

void
relay_msgs_free(struct relay_msg *msgs, int n)
{
	for (int i = 0; i < n; i++)
		msg_clear(&msgs[i]);
	free(msgs);
}

static uint32_t
msg_request(const struct relay_msg *m)
{
	uint32_t r;

	memcpy(&r, m->buf, 4);
	return r;
}

static void
sock_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Read one message. @return 1, 0 on EOF, -errno. */
static int
msg_read(int fd, struct relay_msg *m)
{
	uint8_t hdr[HDR_LEN];
	uint32_t size;
	size_t got = 0;
	ssize_t n;

	memset(m, 0, sizeof(*m));
	n = fd_msg_recv_first(fd, hdr, HDR_LEN, m->fds, &m->nfds, VHU_MAX_FDS);
	if (n <= 0)
		return (int)n;
	got = (size_t)n;
	while (got < HDR_LEN) {
		n = recv(fd, hdr + got, HDR_LEN - got, 0);
		if (n <= 0)
			goto bad;
		got += (size_t)n;
	}
	memcpy(&size, hdr + 8, 4);
	if (size > MAX_PAYLOAD)
		goto bad;
	m->buf = malloc(HDR_LEN + size);
	if (m->buf == NULL)
		goto bad;
	memcpy(m->buf, hdr, HDR_LEN);
	m->len = HDR_LEN + size;
	got = HDR_LEN;
	while (got < m->len) {
		n = recv(fd, m->buf + got, m->len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto bad;
		got += (size_t)n;
	}
	return 1;
bad:
	msg_clear(m);
	return -EIO;
}

static int
msg_write(int fd, const uint8_t *buf, uint32_t len, const int *fds, int nfds)
{
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };

	return fd_msg_sendv(fd, &iov, 1, fds, nfds);
}

/* ---- the session record ---- */

static void
session_clear(struct session *s)
{
	for (int i = 0; i < G_NB; i++)
		msg_clear(&s->g[i]);
	for (int q = 0; q < MAX_VRINGS; q++)
		for (int k = 0; k < V_NB; k++)
			msg_clear(&s->v[q][k]);
	msg_clear(&s->status);
}

/* Messages whose fds librte_vhost takes; any other message's fds are stray. */
static bool
takes_fds(uint32_t req)
{
	switch (req) {
	case RQ_SET_MEM_TABLE:
	case RQ_SET_LOG_BASE:
	case RQ_SET_LOG_FD:
	case RQ_SET_SLAVE_REQ_FD:
	case RQ_SET_VRING_KICK:
	case RQ_SET_VRING_CALL:
	case RQ_SET_VRING_ERR:
		return true;
	default:
		return false;
	}
}

/*
 * Keep a copy of @p m in @p slot, its fds dup'ed if it is a message that takes fds: a
 * front end's stray fds (on SET_STATUS, say) are not kept for a replay that would not
 * use them (fault_stray_fds_on_messages_closed).
 */
static void
keep(struct relay_msg *slot, const struct relay_msg *m)
{
	struct relay_msg c = { .len = m->len };
	int nfds = takes_fds(msg_request(m)) ? m->nfds : 0;

	c.buf = malloc(m->len);
	if (c.buf == NULL) {
		VH_LOG(ERR, "relay: out of memory: session incomplete");
		return;
	}
	memcpy(c.buf, m->buf, m->len);
	for (int i = 0; i < nfds; i++) {
		c.fds[i] = fcntl(m->fds[i], F_DUPFD_CLOEXEC, 0);
		if (c.fds[i] < 0) {
			VH_LOG(ERR, "relay: cannot keep an fd: %s", strerror(errno));
			c.nfds = i;
			msg_clear(&c);
			return;
		}
	}
	c.nfds = nfds;
	msg_clear(slot);
	*slot = c;
}

static int
ring_of(const struct relay_msg *m, uint32_t req)
{
	uint32_t idx;

	if (m->len < HDR_LEN + 4)
		return -1;
	memcpy(&idx, m->buf + HDR_LEN, 4);
	if (req == RQ_SET_VRING_KICK || req == RQ_SET_VRING_CALL || req == RQ_SET_VRING_ERR)
		idx &= 0xff; /* u64: index in bits 0-7, NOFD flag in bit 8 */
	return idx < MAX_VRINGS ? (int)idx : -1;
}

static void
session_record(struct session *s, const struct relay_msg *m)
{
	uint32_t req = msg_request(m);
	int slot = -1, vslot = -1, q;

	switch (req) {
	case RQ_SET_OWNER: slot = G_OWNER; break;
	case RQ_SET_PROTOCOL_FEATURES: slot = G_PROTO; break;
	case RQ_SET_FEATURES: slot = G_FEATURES; break;
	case RQ_SET_MEM_TABLE: slot = G_MEM; break;
	case RQ_SET_LOG_BASE: slot = G_LOG_BASE; break;
	case RQ_SET_LOG_FD: slot = G_LOG_FD; break;
	case RQ_SET_SLAVE_REQ_FD: slot = G_SLAVE; break;
	case RQ_NET_SET_MTU: slot = G_MTU; break;
	case RQ_SET_STATUS:
		keep(&s->status, m);
		return;
	case RQ_RESET_OWNER:
		session_clear(s);
		return;
	case RQ_SET_VRING_NUM: vslot = V_NUM; break;
	case RQ_SET_VRING_ADDR: vslot = V_ADDR; break;
	case RQ_SET_VRING_BASE: vslot = V_BASE; break;
	case RQ_SET_VRING_KICK: vslot = V_KICK; break;
	case RQ_SET_VRING_CALL: vslot = V_CALL; break;
	case RQ_SET_VRING_ERR: vslot = V_ERR; break;
	case RQ_SET_VRING_ENABLE: vslot = V_ENABLE; break;
	case RQ_GET_VRING_BASE:
		/* The ring stops: librte_vhost closes its kick and call fds and forgets it. */
		q = ring_of(m, req);
		if (q >= 0) {
			msg_clear(&s->v[q][V_KICK]);
			msg_clear(&s->v[q][V_CALL]);
			msg_clear(&s->v[q][V_BASE]);
		}
		return;
	default:
		return;
	}
	if (slot >= 0) {
		keep(&s->g[slot], m);
		return;
	}
	q = ring_of(m, req);
	if (q >= 0)
		keep(&s->v[q][vslot], m);
}

/* ---- connections ---- */

static void
ep_add(int fd, struct rfd *ev)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = ev };

	if (epoll_ctl(R.epfd, EPOLL_CTL_ADD, fd, &e) != 0)
		VH_LOG(ERR, "relay: epoll add: %s", strerror(errno));
}

static void
ep_del(int fd)
{
	epoll_ctl(R.epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* Lock held. Close both ends; librte_vhost sees the close as a disconnect. */
static void
conn_kill(struct rconn *c, bool close_fe)
{
	struct rconn **pp;

	if (c->dead)
		return;
	c->dead = true;
	if (c->fe_polled)
		ep_del(c->fe_fd);
	if (c->lib_fd >= 0) {
		ep_del(c->lib_fd);
		close(c->lib_fd);
		c->lib_fd = -1;
	}
	if (c->fe_fd >= 0) {
		if (close_fe)
			close(c->fe_fd);
		c->fe_fd = -1;
	}
	session_clear(&c->s);
	for (pp = &c->rp->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	c->next = R.dead_conns;
	R.dead_conns = c;
	if (c->sync_wait > 0) {
		c->sync_wait = 0;
		pthread_cond_broadcast(&R.cond);
	}
}

static int
lib_connect(const char *path)
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
	sock_timeouts(fd);
	return fd;
}

/* Lock held. */
static struct rconn *
conn_new(struct relay_port *rp, int fe_fd, bool poll_fe)
{
	struct rconn *c = calloc(1, sizeof(*c));
	int lfd;

	if (c == NULL)
		return NULL;
	lfd = lib_connect(rp->lib_path);
	if (lfd < 0) {
		VH_LOG(ERR, "%s: relay: cannot reach librte_vhost at %s: %s", rp->path,
		       rp->lib_path, strerror(-lfd));
		free(c);
		return NULL;
	}
	sock_timeouts(fe_fd);
	c->rp = rp;
	c->fe_fd = fe_fd;
	c->lib_fd = lfd;
	c->fe_ev = (struct rfd){ RFD_FE, c };
	c->lib_ev = (struct rfd){ RFD_LIB, c };
	c->next = rp->conns;
	rp->conns = c;
	ep_add(lfd, &c->lib_ev);
	if (poll_fe) {
		ep_add(fe_fd, &c->fe_ev);
		c->fe_polled = true;
	}
	R.st.conns++;
	return c;
}

static void
on_accept(struct relay_port *rp)
{
	int fd = accept4(rp->lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (conn_new(rp, fd, !R.frozen) == NULL)
		close(fd);
}

static void
on_fe(struct rconn *c)
{
	struct relay_msg m;
	int rc = msg_read(c->fe_fd, &m);

	if (rc <= 0) {
		if (rc < 0)
			VH_LOG(WARNING, "%s: relay: front end read: %s", c->rp->path, strerror(-rc));
		conn_kill(c, true);
		return;
	}
	session_record(&c->s, &m);
	c->gen++;
	R.st.msgs_in++;
	R.st.fds += m.nfds;
	rc = msg_write(c->lib_fd, m.buf, m.len, m.fds, m.nfds);
	msg_clear(&m); /* our copies of the fds: librte_vhost has its own now */
	if (rc < 0) {
		VH_LOG(WARNING, "%s: relay: librte_vhost write: %s", c->rp->path, strerror(-rc));
		conn_kill(c, true);
	}
}

static void
on_lib(struct rconn *c)
{
	struct relay_msg m;
	int rc = msg_read(c->lib_fd, &m);

	if (rc <= 0) {
		/* librte_vhost closed it (refused a second front end, or an error). */
		conn_kill(c, true);
		return;
	}
	if (msg_request(&m) == RELAY_SYNC_REQUEST) {
		if (c->sync_wait > 0 && --c->sync_wait == 0)
			pthread_cond_broadcast(&R.cond);
		msg_clear(&m);
		return;
	}
	if (c->swallow) {
		msg_clear(&m);
		return;
	}
	R.st.msgs_out++;
	R.st.fds += m.nfds;
	rc = msg_write(c->fe_fd, m.buf, m.len, m.fds, m.nfds);
	msg_clear(&m);
	if (rc < 0) {
		VH_LOG(WARNING, "%s: relay: front end write: %s", c->rp->path, strerror(-rc));
		conn_kill(c, true);
	}
}

/* A client port without a connection: try to connect to the front end. Lock held. */
static void
client_try(struct relay_port *rp, uint64_t now)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (rp->dead || rp->released || rp->conns != NULL || R.frozen || now < rp->next_try_ms)
		return;
	rp->next_try_ms = now + 1000;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", rp->path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return; /* not there yet (or busy): again in a second */
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	if (conn_new(rp, fd, true) == NULL) {
		close(fd);
		return;
	}
	VH_LOG(INFO, "%s: relay: connected to the front end", rp->path);
}

static uint64_t now_ms(void);

/* Lock held. @return the epoll timeout: -1, or ms until a client port tries again. */
static int
clients_poll(void)
{
	uint64_t now = now_ms();
	int tmo = -1;

	for (struct relay_port *rp = R.ports; rp != NULL; rp = rp->next) {
		if (!rp->client || rp->released || rp->dead || R.frozen)
			continue;
		client_try(rp, now);
		if (rp->conns == NULL) {
			int t = rp->next_try_ms > now ? (int)(rp->next_try_ms - now) : 0;

			tmo = tmo < 0 || t < tmo ? t : tmo;
		}
	}
	return tmo;
}

static void
graveyard_empty(void)
{
	while (R.dead_conns != NULL) {
		struct rconn *c = R.dead_conns;

		R.dead_conns = c->next;
		free(c);
	}
	while (R.dead_ports != NULL) {
		struct relay_port *rp = R.dead_ports;

		R.dead_ports = rp->next;
		free(rp);
	}
}

static void *
relay_thread(void *arg)
{
	struct epoll_event ev[32];

	int tmo = -1;

	RTE_SET_USED(arg);
	while (!R.stop) {
		int n = epoll_wait(R.epfd, ev, RTE_DIM(ev), tmo);

		if (n < 0 && errno != EINTR) {
			VH_LOG(ERR, "relay: epoll_wait: %s", strerror(errno));
			break;
		}
		pthread_mutex_lock(&R.lock);
		for (int i = 0; i < n; i++) {
			struct rfd *r = ev[i].data.ptr;

			switch (r->kind) {
			case RFD_WAKE: {
				uint64_t v;

				if (read(R.wake, &v, sizeof(v)) < 0)
					break;
				break;
			}
			case RFD_LISTEN: {
				struct relay_port *rp = r->obj;

				if (!rp->dead && rp->l_polled)
					on_accept(rp);
				break;
			}
			case RFD_FE: {
				struct rconn *c = r->obj;

				if (!c->dead && c->fe_polled)
					on_fe(c);
				break;
			}
			case RFD_LIB: {
				struct rconn *c = r->obj;

				if (!c->dead)
					on_lib(c);
				break;
			}
			}
		}
		graveyard_empty();
		tmo = clients_poll();
		pthread_mutex_unlock(&R.lock);
	}
	return NULL;
}

static void
wake(void)
{
	uint64_t one = 1;

	if (R.wake >= 0 && write(R.wake, &one, sizeof(one)) < 0)
		VH_LOG(WARNING, "relay: wake: %s", strerror(errno));
}

int
relay_init(void)
{
	int rc;

	if (R.running)
		return 0;
	R.epfd = epoll_create1(EPOLL_CLOEXEC);
	R.wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (R.epfd < 0 || R.wake < 0)
		return -errno;
	R.wake_ev = (struct rfd){ RFD_WAKE, NULL };
	ep_add(R.wake, &R.wake_ev);
	rc = rte_ctrl_thread_create(&R.thread, "vstop-relay", NULL, relay_thread, NULL);
	if (rc != 0)
		return -rc;
	R.running = true;
	return 0;
}

void
relay_fini(void)
{
	if (!R.running)
		return;
	R.stop = true;
	wake();
	pthread_join(R.thread, NULL);
	R.running = false;
	pthread_mutex_lock(&R.lock);
	graveyard_empty();
	pthread_mutex_unlock(&R.lock);
}

/* ---- ports ---- */

static int
listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* librte_vhost does the same: a stale socket file is replaced. */
	unlink(path);
	old = umask(0177); /* owner-only from the bind on (vhost_dev.c: socket_perms) */
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc != 0 || listen(fd, 128) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

struct relay_port *
relay_port_open(struct vhost_port *vp, const char *public_path, const char *lib_path,
		int listen_fd, bool client)
{
	struct relay_port *rp = calloc(1, sizeof(*rp));

	if (rp == NULL)
		return NULL;
	if (relay_init() != 0) {
		free(rp);
		return NULL;
	}
	rp->vp = vp;
	snprintf(rp->path, sizeof(rp->path), "%s", public_path);
	snprintf(rp->lib_path, sizeof(rp->lib_path), "%s", lib_path);
	rp->client = client;
	rp->lfd = client ? -1 : listen_fd >= 0 ? listen_fd : listen_on(public_path);
	if (!client && rp->lfd < 0) {
		VH_LOG(ERR, "%s: cannot listen: %s", public_path, strerror(-rp->lfd));
		free(rp);
		return NULL;
	}
	rp->l_ev = (struct rfd){ RFD_LISTEN, rp };
	pthread_mutex_lock(&R.lock);
	rp->next = R.ports;
	R.ports = rp;
	if (!R.frozen && !client) {
		ep_add(rp->lfd, &rp->l_ev);
		rp->l_polled = true;
	}
	pthread_mutex_unlock(&R.lock);
	if (client)
		wake(); /* the relay thread connects */
	return rp;
}

/* Lock held. */
static void
port_unlink_list(struct relay_port *rp)
{
	for (struct relay_port **pp = &R.ports; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == rp) {
			*pp = rp->next;
			break;
		}
	}
}

void
relay_port_close(struct relay_port *rp, bool unlink_path)
{
	if (rp == NULL)
		return;
	pthread_mutex_lock(&R.lock);
	rp->dead = true;
	if (rp->lfd >= 0) {
		if (rp->l_polled)
			ep_del(rp->lfd);
		rp->l_polled = false;
		close(rp->lfd);
		rp->lfd = -1;
	}
	while (rp->conns != NULL)
		conn_kill(rp->conns, true);
	if (unlink_path && !rp->client)
		unlink(rp->path); /* a client port's path is the front end's */
	port_unlink_list(rp);
	rp->next = R.dead_ports;
	R.dead_ports = rp;
	if (!R.running)
		graveyard_empty();
	pthread_mutex_unlock(&R.lock);
	wake();
}

/* ---- takeover, source side ---- */

static int
sync_send(struct rconn *c)
{
	uint8_t b[HDR_LEN] = { 0 };
	uint32_t req = RELAY_SYNC_REQUEST, flags = 1; /* version 1 */

	memcpy(b, &req, 4);
	memcpy(b + 4, &flags, 4);
	return msg_write(c->lib_fd, b, HDR_LEN, NULL, 0);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Lock held: wait until no connection waits for a barrier. */
static int
sync_wait_all(int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		bool pending = false;
		struct timespec ts;

		for (struct relay_port *rp = R.ports; rp != NULL && !pending; rp = rp->next)
			for (struct rconn *c = rp->conns; c != NULL; c = c->next)
				if (c->sync_wait > 0)
					pending = true;
		if (!pending)
			return 0;
		if (now_ms() >= end)
			return -ETIMEDOUT;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 5 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&R.cond, &R.lock, &ts);
	}
}

int
relay_freeze_all(int timeout_ms)
{
	int rc = 0;

	pthread_mutex_lock(&R.lock);
	R.frozen = true;
	for (struct relay_port *rp = R.ports; rp != NULL; rp = rp->next) {
		if (rp->l_polled) {
			/* A front end that connects now waits in the backlog for whoever
			 * serves the socket next (us again, or the new vstop). */
			ep_del(rp->lfd);
			rp->l_polled = false;
		}
		for (struct rconn *c = rp->conns; c != NULL; c = c->next) {
			if (c->fe_polled) {
				ep_del(c->fe_fd);
				c->fe_polled = false;
			}
			c->sync_wait++;
			if (sync_send(c) < 0)
				c->sync_wait--;
		}
	}
	rc = sync_wait_all(timeout_ms);
	pthread_mutex_unlock(&R.lock);
	return rc;
}

void
relay_thaw_all(void)
{
	pthread_mutex_lock(&R.lock);
	R.frozen = false;
	for (struct relay_port *rp = R.ports; rp != NULL; rp = rp->next) {
		if (!rp->l_polled && rp->lfd >= 0) {
			ep_add(rp->lfd, &rp->l_ev);
			rp->l_polled = true;
		}
		for (struct rconn *c = rp->conns; c != NULL; c = c->next) {
			c->swallow = false;
			if (!c->fe_polled && c->fe_fd >= 0) {
				ep_add(c->fe_fd, &c->fe_ev);
				c->fe_polled = true;
			}
		}
	}
	pthread_mutex_unlock(&R.lock);
	wake(); /* client ports without a connection try again */
}

void
relay_start_reading(void)
{
	relay_thaw_all();
}

static int
export_one(struct relay_msg *out, int *n, const struct relay_msg *m)
{
	struct relay_msg c = { .len = m->len };

	if (m->buf == NULL)
		return 0;
	c.buf = malloc(m->len);
	if (c.buf == NULL)
		return -ENOMEM;
	memcpy(c.buf, m->buf, m->len);
	for (int i = 0; i < m->nfds; i++) {
		c.fds[i] = fcntl(m->fds[i], F_DUPFD_CLOEXEC, 0);
		if (c.fds[i] < 0) {
			c.nfds = i;
			msg_clear(&c);
			return -errno;
		}
	}
	c.nfds = m->nfds;
	/* The replay asks for no acknowledgement: the barrier at its end says it is done. */
	{
		uint32_t flags;

		memcpy(&flags, c.buf + 4, 4);
		flags &= ~VHU_FLAG_NEED_REPLY;
		memcpy(c.buf + 4, &flags, 4);
	}
	out[(*n)++] = c;
	return 0;
}

uint64_t
relay_port_gen(struct relay_port *rp)
{
	uint64_t g;

	pthread_mutex_lock(&R.lock);
	g = rp->conns != NULL ? rp->conns->gen : UINT64_MAX;
	pthread_mutex_unlock(&R.lock);
	return g;
}

int
relay_port_live_rings(struct relay_port *rp, uint8_t *live, int max)
{
	int n = 0;

	pthread_mutex_lock(&R.lock);
	if (rp->conns != NULL) {
		n = max < MAX_VRINGS ? max : MAX_VRINGS;
		for (int q = 0; q < n; q++)
			live[q] = rp->conns->s.v[q][V_KICK].buf != NULL;
	}
	pthread_mutex_unlock(&R.lock);
	return n;
}

int
relay_port_export(struct relay_port *rp, struct relay_msg **msgs, int *conn_fd,
		  int *listen_fd, int (*vring_base)(void *arg, uint16_t vq, uint32_t *num),
		  void *arg)
{
	struct relay_msg *out;
	struct rconn *c;
	int n = 0, rc = 0;

	*msgs = NULL;
	*conn_fd = -1;
	pthread_mutex_lock(&R.lock);
	*listen_fd = rp->lfd >= 0 ? fcntl(rp->lfd, F_DUPFD_CLOEXEC, 0) : -1;
	/* The live connection: the newest one (a refused second front end is closed soon). */
	c = rp->conns;
	if (c == NULL) {
		pthread_mutex_unlock(&R.lock);
		return 0;
	}
	if (c->next != NULL)
		VH_LOG(WARNING, "%s: takeover: %s", rp->path,
		       "more than one front end connection: only the newest moves");
	out = calloc(G_NB + MAX_VRINGS * V_NB + 1, sizeof(*out));
	if (out == NULL) {
		pthread_mutex_unlock(&R.lock);
		return -ENOMEM;
	}
	for (int i = 0; i < G_NB && rc == 0; i++)
		rc = export_one(out, &n, &c->s.g[i]);
	for (int q = 0; q < MAX_VRINGS && rc == 0; q++) {
		for (int k = 0; k < V_NB && rc == 0; k++) {
			int before = n;

			rc = export_one(out, &n, &c->s.v[q][k]);
			if (rc == 0 && k == V_BASE && n > before && vring_base != NULL &&
			    c->s.v[q][V_KICK].buf != NULL) {
				uint32_t num;

				if (vring_base(arg, (uint16_t)q, &num) == 0)
					memcpy(out[n - 1].buf + HDR_LEN + 4, &num, 4);
			}
		}
	}
	if (rc == 0)
		rc = export_one(out, &n, &c->s.status);
	if (rc == 0) {
		*conn_fd = fcntl(c->fe_fd, F_DUPFD_CLOEXEC, 0);
		if (*conn_fd < 0)
			rc = -errno;
	}
	pthread_mutex_unlock(&R.lock);
	if (rc < 0) {
		relay_msgs_free(out, n);
		return rc;
	}
	*msgs = out;
	return n;
}

void
relay_release_all(void)
{
	pthread_mutex_lock(&R.lock);
	for (struct relay_port *rp = R.ports; rp != NULL; rp = rp->next) {
		/*
		 * The front end's socket stays open in the new vstop: closing our copy is
		 * invisible to it. Our librte_vhost connection closes: our device goes.
		 */
		rp->released = true;
		while (rp->conns != NULL)
			conn_kill(rp->conns, true);
		if (rp->lfd >= 0) {
			if (rp->l_polled)
				ep_del(rp->lfd);
			rp->l_polled = false;
			close(rp->lfd);
			rp->lfd = -1;
		}
	}
	pthread_mutex_unlock(&R.lock);
	wake();
}

/*
 * Send @p msgs to librte_vhost on @p c (recorded in its session, replies swallowed: the
 * caller set c->swallow), then the barrier, and wait until all were handled. Under R.lock.
 */
static int
replay_swallowed(struct rconn *c, struct relay_msg *msgs, int n, int timeout_ms)
{
	int rc = 0;

	for (int i = 0; i < n && rc == 0; i++) {
		session_record(&c->s, &msgs[i]);
		rc = msg_write(c->lib_fd, msgs[i].buf, msgs[i].len, msgs[i].fds, msgs[i].nfds);
	}
	if (rc == 0) {
		c->sync_wait++;
		rc = sync_send(c);
		if (rc < 0)
			c->sync_wait--;
	}
	if (rc == 0)
		rc = sync_wait_all(timeout_ms);
	if (rc == 0 && c->dead)
		rc = -ECONNRESET;
	return rc;
}

/* ---- takeover, destination side ---- */

int
relay_port_adopt(struct relay_port *rp, int conn_fd, struct relay_msg *msgs, int n,
		 int timeout_ms)
{
	struct rconn *c;
	int rc = 0;

	pthread_mutex_lock(&R.lock);
	R.frozen = true; /* no front end is read until the takeover is done */
	c = conn_new(rp, conn_fd, false);
	if (c == NULL) {
		pthread_mutex_unlock(&R.lock);
		return -ECONNREFUSED;
	}
	c->swallow = true;
	rc = replay_swallowed(c, msgs, n, timeout_ms);
	if (rc < 0) {
		if (!c->dead)
			conn_kill(c, false); /* the fd stays the caller's */
	} else {
		c->swallow = false;
	}
	pthread_mutex_unlock(&R.lock);
	if (rc == 0) {
		for (int i = 0; i < n; i++)
			msg_clear(&msgs[i]); /* librte_vhost has its copies; the session its own */
	}
	return rc;
}

int
relay_port_replay_more(struct relay_port *rp, struct relay_msg *msgs, int n, int timeout_ms)
{
	struct rconn *c;
	int rc = 0;

	pthread_mutex_lock(&R.lock);
	c = rp->conns;
	if (c == NULL || c->dead) {
		pthread_mutex_unlock(&R.lock);
		return -ENOTCONN;
	}
	c->swallow = true;
	rc = replay_swallowed(c, msgs, n, timeout_ms);
	if (rc == 0)
		c->swallow = false;
	pthread_mutex_unlock(&R.lock);
	if (rc == 0)
		for (int i = 0; i < n; i++)
			msg_clear(&msgs[i]);
	return rc;
}

int
relay_port_unadopt(struct relay_port *rp)
{
	struct rconn *c;
	int fd = -1;

	pthread_mutex_lock(&R.lock);
	c = rp->conns;
	if (c != NULL && !c->dead) {
		fd = c->fe_fd;
		conn_kill(c, false);
	}
	pthread_mutex_unlock(&R.lock);
	wake();
	return fd;
}

void
relay_stats_get(struct relay_stats *st)
{
	pthread_mutex_lock(&R.lock);
	*st = R.st;
	pthread_mutex_unlock(&R.lock);
}
