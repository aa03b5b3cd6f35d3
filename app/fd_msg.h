/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VSTOP_FD_MSG_H
#define VSTOP_FD_MSG_H

/**
 * @file
 * Sending bytes with file descriptors over a unix stream socket (SCM_RIGHTS): the
 * vhost-user relay (relay.c) and the takeover channel (takeover.c).
 */

#include <sys/uio.h>

/** At most this many descriptors go with one message. */
#define FD_MSG_MAX_FDS 8

/**
 * Send the @p iovcnt buffers of @p iov, all of them, with @p nfds descriptors attached
 * to the first byte (the receiver gets them with its first recvmsg of the message).
 * Partial writes are resumed; EINTR is retried; never SIGPIPE. @p iov is consumed
 * (its entries are advanced). Returns 0, -EINVAL (too many fds), or -errno / -EIO.
 * Any thread; blocking on @p fd.
 */
int fd_msg_sendv(int fd, struct iovec *iov, int iovcnt, const int *fds, int nfds);

#endif /* VSTOP_FD_MSG_H */
