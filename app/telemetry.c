/* SPDX-License-Identifier: BSD-3-Clause */
/* rte_telemetry endpoints /vstop/ports and /vstop/port. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_telemetry.h>

#include "cmd/app_query.h"
#include "cmd/cmd.h"
#include "telemetry.h"
#include "vhost_dev.h"
#include "vs_status.h"

#define TEL_TIMEOUT_MS 1000

static int
tel_ports_locked(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct rte_tel_data *ids, *names, *kinds, *status, *stops, *resumes;
	char buf[RTE_TEL_MAX_STRING_LEN];

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	ids = rte_tel_data_alloc();
	names = rte_tel_data_alloc();
	kinds = rte_tel_data_alloc();
	status = rte_tel_data_alloc();
	stops = rte_tel_data_alloc();
	resumes = rte_tel_data_alloc();
	if (ids == NULL || names == NULL || kinds == NULL || status == NULL || stops == NULL ||
	    resumes == NULL) {
		rte_tel_data_free(ids);
		rte_tel_data_free(names);
		rte_tel_data_free(kinds);
		rte_tel_data_free(status);
		rte_tel_data_free(stops);
		rte_tel_data_free(resumes);
		return -ENOMEM;
	}
	rte_tel_data_start_array(ids, RTE_TEL_INT_VAL);
	rte_tel_data_start_array(names, RTE_TEL_STRING_VAL);
	rte_tel_data_start_array(kinds, RTE_TEL_STRING_VAL);
	rte_tel_data_start_array(status, RTE_TEL_STRING_VAL);
	rte_tel_data_start_array(stops, RTE_TEL_U64_VAL);
	rte_tel_data_start_array(resumes, RTE_TEL_U64_VAL);
	for (uint16_t i = 0; i < aq_nb_ports(); i++) {
		const struct app_port *p = aq_port(i);
		struct vs_dev_info info;
		bool vh, have;

		if (p == NULL)
			continue;
		vh = p->kind == PORT_VHOST;
		have = vh && vs_ctl_dev_info(app.ctl, p->dev, &info, TEL_TIMEOUT_MS) == 0;

		rte_tel_data_add_array_int(ids, i);
		rte_tel_data_add_array_string(names, p->name);
		rte_tel_data_add_array_string(kinds, vh ? "vhost" : "ethdev");
		rte_tel_data_add_array_string(status, have ?
			vs_status_format(info.status_shown, buf, sizeof(buf)) : "");
		rte_tel_data_add_array_u64(stops, have ? info.stops : 0);
		rte_tel_data_add_array_u64(resumes, have ? info.resumes : 0);
	}
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_int(d, "nb_ports", (int)aq_nb_ports_used());
	rte_tel_data_add_dict_container(d, "ids", ids, 0);
	rte_tel_data_add_dict_container(d, "names", names, 0);
	rte_tel_data_add_dict_container(d, "kinds", kinds, 0);
	rte_tel_data_add_dict_container(d, "status", status, 0);
	rte_tel_data_add_dict_container(d, "stops", stops, 0);
	rte_tel_data_add_dict_container(d, "resumes", resumes, 0);
	return 0;
}

/* Per-queue counters: one u64 array per counter, indexed by queue pair. */
static void
add_queue_arrays(struct rte_tel_data *d, uint16_t port)
{
	static const char *const names[] = {
		"rxq_rx", "txq_tx", "txq_drop", "txq_held", "txq_held_drop",
		"q_delivered", "q_held_dropped", "q_loaded", "q_held_now",
	};
	struct rte_tel_data *a[RTE_DIM(names)];
	const struct app_port *p = aq_port(port);
	unsigned int k;

	for (k = 0; k < RTE_DIM(names); k++) {
		a[k] = rte_tel_data_alloc();
		if (a[k] == NULL)
			break;
		rte_tel_data_start_array(a[k], RTE_TEL_U64_VAL);
	}
	if (k < RTE_DIM(names)) {
		while (k-- > 0)
			rte_tel_data_free(a[k]);
		return;
	}
	for (uint16_t q = 0; q < p->nb_queues; q++) {
		struct aq_queue_stats s;

		if (aq_queue_stats(port, q, false, &s) != 0)
			memset(&s, 0, sizeof(s));
		rte_tel_data_add_array_u64(a[0], s.rx);
		rte_tel_data_add_array_u64(a[1], s.tx);
		rte_tel_data_add_array_u64(a[2], s.drop);
		rte_tel_data_add_array_u64(a[3], s.held);
		rte_tel_data_add_array_u64(a[4], s.held_drop);
		rte_tel_data_add_array_u64(a[5], s.delivered);
		rte_tel_data_add_array_u64(a[6], s.held_dropped);
		rte_tel_data_add_array_u64(a[7], s.loaded);
		rte_tel_data_add_array_u64(a[8], s.held_now);
	}
	for (k = 0; k < RTE_DIM(names); k++)
		if (rte_tel_data_add_dict_container(d, names[k], a[k], 0) != 0)
			rte_tel_data_free(a[k]);
}

