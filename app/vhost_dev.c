/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user ports on librte_vhost: socket registration, the device callbacks, and the
 * stop engine's backend ops (struct vs_backend_ops) for a vhost port.
 *
 * Threads: librte_vhost calls back on its vhost-events thread (and, for client sockets,
 * on its reconnect thread or the caller of rte_vhost_driver_start/unregister). Callbacks
 * turn into engine ops; they wait only where librte_vhost holds no lock (DESIGN.md §5):
 * new_device, destroy_device, destroy_connection. vring_state_changed runs with every
 * vq access_lock held, so it posts and returns.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_vhost.h>

#include "devstate_io.h"
#include "relay.h"
#include "fwd.h"
#include "vhost_dev.h"
#include "vhost_msg.h"
#include "vhost_msg_layout.h"
#include "vs_devstate.h"

RTE_LOG_REGISTER(vstop_vhost_logtype, vstop.vhost, INFO);

/* vid -> port. Written on connect/disconnect, read by the message hooks. */
static struct vhost_port *vid_map[RTE_MAX_VHOST_DEVICE];

struct vhost_port *
vhost_port_by_vid(int vid)
{
	if (vid < 0 || vid >= RTE_MAX_VHOST_DEVICE)
		return NULL;
	return __atomic_load_n(&vid_map[vid], __ATOMIC_ACQUIRE);
}

static int
wait_ms(void)
{
	return (int)app.opts.stop_timeout_ms + 1000;
}

/* ---- frames held for the guest ---- */

static unsigned int
ring_drop_all(struct rte_ring *r)
{
	struct rte_mbuf *pkts[64];
	unsigned int n, total = 0;

	if (r == NULL)
		return 0;
	while ((n = rte_ring_sc_dequeue_burst(r, (void **)pkts, RTE_DIM(pkts), NULL)) > 0) {
		rte_pktmbuf_free_bulk(pkts, n);
		total += n;
	}
	return total;
}

unsigned int
vhost_port_purge_held(struct vhost_port *vp, bool loaded_too)
{
	unsigned int q, n, total = 0;

	for (q = 0; q < vp->nb_qp; q++) {
		n = ring_drop_all(vp->hold[q]);
		if (loaded_too)
			n += ring_drop_all(vp->loaded[q]);
		vp->hs[q].dropped += n;
		total += n;
	}
	return total;
}

/* Give what @p r holds to the guest's rx ring of queue pair @p q; drop what does not fit. */
static void
ring_deliver(struct vhost_port *vp, uint16_t q, struct rte_ring *r)
{
	struct rte_mbuf *pkts[64];
	unsigned int n;

	if (r == NULL)
		return;
	if (2 * q >= vhost_port_nb_vrings(vp)) {
		/* The driver did not set this ring up (fewer pairs than the port offers). */
		n = ring_drop_all(r);
		vp->hs[q].dropped += n;
		if (n > 0)
			VH_LOG(WARNING, "%s: %u frames for queue pair %u dropped: the driver has "
			       "no such ring", vp->path, n, q);
		return;
	}
	while ((n = rte_ring_sc_dequeue_burst(r, (void **)pkts, RTE_DIM(pkts), NULL)) > 0) {
		uint16_t sent = rte_vhost_enqueue_burst(vp->vid, 2 * q, pkts, n);

		rte_pktmbuf_free_bulk(pkts, n);
		vp->hs[q].delivered += sent;
		vp->hs[q].dropped += n - sent;
	}
}

/* Loaded frames (older) first, then frames held here while stopped. */
static void
deliver_held(struct vhost_port *vp, bool held_too)
{
	for (uint16_t q = 0; q < vp->nb_qp; q++) {
		ring_deliver(vp, q, vp->loaded[q]);
		if (held_too)
			ring_deliver(vp, q, vp->hold[q]);
	}
}

/*
 * Debug: each ring's device positions next to what guest memory holds. Reads guest
 * memory: call only while it is mapped (a message hook before librte_vhost's handler,
 * new_device) and no polling lcore runs the ring.
 */
