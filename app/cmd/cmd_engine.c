/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Many devices at once (E1): device stop|suspend|resume all, and the engine's own
 * counters (show engine). "all" posts one op per vhost device in one bulk
 * (vs_ctl_submit_bulk): the control lcore runs them in one pass, under one epoch barrier.
 */
#include "../relay.h"
#include "../takeover.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app_query.h"
#include "cmd.h"
#include "vhost_dev.h"

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void
engine_members(struct cmd_out *o, const struct vs_engine_stats *st)
{
	out_u64(o, "epochs", st->epochs);
	out_u64(o, "passes", st->passes);
	out_u64(o, "ops", st->ops);
	out_u64(o, "stop_batches", st->batches);
	out_u64(o, "last_batch_stops", st->last_batch_stops);
	out_double(o, "last_batch_us", (double)st->last_batch_ns / 1000.0, 3);
	out_u64(o, "last_batch_ns", st->last_batch_ns);
	out_u64(o, "last_batch_epochs", st->last_batch_epochs);
	out_u64(o, "max_batch_stops", st->max_batch_stops);
}

static int
show_engine(struct cmd_out *o, int argc, char **argv)
{
	struct vs_engine_stats st;

	RTE_SET_USED(argc);
	RTE_SET_USED(argv);
	vs_ctl_engine_stats(app.ctl, &st);
	out_u64(o, "devices", vs_ctl_nb_devs(app.ctl));
	out_u64(o, "max_devices", VS_MAX_DEVS);
	out_u64(o, "polling_lcores", aq_nb_lcores());
	engine_members(o, &st);
	return 0;
}

static const char *
all_error(int rc)
{
	switch (rc) {
	case -EINVAL:
		return "no driver running (DRIVER_OK not set)";
	case -EBUSY:
		return "a stop of the other kind is under way or done";
	case -ETIMEDOUT:
		return "not complete within the stop deadline (R11)";
	case -ECANCELED:
		return "cancelled (a reset or another request came first)";
	default:
		return strerror(-rc);
	}
}

int
cmd_device_all(struct cmd_out *o, const char *what, unsigned int type)
{
	unsigned int n = 0, nb = aq_nb_ports(), done = 0, skipped = 0, failed = 0;
	struct vs_engine_stats st0, st1;
	struct vs_op **ops;
	uint16_t *port;
	uint64_t t0, t1, deadline;
	int rc;

	ops = calloc(nb ? nb : 1, sizeof(*ops));
	port = calloc(nb ? nb : 1, sizeof(*port));
	if (ops == NULL || port == NULL) {
		free(ops);
		free(port);
		return cmd_err(o, "out of memory");
	}
	for (uint16_t i = 0; i < nb; i++) {
		if (!aq_port_is_vhost(i))
			continue;
		ops[n] = vs_op_alloc(type, aq_port(i)->dev);
		if (ops[n] == NULL)
			break;
		port[n++] = i;
	}
	APP_LOG(INFO, "command: device %s all (%u devices)", what, n);
	vs_ctl_engine_stats(app.ctl, &st0);
	t0 = mono_ns();
	rc = vs_ctl_submit_bulk(app.ctl, ops, n);
	if (rc < 0) {
		for (unsigned int i = 0; i < n; i++)
			vs_op_free(ops[i]);
		free(ops);
		free(port);
		return cmd_err(o, "device %s all: cannot post %u ops: %s", what, n,
			       strerror(-rc));
	}
	deadline = t0 + (uint64_t)aq_op_timeout_ms() * 1000000ull;
	out_arr_begin(o, "failed");
	for (unsigned int i = 0; i < n; i++) {
		uint64_t now = mono_ns();
		int left = now >= deadline ? 0 : (int)((deadline - now) / 1000000) + 1;
		int r = vs_ctl_wait(ops[i], left);

		if (r != -ETIMEDOUT)
			vs_op_free(ops[i]);
		if (r == 0) {
			done++;
			continue;
		}
		if (r == -EINVAL) { /* nothing to stop or resume: no driver */
			skipped++;
			continue;
		}
		failed++;
		out_obj_begin(o, NULL);
		out_u64(o, "port", port[i]);
		out_str(o, "error", "%s", all_error(r));
		out_obj_end(o);
	}
	t1 = mono_ns();
	out_arr_end(o);
	vs_ctl_engine_stats(app.ctl, &st1);
	free(ops);
	free(port);
	out_str(o, "op", "%s", what);
	out_u64(o, "devices", n);
	out_u64(o, "done", done);
	out_u64(o, "skipped_no_driver", skipped);
	out_u64(o, "failed_count", failed);
	out_double(o, "wall_us", (double)(t1 - t0) / 1000.0, 3);
	/* Epoch tokens the engine started while the command ran (E1: 1 for a stop). */
	out_u64(o, "epochs", st1.epochs - st0.epochs);
	out_u64(o, "passes", st1.passes - st0.passes);
	if (type != VS_OP_RESUME && st1.batches != st0.batches) {
		out_u64(o, "engine_batch_stops", st1.last_batch_stops);
		out_double(o, "engine_batch_us", (double)st1.last_batch_ns / 1000.0, 3);
		out_u64(o, "engine_batch_epochs", st1.last_batch_epochs);
	}
	if (failed > 0)
		return cmd_err(o, "device %s all: %u of %u devices failed (see 'failed')", what,
			       failed, n);
	return 0;
}

/* Live upgrade (takeover.c) and the relay it rests on (relay.c). */
static int
show_takeover(struct cmd_out *o, int argc, char **argv)
{
	struct relay_stats rs;

	RTE_SET_USED(argc);
	RTE_SET_USED(argv);
	relay_stats_get(&rs);
	out_str(o, "takeover", "%s", takeover_status());
	out_u64(o, "relay_connections", rs.conns);
	out_u64(o, "relay_msgs_in", rs.msgs_in);
	out_u64(o, "relay_msgs_out", rs.msgs_out);
	out_u64(o, "relay_fds", rs.fds);
	return 0;
}

const struct cmd_def cmd_engine_defs[] = {
	{ "show engine",
	  "The stop engine's counters: epoch barriers started, control-loop passes, ops, "
	  "and the last stop batch (stops begun in one pass, engine time, epochs: E1).",
	  "show engine", show_engine },
	{ "show takeover",
	  "Live upgrade: the last takeover's progress or outcome (this vstop taking over, or "
	  "handing over), and the vhost-user relay's counters (docs/upgrade.rst).",
	  "show takeover", show_takeover },
	{ NULL, NULL, NULL, NULL },
};
