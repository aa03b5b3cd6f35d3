/* SPDX-License-Identifier: BSD-3-Clause */
/* The control socket: lines in, one JSON line out per command, through cmd_exec_line(). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, pipe2 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_lcore.h>

#include "cmd/cmd.h"
#include "ctl_sock.h"
#include "vstop.h"

#define MAX_CLIENTS 8
#define CLIENT_BUF  (CMD_MAX_LINE + 2)

struct client {
	int fd;
	size_t len;
	bool overflow;            /* discarding the rest of an overlong line */
	char buf[CLIENT_BUF];
};

static struct {
	pthread_t thread;
	bool running;
	volatile bool stop;
	int lfd;
	int wake[2];              /* ctl_sock_stop() writes here */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct client cl[MAX_CLIENTS];
	ctl_takeover_fn takeover;  /* "takeover": a new vstop asks for our ports */
	bool keep_path;            /* the socket is another vstop's now: no unlink */
} cs = { .lfd = -1, .wake = { -1, -1 } };

void
ctl_sock_set_takeover(ctl_takeover_fn fn)
{
	cs.takeover = fn;
}

static void
send_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t w = send(fd, s, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* the client is gone or stuck: its next read fails */
		s += w;
		len -= (size_t)w;
	}
}

static void
answer(struct client *c, const char *line)
{
	struct cmd_out o;
	const char *r;

	if (strcmp(line, "takeover") == 0 && cs.takeover != NULL) {
		/* The connection becomes the takeover channel (takeover.c). */
		int fd = c->fd, rc;

		c->fd = -1;
		c->len = 0;
		rc = cs.takeover(fd, cs.lfd);
		if (rc < 0) {
			char msg[160];

			snprintf(msg, sizeof(msg), "{\"ok\":false,\"error\":\"takeover refused: "
				 "%s\"}\n", rc == -EBUSY ? "one is under way" : strerror(-rc));
			send_all(fd, msg, strlen(msg));
			close(fd);
		}
		return;
	}

	cmd_out_init(&o, CMD_FMT_JSON);
	if (cmd_exec_line(line, &o) != 0) { /* blank or comment: no answer */
		cmd_out_free(&o);
		return;
	}
	r = cmd_out_result(&o);
	send_all(c->fd, r, strlen(r));
	send_all(c->fd, "\n", 1);
	if (o.quit) {
		APP_LOG(INFO, "control socket: quit");
		cmd_request_quit();
	}
	cmd_out_free(&o);
}

static void
client_close(struct client *c)
{
	close(c->fd);
	c->fd = -1;
	c->len = 0;
	c->overflow = false;
}

/* Read what is there; run every complete line. */
static void
client_input(struct client *c)
{
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
	char *nl;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	while ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
		size_t used = (size_t)(nl - c->buf) + 1;

		*nl = '\0';
		if (c->overflow) {
			c->overflow = false;
		} else {
			/* a NUL inside the line ends it early: harmless */
			answer(c, c->buf);
			if (c->fd < 0)
				return; /* handed to the takeover */
		}
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
		c->buf[c->len] = '\0';
	}
	if (c->len == sizeof(c->buf) - 1) {
		/* no newline in a full buffer: refuse the line once, drop it up to its end */
		if (!c->overflow) {
			char msg[128];

			snprintf(msg, sizeof(msg),
				 "{\"ok\":false,\"error\":\"line too long (at most %d characters)\"}\n",
				 CMD_MAX_LINE - 1);
			send_all(c->fd, msg, strlen(msg));
		}
		c->overflow = true;
		c->len = 0;
	}
}

