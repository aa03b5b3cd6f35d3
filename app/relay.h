/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VSTOP_RELAY_H
#define VSTOP_RELAY_H

/*
 * The vhost-user relay (issue 13): vstop owns the front end's socket of a server-mode
 * vhost port and relays the control messages, fds included, to its own librte_vhost,
 * which listens on a private socket. The data path (guest memory, kick/call eventfds, the
 * back-end request channel) goes to librte_vhost directly: it receives those fds in the
 * relayed messages. On the way it records the session (the last message of each kind,
 * per ring for ring messages, with dup'ed fds), so that a new vstop can replay it to its
 * own librte_vhost and carry on with the same front end connection (takeover.c).
 *
 * One thread ("vstop-relay") serves every relayed socket with epoll. Control messages are
 * rare: it costs nothing on the data path.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vhost_port;
struct relay_port;

/* A private request vstop's own message hook answers (vhost_msg.c): a barrier. Every
 * message sent before it on a connection has been handled once its reply comes back. */
#define RELAY_SYNC_REQUEST 0x56530001u
#define RELAY_SYNC_MAGIC   0x7673746f70ull

/* One recorded message: the whole message (12-byte header + payload) and its fds. */
struct relay_msg {
	uint8_t *buf;
	uint32_t len;
	int fds[8];
	int nfds;
};

/* Start / stop the relay thread. */
int relay_init(void);
void relay_fini(void);

/*
 * Serve the front end socket @p public_path of @p vp, relaying each connection to
 * librte_vhost at @p lib_path. Server mode: @p listen_fd >= 0 is a listening socket
 * handed over by another vstop (nothing is bound); else the socket is created
 * (owner-only). Client mode (@p client): the relay connects to @p public_path, and
 * again every second while it has no connection (not while frozen: a takeover brings
 * the connection). @return the relay port or NULL (logged).
 */
struct relay_port *relay_port_open(struct vhost_port *vp, const char *public_path,
				   const char *lib_path, int listen_fd, bool client);
/* Close the listening socket and every connection; remove the socket file if @p unlink_path. */
void relay_port_close(struct relay_port *rp, bool unlink_path);

/* ---- takeover (source side) ---- */

/*
 * Stop reading every front end of every relayed port and wait (at most @p timeout_ms) until
 * librte_vhost has handled every message already relayed and its replies went out.
 * @return 0, or -errno (then call relay_thaw_all()).
 */
int relay_freeze_all(int timeout_ms);
/* Read the front ends again (a failed takeover). */
void relay_thaw_all(void);
/*
 * The session of @p rp's live connection, in replay order, as dup'ed fds (the caller sends
 * and closes them; free with relay_msgs_free()). @p vring_base(vq, &num) may give the ring
 * position to put in SET_VRING_BASE (return 0), e.g. where the device stopped.
 * @return number of messages (0: no connection), with *conn_fd (dup) and *listen_fd (dup).
 */
int relay_port_export(struct relay_port *rp, struct relay_msg **msgs, int *conn_fd,
		      int *listen_fd, int (*vring_base)(void *arg, uint16_t vq, uint32_t *num),
		      void *arg);
void relay_msgs_free(struct relay_msg *msgs, int n);
/*
 * The session generation of @p rp's live connection: it changes with every message the
 * front end sends. UINT64_MAX: no connection. (A pre-copied session is still good if the
 * generation did not change until the relay was frozen.)
 */
uint64_t relay_port_gen(struct relay_port *rp);
/* Which rings of the live connection are set up (a kick fd recorded): @p live[vq] = 1.
 * @return the number of rings looked at (0: no connection). */
int relay_port_live_rings(struct relay_port *rp, uint8_t *live, int max);
/* After a successful handover: forget every connection without a word to anyone (the new
 * vstop has them); the listening socket is closed, the socket file left in place. */
void relay_release_all(void);

/* ---- takeover (destination side) ---- */

/*
 * Adopt the front end connection @p conn_fd of @p rp: connect to librte_vhost, replay
 * @p msgs (replies swallowed), wait for the barrier. The front end is not read until
 * relay_start_reading(). Takes ownership of @p conn_fd and the msgs' fds on success.
 * @return 0 or -errno.
 */
int relay_port_adopt(struct relay_port *rp, int conn_fd, struct relay_msg *msgs, int n,
		     int timeout_ms);
/* More messages for the adopted connection (e.g. the ring bases once the source stopped),
 * replayed the same way. Takes the msgs' fds on success. @return 0 or -errno. */
int relay_port_replay_more(struct relay_port *rp, struct relay_msg *msgs, int n,
			   int timeout_ms);
/* Give up the adopted connection's librte_vhost side (its session changed meanwhile: it is
 * replayed again from scratch). @return the front end fd (the caller's again), or -1. */
int relay_port_unadopt(struct relay_port *rp);
void relay_start_reading(void);

/* Counters for "show relay" and the logs. */
struct relay_stats {
	uint64_t conns;      /* connections accepted or adopted */
	uint64_t msgs_in;    /* front end -> librte_vhost */
	uint64_t msgs_out;   /* librte_vhost -> front end */
	uint64_t fds;        /* fds relayed */
};
void relay_stats_get(struct relay_stats *st);

#endif /* VSTOP_RELAY_H */
