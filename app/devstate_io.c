/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device state of a vhost port (M1-M3): collect / apply, and the transports (file,
 * SET_DEVICE_STATE_FD pipe served by a worker thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_peek.h>

#include "devstate_io.h"
#include "vhost_dev.h"
#include "vhost_msg_layout.h"
#include "vs_devstate.h"

#define MAX_BLOB (64u << 20)

static void
set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int
op_wait_ms(void)
{
	return (int)app.opts.stop_timeout_ms + 1000;
}

/* ---- collect ---- */

struct held_snapshot {
	struct vhost_port *vp;
	struct vs_held_frame *frames[VS_MAX_VQS];
	uint16_t nb[VS_MAX_VQS];
	unsigned int skipped;
	int rc;
};

static void
snapshot_ring(struct held_snapshot *hs, uint16_t vq, struct rte_ring *r)
{
	void *objs[VS_DEVSTATE_MAX_HELD];
	unsigned int n, i;

	if (r == NULL)
		return;
	/* Peek: the frames stay held (a saved device may still be resumed here). */
	n = rte_ring_dequeue_burst_start(r, objs, RTE_DIM(objs), NULL);
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = objs[i];
		uint32_t len = rte_pktmbuf_pkt_len(m);
		const void *p;
		uint8_t *data;

		if (hs->nb[vq] == VS_DEVSTATE_MAX_HELD || len > VS_DEVSTATE_MAX_FRAME ||
		    (data = malloc(len ? len : 1)) == NULL) {
			hs->skipped++;
			continue;
		}
		p = rte_pktmbuf_read(m, 0, len, data);
		if (p != data)
			memcpy(data, p, len);
		hs->frames[vq][hs->nb[vq]].len = (uint16_t)len;
		hs->frames[vq][hs->nb[vq]].data = data;
		hs->nb[vq]++;
	}
	rte_ring_dequeue_finish(r, 0);
}

/* Control lcore (VS_OP_CALL): nobody else consumes the rings of a quiesced device. */
static int
snapshot_held_fn(struct vs_ctl *ctl, void *arg)
{
	struct held_snapshot *hs = arg;
	struct vhost_port *vp = hs->vp;

	RTE_SET_USED(ctl);
	for (uint16_t q = 0; q < vp->nb_qp; q++) {
		uint16_t vq = 2 * q; /* the guest's receive queue */

		hs->frames[vq] = calloc(VS_DEVSTATE_MAX_HELD, sizeof(struct vs_held_frame));
		if (hs->frames[vq] == NULL)
			return -ENOMEM;
		snapshot_ring(hs, vq, vp->loaded[q]); /* older frames first */
		snapshot_ring(hs, vq, vp->hold[q]);
	}
	return 0;
}

static void
snapshot_free(struct held_snapshot *hs)
{
	for (unsigned int vq = 0; vq < VS_MAX_VQS; vq++) {
		if (hs->frames[vq] == NULL)
			continue;
		for (unsigned int i = 0; i < hs->nb[vq]; i++)
			free((void *)(uintptr_t)hs->frames[vq][i].data);
		free(hs->frames[vq]);
	}
}

static int
ctl_call_fn(int (*fn)(struct vs_ctl *, void *), void *arg)
{
	struct vs_op *op = vs_op_alloc(VS_OP_CALL, 0);
	int rc;

	if (op == NULL)
		return -ENOMEM;
	op->in.call.fn = fn;
	op->in.call.arg = arg;
	rc = vs_ctl_call(app.ctl, op, -1); /* arg lives on our stack: wait for it */
	vs_op_free(op);
	return rc;
}

