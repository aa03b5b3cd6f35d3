/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness: the console / control-socket command dispatcher (app/cmd/: the line
 * matcher, every handler, the text and JSON renderers) on top of the real stop engine
 * (lib/), driven on this thread. The application behind the commands (app_query.h: ports,
 * counters, lcores, forwarding) and the device-state file I/O are mocked; the filesystem
 * is never touched (open/rename/unlink/fsync are faked while a command runs, whatever
 * path the input names), and nothing can make the process quit.
 *
 * Input: lines (split at '\n'); a line's first byte picks the output format. Each line is
 * run with cmd_exec_line(), as the control socket and command scripts do. Checks:
 *  - no crash, no sanitizer report, no hang;
 *  - JSON answers are exactly one well-formed JSON object, {"ok":true,...} or
 *    {"ok":false,"error":"..."}, no raw control character, no newline; if the line was
 *    valid UTF-8, so is the answer;
 *  - text answers end with a newline or are empty; an error reads "Error: ...";
 *  - 'show ...' and 'help ...' change no device status.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_log.h>

#include "app_query.h"
#include "cmd.h"
#include "devstate_io.h"
#include "relay.h"
#include "takeover.h"
#include "vhost_dev.h"
#include "vs_ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define NPORTS 3 /* 0: an ethdev, 1 and 2: vhost-user ports (engine devices 0 and 1) */
#define NQ 2

struct app app;
int vstop_app_logtype;
int vstop_vhost_logtype;

static struct vhost_port vps[2];
static bool in_cmd; /* a command runs: the filesystem is fake */
static int devnull = -1;
static bool verbose; /* FUZZ_CMD_VERBOSE=1: print every line and its answer */

/* ---- the engine, run on this thread ---------------------------------------------------- */

int __wrap_vs_ctl_call(struct vs_ctl *ctl, struct vs_op *op, int timeout_ms);
int __wrap_vs_ctl_simple(struct vs_ctl *ctl, unsigned int type, uint16_t dev, int timeout_ms);
int __wrap_vs_ctl_dev_info(struct vs_ctl *ctl, uint16_t dev, struct vs_dev_info *info,
			   int timeout_ms);

int
__wrap_vs_ctl_call(struct vs_ctl *ctl, struct vs_op *op, int timeout_ms)
{
	int rc = vs_ctl_submit(ctl, op);

	(void)timeout_ms;
	if (rc != 0)
		return rc;
	for (int i = 0; i < 8 && !vs_op_done(op); i++)
		vs_ctl_run_once(ctl);
	return vs_ctl_wait(op, 0);
}

int __real_vs_ctl_submit_bulk(struct vs_ctl *ctl, struct vs_op *const *ops, unsigned int n);
int __wrap_vs_ctl_submit_bulk(struct vs_ctl *ctl, struct vs_op *const *ops, unsigned int n);

/* "device ... all": queued as vstop does, then run here, so that the waits find them done. */
int
__wrap_vs_ctl_submit_bulk(struct vs_ctl *ctl, struct vs_op *const *ops, unsigned int n)
{
	int rc = __real_vs_ctl_submit_bulk(ctl, ops, n);

	for (int i = 0; rc == 0 && i < 8; i++)
		vs_ctl_run_once(ctl);
	return rc;
}

static int
call_free(struct vs_op *op)
{
	int rc;

	if (op == NULL)
		return -ENOMEM;
	rc = __wrap_vs_ctl_call(app.ctl, op, 0);
	if (rc != -ETIMEDOUT)
		vs_op_free(op);
	return rc;
}

int
__wrap_vs_ctl_simple(struct vs_ctl *ctl, unsigned int type, uint16_t dev, int timeout_ms)
{
	(void)ctl;
	(void)timeout_ms;
	return call_free(vs_op_alloc(type, dev));
}

int
__wrap_vs_ctl_dev_info(struct vs_ctl *ctl, uint16_t dev, struct vs_dev_info *info,
		       int timeout_ms)
{
	struct vs_op *op = vs_op_alloc(VS_OP_GET_INFO, dev);
	int rc;

	(void)timeout_ms;
	if (op == NULL)
		return -ENOMEM;
	rc = __wrap_vs_ctl_call(ctl, op, 0);
	if (rc == 0)
		*info = op->out.info;
	if (rc != -ETIMEDOUT)
		vs_op_free(op);
	return rc;
}

