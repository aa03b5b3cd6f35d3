/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Runtime ports: "port attach vhost <PATH>[,client][,queues=N]" and "port detach <port>"
 * (testpmd's words). Run on the console or control socket thread, under the command lock.
 *
 * Neither touches the other ports: the port table changes under app.ports_lock (taken
 * only by control-plane threads: librte_vhost's callbacks look ports up by path), and
 * everything the fast path sees changes through the engine as for any stop: streams are
 * added (no epoch needed) or deleted (one epoch; the polling lcores never wait).
 *
 * Port ids follow testpmd (rte_eth_dev_allocate): a new port takes the lowest free id,
 * so the id of a detached port is reused by the next attach.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd/app_query.h"
#include "vhost_dev.h"
#include "vstop.h"

static void
table_set(struct app_port *p, bool used)
{
	pthread_rwlock_wrlock(&app.ports_lock);
	__atomic_store_n(&p->used, used, __ATOMIC_RELEASE);
	if (used && p->id >= app.nb_ports)
		__atomic_store_n(&app.nb_ports, p->id + 1u, __ATOMIC_RELEASE);
	while (!used && app.nb_ports > 0 && !app.ports[app.nb_ports - 1].used)
		__atomic_store_n(&app.nb_ports, app.nb_ports - 1, __ATOMIC_RELEASE);
	pthread_rwlock_unlock(&app.ports_lock);
}

/* "PATH[,client][,queues=N]" -> @p o. @return 0 or -EINVAL with @p err filled. */
static int
spec_parse(const char *spec, struct opt_vhost *o, char *err, size_t errlen)
{
	char buf[OPT_PATH_MAX + 64], *save = NULL, *tok;
	size_t plen = strcspn(spec, ",");

	memset(o, 0, sizeof(*o));
	o->queues = 1;
	if (plen == 0) {
		snprintf(err, errlen, "no socket path: expected PATH[,client][,queues=N]");
		return -EINVAL;
	}
	if (plen >= OPT_PATH_MAX) {
		snprintf(err, errlen, "socket path too long (%zu bytes, at most %d)", plen,
			 OPT_PATH_MAX - 1);
		return -EINVAL;
	}
	if (strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen, "port specification too long");
		return -EINVAL;
	}
	memcpy(o->path, spec, plen);
	o->path[plen] = '\0';
	snprintf(buf, sizeof(buf), "%s", spec + plen);
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "client") == 0) {
			o->client = true;
		} else if (strncmp(tok, "queues=", 7) == 0) {
			char *end;
			unsigned long q = strtoul(tok + 7, &end, 10);

			if (tok[7] < '0' || tok[7] > '9' || *end != '\0' || q == 0 ||
			    q > OPT_MAX_QUEUES) {
				snprintf(err, errlen, "bad '%s': queues=1..%d", tok, OPT_MAX_QUEUES);
				return -EINVAL;
			}
			o->queues = (uint16_t)q;
		} else {
			snprintf(err, errlen, "unknown option '%s': expected client or queues=N", tok);
			return -EINVAL;
		}
	}
	return 0;
}

