/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef FE_APP_H
#define FE_APP_H

/**
 * @file
 * The whole front end: options, the driver (fe_net), the device we currently drive
 * (fe_dev), and what the scenarios measured. One control thread (main) runs scenarios,
 * migrations and conformance probes; the data thread runs fe_net underneath.
 */

#include <stdbool.h>
#include <stdint.h>

#include "fe_blob.h"
#include "fe_dev.h"
#include "fe_net.h"

/* Exit status. */
#define FE_EXIT_OK     0
#define FE_EXIT_CHECK  1  /**< frames lost/dup/reordered/bad, stop deadline missed, probe failed */
#define FE_EXIT_USAGE  2
#define FE_EXIT_FATAL  3  /**< cannot connect, protocol error, backend gone */

struct fe_opts {
	const char *sock;
	const char *peer;
	struct fe_net_cfg net;
	struct fe_dev_opts dev;
	double duration_s;        /**< traffic time; cycles/migrations may extend it */
	unsigned int cycles;
	unsigned int migrations;
	unsigned int gap_ms;      /**< traffic between two operations */
	unsigned int hold_ms;     /**< time spent stopped in a cycle */
	unsigned int drain_ms;    /**< wait for frames in flight at the end */
	enum fe_stop_kind stop_kind;
	enum fe_stop_kind mig_stop_kind;
	enum fe_corrupt corrupt;  /**< damage the blob on migration (M3) */
	bool expect_refused;      /**< a refused migration is the expected outcome */
	bool no_preconnect;       /**< connect the destination only after the stop */
	bool state_first;         /**< LOAD before the destination's ring setup */
	bool conformance;
	bool quiet;               /**< no progress lines */
	bool wait_traffic;        /**< require traffic to flow after bring-up */
	const char *only;         /**< conformance: run only these rule ids (comma list) */
	const char *backend_ctl;  /**< control socket of the backend behind sock (R7/S4) */
	unsigned int backend_port; /**< that backend's port id of the device */
	unsigned int devices;     /**< --devices N: N devices from one process (fe_multi.c) */
	bool multi_traffic;       /**< --traffic: with --devices, every device sends and checks */
};

/** Aggregated measure (min/avg/max) in ns. */
struct fe_meas {
	uint64_t n, sum, min, max, last;
};

void fe_meas_add(struct fe_meas *m, uint64_t v);

struct fe_app {
	struct fe_opts o;
	struct fe_net net;
	struct fe_dev dev;       /**< the device frames go through now */
	const char *cur;         /**< its socket */
	uint64_t t0;
	/* Measures, written by the control thread, read by the progress tick. */
	struct fe_meas stop_ns;
	struct fe_meas resume_ns;
	struct fe_meas downtime_ns;
	struct fe_meas drvwait_ns;  /**< DRIVER_OK shown -> a frame posted for the destination */
	struct fe_meas catchup_ns;  /**< ring bases -> driver took the source's last frames */
	uint64_t stop_polls;
	uint64_t stop_first_shown;
	uint64_t deadline_misses;
	uint64_t mig_ok;
	uint64_t mig_refused;
	uint64_t mig_failed;
	uint64_t base_mismatch;   /**< GET_VRING_BASE index != used index (V1) */
	uint64_t cycles_done;
};

int fe_scenario_run(struct fe_app *a);
int fe_multi_run(struct fe_app *a);
int fe_conformance_run(struct fe_app *a);

#endif /* FE_APP_H */
