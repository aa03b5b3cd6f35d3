#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Stop latency over the wire, vs queue count, idle and under full traffic.

One vstop (--fwd loopback, one polling lcore on one core; control lcore on the other) and
vstop-fe (our driver, on the other core) stopping the device with DEVICE_STOPPED and
resuming it, --cycles times, for each queue-pair count. Per stop:
  wall        request -> bit shown as the driver sees it (vstop-fe: SET_STATUS sent ->
              GET_STATUS shows DEVICE_STOPPED), vhost-user round trips included
  engine      request reached the control lcore -> bit shown (vstop's last_stop_ns), and
              the loop iterations the owning polling lcore made meanwhile (last_stop_iters)
  periods     engine time / the polling lcore's loop period under full traffic at this queue
              count (measured before: its on-CPU time / 'show lcores' iterations): the stop
              latency in loop iterations of a loaded lcore, the figure the design bounds (<= 2)
Idle = the driver sent one frame per queue and then nothing; traffic = vstop-fe flat out.
Writes out/bench/NAME.csv (summary per mode and queue count), NAME_stops.csv (every stop)
and NAME.png.
"""
import argparse
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (EAL, OUT, TOP, Ctl, Proc, Progress, add_vstop_log_option,  # noqa: E402
                      cpu_busy, cpus, gnuplot, log, rt_front_end, rt_vstop, save_machine,
                      sched_idle_second_thread, summary, tag, thread_cpu_ns, wait_for,
                      vstop_log_args, write_csv)

FE_STOP = re.compile(r"stop DEVICE_STOPPED: ([\d.]+) us(?:, (\d+) status reads)?")


class Vstop:
    def __init__(self, a, queues, name):
        be_core, fe_core = cpus()
        t = tag()
        self.sock = f"/tmp/vs-lat-{t}.sock"
        self.ctl_path = f"/tmp/vs-lat-{t}.ctl"
        self.logfile = os.path.join(OUT, f"{a.name}.vstop-{queues}q.log")
        argv = ([os.path.join(a.build, "app", "vstop")] + EAL +
                ["-m", "1024", "--file-prefix", "vslat-" + t,
                 "--lcores", f"0@{fe_core},1@{be_core}"] + a.vstop_log +
                ["--", "--vhost", f"{self.sock},queues={queues}", "--fwd", "loopback",
                 "--ctl", self.ctl_path])
        self.p = Proc(argv, name, stdin=False, logfile=self.logfile)
        wait_for(lambda: os.path.exists(self.sock) or not self.p.alive(), 20, "vstop socket")
        if not self.p.alive():
            raise RuntimeError("vstop exited:\n" + self.p.text()[-2000:])
        self.ctl = Ctl(self.ctl_path)
        if a.rt:
            rt_vstop(self.p)

    def lcore(self):
        """(loop iterations, frames moved, the polling thread's on-CPU ns): the loop period
        as CPU time, so that a neighbour preempting the poller does not stretch it."""
        r = self.ctl.cmd("show lcores")["polling_lcores"][0]
        return (r["iterations"], r["frames_moved"],
                (thread_cpu_ns(self.p.pid, "rte-worker-1") or 0) / 1e9)

    def device(self):
        return self.ctl.cmd("show device status 0")

    def close(self):
        self.ctl.close()
        self.p.stop()
        for f in (self.sock, self.ctl_path):
            if os.path.exists(f):
                os.unlink(f)


class StopWatcher(threading.Thread):
    """Reads vstop's per-stop figures (last_stop_ns, last_stop_iters) over the control
    socket every @period_ms while vstop-fe runs its cycles (a stop every --gap ms), so that
    every stop is seen once. Not vstop's log: a log line on the control lcore costs more
    than a stop (DPDK 22.11 logs each line to syslog too)."""

    def __init__(self, vs, period_ms):
        super().__init__(daemon=True)
        self.vs, self.period = vs, period_ms / 1000.0
        self.quit = threading.Event()
        self.stops = {}
        self.first = vs.device()["stops"]

    def run(self):
        while not self.quit.is_set():
            d = self.vs.device()
            if d["stops"] > self.first and d["stops"] not in self.stops:
                self.stops[d["stops"]] = (d["last_stop_ns"], d["last_stop_iters"])
            time.sleep(self.period)

    def results(self):
        self.quit.set()
        self.join(5)
        d = self.vs.device()
        if d["stops"] > self.first:
            self.stops.setdefault(d["stops"], (d["last_stop_ns"], d["last_stop_iters"]))
        n = d["stops"] - self.first
        return [self.stops.get(self.first + 1 + i) for i in range(n)]



def start_fe(a, vs, queues, idle, extra):
    fe = Proc(fe_argv(a, vs, queues, idle, extra), "vstop-fe", stdin=False,
              timerslack_ns=a.fe_timerslack_ns)
    if a.fe_data_idle:
        sched_idle_second_thread(fe)
    if a.rt:
        rt_front_end(fe)
    return fe


def fe_argv(a, vs, queues, idle, extra):
    be_core, fe_core = cpus()
    return (["taskset", "-c", str(fe_core), os.path.join(a.build, "tools", "fe", "vstop-fe"),
             "-s", vs.sock, "-q", str(queues)] + (["--count", "1"] if idle else []) +
            (["--packed"] if a.packed else []) + extra)


def loop_period(a, vs, queues, idle):
    """ns per polling-loop iteration (and frames per iteration) while vstop-fe runs traffic
    (or sits idle), no stop under way."""
    fe = start_fe(a, vs, queues, idle, ["-d", str(a.period_s + 1.5), "--quiet"])
    try:
        time.sleep(1.0)
        i0, m0, t0 = vs.lcore()
        time.sleep(a.period_s)
        i1, m1, t1 = vs.lcore()
        fe.wait(a.period_s + 30)
    finally:
        fe.stop()
    if fe.p.returncode != 0:
        raise RuntimeError(f"vstop-fe (loop period, {queues} q) failed:\n{fe.text()[-2000:]}")
    it = max(1, i1 - i0)
    return (t1 - t0) * 1e9 / it, (m1 - m0) / 2 / it, (m1 - m0) / 2 / a.period_s / 1e6


def cycles(a, vs, queues, idle):
    """Run --cycles stops; return [(wall_us, status_reads, engine_ns, engine_iters)]."""
    watch = StopWatcher(vs, a.gap / 4)
    watch.start()
    fe = start_fe(a, vs, queues, idle, ["--cycles", str(a.cycles), "--gap", str(a.gap), "-v"])
    fe.wait(a.cycles * (a.gap + 50) / 1000 + 60)
    fe.stop()
    out = fe.text()
    if fe.p.returncode != 0 or "result: PASS" not in out:
        raise RuntimeError(f"vstop-fe (cycles, {queues} q) failed:\n{out[-3000:]}")
    wall = [(float(m.group(1)), int(m.group(2) or 0)) for m in FE_STOP.finditer(out)]
    eng = watch.results()
    if len(eng) != len(wall):
        log(f"warning: {len(wall)} stops seen by vstop-fe, {len(eng)} by vstop")
    missed = sum(e is None for e in eng)
    if missed:
        log(f"warning: {missed} of {len(eng)} stops not seen on the control socket")
    lost = re.search(r"lost (\d+)", out)
    return ([w + e for w, e in zip(wall, eng) if e is not None],
            int(lost.group(1)) if lost else -1)


def plot(rows, png, queues):
    data = png[:-4] + ".dat"
    with open(data, "w") as f:
        f.write("# queues idle_wall_med idle_wall_p99 traffic_wall_med traffic_wall_p99 "
                "idle_eng_med traffic_eng_med idle_per_med idle_per_p99 traffic_per_med "
                "traffic_per_p99\n")
        for q in queues:
            i = next(r for r in rows if r["mode"] == "idle" and r["queues"] == q)
            t = next(r for r in rows if r["mode"] == "traffic" and r["queues"] == q)
            f.write(f"{q} {i['wall_us_median']} {i['wall_us_p99']} {t['wall_us_median']} "
                    f"{t['wall_us_p99']} {i['engine_us_median']} {t['engine_us_median']} "
                    f"{i['periods_median']} {i['periods_p99']} {t['periods_median']} "
                    f"{t['periods_p99']}\n")
    script = f"""
set termoption noenhanced
set multiplot layout 1,2 title 'vstop stop latency (DEVICE_STOPPED, vstop-fe driver, 1 polling lcore)'
set logscale x 2
set xlabel 'queue pairs'
set grid
set key top left
set ylabel 'microseconds'
set logscale y
set title 'request -> bit shown'
plot '{data}' using 1:2 with linespoints lw 2 title 'wall, idle, median', \
     '{data}' using 1:3 with linespoints dt 2 title 'wall, idle, p99', \
     '{data}' using 1:4 with linespoints lw 2 title 'wall, traffic, median', \
     '{data}' using 1:5 with linespoints dt 2 title 'wall, traffic, p99', \
     '{data}' using 1:6 with linespoints title 'engine, idle, median', \
     '{data}' using 1:7 with linespoints title 'engine, traffic, median'
set ylabel 'loop periods of the polling lcore under traffic'
set title 'engine stop latency in loop periods (goal <= 2)'
plot '{data}' using 1:8 with linespoints lw 2 title 'idle, median', \
     '{data}' using 1:9 with linespoints dt 2 title 'idle, p99', \
     '{data}' using 1:10 with linespoints lw 2 title 'traffic, median', \
     '{data}' using 1:11 with linespoints dt 2 title 'traffic, p99', \
     2 with lines lc rgb 'red' dt 3 title 'goal'
unset multiplot
"""
    gnuplot(script, png)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queues", default="1,2,4,8,16,32,64")
    ap.add_argument("--cycles", type=int, default=500, help="stops per mode and queue count")
    ap.add_argument("--gap", type=int, default=10, help="ms of traffic between two stops")
    ap.add_argument("--period-s", type=float, default=2.0, dest="period_s",
                    help="seconds over which the loop period is measured")
    ap.add_argument("--modes", default="idle,traffic")
    ap.add_argument("--fe-timerslack-ns", type=int, default=1000, dest="fe_timerslack_ns",
                    help="timer slack of vstop-fe, which sleeps between polls (0: the "
                    "kernel's default, 50 us, added to every sleep)")
    ap.add_argument("--rt", action="store_true",
                    help="SCHED_FIFO for the threads that sleep between requests (vstop's "
                    "control lcore and vhost-events thread, vstop-fe's control thread): "
                    "they then run as soon as they wake, whatever else shares their core "
                    "(as on a core of their own); polling threads stay SCHED_OTHER")
    ap.add_argument("--fe-data-idle", action="store_true", dest="fe_data_idle",
                    help="run vstop-fe's data thread SCHED_IDLE: vstop's control threads, "
                    "which share its core, then run as soon as they wake")
    add_vstop_log_option(ap)
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--name", default="stop_latency")
    ap.add_argument("--smoke", action="store_true", help="1 and 4 queues, 10 cycles")
    ap.add_argument("--packed", action="store_true",
                    help="vstop-fe drives packed virtqueues (rule P1)")
    a = ap.parse_args()
    a.vstop_log = vstop_log_args(a)
    if a.smoke:
        a.queues, a.cycles, a.period_s = "1,4", 10, 0.5
    for b in ("app/vstop", "tools/fe/vstop-fe"):
        if not os.path.exists(os.path.join(a.build, b)):
            sys.exit(f"stop_latency: {os.path.join(a.build, b)} not built")
    os.makedirs(OUT, exist_ok=True)
    for line in save_machine(a.name):
        log(line)
    log(f"CPU busy before the run (other work on the machine): {cpu_busy():.0f} %")
    queues = [int(x) for x in a.queues.split(",")]
    modes = a.modes.split(",")
    be_core, fe_core = cpus()
    log(f"vstop polling lcore on core {be_core}; its control lcore and vstop-fe on core "
        f"{fe_core}; {a.cycles} stops per mode and queue count, {a.gap} ms apart")
    prog = Progress(len(queues) * (1 + 2 * len(modes)))
    rows, per_stop = [], []
    for q in queues:
        vs = Vstop(a, q, f"vstop {q}q")
        try:
            per = {}
            for mode in ["traffic"] + [m for m in modes if m != "traffic"]:
                ns, fpi, mpps = loop_period(a, vs, q, mode == "idle")
                per[mode] = ns
                prog.step(f"{q:2d} q {mode:7s}: loop period {ns:7.1f} ns, {fpi:5.2f} frames "
                          f"per iteration, {mpps:.2f} Mpps")
            for mode in modes:
                stops, lost = cycles(a, vs, q, mode == "idle")
                for i, (wall, reads, ens, eit) in enumerate(stops):
                    per_stop.append([mode, q, i, wall, reads, round(ens / 1e3, 3), eit,
                                     round(per["traffic"], 1),
                                     round(ens / per["traffic"], 2)])
                w = summary([s[0] for s in stops])
                e = summary([s[2] / 1e3 for s in stops])
                it = summary([s[3] for s in stops])
                pr = summary([s[2] / per["traffic"] for s in stops])
                rows.append({"mode": mode, "queues": q, "stops": len(stops),
                             "wall_us_median": round(w["median"], 1),
                             "wall_us_p99": round(w["p99"], 1), "wall_us_max": round(w["max"], 1),
                             "engine_us_median": round(e["median"], 2),
                             "engine_us_p99": round(e["p99"], 2),
                             "engine_us_max": round(e["max"], 2),
                             "engine_iters_median": it["median"], "engine_iters_p99": it["p99"],
                             "engine_iters_max": it["max"],
                             "loop_ns_traffic": round(per["traffic"], 1),
                             "loop_ns_mode": round(per[mode], 1),
                             "periods_median": round(pr["median"], 2),
                             "periods_p99": round(pr["p99"], 2),
                             "periods_max": round(pr["max"], 2),
                             "frames_lost": lost})
                prog.step(f"{q:2d} q {mode:7s}: wall median {w['median']:7.1f} us p99 "
                          f"{w['p99']:7.1f} max {w['max']:8.1f} | engine median "
                          f"{e['median']:6.1f} us p99 {e['p99']:7.1f}, iterations median "
                          f"{it['median']} p99 {it['p99']} | loop periods median "
                          f"{pr['median']:.2f} p99 {pr['p99']:.2f} | lost {lost}")
        finally:
            vs.close()
    csv_path = os.path.join(OUT, a.name + ".csv")
    write_csv(csv_path, list(rows[0].keys()), [list(r.values()) for r in rows])
    write_csv(os.path.join(OUT, a.name + "_stops.csv"),
              ["mode", "queues", "stop", "wall_us", "status_reads", "engine_us",
               "engine_iters", "loop_ns_traffic", "loop_periods"], per_stop)
    if not a.smoke and set(modes) == {"idle", "traffic"}:
        plot(rows, os.path.join(OUT, a.name + ".png"), queues)


if __name__ == "__main__":
    main()