int
port_attach_vhost(const char *spec, char *err, size_t errlen)
{
	struct opt_vhost o;
	struct app_port *p = NULL;
	unsigned int nb_vhost = 0, id;
	struct stat st;
	int rc;

	rc = spec_parse(spec, &o, err, errlen);
	if (rc < 0)
		return rc;
	for (id = 0; id < app.nb_ports; id++) {
		const struct app_port *q = app_port_get(id);

		if (q == NULL || q->kind != PORT_VHOST)
			continue;
		nb_vhost++;
		if (q->vh != NULL && strcmp(q->vh->path, o.path) == 0) {
			snprintf(err, errlen, "%s is in use by port %u", o.path, id);
			return -EADDRINUSE;
		}
	}
	if (nb_vhost >= OPT_MAX_VHOST) {
		snprintf(err, errlen, "already %u vhost-user ports, at most %d", nb_vhost,
			 OPT_MAX_VHOST);
		return -ENOSPC;
	}
	if (!o.client && lstat(o.path, &st) == 0) {
		snprintf(err, errlen, "%s exists (another process's socket, or one left "
			 "behind): remove it first", o.path);
		return -EEXIST;
	}
	/* testpmd's habit: the lowest free id. */
	for (id = 0; id < VSTOP_MAX_PORTS; id++)
		if (!app.ports[id].used)
			break;
	if (id == VSTOP_MAX_PORTS) {
		snprintf(err, errlen, "no free port id (at most %d ports)", VSTOP_MAX_PORTS);
		return -ENOSPC;
	}
	p = &app.ports[id];
	memset(p, 0, sizeof(*p));
	p->id = (uint16_t)id;
	p->kind = PORT_VHOST;
	p->nb_queues = o.queues;
	p->dev = VS_DEV_NONE;
	port_mac_default(p);
	rc = vhost_port_create(p, &o, app_ctl_call);
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot create the port: %s", o.path, strerror(-rc));
		return rc;
	}
	table_set(p, true);
	rc = aq_fwd_port_added(p->id, err, errlen);
	if (rc == 0) {
		rc = vhost_port_start(p->vh);
		if (rc < 0)
			snprintf(err, errlen, "%s: cannot start the socket: %s", o.path,
				 strerror(-rc));
	}
	if (rc < 0) {
		char e2[128];

		aq_fwd_port_removed(p->id);
		p->vh->detaching = true;
		vhost_port_unregister(p->vh, e2, sizeof(e2));
		table_set(p, false); /* before the free: lookups by path read p->vh */
		vhost_port_free(p);
		return rc;
	}
	APP_LOG(INFO, "port %u attached: vhost-user %s%s, %u queue pair(s)", p->id, o.path,
		o.client ? " (client)" : "", o.queues);
	return p->id;
}

int
port_detach(uint16_t id, char *err, size_t errlen)
{
	struct app_port *p = app_port_get(id);
	struct vhost_port *vp;
	char path[OPT_PATH_MAX];
	int rc, vid;

	if (p == NULL) {
		snprintf(err, errlen, "invalid port %u: no such port", id);
		return -ENODEV;
	}
	if (p->kind != PORT_VHOST) {
		snprintf(err, errlen, "port %u (%s) is an ethdev: only vhost-user ports can be "
			 "detached", id, p->name);
		return -EINVAL;
	}
	vp = p->vh;
	pthread_mutex_lock(&vp->conn_lock);
	vid = vp->connected ? vp->vid : vp->pending_vid;
	if (vid < 0)
		vp->detaching = true; /* from now on a connection is refused */
	pthread_mutex_unlock(&vp->conn_lock);
	if (vid >= 0) {
		/*
		 * Our choice: a port with a front end is not pulled from under it (a running
		 * guest would lose its NIC; a stopped one, its state). Disconnect it first;
		 * save a stopped device's state before if it is to move.
		 */
		snprintf(err, errlen, "port %u: a front end is connected (vid %d): detach "
			 "refused, nothing changed; disconnect it first (save a stopped "
			 "device's state with 'device save' before)", id, vid);
		return -EBUSY;
	}
	rc = vhost_port_unregister(vp, err, errlen);
	if (rc < 0) {
		vp->detaching = false;
		return rc;
	}
	rc = aq_fwd_port_removed(id);
	if (rc < 0) {
		/* Only if the engine did not answer: the socket is gone, the port stays. */
		snprintf(err, errlen, "port %u: socket closed, but its streams could not be "
			 "removed: %s", id, strerror(-rc));
		return rc;
	}
	snprintf(path, sizeof(path), "%s", vp->path);
	table_set(p, false);
	vhost_port_free(p);
	APP_LOG(INFO, "port %u detached: %s", id, path);
	return 0;
}
