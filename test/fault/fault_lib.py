# SPDX-License-Identifier: BSD-3-Clause
"""Fault-injection harness: real vstop and vstop-fe processes, no hugepages, cores 0-1.

Every process is started here and ended here by its own PID (other engineers run the same
binaries on this machine: never by name). Every wait is bounded; no timing is asserted.
vstop is queried through its control socket (--ctl, one JSON line per command), which works
while one of its threads is frozen (see Freezer) and does not disturb the data path.
"""
import ctypes
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools"))
import proclib  # noqa: E402  (children: non-reaping waits, bounded reaps)

SKIP = 77
VSTOP = os.environ.get("VSTOP", "build/app/vstop")
VSTOP_FE = os.environ.get("VSTOP_FE", "build/tools/fe/vstop-fe")
LCORES = "0@0,1@1"


class Fail(Exception):
    pass


class Skip(Exception):
    pass


T0 = time.monotonic()


def say(msg):
    print(f"[{time.monotonic() - T0:7.2f}s] {msg}", flush=True)


def wait_for(pred, timeout, step=0.05, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise Fail(f"timed out after {timeout} s waiting for {what}")


def eq(what, got, want):
    if got != want:
        raise Fail(f"{what}: got {got!r}, want {want!r}")


def need(path, what):
    if not os.access(path, os.X_OK):
        raise Skip(f"{what} not built ({path})")


def rss_kib(pid):
    """VmRSS of @pid in KiB (from /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise Fail(f"no VmRSS for {pid}")


def nfds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Env:
    """Temporary directory, processes, cleanup."""

    def __init__(self, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"vstop-fault-{name}-", dir="/tmp")
        self.procs = []
        self.n = 0

    def path(self, name):
        return os.path.join(self.dir, name)

    def prefix(self):
        self.n += 1
        return f"flt{os.getpid()}x{self.n}"

    def spawn(self, argv, name, stdin=None):
        log = open(self.path(f"{name}.log"), "w+")
        p = proclib.Child(argv, stdin=stdin, stdout=log, stderr=subprocess.STDOUT,
                          start_new_session=True)
        p.log = log
        p.name = name
        p.argv = argv
        self.procs.append(p)
        return p

    def text(self, p):
        p.log.flush()
        with open(p.log.name, errors="replace") as f:
            return f.read()

    def tail(self, p, n=40):
        return "\n".join(self.text(p).splitlines()[-n:])

    def vstop(self, name, ports, fwd="loopback", extra=(), backoff=50, mem=256):
        """vstop with one --vhost port per entry of @ports (queue pairs), a control
        socket, and the EAL options every test uses."""
        need(VSTOP, "vstop")
        return Vstop(self, name, ports, fwd, extra, backoff, mem)

    def fe(self, name, *args):
        """Start vstop-fe in the background; returns an Fe. The end-of-run drain is long
        (20 s, unless given): on this shared 2-core VM a vCPU, and with it every polling
        lcore pinned to it, is sometimes descheduled for seconds; frames still in flight
        then are late, not lost, and only a lost frame must fail a test."""
        need(VSTOP_FE, "vstop-fe")
        args = [str(a) for a in args]
        if "--drain" not in args:
            args += ["--drain", "20000"]
        # For the same reason a stop must show within 10 s, not vstop-fe's default 1 s,
        # unless a test sets its own deadline (the R11 test does).
        if "--deadline" not in args:
            args += ["--deadline", "10000"]
        return Fe(self, name, [VSTOP_FE] + args)

    def close(self, keep=False):
        for p in reversed(self.procs):  # front ends first, then the backends
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)
                    os.kill(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in reversed(self.procs):
            p.end(None, grace=15)  # SIGKILL after 15 s; a bounded reap
            pref = getattr(p, "prefix", None)
            if pref:
                shutil.rmtree(f"/var/run/dpdk/{pref}", ignore_errors=True)
            p.log.close()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def dump(self):
        for p in self.procs:
            print(f"---- {p.name} (pid {p.pid}, exit {p.poll()}): {' '.join(p.argv)}",
                  file=sys.stderr)
            print(self.tail(p), file=sys.stderr)


class Vstop:
    def __init__(self, env, name, ports, fwd, extra, backoff, mem):
        self.env = env
        self.name = name
        self.socks = [env.path(f"{name}{i}.sock") for i in range(len(ports))]
        self.ctl_path = env.path(f"{name}.ctl")
        self.prefix = env.prefix()
        argv = [VSTOP, "--no-huge", "-m", str(mem), "--no-pci", "--file-prefix", self.prefix,
                "--lcores", LCORES, "--log-level", "lib.vhost.*:warning", "--"]
        for s, q in zip(self.socks, ports):
            argv += ["--vhost", f"{s},queues={q}"]
        argv += ["--fwd", fwd, "--ctl", self.ctl_path, "--idle-backoff-us", str(backoff),
                 *extra]
        self.p = env.spawn(argv, name)
        self.p.prefix = self.prefix
        self.pid = self.p.pid
        self._ctl = None
        try:
            wait_for(lambda: "vstop ready" in self.log() or self.p.poll() is not None, 60,
                     what=f"{name} ready")
        except Fail:
            raise Fail(f"{name} not ready:\n{env.tail(self.p)}")
        if self.p.poll() is not None:
            raise Fail(f"{name} exited during start-up ({self.p.returncode}):\n"
                       f"{env.tail(self.p)}")

    def log(self):
        return self.env.text(self.p)

    def alive(self):
        return self.p.poll() is None

    def ctl(self, line, timeout=20):
        """One console command over the control socket; the parsed JSON answer."""
        if self._ctl is None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(self.ctl_path)
            self._ctl = (s, s.makefile("rw"))
        s, f = self._ctl
        s.settimeout(timeout)
        f.write(line + "\n")
        f.flush()
        ans = f.readline()
        if not ans:
            self._ctl = None
            raise Fail(f"{self.name}: control socket closed on '{line}'")
        return json.loads(ans)

    def ctl_ok(self, line, timeout=20):
        r = self.ctl(line, timeout)
        if not r.get("ok"):
            raise Fail(f"{self.name}: '{line}' failed: {r.get('error')}")
        return r

    def dev(self, port=0):
        return self.ctl_ok(f"show device status {port}")

    def stats(self, port=0):
        return self.ctl_ok(f"show port stats {port}")

    def close_ctl(self):
        if self._ctl is not None:
            self._ctl[1].close()
            self._ctl[0].close()
            self._ctl = None

    def tid(self, comm):
        """Thread id of the thread named @comm (e.g. rte-worker-1)."""
        for t in os.listdir(f"/proc/{self.pid}/task"):
            try:
                with open(f"/proc/{self.pid}/task/{t}/comm") as f:
                    if f.read().strip() == comm:
                        return int(t)
            except OSError:
                continue
        raise Fail(f"{self.name}: no thread named {comm}")

    def rss(self):
        return rss_kib(self.pid)

    def signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def quit(self, timeout=30):
        """SIGINT; the exit code (must be 0 for a clean exit)."""
        self.close_ctl()
        if self.alive():
            os.kill(self.pid, signal.SIGINT)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Fail(f"{self.name} did not exit within {timeout} s of SIGINT")


class Fe:
    """vstop-fe in the background; stdout = summary, stderr = progress lines."""

    def __init__(self, env, name, argv):
        self.env = env
        self.name = name
        self.p = env.spawn(argv, name)
        self.pid = self.p.pid
        say("+ " + " ".join(argv))

    def out(self):
        return self.env.text(self.p)

    def alive(self):
        return self.p.poll() is None

    def wait(self, timeout=120):
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.end(signal.SIGKILL, 10)
            raise Fail(f"{self.name} did not finish within {timeout} s:\n"
                       f"{self.env.tail(self.p)}")
        say(f"---- {self.name} exit {rc}\n{self.env.tail(self.p, 25)}")
        return rc

    def progress(self):
        """Counters of the newest progress line, {} before the first one."""
        lines = [l for l in self.out().splitlines() if re.search(r"\[\s*[\d.]+s\] tx ", l)]
        if not lines:
            return {}
        l = lines[-1]
        d = {k: int(v) for k, v in re.findall(r"\b(tx|rx|lost|dup|reord|bad|stops|miss|migr|"
                                               r"refused|failed) (\d+)", l)}
        return d

    def kill(self):
        self.p.end(signal.SIGKILL, 10)

    def summary(self):
        return parse_summary(self.out())

    def expect(self, rc, want=(), rc_got=None):
        got = self.wait() if rc_got is None else rc_got
        out = self.out()
        if rc is not None and got != rc:
            raise Fail(f"{self.name}: exit status {got}, expected {rc}")
        for w in want:
            if w not in out:
                raise Fail(f"{self.name}: expected '{w}' in its output")
        return parse_summary(out)


class Traffic:
    """Traffic on one port for the whole of a test, in vstop-fe runs of @chunk seconds:
    before each step the test calls ensure(): a run that would end within @margin seconds
    is awaited (it must pass, nothing lost) and a new one started, so that the port keeps
    passing traffic whatever a step costs, and the test lasts no longer than it needs."""

    def __init__(self, env, name, sock, queues, chunk=20, margin=5):
        self.env, self.name, self.sock, self.queues = env, name, sock, queues
        self.chunk, self.margin = chunk, margin
        self.n = 0
        self.fe = None
        self.ensure()

    def _start(self):
        self.n += 1
        self.t_end = time.monotonic() + self.chunk
        self.fe = self.env.fe(f"{self.name}{self.n}", "-s", self.sock, "-q", self.queues,
                              "-d", self.chunk)

    def _finish(self):
        no_loss(self.fe.name, self.fe.expect(0, ["result: PASS"]))

    def ensure(self):
        if self.fe is not None and time.monotonic() + self.margin < self.t_end:
            return
        if self.fe is not None:
            self._finish()
        self._start()

    def finish(self):
        self._finish()


def parse_summary(out):
    """The numbers of vstop-fe's summary (empty dict for what it did not print)."""
    s = {}
    m = re.search(r"frames: sent (\d+) received (\d+) lost (\d+) duplicated (\d+) reordered "
                  r"(\d+) bad (\d+)", out)
    if m:
        for k, v in zip(("sent", "received", "lost", "dup", "reord", "bad"), m.groups()):
            s[k] = int(v)
    m = re.search(r"stop deadline misses: (\d+)", out)
    if m:
        s["deadline_misses"] = int(m.group(1))
    m = re.search(r"migrations refused: (\d+), failed: (\d+), ring base mismatches: (\d+)", out)
    if m:
        s["refused"], s["failed"], s["mismatch"] = map(int, m.groups())
    m = re.search(r"migrations \(downtime\): (\d+)", out)
    s["migrations"] = int(m.group(1)) if m else 0
    m = re.search(r"stops \(request -> shown\): (\d+)", out)
    s["stops"] = int(m.group(1)) if m else 0
    m = re.search(r"result: (PASS|FAIL)", out)
    s["result"] = m.group(1) if m else None
    return s


def no_loss(what, s):
    """The frame check of a vstop-fe summary: every frame back once and in order."""
    for k in ("sent", "received", "lost", "dup", "reord", "bad"):
        if k not in s:
            raise Fail(f"{what}: no frame summary")
    if s["sent"] == 0:
        raise Fail(f"{what}: no frame sent")
    if s["lost"] or s["dup"] or s["reord"] or s["bad"] or s["sent"] != s["received"]:
        raise Fail(f"{what}: sent {s['sent']} received {s['received']} lost {s['lost']} "
                   f"duplicated {s['dup']} reordered {s['reord']} bad {s['bad']}")


# ---- freezing one thread of a process (ptrace), the rest keeps running ----------------

PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
WALL = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.restype = ctypes.c_long
_libc.ptrace.argtypes = (ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


class Freezer:
    """Stop ONE thread (e.g. vstop's polling lcore) with ptrace; the other threads of the
    process (control lcore, vhost-user thread, control socket) keep running. The kernel
    detaches (resumes) it if this process dies."""

    def __init__(self, tid):
        self.tid = tid
        self.frozen = False

    def freeze(self):
        if _libc.ptrace(PTRACE_SEIZE, self.tid, None, None) != 0:
            e = ctypes.get_errno()
            raise Skip(f"ptrace(SEIZE, {self.tid}) not permitted: {os.strerror(e)}")
        if _libc.ptrace(PTRACE_INTERRUPT, self.tid, None, None) != 0:
            e = ctypes.get_errno()
            _libc.ptrace(PTRACE_DETACH, self.tid, None, None)
            raise Fail(f"ptrace(INTERRUPT): {os.strerror(e)}")
        # Bounded: the thread may die meanwhile (then the stop never comes).
        end = time.monotonic() + 10
        while os.waitpid(self.tid, WALL | os.WNOHANG)[0] == 0:
            if time.monotonic() > end:
                _libc.ptrace(PTRACE_DETACH, self.tid, None, None)
                raise Fail(f"thread {self.tid} did not stop within 10 s of PTRACE_INTERRUPT")
            time.sleep(0.01)
        self.frozen = True

    def thaw(self):
        if self.frozen:
            _libc.ptrace(PTRACE_DETACH, self.tid, None, None)
            self.frozen = False


def run(cases):
    """main(): run cases[argv[1]](env); exit 0 pass, 1 fail, 77 skip."""
    name = sys.argv[1]
    env = Env(name)
    rc = 1
    try:
        cases[name](env)
        rc = 0
        print("PASS")
    except Skip as s:
        print(f"SKIP: {s}")
        rc = SKIP
    except Exception as e:  # noqa: BLE001 - any failure fails the test
        import traceback
        traceback.print_exc()
        env.dump()
        print(f"FAIL: {e}")
        rc = 1
    finally:
        env.close(keep=rc == 1 and os.environ.get("VSTOP_KEEP_LOGS") == "1")
    sys.exit(rc)
