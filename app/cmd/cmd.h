/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VSTOP_CMD_H
#define VSTOP_CMD_H

/*
 * vstop's commands: ONE table, shared by the interactive console (librte_cmdline, -i),
 * command scripts (--cmdline-file) and the control socket (--ctl).
 *
 * A command is a syntax string, a help line, an example and a handler:
 *
 *     "show port info|stats|xstats <port|all>"
 *
 * Words of the syntax are keywords; "a|b|c" is one keyword out of several; "<name>" is
 * an argument (any one word; the handler checks it). The console builds its cmdline
 * tokens (tab completion, '?' help) from the syntax; the control socket matches lines
 * against it with cmd_exec_line(). A handler gets every word of the line in argv and
 * writes its answer through struct cmd_out, which renders it either as human text or
 * as one line of JSON: handlers never print and never know which one it is.
 *
 * Handlers run one at a time (one lock), on the console or the control socket thread.
 * They change device state only through the stop engine (vs_ctl_call()).
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CMD_MAX_WORDS     16
#define CMD_MAX_LINE      1024
#define CMD_OUT_MAX_DEPTH 8

enum cmd_fmt {
	CMD_FMT_TEXT = 0, /* console and scripts */
	CMD_FMT_JSON,     /* control socket: {"ok":true,...} on one line */
};

/* Where a handler writes its answer. */
struct cmd_out {
	enum cmd_fmt fmt;
	char *buf;                          /* body (text, or JSON members) */
	size_t len, cap;
	unsigned int depth;
	bool first[CMD_OUT_MAX_DEPTH];      /* JSON: no comma before the next member */
	bool array[CMD_OUT_MAX_DEPTH];      /* JSON: inside [...]: members have no key */
	bool failed;                        /* cmd_err() was called */
	char err[512];
	bool quit;                          /* the command asks the application to quit */
	char *result;                       /* what cmd_out_result() built */
};

void cmd_out_init(struct cmd_out *o, enum cmd_fmt fmt);
void cmd_out_free(struct cmd_out *o);
/*
 * The answer. Text: the body, or "Error: <msg>\n". JSON: {"ok":true,<body>} or
 * {"ok":false,"error":"<msg>"}, one line without the newline. Valid until cmd_out_free().
 */
const char *cmd_out_result(struct cmd_out *o);

/* Members. @p key is the JSON name (ignored inside an array) and the text label. */
void out_str(struct cmd_out *o, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void out_u64(struct cmd_out *o, const char *key, uint64_t v);
void out_int(struct cmd_out *o, const char *key, int64_t v);
void out_bool(struct cmd_out *o, const char *key, bool v);
void out_hex(struct cmd_out *o, const char *key, uint64_t v); /* JSON: a number; text: 0x.. */
/* A number with @p decimals decimals (JSON: a number). */
void out_double(struct cmd_out *o, const char *key, double v, int decimals);
/* Nesting. Text: "key:" then members indented. */
void out_obj_begin(struct cmd_out *o, const char *key);
void out_obj_end(struct cmd_out *o);
void out_arr_begin(struct cmd_out *o, const char *key);
void out_arr_end(struct cmd_out *o);
/* Free text, text format only (dropped in JSON: give the same facts as members too). */
void out_text(struct cmd_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Fail the command with a message. @return -1, so that a handler can "return cmd_err(...)". */
int cmd_err(struct cmd_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One command. */
struct cmd_def {
	const char *syntax;   /* keywords, a|b alternatives, <arg> */
	const char *help;     /* one line */
	const char *example;  /* a complete command line, for help and the docs */
	/* @return 0, or -1 after cmd_err(). argv[0..argc-1] are the words of the line. */
	int (*fn)(struct cmd_out *o, int argc, char **argv);
};

/* Tables by topic (cmd_*.c), each ended by an entry with a NULL syntax. */
extern const struct cmd_def cmd_show_defs[];
extern const struct cmd_def cmd_device_defs[];
extern const struct cmd_def cmd_fwd_defs[];
extern const struct cmd_def cmd_link_defs[];
extern const struct cmd_def cmd_misc_defs[];
extern const struct cmd_def cmd_engine_defs[];
extern const struct cmd_def cmd_port_defs[];

/* Every command, in help order. @return the number of commands. */
unsigned int cmd_count(void);
const struct cmd_def *cmd_get(unsigned int i);

/* Words of a syntax (or of a line): split on blanks. @return the count, or -1 if too many. */
int cmd_split(char *s, char **words, int max);

/*
 * Run one line (the control socket's and tests' path): split, match against the
 * table, run. Blank lines and lines starting with '#' do nothing and return 1.
 * @return 0 when the command ran (o may still hold an error), 1 for nothing to do.
 */
int cmd_exec_line(const char *line, struct cmd_out *o);

/* Run @p def on words already matched (the console's path). Takes the command lock. */
void cmd_exec(const struct cmd_def *def, int argc, char **argv, struct cmd_out *o);

/* ---- helpers for handlers ---- */

/* Parse a port id; on error fill @p o. @return 0 or -1. */
int cmd_port(struct cmd_out *o, const char *arg, uint16_t *port);
/* Parse "<port|all>": *all = true for "all". @return 0 or -1. */
int cmd_port_or_all(struct cmd_out *o, const char *arg, uint16_t *port, bool *all);
/* Parse a port that must be a vhost-user port. @return 0 or -1. */
int cmd_vhost_port(struct cmd_out *o, const char *arg, uint16_t *port);

/* Names shared by the console and telemetry (cmd_show.c). */
const char *cmd_run_state_name(uint8_t s);
const char *cmd_stop_kind_name(uint8_t k);
const char *cmd_hist_bucket_name(unsigned int i);
char *cmd_features_format(uint64_t f, char *buf, size_t len);
/* The body of "show device status" for vhost port @p port. @return 0 or -1. */
int cmd_show_device(struct cmd_out *o, uint16_t port);

/*
 * "device stop|suspend|resume all" (cmd_engine.c): op @p type for every vhost device,
 * posted in one bulk, so that the engine runs them in one pass under one epoch (E1).
 * @return 0, or -1 after cmd_err().
 */
int cmd_device_all(struct cmd_out *o, const char *what, unsigned int type);

/*
 * The command lock: handlers run under it, and so do other readers of the port table
 * that are not the control lcore (telemetry, SIGUSR1), since a runtime detach changes it.
 */
void cmd_lock_take(void);
void cmd_lock_give(void);

/* Ask the application to quit (console "quit", control socket "quit"). Any thread. */
void cmd_request_quit(void);

#endif /* VSTOP_CMD_H */
