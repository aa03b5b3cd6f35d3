/* SPDX-License-Identifier: BSD-3-Clause */
/* start, stop, set fwd <mode>, show fwd: forwarding control, testpmd style. */
#include <string.h>

#include "app_query.h"
#include "cmd.h"

static void
fwd_state(struct cmd_out *o)
{
	out_str(o, "fwd", "%s", fwd_mode_name(aq_fwd_mode()));
	out_bool(o, "started", aq_fwd_started());
	out_u64(o, "streams", aq_nb_active_streams());
}

static int
fwd_start(struct cmd_out *o, int argc, char **argv)
{
	char err[256];

	RTE_SET_USED(argc);
	RTE_SET_USED(argv);
	if (aq_fwd_start(err, sizeof(err)) < 0)
		return cmd_err(o, "%s", err);
	fwd_state(o);
	return 0;
}

static int
fwd_stop(struct cmd_out *o, int argc, char **argv)
{
	char err[256];

	RTE_SET_USED(argc);
	RTE_SET_USED(argv);
	if (aq_fwd_stop(err, sizeof(err)) < 0)
		return cmd_err(o, "%s", err);
	fwd_state(o);
	return 0;
}

static int
fwd_set(struct cmd_out *o, int argc, char **argv)
{
	int m = aq_fwd_mode_parse(argv[argc - 1]);
	char err[256];

	if (m < 0)
		return cmd_err(o, "unknown forwarding mode '%s' (io, macswap, loopback, rxonly, "
			       "txonly)", argv[argc - 1]);
	if (aq_fwd_set_mode((enum fwd_mode)m, err, sizeof(err)) < 0)
		return cmd_err(o, "%s", err);
	fwd_state(o);
	return 0;
}

static int
fwd_show(struct cmd_out *o, int argc, char **argv)
{
	RTE_SET_USED(argc);
	RTE_SET_USED(argv);
	fwd_state(o);
	return 0;
}

const struct cmd_def cmd_fwd_defs[] = {
	{ "start", "Start forwarding (the streams of the current mode go to the engine).",
	  "start", fwd_start },
	{ "stop", "Stop forwarding: no polling lcore runs any stream afterwards (the devices "
	  "themselves keep running; see 'device stop').", "stop", fwd_stop },
	{ "set fwd <mode>", "Forwarding mode: io, macswap, loopback, rxonly, txonly "
	  "(restarts forwarding if it runs).", "set fwd macswap", fwd_set },
	{ "show fwd", "Forwarding mode, started or not, number of streams.", "show fwd",
	  fwd_show },
	{ NULL, NULL, NULL, NULL },
};
