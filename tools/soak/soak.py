#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Soak: many stop/resume cycles and migrations A->B->A under continuous traffic.

Two vstop processes (A and B, one vhost-user port of --queues queue pairs each, loopback)
and one vstop-fe that sends sequence-numbered frames on every queue pair the whole time,
stops and resumes the device --cycles times and migrates it between A and B --migrations
times (spread evenly over the cycles, in one run). Passes when:

  * every frame came back exactly once and in order (0 lost, 0 duplicated, 0 reordered,
    0 corrupt), no stop missed its deadline (vstop-fe's and both vstops' counters), no
    migration was refused or failed, every ring base matched;
  * both vstop processes are alive at the end and exit 0 on SIGINT;
  * the resident memory (VmRSS, /proc/PID/status) of each vstop at the end is the one
    sampled after warm-up, within --rss-margin-kib or --rss-margin-pct (the larger).
    Warm-up is a first vstop-fe run of --warmup of the counts (10 %); both samples are
    taken with no front end connected (a connected device maps the front end's memory,
    which counts in its RSS), so they compare like with like.

A progress line every --progress seconds, a summary at the end (also as JSON, --json).

--packed drives packed virtqueues (VIRTIO_F_RING_PACKED) on rings of --ring-size entries
(64 by default with --packed: the wrap counters flip every 64 buffers) and the summary
gives how often they flipped. --backend fake runs the soak against two instances of the
Python fake backend (test/fe/fake_backend.py, a stoppable loopback device that drives
split and packed rings) instead of vstop: no RSS or vstop counters then, the rest alike.
Usage:
  tools/soak/soak.py                       10,000 cycles, 1,000 migrations, 4 queue pairs
  tools/soak/soak.py --short               200 cycles, 20 migrations (CI: meson suite soak)
  tools/soak/soak.py --packed              the same on packed rings of 64 entries
Exit status: 0 pass, 1 fail, 77 binaries not built.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import proclib  # noqa: E402  (children: non-reaping waits, bounded reaps)

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def now():
    return time.monotonic()


