#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Throughput of vhost-user backends, side by side in one run.

The same front end for every backend: dpdk-testpmd with net_virtio_user, io forwarding,
'start tx_first N' (the usual vhost/virtio loopback). One forwarding lcore per process, the
backend's on one core, the front end's on the other, the same for every backend.

Backends (a '-io2' backend has 2 vhost-user ports forwarding to each other, io; the front end
then has 2 virtio_user ports, io, and both directions flow):
  testpmd            dpdk-testpmd --vdev net_vhost0 io forwarding (1 port: to itself)
  testpmd-io2        dpdk-testpmd, 2 net_vhost ports, io forwarding
  vstop              vstop --fwd loopback, as shipped
  vstop-io2          vstop, 2 vhost ports, --fwd io
  vstop-noqsbr[-io2] vstop without the quiescent report (benchmark-only build)
Runs alternate A, B, A, B ... (--runs each). Each backend is compared with the first backend
of the list that has as many ports (its reference). Prints median, min-max and the ratio;
writes a CSV of medians, a CSV of every run and, with gnuplot, a plot.
"""
import argparse
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (EAL, OUT, TOP, CpuMeter, Ctl, Proc, Progress, cpu_busy,  # noqa: E402
                      cpus, gnuplot, log, save_machine, tag, thread_cpu_ns, wait_for,
                      write_csv)

BACKENDS = ("testpmd", "testpmd-io2", "vstop", "vstop-io2", "vstop-noqsbr", "vstop-noqsbr-io2")


def nports(kind):
    return 2 if kind.endswith("-io2") else 1


def vstop_binary(kind, a):
    if "noqsbr" in kind:
        return a.noqsbr
    return os.path.join(a.build, "app", "vstop")


def backend_argv(kind, socks, queues, t, a, ctl=None):
    be_core, fe_core = cpus()
    # Main lcore (testpmd's prompt / vstop's control lcore, both asleep) on the front end's
    # core, the forwarding lcore alone on the other.
    common = EAL + ["-m", "512", "--file-prefix", "vsbe-" + t, "--log-level=error",
                    "--lcores", f"0@{fe_core},1@{be_core}"]
    if kind.startswith("testpmd"):
        vdevs = []
        for i, s in enumerate(socks):
            vdevs += ["--vdev", f"net_vhost{i},iface={s},queues={queues}"]
        return (["dpdk-testpmd"] + common + vdevs +
                ["--", "--nb-cores=1", f"--rxq={queues}", f"--txq={queues}",
                 "--forward-mode=io", f"--burst={a.burst}", "-a", "--no-mlockall",
                 "--total-num-mbufs=16384", "--stats-period", "3600"])
    argv = [vstop_binary(kind, a)] + common + ["--"]
    for s in socks:
        argv += ["--vhost", f"{s},queues={queues}"]
    return argv + ["--fwd", "io" if len(socks) == 2 else "loopback", "--burst", str(a.burst)] + \
        (["--ctl", ctl] if ctl else [])


def frontend_argv(socks, queues, size, t, a):
    be_core, fe_core = cpus()
    vdevs = []
    for i, s in enumerate(socks):
        vdevs += ["--vdev", f"net_virtio_user{i},path={s},queues={queues}"
                  + (",packed_vq=1" if a.packed else "")]
    return (["stdbuf", "-oL", "dpdk-testpmd"] + EAL +
            ["-m", "512", "--file-prefix", "vsfe-" + t, "--log-level=error",
             "--lcores", f"0@{be_core},1@{fe_core}"] + vdevs +
            ["--", "-i", "--nb-cores=1", f"--rxq={queues}", f"--txq={queues}",
             "--forward-mode=io", f"--txpkts={size}", f"--burst={a.burst}", "--no-mlockall",
             "--total-num-mbufs=16384"])


def rx_packets(fe, ports):
    """Sum of RX-packets over the front end's ports, and when it was read."""
    n = len(fe.lines)
    fe.send("show port stats all")
    wait_for(lambda: sum("RX-packets" in line for line in fe.lines[n:]) >= ports, 10,
             "port stats")
    t = time.monotonic()
    total = 0
    for line in fe.lines[n:]:
        m = re.search(r"RX-packets:\s*(\d+)", line)
        if m:
            total += int(m.group(1))
    return total, t


def lcore_sample(ctl, pid):
    """vstop's polling lcore: (loop iterations, frames received, its on-CPU ns)."""
    r = ctl.cmd("show lcores")["polling_lcores"][0]
    return r["iterations"], r["frames_moved"] / 2, thread_cpu_ns(pid, "rte-worker-1") or 0


