/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VSTOP_CTL_SOCK_H
#define VSTOP_CTL_SOCK_H

/*
 * The control socket ("--ctl PATH"): a unix stream socket, created owner-only (0600),
 * for scripts and tests. A client sends the console's commands one per line; each gets
 * exactly one line back, a JSON object: {"ok":true,...} or {"ok":false,"error":"..."}.
 * Blank lines and lines starting with '#' get no answer. Several clients may connect;
 * commands run one at a time.
 */

/* Create the socket and start its thread. @return 0 (nothing to do if @p path is NULL
 * or empty) or -errno after logging why. */
int ctl_sock_start(const char *path);
/* The same with a listening socket handed over by another vstop (takeover). */
int ctl_sock_start_fd(const char *path, int lfd);
/* Close every connection, remove the socket file, join the thread. */
void ctl_sock_stop(void);
/*
 * A client line "takeover" hands its connection to @p fn (with the listening fd, which
 * stays ours until ctl_sock_handover()). @p fn returns 0 (it owns the fd) or -errno
 * (refused: the client gets an error line).
 */
typedef int (*ctl_takeover_fn)(int fd, int lfd);
void ctl_sock_set_takeover(ctl_takeover_fn fn);
/* The socket is another vstop's now: stop serving it, and do not remove it at exit. */
void ctl_sock_handover(void);

#endif /* VSTOP_CTL_SOCK_H */