void
vhost_port_log_rings(struct vhost_port *vp, int vid, const char *when)
{
	if (rte_log_get_level(vstop_vhost_logtype) < (int)RTE_LOG_DEBUG)
		return;
	for (uint16_t vq = 0; vq < rte_vhost_get_vring_num(vid); vq++) {
		struct rte_vhost_vring vr;
		uint16_t la = 0, lu = 0;
		int avail = -1, used = -1;

		rte_vhost_get_vring_base(vid, vq, &la, &lu);
		if (rte_vhost_get_vhost_vring(vid, vq, &vr) == 0 && vr.avail != NULL &&
		    vr.used != NULL) {
			avail = __atomic_load_n(&vr.avail->idx, __ATOMIC_ACQUIRE);
			used = __atomic_load_n(&vr.used->idx, __ATOMIC_ACQUIRE);
		}
		VH_LOG(DEBUG, "%s: %s: vq %u last_avail %u last_used %u guest avail->idx %d "
		       "used->idx %d", vp->path, when, vq, la, lu, avail, used);
	}
}

/* ---- backend ops: run on the control lcore, while no stream of the device runs ---- */

static int
be_drain(void *priv)
{
	/*
	 * R5: nothing to do. A stream hands every frame it dequeued to its tx queue (or
	 * drops it) before it returns, and rte_vhost_dequeue/enqueue_burst write the used
	 * ring before they return: once the epoch has passed, nothing is in flight.
	 */
	RTE_SET_USED(priv);
	return 0;
}

static int
be_get_vq_state(void *priv, uint16_t vq, struct vs_vq_state *st)
{
	struct vhost_port *vp = priv;

	if (!vp->connected ||
	    rte_vhost_get_vring_base(vp->vid, vq, &st->avail_idx, &st->used_idx) != 0)
		return -ENODEV;
	return 0;
}

static int
be_set_vq_state(void *priv, uint16_t vq, const struct vs_vq_state *st)
{
	struct vhost_port *vp = priv;

	if (!vp->connected || vq >= vhost_port_nb_vrings(vp) ||
	    rte_vhost_set_vring_base(vp->vid, vq, st->avail_idx, st->used_idx) != 0)
		return -ENODEV; /* devstate_io.c keeps positions for rings not set up yet */
	return 0;
}

/*
 * R7/S4: the engine calls this only while the device runs (never while stopped) and only
 * while it is attached, so the vid is valid: destroy_device waits for VS_OP_DETACH, which
 * runs on this same control lcore. The notification goes over the back-end request
 * channel (vhost-user CONFIG_CHANGE_MSG) if the front end gave one. No reply is asked
 * for: the control lcore must never wait for a front end.
 */
static void
be_config_changed(void *priv)
{
	struct vhost_port *vp = priv;
	uint64_t pf = 0;
	int rc;

	if (!__atomic_load_n(&vp->slave_channel, __ATOMIC_ACQUIRE) ||
	    rte_vhost_get_negotiated_protocol_features(vp->vid, &pf) != 0 ||
	    !(pf & (1ull << VHU_PROTO_F_SLAVE_REQ))) {
		VH_LOG(INFO, "%s: config changed (the front end gave no back-end channel: "
		       "not notified)", vp->path);
		return;
	}
	rc = rte_vhost_slave_config_change(vp->vid, false);
	VH_LOG(INFO, "%s: config changed, front end notified%s", vp->path,
	       rc == 0 ? "" : " (send failed)");
}

static void
be_stopped(void *priv)
{
	struct vhost_port *vp = priv;

	VH_LOG(INFO, "%s: device stopped", vp->path);
}

static int
be_resume(void *priv)
{
	struct vhost_port *vp = priv;

	/* The engine unpublished the park streams and waited an epoch: we are the consumer. */
	deliver_held(vp, true);
	VH_LOG(INFO, "%s: device resumed", vp->path);
	return 0;
}

static void
be_reset(void *priv)
{
	struct vhost_port *vp = priv;
	unsigned int n = vhost_port_purge_held(vp, true);

	VH_LOG(INFO, "%s: device reset%s", vp->path, n ? " (held frames dropped)" : "");
}

static const struct vs_backend_ops vhost_backend_ops = {
	.drain = be_drain,
	.get_vq_state = be_get_vq_state,
	.set_vq_state = be_set_vq_state,
	.config_changed = be_config_changed,
	.stopped = be_stopped,
	.resume = be_resume,
	.reset = be_reset,
};

/* ---- librte_vhost callbacks ---- */

