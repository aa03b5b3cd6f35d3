#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Many devices (rule E1) and many ports: what stopping all of them costs, and what an
idle port costs. Four parts (docs/benchmarks.rst, "Many devices"):

 1. engine: tools/bench/bench_scale (the engine alone, real lcores): engine time and wall
    time to stop N devices in one bulk, and the same N one request each, with the epochs
    each took; N = 1, 16, 64, 256, 1024.
 2. wire: vstop with N vhost-user ports and vstop-fe --devices N holding them at
    DRIVER_OK: 'device stop all' over the control socket (wall time at the client, the
    engine's batch time, epochs) against 'device stop <i>' for each port; then the front
    ends stopping all their devices together (status writes from N connections).
    N <= 256: librte_vhost 22.11 polls at most 1023 sockets and connections.
 3. idle ports: vstop with N idle ports (server sockets; 1024 as client sockets, which
    need no fd while unconnected): RSS and the polling loop period (idle back-off off).
 4. attach/detach: runtime port attach + detach cycles per second, and 256 attaches in a
    row then 256 detaches.

Usage: tools/bench/scale.py [--build DIR] [--smoke] [--cycles N]
Output: $VSTOP_BENCH_OUT (default out/bench): scale_*.csv, scale.png, scale.txt."""

import argparse
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def vstop_argv(a, name, ports, client=False, backoff=100, extra=()):
    socks = []
    argv = [a.vstop] + B.EAL + ["-m", "512", "--file-prefix", f"sc{name}{B.tag()}",
                                "--lcores", "0@0,1@1", "--log-level=lib.vhost.*:error",
                                "--log-level=vstop.*:warning", "--"]
    d = f"/tmp/vs-scale-{name}-{B.tag()}"
    os.makedirs(d, exist_ok=True)
    for i in range(ports):
        s = f"{d}/p{i}.sock"
        socks.append(s)
        argv += ["--vhost", s + (",client" if client else "")]
    ctl = f"{d}/ctl"
    argv += ["--fwd", "loopback", "--idle-backoff-us", str(backoff), "--ctl", ctl,
             "--hold", "32", "--mbufs", "16384"] + list(extra)
    return argv, d, ctl


def start_vstop(a, name, ports, backoff=100, client=False):
    argv, d, ctl = vstop_argv(a, name, ports, client=client, backoff=backoff)
    p = B.Proc(argv, f"vstop-{name}", stdin=False, logfile=f"{d}/vstop.log")
    B.wait_for(lambda: os.path.exists(ctl) or not p.alive(), 120, "vstop's control socket")
    end = time.monotonic() + 60
    while True:
        if not p.alive():
            raise RuntimeError(f"vstop ({ports} ports) exited:\n{p.text()[-2000:]}")
        try:
            return p, B.Ctl(ctl, timeout=60), d
        except ConnectionRefusedError:  # bound, not yet listening
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


def stop_proc(p):
    p.stop(sig=signal.SIGTERM, timeout=60)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ---- 1. the engine alone ----

def part_engine(a):
    csv = os.path.join(B.OUT, "scale_engine.csv")
    argv = [a.bench_scale] + B.EAL + ["-m", "128", "--file-prefix", f"scb{B.tag()}",
                                      "--lcores", "0@0,1@1,2@0,3@1",
                                      "--log-level=lib.eal:error", "--",
                                      "--devices", ",".join(map(str, a.engine_n)),
                                      "--cycles", str(a.cycles), "--csv", csv]
    B.log("engine: " + " ".join(argv))
    r = B.proclib.run(argv, timeout=1800)  # stderr with stdout; a bounded reap
    out = [ln for ln in r.stdout.splitlines() if "devices:" in ln]
    for ln in out:
        B.log("  " + ln)
    if r.returncode != 0:
        raise RuntimeError("bench_scale failed:\n" + r.stdout[-4000:])
    rows = {}
    import csv as _csv
    with open(csv) as f:
        for row in _csv.DictReader(f):
            rows.setdefault((row["mode"], int(row["devices"])), []).append(row)
    res = []
    for n in a.engine_n:
        e_all = [int(x["engine_ns"]) for x in rows[("all", n)]]
        w_all = [int(x["wall_ns"]) for x in rows[("all", n)]]
        ep_all = [int(x["epochs"]) for x in rows[("all", n)]]
        e_each = [int(x["engine_ns"]) for x in rows[("each", n)]]
        w_each = [int(x["wall_ns"]) for x in rows[("each", n)]]
        ep_each = [int(x["epochs"]) for x in rows[("each", n)]]
        res.append([n, B.summary(e_all)["median"] / 1e3, B.summary(e_all)["p99"] / 1e3,
                    B.summary(w_all)["median"] / 1e3, sum(ep_all) / len(ep_all),
                    B.summary(e_each)["median"] / 1e3, B.summary(w_each)["median"] / 1e3,
                    sum(ep_each) / len(ep_each)])
    B.write_csv(os.path.join(B.OUT, "scale_engine_summary.csv"),
                ["devices", "all_engine_us_median", "all_engine_us_p99", "all_wall_us_median",
                 "all_epochs", "each_engine_us_median_sum", "each_wall_us_median",
                 "each_epochs"], res)
    return res


# ---- 2. over the wire ----

def part_wire(a):
    res = []
    for n in a.wire_n:
        v, ctl, d = start_vstop(a, f"w{n}", n)
        fe = None
        try:
            fe = B.Proc([a.fe, "--devices", str(n), "-s", f"{d}/p%u.sock", "-d", "0", "-r", "64",
                         "--quiet"], f"fe-{n}", stdin=False, logfile=f"{d}/fe.log")
            B.wait_for(lambda: "devices up:" in fe.text() or not fe.alive(), 120,
                       "vstop-fe to bring its devices up")
            if f"devices up: {n} of {n}" not in fe.text():
                raise RuntimeError("vstop-fe: " + fe.text()[-1000:])
            B.wait_for(lambda: ctl.cmd("device stop all").get("skipped_no_driver", 1) == 0
                       and ctl.cmd("device resume all")["ok"], 60, "every device at DRIVER_OK")
            walls, engines, epochs = [], [], []
            for _ in range(a.cycles):
                t0 = time.monotonic()
                r = ctl.cmd("device stop all")
                walls.append((time.monotonic() - t0) * 1e6)
                if not r["ok"] or r["done"] != n:
                    raise RuntimeError(f"device stop all: {r}")
                engines.append(r["engine_batch_us"])
                epochs.append(r["epochs"])
                ctl.cmd("device resume all")
            each_walls, each_epochs = [], []
            for _ in range(max(1, a.cycles // 5)):
                e0 = ctl.cmd("show engine")["epochs"]
                t0 = time.monotonic()
                for i in range(n):
                    r = ctl.cmd(f"device stop {i}")
                    if not r["ok"]:
                        raise RuntimeError(f"device stop {i}: {r}")
                each_walls.append((time.monotonic() - t0) * 1e6)
                each_epochs.append(ctl.cmd("show engine")["epochs"] - e0)
                ctl.cmd("device resume all")
            fe.stop(sig=signal.SIGTERM, timeout=30)
            # the front ends stop all their devices together: the epochs of a run with
            # C cycles minus those of a run without (bring-up and teardown)
            fe_c = max(1, a.cycles // 5)
            ep = []
            for cyc in (0, fe_c):
                e0 = ctl.cmd("show engine")["epochs"]
                fe2 = B.Proc([a.fe, "--devices", str(n), "-s", f"{d}/p%u.sock", "-d", "0.1",
                              "-r", "64", "--cycles", str(cyc), "--quiet"],
                             f"fe2-{n}", stdin=False, logfile=f"{d}/fe2.log")
                fe2.wait(300)
                time.sleep(0.5)  # the disconnects' resets
                ep.append(ctl.cmd("show engine")["epochs"] - e0)
            m = re.search(r"stop all from the front ends \(\d+ devices\): (\d+) cycles, min "
                          r"([\d.]+) avg ([\d.]+)", fe2.text())
            fe_us = float(m.group(3)) if m else float("nan")
            fe_epochs = (ep[1] - ep[0]) / fe_c
            s = B.summary(walls)
            res.append([n, s["median"], s["p99"], B.summary(engines)["median"],
                        sum(epochs) / len(epochs), B.summary(each_walls)["median"],
                        sum(each_epochs) / len(each_epochs), fe_us, fe_epochs])
            B.log(f"wire {n:4} devices: stop all {s['median']:9.1f} us at the client "
                  f"(engine {B.summary(engines)['median']:8.1f} us, "
                  f"{sum(epochs) / len(epochs):.1f} epoch); one request each "
                  f"{B.summary(each_walls)['median']:10.1f} us "
                  f"({sum(each_epochs) / len(each_epochs):.0f} epochs); front ends together "
                  f"{fe_us:9.1f} us ({fe_epochs:.1f} epochs per stop of all and resume of all)")
        finally:
            if fe is not None:
                stop_proc(fe)
            ctl.close()
            stop_proc(v)
            shutil.rmtree(d, ignore_errors=True)
    B.write_csv(os.path.join(B.OUT, "scale_wire.csv"),
                ["devices", "all_client_us_median", "all_client_us_p99", "all_engine_us_median",
                 "all_epochs", "each_client_us_median", "each_epochs", "fe_together_us_avg",
                 "fe_together_epochs"], res)
    return res


# ---- 3. idle ports ----

def loop_period_ns(ctl, secs=1.0, samples=3):
    """Median over @samples windows of @secs: others' load can stall a window."""
    def it():
        return sum(lc["iterations"] for lc in ctl.cmd("show lcores")["polling_lcores"])
    out = []
    for _ in range(samples):
        i0, t0 = it(), time.monotonic()
        time.sleep(secs)
        i1, t1 = it(), time.monotonic()
        out.append((t1 - t0) * 1e9 / max(1, i1 - i0))
    return sorted(out)[len(out) // 2]


def part_idle(a):
    """Idle ports: unconnected (server sockets, and client sockets for 1024) and connected
    to vstop-fe --devices N at DRIVER_OK without traffic (their streams are published:
    the polling loop runs them). Idle back-off off, so the loop period is measurable."""
    res = []
    for mode in ("server", "client", "connected"):
        for n in a.idle_n:
            if mode == "server" and n > 1023:
                n = 1023  # librte_vhost 22.11: at most 1023 sockets in its poll set
            if mode == "connected" and n > 256:
                continue  # a socket and a connection each: 511 at most
            v, ctl, d = start_vstop(a, f"i{n}{mode[0]}", n, backoff=0,
                                    client=mode == "client")
            fe = None
            try:
                if mode == "connected":
                    fe = B.Proc([a.fe, "--devices", str(n), "-s", f"{d}/p%u.sock", "-d", "0",
                                 "-r", "64", "--quiet"], f"fe-i{n}", stdin=False,
                                logfile=f"{d}/fe.log")
                    B.wait_for(lambda: "devices up:" in fe.text() or not fe.alive(), 120,
                               "vstop-fe to bring its devices up")
                time.sleep(1)
                period = loop_period_ns(ctl)
                rss = rss_kb(v.pid)
                res.append([mode, n, rss, period])
                B.log(f"idle {mode:9} ports {n:5}: RSS {rss / 1024:7.1f} MiB, polling loop "
                      f"period {period:8.1f} ns")
            finally:
                if fe is not None:
                    stop_proc(fe)
                ctl.close()
                stop_proc(v)
                shutil.rmtree(d, ignore_errors=True)
    B.write_csv(os.path.join(B.OUT, "scale_idle.csv"), ["mode", "ports", "rss_kib",
                                                         "loop_period_ns"], res)
    return res


# ---- 4. attach / detach ----

def part_attach(a):
    v, ctl, d = start_vstop(a, "ad", 1)
    res = []
    try:
        n = a.attach_cycles
        t0 = time.monotonic()
        for i in range(n):
            r = ctl.cmd(f"port attach vhost {d}/x.sock")
            if not r["ok"]:
                raise RuntimeError(f"attach: {r}")
            r = ctl.cmd(f"port detach {r['port']}")
            if not r["ok"]:
                raise RuntimeError(f"detach: {r}")
        el = time.monotonic() - t0
        res.append(["attach+detach cycle", n, el / n * 1e6, n / el])
        k = a.attach_row
        r0 = rss_kb(v.pid)
        t0 = time.monotonic()
        for i in range(k):
            if not ctl.cmd(f"port attach vhost {d}/r{i}.sock")["ok"]:
                raise RuntimeError("attach in a row")
        el = time.monotonic() - t0
        r1 = rss_kb(v.pid)
        res.append([f"{k} attaches in a row", k, el / k * 1e6, k / el])
        t0 = time.monotonic()
        for i in range(k):
            if not ctl.cmd(f"port detach {i + 1}")["ok"]:
                raise RuntimeError("detach in a row")
        el = time.monotonic() - t0
        res.append([f"{k} detaches in a row", k, el / k * 1e6, k / el])
        res.append(["RSS per attached port (KiB)", k, (r1 - r0) / k, 0])
        for row in res:
            B.log(f"attach/detach: {row[0]}: {row[2]:.1f} us each, {row[3]:.0f}/s")
    finally:
        ctl.close()
        stop_proc(v)
        shutil.rmtree(d, ignore_errors=True)
    B.write_csv(os.path.join(B.OUT, "scale_attach.csv"), ["what", "n", "us_each", "per_s"], res)
    return res


def plot(engine, wire):
    dat = os.path.join(B.OUT, "scale_plot.dat")
    with open(dat, "w") as f:
        for r in engine:
            w = next((x for x in wire if x[0] == r[0]), None)
            f.write(f"{r[0]} {r[1]} {r[5]} {w[1] if w else 'NaN'} {w[5] if w else 'NaN'}\n")
    B.gnuplot(f"""
set title 'Stopping N devices: all in one engine pass vs one request each'
set logscale xy
set xlabel 'devices'
set ylabel 'microseconds'
set key top left
set grid
plot '{dat}' using 1:2 with linespoints title 'engine, all in one pass (E1)', \\
     '{dat}' using 1:3 with linespoints title 'engine, one request each (sum)', \\
     '{dat}' using 1:4 with linespoints title 'over the wire, device stop all', \\
     '{dat}' using 1:5 with linespoints title 'over the wire, device stop <i> each'
""", os.path.join(B.OUT, "scale.png"))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(B.TOP, "build"))
    ap.add_argument("--smoke", action="store_true", help="a few seconds: small N, few cycles")
    ap.add_argument("--cycles", type=int, default=30)
    ap.add_argument("--parts", default="engine,wire,idle,attach")
    a = ap.parse_args()
    a.vstop = os.path.join(a.build, "app", "vstop")
    a.fe = os.path.join(a.build, "tools", "fe", "vstop-fe")
    a.bench_scale = os.path.join(a.build, "tools", "bench", "bench_scale")
    a.engine_n = [1, 16, 64, 256, 1024]
    a.wire_n = [1, 16, 64, 256]
    a.idle_n = [1, 64, 256, 1024]
    a.attach_cycles, a.attach_row = 500, 256
    if a.smoke:
        a.cycles = 3
        a.engine_n, a.wire_n, a.idle_n = [1, 16], [1, 4], [1, 16]
        a.attach_cycles, a.attach_row = 10, 8
    os.makedirs(B.OUT, exist_ok=True)
    parts = a.parts.split(",")
    engine = part_engine(a) if "engine" in parts else []
    wire = part_wire(a) if "wire" in parts else []
    if "idle" in parts:
        part_idle(a)
    if "attach" in parts:
        part_attach(a)
    if engine:
        plot(engine, wire)
        one = engine[0][1]
        for r in engine:
            B.log(f"E1 goal: {r[0]:5} devices stopped in one pass: {r[1]:8.1f} us of engine "
                  f"time = {r[1] / one:6.1f}x one device (goal <= 2x); one request each: "
                  f"{r[5]:9.1f} us")


if __name__ == "__main__":
    main()
