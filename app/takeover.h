/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VSTOP_TAKEOVER_H
#define VSTOP_TAKEOVER_H

/*
 * Live upgrade (U1-U3): a new vstop (B, started with --takeover CTL) takes over every port
 * of the running one (A). See takeover.c and docs/upgrade.rst.
 */

#include <stdbool.h>

/* B: --takeover was given and the ports are not ours yet (server sockets wait for A's). */
bool takeover_pending(void);
/* A: the ports went to B; nothing of the front ends' is ours any more (no unlink). */
bool takeover_handed_over(void);

/* B: after start-up, take over from A. @return 0, or -errno (then B exits, A serves on). */
int takeover_run(void);

/*
 * A: the control socket got "takeover" on @p fd: serve B on its own thread. Takes @p fd.
 * @p ctl_lfd: the control socket's listening fd (B serves it afterwards).
 * @return 0, or -EBUSY if one is under way (the caller answers and closes).
 */
int takeover_serve(int fd, int ctl_lfd);

/* Progress and outcome, for "show takeover" and the control socket. */
const char *takeover_status(void);

#endif /* VSTOP_TAKEOVER_H */