static int
tel_port_locked(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct app_port *p;
	struct port_counters pc;
	struct vs_dev_info info;
	struct rte_tel_data *hist;
	char buf[RTE_TEL_MAX_STRING_LEN], *end;
	unsigned long id;
	int rc;

	RTE_SET_USED(cmd);
	if (params == NULL || params[0] < '0' || params[0] > '9')
		return -EINVAL;
	errno = 0;
	id = strtoul(params, &end, 10);
	if (errno != 0 || (*end != '\0' && *end != ' ') || id >= aq_nb_ports())
		return -EINVAL;
	p = aq_port((uint16_t)id);
	if (p == NULL)
		return -EINVAL;

	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_int(d, "port", (int)id);
	rte_tel_data_add_dict_string(d, "name", p->name);
	rte_tel_data_add_dict_string(d, "kind", p->kind == PORT_VHOST ? "vhost" : "ethdev");
	rte_tel_data_add_dict_int(d, "queues", p->nb_queues);
	aq_port_stats((uint16_t)id, false, &pc);
	rte_tel_data_add_dict_u64(d, "rx", pc.rx);
	rte_tel_data_add_dict_u64(d, "tx", pc.tx);
	rte_tel_data_add_dict_u64(d, "drop", pc.drop);
	rte_tel_data_add_dict_u64(d, "held", pc.held);
	rte_tel_data_add_dict_u64(d, "held_drop", pc.held_drop);
	add_queue_arrays(d, (uint16_t)id);
	if (p->kind != PORT_VHOST)
		return 0;

	rte_tel_data_add_dict_int(d, "connected", p->vh->connected);
	rte_tel_data_add_dict_u64(d, "frames_held", aq_frames_held((uint16_t)id));
	rc = vs_ctl_dev_info(app.ctl, p->dev, &info, TEL_TIMEOUT_MS);
	if (rc < 0) {
		rte_tel_data_add_dict_string(d, "error", strerror(-rc));
		return 0;
	}
	rte_tel_data_add_dict_int(d, "status", info.status_shown);
	rte_tel_data_add_dict_string(d, "status_names",
				     vs_status_format(info.status_shown, buf, sizeof(buf)));
	rte_tel_data_add_dict_string(d, "state", cmd_run_state_name(info.run_state));
	rte_tel_data_add_dict_string(d, "stop_kind", cmd_stop_kind_name(info.stop_kind));
	rte_tel_data_add_dict_int(d, "attached", info.attached);
	rte_tel_data_add_dict_u64(d, "features", info.features);
	rte_tel_data_add_dict_string(d, "link", (info.config.status & 1) ? "up" : "down");
	rte_tel_data_add_dict_int(d, "config_change_pending", info.config_pending);
	rte_tel_data_add_dict_u64(d, "stops", info.stops);
	rte_tel_data_add_dict_u64(d, "resumes", info.resumes);
	rte_tel_data_add_dict_u64(d, "cancels", info.cancels);
	rte_tel_data_add_dict_u64(d, "merged", info.merged);
	rte_tel_data_add_dict_u64(d, "resets", info.resets);
	rte_tel_data_add_dict_u64(d, "deadline_misses", info.deadline_misses);
	rte_tel_data_add_dict_u64(d, "refused_writes", info.refused);
	rte_tel_data_add_dict_u64(d, "last_stop_ns", info.last_stop_ns);
	rte_tel_data_add_dict_u64(d, "last_stop_iters", info.last_stop_iters);
	rte_tel_data_add_dict_u64(d, "last_stop_iters_fastest", info.last_stop_iters_max);
	hist = rte_tel_data_alloc();
	if (hist != NULL) {
		rte_tel_data_start_array(hist, RTE_TEL_U64_VAL);
		for (unsigned int i = 0; i < RTE_DIM(info.stop_hist); i++)
			rte_tel_data_add_array_u64(hist, info.stop_hist[i]);
		if (rte_tel_data_add_dict_container(d, "stop_latency_hist", hist, 0) != 0)
			rte_tel_data_free(hist);
	}
	/* the histogram's bucket bounds, as one string (arrays hold one type) */
	rte_tel_data_add_dict_string(d, "stop_latency_hist_buckets",
				     "<10us,<100us,<1ms,<10ms,<100ms,<1s,<10s,>=10s");
	return 0;
}

