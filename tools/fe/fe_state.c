/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device state transfer (M2): SET_DEVICE_STATE_FD + a pipe + CHECK_DEVICE_STATE.
 *
 * The protocol lets the backend move the data whenever it likes: while it handles the
 * message (before replying) or afterwards. So the front end moves data and waits for the
 * reply at the same time (one poll loop), and a backend that writes a large blob from
 * inside its message handler cannot deadlock against us.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe.h"
#include "fe_dev.h"

#define FE_STATE_MAX (64u << 20)

static void
pipe_grow(int fd, size_t want)
{
	/* Best effort: a bigger pipe lets a synchronous backend finish in one go. */
	if (want < 65536)
		return;
	if (fcntl(fd, F_SETPIPE_SZ, (int)FE_MIN(want, (size_t)1 << 20)) < 0)
		FE_DBG("F_SETPIPE_SZ: %s", strerror(errno));
}

static int
remaining_ms(uint64_t end)
{
	uint64_t now = fe_now_ns();

	return now >= end ? 0 : (int)((end - now) / 1000000) + 1;
}

/* Receive the SET_DEVICE_STATE_FD reply and check its error byte. */
static int
state_reply(struct fe_dev *d, const char *what, int *bfd)
{
	uint64_t reply = 0;
	uint32_t size;
	int ret;

	ret = vu_recv(&d->vu, VU_SET_DEVICE_STATE_FD, &reply, sizeof(reply), &size, bfd);
	if (ret)
		return ret;
	if (size != sizeof(reply))
		return fe_err(-EPROTO, "SET_DEVICE_STATE_FD(%s) reply has %u bytes", what, size);
	if (reply & 0xff)
		return fe_err(-EREMOTEIO, "%s refused SET_DEVICE_STATE_FD(%s): error %llu",
			      d->vu.path, what, (unsigned long long)(reply & 0xff));
	if (reply & VU_STATE_REPLY_NOFD) {
		if (*bfd >= 0)
			close(*bfd);
		*bfd = -1;
	} else if (*bfd < 0) {
		return fe_err(-EPROTO, "SET_DEVICE_STATE_FD(%s): backend announced an fd but sent none",
			      what);
	}
	return 0;
}

static int
check_state(struct fe_dev *d, const char *what, uint64_t *res)
{
	uint64_t v;
	int ret;

	ret = vu_get_u64(&d->vu, VU_CHECK_DEVICE_STATE, &v);
	if (ret)
		return ret;
	if (res)
		*res = v;
	if (v)
		return fe_err(-EREMOTEIO, "%s: CHECK_DEVICE_STATE after %s answered %llu (state refused)",
			      d->vu.path, what, (unsigned long long)v);
	return 0;
}

static int
send_state_msg(struct fe_dev *d, uint32_t dir, int fd)
{
	uint32_t p[2] = { dir, VU_PHASE_STOPPED };

	if (!vu_has(&d->vu, VU_PF_DEVICE_STATE))
		return fe_err(-ENOTSUP, "%s did not negotiate protocol feature DEVICE_STATE",
			      d->vu.path);
	return vu_send(&d->vu, VU_SET_DEVICE_STATE_FD, 0, p, sizeof(p), &fd, 1);
}

int
fe_dev_save_state(struct fe_dev *d, uint8_t **blob, size_t *len)
{
	uint64_t end = fe_now_ns() + (uint64_t)d->o->msg_timeout_ms * 1000000ull;
	size_t cap = 65536, n = 0;
	int p[2], rfd, bfd = -1, ret;
	bool replied = false, eof = false;
	uint8_t *buf;

	*blob = NULL;
	*len = 0;
	if (pipe2(p, O_CLOEXEC) != 0)
		return fe_err(-errno, "pipe: %s", strerror(errno));
	pipe_grow(p[1], 1 << 20);
	ret = send_state_msg(d, VU_STATE_SAVE, p[1]);
	/* The backend has its own copy now; ours must go or we never see EOF. */
	close(p[1]);
	rfd = p[0];
	buf = malloc(cap);
	if (!buf)
		ret = fe_err(-ENOMEM, "out of memory");
	while (!ret && (!replied || !eof)) {
		struct pollfd pf[2] = {
			{ .fd = replied ? -1 : d->vu.fd, .events = POLLIN },
			{ .fd = eof ? -1 : rfd, .events = POLLIN },
		};
		int r = poll(pf, 2, remaining_ms(end));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ret = fe_err(-ETIMEDOUT, "%s: device state save not complete within %u ms (%zu bytes, %s)",
				     d->vu.path, d->o->msg_timeout_ms, n,
				     replied ? "no EOF" : "no reply");
			break;
		}
		if (pf[0].revents) {
			ret = state_reply(d, "SAVE", &bfd);
			if (ret)
				break;
			replied = true;
			if (bfd >= 0) {
				/* The backend wants us to read its own fd instead. */
				close(rfd);
				rfd = bfd;
				bfd = -1;
				n = 0;
				eof = false;
			}
			continue;
		}
		if (pf[1].revents) {
			ssize_t k;

			if (n == cap) {
				uint8_t *nb;

				if (cap >= FE_STATE_MAX) {
					ret = fe_err(-EFBIG, "device state larger than %u bytes",
						     FE_STATE_MAX);
					break;
				}
				nb = realloc(buf, cap * 2);
				if (!nb) {
					ret = fe_err(-ENOMEM, "out of memory");
					break;
				}
				buf = nb;
				cap *= 2;
			}
			k = read(rfd, buf + n, cap - n);
			if (k < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (k < 0) {
				ret = fe_err(-errno, "reading device state: %s", strerror(errno));
				break;
			}
			if (k == 0)
				eof = true;
			n += k;
		}
	}
	close(rfd);
	if (!ret)
		ret = check_state(d, "SAVE", NULL);
	if (!ret && n == 0)
		ret = fe_err(-ENODATA, "%s: device state save returned 0 bytes", d->vu.path);
	if (ret) {
		free(buf);
		return ret;
	}
	*blob = buf;
	*len = n;
	return 0;
}

