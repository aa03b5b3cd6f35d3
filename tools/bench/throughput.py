#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Throughput of vhost-user backends, side by side in one run.

The same front end for every backend: dpdk-testpmd with net_virtio_user, io forwarding,
--tx-first (the usual vhost/virtio loopback). Backends (one forwarding lcore each):
  testpmd       dpdk-testpmd --vdev net_vhost0 io forwarding (the reference)
  vstop         build/app/vstop --fwd loopback, as shipped
  vstop-noqsbr  the same built with -Dquiescent_report=false (benchmark-only build)
Runs alternate A, B, A, B ... (--runs each); prints median, min-max and the ratio to the
first backend; writes a CSV and, with gnuplot, a plot.
"""
import argparse
import csv
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EAL = ["--no-huge", "--no-pci", "--log-level=error"]


def log(msg):
    print(msg, flush=True)


class Proc:
    """A child process whose output is collected by a thread; stdin kept open."""

    def __init__(self, argv, name):
        self.name = name
        self.lines = []
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, bufsize=1,
                                  start_new_session=True)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line)

    def send(self, cmd):
        try:
            self.p.stdin.write(cmd + "\n")
            self.p.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def alive(self):
        return self.p.poll() is None

    def stop(self, sig=signal.SIGINT, timeout=10):
        if self.alive():
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()  # our own child, by PID
                self.p.wait()
        try:
            self.p.stdin.close()
        except (BrokenPipeError, ValueError):
            pass

    def text(self):
        return "".join(self.lines)


def wait_for(pred, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


def backend_argv(kind, sock, queues, tag):
    common = EAL + ["-m", "512", "--file-prefix", "vsbe-" + tag, "--lcores", "0@1,1@0"]
    if kind == "testpmd":
        return (["dpdk-testpmd"] + common +
                ["--vdev", f"net_vhost0,iface={sock},queues={queues}", "--",
                 "--nb-cores=1", f"--rxq={queues}", f"--txq={queues}", "--forward-mode=io",
                 "-a", "--no-mlockall", "--total-num-mbufs=16384", "--stats-period", "3600"])
    binary = {"vstop": "build/app/vstop", "vstop-noqsbr": "build-noqsbr/app/vstop"}[kind]
    return ([os.path.join(TOP, binary)] + common +
            ["--", "--vhost", f"{sock},queues={queues}", "--fwd", "loopback"])


def frontend_argv(sock, queues, size, tag):
    return (["stdbuf", "-oL", "dpdk-testpmd"] + EAL + ["-m", "512", "--file-prefix", "vsfe-" + tag,
                                      "--lcores", "0@0,1@1",
                                      "--vdev", f"net_virtio_user0,path={sock},queues={queues}",
                                      "--", "-i", "--nb-cores=1", f"--rxq={queues}",
                                      f"--txq={queues}", "--forward-mode=io",
                                      f"--txpkts={size}", "--no-mlockall",
                                      "--total-num-mbufs=16384"])


def rx_packets(fe):
    """Ask the front end for its port stats; return RX-packets of port 0."""
    n = len(fe.lines)
    fe.send("show port stats 0")
    wait_for(lambda: any("RX-packets" in l for l in fe.lines[n:]), 10, "port stats")
    for line in fe.lines[n:]:
        m = re.search(r"RX-packets:\s*(\d+)", line)
        if m:
            return int(m.group(1)), time.monotonic()
    raise RuntimeError("no RX-packets")


def one_run(kind, queues, size, seconds, warmup):
    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    sock = f"/tmp/vs-bench-{tag}.sock"
    be = Proc(backend_argv(kind, sock, queues, tag), kind)
    fe = None
    try:
        wait_for(lambda: os.path.exists(sock) or not be.alive(), 20, "backend socket")
        if not be.alive():
            raise RuntimeError(f"{kind} exited:\n{be.text()[-2000:]}")
        fe = Proc(frontend_argv(sock, queues, size, tag), "front end")
        fe.send("show port summary all")  # answered once the prompt runs
        wait_for(lambda: "Number of available ports" in fe.text() or not fe.alive(), 30,
                 "front end prompt")
        if not fe.alive():
            raise RuntimeError("front end exited:\n" + fe.text()[-2000:])
        fe.send("start tx_first")
        time.sleep(warmup)
        p0, t0 = rx_packets(fe)
        time.sleep(seconds)
        p1, t1 = rx_packets(fe)
        fe.send("stop")
        fe.send("quit")
        return (p1 - p0) / (t1 - t0) / 1e6
    finally:
        if fe is not None:
            fe.stop(timeout=10)
        be.stop(timeout=10)
        if os.path.exists(sock):
            os.unlink(sock)


def plot(csv_path, png, title):
    if shutil.which("gnuplot") is None:
        log("gnuplot not found (tools/install-deps.sh --bench installs it): no plot")
        return
    script = f"""
set terminal pngcairo size 900,500
set output '{png}'
set datafile separator ','
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.6 border -1
set ylabel 'Mpps (median, min-max)'
set title '{title}'
set key top left
set yrange [0:*]
plot '{csv_path}' using 5:6:7:xticlabels(stringcolumn(1).' '.stringcolumn(2).'B '.stringcolumn(3).'q') every ::1 title 'median Mpps'
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    log(f"plot: {png}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="testpmd,vstop")
    ap.add_argument("--sizes", default="64,1518")
    ap.add_argument("--queues", default="1,2")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--csv", default=os.path.join(TOP, "out/bench/throughput.csv"))
    ap.add_argument("--plot", default=os.path.join(TOP, "out/bench/throughput.png"))
    ap.add_argument("--smoke", action="store_true", help="1 run, 1 s each, 64 B, 1 queue")
    a = ap.parse_args()
    if a.smoke:
        a.runs, a.seconds, a.warmup, a.sizes, a.queues = 1, 1, 1, "64", "1"
    backends = a.backends.split(",")
    for b in backends:
        if b != "testpmd" and not os.path.exists(backend_argv(b, "x", 1, "x")[0]):
            sys.exit(f"throughput: backend {b}: binary not built")
    os.makedirs(os.path.dirname(a.csv), exist_ok=True)
    rows = []
    total = len(backends) * a.runs * len(a.sizes.split(",")) * len(a.queues.split(","))
    done = 0
    for size in map(int, a.sizes.split(",")):
        for q in map(int, a.queues.split(",")):
            res = {b: [] for b in backends}
            for r in range(a.runs):
                for b in backends:  # alternate A, B, A, B ...
                    mpps = one_run(b, q, size, a.seconds, a.warmup)
                    res[b].append(mpps)
                    done += 1
                    log(f"[{done}/{total}] {b:13s} {size:5d} B {q} q run {r + 1}: {mpps:.3f} Mpps")
            ref = statistics.median(res[backends[0]])
            for b in backends:
                med = statistics.median(res[b])
                rows.append([b, size, q, a.runs, round(med, 4), round(min(res[b]), 4),
                             round(max(res[b]), 4), round(med / ref if ref else 0, 3)])
                log(f"== {b:13s} {size:5d} B {q} q: median {med:.3f} Mpps "
                    f"(min {min(res[b]):.3f}, max {max(res[b]):.3f}), "
                    f"ratio to {backends[0]}: {med / ref if ref else 0:.3f}")
    with open(a.csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["backend", "size", "queues", "runs", "median_mpps", "min_mpps",
                    "max_mpps", "ratio"])
        w.writerows(rows)
    log(f"csv: {a.csv}")
    if not a.smoke:
        plot(a.csv, a.plot, "vhost-user loopback throughput, virtio_user front end")


if __name__ == "__main__":
    main()
