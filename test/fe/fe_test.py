#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Test driver for vstop-fe: starts real backends (dpdk-testpmd net_vhost, vstop, or the
Python fake backend), runs vstop-fe against them and checks its verdict.

Usage: fe_test.py --fe PATH [--vstop PATH] [--fake PATH] [--packed] [--ring-size N] SCENARIO

--packed runs every vstop-fe of the scenario on packed virtqueues (VIRTIO_F_RING_PACKED),
--ring-size N on rings of N entries (small rings: the wrap counters flip often).

Exit status follows meson: 0 pass, 1 fail, 77 skip (e.g. vstop not built yet).
Every process is started here and ended here, by its own handle; every wait is bounded.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools"))
import proclib  # noqa: E402  (children: non-reaping waits, bounded reaps)

SKIP = 77
EAL = ["--no-huge", "-m", "256", "--no-pci", "--lcores", "0@0,1@1"]
FE_DEADLINE_MS = 10000  # see Env.fe


class Fail(Exception):
    pass


class Skip(Exception):
    pass


class Env:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="vstop-fe-test-", dir="/tmp")
        self.procs = []
        self.n = 0

    def sock(self, name):
        return os.path.join(self.dir, f"{name}.sock")

    def prefix(self):
        self.n += 1
        return f"fe{os.getpid()}x{self.n}"

    def spawn(self, argv, name, sock, ready=None, timeout=20.0):
        log = open(os.path.join(self.dir, f"{name}.log"), "w+")
        # testpmd without -i exits on EOF from stdin: give it a pipe that stays open.
        p = proclib.Child(argv, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                          start_new_session=True)
        p.log = log
        p.name = name
        self.procs.append(p)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if p.poll() is not None:
                raise Fail(f"{name} exited early ({p.returncode}):\n{self.tail(p)}")
            if os.path.exists(sock) and (ready is None or ready in self.text(p)):
                return p
            time.sleep(0.1)
        raise Fail(f"{name} not ready within {timeout} s:\n{self.tail(p)}")

    def text(self, p):
        p.log.flush()
        with open(p.log.name, errors="replace") as f:
            return f.read()

    def tail(self, p, n=30):
        return "\n".join(self.text(p).splitlines()[-n:])

    def vstop(self, name, queues=2, ctl=False):
        """vstop in loopback on a new socket; with ctl, also its control socket (the
        path is self.sock(name + "-ctl"))."""
        if not self.args.vstop or not os.access(self.args.vstop, os.X_OK):
            raise Skip("vstop is not built")
        s = self.sock(name)
        argv = [self.args.vstop] + EAL + ["--file-prefix", self.prefix(), "--",
                                          "--vhost", f"{s},queues={queues}",
                                          "--fwd", "loopback", "--idle-backoff-us", "50"]
        if ctl:
            argv += ["--ctl", self.sock(name + "-ctl")]
        self.spawn(argv, name, s, ready="ready")
        return s

    def testpmd(self, name, queues=2):
        exe = shutil.which("dpdk-testpmd")
        if not exe:
            raise Skip("dpdk-testpmd not installed")
        s = self.sock(name)
        # Line-buffered stdout, or "Press enter to exit" sits in a buffer.
        argv = ["stdbuf", "-oL", exe] + EAL + ["--file-prefix", self.prefix(),
                              "--vdev", f"net_vhost0,iface={s},queues={queues}", "--",
                              "--forward-mode=io", "-a", f"--rxq={queues}", f"--txq={queues}",
                              "--no-mlockall", "--total-num-mbufs=16384"]
        self.spawn(argv, name, s, ready="Press enter to exit")
        return s

    def fake(self, name, *extra):
        s = self.sock(name)
        self.spawn([sys.executable, self.args.fake, s] + list(extra), name, s,
                   ready="listening")
        return s

    def proc(self, name):
        return next(p for p in self.procs if p.name == name)

    def fe(self, *argv, timeout=60.0, expect=0, want=(), bound=None):
        """Run vstop-fe; check exit status, output fragments and time taken. A stop must
        show within 10 s unless a test says otherwise: vstop-fe's default (1 s) is a
        latency budget, and on this shared 2-core VM a vCPU, with the polling lcore
        pinned to it, is sometimes descheduled for over a second (a SUSPEND cycle test
        once failed with two stops at 1.1 s under load). These tests judge that every
        stop completes with nothing lost; tools/bench measures how fast."""
        argv = [str(a) for a in argv]
        if "--deadline" not in argv:
            argv += ["--deadline", str(FE_DEADLINE_MS)]
        # Likewise a frame still in flight after the 1 s default drain is late, not lost,
        # when a stall hit at the end of the run (fe_traffic_testpmd failed once with 512
        # frames in flight after a 0.5 s stall): drain for up to 20 s, as test/fault does.
        # The drain ends as soon as every frame is back; tests with a time bound keep it.
        if "--drain" not in argv and bound is None:
            argv += ["--drain", "20000"]
        cmd = [self.args.fe] + self.layout_args() + argv
        print("+ " + " ".join(cmd), flush=True)
        t = time.monotonic()
        try:
            r = proclib.run(cmd, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise Fail(f"vstop-fe hung: no exit within {timeout} s\n{e.output or ''}")
        took = time.monotonic() - t
        print(r.stdout, flush=True)
        if expect is not None and r.returncode != expect:
            raise Fail(f"vstop-fe exit status {r.returncode}, expected {expect}")
        for w in want:
            if w not in r.stdout:
                raise Fail(f"expected '{w}' in the output of vstop-fe")
        if bound is not None and took > bound:
            raise Fail(f"vstop-fe took {took:.1f} s, bound {bound} s")
        return r.stdout

    def layout_args(self):
        a = ["--packed"] if self.args.packed else []
        if self.args.ring_size:
            a += ["--ring-size", str(self.args.ring_size)]
        return a

    def check_laps(self, out, min_flips):
        """Packed runs: every ring's wrap counters flipped at least min_flips times."""
        m = re.search(r"rings: (\w+), .*?: avail (\d+) \(min (\d+) per ring\), used (\d+) "
                      r"\(min (\d+) per ring\)", out)
        if not m:
            raise Fail("no 'rings:' line in the output of vstop-fe")
        layout = "packed" if self.args.packed else "split"
        if m.group(1) != layout:
            raise Fail(f"vstop-fe drove {m.group(1)} rings, {layout} asked")
        if int(m.group(3)) < min_flips or int(m.group(5)) < min_flips:
            raise Fail(f"rings went round too few times: {m.group(0)} (at least {min_flips})")
        print(f"ring laps: {m.group(0)}")

    def close(self):
        for p in self.procs:
            p.send_signal(signal.SIGINT)
        for p in self.procs:
            p.end(None, grace=10)  # SIGKILL after 10 s; a bounded reap
        shutil.rmtree(self.dir, ignore_errors=True)


def conformance_lines(out):
    return [l for l in out.splitlines() if l.split(" ", 1)[0] in RULES]


RULES = ["R%d" % i for i in range(1, 13)] + ["S1", "S2", "S3", "S4", "V1", "V2", "V3",
                                             "M1", "M2", "M3"]


# ---- scenarios ------------------------------------------------------------------------

def t_traffic_testpmd(e):
    a = e.testpmd("a")
    e.fe("-s", a, "-q", 2, "-d", 3, want=["result: PASS", "lost 0 duplicated 0 reordered 0"])


FRAMES = re.compile(r"frames: sent (\d+) received (\d+) lost (\d+) duplicated (\d+) "
                    r"reordered (\d+) bad (\d+)")


def testpmd_frames(out):
    """testpmd is not a stoppable device: when a ring stops under io forwarding it drops
    the burst it holds (split and packed alike), so frames may be lost there. Nothing
    may be duplicated, reordered or corrupt, and most frames must come back."""
    m = FRAMES.search(out)
    if not m:
        raise Fail("no frame summary from vstop-fe")
    sent, rcvd, lost, dup, reord, bad = map(int, m.groups())
    if dup or reord or bad or not sent or lost * 10 > sent:
        raise Fail(f"frames against testpmd: {m.group(0)}")
    print(f"against testpmd: {m.group(0)} (frames testpmd dropped when its rings stopped)")


def t_testpmd_cycles(e):
    """V1/V3 and V2 against the stock reference: GET_VRING_BASE and SET_VRING_ENABLE
    stop/restart cycles under traffic (testpmd offers neither 42 nor 43)."""
    a = e.testpmd("a")
    for kind in ("vring-base", "enable"):
        out = e.fe("-s", a, "-q", 2, "-c", e.args.cycles, "--stop-kind", kind, "--gap", 2,
                   "--quiet", expect=None, want=["ring base mismatches: 0",
                                                 "stop deadline misses: 0"], timeout=180)
        testpmd_frames(out)
        e.check_laps(out, 4)


def t_testpmd_migrate(e):
    """Migration A->B->A... between two testpmd net_vhost ports (no device state: the
    ring positions alone move, through GET_VRING_BASE / SET_VRING_BASE)."""
    def once(tag, gap):
        a, b = e.testpmd("a" + tag), e.testpmd("b" + tag)
        try:
            return e.fe("-s", a, "-p", b, "-q", 2, "-m", e.args.migrations, "--gap", gap,
                        expect=None, want=["migrations refused: 0, failed: 0",
                                           "ring base mismatches: 0"], timeout=600)
        except Fail:
            # dpdk-testpmd 22.11 (the reference backend, not ours) was seen to die now and
            # then in its destroy_device at the first GET_VRING_BASE of a migration (CI,
            # under ASan load: "closed the connection (awaiting reply to GET_VRING_BASE)").
            # vstop-fe cannot be judged against a backend that crashed.
            dead = [(p.name, p.poll()) for p in e.procs
                    if p.name in ("a" + tag, "b" + tag) and p.poll() is not None]
            if not dead:
                raise
            return f"reference backend died during the run: {dead}"

    out = once("", 5)
    try:
        if out.startswith("reference backend died"):
            raise Fail(out)
        e.check_laps(out, 4)
    except Fail as f:
        # Once, with fresh testpmds and 50 ms of traffic between migrations: for a testpmd
        # that died (its defect), or rings that went round too few times because the
        # machine starved the backends' polling lcores (CI once: 1,472 frames in 1 s).
        # Every check applies to the second run; its failure fails the test.
        print(f"first run not judged ({f}); once more with fresh testpmds, --gap 50",
              flush=True)
        out = once("-again", 50)
        if out.startswith("reference backend died"):
            raise Fail(out)
        e.check_laps(out, 4)
    check_breakdown(out, e.args.migrations)
    testpmd_frames(out)


def t_traffic_fake(e):
    a = e.fake("a")
    e.fe("-s", a, "--rate", 20000, "-d", 2, want=["result: PASS"])


def t_conformance(e):
    # R7/S4 ask vstop for a link change through its control socket while stopped.
    a, b = e.vstop("a", ctl=True), e.vstop("b")
    allow = set(filter(None, e.args.allow_skip.split(",")))
    # Judged from its lines: a rule allowed to SKIP makes the exit status meaningless here.
    out = e.fe("-s", a, "-p", b, "-q", 2, "--conformance", "--backend-ctl", e.sock("a-ctl"),
               expect=None, timeout=120)
    lines = conformance_lines(out)
    seen = [l.split(" ", 1)[0] for l in lines]
    if seen != RULES:
        raise Fail(f"expected one line per rule {RULES}, got {seen}")
    bad = [l for l in lines if not (l.endswith(" PASS") or
                                    (" SKIP " in l and l.split()[0] in allow))]
    if bad:
        raise Fail("rules not passing:\n  " + "\n  ".join(bad))
    last = out.strip().splitlines()[-1]
    if not re.fullmatch(r"\d+ passed, 0 failed(, \d+ skipped)?", last):
        raise Fail(f"final line '{last}', expected 'N passed, 0 failed[, K skipped]'")


def t_stop_cycles(e):
    a = e.vstop("a")
    out = e.fe("-s", a, "-q", 2, "-c", e.args.cycles, "--stop-kind", "stopped", "--gap", 2,
               "--quiet", want=["result: PASS", "stop deadline misses: 0"], timeout=180)
    e.check_laps(out, 2)


def t_suspend_cycles(e):
    a = e.vstop("a")
    out = e.fe("-s", a, "-q", 2, "-c", e.args.cycles, "--stop-kind", "suspend", "--gap", 2,
               "--quiet", want=["result: PASS"], timeout=180)
    e.check_laps(out, 2)


def t_vring_base_cycles(e):
    a = e.vstop("a")
    out = e.fe("-s", a, "-q", 2, "-c", e.args.cycles, "--stop-kind", "vring-base", "--gap", 2,
               "--quiet", want=["result: PASS", "ring base mismatches: 0"], timeout=180)
    e.check_laps(out, 2)


def t_enable_cycles(e):
    a = e.vstop("a")
    out = e.fe("-s", a, "-q", 2, "-c", e.args.cycles, "--stop-kind", "enable", "--gap", 2,
               "--quiet", want=["result: PASS"], timeout=180)
    e.check_laps(out, 2)


MIGRATED = re.compile(r"migrated to \S+: downtime (\S+) ms \(stop (\S+) us, ring bases (\S+) us, "
                      r"save (\S+) us \[\d+ B\], destination [a-z +]+ (\S+) us, "
                      r"start -> first frame (\S+) us, of which waiting for the driver (\S+) us"
                      r"(?:, driver caught up (\S+) us, driver first frame (\S+) us)?\)")


def check_breakdown(out, n):
    """Every migration's downtime breakdown is a set of plausible durations: none negative
    (a frame from the source taken for the destination's first), none absurd (an unsigned
    difference that went below zero); the driver's wait is part of the last one. The
    driver's figures outside the downtime (absent if the driver was too slow to give them)
    are plausible too: a catch-up is not negative, the driver takes the destination's
    first frame after it was seen in the ring, give or take the two watchers' wake-ups."""
    rows = MIGRATED.findall(out)
    if len(rows) != n:
        raise Fail(f"{len(rows)} 'migrated to' lines with a breakdown, expected {n}")
    for row in rows:
        v = [float(x) for x in row[:7]]
        if any(x < 0 or x > 60e6 for x in v[1:]) or not 0 < v[0] < 60e3 or v[6] > v[5]:
            raise Fail(f"implausible downtime breakdown: {row}")
        if row[7] and (not 0 <= float(row[7]) < 60e6 or abs(float(row[8])) > 60e6):
            raise Fail(f"implausible driver figures: {row}")
    print(f"{n} breakdowns checked, downtime ms: {[r[0] for r in rows]}")


def t_migrate(e):
    a, b = e.vstop("a"), e.vstop("b")
    out = e.fe("-s", a, "-p", b, "-q", 2, "-m", e.args.migrations, "-c", e.args.cycles,
               "--gap", 5, want=["result: PASS", "migrations refused: 0, failed: 0"],
               timeout=600)
    check_breakdown(out, e.args.migrations)
    e.check_laps(out, 2)


def t_migrate_state_first(e):
    """M2 in QEMU's order: the destination loads the state before its rings are set up."""
    a, b = e.vstop("a"), e.vstop("b")
    out = e.fe("-s", a, "-p", b, "-q", 2, "-m", e.args.migrations, "--state-first",
               "--gap", 20, want=["result: PASS", "migrations refused: 0, failed: 0",
                                  "lost 0 duplicated 0 reordered 0"], timeout=300)
    check_breakdown(out, e.args.migrations)


def t_fewer_queues(e):
    """A driver that sets up 1 pair on ports that offer 2: traffic, stop/resume cycles and
    migrations work, and vstop never touches the rings that do not exist."""
    a, b = e.vstop("a", queues=2), e.vstop("b", queues=2)
    out = e.fe("-s", a, "-p", b, "-q", 1, "-c", 10, "-m", 4, "--gap", 20,
               want=["result: PASS", "migrations refused: 0, failed: 0",
                     "stop deadline misses: 0"], timeout=300)
    check_breakdown(out, 4)
    for name in ("a", "b"):
        log = e.text(e.proc(name))
        if "invalid virtqueue" in log or "state save failed" in log:
            raise Fail(f"vstop {name} touched a ring the driver did not set up:\n"
                       + "\n".join(log.splitlines()[-10:]))


def t_refused(e):
    a, b = e.vstop("a"), e.vstop("b")
    for how in ("flip", "truncate", "version"):
        e.fe("-s", a, "-p", b, "-q", 2, "-m", 1, "--corrupt", how, "--expect-refused", "-d", 1,
             "--quiet", want=["result: PASS", "migrations refused: 1",
                              "device resumed at the source", "lost 0 duplicated 0"])


def t_bad_socket(e):
    e.fe("-s", e.sock("nobody-listens"), expect=3, want=["cannot connect"], bound=5)
    e.fe("-s", e.sock("nobody-listens"), "--retries", 5, expect=3,
         want=["retries exhausted"], bound=5)
    e.fe("-s", "/tmp/" + "x" * 200, expect=3, want=["too long"], bound=5)
    e.fe("--queues", 0, "-s", "x", expect=2, bound=5)


def t_never_stops(e):
    a = e.fake("a", "--never-stop")
    e.fe("-s", a, "--rate", 10000, "-c", 2, "--deadline", 200, "--quiet", expect=1,
         want=["stop not shown within 200 ms", "stop cancelled, device running",
               "stop deadline misses: 2", "lost 0 duplicated 0"], bound=15)


def t_disconnect(e):
    # Destination drops the connection when the state arrives: back to the source.
    a, b = e.fake("a"), e.fake("b", "--close-on", "42")
    e.fe("-s", a, "-p", b, "--rate", 10000, "-m", 1, "-d", 1, "--quiet", expect=1,
         want=["device resumed at the source", "migrations refused: 0, failed: 1",
               "lost 0 duplicated 0"], bound=20)
    # Source dies while saving its state: nothing to go back to, fatal, no hang.
    a2, b2 = e.fake("a2", "--exit-on", "42"), e.fake("b2")
    e.fe("-s", a2, "-p", b2, "--rate", 10000, "-m", 1, "--quiet", expect=3,
         want=["closed the connection"], bound=20)
    # Backend killed under traffic: noticed, fatal, bounded.
    a3 = e.fake("a3")
    with tempfile.TemporaryFile() as log:
        p = proclib.Child([e.args.fe, "-s", a3, "--rate", "10000", "-d", "30", "--quiet"],
                          stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        time.sleep(1.5)
        e.proc("a3").end(signal.SIGKILL)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.end(signal.SIGKILL)
            raise Fail("vstop-fe did not notice its backend died")
        p.end()
        log.seek(0)
        out = log.read().decode(errors="replace")
    print(out)
    if p.returncode != 3 or "closed the connection" not in out:
        raise Fail(f"backend death: exit {p.returncode}, expected 3 with a clear error")


def t_reply_timeout(e):
    a = e.fake("a", "--hang-on", "11")
    e.fe("-s", a, "--rate", 10000, "-c", 1, "--stop-kind", "vring-base", "--msg-timeout", 500,
         "--quiet", expect=3, want=["no reply to GET_VRING_BASE", "within 500 ms"], bound=10)


def t_fake_cycles(e):
    """GET_VRING_BASE and SET_VRING_ENABLE cycles against the fake backend, which stops
    with nothing in flight: nothing may be lost."""
    a = e.fake("a")
    for kind in ("vring-base", "enable", "stopped"):
        out = e.fe("-s", a, "--rate", 20000, "-c", e.args.cycles, "--stop-kind", kind,
                   "--gap", 5, "--quiet", want=["result: PASS", "ring base mismatches: 0"],
                   timeout=120)
        e.check_laps(out, 2)


def t_inflight_base(e):
    """P1/R5: a packed GET_VRING_BASE whose used half (bits 16-31) differs from its avail
    half says a buffer is still in flight after the stop: an error, named."""
    if not e.args.packed:
        raise Skip("packed rings only (the split answer has no used half)")
    a = e.fake("a", "--inflight-base")
    e.fe("-s", a, "--rate", 10000, "-c", 1, "--stop-kind", "vring-base", "--quiet",
         expect=3, want=["buffers in flight after a stop (R5, P1)"], bound=20)


def t_fake_migrate(e):
    a, b = e.fake("a"), e.fake("b")
    e.fe("-s", a, "-p", b, "--rate", 10000, "-m", 4, "-c", 10, "--gap", 20, "--quiet",
         want=["result: PASS", "migrations (downtime): 4,"])


def t_soak(e):
    if os.environ.get("VSTOP_SOAK") != "1":
        raise Skip("set VSTOP_SOAK=1 for the full soak (1000 cycles, 100 migrations)")
    a, b = e.vstop("a"), e.vstop("b")
    out = e.fe("-s", a, "-p", b, "-q", 2, "-c", 1000, "-m", 100, "--gap", 5,
               want=["result: PASS"], timeout=1800)
    e.check_laps(out, 2)


SCENARIOS = {
    "traffic-testpmd": t_traffic_testpmd,
    "traffic-fake": t_traffic_fake,
    "testpmd-cycles": t_testpmd_cycles,
    "testpmd-migrate": t_testpmd_migrate,
    "conformance": t_conformance,
    "stop-cycles": t_stop_cycles,
    "suspend-cycles": t_suspend_cycles,
    "vring-base-cycles": t_vring_base_cycles,
    "enable-cycles": t_enable_cycles,
    "migrate": t_migrate,
    "migrate-state-first": t_migrate_state_first,
    "fewer-queues": t_fewer_queues,
    "refused": t_refused,
    "bad-socket": t_bad_socket,
    "never-stops": t_never_stops,
    "disconnect": t_disconnect,
    "reply-timeout": t_reply_timeout,
    "fake-migrate": t_fake_migrate,
    "fake-cycles": t_fake_cycles,
    "inflight-base": t_inflight_base,
    "soak": t_soak,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fe", required=True)
    ap.add_argument("--vstop", default="")
    ap.add_argument("--fake", default=os.path.join(os.path.dirname(__file__), "fake_backend.py"))
    ap.add_argument("--cycles", type=int, default=50)
    ap.add_argument("--migrations", type=int, default=10)
    ap.add_argument("--allow-skip", default="")
    ap.add_argument("--packed", action="store_true", help="packed virtqueues")
    ap.add_argument("--ring-size", type=int, default=0, help="ring entries (vstop-fe -r)")
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    args = ap.parse_args()

    e = Env(args)
    try:
        SCENARIOS[args.scenario](e)
    except Skip as s:
        print(f"SKIP: {s}")
        return SKIP
    except Fail as f:
        print(f"FAIL: {f}")
        for p in e.procs:
            print(f"--- {p.name} log (tail) ---\n{e.tail(p)}")
        return 1
    finally:
        e.close()
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
