/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The command table, the line matcher of the control socket and scripts, and the
 * helpers every handler uses.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>

#include "cmd.h"
#include "app_query.h"

/* The one table: topic tables in help order. */
static const struct cmd_def *const cmd_groups[] = {
	cmd_misc_defs,
	cmd_show_defs,
	cmd_fwd_defs,
	cmd_port_defs,
	cmd_device_defs,
	cmd_engine_defs,
	cmd_link_defs,
};

/* Handlers run one at a time, whichever interface they came from. */
static pthread_mutex_t cmd_lock = PTHREAD_MUTEX_INITIALIZER;

void
cmd_lock_take(void)
{
	pthread_mutex_lock(&cmd_lock);
}

void
cmd_lock_give(void)
{
	pthread_mutex_unlock(&cmd_lock);
}

unsigned int
cmd_count(void)
{
	unsigned int n = 0;

	for (unsigned int g = 0; g < RTE_DIM(cmd_groups); g++)
		for (const struct cmd_def *d = cmd_groups[g]; d->syntax != NULL; d++)
			n++;
	return n;
}

const struct cmd_def *
cmd_get(unsigned int i)
{
	for (unsigned int g = 0; g < RTE_DIM(cmd_groups); g++)
		for (const struct cmd_def *d = cmd_groups[g]; d->syntax != NULL; d++)
			if (i-- == 0)
				return d;
	return NULL;
}

int
cmd_split(char *s, char **words, int max)
{
	int n = 0;
	char *save = NULL, *w;

	for (w = strtok_r(s, " \t\r\n", &save); w != NULL; w = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == max)
			return -1;
		words[n++] = w;
	}
	return n;
}

/* Does word @p w match syntax word @p tok ("kw", "a|b|c" or "<arg>")? */
static bool
word_matches(const char *tok, const char *w)
{
	size_t wl = strlen(w);

	if (tok[0] == '<')
		return true;
	for (const char *p = tok; *p != '\0';) {
		const char *bar = strchr(p, '|');
		size_t l = bar != NULL ? (size_t)(bar - p) : strlen(p);

		if (l == wl && strncmp(p, w, l) == 0)
			return true;
		if (bar == NULL)
			break;
		p = bar + 1;
	}
	return false;
}

/*
 * How well @p words match @p def: -1 = fully (same count, every word); otherwise the
 * number of leading keywords that match (for "bad arguments" messages).
 */
static int
def_match(const struct cmd_def *def, char **words, int n)
{
	char syn[CMD_MAX_LINE], *toks[CMD_MAX_WORDS];
	int nt, i;

	snprintf(syn, sizeof(syn), "%s", def->syntax);
	nt = cmd_split(syn, toks, CMD_MAX_WORDS);
	for (i = 0; i < nt && i < n; i++) {
		if (toks[i][0] == '<')
			continue;
		if (!word_matches(toks[i], words[i]))
			return i;
	}
	if (nt == n)
		return -1;
	return i;
}

void
cmd_exec(const struct cmd_def *def, int argc, char **argv, struct cmd_out *o)
{
	pthread_mutex_lock(&cmd_lock);
	if (def->fn(o, argc, argv) != 0 && !o->failed)
		cmd_err(o, "%s: failed", argv[0]);
	pthread_mutex_unlock(&cmd_lock);
}

int
cmd_exec_line(const char *line, struct cmd_out *o)
{
	char buf[CMD_MAX_LINE], *words[CMD_MAX_WORDS];
	const struct cmd_def *best = NULL;
	int n, best_score = 0;
	unsigned int i, nc = cmd_count();

	if (strlen(line) >= sizeof(buf)) {
		cmd_err(o, "line too long (at most %d characters)", CMD_MAX_LINE - 1);
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s", line);
	n = cmd_split(buf, words, CMD_MAX_WORDS);
	if (n < 0) {
		cmd_err(o, "too many words (at most %d)", CMD_MAX_WORDS);
		return 0;
	}
	if (n == 0 || words[0][0] == '#')
		return 1;
	for (i = 0; i < nc; i++) {
		const struct cmd_def *d = cmd_get(i);
		int score = def_match(d, words, n);

		if (score < 0) {
			cmd_exec(d, n, words, o);
			return 0;
		}
		if (score > best_score) {
			best_score = score;
			best = d;
		}
	}
	if (best == NULL) {
		cmd_err(o, "unknown command '%s' (try 'help')", words[0]);
		return 0;
	}
	/* Name the usages that start like the line did. */
	char usage[CMD_MAX_LINE] = "";
	size_t ul = 0;

	for (i = 0; i < nc; i++) {
		const struct cmd_def *d = cmd_get(i);

		if (def_match(d, words, n) != best_score)
			continue;
		ul += snprintf(usage + ul, ul < sizeof(usage) ? sizeof(usage) - ul : 0, "%s'%s'",
			       ul ? ", " : "", d->syntax);
		if (ul >= sizeof(usage))
			break;
	}
	/* the words that did match, e.g. "show device" */
	char head[CMD_MAX_LINE] = "";
	size_t hl = 0;

	char syn[CMD_MAX_LINE], *toks[CMD_MAX_WORDS];
	int nt;

	snprintf(syn, sizeof(syn), "%s", best->syntax);
	nt = cmd_split(syn, toks, CMD_MAX_WORDS);
	for (int w = 0; w < best_score && w < n && w < nt && toks[w][0] != '<' &&
	     hl < sizeof(head); w++)
		hl += snprintf(head + hl, sizeof(head) - hl, "%s%s", w ? " " : "", words[w]);
	cmd_err(o, "bad arguments for '%s'; usage: %s", head, usage);
	return 0;
}

/* ---- helpers ---- */

static int
parse_u16(const char *s, uint16_t *v)
{
	char *end;
	unsigned long x;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	x = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || x > UINT16_MAX)
		return -1;
	*v = (uint16_t)x;
	return 0;
}

int
cmd_port(struct cmd_out *o, const char *arg, uint16_t *port)
{
	unsigned int n = aq_nb_ports();

	if (parse_u16(arg, port) != 0)
		return cmd_err(o, "invalid port '%s': expected a port id (0..%u)", arg,
			       n ? n - 1 : 0);
	if (*port >= n)
		return cmd_err(o, "invalid port %u: %u port%s (0..%u)", *port, n,
			       n == 1 ? "" : "s", n ? n - 1 : 0);
	if (aq_port(*port) == NULL)
		return cmd_err(o, "invalid port %u: no such port (detached)", *port);
	return 0;
}

int
cmd_port_or_all(struct cmd_out *o, const char *arg, uint16_t *port, bool *all)
{
	*all = strcmp(arg, "all") == 0;
	if (*all) {
		*port = 0;
		return 0;
	}
	return cmd_port(o, arg, port);
}

int
cmd_vhost_port(struct cmd_out *o, const char *arg, uint16_t *port)
{
	if (cmd_port(o, arg, port) != 0)
		return -1;
	if (!aq_port_is_vhost(*port))
		return cmd_err(o, "port %u is not a vhost-user port", *port);
	return 0;
}

void
cmd_request_quit(void)
{
	/* The application's documented way out: SIGTERM (main.c handles it). */
	kill(getpid(), SIGTERM);
}