long
devstate_collect(struct vhost_port *vp, uint8_t **blob, char *err, size_t errlen)
{
	struct held_snapshot hs = { .vp = vp };
	struct vs_dev_info info;
	struct vs_devstate *ds;
	struct port_counters pc;
	long len = -ENOMEM;
	int rc;

	*blob = NULL;
	rc = vs_ctl_dev_info(app.ctl, vp->port->dev, &info, op_wait_ms());
	if (rc < 0) {
		set_err(err, errlen, "device info: %s", strerror(-rc));
		return rc;
	}
	if (!info.quiesced) {
		set_err(err, errlen, "device is running: stop it before saving its state");
		return -EBUSY;
	}
	ds = calloc(1, sizeof(*ds));
	if (ds == NULL)
		return -ENOMEM;
	ds->features = info.features;
	ds->status = info.status_base;
	ds->config = info.config;
	/*
	 * The rings the front end set up: a driver may use fewer pairs than the port
	 * offers, and a ring that does not exist has no position.
	 */
	ds->nb_vqs = RTE_MIN(info.nb_vqs, vhost_port_nb_vrings(vp));
	if (ds->nb_vqs == 0) {
		set_err(err, errlen, "no ring set up (no front end connected?)");
		len = -ENODEV;
		goto out;
	}
	{
		/* Every ring's position in one engine pass: one round trip, not one per ring. */
		struct vs_op *ops[VS_MAX_VQS];
		uint16_t vq, n = 0;
		int bad = 0;

		for (vq = 0; vq < ds->nb_vqs; vq++) {
			ops[vq] = vs_op_alloc(VS_OP_GET_VQ_STATE, vp->port->dev);
			if (ops[vq] == NULL)
				break;
			ops[vq]->vq = vq;
			n++;
		}
		rc = n == ds->nb_vqs ? vs_ctl_submit_bulk(app.ctl, ops, n) : -ENOMEM;
		if (rc < 0) {
			for (vq = 0; vq < n; vq++)
				vs_op_free(ops[vq]);
			set_err(err, errlen, "vq positions: %s", strerror(-rc));
			len = rc;
			goto out;
		}
		for (vq = 0; vq < n; vq++) {
			int r = vs_ctl_wait(ops[vq], op_wait_ms());

			if (r == 0)
				ds->vq[vq].st = ops[vq]->out.vq_state;
			if (r != -ETIMEDOUT)
				vs_op_free(ops[vq]);
			if (r < 0 && bad == 0) {
				set_err(err, errlen, "vq %u position: %s%s", vq, strerror(-r),
					r == -ENODEV ? " (no front end connected, or vq not set up)" :
					"");
				bad = r;
			}
		}
		if (bad < 0) {
			len = bad;
			goto out;
		}
	}
	rc = ctl_call_fn(snapshot_held_fn, &hs);
	if (rc < 0) {
		set_err(err, errlen, "held frames: %s", strerror(-rc));
		len = rc;
		goto out;
	}
	for (uint16_t vq = 0; vq < info.nb_vqs; vq++) {
		if (vq >= ds->nb_vqs) {
			hs.skipped += hs.nb[vq]; /* held for a ring the driver does not have */
			continue;
		}
		ds->vq[vq].nb_held = hs.nb[vq];
		ds->vq[vq].held = hs.frames[vq];
	}
	port_counters_get(vp->port, &pc);
	ds->counters.rx_frames = pc.rx;
	ds->counters.tx_frames = pc.tx;
	ds->counters.held_drops = pc.held_drop;
	ds->counters.stops = info.stops;
	ds->counters.resumes = info.resumes;

	len = vs_devstate_encode(ds, NULL, 0);
	if (len < 0) {
		set_err(err, errlen, "encode: %s", strerror((int)-len));
		goto out;
	}
	*blob = malloc(len);
	if (*blob == NULL) {
		len = -ENOMEM;
		goto out;
	}
	len = vs_devstate_encode(ds, *blob, len);
	if (len < 0) {
		free(*blob);
		*blob = NULL;
		set_err(err, errlen, "encode: %s", strerror((int)-len));
	} else if (hs.skipped > 0) {
		VH_LOG(WARNING, "%s: %u held frames did not fit in the state", vp->path,
		       hs.skipped);
	}
out:
	snapshot_free(&hs);
	free(ds);
	if (len == -ENOMEM)
		set_err(err, errlen, "out of memory");
	return len;
}

/* ---- apply ---- */

/* One frame into a (possibly chained) mbuf. */
static struct rte_mbuf *
mbuf_from_bytes(struct rte_mempool *mp, const uint8_t *data, uint16_t len)
{
	struct rte_mbuf *head = NULL;
	uint16_t off = 0;

	do {
		struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
		uint16_t room, n;
		char *dst;

		if (m == NULL)
			goto fail;
		room = rte_pktmbuf_tailroom(m);
		n = RTE_MIN(room, (uint16_t)(len - off));
		dst = rte_pktmbuf_append(m, n);
		memcpy(dst, data + off, n);
		off += n;
		if (head == NULL) {
			head = m;
		} else if (rte_pktmbuf_chain(head, m) != 0) {
			rte_pktmbuf_free(m);
			goto fail;
		}
	} while (off < len);
	return head;
fail:
	rte_pktmbuf_free(head);
	return NULL;
}