def busy_estimate(idle, s0, s1):
    """How busy vstop's polling lcore was between samples @s0 and @s1, in % of the time it
    was on its core: the time not spent in empty iterations, an empty iteration costing
    what one costs with no traffic (@idle ns of CPU) and a non-empty one carrying a full
    burst (32). An estimate: it tells a saturated lcore from one that waits for frames.
    Returns frames per iteration, CPU ns per iteration, busy %."""
    it, fr, ran_ns = s1[0] - s0[0], s1[1] - s0[1], s1[2] - s0[2]
    if it <= 0 or ran_ns <= 0:
        return None, None, None
    empty_ns = (it - min(it, fr / 32)) * idle
    return fr / it, ran_ns / it, max(0.0, 100.0 * (1 - empty_ns / ran_ns))


def one_run(kind, queues, size, a):
    t = tag()
    socks = [f"/tmp/vs-bench-{t}-{i}.sock" for i in range(nports(kind))]
    ctl_path = f"/tmp/vs-bench-{t}.ctl" if kind.startswith("vstop") else None
    be = Proc(backend_argv(kind, socks, queues, t, a, ctl_path), kind)
    fe = ctl = None
    util = (None, None, None, None)  # vstop: idle loop ns, frames/iteration, loop ns, busy %
    try:
        wait_for(lambda: all(os.path.exists(s) for s in socks) or not be.alive(), 20,
                 "backend sockets")
        if not be.alive():
            raise RuntimeError(f"{kind} exited:\n{be.text()[-2000:]}")
        fe = Proc(frontend_argv(socks, queues, size, t, a), "front end")
        fe.send("show port summary all")  # answered once the prompt runs
        wait_for(lambda: "Number of available ports" in fe.text() or not fe.alive(), 30,
                 "front end prompt")
        if not fe.alive():
            raise RuntimeError("front end exited:\n" + fe.text()[-2000:])
        if ctl_path:
            # vstop's loop with the front end connected and no traffic: the CPU cost of an
            # empty iteration (the worst case for the quiescent report: nothing else to
            # do), and what tells how busy the lcore is under traffic.
            ctl = Ctl(ctl_path)
            time.sleep(0.3)
            i0 = lcore_sample(ctl, be.pid)
            time.sleep(a.idle_seconds)
            i1 = lcore_sample(ctl, be.pid)
            idle_ns = (i1[2] - i0[2]) / max(1, i1[0] - i0[0])
        fe.send(f"start tx_first {a.tx_first}")
        time.sleep(a.warmup)
        s0 = lcore_sample(ctl, be.pid) if ctl else None
        p0, t0 = rx_packets(fe, len(socks))
        meter = CpuMeter([be.pid, fe.pid]).start()
        fwd0 = [thread_cpu_ns(p.pid, "rte-worker-1") for p in (be, fe)]
        time.sleep(a.seconds)
        p1, t1 = rx_packets(fe, len(socks))
        fwd1 = [thread_cpu_ns(p.pid, "rte-worker-1") for p in (be, fe)]
        foreign = meter.stop()
        s1 = lcore_sample(ctl, be.pid) if ctl else None
        # Share of the window each forwarding lcore was on its core (others preempt them).
        oncpu = [min(1.0, (y - x) / 1e9 / (t1 - t0)) if x is not None and y is not None
                 else None for x, y in zip(fwd0, fwd1)]
        if ctl:
            util = (round(idle_ns, 2),) + busy_estimate(idle_ns, s0, s1)
        if not be.alive():
            raise RuntimeError(f"{kind} died during the run:\n{be.text()[-2000:]}")
        fe.send("stop")
        fe.send("quit")
        return (p1 - p0) / (t1 - t0) / 1e6, foreign, util + tuple(oncpu)
    finally:
        if ctl is not None:
            ctl.close()
        # Without the quiescent report vstop cannot finish a disconnect (the front end's
        # GET_VRING_BASE waits for an epoch that never ends): do not wait long for either.
        patience = 2 if "noqsbr" in kind else 10
        if fe is not None:
            fe.stop(timeout=patience)
        be.stop(timeout=patience)
        for s in socks + ([ctl_path] if ctl_path else []):
            if os.path.exists(s):
                os.unlink(s)