/* ---- a fake filesystem and no way out, while a command runs ----------------------------- */

int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...);
int __real_rename(const char *a, const char *b);
int __wrap_rename(const char *a, const char *b);
int __real_unlink(const char *path);
int __wrap_unlink(const char *path);
int __real_fsync(int fd);
int __wrap_fsync(int fd);
int __wrap_kill(pid_t pid, int sig);

int
__wrap_open(const char *path, int flags, ...)
{
	va_list ap;
	int mode;

	va_start(ap, flags);
	mode = (flags & O_CREAT) ? va_arg(ap, int) : 0;
	va_end(ap);
	if (!in_cmd)
		return __real_open(path, flags, mode);
	if (strlen(path) == 0 || strstr(path, "enoent") != NULL) {
		errno = ENOENT;
		return -1;
	}
	return dup(devnull);
}

int
__wrap_rename(const char *a, const char *b)
{
	if (!in_cmd)
		return __real_rename(a, b);
	if (strlen(a) == 0 || strlen(b) == 0 || strstr(b, "eacces") != NULL) {
		errno = EACCES;
		return -1;
	}
	return 0;
}

int
__wrap_unlink(const char *path)
{
	if (!in_cmd)
		return __real_unlink(path);
	(void)strlen(path);
	return 0;
}

int
__wrap_fsync(int fd)
{
	if (!in_cmd)
		return __real_fsync(fd);
	return fcntl(fd, F_GETFD) < 0 ? -1 : 0;
}

int
__wrap_kill(pid_t pid, int sig)
{
	(void)pid;
	(void)sig;
	return 0; /* 'quit' must not end the fuzzer */
}

/* ---- device state (devstate_io.c) -------------------------------------------------------- */

static bool
quiesced(const struct vhost_port *vp)
{
	struct vs_dev_info info;

	return __wrap_vs_ctl_dev_info(app.ctl, vp->port->dev, &info, 0) == 0 && info.quiesced;
}

long
devstate_collect(struct vhost_port *vp, uint8_t **blob, char *err, size_t errlen)
{
	if (vp != &vps[0] && vp != &vps[1])
		abort();
	if (!quiesced(vp)) {
		snprintf(err, errlen, "device not stopped");
		return -EBUSY;
	}
	*blob = malloc(64);
	if (*blob == NULL)
		return -ENOMEM;
	memset(*blob, 0xa5, 64);
	return 64;
}

int
devstate_load_file(struct vhost_port *vp, const char *path, char *err, size_t errlen)
{
	if (vp != &vps[0] && vp != &vps[1])
		abort();
	if (!quiesced(vp) || path[0] != '/') {
		snprintf(err, errlen, "%s: refused (%s)", path, "bad blob");
		return -EINVAL;
	}
	return 0;
}

/* ---- the application (app_query.h) --------------------------------------------------------- */

static bool fwd_started = true;
static enum fwd_mode fwd_mode = FWD_LOOPBACK;
static uint64_t counter;

unsigned int aq_nb_ports(void) { return NPORTS; }

const struct app_port *
aq_port(uint16_t id)
{
	return id < NPORTS ? &app.ports[id] : NULL;
}

bool aq_port_is_vhost(uint16_t id) { return id < NPORTS && app.ports[id].kind == PORT_VHOST; }
unsigned int aq_nb_ports_used(void) { return NPORTS; }

/* Runtime ports (port_rt.c): refused here, the table never changes. */
int
port_attach_vhost(const char *spec, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: not in the fuzz harness", spec);
	return -ENOTSUP;
}

int
port_detach(uint16_t id, char *err, size_t errlen)
{
	snprintf(err, errlen, "port %u: not in the fuzz harness", id);
	return -EBUSY;
}
int aq_op_timeout_ms(void) { return 2000; }

