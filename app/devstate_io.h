/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VSTOP_DEVSTATE_IO_H
#define VSTOP_DEVSTATE_IO_H

/*
 * Device state (M1-M3) of a vhost port: collect it into a blob, apply a blob, and move
 * blobs through a file or a vhost-user SET_DEVICE_STATE_FD pipe.
 *
 * Collecting needs a quiesced device (stopped, suspended, reset or V1-quiesced): only
 * then are its vq indices stable. Applying validates the whole blob first (decode, crc,
 * version, features, sizes, mbufs for held frames); a blob that fails any check changes
 * nothing (M3).
 *
 * Any thread but the control lcore (they post ops and wait).
 */

#include <stddef.h>
#include <stdint.h>

struct vhost_port;

/* @return blob length (malloc'd into *blob) or -errno with err set. */
long devstate_collect(struct vhost_port *vp, uint8_t **blob, char *err, size_t errlen);
/* @return 0 or -errno with err set; on error the device is unchanged. */
int devstate_apply(struct vhost_port *vp, const uint8_t *blob, size_t len, char *err,
		   size_t errlen);

int devstate_save_file(struct vhost_port *vp, const char *path, char *err, size_t errlen);
int devstate_load_file(struct vhost_port *vp, const char *path, char *err, size_t errlen);

/*
 * SET_DEVICE_STATE_FD: start a worker that writes (SAVE) or reads (LOAD) @p fd, which it
 * owns from now on. @return the u64 reply: VHU_STATE_REPLY_NO_FD, with an error in bits
 * 0..7 if the transfer cannot start.
 */
uint64_t devstate_xfer_start(struct vhost_port *vp, uint32_t dir, uint32_t phase, int fd);
/* CHECK_DEVICE_STATE: wait (bounded) for the worker. @return 0 or -errno. */
int devstate_xfer_check(struct vhost_port *vp);
/* Connection gone: forget a finished transfer (a running worker finishes on its own). */
void devstate_xfer_abort(struct vhost_port *vp);

#endif /* VSTOP_DEVSTATE_IO_H */