struct load_job {
	struct vhost_port *vp;
	struct rte_mbuf **mbufs[VS_MAX_VQS];
	uint16_t nb[VS_MAX_VQS];
	struct vs_devstate_counters counters;
};

/* Control lcore (VS_OP_CALL): the only producer of the loaded rings. */
static int
push_loaded_fn(struct vs_ctl *ctl, void *arg)
{
	struct load_job *j = arg;
	struct vhost_port *vp = j->vp;
	struct port_counters now;

	RTE_SET_USED(ctl);
	for (uint16_t q = 0; q < vp->nb_qp; q++) {
		uint16_t vq = 2 * q;
		unsigned int n;

		if (j->nb[vq] == 0)
			continue;
		n = rte_ring_sp_enqueue_burst(vp->loaded[q], (void **)j->mbufs[vq], j->nb[vq],
					      NULL);
		if (n < j->nb[vq])
			rte_pktmbuf_free_bulk(&j->mbufs[vq][n], j->nb[vq] - n);
		vp->hs[q].loaded += n;
		vp->hs[q].dropped += j->nb[vq] - n;
		j->nb[vq] = 0;
	}
	/*
	 * The blob carries the device's totals, which already include whatever this port
	 * counted before the device last left it (ping-pong A -> B -> A): the totals are
	 * set, not added. base = carried - what this port counted itself, so that
	 * base + local = carried now and keeps counting from there (wrapping arithmetic).
	 */
	port_counters_get(vp->port, &now);
	vp->base_rx = j->counters.rx_frames - (now.rx - vp->base_rx);
	vp->base_tx = j->counters.tx_frames - (now.tx - vp->base_tx);
	vp->base_held_drops = j->counters.held_drops - (now.held_drop - vp->base_held_drops);
	return 0;
}

static void
load_job_free(struct load_job *j)
{
	for (unsigned int vq = 0; vq < VS_MAX_VQS; vq++) {
		if (j->mbufs[vq] == NULL)
			continue;
		rte_pktmbuf_free_bulk(j->mbufs[vq], j->nb[vq]);
		free(j->mbufs[vq]);
	}
}

