/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VSTOP_VHOST_DEV_H
#define VSTOP_VHOST_DEV_H

/*
 * A vhost-user virtio-net port: librte_vhost socket, callbacks, and the stop engine's
 * backend ops for it.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_ring.h>

#include "options.h"
#include "vstop.h"

/* Frames for the guest that the control side delivers or drops (not the fast path). */
struct vhost_held_stats {
	uint64_t delivered;   /* held or loaded frames given to the guest after resume */
	uint64_t dropped;     /* held frames dropped: guest ring full, reset, reconnect */
	uint64_t loaded;      /* frames that came in a device state blob (M1) */
};

/* One SAVE or LOAD over SET_DEVICE_STATE_FD (devstate_io.c). */
struct devstate_xfer {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool busy;            /* a worker runs */
	bool done;            /* the worker finished; result is valid */
	int dir;              /* VHU_STATE_DIR_SAVE / LOAD */
	int fd;
	int result;           /* 0 or -errno */
	char err[160];
};

struct vhost_port {
	struct app_port *port;
	char path[OPT_PATH_MAX];      /* the front end's socket */
	/* The socket librte_vhost serves: path itself, or with the relay (relay.h) a private
	 * socket in the EAL runtime directory. */
	char lib_path[OPT_PATH_MAX];
	struct relay_port *relay;     /* NULL: librte_vhost serves path itself */
	bool client;
	uint16_t nb_qp;
	/* Current connection; -1 if none. Written by librte_vhost's threads, read by the
	 * fast path only while the device is published (ordered by the publish). */
	int vid;
	bool connected;
	/*
	 * A connection accepted while librte_vhost had not yet processed the close of the
	 * previous one (a front end that reconnects at once); -1 if none. It becomes the
	 * current connection when the previous one is gone. If the previous one is still
	 * alive when it sends its first message, it is a second front end: refused.
	 */
	int pending_vid;
	pthread_mutex_t conn_lock; /* vid, pending_vid, connected, the load_pos fields */
	uint64_t offered;     /* feature bits offered, 42 and 43 included */
	uint64_t negotiated;  /* what the driver set, 42 and 43 included */
	/* The front end gave a back-end request channel (SET_SLAVE_REQ_FD): config-change
	 * notifications can be sent. Written by the message hook, read by the control lcore. */
	bool slave_channel;
	/*
	 * Ring positions from a device state loaded before the device started (the order
	 * QEMU uses): applied at new_device, unless the front end sends SET_VRING_BASE for
	 * that ring after the load (its word wins then). Dropped on disconnect.
	 */
	struct vs_vq_state load_pos[2 * OPT_MAX_QUEUES];
	bool load_pos_set[2 * OPT_MAX_QUEUES];
	uint64_t load_features;   /* features the loaded state was saved with */
	/* Per queue pair: frames for the guest's rx ring held while the device is stopped.
	 * Producer: the park stream (one polling lcore). Consumer: the control side, only
	 * while no stream of the device runs (resume, reset, new_device, state save). */
	struct rte_ring *hold[OPT_MAX_QUEUES];
	/* Frames that came in a device state blob. Producer: the control lcore (load).
	 * Consumer: resume callback or new_device, whichever comes first. */
	struct rte_ring *loaded[OPT_MAX_QUEUES];
	struct vhost_held_stats hs[OPT_MAX_QUEUES];
	/* Totals carried in from a loaded device state (M1 counters). */
	uint64_t base_rx, base_tx, base_held_drops;
	struct devstate_xfer xfer;
	/* port detach under way: a new connection is refused (conn_lock). */
	bool detaching;
	bool started;         /* rte_vhost_driver_start() succeeded */
	/* Takeover (destination): a ready device waits for the source to let go. conn_lock. */
	bool takeover_hold;
	bool start_deferred;
};

/*
 * Create the vhost port @p port from @p o: socket registered, engine device added
 * through @p call (app_ctl_call_local() at start-up, app_ctl_call() at runtime). On
 * failure what was done is undone (port->vh is NULL).
 */
int vhost_port_create(struct app_port *port, const struct opt_vhost *o,
		      int (*call)(struct vs_op *op));
/*
 * Undo vhost_port_create() for a port without a connection (port detach), in two steps.
 * Unregister: the socket is closed (a server socket file removed) and no callback comes
 * any more; @return 0 or -errno (then nothing changed). Free: the engine device is
 * deleted (it must have no streams left), rings and memory freed, port->vh NULL.
 * Command lock held, control lcore running.
 */
int vhost_port_unregister(struct vhost_port *vp, char *err, size_t errlen);
void vhost_port_free(struct app_port *port);
/* Start listening / connecting. After the engine runs (callbacks post ops). */
int vhost_port_start(struct vhost_port *vp);
/*
 * The same, with the front end's listening socket @p listen_fd handed over (takeover), or
 * VHOST_LISTEN_DEFER: librte_vhost starts, the front end's socket comes later
 * (vhost_port_relay_adopt()).
 */
#define VHOST_LISTEN_DEFER (-2)
int vhost_port_start_fd(struct vhost_port *vp, int listen_fd);
/*
 * Takeover, destination side: while held, a device that becomes ready (the replayed
 * session) is not started; release starts it (held frames first). Any thread but the
 * vhost-events thread. @return 0 or -1.
 */
void vhost_port_takeover_hold(struct vhost_port *vp);
int vhost_port_takeover_release(struct vhost_port *vp);
/* Unregister the socket: closes the connection (destroy_device waits for the engine).
 * @p keep_socket: leave the socket file (another vstop serves it now). */
void vhost_port_stop(struct vhost_port *vp, bool keep_socket);

/* The port of a vhost connection, or NULL. Any thread. */
struct vhost_port *vhost_port_by_vid(int vid);

/* Drop every frame held for the guest (hold and loaded rings). Control side only. */
unsigned int vhost_port_purge_held(struct vhost_port *vp, bool loaded_too);

/*
 * Ring health (vhost_health.c): the control lcore checks the rings of running devices for
 * a driver that lies about them and gives such a device DEVICE_NEEDS_RESET.
 */
int vhost_health_start(void);
void vhost_health_stop(void);

/* Vrings the front end has set up (allocated) on the current connection; 0 if none. */
uint16_t vhost_port_nb_vrings(struct vhost_port *vp);

/*
 * Ring positions of a loaded device state, for a device that has not started: kept until
 * new_device (devstate_io.c). Any thread.
 */
void vhost_port_set_load_pos(struct vhost_port *vp, const struct vs_vq_state *pos,
			     uint16_t nb_vqs, uint64_t features);
/* The front end positioned ring @p vq itself (SET_VRING_BASE): it overrides a loaded one. */
void vhost_port_vring_base_set(struct vhost_port *vp, uint16_t vq, uint16_t base);
void vhost_port_log_rings(struct vhost_port *vp, int vid, const char *when);
/* The message hook's check: is @p vid the connection this port serves? */
bool vhost_port_is_current(struct vhost_port *vp, int vid);

#endif /* VSTOP_VHOST_DEV_H */