static struct vhost_port *
port_by_path(const char *path)
{
	struct vhost_port *vp = NULL;

	pthread_rwlock_rdlock(&app.ports_lock);
	for (unsigned int i = 0; i < app.nb_ports && vp == NULL; i++) {
		struct app_port *p = &app.ports[i];

		if (p->used && p->kind == PORT_VHOST && p->vh != NULL &&
		    strcmp(p->vh->lib_path, path) == 0)
			vp = p->vh;
	}
	pthread_rwlock_unlock(&app.ports_lock);
	return vp;
}

uint16_t
vhost_port_nb_vrings(struct vhost_port *vp)
{
	int vid = __atomic_load_n(&vp->vid, __ATOMIC_ACQUIRE);

	return vid < 0 ? 0 : rte_vhost_get_vring_num(vid);
}

bool
vhost_port_is_current(struct vhost_port *vp, int vid)
{
	return __atomic_load_n(&vp->vid, __ATOMIC_ACQUIRE) == vid;
}

void
vhost_port_set_load_pos(struct vhost_port *vp, const struct vs_vq_state *pos, uint16_t nb_vqs,
			uint64_t features)
{
	pthread_mutex_lock(&vp->conn_lock);
	vp->load_features = features;
	for (uint16_t vq = 0; vq < RTE_DIM(vp->load_pos); vq++) {
		vp->load_pos_set[vq] = vq < nb_vqs && vq < 2 * vp->nb_qp;
		if (vp->load_pos_set[vq])
			vp->load_pos[vq] = pos[vq];
	}
	pthread_mutex_unlock(&vp->conn_lock);
}

void
vhost_port_vring_base_set(struct vhost_port *vp, uint16_t vq, uint16_t base)
{
	if (vq >= RTE_DIM(vp->load_pos))
		return;
	pthread_mutex_lock(&vp->conn_lock);
	if (vp->load_pos_set[vq]) {
		vp->load_pos_set[vq] = false;
		if (vp->load_pos[vq].avail_idx != base)
			VH_LOG(WARNING, "%s: SET_VRING_BASE %u for vq %u after the state load: "
			       "it replaces the loaded position %u", vp->path, base, vq,
			       vp->load_pos[vq].avail_idx);
	}
	pthread_mutex_unlock(&vp->conn_lock);
}

/* Apply the loaded ring positions kept for a device that had not started. */
static void
apply_load_pos(struct vhost_port *vp)
{
	struct vs_vq_state pos[RTE_DIM(vp->load_pos)];
	bool set[RTE_DIM(vp->load_pos)];
	uint16_t nvr = vhost_port_nb_vrings(vp);
	uint64_t features;

	pthread_mutex_lock(&vp->conn_lock);
	memcpy(pos, vp->load_pos, sizeof(pos));
	memcpy(set, vp->load_pos_set, sizeof(set));
	memset(vp->load_pos_set, 0, sizeof(vp->load_pos_set));
	features = vp->load_features;
	pthread_mutex_unlock(&vp->conn_lock);
	if (memchr(set, true, sizeof(set)) != NULL && features != vp->negotiated) {
		/* Loaded before SET_FEATURES, and the driver then chose others (M3). */
		VH_LOG(ERR, "%s: state loaded with features 0x%" PRIx64 ", driver negotiated 0x%"
		       PRIx64 ": loaded ring positions not used", vp->path, features,
		       vp->negotiated);
		return;
	}
	for (uint16_t vq = 0; vq < RTE_DIM(pos); vq++) {
		struct vs_op *op;
		int rc;

		if (!set[vq])
			continue;
		if (vq >= nvr) {
			VH_LOG(WARNING, "%s: loaded position of vq %u dropped: the driver did not "
			       "set that ring up", vp->path, vq);
			continue;
		}
		op = vs_op_alloc(VS_OP_SET_VQ_STATE, vp->port->dev);
		if (op == NULL)
			continue;
		op->vq = vq;
		op->in.vq_state = pos[vq];
		rc = vs_ctl_call(app.ctl, op, wait_ms());
		if (rc != -ETIMEDOUT)
			vs_op_free(op);
		if (rc < 0)
			VH_LOG(ERR, "%s: loaded position of vq %u: %s", vp->path, vq, strerror(-rc));
		else
			VH_LOG(INFO, "%s: vq %u starts at the loaded position %u", vp->path, vq,
			       pos[vq].avail_idx);
	}
}