def plot(rows, backends, png, title):
    """Clustered bars: one cluster per (size, queues), one bar per backend (median), a
    min-max bar on each, the ratio to the reference above."""
    data = png[:-4] + ".dat"
    confs = []
    for r in rows:
        if (r[1], r[2]) not in confs:
            confs.append((r[1], r[2]))
    n = len(backends)
    w = 0.8 / n
    with open(data, "w") as f:
        for j, b in enumerate(backends):
            f.write(f"# {b}: x median min max ratio\n")
            for i, (size, q) in enumerate(confs):
                r = next(x for x in rows if x[0] == b and x[1] == size and x[2] == q)
                x = i + (j - (n - 1) / 2) * w
                f.write(f"{x:.3f} {r[4]} {r[5]} {r[6]} {r[9]}\n")
            f.write("\n\n")
    xt = ", ".join(f'"{size} B, {q} q" {i}' for i, (size, q) in enumerate(confs))
    plots = []
    for j, b in enumerate(backends):
        plots.append(f"'{data}' index {j} using 1:2 with boxes lc {j + 1} title '{b}'")
        plots.append(f"'{data}' index {j} using 1:2:3:4 with yerrorbars lc black pt -1 "
                     "notitle")
        if j:
            plots.append(f"'{data}' index {j} using 1:4:(sprintf('%.2f', $5)) with labels "
                         "offset 0,0.7 font ',8' notitle")
    script = f"""
set termoption noenhanced
set style fill solid 0.7 border -1
set boxwidth {w * 0.95:.3f}
set xtics ({xt})
set xrange [-0.6:{len(confs) - 0.4}]
set ylabel 'Mpps (bar: median; line: min-max; number: ratio of medians to the reference)'
set title '{title}'
set key top right
set yrange [0:*]
set grid ytics
plot {", ".join(plots)}
"""
    gnuplot(script, png)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="testpmd,vstop,testpmd-io2,vstop-io2",
                    help="comma list from: " + ", ".join(BACKENDS))
    ap.add_argument("--sizes", default="64,1518")
    ap.add_argument("--queues", default="1,2")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--burst", type=int, default=32, help="burst size of every process")
    ap.add_argument("--tx-first", type=int, default=8, dest="tx_first",
                    help="bursts the front end sends first per stream (frames in flight)")
    ap.add_argument("--build", default=os.path.join(TOP, "build"), help="vstop build dir")
    ap.add_argument("--noqsbr", default=None,
                    help="vstop built without the quiescent report (default: "
                    "BUILD/tools/bench/vstop-noqsbr, else build-noqsbr/app/vstop)")
    ap.add_argument("--idle-seconds", type=float, default=0.5, dest="idle_seconds",
                    help="vstop only: how long its idle loop is timed before the traffic")
    ap.add_argument("--max-foreign", type=float, default=60, dest="max_foreign",
                    help="a run during which other processes used more than this %% of a core "
                    "is run again (up to --retries times; the quietest is kept)")
    ap.add_argument("--retries", type=int, default=1)
    ap.add_argument("--name", default="throughput", help="output file names out/bench/NAME.*")
    ap.add_argument("--title", default="vhost-user loopback throughput, testpmd virtio_user "
                    "front end, 1 forwarding lcore each")
    ap.add_argument("--csv", default=None, help="default out/bench/NAME.csv")
    ap.add_argument("--plot", default=None, help="default out/bench/NAME.png")
    ap.add_argument("--smoke", action="store_true", help="1 run, 1 s each, 64 B, 1 queue")
    ap.add_argument("--packed", action="store_true",
                    help="packed virtqueues: the front end's virtio_user gets packed_vq=1 "
                         "(every backend then drives packed rings; rule P1)")
    a = ap.parse_args()
    if a.smoke:
        a.runs, a.seconds, a.warmup, a.sizes, a.queues, a.retries = 1, 1, 0.5, "64", "1", 0
    a.csv = a.csv or os.path.join(OUT, a.name + ".csv")
    a.plot = a.plot or os.path.join(OUT, a.name + ".png")
    if a.noqsbr is None:
        a.noqsbr = os.path.join(a.build, "tools", "bench", "vstop-noqsbr")
        if not os.path.exists(a.noqsbr):
            a.noqsbr = os.path.join(TOP, "build-noqsbr", "app", "vstop")
    backends = a.backends.split(",")
    for b in backends:
        if b not in BACKENDS:
            sys.exit(f"throughput: unknown backend {b}")
        if b.startswith("vstop") and not os.path.exists(vstop_binary(b, a)):
            sys.exit(f"throughput: backend {b}: {vstop_binary(b, a)} not built"
                     + (" (ninja -C build tools/bench/vstop-noqsbr)" if "noqsbr" in b else ""))
    ref = {}
    for b in backends:
        ref.setdefault(nports(b), b)
    for line in save_machine(a.name):
        log(line)
    log(f"CPU busy before the run (other work on the machine): {cpu_busy():.0f} %")
    sizes = [int(x) for x in a.sizes.split(",")]
    queues = [int(x) for x in a.queues.split(",")]
    be_core, fe_core = cpus()
    log(f"backend forwarding lcore on core {be_core}, front end's on core {fe_core}; "
        f"burst {a.burst}, tx_first {a.tx_first}; {a.runs} runs x {a.seconds} s each")
    prog = Progress(len(backends) * a.runs * len(sizes) * len(queues))
    rows, raw = [], []
    for size in sizes:
        for q in queues:
            res = {b: [] for b in backends}
            idle = {b: [] for b in backends}  # vstop: CPU ns per empty loop iteration
            for r in range(a.runs):
                for b in backends:  # alternate A, B, A, B ...
                    mpps, foreign, util = one_run(b, q, size, a)
                    for _ in range(a.retries):
                        if foreign <= a.max_foreign:
                            break
                        # Another job ran meanwhile: measure again, keep the quieter run.
                        log(f"  {b} run {r + 1}: other work used {foreign:.0f} % of a core "
                            f"meanwhile ({mpps:.3f} Mpps): run again")
                        m2, f2, u2 = one_run(b, q, size, a)
                        if f2 < foreign:
                            mpps, foreign, util = m2, f2, u2
                    res[b].append(mpps)
                    idle[b].append(util[0])
                    raw.append([b, size, q, r + 1, round(mpps, 4), round(foreign, 1)] +
                               [round(x, 2) if x is not None else "" for x in util])
                    busy = (f", vstop lcore {util[1]:.2f} frames/iteration, ~{util[3]:.0f} % "
                            "busy" if util[3] is not None else "")
                    oc = "/".join(f"{x * 100:.0f}" if x is not None else "?" for x in util[4:])
                    prog.step(f"{b:16s} {size:5d} B {q} q run {r + 1}: {mpps:.3f} Mpps "
                              f"(other work meanwhile: {foreign:.0f} % of a core; forwarding "
                              f"lcores on cpu {oc} %{busy})")
            for b in backends:
                rb = ref[nports(b)]
                med = statistics.median(res[b])
                rmed = statistics.median(res[rb])
                ratio = med / rmed if rmed else 0
                # Run r of b against run r of its reference, measured next to it in time:
                # both met about the same background load.
                pairs = [x / y for x, y in zip(res[b], res[rb]) if y]
                pmed = statistics.median(pairs) if pairs else 0
                # The idle polling loop, run by run against the reference's (vstop only).
                ipairs = [x / y for x, y in zip(idle[b], idle[rb]) if x and y]
                imed = statistics.median([x for x in idle[b] if x]) if any(idle[b]) else None
                rows.append([b, size, q, a.runs, round(med, 4), round(min(res[b]), 4),
                             round(max(res[b]), 4), round(med * size * 8 / 1000, 3), rb,
                             round(ratio, 3), round(pmed, 3), round(min(pairs, default=0), 3),
                             round(max(pairs, default=0), 3),
                             round(imed, 2) if imed else "",
                             round(statistics.median(ipairs), 4) if ipairs else ""])
                log(f"== {b:16s} {size:5d} B {q} q: median {med:.3f} Mpps "
                    f"(min {min(res[b]):.3f}, max {max(res[b]):.3f}); to {rb}: ratio of "
                    f"medians {ratio:.3f}, run-by-run ratio median {pmed:.3f} "
                    f"(min {min(pairs, default=0):.3f}, max {max(pairs, default=0):.3f})"
                    + (f"; idle loop {imed:.2f} CPU ns/iteration" if imed else "")
                    + (f", run-by-run ratio median {statistics.median(ipairs):.4f}"
                       if ipairs else ""))
    write_csv(a.csv, ["backend", "size", "queues", "runs", "median_mpps", "min_mpps",
                      "max_mpps", "median_gbps", "reference", "ratio",
                      "paired_ratio_median", "paired_ratio_min", "paired_ratio_max",
                      "idle_loop_cpu_ns", "idle_loop_paired_ratio"], rows)
    write_csv(a.csv[:-4] + "_runs.csv",
              ["backend", "size", "queues", "run", "mpps", "foreign_cpu_pct",
               "vstop_idle_loop_cpu_ns", "vstop_frames_per_iteration", "vstop_loop_cpu_ns",
               "vstop_busy_pct", "be_fwd_oncpu", "fe_fwd_oncpu"], raw)
    if not a.smoke:
        plot(rows, backends, a.plot, a.title)


if __name__ == "__main__":
    main()
