#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Live-migration downtime between two vstop processes on this host, under traffic.

vstop A and vstop B (--fwd loopback, each one polling lcore, both on the same core with an
idle back-off so that the one without a running device sleeps; control lcores on the other
core) and vstop-fe (on the other core) passing sequence-numbered frames flat out and
migrating the device A -> B -> A ... (--migrations times). vstop-fe checks that every frame
comes back exactly once and in order, and measures per migration:
  downtime   source stop request -> first frame back through the destination (an rx
             used index in guest memory moves past where the source left it)
  stop       SET_STATUS(|DEVICE_STOPPED) -> GET_STATUS shows it (source)
  bases      GET_VRING_BASE of every ring (source)
  save       SET_DEVICE_STATE_FD(SAVE), read, CHECK (source)
  load       destination rings at the source's bases + LOAD + CHECK_DEVICE_STATE
  start      SET_STATUS(DRIVER_OK) on the destination -> first frame back
  driver wait   part of 'start': DRIVER_OK shown -> vstop-fe posted a frame the
                destination could forward (0 unless the source had returned them all:
                the device idles, the driver's scheduling is in the window)
and, outside the downtime (the driver's time, not the device's):
  driver catch-up     ring bases -> vstop-fe's data thread took the source's last frame
  driver first frame  end of downtime -> the data thread took the destination's first
                      frame (signed: two threads watch)
vstop-fe before these were split off (no 'driver ...' parts) waited for its data thread
to catch up inside 'save' and ended the downtime when the data thread took the frame:
such output is parsed too, the driver columns stay empty.
Writes out/bench/NAME.csv (summary per queue count), NAME_migrations.csv (each migration)
and NAME.png.
"""
import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (EAL, OUT, TOP, Proc, Progress, add_vstop_log_option, cpu_busy,  # noqa: E402
                      cpus, gnuplot, log, rt_vstop, save_machine, vstop_log_args,
                      sched_idle_second_thread, summary, tag, wait_for, write_csv)

MIG = re.compile(r"migrated to \S+: downtime ([\d.]+) ms \((.*)\)\s*$", re.M)
PART = re.compile(r"^(.*?) ([-+]?[\d.]+) us(?: \[(\d+) B\])?$")
FRAMES = re.compile(r"frames: sent (\d+) received (\d+) lost (\d+) duplicated (\d+) "
                    r"reordered (\d+) bad (\d+)")
PARTS = ["stop_us", "bases_us", "save_us", "load_us", "start_us"]
# The driver's share of start_us, then two figures outside the downtime; absent (None) in
# the output of an older vstop-fe.
DRIVER = ["driver_wait_us", "driver_catchup_us", "driver_first_us"]
# vstop-fe's labels for them (its wording may vary a little: matched by key words, the
# first that fits; the driver's before 'first frame', which they contain too)
LABELS = [("waiting for the driver", "driver_wait_us"),
          ("driver caught up", "driver_catchup_us"), ("driver first frame", "driver_first_us"),
          ("stop", "stop_us"), ("ring bases", "bases_us"), ("save", "save_us"),
          ("destination", "load_us"), ("first frame", "start_us")]


def parse_migrations(out):
    """[[downtime_ms, stop_us, bases_us, save_us, state_bytes, load_us, start_us,
    driver_wait_us, driver_catchup_us, driver_first_us]] from vstop-fe's 'migrated to ...'
    lines, old (without the driver parts: None) or new."""
    migs = []
    for m in MIG.finditer(out):
        parts, nbytes = {}, 0
        for seg in m.group(2).split(", "):
            pm = PART.match(seg.strip())
            if not pm:
                continue
            for key, name in LABELS:
                if key in pm.group(1) and name not in parts:
                    parts[name] = float(pm.group(2))
                    break
            if pm.group(3):
                nbytes = int(pm.group(3))
        migs.append([float(m.group(1)), parts.get("stop_us", 0), parts.get("bases_us", 0),
                     parts.get("save_us", 0), nbytes, parts.get("load_us", 0),
                     parts.get("start_us", 0)] + [parts.get(d) for d in DRIVER])
    return migs


def vstop(a, sock, queues, name):
    be_core, fe_core = cpus()
    t = tag()
    argv = ([os.path.join(a.build, "app", "vstop")] + EAL +
            ["-m", "1024", "--file-prefix", "vsmig-" + t, "--lcores",
             f"0@{fe_core},1@{be_core}"] + a.vstop_log + ["--",
             "--vhost", f"{sock},queues={queues}", "--fwd", "loopback",
             "--idle-backoff-us", str(a.backoff_us)] + (["--no-relay"] if a.no_relay else []))
    p = Proc(argv, name, stdin=False, logfile=os.path.join(OUT, f"{a.name}.{name}.log"))
    wait_for(lambda: os.path.exists(sock) or not p.alive(), 20, name + " socket")
    if not p.alive():
        raise RuntimeError(f"{name} exited:\n{p.text()[-2000:]}")
    if a.rt:
        rt_vstop(p)
    return p


def run(a, queues):
    be_core, fe_core = cpus()
    t = tag()
    socks = [f"/tmp/vs-mig-{t}-a.sock", f"/tmp/vs-mig-{t}-b.sock"]
    procs = []
    try:
        procs = [vstop(a, socks[0], queues, "vstop-A"), vstop(a, socks[1], queues, "vstop-B")]
        extra = ["--rate", str(a.rate)] if a.rate else []
        if a.packed:
            extra += ["--packed"]
        argv = (["taskset", "-c", str(fe_core), os.path.join(a.build, "tools", "fe", "vstop-fe"),
                 "-s", socks[0], "-p", socks[1], "-q", str(queues), "--migrate",
                 str(a.migrations), "--gap", str(a.gap)] + extra)
        log("  " + " ".join(argv))
        fe = Proc(argv, "vstop-fe", stdin=False, timerslack_ns=a.fe_timerslack_ns)
        if a.fe_data_idle:
            sched_idle_second_thread(fe)
        seen = 0
        while fe.alive():
            time.sleep(1)
            n = len(MIG.findall(fe.text()))
            if n >= seen + max(1, a.migrations // 10):
                seen = n
                log(f"  {queues} q: {n}/{a.migrations} migrations")
        fe.stop()
        out = fe.text()
        migs = parse_migrations(out)
        fr = FRAMES.search(out)
        if fr is None:
            raise RuntimeError("vstop-fe printed no summary:\n" + out[-3000:])
        sent, rcvd, lost, dup, reord, bad = (int(x) for x in fr.groups())
        res = {"ok": fe.p.returncode == 0 and "result: PASS" in out, "migs": migs,
               "sent": sent, "received": rcvd, "lost": lost, "dup": dup, "reord": reord,
               "bad": bad, "tail": out[-3000:]}
        m = re.search(r"max gap between frames: ([\d.]+) ms", out)
        res["max_gap_ms"] = float(m.group(1)) if m else -1
        return res
    finally:
        for p in procs:
            p.stop()
        for s in socks:
            if os.path.exists(s):
                os.unlink(s)


def plot(per, png, title):
    """Per migration, sorted by downtime: stacked components (the breakdown), and the
    driver's catch-up beside them as points (not part of the downtime)."""
    data = png[:-4] + ".dat"
    split = any(m[9] is not None for m in per)
    with open(data, "w") as f:
        f.write("# rank " + " ".join(PARTS) + " downtime_us " + " ".join(DRIVER) + "\n")
        for i, m in enumerate(sorted(per, key=lambda m: m[2])):
            f.write(f"{i} " + " ".join(str(x) for x in m[4:9]) + f" {m[2] * 1000:.1f} "
                    + " ".join("NaN" if x is None else str(x) for x in m[9:12]) + "\n")
    save = ("save device state" if split
            else "driver catches up + save device state")
    # New output: the driver's wait split off the last bar, its catch-up as points.
    start = ("($6-$8) title 'DRIVER\\_OK -> first frame back (device)', \\\n"
             "     '' using 8 title 'destination idle: no frame posted yet (driver)', \\\n"
             "     '' using 1:9 with points pt 7 ps 0.6 lc rgb 'black' "
             "title 'driver catch-up after GET\\_VRING\\_BASE (not downtime)'"
             if split else "6 title 'DRIVER\\_OK -> first frame back'")
    script = f"""
set title '{title}'
set style data histogram
set style histogram rowstacked
set style fill solid 0.8 border -1
set boxwidth 1
set xlabel 'migrations, sorted by downtime'
set ylabel 'microseconds'
set format x ''
set xtics nomirror scale 0
set xrange [-1:{len(per)}]
set key top left
set grid ytics
plot '{data}' using 2 title 'source stop (request -> bit shown)', \
     '' using 3 title 'GET\\_VRING\\_BASE', \
     '' using 4 title '{save}', \
     '' using 5 title 'destination rings + load state', \
     '' using {start}
"""
    gnuplot(script, png)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--migrations", type=int, default=200)
    ap.add_argument("--queues", default="1", help="comma list of queue-pair counts")
    ap.add_argument("--gap", type=int, default=20, help="ms of traffic between migrations")
    ap.add_argument("--rate", type=int, default=0, help="frames/s (0: flat out)")
    ap.add_argument("--backoff-us", type=int, default=20, dest="backoff_us",
                    help="vstop --idle-backoff-us (both pollers share a core)")
    ap.add_argument("--fe-timerslack-ns", type=int, default=1000, dest="fe_timerslack_ns",
                    help="timer slack of vstop-fe, which sleeps between polls (0: the "
                    "kernel's default, 50 us, added to every sleep). vstop-fe now sets 1 us "
                    "itself at start-up, so this only matters for an older one")
    ap.add_argument("--rt", action="store_true",
                    help="SCHED_FIFO for vstop's control lcore and vhost-events thread "
                    "(both vstops): they run as soon as they wake, whatever else shares "
                    "their core. Not vstop-fe's control thread: it waits for its own data "
                    "thread in short sleeps, which a real-time thread would starve")
    ap.add_argument("--fe-data-idle", action="store_true", dest="fe_data_idle",
                    help="run vstop-fe's data thread SCHED_IDLE: the control threads sharing "
                    "its core (vstop-fe's, vstop's) run as soon as they wake")
    add_vstop_log_option(ap)
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--name", default="migration")
    ap.add_argument("--smoke", action="store_true", help="10 migrations, 1 queue")
    ap.add_argument("--no-relay", action="store_true", dest="no_relay",
                    help="vstop --no-relay: librte_vhost owns the sockets (no live upgrade), "
                         "one hop less per vhost-user message")
    ap.add_argument("--packed", action="store_true",
                    help="vstop-fe drives packed virtqueues (rule P1)")
    a = ap.parse_args()
    a.vstop_log = vstop_log_args(a)
    if a.smoke:
        a.migrations, a.queues = 10, "1"
    for b in ("app/vstop", "tools/fe/vstop-fe"):
        if not os.path.exists(os.path.join(a.build, b)):
            sys.exit(f"migration: {os.path.join(a.build, b)} not built")
    os.makedirs(OUT, exist_ok=True)
    for line in save_machine(a.name):
        log(line)
    log(f"CPU busy before the run (other work on the machine): {cpu_busy():.0f} %")
    be_core, fe_core = cpus()
    log(f"vstop A and B polling lcores on core {be_core} (idle back-off {a.backoff_us} us), "
        f"control lcores and vstop-fe on core {fe_core}; traffic "
        f"{'flat out' if not a.rate else str(a.rate) + ' frames/s'}")
    queues = [int(x) for x in a.queues.split(",")]
    prog = Progress(len(queues))
    rows, per = [], []
    failed = False
    for q in queues:
        r = run(a, q)
        for i, m in enumerate(r["migs"]):
            per.append([q, i + 1, m[0]] + [m[4]] + [m[1], m[2], m[3], m[5], m[6]] + m[7:10])
        d = summary([m[0] for m in r["migs"]])
        if d is None:
            raise RuntimeError("no migration completed:\n" + r["tail"])
        parts = {p: summary([m[i] for m in r["migs"]])
                 for p, i in zip(PARTS, (1, 2, 3, 5, 6))}
        row = {"queues": q, "migrations": d["n"], "downtime_ms_median": round(d["median"], 3),
               "downtime_ms_p99": round(d["p99"], 3), "downtime_ms_max": round(d["max"], 3),
               "downtime_ms_min": round(d["min"], 3)}
        for p in PARTS:
            row[p + "_median"] = round(parts[p]["median"], 1)
            row[p + "_p99"] = round(parts[p]["p99"], 1)
        drv = {p: summary([m[i] for m in r["migs"] if m[i] is not None])
               for p, i in zip(DRIVER, (7, 8, 9))}
        row.update({"state_bytes": int(r["migs"][0][4]), "frames_sent": r["sent"],
                    "frames_lost": r["lost"], "duplicated": r["dup"], "reordered": r["reord"],
                    "bad": r["bad"], "max_gap_ms": r["max_gap_ms"], "pass": int(r["ok"])})
        # New columns go last: report.py and older readers take these files by column name.
        for p in DRIVER:
            row[p + "_median"] = round(drv[p]["median"], 1) if drv[p] else ""
            row[p + "_p99"] = round(drv[p]["p99"], 1) if drv[p] else ""
        # The downtime without the driver's wait: the device's own part.
        dev = summary([m[0] - m[7] / 1000 for m in r["migs"] if m[7] is not None])
        for k in ("median", "p99", "max"):
            row["downtime_dev_ms_" + k] = round(dev[k], 3) if dev else ""
        rows.append(row)
        failed |= not r["ok"]
        prog.step(f"{q} q: {d['n']} migrations, downtime median {d['median']:.3f} ms, p99 "
                  f"{d['p99']:.3f} ms, max {d['max']:.3f} ms; frames sent {r['sent']} lost "
                  f"{r['lost']} dup {r['dup']} reordered {r['reord']}; "
                  + ", ".join(f"{p} {parts[p]['median']:.1f}" for p in PARTS)
                  + ("; driver: wait (in start_us) {:.1f}, not downtime: catch-up {:.1f}, "
                     "first frame {:+.1f}".format(*(drv[p]["median"] for p in DRIVER))
                     if all(drv.values()) else "")
                  + (f"; downtime without the driver's wait: median {dev['median']:.3f} ms, "
                     f"p99 {dev['p99']:.3f} ms, max {dev['max']:.3f} ms" if dev else "")
                  + ("" if r["ok"] else " -- vstop-fe says FAIL"))
    write_csv(os.path.join(OUT, a.name + ".csv"), list(rows[0].keys()),
              [list(r.values()) for r in rows])
    write_csv(os.path.join(OUT, a.name + "_migrations.csv"),
              ["queues", "migration", "downtime_ms", "state_bytes"] + PARTS + DRIVER,
              [m[:9] + ["" if x is None else x for x in m[9:]] for m in per])
    if not a.smoke:
        plot([m for m in per if m[0] == queues[0]], os.path.join(OUT, a.name + ".png"),
             f"vstop live migration A <-> B under traffic, {queues[0]} queue pair(s): "
             "downtime breakdown")
    if failed:
        sys.exit("migration: vstop-fe reported a failure (see above)")


if __name__ == "__main__":
    main()
