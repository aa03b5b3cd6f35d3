/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VSTOP_FD_MSG_H
#define VSTOP_FD_MSG_H

/**
 * @file
 * Sending and receiving bytes with file descriptors over a unix stream socket (SCM_RIGHTS): the
 * vhost-user relay (relay.c) and the takeover channel (takeover.c).
 */

#include <sys/types.h>
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

/**
 * One recvmsg() of at most @p len bytes into @p buf, taking the descriptors that came
 * with them: up to @p max_fds go to @p fds (*@p nfds of them, close-on-exec), any beyond
 * are closed. The first read of a message sent by fd_msg_sendv() gets its descriptors;
 * the caller reads the rest of the message with recv(). EINTR is retried.
 * Returns the bytes read (0: end of stream) or -errno (-EAGAIN after SO_RCVTIMEO).
 * Any thread; blocking on @p fd.
 */
ssize_t fd_msg_recv_first(int fd, void *buf, size_t len, int *fds, int *nfds, int max_fds);

#endif /* VSTOP_FD_MSG_H */