/* Make @p vid the connection this port serves. conn_lock held. */
static void
conn_make_current(struct vhost_port *vp, int vid)
{
	vp->negotiated = 0;
	__atomic_store_n(&vp->slave_channel, false, __ATOMIC_RELEASE);
	memset(vp->load_pos_set, 0, sizeof(vp->load_pos_set));
	vp->connected = true;
	__atomic_store_n(&vp->vid, vid, __ATOMIC_RELEASE);
	/*
	 * A ring runs only once librte_vhost reports it ready on this connection
	 * (vring_state_changed): a front end may set up fewer pairs than the port offers,
	 * and a ring it never set up must not be polled nor saved. The ops are posted
	 * before any message of the connection is read, so they come first.
	 */
	for (uint16_t vq = 0; vq < 2 * vp->nb_qp; vq++) {
		struct vs_op *op = vs_op_alloc(VS_OP_SET_VQ_READY, vp->port->dev);

		if (op != NULL) {
			op->vq = vq;
			op->in.ready = false;
		}
		if (op == NULL || vs_ctl_post(app.ctl, op) < 0)
			VH_LOG(ERR, "%s: cannot reset the readiness of vq %u", vp->path, vq);
	}
	VH_LOG(INFO, "%s: connected (vid %d)", vp->path, vid);
}

static int
cb_new_connection(int vid)
{
	char path[PATH_MAX];
	struct vhost_port *vp;

	if (rte_vhost_get_ifname(vid, path, sizeof(path)) != 0)
		return -1;
	vp = port_by_path(path);
	if (vp == NULL)
		return -1;
	/* Before the socket is polled: every message goes through the hook (DESIGN §5). */
	if (rte_vhost_extern_callback_register(vid, &vhost_msg_ops, NULL) != 0) {
		VH_LOG(ERR, "%s: cannot register message hooks", path);
		return -1;
	}
	pthread_mutex_lock(&vp->conn_lock);
	if (vp->detaching) {
		pthread_mutex_unlock(&vp->conn_lock);
		VH_LOG(WARNING, "%s: port being detached: connection refused", path);
		return -1;
	}
	if (vp->connected) {
		/*
		 * librte_vhost accepts on the listening socket before it reads the EOF of
		 * the previous connection when both are ready in the same poll round: a front
		 * end that reconnects at once lands here. Accept; the connection waits until
		 * the previous one is destroyed (that EOF is processed in the same round, so
		 * before any message of this one). A front end that connects while the
		 * previous one is still alive is refused at its first message.
		 */
		if (vp->pending_vid >= 0) {
			pthread_mutex_unlock(&vp->conn_lock);
			VH_LOG(ERR, "%s: refusing a third connection (vid %d)", path, vid);
			return -1;
		}
		vp->pending_vid = vid;
		__atomic_store_n(&vid_map[vid], vp, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&vp->conn_lock);
		VH_LOG(INFO, "%s: connection vid %d waits for the close of vid %d", path, vid,
		       vp->vid);
		return 0;
	}
	__atomic_store_n(&vid_map[vid], vp, __ATOMIC_RELEASE);
	conn_make_current(vp, vid);
	pthread_mutex_unlock(&vp->conn_lock);
	return 0;
}

static void
cb_destroy_connection(int vid)
{
	struct vhost_port *vp = vhost_port_by_vid(vid);
	int rc;

	if (vp == NULL)
		return;
	pthread_mutex_lock(&vp->conn_lock);
	if (vid != vp->vid) {
		/* A waiting connection that closed before it was served. */
		if (vid == vp->pending_vid)
			vp->pending_vid = -1;
		__atomic_store_n(&vid_map[vid], NULL, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&vp->conn_lock);
		VH_LOG(INFO, "%s: connection vid %d closed", vp->path, vid);
		return;
	}
	pthread_mutex_unlock(&vp->conn_lock);
	/* R2: a disconnect is a reset; no lock is held here, so wait for it. */
	rc = vs_ctl_simple(app.ctl, VS_OP_RESET, vp->port->dev, wait_ms());
	if (rc < 0)
		VH_LOG(ERR, "%s: reset on disconnect: %s", vp->path, strerror(-rc));
	devstate_xfer_abort(vp);
	pthread_mutex_lock(&vp->conn_lock);
	__atomic_store_n(&vid_map[vid], NULL, __ATOMIC_RELEASE);
	vp->connected = false;
	__atomic_store_n(&vp->vid, -1, __ATOMIC_RELEASE);
	memset(vp->load_pos_set, 0, sizeof(vp->load_pos_set));
	VH_LOG(INFO, "%s: disconnected (vid %d)", vp->path, vid);
	if (vp->pending_vid >= 0) {
		int next = vp->pending_vid;

		vp->pending_vid = -1;
		conn_make_current(vp, next);
	}
	pthread_mutex_unlock(&vp->conn_lock);
}