class Soak:
    def __init__(self, o):
        self.o = o
        self.dir = tempfile.mkdtemp(prefix="vstop-soak-", dir="/tmp")
        self.procs = []
        self.t0 = now()
        self.failures = []

    def say(self, msg):
        print(f"soak [{now() - self.t0:7.1f}s] {msg}", flush=True)

    def fail(self, msg):
        self.failures.append(msg)
        self.say(f"FAIL: {msg}")

    # ---- processes --------------------------------------------------------------------
    def spawn(self, argv, name):
        log = open(os.path.join(self.dir, f"{name}.log"), "w+")
        p = proclib.Child(argv, stdin=subprocess.DEVNULL, stdout=log,
                          stderr=subprocess.STDOUT, start_new_session=True)
        p.log, p.name, p.argv = log, name, argv
        self.procs.append(p)
        return p

    def text(self, p):
        p.log.flush()
        with open(p.log.name, errors="replace") as f:
            return f.read()

    def fake(self, name):
        sock = os.path.join(self.dir, f"{name}.sock")
        p = self.spawn([sys.executable, self.o.fake, sock], name)
        p.prefix, p.sock, p.ctl = None, sock, None
        end = now() + 30
        while now() < end:
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited during start-up:\n{self.text(p)}")
            if "listening" in self.text(p):
                return p
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready within 30 s:\n{self.text(p)}")

    def vstop(self, name):
        if self.o.backend == "fake":
            return self.fake(name)
        sock = os.path.join(self.dir, f"{name}.sock")
        ctl = os.path.join(self.dir, f"{name}.ctl")
        prefix = f"soak{os.getpid()}{name}"
        argv = [self.o.vstop, "--no-huge", "-m", str(self.o.mem), "--no-pci",
                "--file-prefix", prefix, "--lcores", "0@0,1@1",
                "--log-level", "lib.vhost.*:warning", "--log-level", "vstop.vhost:warning",
                "--", "--vhost", f"{sock},queues={self.o.queues}", "--fwd", "loopback",
                "--ctl", ctl, "--idle-backoff-us", "50",
                "--stop-timeout-ms", str(self.o.deadline_ms)]
        p = self.spawn(argv, name)
        p.prefix, p.sock, p.ctl = prefix, sock, ctl
        end = now() + 60
        while now() < end:
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited during start-up:\n{self.text(p)}")
            if "vstop ready" in self.text(p):
                return p
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready within 60 s:\n{self.text(p)}")

    def ctl(self, p, line):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        try:
            s.connect(p.ctl)
            f = s.makefile("rw")
            f.write(line + "\n")
            f.flush()
            return json.loads(f.readline())
        finally:
            s.close()

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
        for p in reversed(self.procs):
            p.end(None, grace=15)  # SIGKILL after 15 s; a bounded reap
            if getattr(p, "prefix", None):
                shutil.rmtree(f"/var/run/dpdk/{p.prefix}", ignore_errors=True)
            p.log.close()
        if self.o.keep_logs or self.failures:
            self.say(f"logs kept in {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- measures ---------------------------------------------------------------------
    @staticmethod
    def rss(p):
        """VmRSS and its parts (KiB) from /proc/PID/status."""
        r = {"VmRSS": -1, "RssAnon": -1, "RssFile": -1, "RssShmem": -1}
        try:
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    k = line.split(":")[0]
                    if k in r:
                        r[k] = int(line.split()[1])
        except OSError:
            pass
        return r

    def fe_progress(self, fe):
        lines = [l for l in self.text(fe).splitlines() if re.search(r"\] tx \d+ rx ", l)]
        if not lines:
            return {}
        return {k: int(v) for k, v in re.findall(
            r"\b(tx|rx|lost|dup|reord|bad|stops|miss|migr|refused|failed) (\d+)", lines[-1])}

    # ---- the run ----------------------------------------------------------------------
    def run_fe(self, name, cycles, migrations, watch):
        """One vstop-fe run against A and B; returns (exit status, output)."""
        o = self.o
        a, b = self.vs
        argv = [o.fe, "-s", a.sock, "-p", b.sock, "-q", str(o.queues), "-c", str(cycles),
                "-m", str(migrations), "--gap", str(o.gap), "--drain", "20000",
                "--deadline", str(o.deadline_ms),
                # A reply may take as long as a stop may (the fake backend is Python and
                # answers SET_STATUS once its stop is done: CI once waited 2 s for one).
                "--msg-timeout", str(max(2000, o.deadline_ms))]
        if o.packed:
            argv += ["--packed"]
        if o.ring_size:
            argv += ["--ring-size", str(o.ring_size)]
        self.say("+ " + " ".join(argv))
        fe = self.spawn(argv, name)
        last_print = 0.0
        deadline = now() + o.timeout
        while fe.poll() is None:
            if now() > deadline:
                fe.end(signal.SIGKILL)
                self.fail(f"{name}: vstop-fe did not finish within {o.timeout} s")
                break
            gone = [v for v in self.vs if v.poll() is not None]
            if gone:
                self.fail(f"vstop {gone[0].name} exited ({gone[0].returncode}) during {name}")
                fe.end(signal.SIGKILL)
                break
            if watch:
                for i, v in enumerate(self.vs):
                    self.rss_max[i] = max(self.rss_max[i], self.rss(v)["VmRSS"])
            pr = self.fe_progress(fe)
            if now() - last_print >= o.progress and pr:
                last_print = now()
                self.say(f"{name}: cycles {pr.get('stops', 0)}/{cycles} (missed "
                         f"{pr.get('miss', 0)}) migrations {pr.get('migr', 0)}/{migrations} "
                         f"(refused {pr.get('refused', 0)}, failed {pr.get('failed', 0)}) | "
                         f"frames tx {pr.get('tx', 0)} rx {pr.get('rx', 0)} lost "
                         f"{pr.get('lost', 0)} dup {pr.get('dup', 0)} reord "
                         f"{pr.get('reord', 0)} bad {pr.get('bad', 0)} | RSS A "
                         f"{self.rss(a)['VmRSS'] // 1024} MiB B "
                         f"{self.rss(b)['VmRSS'] // 1024} MiB")
            time.sleep(0.2)
        rc = fe.end(None)  # dead already (or killed above): a bounded reap
        return rc, self.text(fe)

    def quiet_rss(self, what):
        """RSS of A and B with no front end connected (like for like: a connected device
        maps the front end's memory, which counts in its RSS)."""
        if self.o.backend == "fake":
            return [self.rss(v) for v in self.vs]
        end = now() + 30
        for v in self.vs:
            while now() < end:
                d = self.ctl(v, "show device status 0")
                if not d.get("connected"):
                    break
                time.sleep(0.1)
            else:
                self.fail(f"vstop {v.name} still connected after the front end exited")
        time.sleep(0.5)
        r = [self.rss(v) for v in self.vs]
        self.say(f"RSS {what}: " + ", ".join(
            f"{v.name} VmRSS {x['VmRSS']} KiB (anon {x['RssAnon']}, file {x['RssFile']}, "
            f"shmem {x['RssShmem']})" for v, x in zip(self.vs, r)))
        return r

    def run(self):
        o = self.o
        a, b = self.vstop("a"), self.vstop("b")
        self.vs = (a, b)
        self.rss_max = [0, 0]
        self.say(f"{o.cycles} stop/resume cycles and {o.migrations} migrations A<->B under "
                 f"traffic, {o.queues} queue pairs; vstop A pid {a.pid}, B pid {b.pid}")
        wc, wm = max(1, int(o.cycles * o.warmup)), max(2, int(o.migrations * o.warmup))
        self.say(f"warm-up: {wc} cycles, {wm} migrations")
        rc, out = self.run_fe("warm-up", wc, wm, False)
        if rc != 0 or "result: PASS" not in out:
            self.fail(f"warm-up run: vstop-fe exit {rc}:\n" + "\n".join(out.splitlines()[-12:]))
        self.rss_warm = self.quiet_rss("after warm-up")
        self.fe_rc, self.fe_out = self.run_fe("soak", o.cycles, o.migrations, True)
        return self.check()

    def check(self):
        o = self.o
        out = self.fe_out
        s = {}
        m = re.search(r"frames: sent (\d+) received (\d+) lost (\d+) duplicated (\d+) "
                      r"reordered (\d+) bad (\d+) foreign (\d+) inflight (\d+) "
                      r"\(([\d.]+) Mpps avg over ([\d.]+) s\)", out)
        if m:
            keys = ("sent", "received", "lost", "dup", "reord", "bad", "foreign", "inflight")
            s.update({k: int(v) for k, v in zip(keys, m.groups()[:8])})
            s["mpps"], s["secs"] = float(m.group(9)), float(m.group(10))
        for key, rx in (("stop_us", r"stops \(request -> shown\): (\d+), min ([\d.]+) avg "
                                    r"([\d.]+) max ([\d.]+) us"),
                        ("resume_us", r"resumes \(request -> shown\): (\d+), min ([\d.]+) "
                                      r"avg ([\d.]+) max ([\d.]+) us"),
                        ("downtime_ms", r"migrations \(downtime\): (\d+), min ([\d.]+) avg "
                                        r"([\d.]+) max ([\d.]+) ms")):
            m = re.search(rx, out)
            s[key] = ({"n": int(m.group(1)), "min": float(m.group(2)),
                       "avg": float(m.group(3)), "max": float(m.group(4))} if m else
                      {"n": 0})
        m = re.search(r"stop deadline misses: (\d+)", out)
        s["deadline_misses"] = int(m.group(1)) if m else None
        m = re.search(r"migrations refused: (\d+), failed: (\d+), ring base mismatches: (\d+)",
                      out)
        if m:
            s["refused"], s["failed"], s["base_mismatch"] = map(int, m.groups())
        m = re.search(r"max gap between frames: ([\d.]+) ms", out)
        s["max_gap_ms"] = float(m.group(1)) if m else None
        m = re.search(r"rings: (\w+), (\d+) x 2 of (\d+) entries; [a-z ]+: avail (\d+) "
                      r"\(min (\d+) per ring\), used (\d+) \(min (\d+) per ring\)", out)
        if m:
            s["rings"] = {"layout": m.group(1), "size": int(m.group(3)),
                          "avail_flips": int(m.group(4)), "avail_flips_min": int(m.group(5)),
                          "used_flips": int(m.group(6)), "used_flips_min": int(m.group(7))}
            if m.group(1) != ("packed" if o.packed else "split"):
                self.fail(f"vstop-fe drove {m.group(1)} rings")
        else:
            self.fail("no 'rings:' line from vstop-fe")
        s["fe_exit"] = self.fe_rc
        self.summary = s

        if self.fe_rc != 0 or "result: PASS" not in out:
            self.fail(f"vstop-fe exit status {self.fe_rc}, "
                      f"{'result: PASS' if 'result: PASS' in out else 'no PASS'}")
        if "sent" not in s:
            self.fail("no frame summary from vstop-fe")
        else:
            for k in ("lost", "dup", "reord", "bad", "foreign"):
                if s[k]:
                    self.fail(f"{s[k]} frames {k}")
            if s["sent"] != s["received"] or not s["sent"]:
                self.fail(f"sent {s['sent']} received {s['received']}")
        if s["stop_us"]["n"] != o.cycles:
            self.fail(f"{s['stop_us']['n']} stops completed, {o.cycles} wanted")
        if s["downtime_ms"]["n"] != o.migrations:
            self.fail(f"{s['downtime_ms']['n']} migrations completed, {o.migrations} wanted")
        for k in ("deadline_misses", "refused", "failed", "base_mismatch"):
            if s.get(k) != 0:
                self.fail(f"{k}: {s.get(k)}")

        # Both backends: alive, their own counters, memory, clean exit.
        self.rss_end = self.quiet_rss("at the end")
        s["vstop"] = {}
        for i, v in enumerate(self.vs):
            info = {}
            if o.backend == "fake":
                s["vstop"][v.name] = {"pid": v.pid, "alive": v.poll() is None,
                                      "rss_warm_kib": -1, "rss_end_kib": -1, "rss_max_kib": -1,
                                      "rss_warm": self.rss_warm[i], "rss_end": self.rss_end[i]}
                if v.poll() is not None:
                    self.fail(f"fake backend {v.name} is gone at the end")
                continue
            if v.poll() is None:
                try:
                    d = self.ctl(v, "show device status 0")
                    info = {k: d.get(k) for k in ("stops", "resumes", "cancels",
                                                  "deadline_misses", "resets", "refused_writes")}
                    if d.get("deadline_misses"):
                        self.fail(f"vstop {v.name}: {d['deadline_misses']} missed deadlines")
                except (OSError, ValueError) as e:
                    self.fail(f"vstop {v.name}: control socket: {e}")
            warm = self.rss_warm[i]["VmRSS"]
            end = self.rss_end[i]["VmRSS"]
            info.update({"pid": v.pid, "rss_warm_kib": warm, "rss_end_kib": end,
                         "rss_max_kib": self.rss_max[i], "rss_warm": self.rss_warm[i],
                         "rss_end": self.rss_end[i]})
            if warm < 0 or end < 0:
                self.fail(f"vstop {v.name} is gone at the end")
            else:
                margin = max(o.rss_margin_kib, warm * o.rss_margin_pct / 100)
                info["rss_delta_kib"] = end - warm
                info["rss_margin_kib"] = int(margin)
                if o.asan:
                    info["rss_judged"] = False
                elif abs(end - warm) > margin:
                    self.fail(f"vstop {v.name}: RSS {warm} KiB after warm-up, {end} KiB at "
                              f"the end (margin {int(margin)} KiB)")
            s["vstop"][v.name] = info
        for v in self.vs:
            if o.backend != "fake" and v.poll() is None:
                os.kill(v.pid, signal.SIGINT)
                try:
                    rc = v.wait(30)
                except subprocess.TimeoutExpired:
                    rc = None
                s["vstop"][v.name]["exit"] = rc
                if rc != 0:
                    self.fail(f"vstop {v.name}: exit status {rc} after SIGINT")
        self.print_summary()
        return 0 if not self.failures else 1

    def print_summary(self):
        s, o = self.summary, self.o
        self.say("---- summary")
        print(f"operations: {s['stop_us']['n']}/{o.cycles} stop/resume cycles, "
              f"{s['downtime_ms']['n']}/{o.migrations} migrations A<->B, {o.queues} queue "
              f"pairs, {now() - self.t0:.0f} s")
        if "sent" in s:
            print(f"frames: sent {s['sent']} received {s['received']} lost {s['lost']} "
                  f"duplicated {s['dup']} reordered {s['reord']} bad {s['bad']} "
                  f"({s['mpps']:.3f} Mpps avg over {s['secs']:.0f} s)")
        for k, unit in (("stop_us", "us"), ("resume_us", "us"), ("downtime_ms", "ms")):
            m = s[k]
            if m["n"]:
                print(f"{k[:-3]}: n {m['n']} min {m['min']:.3f} avg {m['avg']:.3f} "
                      f"max {m['max']:.3f} {unit}")
        if "rings" in s:
            r = s["rings"]
            print(f"rings: {r['layout']}, {r['size']} entries; "
                  f"{'wrap counter flips' if r['layout'] == 'packed' else 'laps'}: avail "
                  f"{r['avail_flips']} (min {r['avail_flips_min']} per ring), used "
                  f"{r['used_flips']} (min {r['used_flips_min']} per ring)")
        print(f"backend: {o.backend}")
        if o.backend == "fake":
            print(f"deadline misses: vstop-fe {s.get('deadline_misses')}")
            print(f"migrations refused {s.get('refused')} failed {s.get('failed')}, "
                  f"ring base mismatches {s.get('base_mismatch')}, "
                  f"max gap between frames {s.get('max_gap_ms')} ms")
            print(f"soak: {'PASS' if not self.failures else 'FAIL: ' + '; '.join(self.failures)}")
            self.dump_json()
            return
        print(f"deadline misses: vstop-fe {s.get('deadline_misses')}, " +
              ", ".join(f"vstop {n} {v.get('deadline_misses')}" for n, v in s["vstop"].items()))
        print(f"migrations refused {s.get('refused')} failed {s.get('failed')}, "
              f"ring base mismatches {s.get('base_mismatch')}, "
              f"max gap between frames {s.get('max_gap_ms')} ms")
        for n, v in s["vstop"].items():
            print(f"vstop {n}: VmRSS after warm-up {v['rss_warm_kib']} KiB, at the end "
                  f"{v['rss_end_kib']} KiB (delta {v.get('rss_delta_kib')} KiB, margin "
                  f"{v.get('rss_margin_kib')} KiB; RssAnon {v['rss_warm']['RssAnon']} -> "
                  f"{v['rss_end']['RssAnon']} KiB; max VmRSS during the soak "
                  f"{v['rss_max_kib']} KiB), exit {v.get('exit')}")
        if o.asan:
            print("RSS not judged: ASan build (its quarantine keeps freed memory resident)")
        print(f"soak: {'PASS' if not self.failures else 'FAIL: ' + '; '.join(self.failures)}")
        self.dump_json()

    def dump_json(self):
        s, o = self.summary, self.o
        if o.json:
            s["failures"] = self.failures
            s["cycles"], s["migrations"], s["queues"] = o.cycles, o.migrations, o.queues
            s["packed"], s["backend"] = o.packed, o.backend
            with open(o.json, "w") as f:
                json.dump(s, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vstop", default=os.environ.get("VSTOP",
                                                      os.path.join(TOP, "build/app/vstop")))
    ap.add_argument("--fe", default=os.environ.get(
        "VSTOP_FE", os.path.join(TOP, "build/tools/fe/vstop-fe")))
    ap.add_argument("--short", action="store_true", help="200 cycles, 20 migrations")
    ap.add_argument("--cycles", type=int, default=None)
    ap.add_argument("--migrations", type=int, default=None)
    ap.add_argument("--queues", type=int, default=4)
    ap.add_argument("--gap", type=int, default=5, help="ms of traffic between operations")
    ap.add_argument("--deadline-ms", type=int, default=1000,
                    help="stop deadline of vstop-fe and of both vstops (R11)")
    ap.add_argument("--mem", type=int, default=256, help="EAL -m of each vstop (MB)")
    ap.add_argument("--warmup", type=float, default=0.1,
                    help="warm-up run before the first RSS sample, as a fraction of the counts")
    ap.add_argument("--rss-margin-kib", type=int, default=2048)
    ap.add_argument("--rss-margin-pct", type=float, default=5.0)
    ap.add_argument("--progress", type=float, default=10.0, help="seconds between lines")
    ap.add_argument("--timeout", type=int, default=7200, help="seconds for the whole run")
    ap.add_argument("--json", help="write the summary as JSON to this file")
    ap.add_argument("--keep-logs", action="store_true")
    ap.add_argument("--packed", action="store_true", help="packed virtqueues")
    ap.add_argument("--ring-size", type=int, default=None,
                    help="ring entries (default: vstop-fe's 256, 64 with --packed)")
    ap.add_argument("--backend", choices=("vstop", "fake"), default="vstop")
    ap.add_argument("--fake", default=os.path.join(TOP, "test/fe/fake_backend.py"))
    o = ap.parse_args()
    if o.ring_size is None:
        o.ring_size = 64 if o.packed else 0
    if o.cycles is None:
        o.cycles = 200 if o.short else 10000
    if o.migrations is None:
        o.migrations = 20 if o.short else 1000
    for path, what in ((o.vstop, "vstop"), (o.fe, "vstop-fe")):
        if what == "vstop" and o.backend == "fake":
            continue
        if not os.access(path, os.X_OK):
            print(f"soak: SKIP: {what} not built ({path})")
            return 77
    # Under AddressSanitizer freed memory stays in its quarantine (up to 256 MB): RSS
    # grows by design, so it is reported but not judged.
    o.asan = False
    if o.backend == "vstop":
        with open(o.vstop, "rb") as f:
            o.asan = b"__asan_init" in f.read()
    s = Soak(o)
    try:
        return s.run()
    except Exception as e:  # noqa: BLE001 - report, clean up, fail
        s.failures.append(str(e))
        print(f"soak: FAIL: {e}", flush=True)
        return 1
    finally:
        s.close()


if __name__ == "__main__":
    sys.exit(main())
