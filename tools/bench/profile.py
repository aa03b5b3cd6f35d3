#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Where a backend's forwarding lcore spends its time: perf samples of the backend process
under the throughput benchmark's load (same front end, pinning and tx_first), per shared
object and per symbol. Explains a throughput ratio: the part of the time spent inside
librte_vhost (the same library, the same copies, in both backends) bounds what a backend
can gain by its own code.

Needs perf (linux-perf). Writes out/bench/NAME.csv (backend, object, % of samples) and
NAME.txt (the top symbols).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import OUT, TOP, Proc, log, proclib, save_machine, tag, wait_for, write_csv  # noqa: E402,E501
import throughput  # noqa: E402


def profile(kind, a):
    t = tag()
    socks = [f"/tmp/vs-prof-{t}-{i}.sock" for i in range(throughput.nports(kind))]
    be = Proc(throughput.backend_argv(kind, socks, a.queues, t, a), kind)
    fe = None
    data = os.path.join(OUT, f"{a.name}-{kind}.data")
    try:
        wait_for(lambda: all(os.path.exists(s) for s in socks) or not be.alive(), 20,
                 "backend sockets")
        fe = Proc(throughput.frontend_argv(socks, a.queues, a.size, t, a), "front end")
        fe.send("show port summary all")
        wait_for(lambda: "Number of available ports" in fe.text() or not fe.alive(), 30,
                 "front end prompt")
        fe.send(f"start tx_first {a.tx_first}")
        time.sleep(a.warmup)
        p0, t0 = throughput.rx_packets(fe, len(socks))
        r = proclib.run(["perf", "record", "-F", str(a.freq), "-g", "-p", str(be.pid), "-o",
                         data, "--", "sleep", str(a.seconds)], timeout=a.seconds + 120)
        if r.returncode != 0:
            raise RuntimeError(f"perf record failed ({r.returncode}): {r.stdout[-500:]}")
        p1, t1 = throughput.rx_packets(fe, len(socks))
        mpps = (p1 - p0) / (t1 - t0) / 1e6
        fe.send("stop")
        fe.send("quit")
    finally:
        if fe is not None:
            fe.stop()
        be.stop()
        for s in socks:
            if os.path.exists(s):
                os.unlink(s)

    def report(sort):
        r = proclib.run(["perf", "report", "-i", data, "--no-children", "--sort", sort,
                         "--stdio", "-g", "none"], timeout=300, stderr=subprocess.DEVNULL)
        rows = []
        for line in r.stdout.splitlines():
            m = re.match(r"\s+([\d.]+)%\s+(.*\S)", line)
            if m:
                rows.append((float(m.group(1)), m.group(2).strip()))
        return rows
    return mpps, report("dso"), report("dso,sym")[:a.top]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="testpmd,vstop")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--queues", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--freq", type=int, default=2000, help="perf samples per second")
    ap.add_argument("--top", type=int, default=12, help="symbols listed per backend")
    ap.add_argument("--burst", type=int, default=32)
    ap.add_argument("--tx-first", type=int, default=8, dest="tx_first")
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--noqsbr", default=None)
    ap.add_argument("--name", default="profile")
    a = ap.parse_args()
    if shutil.which("perf") is None:
        sys.exit("profile: perf not found (Debian: linux-perf)")
    a.noqsbr = a.noqsbr or os.path.join(a.build, "tools", "bench", "vstop-noqsbr")
    os.makedirs(OUT, exist_ok=True)
    for line in save_machine(a.name):
        log(line)
    rows, text = [], []
    for b in a.backends.split(","):
        mpps, dsos, syms = profile(b, a)
        log(f"== {b}: {mpps:.3f} Mpps while sampled; time by object:")
        text.append(f"{b} ({a.size} B, {a.queues} q, {mpps:.3f} Mpps while sampled)")
        for pct, dso in dsos:
            log(f"   {pct:6.2f} %  {dso}")
            rows.append([b, a.size, a.queues, round(mpps, 3), dso, pct])
        text += [f"   {pct:6.2f} %  {sym}" for pct, sym in syms]
    write_csv(os.path.join(OUT, a.name + ".csv"),
              ["backend", "size", "queues", "mpps", "object", "pct_samples"], rows)
    with open(os.path.join(OUT, a.name + ".txt"), "w") as f:
        f.write("\n".join(text) + "\n")
    log("top symbols: " + os.path.join(OUT, a.name + ".txt"))


if __name__ == "__main__":
    main()
