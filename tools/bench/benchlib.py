# SPDX-License-Identifier: BSD-3-Clause
"""Shared pieces of the vstop benchmarks: child processes, waiting, statistics, the control
socket, the machine description, CSV files and gnuplot plots. Standard library only."""
import atexit
import csv
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import proclib  # noqa: E402  (children: non-reaping waits, bounded reaps)

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Where CSV, plots and logs go (the meson smoke test points it into the build tree).
OUT = os.environ.get("VSTOP_BENCH_OUT") or os.path.join(TOP, "out", "bench")
# Every DPDK process of a benchmark: no hugepages, no PCI, quiet.
EAL = ["--no-huge", "--no-pci"]
# vstop's log levels in the stop-latency and migration benchmarks: librte_vhost's INFO
# line(s) per vhost-user message off, on the very threads (vhost-events, control lcore)
# whose latency these benchmarks measure. vstop now ships with that level (and logs to
# stderr only); it stays explicit so that an older vstop is measured the same way.
DEFAULT_LOG = "lib.vhost.*:warning"


def add_vstop_log_option(ap):
    """--vstop-log, shared by the benchmarks that start vstop; see vstop_log_args()."""
    ap.add_argument("--vstop-log", default=DEFAULT_LOG, dest="vstop_log_arg",
                    help="EAL --log-level values for vstop, comma separated; 'shipped' for "
                    f"none (default: {DEFAULT_LOG}: librte_vhost's line per message off)")


def vstop_log_args(a):
    """The EAL arguments --vstop-log asked for."""
    return [f"--log-level={x}" for x in a.vstop_log_arg.split(",")
            if x and a.vstop_log_arg != "shipped"]

_t0 = time.monotonic()
_children = []


def _reap():
    """At exit (normal, exception, SIGTERM/SIGINT): end every child still running, by PID."""
    for p in _children:
        try:
            p.stop(timeout=3)
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


atexit.register(_reap)
signal.signal(signal.SIGTERM, _on_signal)


def log(msg):
    print(f"[{time.monotonic() - _t0:7.1f}s] {msg}", flush=True)


def tag():
    """A unique name part for sockets and --file-prefix (several benchmarks may run at once)."""
    return f"{os.getpid()}-{time.monotonic_ns() % 10**9}"


class Proc:
    """A child process (own session) whose output a thread collects; stdin kept open."""

    def __init__(self, argv, name, stdin=True, logfile=None, timerslack_ns=0):
        self.name = name
        self.argv = argv
        self.lines = []
        self.logfile = logfile
        out = open(logfile, "w") if logfile else subprocess.PIPE
        self.p = proclib.Child(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                               stdout=out, stderr=subprocess.STDOUT, text=True, bufsize=1,
                               start_new_session=True,
                               preexec_fn=(lambda: set_timerslack(timerslack_ns))
                               if timerslack_ns else None)
        _children.append(self)
        if logfile:
            out.close()
            self.t = None
        else:
            self.t = threading.Thread(target=self._read, daemon=True)
            self.t.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line)

    @property
    def pid(self):
        return self.p.pid

    def send(self, cmd):
        try:
            self.p.stdin.write(cmd + "\n")
            self.p.stdin.flush()
        except (BrokenPipeError, ValueError, AttributeError):
            pass

    def alive(self):
        return self.p.alive()

    def wait(self, timeout=None):
        """Its exit code once it died (not reaped: stop() does that, bounded)."""
        return self.p.wait(timeout)

    def stop(self, sig=signal.SIGINT, timeout=10):
        """End our own child by its PID: the signal, then SIGKILL after @timeout, then a
        bounded reap (also of a child that died on its own)."""
        self.p.end(sig, grace=timeout)
        if self.p.stdin:
            try:
                self.p.stdin.close()
            except (BrokenPipeError, ValueError):
                pass
        if self.t is not None:
            self.t.join(2)

    def text(self):
        if self.logfile:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        return "".join(self.lines)