/* The device is ready: start it (new_device, or a takeover's commit). */
static int
device_start(struct vhost_port *vp, int vid)
{
	unsigned int n;
	int rc;

	vhost_port_log_rings(vp, vid, "new_device");
	/* A polling back end: no kicks needed. */
	for (uint16_t i = 0; i < rte_vhost_get_vring_num(vid); i++)
		rte_vhost_enable_guest_notification(vid, i, 0);
	/* Positions of a state loaded before the rings existed (M2, QEMU's order). */
	apply_load_pos(vp);
	/*
	 * No stream of the device runs yet, so this thread may consume the rings. Frames
	 * parked while no driver was there belong to no one now (R2); frames that came
	 * in a device state (M1) are the guest's: deliver them first.
	 */
	n = vhost_port_purge_held(vp, false);
	deliver_held(vp, false);
	rc = vs_ctl_simple(app.ctl, VS_OP_ATTACH, vp->port->dev, wait_ms());
	if (rc < 0) {
		VH_LOG(ERR, "%s: attach: %s", vp->path, strerror(-rc));
		return -1;
	}
	VH_LOG(INFO, "%s: device ready, %u vrings%s", vp->path, rte_vhost_get_vring_num(vid),
	       n ? ", stale held frames dropped" : "");
	return 0;
}

static int
cb_new_device(int vid)
{
	struct vhost_port *vp = vhost_port_by_vid(vid);

	if (vp == NULL || !vhost_port_is_current(vp, vid))
		return -1;
	pthread_mutex_lock(&vp->conn_lock);
	if (vp->takeover_hold) {
		/* U1: the previous vstop has not let go yet: nothing touches the rings. */
		vp->start_deferred = true;
		pthread_mutex_unlock(&vp->conn_lock);
		VH_LOG(INFO, "%s: device ready, started once the takeover is done", vp->path);
		return 0;
	}
	pthread_mutex_unlock(&vp->conn_lock);
	return device_start(vp, vid);
}

void
vhost_port_takeover_hold(struct vhost_port *vp)
{
	pthread_mutex_lock(&vp->conn_lock);
	vp->takeover_hold = true;
	vp->start_deferred = false;
	pthread_mutex_unlock(&vp->conn_lock);
}

int
vhost_port_takeover_release(struct vhost_port *vp)
{
	bool start;
	int vid;

	pthread_mutex_lock(&vp->conn_lock);
	start = vp->start_deferred;
	vid = vp->vid;
	vp->takeover_hold = false;
	vp->start_deferred = false;
	pthread_mutex_unlock(&vp->conn_lock);
	return start && vid >= 0 ? device_start(vp, vid) : 0;
}

static void
cb_destroy_device(int vid)
{
	struct vhost_port *vp = vhost_port_by_vid(vid);
	int rc;

	if (vp == NULL || !vhost_port_is_current(vp, vid))
		return;
	/*
	 * V4: librte_vhost unmaps guest memory after this returns, so wait for the
	 * engine's epoch barrier without a deadline: returning early would let a polling
	 * lcore touch unmapped memory. No librte_vhost lock is held here.
	 */
	rc = vs_ctl_simple(app.ctl, VS_OP_DETACH, vp->port->dev, -1);
	if (rc < 0)
		VH_LOG(ERR, "%s: detach: %s", vp->path, strerror(-rc));
	VH_LOG(INFO, "%s: device detached", vp->path);
}

static int
cb_vring_state_changed(int vid, uint16_t queue_id, int enable)
{
	struct vhost_port *vp = vhost_port_by_vid(vid);
	struct vs_op *op;

	if (vp == NULL || queue_id >= 2 * vp->nb_qp || !vhost_port_is_current(vp, vid))
		return 0;
	/* V2. Every vq access_lock is held: post, never wait (DESIGN §5 deadlock hazard). */
	op = vs_op_alloc(VS_OP_SET_VQ_READY, vp->port->dev);
	if (op == NULL)
		return -1;
	op->vq = queue_id;
	op->in.ready = enable != 0;
	if (vs_ctl_post(app.ctl, op) < 0)
		VH_LOG(ERR, "%s: op ring full, vq %u ready=%d lost", vp->path, queue_id, enable);
	return 0;
}

