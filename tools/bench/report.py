#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Print the benchmark CSVs of a run (out/bench, or DIR) as reStructuredText tables, the
way docs/benchmarks.rst shows them. Usage: report.py [DIR] [--name NAME=FILE ...]"""
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import OUT  # noqa: E402


def table(header, rows):
    cols = list(zip(*([header] + rows)))
    w = [max(len(str(c)) for c in col) for col in cols]
    sep = "  ".join("=" * n for n in w)
    out = [sep, "  ".join(str(h).ljust(n) for h, n in zip(header, w)), sep]
    out += ["  ".join(str(c).ljust(n) for c, n in zip(r, w)) for r in rows]
    return "\n".join(out + [sep])


def load(d, name):
    p = os.path.join(d, name)
    return list(csv.DictReader(open(p))) if os.path.exists(p) else None


def throughput(d, name):
    rows = load(d, name + ".csv")
    if not rows:
        return
    print(f"{name}:\n")
    print(table(["backend", "frame", "queues", "runs", "median Mpps", "min-max Mpps",
                 "ratio of medians", "run-by-run ratio: median (min-max)"],
                [[r["backend"], r["size"] + " B", r["queues"], r["runs"],
                  f"{float(r['median_mpps']):.2f}",
                  f"{float(r['min_mpps']):.2f}-{float(r['max_mpps']):.2f}",
                  "(reference)" if r["backend"] == r["reference"] else r["ratio"],
                  "" if r["backend"] == r["reference"] else
                  f"{r['paired_ratio_median']} ({r['paired_ratio_min']}-"
                  f"{r['paired_ratio_max']})"] for r in rows]))
    if rows and rows[0].get("idle_loop_cpu_ns") is not None and \
            any(r["idle_loop_cpu_ns"] for r in rows):
        print()
        print(table(["backend", "queues", "idle loop, CPU ns/iteration (median)",
                     "run-by-run ratio to the reference (median)"],
                    [[r["backend"], r["queues"], r["idle_loop_cpu_ns"],
                      r["idle_loop_paired_ratio"]] for r in rows if r["idle_loop_cpu_ns"]]))
    print()


def stop_latency(d, name):
    rows = load(d, name + ".csv")
    if not rows:
        return
    print(f"{name}:\n")
    print(table(["mode", "queues", "stops", "wall us median", "wall p99", "wall max",
                 "engine us median", "engine p99", "iterations median (p99)",
                 "loop ns (traffic)", "loop periods median", "p99"],
                [[r["mode"], r["queues"], r["stops"], r["wall_us_median"], r["wall_us_p99"],
                  r["wall_us_max"], r["engine_us_median"], r["engine_us_p99"],
                  f"{r['engine_iters_median']} ({r['engine_iters_p99']})",
                  r["loop_ns_traffic"], r["periods_median"], r["periods_p99"]]
                 for r in rows]))
    print()


def migration(d, name):
    rows = load(d, name + ".csv")
    if not rows:
        return
    print(f"{name}:\n")
    # Older CSVs (before vstop-fe reported the driver's wait apart) lack the dev columns.
    print(table(["queues", "migrations", "downtime ms median", "p99", "max",
                 "without driver wait: median", "p99", "frames sent", "lost", "dup",
                 "reordered"],
                [[r["queues"], r["migrations"], r["downtime_ms_median"], r["downtime_ms_p99"],
                  r["downtime_ms_max"], r.get("downtime_dev_ms_median") or "-",
                  r.get("downtime_dev_ms_p99") or "-", r["frames_sent"], r["frames_lost"],
                  r["duplicated"], r["reordered"]] for r in rows]))
    print()
    parts = [("stop_us", "source stop"), ("bases_us", "GET_VRING_BASE x rings"),
             ("save_us", "save state"), ("load_us", "destination rings + load"),
             ("start_us", "DRIVER_OK -> first frame"),
             ("driver_wait_us", "of which driver wait"),
             ("driver_catchup_us", "driver catch-up (not downtime)")]
    rows = [dict(r, **{k + s: r.get(k + s) or "-" for k, _ in parts for s in ("_median", "_p99")})
            for r in rows]
    print(table(["queues"] + [f"{t} us (median / p99)" for _, t in parts],
                [[r["queues"]] + [f"{r[k + '_median']} / {r[k + '_p99']}" for k, _ in parts]
                 for r in rows]))
    print()


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else OUT
    p = os.path.join(d, "stop_engine.txt")
    if os.path.exists(p):
        print("stop_engine:\n")
        print("".join("   " + line for line in open(p)))
    throughput(d, "throughput")
    throughput(d, "stop_cost")
    for n in sorted(os.listdir(d)):
        if n.startswith("stop_latency") and n.endswith(".csv") and "_stops" not in n:
            stop_latency(d, n[:-4])
    for n in sorted(os.listdir(d)):
        if n.startswith("migration") and n.endswith(".csv") and "_migrations" not in n:
            migration(d, n[:-4])


if __name__ == "__main__":
    main()