def set_timerslack(ns):
    """prctl(PR_SET_TIMERSLACK): how late a sleep may end. Inherited by threads and kept
    across exec; the default 50 us turns every short sleep into >= 50 us."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(29, ctypes.c_ulong(ns), 0, 0, 0)


def threads_named(pid, names):
    """TIDs of the threads of @pid whose name (comm) is in @names."""
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/comm") as f:
                    if f.read().strip() in names:
                        out.append(int(tid))
            except OSError:
                pass
    except OSError:
        pass
    return out


def make_rt(tids, prio=1):
    """SCHED_FIFO @prio for these threads: they run as soon as they wake, ahead of any
    normal thread on their core (what a core of their own would give them). For threads
    that sleep between short bursts of work only: the control lcore, vhost-events,
    vstop-fe's control thread -- never a polling thread."""
    done = []
    for tid in tids:
        try:
            os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(prio))
            done.append(tid)
        except OSError as e:
            log(f"warning: cannot make thread {tid} SCHED_FIFO: {e}")
    return done


def rt_vstop(proc):
    """vstop's control lcore (its main thread) and librte_vhost's message thread."""
    return make_rt([proc.pid] + threads_named(proc.pid, {"vhost-events"}))


def rt_front_end(proc, timeout=10):
    """vstop-fe's control thread (its main thread, which sends the requests and times
    them), once its data thread exists (a new thread would inherit the policy)."""
    def nthreads():
        try:
            return len(os.listdir(f"/proc/{proc.pid}/task"))
        except OSError:
            return 0
    try:
        wait_for(lambda: nthreads() > 1 or not proc.alive(), timeout, "vstop-fe's data thread")
    except RuntimeError:
        return []
    return make_rt([proc.pid]) if proc.alive() else []


def sched_idle_second_thread(proc, timeout=10):
    """Make the second thread of @proc (vstop-fe's data thread, created once the device is
    set up) SCHED_IDLE, so that any other thread on its core runs as soon as it wakes."""
    def tid():
        try:
            tids = sorted(int(t) for t in os.listdir(f"/proc/{proc.pid}/task"))
        except OSError:
            return None
        return tids[1] if len(tids) > 1 else None
    try:
        wait_for(lambda: tid() is not None or not proc.alive(), timeout, "a second thread")
        if proc.alive():
            os.sched_setscheduler(tid(), os.SCHED_IDLE, os.sched_param(0))
            return True
    except (RuntimeError, OSError) as e:
        log(f"warning: cannot make the data thread of {proc.name} SCHED_IDLE: {e}")
    return False


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise RuntimeError("timed out waiting for " + what)


def cpus():
    """The two cores this machine has (or the first two): backend on one, front end on the
    other."""
    avail = sorted(os.sched_getaffinity(0))
    return (avail[0], avail[1]) if len(avail) > 1 else (avail[0], avail[0])


class Ctl:
    """vstop's control socket (--ctl PATH): one command per line, one JSON line back."""

    def __init__(self, path, timeout=20):
        wait_for(lambda: os.path.exists(path), timeout, "control socket " + path)
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(path)
        self.f = self.s.makefile("rw")

    def cmd(self, line):
        self.f.write(line + "\n")
        self.f.flush()
        r = self.f.readline()
        if not r:
            raise RuntimeError(f"control socket closed on '{line}'")
        return json.loads(r)

    def close(self):
        try:
            self.f.close()
            self.s.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------------------
# Statistics

def pct(xs, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))
    return s[k]


def summary(xs):
    """median, p99, min, max, mean of a list (None for an empty one)."""
    if not xs:
        return None
    return {"n": len(xs), "median": statistics.median(xs), "p99": pct(xs, 99),
            "min": min(xs), "max": max(xs), "mean": statistics.fmean(xs)}


class Progress:
    """'[k/n] ... eta' lines for long runs."""

    def __init__(self, total):
        self.total = total
        self.done = 0
        self.t0 = time.monotonic()

    def step(self, msg):
        self.done += 1
        el = time.monotonic() - self.t0
        eta = el / self.done * (self.total - self.done)
        log(f"[{self.done}/{self.total}, eta {eta:4.0f}s] {msg}")


# ---------------------------------------------------------------------------------------
# Output

def write_csv(path, header, rows):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    log(f"csv: {path}")


def gnuplot(script, png):
    if shutil.which("gnuplot") is None:
        log("gnuplot not found (tools/install-deps.sh --bench installs gnuplot-nox): no plot")
        return False
    os.makedirs(os.path.dirname(os.path.abspath(png)), exist_ok=True)
    r = proclib.run(["gnuplot"], timeout=120,
                    input=(f"set terminal pngcairo size 1000,540 font ',10'\n"
                           f"set output '{png}'\n" + script).encode())
    if r.returncode != 0:
        log("gnuplot failed: " + r.stdout.strip()[-500:])
        return False
    log(f"plot: {png}")
    return True