/* 'show takeover' reads the relay's counters and the takeover's state: none here. */
void
relay_stats_get(struct relay_stats *st)
{
	memset(st, 0, sizeof(*st));
}

const char *
takeover_status(void)
{
	return "idle";
}

int
aq_queue_stats(uint16_t port, uint16_t q, bool cleared, struct aq_queue_stats *s)
{
	if (port >= NPORTS || q >= app.ports[port].nb_queues)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	s->rx = cleared ? 0 : ++counter;
	s->tx = UINT64_MAX - counter;
	s->held_now = q;
	return 0;
}

int
aq_port_stats(uint16_t port, bool cleared, struct port_counters *c)
{
	if (port >= NPORTS)
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	c->rx = cleared ? 0 : ++counter;
	c->drop = UINT64_MAX;
	return 0;
}

uint64_t aq_frames_held(uint16_t port) { return port; }
void aq_clear_stats(uint16_t port) { (void)port; counter = 0; }
unsigned int aq_nb_lcores(void) { return 1; }

int
aq_lcore(unsigned int i, struct aq_lcore *l)
{
	if (i >= 1)
		return -EINVAL;
	*l = (struct aq_lcore){ .lcore_id = 1, .poller = 0, .iterations = counter,
				.moved = counter, .nb_streams = 4 };
	return 0;
}

unsigned int aq_nb_active_streams(void) { return fwd_started ? 4 : 0; }

int
aq_active_stream(unsigned int i, struct aq_stream *s)
{
	if (i >= aq_nb_active_streams())
		return -EINVAL;
	*s = (struct aq_stream){ .lcore_id = 1, .rx_port = 1 + i / 2, .rx_q = i % 2,
				 .tx_port = i == 3 ? -1 : 1 + i / 2, .tx_q = i % 2,
				 .parks = i & 1 };
	return 0;
}

bool aq_fwd_started(void) { return fwd_started; }
enum fwd_mode aq_fwd_mode(void) { return fwd_mode; }

int
aq_fwd_start(char *err, size_t errlen)
{
	if (fwd_started) {
		snprintf(err, errlen, "already started");
		return -EALREADY;
	}
	fwd_started = true;
	return 0;
}

int
aq_fwd_stop(char *err, size_t errlen)
{
	if (!fwd_started) {
		snprintf(err, errlen, "not started");
		return -EALREADY;
	}
	fwd_started = false;
	return 0;
}

int
aq_fwd_set_mode(enum fwd_mode m, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	fwd_mode = m;
	return 0;
}

int
aq_fwd_mode_parse(const char *name)
{
	for (int m = 0; m <= FWD_TXONLY; m++) {
		const char *n = fwd_mode_name((enum fwd_mode)m);

		if (n != NULL && strcmp(n, name) == 0)
			return m;
	}
	return -1;
}

/* ---- setup --------------------------------------------------------------------------------- */

static int
be_get(void *priv, uint16_t vq, struct vs_vq_state *st)
{
	(void)priv;
	st->avail_idx = st->used_idx = vq;
	return 0;
}

static void
stream_fn(void *arg)
{
	(void)arg;
}

static const struct vs_backend_ops be_ops = { .get_vq_state = be_get };

