/* SPDX-License-Identifier: BSD-3-Clause */
/* help, quit, clear port stats. */
#include <string.h>

#include "app_query.h"
#include "cmd.h"

static bool
starts_with_topic(const char *syntax, const char *topic)
{
	size_t l = strlen(topic);

	return strncmp(syntax, topic, l) == 0 && (syntax[l] == ' ' || syntax[l] == '\0');
}

static int
help(struct cmd_out *o, int argc, char **argv)
{
	const char *topic = argc > 1 ? argv[1] : NULL;
	unsigned int n = 0;

	if (o->fmt == CMD_FMT_JSON)
		out_arr_begin(o, "commands");
	for (unsigned int i = 0; i < cmd_count(); i++) {
		const struct cmd_def *d = cmd_get(i);

		if (topic != NULL && !starts_with_topic(d->syntax, topic))
			continue;
		n++;
		if (o->fmt == CMD_FMT_TEXT) {
			out_text(o, "%s\n    %s\n    e.g. %s\n", d->syntax, d->help, d->example);
			continue;
		}
		out_obj_begin(o, NULL);
		out_str(o, "syntax", "%s", d->syntax);
		out_str(o, "help", "%s", d->help);
		out_str(o, "example", "%s", d->example);
		out_obj_end(o);
	}
	if (o->fmt == CMD_FMT_JSON)
		out_arr_end(o);
	if (n == 0)
		return cmd_err(o, "no command starts with '%s' (try 'help')", topic);
	if (topic == NULL)
		out_text(o, "\n<port> is a port id (see 'show port info all'). Tab completes "
			 "commands and arguments; '?' lists what may come next.\n");
	return 0;
}

static int
quit(struct cmd_out *o, int argc, char **argv)
{
	RTE_SET_USED(argc);
	RTE_SET_USED(argv);
	o->quit = true;
	out_text(o, "Bye.\n");
	return 0;
}

static int
clear_stats(struct cmd_out *o, int argc, char **argv)
{
	uint16_t port;
	bool all;

	RTE_SET_USED(argc);
	if (cmd_port_or_all(o, argv[3], &port, &all) != 0)
		return -1;
	for (uint16_t i = 0; i < aq_nb_ports(); i++)
		if (all || i == port)
			aq_clear_stats(i);
	out_str(o, "cleared", "%s", argv[3]);
	return 0;
}

const struct cmd_def cmd_misc_defs[] = {
	{ "help", "List every command with its help and an example.", "help", help },
	{ "help <topic>", "The commands that start with a word, e.g. 'help device'.",
	  "help show", help },
	{ "quit", "Quit vstop (as SIGTERM: devices disconnected, statistics printed).",
	  "quit", quit },
	{ "clear port stats <port|all>", "Restart the port counters that 'show port stats' "
	  "and 'show port xstats' print from zero.", "clear port stats all", clear_stats },
	{ NULL, NULL, NULL, NULL },
};
