/* SPDX-License-Identifier: BSD-3-Clause */
/* port attach vhost <spec>, port detach <port>: runtime vhost-user ports (port_rt.c). */
#include <errno.h>
#include <string.h>

#include "app_query.h"
#include "cmd.h"
#include "vhost_dev.h"

static int
port_attach(struct cmd_out *o, int argc, char **argv)
{
	char err[256] = "";
	const struct app_port *p;
	int id;

	RTE_SET_USED(argc);
	id = port_attach_vhost(argv[3], err, sizeof(err));
	if (id < 0)
		return cmd_err(o, "port attach: %s", err[0] ? err : strerror(-id));
	p = aq_port((uint16_t)id);
	out_u64(o, "port", (uint64_t)id);
	out_str(o, "socket", "%s", p->vh->path);
	out_str(o, "mode", "%s", p->vh->client ? "client" : "server");
	out_u64(o, "queues", p->nb_queues);
	out_u64(o, "engine_dev", p->dev);
	out_u64(o, "ports", aq_nb_ports_used());
	return 0;
}

static int
port_detach_cmd(struct cmd_out *o, int argc, char **argv)
{
	char err[256] = "";
	uint16_t port;
	int rc;

	RTE_SET_USED(argc);
	if (cmd_port(o, argv[2], &port) != 0)
		return -1;
	rc = port_detach(port, err, sizeof(err));
	if (rc < 0)
		return cmd_err(o, "port detach: %s", err[0] ? err : strerror(-rc));
	out_u64(o, "detached", port);
	out_u64(o, "ports", aq_nb_ports_used());
	return 0;
}

const struct cmd_def cmd_port_defs[] = {
	{ "port attach vhost <spec>",
	  "Create a vhost-user port at runtime: spec is PATH[,client][,queues=N] (server "
	  "socket unless client; 1 queue pair by default). It takes the lowest free port id "
	  "(a detached port's id is reused) and forwards at once if forwarding runs (in io "
	  "and macswap to itself, until the next 'stop'/'start' pairs the ports). Other "
	  "ports are not disturbed.",
	  "port attach vhost /tmp/vs-new.sock,queues=1", port_attach },
	{ "port detach <port>",
	  "Remove a vhost-user port that no front end is connected to: its streams leave "
	  "the engine (one epoch), its socket is closed and removed, its id becomes free. "
	  "A connected (or stopped) port is refused: disconnect the front end first.",
	  "port detach 1", port_detach_cmd },
	{ NULL, NULL, NULL, NULL },
};