static void
setup(void)
{
	struct vs_ctl_params p = { .nb_pollers = 1, .stop_timeout_ns = 1000000000ull };

	app.ctl = vs_ctl_create(&p);
	if (app.ctl == NULL)
		abort();
	memset(app.ports, 0, sizeof(app.ports));
	app.nb_ports = NPORTS;
	app.ports[0] = (struct app_port){ .id = 0, .kind = PORT_ETHDEV, .name = "net_null0",
					  .nb_queues = 1, .eth_id = 7, .dev = VS_DEV_NONE };
	for (uint16_t d = 0; d < 2; d++) {
		struct vs_op *op = vs_op_alloc(VS_OP_DEV_ADD, 0);

		op->in.dev_add = (struct vs_dev_add){ .name = d ? "/b.sock" : "/a.sock",
						      .ops = &be_ops, .nb_vqs = 2 * NQ,
						      .config = { .mtu = 1500, .status = 1,
								  .max_vq_pairs = NQ } };
		if (call_free(op) != d)
			abort();
		op = vs_op_alloc(VS_OP_SET_FEATURES, d);
		op->in.features = (1ull << 32) | (1ull << VS_F_DEVICE_STOP) | (1ull << VS_F_SUSPEND);
		call_free(op);
		for (uint8_t s = 1; s <= 0x0f; s = (uint8_t)(s << 1 | 1)) {
			op = vs_op_alloc(VS_OP_SET_STATUS, d);
			op->in.status = s == 7 ? 0x0b : s; /* ACK, |DRIVER, |FEATURES_OK, |DRIVER_OK */
			call_free(op);
		}
		call_free(vs_op_alloc(VS_OP_ATTACH, d));
		op = vs_op_alloc(VS_OP_STREAM_ADD, 0);
		op->in.stream = (struct vs_stream){ .fn = stream_fn, .poller = 0, .rx_dev = d,
						    .rx_vq = 1, .tx_dev = d, .tx_vq = 0 };
		call_free(op);
		memset(&vps[d], 0, sizeof(vps[d]));
		vps[d].port = &app.ports[1 + d];
		snprintf(vps[d].path, sizeof(vps[d].path), "%s", d ? "/b.sock" : "/a.sock");
		vps[d].nb_qp = NQ;
		vps[d].connected = d == 0;
		vps[d].vid = d == 0 ? 0 : -1;
		app.ports[1 + d] = (struct app_port){ .id = 1 + d, .kind = PORT_VHOST,
						      .nb_queues = NQ, .vh = &vps[d], .dev = d };
		snprintf(app.ports[1 + d].name, sizeof(app.ports[1 + d].name), "%s", vps[d].path);
	}
	fwd_started = true;
	fwd_mode = FWD_LOOPBACK;
	counter = 0;
}

static void
teardown(void)
{
	for (int i = 0; i < 16; i++)
		vs_ctl_run_once(app.ctl);
	vs_ctl_free(app.ctl);
	app.ctl = NULL;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	rte_log_set_global_level(RTE_LOG_EMERG);
	app.opts.stop_timeout_ms = 1000;
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		abort();
	verbose = getenv("FUZZ_CMD_VERBOSE") != NULL;
	return 0;
}

/* ---- checks -------------------------------------------------------------------------------- */

static void
fail(const char *why, const char *line, const char *out)
{
	fprintf(stderr, "fuzz_cmd: %s\nline: '%s'\nanswer: '%s'\n", why, line, out);
	abort();
}

static bool
utf8_ok(const unsigned char *s)
{
	while (*s) {
		int n = *s < 0x80 ? 0 : (*s >> 5) == 6 ? 1 : (*s >> 4) == 14 ? 2 :
			(*s >> 3) == 30 ? 3 : -1;

		if (n < 0)
			return false;
		s++;
		for (int i = 0; i < n; i++, s++)
			if ((*s & 0xc0) != 0x80)
				return false;
	}
	return true;
}

/* A minimal JSON validator: @return the end of the value at @p s, or NULL. */
static const char *json_value(const char *s, int depth);

static const char *
ws(const char *s)
{
	while (*s == ' ')
		s++;
	return s;
}

static const char *
json_string(const char *s)
{
	if (*s++ != '"')
		return NULL;
	while (*s != '"') {
		if ((unsigned char)*s < 0x20)
			return NULL; /* raw control character, newline included */
		if (*s == '\\') {
			s++;
			if (*s == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", s[i]) || s[i] == '\0')
						return NULL;
				s += 4;
			} else if (!strchr("\"\\/bfnrt", *s) || *s == '\0') {
				return NULL;
			}
		}
		s++;
	}
	return s + 1;
}

static const char *
json_number(const char *s)
{
	const char *b = s;

	if (*s == '-')
		s++;
	if (*s < '0' || *s > '9')
		return NULL;
	while ((*s >= '0' && *s <= '9') || *s == '.' || *s == 'e' || *s == 'E' || *s == '+' ||
	       *s == '-')
		s++;
	return s > b ? s : NULL;
}

