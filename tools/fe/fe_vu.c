/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user messages, front-end side. Every wait on the socket is bounded by the
 * connection's timeout: a backend that hangs or dies must turn into an error message,
 * never into a hung front end.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fe.h"
#include "fe_vu.h"

#define VU_MAX_PAYLOAD 4096
#define VU_MAX_FDS     8

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
} __attribute__((packed));

struct vu_mem {
	uint32_t nregions;
	uint32_t padding;
	struct vu_region regions[VU_MAX_REGIONS];
} __attribute__((packed));

struct vu_state_fd {
	uint32_t direction;
	uint32_t phase;
} __attribute__((packed));

_Static_assert(sizeof(struct vu_hdr) == VU_HDR_SIZE, "vhost-user header is 12 bytes");
_Static_assert(sizeof(struct vu_vring_addr) == 40, "vring address payload");
_Static_assert(sizeof(struct vu_mem) == 8 + 32 * VU_MAX_REGIONS, "memory table payload");

const char *
vu_req_name(uint32_t req)
{
	static const char *const names[] = {
		[VU_GET_FEATURES] = "GET_FEATURES",
		[VU_SET_FEATURES] = "SET_FEATURES",
		[VU_SET_OWNER] = "SET_OWNER",
		[VU_RESET_OWNER] = "RESET_OWNER",
		[VU_SET_MEM_TABLE] = "SET_MEM_TABLE",
		[VU_SET_VRING_NUM] = "SET_VRING_NUM",
		[VU_SET_VRING_ADDR] = "SET_VRING_ADDR",
		[VU_SET_VRING_BASE] = "SET_VRING_BASE",
		[VU_GET_VRING_BASE] = "GET_VRING_BASE",
		[VU_SET_VRING_KICK] = "SET_VRING_KICK",
		[VU_SET_VRING_CALL] = "SET_VRING_CALL",
		[VU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
		[VU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
		[VU_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
		[VU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
		[VU_SET_SLAVE_REQ_FD] = "SET_SLAVE_REQ_FD",
		[VU_GET_CONFIG] = "GET_CONFIG",
		[VU_SET_STATUS] = "SET_STATUS",
		[VU_GET_STATUS] = "GET_STATUS",
		[VU_SET_DEVICE_STATE_FD] = "SET_DEVICE_STATE_FD",
		[VU_CHECK_DEVICE_STATE] = "CHECK_DEVICE_STATE",
	};

	if (req < FE_DIM(names) && names[req])
		return names[req];
	return "request ?";
}

int
vu_connect(struct vu_conn *c, const char *path, unsigned int retries, unsigned int retry_ms,
	   unsigned int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	unsigned int attempt;
	int fd, err = 0;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->backend_fd = -1;
	c->timeout_ms = timeout_ms;
	if (strlen(path) >= sizeof(sa.sun_path))
		return fe_err(-ENAMETOOLONG, "socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	strcpy(c->path, path);

	for (attempt = 0; attempt <= retries; attempt++) {
		if (attempt)
			fe_sleep_us(retry_ms * 1000);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return fe_err(-errno, "socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			c->fd = fd;
			return 0;
		}
		err = errno;
		close(fd);
		/* Only "nobody listens (yet)" is worth a retry. */
		if (err != ENOENT && err != ECONNREFUSED && err != EAGAIN)
			break;
	}
	return fe_err(-err, "cannot connect to vhost-user socket %s: %s%s", path,
		      strerror(err), retries ? " (retries exhausted)" : "");
}

void
vu_close(struct vu_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->backend_fd >= 0)
		close(c->backend_fd);
	c->backend_fd = -1;
}

int
vu_open_backend_channel(struct vu_conn *c)
{
	int sp[2], ret;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
		return fe_err(-errno, "socketpair: %s", strerror(errno));
	ret = vu_msg_ack(c, VU_SET_SLAVE_REQ_FD, NULL, 0, &sp[1], 1, NULL);
	close(sp[1]);
	if (ret) {
		close(sp[0]);
		return ret;
	}
	c->backend_fd = sp[0];
	return 0;
}

int
vu_backend_poll(struct vu_conn *c, unsigned int ms)
{
	int changes = 0, wait = (int)ms;

	if (c->backend_fd < 0)
		return fe_err(-ENOTCONN, "%s: no back-end channel", c->path);
	for (;;) {
		struct pollfd p = { .fd = c->backend_fd, .events = POLLIN };
		uint8_t payload[VU_MAX_PAYLOAD];
		struct vu_hdr hdr;
		ssize_t n;
		int r = poll(&p, 1, wait);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return changes;
		/* Messages are small: the header and its payload are read whole, fds ignored. */
		n = recv(c->backend_fd, &hdr, sizeof(hdr), MSG_WAITALL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			return fe_err(-ECONNRESET, "backend %s closed its request channel", c->path);
		if (n != sizeof(hdr) || hdr.size > sizeof(payload) ||
		    (hdr.size && recv(c->backend_fd, payload, hdr.size, MSG_WAITALL) !=
		     (ssize_t)hdr.size))
			return fe_err(-EPROTO, "bad message on the back-end channel of %s", c->path);
		FE_DBG("%s: back-end request %u (flags 0x%x)", c->path, hdr.request, hdr.flags);
		if (hdr.request == VU_BACKEND_CONFIG_CHANGE) {
			changes++;
			c->config_changes++;
		}
		if (hdr.flags & VU_FLAG_NEED_REPLY) {
			struct {
				struct vu_hdr h;
				uint64_t v;
			} __attribute__((packed)) rep = {
				.h = { .request = hdr.request, .flags = VU_FLAG_VERSION | VU_FLAG_REPLY,
				       .size = sizeof(uint64_t) },
				.v = 0,
			};

			if (send(c->backend_fd, &rep, sizeof(rep), MSG_NOSIGNAL) != sizeof(rep))
				return fe_err(-EIO, "cannot answer on the back-end channel of %s",
					      c->path);
		}
		wait = 0; /* then only what is already there */
	}
}

int
vu_check_alive(struct vu_conn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN | POLLRDHUP };
	char b;

	if (c->fd < 0)
		return fe_err(-ENOTCONN, "%s: not connected", c->path);
	if (poll(&p, 1, 0) <= 0)
		return 0;
	if (p.revents & (POLLHUP | POLLRDHUP | POLLERR))
		return fe_err(-ECONNRESET, "backend %s closed the connection", c->path);
	if (recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
		return fe_err(-ECONNRESET, "backend %s closed the connection", c->path);
	return fe_err(-EPROTO, "backend %s sent a message nobody asked for", c->path);
}

int
vu_send(struct vu_conn *c, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
	const int *fds, int nfds)
{
	struct vu_hdr hdr = { .request = req, .flags = flags | VU_FLAG_VERSION, .size = size };
	char cbuf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
	struct iovec iov[2] = {
		{ .iov_base = &hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)(uintptr_t)payload, .iov_len = size },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
	ssize_t n;

	if (c->fd < 0)
		return fe_err(-ENOTCONN, "%s: not connected", vu_req_name(req));
	if (nfds > 0) {
		struct cmsghdr *cm;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	do {
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return fe_err(-errno, "%s to %s failed: %s", vu_req_name(req), c->path,
			      errno == EPIPE ? "backend closed the connection" :
			      strerror(errno));
	/* A unix stream socket takes a small message whole or fails. */
	if ((size_t)n != sizeof(hdr) + size)
		return fe_err(-EIO, "%s to %s: short send", vu_req_name(req), c->path);
	c->nmsgs++;
	return 0;
}

/* Read exactly @p len bytes (after the header) within the deadline. */
static int
vu_read_full(struct vu_conn *c, void *buf, size_t len, uint64_t deadline, uint32_t req)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		uint64_t now = fe_now_ns();
		int r;
		ssize_t n;

		if (now >= deadline)
			return fe_err(-ETIMEDOUT, "no reply to %s from %s within %u ms",
				      vu_req_name(req), c->path, c->timeout_ms);
		r = poll(&p, 1, (int)((deadline - now) / 1000000) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			continue;
		n = recv(c->fd, (char *)buf + got, len - got, 0);
		if (n == 0)
			return fe_err(-ECONNRESET, "backend %s closed the connection (awaiting reply to %s)",
				      c->path, vu_req_name(req));
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return fe_err(-errno, "reading reply to %s: %s", vu_req_name(req),
				      strerror(errno));
		}
		got += n;
	}
	return 0;
}

int
vu_recv(struct vu_conn *c, uint32_t req, void *payload, uint32_t max, uint32_t *size, int *fd)
{
	uint64_t deadline = fe_now_ns() + (uint64_t)c->timeout_ms * 1000000ull;
	char cbuf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
	struct vu_hdr hdr;
	struct iovec iov = { .iov_base = &hdr, .iov_len = sizeof(hdr) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	uint8_t scratch[VU_MAX_PAYLOAD];
	struct cmsghdr *cm;
	ssize_t n;
	int ret;

	if (fd)
		*fd = -1;
	if (c->fd < 0)
		return fe_err(-ENOTCONN, "%s: not connected", vu_req_name(req));
	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		uint64_t now = fe_now_ns();
		int r;

		if (now >= deadline)
			return fe_err(-ETIMEDOUT, "no reply to %s from %s within %u ms",
				      vu_req_name(req), c->path, c->timeout_ms);
		r = poll(&p, 1, (int)((deadline - now) / 1000000) + 1);
		if (r > 0)
			break;
		if (r < 0 && errno != EINTR)
			return fe_err(-errno, "poll: %s", strerror(errno));
	}
	/* The fds travel with the first byte: take the header with recvmsg. */
	do {
		n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n == 0)
		return fe_err(-ECONNRESET, "backend %s closed the connection (awaiting reply to %s)",
			      c->path, vu_req_name(req));
	if (n < 0)
		return fe_err(-errno, "reading reply to %s: %s", vu_req_name(req), strerror(errno));
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			int nf = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int fds[VU_MAX_FDS], i;

			memcpy(fds, CMSG_DATA(cm), sizeof(int) * FE_MIN(nf, VU_MAX_FDS));
			for (i = 0; i < nf && i < VU_MAX_FDS; i++) {
				if (fd && *fd < 0)
					*fd = fds[i];
				else
					close(fds[i]);
			}
		}
	}
	if ((size_t)n < sizeof(hdr)) {
		ret = vu_read_full(c, (char *)&hdr + n, sizeof(hdr) - n, deadline, req);
		if (ret)
			goto fail;
	}
	if (!(hdr.flags & VU_FLAG_REPLY) || hdr.request != req) {
		ret = fe_err(-EPROTO, "expected reply to %s from %s, got request %u flags 0x%x",
			     vu_req_name(req), c->path, hdr.request, hdr.flags);
		goto fail;
	}
	if (hdr.size > sizeof(scratch)) {
		ret = fe_err(-EPROTO, "reply to %s too large (%u bytes)", vu_req_name(req),
			     hdr.size);
		goto fail;
	}
	ret = vu_read_full(c, scratch, hdr.size, deadline, req);
	if (ret)
		goto fail;
	memcpy(payload, scratch, FE_MIN(hdr.size, max));
	if (size)
		*size = hdr.size;
	return 0;
fail:
	if (fd && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	return ret;
}

int
vu_get_u64(struct vu_conn *c, uint32_t req, uint64_t *val)
{
	uint32_t size;
	int ret;

	ret = vu_send(c, req, 0, NULL, 0, NULL, 0);
	if (ret)
		return ret;
	*val = 0;
	ret = vu_recv(c, req, val, sizeof(*val), &size, NULL);
	if (ret)
		return ret;
	if (size != sizeof(*val))
		return fe_err(-EPROTO, "reply to %s has %u bytes, expected 8", vu_req_name(req),
			      size);
	return 0;
}

int
vu_msg_ack(struct vu_conn *c, uint32_t req, const void *payload, uint32_t size,
	   const int *fds, int nfds, uint64_t *ack)
{
	bool want = vu_has(c, VU_PF_REPLY_ACK);
	uint64_t a = 0;
	uint32_t rsize;
	int ret;

	if (ack)
		*ack = 0;
	ret = vu_send(c, req, want ? VU_FLAG_NEED_REPLY : 0, payload, size, fds, nfds);
	if (ret || !want)
		return ret;
	ret = vu_recv(c, req, &a, sizeof(a), &rsize, NULL);
	if (ret)
		return ret;
	if (ack)
		*ack = a;
	if (a)
		return fe_err(-EREMOTEIO, "backend %s refused %s (REPLY_ACK %llu)", c->path,
			      vu_req_name(req), (unsigned long long)a);
	return 0;
}

int
vu_set_u64(struct vu_conn *c, uint32_t req, uint64_t val, uint64_t *ack)
{
	return vu_msg_ack(c, req, &val, sizeof(val), NULL, 0, ack);
}

int
vu_set_vring_state(struct vu_conn *c, uint32_t req, uint32_t idx, uint32_t num, uint64_t *ack)
{
	uint32_t st[2] = { idx, num };

	return vu_msg_ack(c, req, st, sizeof(st), NULL, 0, ack);
}

int
vu_set_vring_addr(struct vu_conn *c, uint32_t idx, uint64_t desc, uint64_t used,
		  uint64_t avail)
{
	struct vu_vring_addr a = {
		.index = idx, .desc = desc, .used = used, .avail = avail,
	};

	return vu_msg_ack(c, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, NULL);
}

int
vu_set_vring_fd(struct vu_conn *c, uint32_t req, uint32_t idx, int fd)
{
	uint64_t v = idx | (fd < 0 ? VU_VRING_NOFD : 0);

	return vu_msg_ack(c, req, &v, sizeof(v), &fd, fd < 0 ? 0 : 1, NULL);
}

int
vu_get_vring_base(struct vu_conn *c, uint32_t idx, uint32_t *num)
{
	uint32_t st[2] = { idx, 0 }, size;
	int ret;

	ret = vu_send(c, VU_GET_VRING_BASE, 0, st, sizeof(st), NULL, 0);
	if (ret)
		return ret;
	ret = vu_recv(c, VU_GET_VRING_BASE, st, sizeof(st), &size, NULL);
	if (ret)
		return ret;
	if (size != sizeof(st) || st[0] != idx)
		return fe_err(-EPROTO, "bad GET_VRING_BASE reply for ring %u", idx);
	*num = st[1];
	return 0;
}

int
vu_set_mem_table(struct vu_conn *c, const struct vu_region *r, const int *fds, int n)
{
	struct vu_mem m = { .nregions = n };

	if (n > VU_MAX_REGIONS)
		return fe_err(-EINVAL, "too many memory regions");
	memcpy(m.regions, r, sizeof(*r) * n);
	return vu_msg_ack(c, VU_SET_MEM_TABLE, &m, sizeof(m), fds, n, NULL);
}

int
vu_set_device_state_fd(struct vu_conn *c, uint32_t dir, uint32_t phase, int fd,
		       uint64_t *reply, int *backend_fd)
{
	struct vu_state_fd p = { .direction = dir, .phase = phase };
	uint32_t size;
	int ret;

	*backend_fd = -1;
	ret = vu_send(c, VU_SET_DEVICE_STATE_FD, 0, &p, sizeof(p), &fd, 1);
	if (ret)
		return ret;
	*reply = 0;
	ret = vu_recv(c, VU_SET_DEVICE_STATE_FD, reply, sizeof(*reply), &size, backend_fd);
	if (ret)
		return ret;
	if (size != sizeof(*reply))
		return fe_err(-EPROTO, "SET_DEVICE_STATE_FD reply has %u bytes", size);
	/* The backend says whether it passed an fd; trust the flag, not our luck. */
	if ((*reply & VU_STATE_REPLY_NOFD) && *backend_fd >= 0) {
		close(*backend_fd);
		*backend_fd = -1;
	}
	if (!(*reply & VU_STATE_REPLY_NOFD) && *backend_fd < 0 && !(*reply & 0xff))
		return fe_err(-EPROTO, "SET_DEVICE_STATE_FD: backend announced an fd but sent none");
	return 0;
}
