/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The console. librte_cmdline gives line editing (rdline), history and completion; the
 * completion context (cmdline tokens) is generated from the command table, so a
 * command exists once. A validated line goes through cmd_exec_line(), the same path as
 * the control socket, so both give the same answers and the same precise errors.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <cmdline.h>
#include <cmdline_parse.h>
#include <cmdline_parse_string.h>
#include <cmdline_rdline.h>
#include <rte_lcore.h>

#include "cmd/app_query.h"
#include "cmd/cmd.h"
#include "console.h"

#define PROMPT "vstop> "

/* An argument token: any one word, completed from a list that depends on its name. */
enum arg_kind { ARG_ANY = 0, ARG_PORT, ARG_PORT_ALL, ARG_MODE, ARG_TOPIC };

struct arg_token {
	struct cmdline_token_string tok; /* first: cmdline_parse_string() casts to it */
	const char *name;                /* "<port|all>" */
	enum arg_kind kind;
};

static struct {
	pthread_t thread;
	bool running;
	volatile bool stop;
	bool interactive;
	char *script;
	cmdline_parse_ctx_t *ctx;
	struct cmdline *cl;       /* only holds ctx, for cmdline_complete() */
	struct rdline *rdl;
	bool term_saved;
	struct termios term;
	bool quit;                /* "quit" was run */
} con;

/* ---- completion context, generated from the command table ---- */

static unsigned int
topic_count(char topics[][32], unsigned int max)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < cmd_count() && n < max; i++) {
		const char *s = cmd_get(i)->syntax;
		size_t l = strcspn(s, " ");
		unsigned int j;

		if (l >= 32)
			continue;
		for (j = 0; j < n; j++)
			if (strlen(topics[j]) == l && strncmp(topics[j], s, l) == 0)
				break;
		if (j < n)
			continue;
		memcpy(topics[n], s, l);
		topics[n][l] = '\0';
		n++;
	}
	return n;
}

static int
arg_complete_nb(cmdline_parse_token_hdr_t *tk)
{
	const struct arg_token *a = (const struct arg_token *)tk;
	char topics[32][32];

	switch (a->kind) {
	case ARG_PORT:
		return (int)aq_nb_ports();
	case ARG_PORT_ALL:
		return (int)aq_nb_ports() + 1;
	case ARG_MODE:
		return FWD_TXONLY + 1;
	case ARG_TOPIC:
		return (int)topic_count(topics, RTE_DIM(topics));
	default:
		return 0;
	}
}

static int
arg_complete_elt(cmdline_parse_token_hdr_t *tk, int idx, char *dst, unsigned int size)
{
	const struct arg_token *a = (const struct arg_token *)tk;
	char topics[32][32];
	int n = arg_complete_nb(tk);

	if (idx < 0 || idx >= n)
		return -1;
	switch (a->kind) {
	case ARG_PORT:
	case ARG_PORT_ALL:
		if ((unsigned int)idx == aq_nb_ports())
			snprintf(dst, size, "all");
		else
			snprintf(dst, size, "%d", idx);
		return 0;
	case ARG_MODE:
		snprintf(dst, size, "%s", fwd_mode_name((enum fwd_mode)idx));
		return 0;
	case ARG_TOPIC:
		topic_count(topics, RTE_DIM(topics));
		snprintf(dst, size, "%s", topics[idx]);
		return 0;
	default:
		return -1;
	}
}

static int
arg_help(cmdline_parse_token_hdr_t *tk, char *dst, unsigned int size)
{
	const struct arg_token *a = (const struct arg_token *)tk;

	snprintf(dst, size, "%s", a->name);
	return 0;
}

static struct cmdline_token_ops arg_ops = {
	.parse = cmdline_parse_string,
	.complete_get_nb = arg_complete_nb,
	.complete_get_elt = arg_complete_elt,
	.get_help = arg_help,
};

/* Never called: lines are run by cmd_exec_line(); the instances serve completion. */
static void
inst_unused(void *parsed, struct cmdline *cl, void *data)
{
	RTE_SET_USED(parsed);
	RTE_SET_USED(cl);
	RTE_SET_USED(data);
}