int
devstate_apply(struct vhost_port *vp, const uint8_t *blob, size_t len, char *err,
	       size_t errlen)
{
	unsigned int max_frames = VS_DEVSTATE_MAX_HELD * 2 * vp->nb_qp;
	struct load_job job = { .vp = vp };
	struct vs_held_frame *frames = NULL;
	struct vs_dev_info info;
	struct vs_devstate *ds;
	struct vs_op *op;
	int rc;

	ds = calloc(1, sizeof(*ds));
	frames = calloc(max_frames, sizeof(*frames));
	if (ds == NULL || frames == NULL) {
		rc = -ENOMEM;
		set_err(err, errlen, "out of memory");
		goto out;
	}
	/* M3: everything is checked before anything changes. */
	rc = vs_devstate_decode(blob, len, ds, frames, max_frames, err, errlen);
	if (rc < 0)
		goto out;
	rc = vs_ctl_dev_info(app.ctl, vp->port->dev, &info, op_wait_ms());
	if (rc < 0) {
		set_err(err, errlen, "device info: %s", strerror(-rc));
		goto out;
	}
	rc = vs_devstate_compatible(ds, vp->offered, info.features, err, errlen);
	if (rc < 0)
		goto out;
	rc = -EINVAL;
	if (ds->nb_vqs > info.nb_vqs) {
		set_err(err, errlen, "state has %u virtqueues, this device %u", ds->nb_vqs,
			info.nb_vqs);
		goto out;
	}
	for (uint16_t vq = 0; vq < ds->nb_vqs; vq++) {
		if (ds->vq[vq].nb_held > 0 && (vq & 1)) {
			set_err(err, errlen, "held frames for vq %u, which is not a receive queue",
				vq);
			goto out;
		}
		if (ds->vq[vq].nb_held > rte_ring_free_count(vp->loaded[vq / 2])) {
			set_err(err, errlen, "vq %u: %u held frames, room for %u", vq,
				ds->vq[vq].nb_held, rte_ring_free_count(vp->loaded[vq / 2]));
			goto out;
		}
	}
	if (!info.quiesced) {
		rc = -EBUSY;
		set_err(err, errlen, "device is running: stop it before loading a state");
		goto out;
	}
	for (uint16_t vq = 0; vq < ds->nb_vqs; vq++) {
		uint16_t n = ds->vq[vq].nb_held;

		if (n == 0)
			continue;
		job.mbufs[vq] = calloc(n, sizeof(struct rte_mbuf *));
		if (job.mbufs[vq] == NULL)
			goto nomem;
		for (uint16_t i = 0; i < n; i++) {
			const struct vs_held_frame *f = &ds->vq[vq].held[i];

			job.mbufs[vq][i] = mbuf_from_bytes(app.pool, f->data, f->len);
			if (job.mbufs[vq][i] == NULL)
				goto nomem;
			job.nb[vq]++;
		}
	}
	job.counters = ds->counters;

	/*
	 * Validated: apply. Positions first (the engine refuses them on a live device).
	 * A device that has not started yet (no new_device: the state comes before the
	 * ring setup or before DRIVER_OK, QEMU's order) keeps them until it starts.
	 */
	if (!info.attached) {
		struct vs_vq_state pos[VS_MAX_VQS];

		for (uint16_t vq = 0; vq < ds->nb_vqs; vq++)
			pos[vq] = ds->vq[vq].st;
		vhost_port_set_load_pos(vp, pos, ds->nb_vqs, ds->features);
	}
	for (uint16_t vq = 0; info.attached && vq < ds->nb_vqs; vq++) {
		if (vq >= vhost_port_nb_vrings(vp)) {
			VH_LOG(INFO, "%s: loaded position of vq %u ignored: the driver did not set "
			       "that ring up", vp->path, vq);
			continue;
		}
		op = vs_op_alloc(VS_OP_SET_VQ_STATE, vp->port->dev);
		if (op == NULL)
			goto nomem;
		op->vq = vq;
		op->in.vq_state = ds->vq[vq].st;
		rc = vs_ctl_call(app.ctl, op, op_wait_ms());
		if (rc != -ETIMEDOUT)
			vs_op_free(op);
		if (rc < 0) {
			set_err(err, errlen, "vq %u position: %s", vq, strerror(-rc));
			if (vq > 0)
				VH_LOG(ERR, "%s: state load failed after %u vq positions were set",
				       vp->path, vq);
			goto out;
		}
	}
	op = vs_op_alloc(VS_OP_SET_CONFIG, vp->port->dev);
	if (op == NULL)
		goto nomem;
	op->in.config = ds->config;
	rc = vs_ctl_call(app.ctl, op, op_wait_ms());
	if (rc != -ETIMEDOUT)
		vs_op_free(op);
	if (rc == 0)
		rc = ctl_call_fn(push_loaded_fn, &job);
	if (rc < 0)
		set_err(err, errlen, "apply: %s", strerror(-rc));
	goto out;
nomem:
	rc = -ENOMEM;
	set_err(err, errlen, "out of memory (mbufs for held frames)");
out:
	load_job_free(&job);
	free(frames);
	free(ds);
	return rc;
}

/* ---- transports ---- */

static int
write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

static long
read_all(int fd, uint8_t **out)
{
	size_t cap = 65536, len = 0;
	uint8_t *buf = malloc(cap);

	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			uint8_t *nb;

			if (cap >= MAX_BLOB) {
				free(buf);
				return -EFBIG;
			}
			cap *= 2;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return -errno;
		}
		if (n == 0)
			break;
		len += n;
	}
	*out = buf;
	return (long)len;
}

static int
save_fd(struct vhost_port *vp, int fd, char *err, size_t errlen)
{
	uint8_t *blob;
	long len = devstate_collect(vp, &blob, err, errlen);
	int rc;

	if (len < 0)
		return (int)len;
	rc = write_all(fd, blob, len);
	free(blob);
	if (rc < 0)
		set_err(err, errlen, "write: %s", strerror(-rc));
	else
		VH_LOG(INFO, "%s: device state saved, %ld bytes", vp->path, len);
	return rc;
}

static int
load_fd(struct vhost_port *vp, int fd, char *err, size_t errlen)
{
	uint8_t *blob = NULL;
	long len = read_all(fd, &blob);
	int rc;

	if (len < 0) {
		set_err(err, errlen, "read: %s", strerror((int)-len));
		return (int)len;
	}
	rc = devstate_apply(vp, blob, len, err, errlen);
	free(blob);
	if (rc == 0)
		VH_LOG(INFO, "%s: device state loaded, %ld bytes", vp->path, len);
	return rc;
}