static void
client_accept(void)
{
	struct timeval tv = { .tv_sec = 2 };
	int fd = accept4(cs.lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (unsigned int i = 0; i < MAX_CLIENTS; i++) {
		if (cs.cl[i].fd >= 0)
			continue;
		/* a client that does not read its answers cannot hold the thread for long */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		cs.cl[i].fd = fd;
		cs.cl[i].len = 0;
		cs.cl[i].overflow = false;
		return;
	}
	send_all(fd, "{\"ok\":false,\"error\":\"too many clients\"}\n", 41);
	close(fd);
}

static void *
ctl_sock_thread(void *arg)
{
	struct pollfd pfd[MAX_CLIENTS + 2];

	RTE_SET_USED(arg);
	while (!cs.stop) {
		unsigned int n = 0, map[MAX_CLIENTS];

		pfd[n++] = (struct pollfd){ .fd = cs.wake[0], .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = cs.lfd, .events = POLLIN };
		for (unsigned int i = 0; i < MAX_CLIENTS; i++) {
			if (cs.cl[i].fd < 0)
				continue;
			map[n - 2] = i;
			pfd[n++] = (struct pollfd){ .fd = cs.cl[i].fd, .events = POLLIN };
		}
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			APP_LOG(ERR, "control socket: poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents != 0)
			break;
		for (unsigned int k = 2; k < n; k++)
			if (pfd[k].revents != 0)
				client_input(&cs.cl[map[k - 2]]);
		if (pfd[1].revents & POLLIN)
			client_accept();
	}
	return NULL;
}

/* Refuse to take over a path another process serves; remove a stale socket file. */
static int
path_prepare(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		APP_LOG(ERR, "--ctl %s: exists and is not a socket", path);
		return -EEXIST;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0) {
		APP_LOG(ERR, "--ctl %s: another process serves this socket", path);
		return -EADDRINUSE;
	}
	return unlink(path) == 0 ? 0 : -errno;
}

int
ctl_sock_start(const char *path)
{
	return ctl_sock_start_fd(path, -1);
}

int
ctl_sock_start_fd(const char *path, int lfd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int rc;

	if (path == NULL || path[0] == '\0')
		return 0;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		APP_LOG(ERR, "--ctl %s: path longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	for (unsigned int i = 0; i < MAX_CLIENTS; i++)
		cs.cl[i].fd = -1;
	snprintf(cs.path, sizeof(cs.path), "%s", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (lfd >= 0) {
		/* Handed over by the vstop we took over from: already bound and listening. */
		cs.lfd = lfd;
		goto listening;
	}
	rc = path_prepare(path);
	if (rc < 0) {
		APP_LOG(ERR, "--ctl %s: %s", path, strerror(-rc));
		return rc;
	}
	cs.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cs.lfd < 0)
		return -errno;
	/*
	 * Owner-only from the start: on Linux a socket file takes the mode of the socket
	 * inode (minus umask) at bind(), so there is no window with a wider mode.
	 */
	if (fchmod(cs.lfd, 0600) != 0 || bind(cs.lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    chmod(path, 0600) != 0 || listen(cs.lfd, MAX_CLIENTS) != 0) {
		rc = -errno;
		APP_LOG(ERR, "--ctl %s: %s", path, strerror(errno));
		goto fail;
	}
listening:
	if (pipe2(cs.wake, O_CLOEXEC) != 0) {
		rc = -errno;
		goto fail;
	}
	rc = rte_ctrl_thread_create(&cs.thread, "vstop-ctl", NULL, ctl_sock_thread, NULL);
	if (rc != 0) {
		rc = -rc;
		APP_LOG(ERR, "--ctl: cannot start the thread: %s", strerror(-rc));
		goto fail;
	}
	cs.running = true;
	APP_LOG(INFO, "control socket %s", path);
	return 0;
fail:
	close(cs.lfd);
	cs.lfd = -1;
	unlink(path);
	return rc;
}

void
ctl_sock_handover(void)
{
	if (!cs.running)
		return;
	cs.keep_path = true;
	cs.stop = true;
	if (write(cs.wake[1], "x", 1) < 0)
		APP_LOG(WARNING, "control socket: wake: %s", strerror(errno));
}

void
ctl_sock_stop(void)
{
	if (!cs.running)
		return;
	cs.stop = true;
	if (write(cs.wake[1], "x", 1) < 0)
		APP_LOG(WARNING, "control socket: wake: %s", strerror(errno));
	pthread_join(cs.thread, NULL);
	cs.running = false;
	for (unsigned int i = 0; i < MAX_CLIENTS; i++)
		if (cs.cl[i].fd >= 0)
			client_close(&cs.cl[i]);
	close(cs.lfd);
	cs.lfd = -1;
	close(cs.wake[0]);
	close(cs.wake[1]);
	if (!cs.keep_path)
		unlink(cs.path);
}