static int
cb_features_changed(int vid, uint64_t features)
{
	struct vhost_port *vp = vhost_port_by_vid(vid);

	if (vp != NULL)
		VH_LOG(INFO, "%s: dirty page logging %s", vp->path,
		       (features & (1ull << VHOST_F_LOG_ALL)) ? "on" : "off");
	return 0;
}

static const struct rte_vhost_device_ops vhost_cb_ops = {
	.new_device = cb_new_device,
	.destroy_device = cb_destroy_device,
	.vring_state_changed = cb_vring_state_changed,
	.features_changed = cb_features_changed,
	.new_connection = cb_new_connection,
	.destroy_connection = cb_destroy_connection,
};

/* ---- setup ---- */

/*
 * A single-producer single-consumer ring in rte_malloc memory, not a memzone: EAL has
 * RTE_MAX_MEMZONE (2560) memzones, fewer than 1024 ports need rings.
 */
static struct rte_ring *
ring_new(const char *name, unsigned int count)
{
	unsigned int flags = RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ;
	ssize_t sz = rte_ring_get_memsize_elem(sizeof(void *), rte_align32pow2(count + 1));
	struct rte_ring *r;

	if (sz < 0)
		return NULL;
	r = rte_zmalloc(name, (size_t)sz, RTE_CACHE_LINE_SIZE);
	if (r != NULL && rte_ring_init(r, name, count, flags) != 0) {
		rte_free(r);
		r = NULL;
	}
	return r;
}

static void
port_free(struct app_port *port)
{
	struct vhost_port *vp = port->vh;

	if (vp == NULL)
		return;
	for (uint16_t q = 0; q < OPT_MAX_QUEUES; q++) {
		ring_drop_all(vp->hold[q]);
		ring_drop_all(vp->loaded[q]);
		rte_free(vp->hold[q]);
		rte_free(vp->loaded[q]);
	}
	pthread_mutex_destroy(&vp->conn_lock);
	pthread_mutex_destroy(&vp->xfer.lock);
	pthread_cond_destroy(&vp->xfer.cond);
	port->vh = NULL;
	rte_free(vp);
}

/*
 * Where librte_vhost listens for @p vp: with the relay (server ports, unless --no-relay),
 * a private socket in the EAL runtime directory, unique to this process; else the port's
 * own path.
 */
static int
relay_lib_path(struct vhost_port *vp, size_t len)
{
	if (app.opts.no_relay) {
		snprintf(vp->lib_path, len, "%s", vp->path);
		return 0;
	}
	if (snprintf(vp->lib_path, len, "%s/vhost-relay-%u.sock", rte_eal_get_runtime_dir(),
		     vp->port->id) >= (int)len) {
		APP_LOG(ERR, "%s: EAL runtime directory path too long for a socket", vp->path);
		return -ENAMETOOLONG;
	}
	unlink(vp->lib_path); /* a stale one of a process that had this file prefix */
	return 0;
}

static int vhost_port_setup(struct app_port *port, const struct opt_vhost *o,
			    int (*call)(struct vs_op *op));

int
vhost_port_create(struct app_port *port, const struct opt_vhost *o,
		  int (*call)(struct vs_op *op))
{
	int rc = vhost_port_setup(port, o, call);

	if (rc < 0 && port->vh != NULL) {
		if (port->dev != VS_DEV_NONE) {
			struct vs_op *op = vs_op_alloc(VS_OP_DEV_DEL, port->dev);

			if (op != NULL)
				call(op);
			port->dev = VS_DEV_NONE;
		}
		if (port->vh->lib_path[0] != '\0')
			rte_vhost_driver_unregister(port->vh->lib_path);
		port_free(port);
	}
	return rc;
}