int
devstate_save_file(struct vhost_port *vp, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc;

	if (fd < 0) {
		set_err(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	rc = save_fd(vp, fd, err, errlen);
	if (close(fd) != 0 && rc == 0) {
		rc = -errno;
		set_err(err, errlen, "%s: %s", path, strerror(errno));
	}
	return rc;
}

int
devstate_load_file(struct vhost_port *vp, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0) {
		set_err(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	rc = load_fd(vp, fd, err, errlen);
	close(fd);
	return rc;
}

/* The worker: the pipe may be slow or full; the vhost-events thread must not wait on it. */
static void *
xfer_worker(void *arg)
{
	struct vhost_port *vp = arg;
	struct devstate_xfer *x = &vp->xfer;
	char err[sizeof(x->err)] = "";
	int rc;

	if (x->dir == VHU_STATE_DIR_SAVE)
		rc = save_fd(vp, x->fd, err, sizeof(err));
	else
		rc = load_fd(vp, x->fd, err, sizeof(err));
	close(x->fd);
	if (rc < 0)
		VH_LOG(ERR, "%s: device state %s failed: %s", vp->path,
		       x->dir == VHU_STATE_DIR_SAVE ? "save" : "load", err);
	pthread_mutex_lock(&x->lock);
	x->result = rc;
	snprintf(x->err, sizeof(x->err), "%s", err);
	x->done = true;
	x->busy = false;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

uint64_t
devstate_xfer_start(struct vhost_port *vp, uint32_t dir, uint32_t phase, int fd)
{
	struct devstate_xfer *x = &vp->xfer;
	pthread_attr_t attr;
	pthread_t thr;
	int rc;

	if (dir > VHU_STATE_DIR_LOAD || phase != VHU_STATE_PHASE_STOPPED) {
		VH_LOG(ERR, "%s: SET_DEVICE_STATE_FD: direction %u phase %u not supported",
		       vp->path, dir, phase);
		close(fd);
		return 1 | VHU_STATE_REPLY_NO_FD;
	}
	pthread_mutex_lock(&x->lock);
	if (x->busy) {
		pthread_mutex_unlock(&x->lock);
		VH_LOG(ERR, "%s: SET_DEVICE_STATE_FD: a transfer is under way", vp->path);
		close(fd);
		return 1 | VHU_STATE_REPLY_NO_FD;
	}
	x->busy = true;
	x->done = false;
	x->dir = (int)dir;
	x->fd = fd;
	x->err[0] = '\0';
	VH_LOG(INFO, "%s: device state %s started", vp->path,
	       dir == VHU_STATE_DIR_SAVE ? "save" : "load");
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&thr, &attr, xfer_worker, vp);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		x->busy = false;
		pthread_mutex_unlock(&x->lock);
		close(fd);
		return 1 | VHU_STATE_REPLY_NO_FD;
	}
	pthread_mutex_unlock(&x->lock);
	return VHU_STATE_REPLY_NO_FD;
}

int
devstate_xfer_check(struct vhost_port *vp)
{
	struct devstate_xfer *x = &vp->xfer;
	unsigned int wait = app.opts.stop_timeout_ms + 2000;
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += wait / 1000;
	ts.tv_nsec += (long)(wait % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&x->lock);
	if (!x->busy && !x->done) {
		pthread_mutex_unlock(&x->lock);
		VH_LOG(ERR, "%s: CHECK_DEVICE_STATE without a transfer", vp->path);
		return -EINVAL;
	}
	while (x->busy && rc == 0)
		rc = pthread_cond_timedwait(&x->cond, &x->lock, &ts);
	if (x->busy) {
		pthread_mutex_unlock(&x->lock);
		VH_LOG(ERR, "%s: CHECK_DEVICE_STATE: transfer not finished after %u ms",
		       vp->path, wait);
		return -ETIMEDOUT;
	}
	rc = x->result;
	x->done = false;
	pthread_mutex_unlock(&x->lock);
	return rc;
}

void
devstate_xfer_abort(struct vhost_port *vp)
{
	pthread_mutex_lock(&vp->xfer.lock);
	vp->xfer.done = false;
	pthread_mutex_unlock(&vp->xfer.lock);
}
