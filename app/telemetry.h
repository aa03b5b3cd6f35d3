/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VSTOP_TELEMETRY_H
#define VSTOP_TELEMETRY_H

/*
 * rte_telemetry endpoints (read with dpdk-telemetry.py -f <file-prefix>):
 *   /vstop/ports        every port: ids, names, kinds, decoded status, stops, resumes
 *   /vstop/port,<id>    one port: status (raw and decoded), stop state, features, link,
 *                       stop/resume/cancel/reset counts, deadline misses, refused writes,
 *                       last stop latency (ns, loop iterations) and its histogram,
 *                       frames held, and per-queue counters (arrays indexed by queue).
 * Counters are totals since start ("clear port stats" does not touch them).
 */

/* Register the endpoints (after rte_eal_init()). @return 0 or -errno. */
int vstop_telemetry_register(void);

#endif /* VSTOP_TELEMETRY_H */
