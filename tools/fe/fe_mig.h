/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef FE_MIG_H
#define FE_MIG_H

/**
 * @file
 * Live migration of the device from one backend (source) to another (destination) while
 * the driver keeps sending: stop at the source, read ring bases, save device state, load
 * it at the destination, start there. Downtime = source stop request -> first frame the
 * destination forwards back, seen in guest memory (an rx used index moves past where the
 * source left it): device time only. When the driver itself gets to that frame, and when
 * it had dealt with the source's last frames, are measured too, as driver figures.
 */

#include <stddef.h>
#include <stdint.h>

#include "fe_blob.h"
#include "fe_dev.h"

struct fe_mig_opts {
	enum fe_stop_kind kind;    /**< how to stop the source (AUTO) */
	enum fe_corrupt corrupt;   /**< damage the blob before LOAD (M3) */
	bool preconnect;           /**< negotiate with the destination before the stop */
	bool state_first;          /**< LOAD before the destination's rings are set up */
	unsigned int first_frame_ms; /**< wait this long for the first frame via destination */
};

struct fe_mig_res {
	uint64_t t_stop;      /**< stop requested at the source */
	uint64_t t_shown;     /**< source shows the stop */
	uint64_t t_bases;     /**< ring bases read */
	uint64_t t_saved;     /**< device state saved */
	uint64_t t_loaded;    /**< destination accepted the state */
	uint64_t t_started;   /**< destination shows DRIVER_OK (the first frame may come earlier) */
	uint64_t t_first;     /**< first frame through the destination (rx used index moved) */
	/*
	 * First time a tx frame was seen posted for the destination (avail index past the
	 * source's base), at or after t_started; later than t_started when the driver had
	 * none waiting: that part of the downtime is the driver's, not the device's.
	 */
	uint64_t t_work;
	/* Driver figures, not downtime; 0 when not measured (the driver was too slow). */
	uint64_t t_caught;    /**< driver had taken every frame the source returned */
	uint64_t t_drv_first; /**< driver took the destination's first frame */
	size_t blob_len;
	uint16_t blob_version;
	unsigned int base_mismatch;  /**< rings whose base != used index (V1) */
	bool state_moved;
	bool refused;         /**< destination refused the state (M3) */
	bool resumed_src;     /**< after a failure, the source runs again */
	uint64_t check;       /**< CHECK_DEVICE_STATE answer at the destination */
};

/**
 * Migrate @p src to a new connection @p dst on @p dst_path. On success @p src is closed
 * and @p dst is the running device. On failure @p dst is closed and, when possible, the
 * source runs again (@p r->resumed_src). @return 0 or -errno (error text set).
 */
int fe_migrate(struct fe_dev *src, struct fe_dev *dst, const char *dst_path,
	       const struct fe_mig_opts *mo, struct fe_mig_res *r);

/** Wait until the driver has consumed every used rx entry (nothing stale left). */
void fe_net_wait_caught_up(struct fe_net *net, unsigned int timeout_ms);

#endif /* FE_MIG_H */