static int
vhost_port_setup(struct app_port *port, const struct opt_vhost *o,
		 int (*call)(struct vs_op *op))
{
	struct vhost_port *vp;
	uint64_t features, proto;
	uint64_t flags = RTE_VHOST_USER_NET_COMPLIANT_OL_FLAGS;
	struct vs_op *op;
	char name[RTE_RING_NAMESIZE];
	int rc;

	port->dev = VS_DEV_NONE;
	vp = rte_zmalloc("vhost_port", sizeof(*vp), RTE_CACHE_LINE_SIZE);
	if (vp == NULL)
		return -ENOMEM;
	vp->port = port;
	vp->client = o->client;
	vp->nb_qp = o->queues;
	vp->vid = -1;
	vp->pending_vid = -1;
	pthread_mutex_init(&vp->conn_lock, NULL);
	pthread_mutex_init(&vp->xfer.lock, NULL);
	pthread_cond_init(&vp->xfer.cond, NULL);
	port->vh = vp;
	port->nb_queues = o->queues;
	snprintf(port->name, sizeof(port->name), "%s", o->path);

	for (uint16_t q = 0; q < vp->nb_qp; q++) {
		if (app.opts.hold > 0) {
			snprintf(name, sizeof(name), "vs_hold_%u_%u", port->id, q);
			vp->hold[q] = ring_new(name, app.opts.hold);
		}
		snprintf(name, sizeof(name), "vs_load_%u_%u", port->id, q);
		vp->loaded[q] = ring_new(name, VS_DEVSTATE_MAX_HELD);
		if ((app.opts.hold > 0 && vp->hold[q] == NULL) || vp->loaded[q] == NULL) {
			APP_LOG(ERR, "%s: cannot create hold rings: %s", vp->path,
				rte_strerror(rte_errno));
			return -ENOMEM;
		}
	}

	snprintf(vp->path, sizeof(vp->path), "%s", o->path);
	rc = relay_lib_path(vp, sizeof(vp->lib_path));
	if (rc < 0)
		return rc;
	/* With the relay, librte_vhost always listens (on the private socket): the relay
	 * is the one that connects to a client port's front end. */
	if (vp->client && strcmp(vp->lib_path, vp->path) == 0)
		flags |= RTE_VHOST_USER_CLIENT;
	if (rte_vhost_driver_register(vp->lib_path, flags) != 0) {
		APP_LOG(ERR, "%s: cannot register vhost-user socket %s", o->path, vp->lib_path);
		vp->lib_path[0] = '\0';
		return -EINVAL;
	}
	/* From here on, a failure unregisters the path (vhost_port_create). */
	/*
	 * Features: librte_vhost's net set (VHOST_F_LOG_ALL included, V6) plus the stop
	 * features. rte_vhost_driver_set_features() would switch off librte_vhost's
	 * built-in net back end (use_builtin_virtio_net = false: enqueue/dequeue refuse
	 * to work), so bits 42/43 are offered and taken by the message hook instead.
	 */
	if (rte_vhost_driver_get_features(vp->lib_path, &features) != 0)
		return -EINVAL;
	vp->offered = features | (1ull << VS_F_DEVICE_STOP) | (1ull << VS_F_SUSPEND);
	if (rte_vhost_driver_get_protocol_features(vp->lib_path, &proto) != 0)
		return -EINVAL;
	proto |= (1ull << VHU_PROTO_F_LOG_SHMFD) | (1ull << VHU_PROTO_F_REPLY_ACK) |
		 (1ull << VHU_PROTO_F_STATUS) | (1ull << VHU_PROTO_F_DEVICE_STATE) |
		 (1ull << VHU_PROTO_F_CONFIG) | (1ull << VHU_PROTO_F_SLAVE_REQ);
	if (rte_vhost_driver_set_protocol_features(vp->lib_path, proto) != 0)
		return -EINVAL;
	if (rte_vhost_driver_callback_register(vp->lib_path, &vhost_cb_ops) != 0)
		return -EINVAL;

	op = vs_op_alloc(VS_OP_DEV_ADD, 0);
	if (op == NULL)
		return -ENOMEM;
	op->in.dev_add.name = port->name;
	op->in.dev_add.ops = &vhost_backend_ops;
	op->in.dev_add.priv = vp;
	op->in.dev_add.nb_vqs = 2 * vp->nb_qp;
	rte_ether_addr_copy(&port->mac, (struct rte_ether_addr *)op->in.dev_add.config.mac);
	op->in.dev_add.config.status = 1; /* VIRTIO_NET_S_LINK_UP */
	op->in.dev_add.config.mtu = RTE_ETHER_MTU;
	op->in.dev_add.config.max_vq_pairs = vp->nb_qp;
	rc = call(op);
	if (rc < 0) {
		APP_LOG(ERR, "%s: engine refused the device: %s", vp->path, strerror(-rc));
		return rc;
	}
	port->dev = (uint16_t)rc;
	APP_LOG(INFO, "port %u: vhost-user %s%s, %u queue pair(s), features 0x%" PRIx64
		", protocol features 0x%" PRIx64, port->id, vp->path,
		vp->client ? " (client)" : "", vp->nb_qp, vp->offered, proto);
	return 0;
}

