/* SPDX-License-Identifier: BSD-3-Clause */
/* Bytes with file descriptors over a unix stream socket: see fd_msg.h. */

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "fd_msg.h"

int
fd_msg_sendv(int fd, struct iovec *iov, int iovcnt, const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * FD_MSG_MAX_FDS)];
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };

	if (nfds < 0 || nfds > FD_MSG_MAX_FDS)
		return -EINVAL;
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	/* Skip empty buffers up front: a message is done when none is left. */
	while (mh.msg_iovlen > 0 && mh.msg_iov[0].iov_len == 0) {
		mh.msg_iov++;
		mh.msg_iovlen--;
	}
	while (mh.msg_iovlen > 0) {
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		/* The descriptors went with the first bytes. */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		while (mh.msg_iovlen > 0 && (size_t)n >= mh.msg_iov[0].iov_len) {
			n -= (ssize_t)mh.msg_iov[0].iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen > 0) {
			mh.msg_iov[0].iov_base = (uint8_t *)mh.msg_iov[0].iov_base + n;
			mh.msg_iov[0].iov_len -= (size_t)n;
		}
	}
	return 0;
}