static enum arg_kind
arg_kind_of(const char *name)
{
	if (strcmp(name, "<port>") == 0)
		return ARG_PORT;
	if (strcmp(name, "<port|all>") == 0)
		return ARG_PORT_ALL;
	if (strcmp(name, "<mode>") == 0)
		return ARG_MODE;
	if (strcmp(name, "<topic>") == 0)
		return ARG_TOPIC;
	return ARG_ANY;
}

/* One cmdline instance per command: keyword tokens ("a#b" choices) and argument tokens. */
static cmdline_parse_inst_t *
inst_build(const struct cmd_def *d)
{
	char *syn = strdup(d->syntax), *words[CMD_MAX_WORDS];
	cmdline_parse_inst_t *inst = NULL;
	char *help = NULL;
	int n = syn != NULL ? cmd_split(syn, words, CMD_MAX_WORDS) : -1;

	if (n <= 0)
		goto out;
	inst = calloc(1, sizeof(*inst) + (n + 1) * sizeof(inst->tokens[0]));
	if (inst == NULL)
		goto out;
	for (int i = 0; i < n; i++) {
		unsigned int off = i * sizeof(cmdline_fixed_string_t);

		if (words[i][0] == '<') {
			struct arg_token *a = calloc(1, sizeof(*a));

			if (a == NULL)
				goto out;
			a->tok.hdr.ops = &arg_ops;
			a->tok.hdr.offset = off;
			a->tok.string_data.str = NULL;
			a->name = strdup(words[i]);
			a->kind = arg_kind_of(words[i]);
			inst->tokens[i] = &a->tok.hdr;
		} else {
			struct cmdline_token_string *t = calloc(1, sizeof(*t));
			char *choices = strdup(words[i]);

			if (t == NULL || choices == NULL) {
				free(t);
				free(choices);
				goto out;
			}
			for (char *c = choices; *c != '\0'; c++)
				if (*c == '|')
					*c = '#';
			t->hdr.ops = &cmdline_token_string_ops;
			t->hdr.offset = off;
			t->string_data.str = choices;
			inst->tokens[i] = &t->hdr;
		}
	}
	inst->tokens[n] = NULL;
	help = malloc(strlen(d->syntax) + strlen(d->help) + 3);
	if (help != NULL)
		sprintf(help, "%s: %s", d->syntax, d->help);
	inst->help_str = help != NULL ? help : d->help;
	inst->f = inst_unused;
	inst->data = (void *)(uintptr_t)d;
	free(syn);
	return inst;
out:
	free(syn);
	free(inst); /* tokens leak on this start-up-only out-of-memory path */
	return NULL;
}

static cmdline_parse_ctx_t *
ctx_build(void)
{
	unsigned int n = cmd_count();
	cmdline_parse_ctx_t *ctx = calloc(n + 1, sizeof(*ctx));

	if (ctx == NULL)
		return NULL;
	for (unsigned int i = 0; i < n; i++) {
		ctx[i] = inst_build(cmd_get(i));
		if (ctx[i] == NULL) {
			free(ctx);
			return NULL;
		}
	}
	return ctx;
}

/* ---- running lines ---- */