/* The port table may change (runtime attach / detach): read it under the command lock. */
static int
tel_ports(const char *cmd, const char *params, struct rte_tel_data *d)
{
	int rc;

	cmd_lock_take();
	rc = tel_ports_locked(cmd, params, d);
	cmd_lock_give();
	return rc;
}

static int
tel_port(const char *cmd, const char *params, struct rte_tel_data *d)
{
	int rc;

	cmd_lock_take();
	rc = tel_port_locked(cmd, params, d);
	cmd_lock_give();
	return rc;
}

/* The engine's counters (E1): epochs, passes, ops, the last stop batch. */
static int
tel_engine(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct vs_engine_stats st;

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	vs_ctl_engine_stats(app.ctl, &st);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "devices", vs_ctl_nb_devs(app.ctl));
	rte_tel_data_add_dict_u64(d, "epochs", st.epochs);
	rte_tel_data_add_dict_u64(d, "passes", st.passes);
	rte_tel_data_add_dict_u64(d, "ops", st.ops);
	rte_tel_data_add_dict_u64(d, "stop_batches", st.batches);
	rte_tel_data_add_dict_u64(d, "last_batch_stops", st.last_batch_stops);
	rte_tel_data_add_dict_u64(d, "last_batch_ns", st.last_batch_ns);
	rte_tel_data_add_dict_u64(d, "last_batch_epochs", st.last_batch_epochs);
	rte_tel_data_add_dict_u64(d, "max_batch_stops", st.max_batch_stops);
	return 0;
}

int
vstop_telemetry_register(void)
{
	int rc;

	rc = rte_telemetry_register_cmd("/vstop/ports", tel_ports,
		"Every port: ids, names, kinds, decoded status, stops, resumes. No parameters");
	if (rc == 0)
		rc = rte_telemetry_register_cmd("/vstop/port", tel_port,
			"One port: status, stop state, stop latency and histogram, counters, "
			"per-queue counters. Parameters: int port_id");
	if (rc == 0)
		rc = rte_telemetry_register_cmd("/vstop/engine", tel_engine,
			"The stop engine: devices, epoch barriers started, passes, ops, last stop "
			"batch (stops, engine ns, epochs). No parameters");
	if (rc != 0)
		APP_LOG(WARNING, "telemetry endpoints not registered: %s", strerror(-rc));
	return rc;
}