static const char *
json_value(const char *s, int depth)
{
	s = ws(s);
	if (depth > 32)
		return NULL;
	switch (*s) {
	case '"':
		return json_string(s);
	case '{':
		s = ws(s + 1);
		if (*s == '}')
			return s + 1;
		for (;;) {
			s = json_string(ws(s));
			if (s == NULL || *(s = ws(s)) != ':')
				return NULL;
			s = json_value(s + 1, depth + 1);
			if (s == NULL)
				return NULL;
			s = ws(s);
			if (*s == '}')
				return s + 1;
			if (*s++ != ',')
				return NULL;
		}
	case '[':
		s = ws(s + 1);
		if (*s == ']')
			return s + 1;
		for (;;) {
			s = json_value(s, depth + 1);
			if (s == NULL)
				return NULL;
			s = ws(s);
			if (*s == ']')
				return s + 1;
			if (*s++ != ',')
				return NULL;
		}
	case 't':
		return strncmp(s, "true", 4) == 0 ? s + 4 : NULL;
	case 'f':
		return strncmp(s, "false", 5) == 0 ? s + 5 : NULL;
	case 'n':
		return strncmp(s, "null", 4) == 0 ? s + 4 : NULL;
	default:
		return json_number(s);
	}
}

static void
run_line(const char *line, enum cmd_fmt fmt)
{
	struct cmd_out o;
	const char *r, *end;
	uint8_t st0 = vs_ctl_status_shown(app.ctl, 0), st1 = vs_ctl_status_shown(app.ctl, 1);
	int rc;

	cmd_out_init(&o, fmt);
	in_cmd = true;
	rc = cmd_exec_line(line, &o);
	in_cmd = false;
	r = cmd_out_result(&o);
	if (verbose)
		fprintf(stderr, "> %s\n%s%s", line, r, fmt == CMD_FMT_JSON ? "\n" : "");
	if (rc != 0 && rc != 1)
		fail("cmd_exec_line returned neither 0 nor 1", line, r);
	if (rc == 0 && fmt == CMD_FMT_JSON) {
		if (strncmp(r, "{\"ok\":true", 10) != 0 &&
		    strncmp(r, "{\"ok\":false,\"error\":\"", 21) != 0)
			fail("JSON answer does not start with {\"ok\":...", line, r);
		end = json_value(r, 0);
		if (end == NULL || *end != '\0')
			fail("JSON answer is not one well-formed JSON object", line, r);
		if (strncmp(r, "{\"ok\":false", 11) == 0 && !o.failed)
			fail("ok:false without a failure", line, r);
	}
	if (rc == 0 && fmt == CMD_FMT_TEXT) {
		size_t l = strlen(r);

		if (l > 0 && r[l - 1] != '\n')
			fail("text answer does not end with a newline", line, r);
		if (o.failed && strstr(r, "Error: ") == NULL)
			fail("failed command without 'Error: '", line, r);
	}
	if (utf8_ok((const unsigned char *)line) && !utf8_ok((const unsigned char *)r))
		fail("valid UTF-8 line, invalid UTF-8 answer", line, r);
	if ((strncmp(line, "show", 4) == 0 || strncmp(line, "help", 4) == 0) &&
	    (vs_ctl_status_shown(app.ctl, 0) != st0 || vs_ctl_status_shown(app.ctl, 1) != st1))
		fail("a show/help command changed a device status", line, r);
	cmd_out_free(&o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf;
	size_t i = 0;

	if (size > 8192)
		return 0;
	buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	setup();
	while (i < size) {
		size_t j = i;
		enum cmd_fmt fmt;

		while (j < size && data[j] != '\n')
			j++;
		/* The first byte picks the format; the line is the rest ('\0' ends it early,
		 * as it would on the wire). */
		if (j > i) {
			fmt = (data[i] & 1) ? CMD_FMT_JSON : CMD_FMT_TEXT;
			memcpy(buf, data + i + 1, j - i - 1);
			buf[j - i - 1] = '\0';
			run_line(buf, fmt);
		}
		i = j + 1;
	}
	free(buf);
	teardown();
	return 0;
}