static void
write_all(const char *s)
{
	size_t len = strlen(s);

	while (len > 0) {
		ssize_t w = write(STDOUT_FILENO, s, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		len -= (size_t)w;
	}
}

static void
run_line(const char *line)
{
	struct cmd_out o;

	cmd_out_init(&o, CMD_FMT_TEXT);
	cmd_exec_line(line, &o);
	write_all(cmd_out_result(&o));
	if (o.quit)
		con.quit = true;
	cmd_out_free(&o);
}

static int
rdl_write_char(struct rdline *rdl, char c)
{
	RTE_SET_USED(rdl);
	return write(STDOUT_FILENO, &c, 1) == 1 ? 1 : -1;
}

static void
rdl_validate(struct rdline *rdl, const char *buf, unsigned int size)
{
	RTE_SET_USED(rdl);
	RTE_SET_USED(size);
	run_line(buf);
}

static int
rdl_complete(struct rdline *rdl, const char *buf, char *dst, unsigned int dstsize, int *state)
{
	RTE_SET_USED(rdl);
	return cmdline_complete(con.cl, buf, state, dst, dstsize);
}

/* "--cmdline-file": each line echoed after the prompt, then its answer. */
static void
run_script(const char *path)
{
	char line[CMD_MAX_LINE + 2];
	unsigned int n = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		fprintf(stderr, "vstop: --cmdline-file %s: %s\n", path, strerror(errno));
		APP_LOG(ERR, "cannot read command file %s: %s", path, strerror(errno));
		return;
	}
	while (!con.stop && !con.quit && fgets(line, sizeof(line), f) != NULL) {
		n++;
		write_all(PROMPT);
		write_all(line);
		if (line[0] != '\0' && line[strlen(line) - 1] != '\n')
			write_all("\n");
		run_line(line);
	}
	fclose(f);
	printf("Read CLI commands from %s (%u lines)\n", path, n);
	fflush(stdout);
}

/* "-i": the prompt, until quit, end of input (Ctrl-D) or console_stop(). */
static void
run_interactive(void)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	struct termios raw;
	char buf[256];

	if (tcgetattr(STDIN_FILENO, &con.term) == 0) {
		con.term_saved = true;
		raw = con.term;
		raw.c_lflag &= ~(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	rdline_newline(con.rdl, PROMPT);
	while (!con.stop && !con.quit) {
		ssize_t n;
		int rc = poll(&pfd, 1, 200);

		if (rc < 0 && errno != EINTR)
			break;
		if (rc <= 0)
			continue;
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			con.quit = true; /* end of input: like testpmd, quit */
			break;
		}
		for (ssize_t i = 0; i < n && !con.quit; i++) {
			int r = rdline_char_in(con.rdl, buf[i]);

			if (r == RDLINE_RES_VALIDATED) {
				const char *line = rdline_get_buffer(con.rdl);

				if (line != NULL && strlen(line) > 1)
					rdline_add_history(con.rdl, line);
				if (!con.quit)
					rdline_newline(con.rdl, PROMPT);
			} else if (r == RDLINE_RES_EOF || r == RDLINE_RES_EXITED) {
				write_all("\n");
				con.quit = true;
			}
		}
	}
	if (con.term_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &con.term);
}

static void *
console_thread(void *arg)
{
	RTE_SET_USED(arg);
	if (con.script != NULL)
		run_script(con.script);
	if (con.interactive && !con.stop && !con.quit)
		run_interactive();
	if (con.quit && !con.stop) {
		APP_LOG(INFO, "console: quit");
		cmd_request_quit();
	}
	return NULL;
}

int
console_start(bool interactive, const char *script)
{
	int rc;

	if (!interactive && (script == NULL || script[0] == '\0'))
		return 0;
	con.interactive = interactive;
	con.script = script != NULL && script[0] != '\0' ? strdup(script) : NULL;
	con.ctx = ctx_build();
	if (con.ctx == NULL)
		return -ENOMEM;
	con.cl = cmdline_new(con.ctx, PROMPT, -1, -1); /* ctx holder: no I/O */
	con.rdl = rdline_new(rdl_write_char, rdl_validate, rdl_complete, NULL);
	if (con.cl == NULL || con.rdl == NULL)
		return -ENOMEM;
	rc = rte_ctrl_thread_create(&con.thread, "vstop-console", NULL, console_thread, NULL);
	if (rc != 0) {
		APP_LOG(ERR, "cannot start the console thread: %s", strerror(rc));
		return -rc;
	}
	con.running = true;
	return 0;
}

void
console_stop(void)
{
	if (!con.running)
		return;
	con.stop = true;
	pthread_join(con.thread, NULL);
	con.running = false;
	rdline_free(con.rdl);
	con.rdl = NULL;
	cmdline_free(con.cl);
	con.cl = NULL;
	free(con.script);
	con.script = NULL;
	/* the generated context stays: it is small and built once */
}