def _run(argv):
    try:
        return proclib.run(argv, timeout=20, stderr=subprocess.DEVNULL).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine():
    """The machine description the docs quote: lscpu summary, kernel, DPDK, load."""
    ls = _run(["lscpu"])
    keep = ("Architecture", "Model name", "CPU(s)", "Thread(s) per core", "Core(s) per socket",
            "Socket(s)", "CPU max MHz", "BogoMIPS", "Hypervisor vendor", "Virtualization type",
            "L1d cache", "L2 cache", "L3 cache", "NUMA node(s)")
    lines = []
    for line in ls.splitlines():
        k = line.split(":", 1)[0].strip()
        if k in keep:
            lines.append(re.sub(r"\s+", " ", line.strip()))
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    dpdk = _run(["pkg-config", "--modversion", "libdpdk"])
    try:
        with open("/proc/loadavg") as f:
            load = " ".join(f.read().split()[:3])
    except OSError:
        load = "?"
    rev = _run(["git", "-C", TOP, "rev-parse", "--short", "HEAD"])
    dirty = _run(["git", "-C", TOP, "status", "--porcelain", "--untracked-files=no"])
    lines += [f"Memory: {mem}", f"Kernel: {platform.release()}", f"DPDK: {dpdk}",
              f"Load average (1/5/15 min) at start: {load}",
              f"Source: {rev}{' + uncommitted changes' if dirty else ''}"]
    return lines


def save_machine(name):
    lines = machine()
    path = os.path.join(OUT, f"{name}.machine.txt")
    os.makedirs(OUT, exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return lines


def busy_processes(threshold=20.0):
    """Processes using more than @threshold % CPU right now (not ours): noise to report."""
    out = _run(["ps", "-eo", "pid,pcpu,comm", "--sort=-pcpu", "--no-headers"])
    mine = {os.getpid()}
    busy = []
    for line in out.splitlines():
        f = line.split(None, 2)
        if len(f) == 3 and float(f[1]) >= threshold and int(f[0]) not in mine:
            busy.append(f"{f[2]}({f[1]}%)")
    return busy


def cpu_busy(seconds=1.0):
    """Share of all CPUs busy over @seconds (from /proc/stat), in percent: other work on the
    machine before a benchmark starts."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v), idle
    try:
        t0, i0 = snap()
        time.sleep(seconds)
        t1, i1 = snap()
    except (OSError, ValueError):
        return -1.0
    return 100.0 * (1 - (i1 - i0) / max(1, t1 - t0))


class CpuMeter:
    """CPU time used on the machine by anything but @pids (and their threads) between
    start() and stop(), in % of one core: the noise other work adds to a run."""

    def __init__(self, pids):
        self.pids = list(pids)

    @staticmethod
    def _total():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v[:8]), idle

    def _ours(self):
        t = 0
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    v = f.read().rsplit(")", 1)[1].split()
                t += int(v[11]) + int(v[12])
            except (OSError, IndexError, ValueError):
                pass
        return t

    def start(self):
        self.t0, self.i0 = self._total()
        self.o0 = self._ours()
        self.w0 = time.monotonic()
        return self

    def stop(self):
        t1, i1 = self._total()
        o1 = self._ours()
        ticks = os.sysconf("SC_CLK_TCK")
        secs = max(1e-3, time.monotonic() - self.w0)
        busy = (t1 - self.t0) - (i1 - self.i0)
        return max(0.0, 100.0 * (busy - (o1 - self.o0)) / ticks / secs)


def thread_cpu_ns(pid, comm):
    """On-CPU time (ns, from schedstat) of the thread of @pid named @comm; None if none."""
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().strip() != comm:
                    continue
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                return int(f.read().split()[0])
    except (OSError, IndexError, ValueError):
        pass
    return None


def thread_ticks(pid, comm):
    """CPU time (clock ticks) used so far by the thread of @pid named @comm (an EAL lcore
    thread is 'rte-worker-N'); None if there is none."""
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().strip() != comm:
                    continue
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                v = f.read().rsplit(")", 1)[1].split()
            return int(v[11]) + int(v[12])
    except (OSError, IndexError, ValueError):
        pass
    return None