/*
 * A server socket is created owner-only (0600): the umask covers the bind() inside
 * rte_vhost_driver_start(), so the socket never exists with wider rights. With
 * --socket-group it is then given that group and 0660. (umask is per process; the few
 * microseconds it is tighter only make other threads' files more private.)
 */
static int
socket_perms(struct vhost_port *vp)
{
	long gid = app.opts.socket_gid;

	if (gid < 0)
		return 0;
	if (chown(vp->path, (uid_t)-1, (gid_t)gid) != 0 || chmod(vp->path, 0660) != 0) {
		APP_LOG(ERR, "%s: cannot give the socket to group %s: %s", vp->path,
			app.opts.socket_group, strerror(errno));
		return -errno;
	}
	return 0;
}

int
vhost_port_start(struct vhost_port *vp)
{
	return vhost_port_start_fd(vp, -1);
}

int
vhost_port_start_fd(struct vhost_port *vp, int listen_fd)
{
	bool lib_server = !vp->client || strcmp(vp->lib_path, vp->path) != 0;
	mode_t old = 0;
	int rc;

	if (vp->started)
		goto relay; /* librte_vhost runs: the front end's socket came (takeover) */
	if (vhost_health_start() != 0)
		return -EIO;
	if (lib_server)
		old = umask(0177);
	rc = rte_vhost_driver_start(vp->lib_path);
	if (lib_server)
		umask(old);
	if (rc != 0) {
		APP_LOG(ERR, "%s: cannot start vhost-user socket", vp->path);
		return -EIO;
	}
	vp->started = true;
relay:
	if (strcmp(vp->lib_path, vp->path) != 0) {
		/* The relay owns the front end's socket (or waits for it: takeover). */
		if (listen_fd == VHOST_LISTEN_DEFER)
			return 0;
		vp->relay = relay_port_open(vp, vp->path, vp->lib_path, listen_fd, vp->client);
		if (vp->relay == NULL)
			return -EIO;
	}
	return vp->client ? 0 : socket_perms(vp);
}

int
vhost_port_unregister(struct vhost_port *vp, char *err, size_t errlen)
{
	/*
	 * No front end is connected (the caller checked, and new connections are refused
	 * since vp->detaching): unregistering closes the listening socket or stops the
	 * reconnect attempts. If a connection slipped in meanwhile, librte_vhost closes it
	 * here and our destroy callbacks run as at shutdown (V4).
	 */
	relay_port_close(vp->relay, true);
	vp->relay = NULL;
	if (rte_vhost_driver_unregister(vp->lib_path) != 0) {
		snprintf(err, errlen, "%s: librte_vhost refused to unregister the socket",
			 vp->path);
		return -EBUSY;
	}
	if (!vp->client && vp->started && unlink(vp->path) != 0 && errno != ENOENT)
		APP_LOG(WARNING, "%s: cannot remove the socket file: %s", vp->path,
			strerror(errno));
	vp->started = false;
	return 0;
}

void
vhost_port_free(struct app_port *port)
{
	struct vs_op *op;
	int rc;

	op = vs_op_alloc(VS_OP_DEV_DEL, port->dev);
	rc = op != NULL ? app_ctl_call(op) : -ENOMEM;
	if (rc < 0)
		APP_LOG(ERR, "%s: the engine kept device %u: %s", port->vh->path, port->dev,
			strerror(-rc));
	port->dev = VS_DEV_NONE;
	port_free(port);
}

void
vhost_port_stop(struct vhost_port *vp, bool keep_socket)
{
	vhost_health_stop(); /* no check op after the engine has gone */
	relay_port_close(vp->relay, !keep_socket);
	vp->relay = NULL;
	if (rte_vhost_driver_unregister(vp->lib_path) != 0)
		APP_LOG(WARNING, "%s: unregister failed", vp->path);
	vhost_port_purge_held(vp, true);
}