/* Write all of @p blob to @p fd (non-blocking) before @p end; used after the reply. */
static int
write_all(int fd, const uint8_t *blob, size_t len, uint64_t end)
{
	size_t off = 0;

	while (off < len) {
		struct pollfd pf = { .fd = fd, .events = POLLOUT };
		ssize_t k;
		int r = poll(&pf, 1, remaining_ms(end));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return fe_err(-ETIMEDOUT, "backend stopped reading device state (%zu of %zu bytes)",
				      off, len);
		k = write(fd, blob + off, len - off);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k < 0)
			return fe_err(-errno, "writing device state: %s",
				      errno == EPIPE ? "backend closed the pipe" : strerror(errno));
		off += k;
	}
	return 0;
}

int
fe_dev_load_state(struct fe_dev *d, const uint8_t *blob, size_t len, uint64_t *check)
{
	uint64_t end = fe_now_ns() + (uint64_t)d->o->msg_timeout_ms * 1000000ull;
	int p[2], wfd, bfd = -1, ret;
	size_t off = 0;
	bool replied = false;

	if (check)
		*check = 0;
	if (pipe2(p, O_CLOEXEC) != 0)
		return fe_err(-errno, "pipe: %s", strerror(errno));
	pipe_grow(p[1], len);
	wfd = p[1];
	fcntl(wfd, F_SETFL, O_NONBLOCK);
	ret = send_state_msg(d, VU_STATE_LOAD, p[0]);
	close(p[0]);
	/* Feed the pipe while waiting for the reply; close it when all is written. */
	while (!ret && !replied) {
		struct pollfd pf[2] = {
			{ .fd = d->vu.fd, .events = POLLIN },
			{ .fd = wfd, .events = POLLOUT },
		};
		int r = poll(pf, wfd >= 0 ? 2 : 1, remaining_ms(end));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ret = fe_err(-ETIMEDOUT, "%s: no reply to SET_DEVICE_STATE_FD(LOAD) within %u ms",
				     d->vu.path, d->o->msg_timeout_ms);
			break;
		}
		if (pf[0].revents) {
			ret = state_reply(d, "LOAD", &bfd);
			replied = true;
			continue;
		}
		if (wfd >= 0 && (pf[1].revents & (POLLERR | POLLHUP))) {
			/* Reader gone before the reply: it will tell us why in the reply. */
			close(wfd);
			wfd = -1;
			continue;
		}
		if (wfd >= 0 && pf[1].revents) {
			ssize_t k = write(wfd, blob + off, len - off);

			if (k < 0 && errno != EAGAIN && errno != EINTR) {
				close(wfd);
				wfd = -1;
				continue;
			}
			if (k > 0)
				off += k;
			if (off == len) {
				close(wfd);
				wfd = -1;
			}
		}
	}
	if (!ret && bfd >= 0) {
		/* The backend gave its own fd: the whole blob goes there. */
		if (wfd >= 0)
			close(wfd);
		wfd = bfd;
		bfd = -1;
		off = 0;
		fcntl(wfd, F_SETFL, O_NONBLOCK);
	}
	if (!ret && wfd >= 0) {
		ret = write_all(wfd, blob + off, len - off, end);
		if (!ret)
			off = len;
	}
	if (wfd >= 0)
		close(wfd);
	if (bfd >= 0)
		close(bfd);
	if (ret)
		return ret;
	/* Even if the backend stopped reading early, its CHECK answer says why. */
	ret = check_state(d, "LOAD", check);
	if (!ret && off != len)
		ret = fe_err(-EPIPE, "%s closed the state pipe after %zu of %zu bytes yet accepted the state",
			     d->vu.path, off, len);
	return ret;
}
