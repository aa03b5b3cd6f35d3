#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Live upgrade (issue 13): the interruption a takeover causes, as the front end sees it.

vstop A (--fwd loopback, --ctl) serves vstop-fe, which sends sequence-numbered frames at
--rate on 1 and 4 queue pairs and lists every receive gap longer than --gap-us. Then
--takeovers times a new vstop is started with --takeover (A -> B -> A ...). The
interruption of one takeover is the longest receive gap that ended between the new
vstop's READY (A starts stopping right after) and its devices running again, plus
--settle; if no gap that long, it is reported as --gap-us (an upper bound). Frames lost,
duplicated, reordered come from vstop-fe's own count over the whole run (all must be 0).

The anchor, side by side: dpdk-testpmd net_vhost killed and restarted under the same
vstop-fe. vstop-fe does not reconnect (it is a driver, not QEMU): the restart ends its
session, so the anchor's figure is what it saw before the close (frames in flight lost)
and how long until a restarted testpmd serves the socket again (the reconnect a front end
like QEMU would need at best); see docs/benchmarks.rst for the QEMU figures.

Writes out/bench/NAME.csv (one line per queue count), NAME_takeovers.csv (each takeover).
"""
import argparse
import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tools"))
import proclib  # noqa: E402
sys.path.insert(0, HERE)
from benchlib import gnuplot  # noqa: E402

OUT = os.environ.get("VSTOP_BENCH_OUT") or os.path.join(TOP, "out", "bench")
FRAMES = re.compile(r"frames: sent (\d+) received (\d+) lost (\d+) duplicated (\d+) "
                    r"reordered (\d+)")
GAP = re.compile(r"^gap end=([\d.]+) ms=([\d.]+)$", re.M)
DONE = re.compile(r"takeover done ports=\d+ total_ms=([\d.]+) handover_ms=([\d.]+) "
                  r"ready_mono=([\d.]+) done_mono=([\d.]+)")


PARTS = ["freeze_us", "stop_us", "send_us", "ack_wait_us", "receive_load_replay_us",
         "ack_us", "start_us"]


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


class P:
    def __init__(self, argv, name, workdir, env=None, stdin=subprocess.DEVNULL):
        self.logpath = os.path.join(workdir, f"{name}.log")
        self.logf = open(self.logpath, "w+")
        self.name = name
        self.c = proclib.Child(argv, stdout=self.logf, stderr=subprocess.STDOUT,
                               stdin=stdin, start_new_session=True,
                               env=env)

    def text(self):
        self.logf.flush()
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def wait_text(self, what, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            t = self.text()
            if what in t:
                return t
            if self.c.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(f"{self.name}: no '{what}':\n" + "\n".join(self.text().splitlines()[-30:]))


class Bench:
    def __init__(self, a):
        self.a = a
        self.work = os.path.join("/tmp", f"vstop-bench-takeover-{os.getpid()}")
        os.makedirs(self.work, exist_ok=True)
        self.n = 0
        self.procs = []

    def vstop(self, sock, ctl, queues, takeover):
        self.n += 1
        argv = [self.a.vstop, "--no-huge", "-m", "256", "--no-pci", "--lcores", "0@0,1@1",
                "--file-prefix", f"bto{os.getpid()}x{self.n}", "--", "--vhost",
                f"{sock},queues={queues}", "--fwd", "loopback", "--idle-backoff-us", "50"]
        argv += ["--takeover", ctl] if takeover else ["--ctl", ctl]
        p = P(argv, f"vstop{self.n}", self.work)
        self.procs.append(p)
        return p

    def fe(self, sock, queues, duration):
        self.n += 1
        argv = [self.a.fe, "-s", sock, "-q", str(queues), "-d", str(duration), "--rate",
                str(self.a.rate), "--gap-log", str(self.a.gap_us), "--drain", "20000",
                "--quiet"]
        p = P(argv, f"fe{queues}_{self.n}", self.work)
        self.procs.append(p)
        return p

    def end_all(self):
        for p in self.procs:
            if p.c.alive():
                p.c.end(signal.SIGTERM, grace=10)
        self.procs = []

    def run_vstop(self, queues, n):
        sock = os.path.join(self.work, f"vs{queues}.sock")
        ctl = os.path.join(self.work, f"vs{queues}.ctl")
        cur = self.vstop(sock, ctl, queues, False)
        cur.wait_text("vstop ready", 30)
        # each takeover: a vstop start-up (EAL, about 1 s here) + 1.1 s of librte_vhost
        # poll period + the handover
        fe = self.fe(sock, queues, 5 + int(n * self.a.period) + 10)
        fe.wait_text("connected to", 20)
        time.sleep(2)
        rows = []
        for i in range(n):
            b = self.vstop(sock, ctl, queues, True)
            t = b.wait_text("takeover done", 60)
            m = DONE.search(t)
            rc = cur.c.wait(timeout=30)
            if rc != 0:
                raise RuntimeError(f"takeover {i}: old vstop exited {rc}")
            row = {"i": i, "handover_ms": float(m.group(2)), "ready": float(m.group(3)),
                   "done": float(m.group(4))}
            # the parts: A's (freeze, stop, send, wait for B's ack), B's
            for k, v in re.findall(r"(\w+_us)=(\d+)", cur.text() + "\n" + t):
                row[k] = int(v)
            rows.append(row)
            cur = b
            if (i + 1) % 10 == 0:
                print(f"  {queues} qp: {i + 1}/{n} takeovers", flush=True)
            time.sleep(max(0.0, self.a.period - 2.5))
        rc = fe.c.wait(timeout=5 + int(n * self.a.period) + 60)
        out = fe.text()
        m = FRAMES.search(out)
        if rc != 0 or m is None:
            raise RuntimeError(f"vstop-fe exit {rc}:\n{out[-3000:]}")
        sent, rcvd, lost, dup, reord = map(int, m.groups())
        gaps = [(float(e), float(ms)) for e, ms in GAP.findall(out)]
        for r in rows:
            inwin = [ms for e, ms in gaps if r["ready"] <= e <= r["done"] + self.a.settle]
            r["gap_ms"] = max(inwin) if inwin else self.a.gap_us / 1000.0
        self.end_all()
        return rows, (sent, lost, dup, reord)

    def run_anchor(self, queues, n):
        """testpmd net_vhost killed and restarted: what vstop-fe sees before the close, and
        how long until the socket is served again."""
        exe = shutil.which("dpdk-testpmd")
        if not exe:
            return None
        res = []
        for i in range(n):
            sock = os.path.join(self.work, f"tp{queues}_{i}.sock")
            argv = ["stdbuf", "-oL", exe, "--no-huge", "-m", "256", "--no-pci", "--lcores",
                    "0@0,1@1", "--file-prefix", f"btp{os.getpid()}x{i}", "--vdev",
                    f"net_vhost0,iface={sock},queues={queues}", "--", "--forward-mode=io",
                    "-a", f"--rxq={queues}", f"--txq={queues}", "--no-mlockall",
                    "--total-num-mbufs=16384"]
            # testpmd without -i exits on EOF from stdin: a pipe that stays open.
            tp = P(argv, f"testpmd{queues}_{i}", self.work, stdin=subprocess.PIPE)
            self.procs.append(tp)
            tp.wait_text("Press enter to exit", 30)
            end = time.monotonic() + 20
            while not os.path.exists(sock) and time.monotonic() < end:
                time.sleep(0.05)
            fe = self.fe(sock, queues, 30)
            fe.wait_text("connected to", 20)
            time.sleep(1.5)
            t_kill = time.monotonic()
            tp.c.send_signal(signal.SIGKILL)
            # An operator (or systemd) restarts it once it is dead: until then it holds its
            # EAL lock and the new one cannot start. A non-reaping wait: see proclib.
            tp.c.wait(30)
            if os.path.exists(sock):
                os.unlink(sock)  # a killed testpmd leaves its socket file
            tp2 = P(argv, f"testpmd{queues}_{i}b", self.work, stdin=subprocess.PIPE)
            self.procs.append(tp2)
            tp2.wait_text("Press enter to exit", 30)
            t_up = time.monotonic()
            fe.c.wait(timeout=60)
            out = fe.text()
            m = FRAMES.search(out)
            lost = int(m.group(3)) if m else -1
            res.append({"lost": lost, "restart_ms": (t_up - t_kill) * 1e3,
                        "fe_disconnected": "closed the connection" in out})
            self.end_all()
        return res


def plot(takeovers_csv, summary_csv, png):
    """Every takeover's handover and front-end gap, sorted (one curve per queue count, log
    scale), with the anchor's kill+restart time as a line per queue count."""
    rows = {}
    with open(takeovers_csv) as f:
        for r in csv.DictReader(f):
            rows.setdefault(int(r["queues"]), []).append((float(r["handover_ms"]),
                                                         float(r["gap_ms"])))
    anchor = {}
    with open(summary_csv) as f:
        for r in csv.DictReader(f):
            if r["backend"].startswith("testpmd") and r["handover_median_ms"]:
                anchor[int(r["queues"])] = float(r["handover_median_ms"])
    os.makedirs(OUT, exist_ok=True)
    data = os.path.join(OUT, "takeover_plot.dat")
    with open(data, "w") as f:
        for q in sorted(rows):
            h = sorted(x[0] for x in rows[q])
            g = sorted(x[1] for x in rows[q])
            for i, (hv, gv) in enumerate(zip(h, g)):
                f.write(f"{100.0 * (i + 1) / len(h):.2f} {hv:.3f} {gv:.3f}\n")
            f.write("\n\n")
    curves = []
    for j, q in enumerate(sorted(rows)):
        curves.append(f"'{data}' index {j} using 1:2 with lines lw 2 lc {j + 1} "
                      f"title 'vstop handover, {q} qp'")
        curves.append(f"'{data}' index {j} using 1:3 with lines lw 1 dt 2 lc {j + 1} "
                      f"title 'front-end receive gap, {q} qp'")
        if q in anchor:
            curves.append(f"{anchor[q]} with lines lw 1 dt 3 lc {j + 1} "
                          f"title 'testpmd kill+restart (median), {q} qp'")
    return gnuplot("set title 'Live upgrade: one takeover as the front end sees it "
                   "(every takeover, sorted)'\n"
                   "set xlabel 'takeovers (%)'\nset ylabel 'ms'\nset logscale y\n"
                   "set key top left\nset grid\n"
                   "plot " + ", \\\n     ".join(curves) + "\n", png)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--takeovers", type=int, default=100)
    ap.add_argument("--queues", default="1,4")
    ap.add_argument("--rate", type=int, default=100000)
    ap.add_argument("--gap-us", type=int, default=200)
    ap.add_argument("--settle", type=float, default=0.2)
    ap.add_argument("--period", type=float, default=3.2,
                    help="seconds per takeover cycle (vstop-fe's duration is sized on it)")
    ap.add_argument("--anchor", type=int, default=5, help="testpmd kill+restart runs")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--name", default="takeover")
    a = ap.parse_args()
    a.vstop = os.path.join(a.build, "app", "vstop")
    a.fe = os.path.join(a.build, "tools", "fe", "vstop-fe")
    if a.smoke:
        a.takeovers, a.anchor = 3, 1
    os.makedirs(OUT, exist_ok=True)
    b = Bench(a)
    summary = []
    each = []
    try:
        for q in [int(x) for x in a.queues.split(",")]:
            print(f"vstop takeover, {q} queue pair(s), {a.takeovers} takeovers", flush=True)
            rows, (sent, lost, dup, reord) = b.run_vstop(q, a.takeovers)
            g = [r["gap_ms"] for r in rows]
            h = [r["handover_ms"] for r in rows]
            s = {"backend": "vstop takeover", "queues": q, "n": len(rows), "frames": sent,
                 "lost": lost, "dup": dup, "reord": reord, "gap_median_ms": pct(g, 50),
                 "gap_p99_ms": pct(g, 99), "gap_max_ms": max(g),
                 "handover_median_ms": pct(h, 50), "handover_p99_ms": pct(h, 99),
                 "handover_max_ms": max(h), "disconnects": 0}
            summary.append(s)
            for r in rows:
                each.append((q, r["i"], f"{r['gap_ms']:.3f}", f"{r['handover_ms']:.3f}",
                             *[r.get(k, "") for k in PARTS]))
            print("  " + " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                  for k, v in s.items()), flush=True)
            if a.anchor:
                res = b.run_anchor(q, a.anchor)
                if res:
                    r = [x["restart_ms"] for x in res]
                    s = {"backend": "testpmd net_vhost kill+restart", "queues": q,
                         "n": len(res), "frames": "", "lost": max(x["lost"] for x in res),
                         "dup": "", "reord": "", "gap_median_ms": "", "gap_p99_ms": "",
                         "gap_max_ms": "", "handover_median_ms": pct(r, 50),
                         "handover_p99_ms": pct(r, 99), "handover_max_ms": max(r),
                         "disconnects": sum(x["fe_disconnected"] for x in res)}
                    summary.append(s)
                    print("  " + " ".join(f"{k}={v:.3f}" if isinstance(v, float) else
                                          f"{k}={v}" for k, v in s.items()), flush=True)
    finally:
        b.end_all()
    keys = list(summary[0].keys())
    with open(os.path.join(OUT, f"{a.name}.csv"), "w") as f:
        f.write(",".join(keys) + "\n")
        for s in summary:
            f.write(",".join(f"{s[k]:.3f}" if isinstance(s[k], float) else str(s[k])
                             for k in keys) + "\n")
    with open(os.path.join(OUT, f"{a.name}_takeovers.csv"), "w") as f:
        f.write("queues,i,gap_ms,handover_ms," + ",".join(PARTS) + "\n")
        for e in each:
            f.write(",".join(map(str, e)) + "\n")
    plot(os.path.join(OUT, f"{a.name}_takeovers.csv"), os.path.join(OUT, f"{a.name}.csv"),
         os.path.join(OUT, f"{a.name}.png"))
    bad = [s for s in summary if s["backend"].startswith("vstop") and
           (s["lost"] or s["dup"] or s["reord"])]
    shutil.rmtree(b.work, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
