/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * device stop|resume|suspend|reset <port>, device save|load <port> <file>.
 * Every state change is an op run by the control lcore (vs_ctl_call()).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_query.h"
#include "cmd.h"
#include "devstate_io.h"
#include "vhost_dev.h"

static int
op_error(struct cmd_out *o, uint16_t port, const char *what, int rc)
{
	switch (rc) {
	case -EINVAL:
		return cmd_err(o, "port %u: cannot %s: no driver running (DRIVER_OK not set)",
			       port, what);
	case -EBUSY:
		return cmd_err(o, "port %u: cannot %s: a stop of the other kind is under way "
			       "or done (resume first)", port, what);
	case -ETIMEDOUT:
		return cmd_err(o, "port %u: %s not complete within the stop deadline (%u ms): "
			       "deadline missed (R11), see 'show device status %u'", port, what,
			       app.opts.stop_timeout_ms, port);
	case -ECANCELED:
		return cmd_err(o, "port %u: %s cancelled (a reset or another request came first)",
			       port, what);
	default:
		return cmd_err(o, "port %u: %s failed: %s", port, what, strerror(-rc));
	}
}

static int
device_op(struct cmd_out *o, int argc, char **argv)
{
	static const struct {
		const char *name;
		unsigned int op;
	} ops[] = {
		{ "stop", VS_OP_STOP },
		{ "suspend", VS_OP_SUSPEND },
		{ "resume", VS_OP_RESUME },
		{ "reset", VS_OP_RESET },
	};
	uint16_t port;
	unsigned int i;
	int rc;

	RTE_SET_USED(argc);
	for (i = 0; i < RTE_DIM(ops); i++)
		if (strcmp(argv[1], ops[i].name) == 0)
			break;
	if (i == RTE_DIM(ops))
		return cmd_err(o, "unknown device operation '%s'", argv[1]);
	if (strcmp(argv[2], "all") == 0) {
		if (ops[i].op == VS_OP_RESET)
			return cmd_err(o, "device reset takes one port, not 'all'");
		return cmd_device_all(o, ops[i].name, ops[i].op);
	}
	if (cmd_vhost_port(o, argv[2], &port) != 0)
		return -1;
	APP_LOG(INFO, "command: device %s port %u", ops[i].name, port);
	rc = vs_ctl_simple(app.ctl, ops[i].op, aq_port(port)->dev, aq_op_timeout_ms());
	if (rc < 0)
		return op_error(o, port, ops[i].name, rc);
	return cmd_show_device(o, port);
}

static void
set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Write @p len bytes to @p path atomically: a temporary file beside it, then rename. */
static int
write_atomic(const char *path, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	size_t off = 0;
	int fd, rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		set_err(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		set_err(err, errlen, "%s: %s", tmp, strerror(errno));
		return rc;
	}
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = w < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)w;
	}
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc < 0) {
		set_err(err, errlen, "%s: %s", path, strerror(-rc));
		unlink(tmp);
		return rc;
	}
	/* the rename itself survives a crash once the directory is synced */
	snprintf(dir, sizeof(dir), "%s", path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

static int
device_save(struct cmd_out *o, int argc, char **argv)
{
	const char *path = argv[3];
	char err[256] = "";
	uint8_t *blob = NULL;
	uint16_t port;
	long len;
	int rc;

	RTE_SET_USED(argc);
	if (cmd_vhost_port(o, argv[2], &port) != 0)
		return -1;
	len = devstate_collect(aq_port(port)->vh, &blob, err, sizeof(err));
	if (len < 0)
		return cmd_err(o, "port %u: cannot save the device state: %s", port,
			       err[0] ? err : strerror((int)-len));
	rc = write_atomic(path, blob, (size_t)len, err, sizeof(err));
	free(blob);
	if (rc < 0)
		return cmd_err(o, "port %u: cannot write the device state: %s", port, err);
	APP_LOG(INFO, "command: port %u device state saved to %s (%ld bytes)", port, path, len);
	out_u64(o, "port", port);
	out_str(o, "file", "%s", path);
	out_u64(o, "bytes", (uint64_t)len);
	return 0;
}

static int
device_load(struct cmd_out *o, int argc, char **argv)
{
	const char *path = argv[3];
	char err[256] = "";
	uint16_t port;
	int rc;

	RTE_SET_USED(argc);
	if (cmd_vhost_port(o, argv[2], &port) != 0)
		return -1;
	rc = devstate_load_file(aq_port(port)->vh, path, err, sizeof(err));
	if (rc < 0)
		return cmd_err(o, "port %u: device state refused, device unchanged: %s", port,
			       err[0] ? err : strerror(-rc));
	APP_LOG(INFO, "command: port %u device state loaded from %s", port, path);
	out_str(o, "loaded_from", "%s", path);
	return cmd_show_device(o, port);
}

const struct cmd_def cmd_device_defs[] = {
	{ "device stop|suspend|resume|reset <port|all>",
	  "Stop (DEVICE_STOPPED), suspend (virtio 1.4 SUSPEND), resume or reset a vhost-user "
	  "device through the stop engine; waits until done, then shows its status. 'all' "
	  "(not for reset): every vhost device in one engine pass with one epoch barrier "
	  "(E1); devices without a driver are skipped; answers counts, times and epochs.",
	  "device stop 0", device_op },
	{ "device save <port> <file>",
	  "Write the device state blob (M1) of a stopped device to a file, atomically "
	  "(temporary file, then rename).",
	  "device save 0 /tmp/vstop-state.bin", device_save },
	{ "device load <port> <file>",
	  "Load a device state blob into a device; a bad blob is refused and the device "
	  "left as it was (M3).",
	  "device load 0 /tmp/vstop-state.bin", device_load },
	{ NULL, NULL, NULL, NULL },
};
