/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A command's answer, built once and rendered as human text (console) or as one line
 * of JSON (control socket).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

#define TEXT_KEY_WIDTH 24

void
cmd_out_init(struct cmd_out *o, enum cmd_fmt fmt)
{
	memset(o, 0, sizeof(*o));
	o->fmt = fmt;
	o->first[0] = false; /* JSON: the body follows "ok":true */
}

void
cmd_out_free(struct cmd_out *o)
{
	free(o->buf);
	free(o->result);
	o->buf = NULL;
	o->result = NULL;
	o->len = o->cap = 0;
}

static void
append(struct cmd_out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 256;
		char *b;

		while (cap < o->len + n + 1)
			cap *= 2;
		b = realloc(o->buf, cap);
		if (b == NULL)
			return; /* out of memory: the answer is cut short */
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void
appendf_v(struct cmd_out *o, const char *fmt, va_list ap)
{
	char small[512];
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(small, sizeof(small), fmt, aq);
	va_end(aq);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		append(o, small, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);

	if (big == NULL)
		return;
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	append(o, big, (size_t)n);
	free(big);
}

static void
appendf(struct cmd_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
appendf(struct cmd_out *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	appendf_v(o, fmt, ap);
	va_end(ap);
}

/* A JSON string literal (quotes included). */
static void
append_json_str(struct cmd_out *o, const char *s)
{
	append(o, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };

			append(o, e, 2);
		} else if (c == '\n') {
			append(o, "\\n", 2);
		} else if (c == '\t') {
			append(o, "\\t", 2);
		} else if (c < 0x20) {
			appendf(o, "\\u%04x", c);
		} else {
			append(o, (const char *)&c, 1);
		}
	}
	append(o, "\"", 1);
}

/* JSON: comma and key as the context needs. Text: indentation and label. */
static void
member(struct cmd_out *o, const char *key)
{
	unsigned int d = o->depth;

	if (o->fmt == CMD_FMT_JSON) {
		/* depth 0 always follows "ok":true */
		if (d == 0 || !o->first[d])
			append(o, ",", 1);
		o->first[d] = false;
		if (!o->array[d]) {
			append_json_str(o, key != NULL ? key : "");
			append(o, ":", 1);
		}
		return;
	}
	appendf(o, "%*s", (int)(2 * d), "");
	if (key == NULL) {
		append(o, "- ", 2);
		return;
	}
	appendf(o, "%s:%*s", key, (int)(strlen(key) + 1 < TEXT_KEY_WIDTH ?
				       TEXT_KEY_WIDTH - strlen(key) - 1 : 1), "");
}

void
out_str(struct cmd_out *o, const char *key, const char *fmt, ...)
{
	char small[512], *s = small;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(small)) {
		s = malloc((size_t)n + 1);
		if (s == NULL)
			return;
		va_start(ap, fmt);
		vsnprintf(s, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	member(o, key);
	if (o->fmt == CMD_FMT_JSON)
		append_json_str(o, s);
	else
		appendf(o, "%s\n", s);
	if (s != small)
		free(s);
}

void
out_u64(struct cmd_out *o, const char *key, uint64_t v)
{
	member(o, key);
	appendf(o, o->fmt == CMD_FMT_JSON ? "%" PRIu64 : "%" PRIu64 "\n", v);
}

void
out_int(struct cmd_out *o, const char *key, int64_t v)
{
	member(o, key);
	appendf(o, o->fmt == CMD_FMT_JSON ? "%" PRId64 : "%" PRId64 "\n", v);
}

void
out_bool(struct cmd_out *o, const char *key, bool v)
{
	member(o, key);
	if (o->fmt == CMD_FMT_JSON)
		appendf(o, "%s", v ? "true" : "false");
	else
		appendf(o, "%s\n", v ? "yes" : "no");
}

void
out_hex(struct cmd_out *o, const char *key, uint64_t v)
{
	member(o, key);
	if (o->fmt == CMD_FMT_JSON)
		appendf(o, "%" PRIu64, v);
	else
		appendf(o, "0x%" PRIx64 "\n", v);
}

void
out_double(struct cmd_out *o, const char *key, double v, int decimals)
{
	member(o, key);
	appendf(o, o->fmt == CMD_FMT_JSON ? "%.*f" : "%.*f\n", decimals, v);
}

static void
open_nested(struct cmd_out *o, const char *key, bool array)
{
	unsigned int d = o->depth;

	if (o->fmt == CMD_FMT_JSON) {
		member(o, key);
		append(o, array ? "[" : "{", 1);
	} else if (key == NULL) {
		appendf(o, "%*s-\n", (int)(2 * d), "");
	} else {
		appendf(o, "%*s%s:\n", (int)(2 * d), "", key);
	}
	if (d + 1 < CMD_OUT_MAX_DEPTH) {
		o->depth++;
		o->first[o->depth] = true;
		o->array[o->depth] = array;
	}
}

static void
close_nested(struct cmd_out *o, bool array)
{
	if (o->depth == 0)
		return;
	o->depth--;
	if (o->fmt == CMD_FMT_JSON)
		append(o, array ? "]" : "}", 1);
}

void
out_obj_begin(struct cmd_out *o, const char *key)
{
	open_nested(o, key, false);
}

void
out_obj_end(struct cmd_out *o)
{
	close_nested(o, false);
}

void
out_arr_begin(struct cmd_out *o, const char *key)
{
	open_nested(o, key, true);
}

void
out_arr_end(struct cmd_out *o)
{
	close_nested(o, true);
}

void
out_text(struct cmd_out *o, const char *fmt, ...)
{
	va_list ap;

	if (o->fmt != CMD_FMT_TEXT)
		return;
	va_start(ap, fmt);
	appendf_v(o, fmt, ap);
	va_end(ap);
}

int
cmd_err(struct cmd_out *o, const char *fmt, ...)
{
	va_list ap;

	if (o->failed) /* keep the first, most precise message */
		return -1;
	va_start(ap, fmt);
	vsnprintf(o->err, sizeof(o->err), fmt, ap);
	va_end(ap);
	o->failed = true;
	return -1;
}

const char *
cmd_out_result(struct cmd_out *o)
{
	struct cmd_out r;

	free(o->result);
	o->result = NULL;
	cmd_out_init(&r, o->fmt);
	if (o->fmt == CMD_FMT_JSON) {
		if (o->failed) {
			append(&r, "{\"ok\":false,\"error\":", 20);
			append_json_str(&r, o->err);
		} else {
			append(&r, "{\"ok\":true", 10);
			if (o->buf != NULL)
				append(&r, o->buf, o->len);
			/* close what a handler left open */
			for (unsigned int d = o->depth; d > 0; d--)
				append(&r, o->array[d] ? "]" : "}", 1);
		}
		append(&r, "}", 1);
	} else {
		if (o->buf != NULL)
			append(&r, o->buf, o->len);
		if (o->failed)
			appendf(&r, "Error: %s\n", o->err);
	}
	o->result = r.buf != NULL ? r.buf : strdup("");
	return o->result;
}
