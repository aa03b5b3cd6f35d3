# SPDX-License-Identifier: BSD-3-Clause
"""The QEMU migration rig: a backend (vstop --fwd loopback, or dpdk-testpmd net_vhost with
--port-topology=loop) with two vhost-user ports, a QEMU 7.2 TCG guest (Debian cloud kernel,
busybox initramfs running seqcheck, tools/guest/build-guest.sh) on port 0, a destination
QEMU (-incoming defer) on port 1, QMP over unix sockets, consoles to files.

Used by test/qemu/test_qemu_migration.py and tools/guest/migrate-loop.py.

Processes are ended by PID only, SIGTERM (or QMP quit) first. A child is never waited for
without a deadline (tools/proclib.py: reaping a SIGKILLed multi-threaded process can spin
in wait4() on this machine's kernel)."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
LCORES = "0@0,1@1"
QEMU = os.environ.get("QEMU", "qemu-system-x86_64")
TESTPMD = os.environ.get("TESTPMD", "dpdk-testpmd")
GUEST_MAC = "52:54:00:12:34:56"

sys.path.insert(0, os.path.join(TOP, "tools"))
import proclib  # noqa: E402  (children: non-reaping waits, bounded reaps)

# Guest RAM, in KiB: 256 MiB + 8 KiB, deliberately NOT a multiple of 256 KiB (64 pages).
# QEMU 7.2 (Debian's 7.2.22 included) loses guest writes during a TCG live migration: the
# fast path of cpu_physical_memory_sync_dirty_bitmap() (include/exec/ram_addr.h), taken
# when a RAM block's length is a multiple of 64 pages, clears the migration dirty bits
# without resetting the TCG TLB's dirty tracking, so a vCPU store through a TLB entry
# filled while the page was dirty marks nothing, and that page is never sent again. The
# destination then runs on a mix of old and new pages: desc tables, skbs and kernel data
# older than the rings that point at them ("id N is not a head", list_add corruption,
# NULL derefs: issue 15; whatever the vhost-user backend). Fixed upstream in QEMU 9.0
# ("physmem: Fix migration dirty bitmap coherency with TCG memory access"). With a length
# that is not a multiple of 64 pages QEMU takes the per-page slow path, which resets the
# TLB dirty state (cpu_physical_memory_test_and_clear_dirty). check_memory=True in
# run_migration() proves it run by run: the destination's RAM equals the source's.
GUEST_RAM_KIB = 256 * 1024 + 8

# Guest kernel lines that mean the guest is broken (the symptoms and their kin).
KERNEL_ERROR_RE = re.compile(
    r"BUG[: ]|Oops|not a head|soft lockup|hard LOCKUP|corruption|Call Trace|"
    r"general protection|Kernel panic|WARNING: CPU|rcu: INFO|rcu_sched .*stall|"
    r"self-detected stall|blocked for more than|NETDEV WATCHDOG|"
    r"GUEST-ERROR|SEQ-ERROR")
SEQ_RE = re.compile(r"SEQ (t=\d+ sent=\d+ rcvd=\d+ dup=\d+ reord=\d+ bad=\d+ sockdrop=\d+ "
                    r"txerr=\d+ stalls=\d+ maxgap_ms=\d+)\s*$")
FINAL_RE = re.compile(r"SEQ-FINAL (sent=\d+ .*maxgap_ms=\d+ .*last_lost=-?\d+)\s*$")


class SkipRig(Exception):
    """The rig cannot run here for a reason outside the code under test (no guest kernel)."""


def kv(text):
    return {k: int(v) if re.fullmatch(r"-?\d+", v) else v
            for k, v in re.findall(r"(\w+)=(\S+)", text)}


class Child:
    """A process of the rig, output to a log file in logdir; started, watched and ended
    through tools/proclib.py (non-reaping waits, bounded reaps)."""

    def __init__(self, argv, name, logdir, stdin=subprocess.DEVNULL, env=None):
        self.name = name
        self.argv = argv
        fd, self.logpath = tempfile.mkstemp(prefix=f"{name}_", suffix=".log", dir=logdir)
        self.logf = os.fdopen(fd, "w")
        self.logf.write("# " + " ".join(argv) + "\n")
        self.logf.flush()
        self.p = proclib.Child(argv, stdout=self.logf, stderr=subprocess.STDOUT,
                               stdin=stdin, env=env, start_new_session=True)
        self.pid = self.p.pid
        self.stdin = self.p.stdin

    @property
    def rc(self):
        return self.p.poll()

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def alive(self):
        return self.p.alive()

    def wait_exit(self, timeout):
        try:
            self.p.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def signal(self, sig):
        self.p.send_signal(sig)

    def end(self, timeout=10):
        """SIGTERM, then SIGKILL after timeout; a bounded reap. The exit status (None if
        unknown)."""
        rc = self.p.end(signal.SIGTERM, grace=timeout)
        if not self.logf.closed:
            self.logf.close()
        return rc


def wait_for(pred, timeout, step=0.1, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def build_guest(outdir=None, seqcheck=None):
    """Run build-guest.sh; returns (vmlinuz, initrd, seconds). SkipRig if the kernel cannot
    be obtained (exit 3)."""
    outdir = outdir or os.environ.get("GUEST_DIR") or os.path.join(TOP, "build", "guest")
    seqcheck = seqcheck or os.environ.get("SEQCHECK")
    argv = [os.path.join(HERE, "build-guest.sh")]
    if seqcheck:
        argv += ["--seqcheck", seqcheck]
    argv.append(outdir)
    t0 = time.time()
    with tempfile.TemporaryFile() as err:
        r = proclib.run(argv, timeout=900, stderr=err)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    dt = time.time() - t0
    if r.returncode == 3:
        raise SkipRig(stderr.strip().splitlines()[-1] if stderr.strip() else
                      "build-guest.sh: the guest kernel cannot be obtained")
    if r.returncode != 0:
        raise RuntimeError(f"build-guest.sh failed ({r.returncode}):\n{stderr}")
    m = re.search(r"guest: kernel=(\S+) initrd=(\S+)", r.stdout)
    if not m:
        raise RuntimeError(f"build-guest.sh printed no paths:\n{r.stdout}\n{stderr}")
    return m.group(1), m.group(2), dt


class Backend:
    """vstop (--fwd loopback) or dpdk-testpmd (net_vhost, io, --port-topology=loop) with two
    vhost-user server ports: each port sends every frame back to itself."""

    def __init__(self, kind, socks, logdir, tag, vstop=None, mem=512):
        self.kind = kind
        self.socks = socks
        self.prefix = f"qr_{kind}_{tag}"
        for s in socks:
            if os.path.exists(s):
                os.unlink(s)
        if kind == "vstop":
            vstop = vstop or os.environ.get("VSTOP") or os.path.join(TOP, "build", "app", "vstop")
            argv = [vstop, "--no-huge", "-m", str(mem), "--no-pci", "--file-prefix",
                    self.prefix, "--lcores", LCORES, "--log-level", "lib.vhost.*:warning"]
            # e.g. VSTOP_LOG_LEVELS="vstop.vhost:debug lib.vhost.config:debug"
            for lv in os.environ.get("VSTOP_LOG_LEVELS", "").split():
                argv += ["--log-level", lv]
            argv += ["--"]
            for s in socks:
                argv += ["--vhost", s]
            argv += ["--fwd", "loopback", "--idle-backoff-us", "100"]
            self.c = Child(argv, "vstop", logdir)
            ready = lambda: "vstop ready" in self.c.log()  # noqa: E731
        elif kind == "testpmd":
            if shutil.which(TESTPMD) is None:
                raise RuntimeError(f"{TESTPMD} not found")
            # stdbuf: testpmd's stdout is a file here, block-buffered otherwise.
            argv = ["stdbuf", "-oL", TESTPMD, "--no-huge", "-m", str(mem), "--no-pci", "--file-prefix",
                    self.prefix, "--lcores", LCORES]
            for i, s in enumerate(socks):
                argv += ["--vdev", f"net_vhost{i},iface={s}"]
            argv += ["--", "--forward-mode=io", "--port-topology=loop", "--nb-cores=1",
                     "--total-num-mbufs=16384"]
            # Non-interactive testpmd forwards until a line arrives on stdin: hold a pipe.
            self.c = Child(argv, "testpmd", logdir, stdin=subprocess.PIPE)
            ready = lambda: ("Press enter to exit" in self.c.log()  # noqa: E731
                             and all(os.path.exists(s) for s in socks))
        else:
            raise ValueError(f"unknown backend {kind}")
        try:
            wait_for(lambda: ready() or not self.c.alive(), 60, what=f"{kind} ready")
        except TimeoutError:
            self.end()
            raise
        if not self.c.alive():
            raise RuntimeError(f"{kind} exited during start-up:\n{self.c.log()[-3000:]}")

    def stats(self):
        """vstop only: {port: {rx, tx, drop, ...}} from SIGUSR1; {} for testpmd."""
        if self.kind != "vstop" or not self.c.alive():
            return {}
        n0 = self.c.log().count("stats end")
        self.c.signal(signal.SIGUSR1)
        try:
            wait_for(lambda: self.c.log().count("stats end") > n0, 10, what="vstop stats")
        except TimeoutError:
            return {}
        log = self.c.log()
        out = {}
        for line in log[log.rfind("stats begin"):].splitlines():
            if line.startswith("stats port="):
                d = kv(line)
                out[d["port"]] = d
        return out

    def end(self):
        rc = self.c.end(15)
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)
        for s in self.socks:
            if os.path.exists(s):
                os.unlink(s)
        return rc


class QMP:
    def __init__(self, path, timeout=30):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        wait_for(lambda: self._try_connect(path), timeout, what=f"QMP socket {path}")
        self.f = self.s.makefile("rw")
        self._read()  # greeting
        self.execute("qmp_capabilities")

    def _try_connect(self, path):
        try:
            self.s.connect(path)
            return True
        except (FileNotFoundError, ConnectionRefusedError):
            return False

    def _read(self):
        while True:
            line = self.f.readline()
            if not line:
                raise ConnectionError("QMP connection closed")
            msg = json.loads(line)
            if "event" in msg:
                continue
            return msg

    def execute(self, cmd, **args):
        self.f.write(json.dumps({"execute": cmd, "arguments": args} if args
                                else {"execute": cmd}) + "\n")
        self.f.flush()
        r = self._read()
        if "error" in r:
            raise RuntimeError(f"QMP {cmd}: {r['error']}")
        return r.get("return")

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


class Qemu:
    """A QEMU 7.2 TCG guest on a vhost-user socket; console to a file, QMP on a socket."""

    def __init__(self, name, sock, kernel, initrd, logdir, seconds=20, extra_append="",
                 incoming=False, mem_kib=GUEST_RAM_KIB, paused=False, packed=False,
                 chardev_opts="", device_opts=""):
        """packed: packed virtqueues (packed=on, rule P1); chardev_opts: more -chardev
        options for the vhost-user socket (",server=on,wait=off": QEMU listens, the
        backend connects); device_opts: more virtio-net-pci options."""
        self.name = name
        self.console = os.path.join(logdir, f"{name}-console.log")
        self.qmp_path = os.path.join(logdir, f"{name}-qmp.sock")
        self.ser_path = os.path.join(logdir, f"{name}-serial.sock")
        for p in (self.console, self.qmp_path, self.ser_path):
            if os.path.exists(p):
                os.unlink(p)
        append = (f"console=ttyS0 panic=-1 vstop.seconds={seconds} {extra_append}").strip()
        argv = [QEMU, "-machine", "q35,accel=tcg", "-cpu", "max", "-smp", "1",
                "-m", f"{mem_kib}K",
                "-object", f"memory-backend-memfd,id=mem,size={mem_kib}K,share=on",
                "-numa", "node,memdev=mem",
                "-chardev", f"socket,id=c0,path={sock}{chardev_opts}",
                "-netdev", "vhost-user,id=n0,chardev=c0",
                # vectors=0: QEMU 7.2 + vhost-user + MSI-X without KVM segfaults.
                # packed=on: packed virtqueues (rule P1); source and destination alike.
                "-device", f"virtio-net-pci,netdev=n0,mac={GUEST_MAC},vectors=0"
                + (",packed=on" if packed else "") + device_opts,
                "-kernel", kernel, "-initrd", initrd, "-append", append,
                "-nodefaults", "-display", "none", "-no-reboot",
                # The console goes to a file; the harness may write a line into the
                # serial port through the socket (console_send: "stop" ends seqcheck).
                "-chardev", f"socket,id=ser0,path={self.ser_path},server=on,wait=off,"
                f"logfile={self.console},logappend=on",
                "-serial", "chardev:ser0",
                "-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        if incoming:
            argv += ["-incoming", "defer"]
        if paused:
            argv += ["-S"]  # stays paused after an incoming migration until 'cont'
        self.mem_kib = mem_kib
        self.c = Child(argv, f"qemu-{name}", logdir)
        try:
            self.qmp = QMP(self.qmp_path, 30)
            self._serial_connect()
        except Exception:
            self.end()
            raise RuntimeError(f"QEMU {name} did not start:\n{self.c.log()[-3000:]}")

    def _serial_connect(self):
        """Stay connected to the serial socket for QEMU's whole life, reading and dropping
        what it sends (QEMU's logfile has it all): a disconnect in the middle of a write
        makes QEMU log a character twice."""
        self.ser = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ser.connect(self.ser_path)

        def drain():
            try:
                while self.ser.recv(65536):
                    pass
            except OSError:
                pass
        threading.Thread(target=drain, daemon=True).start()

    def console_send(self, line):
        """Type a line on the guest console."""
        self.ser.sendall((line + "\n").encode())

    def text(self):
        try:
            with open(self.console, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def seq(self):
        """Every SEQ line as a dict, in order."""
        return [kv(m.group(1)) for m in map(SEQ_RE.search, self.text().splitlines()) if m]

    def final(self):
        for line in self.text().splitlines():
            m = FINAL_RE.search(line)
            if m:
                return kv(m.group(1))
        return None

    def errors(self):
        return [l.strip() for l in self.text().splitlines() if KERNEL_ERROR_RE.search(l)]

    def end(self):
        if self.c.alive():
            try:
                self.qmp.execute("quit")
            except Exception:  # noqa: BLE001 - dead or hung QMP: SIGTERM below
                pass
            self.c.wait_exit(10)
        try:
            self.qmp.close()
        except AttributeError:
            pass
        return self.c.end(10)


def _memfd_path(pid):
    """/proc path of QEMU's guest RAM (memory-backend-memfd id=mem)."""
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("/memfd:mem"):
                return f"/proc/{pid}/fd/{fd}"
        except OSError:
            continue
    raise RuntimeError(f"QEMU pid {pid}: no guest RAM memfd")


def ram_diff(src, dst, max_list=20):
    """Compare two paused QEMUs' guest RAM page by page (4 KiB). Returns (number of
    differing pages, [(guest physical address, bytes that differ)] for the first
    max_list). With q35 and this little RAM, memfd offset = guest physical address."""
    size = src.mem_kib * 1024
    n, pages = 0, []
    with open(_memfd_path(src.c.pid), "rb") as fa, open(_memfd_path(dst.c.pid), "rb") as fb:
        off = 0
        while off < size:
            a, b = fa.read(1 << 20), fb.read(1 << 20)
            if not a and not b:
                break
            if a != b:
                for p in range(0, max(len(a), len(b)), 4096):
                    x, y = a[p:p + 4096], b[p:p + 4096]
                    if x != y:
                        n += 1
                        if len(pages) < max_list:
                            pages.append((off + p, sum(1 for i, j in zip(x, y) if i != j)))
            off += len(a)
    return n, pages


def migrate(src, dst, uri, timeout=120):
    """Migrate src -> dst (dst started with -incoming defer). Returns query-migrate's last
    answer plus 'wall_s'."""
    dst.qmp.execute("migrate-incoming", uri=uri)
    src.qmp.execute("migrate-set-parameters", **{"max-bandwidth": 16 << 30})
    t0 = time.time()
    src.qmp.execute("migrate", uri=uri)
    end = t0 + timeout
    info = {}
    while time.time() < end:
        info = src.qmp.execute("query-migrate")
        if info.get("status") in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.05)
    info["wall_s"] = round(time.time() - t0, 3)
    return info


def run_migration(kind, kernel, initrd, logdir, migrate_at_ms=3000, after_s=5, hops=1,
                  tag=None, vstop=None, append="", hang_s=40, log=print, max_seconds=900,
                  check_memory=False, packed=False):
    """One run: fresh backend; boot the guest on port 0; once it has had traffic for
    migrate_at_ms, migrate it under traffic to a new QEMU on the other port, hops times
    (0 -> 1 -> 0 ...: the QEMU left behind quits, the next destination takes its port);
    after each hop traffic must go on for after_s; then 'stop' on the console ends the
    checker (drain, SEQ-FINAL). Returns a dict: ok, problems[], errors[] (guest kernel
    lines), final (SEQ-FINAL), migrations[] (downtime_ms, total_ms per hop), ...
    Consoles and process logs stay in logdir.

    check_memory: each destination starts paused (-S); once the migration completed, the
    source's and the destination's guest RAM are compared page by page (both are paused:
    nothing may write any more, the backend included) and any difference is a problem
    (m['ram_diff_pages']); then the destination is let run ('cont').
    packed: the guest's virtio-net device has packed virtqueues (packed=on, rule P1)."""
    tag = tag or f"{os.getpid()}"
    os.makedirs(logdir, exist_ok=True)
    socks = [f"/tmp/qr_{tag}_{i}.sock" for i in range(2)]
    res = {"backend": kind, "problems": [], "errors": [], "final": None, "logdir": logdir,
           "migrations": [], "layout": "packed" if packed else "split"}
    be = None
    qemus = []  # every QEMU of the run, in order; the last one runs the guest
    t_start = time.time()

    def all_errors():
        out = []
        for q in qemus:
            out += [f"{q.name}: {e}" for e in q.errors()]
        return out

    def watch(q, base_rcvd, until, need_s):
        """Wait until q's guest has received frames beyond base_rcvd for need_s guest
        seconds (True), or it broke/hung (False, a problem recorded)."""
        first_t = None
        last_rcvd, last_progress = base_rcvd, time.time()
        broken_at = None
        while time.time() < until:
            s = q.seq()
            if s and s[-1]["rcvd"] > last_rcvd:
                last_rcvd, last_progress = s[-1]["rcvd"], time.time()
                if first_t is None:
                    first_t = s[-1]["t"]
                if s[-1]["t"] - first_t >= need_s * 1000 and not all_errors():
                    return True
            if all_errors():
                if broken_at is None:
                    broken_at = time.time()
                    until = min(until, broken_at + 10)  # let the console say more
            elif not q.c.alive():
                res["problems"].append(f"QEMU {q.name} exited (status {q.c.rc})")
                return False
            elif time.time() - last_progress > 15 and broken_at is None:
                # No frame back for 15 s: a hang, or a soft lockup on its way (20 s+).
                broken_at = time.time()
                until = min(until, last_progress + hang_s)
            time.sleep(0.2)
        if all_errors():
            res["problems"].append(f"guest kernel errors on {q.name}")
        elif first_t is None:
            res["problems"].append(f"no traffic on {q.name} (no frame back)")
        else:
            res["problems"].append(f"traffic on {q.name} stopped (no frame back for "
                                   f"{time.time() - last_progress:.0f} s)")
        return False

    try:
        be = Backend(kind, socks, logdir, tag, vstop=vstop)
        cur = Qemu("q0", socks[0], kernel, initrd, logdir, max_seconds, append,
                   packed=packed)
        qemus.append(cur)
        port = 0
        if not watch(cur, 0, time.time() + 120 + migrate_at_ms / 1000, migrate_at_ms / 1000):
            res["problems"].insert(0, "before the first migration:")
            return res
        res["boot_s"] = round(time.time() - t_start, 1)
        for hop in range(1, hops + 1):
            port ^= 1
            dst = Qemu(f"q{hop}", socks[port], kernel, initrd, logdir, max_seconds, append,
                       incoming=True, paused=check_memory, packed=packed)
            qemus.append(dst)
            info = migrate(cur, dst, f"unix:{os.path.join(logdir, f'mig{hop}.sock')}")
            m = {"hop": hop, "to_port": port, "status": info.get("status"),
                 "downtime_ms": info.get("downtime"), "total_ms": info.get("total-time"),
                 "setup_ms": info.get("setup-time"), "wall_s": info.get("wall_s")}
            res["migrations"].append(m)
            if info.get("status") != "completed":
                res["problems"].append(f"migration {hop} {info.get('status')}: {info}")
                return res
            if check_memory:
                n, pages = ram_diff(cur, dst)
                m["ram_diff_pages"] = n
                if n:
                    res["problems"].append(
                        f"migration {hop}: guest RAM differs between source and destination "
                        f"in {n} page(s): " + ", ".join(f"0x{a:x} ({d} B)" for a, d in pages))
                dst.qmp.execute("cont")
            last = cur.seq()[-1] if cur.seq() else {"t": 0, "rcvd": 0}
            m["at_t_ms"], m["at_rcvd"] = last["t"], last["rcvd"]
            log(f"  migration {hop} -> port {port}: at guest t={last['t']} ms "
                f"(rcvd {last['rcvd']}), downtime {m['downtime_ms']} ms, "
                f"total {m['total_ms']} ms")
            cur.end()  # paused after the migration; it must never run again
            cur = dst
            if not watch(cur, last["rcvd"], time.time() + 90, after_s):
                res["problems"].insert(0, f"after migration {hop}:")
                return res
            s = cur.seq()
            m["dst_traffic_s"] = round((s[-1]["t"] - last["t"]) / 1000, 1)
        # The checker's send phase ends now: drain, SEQ-FINAL.
        cur.console_send("stop")
        try:
            wait_for(lambda: cur.final() or not cur.c.alive(), 60, what="SEQ-FINAL")
        except TimeoutError:
            pass
        f = res["final"] = cur.final()
        if not f:
            res["problems"].append(f"no SEQ-FINAL from {cur.name} (hang?)")
        else:
            for k in ("lost", "dup", "bad"):
                if f[k]:
                    res["problems"].append(f"{k}={f[k]}")
            if f["sockdrop"]:
                res["problems"].append(f"sockdrop={f['sockdrop']} (guest socket: rig)")
        if all_errors():
            res["problems"].append("guest kernel errors")
        if be.kind == "vstop":
            res["backend_stats"] = be.stats()
        return res
    except SkipRig:
        raise
    except Exception as e:  # noqa: BLE001 - a rig failure is a failed run, with its reason
        res["problems"].append(f"rig: {type(e).__name__}: {e}")
        return res
    finally:
        if be is not None and be.kind == "vstop" and "backend_stats" not in res:
            try:
                res["backend_stats"] = be.stats()
            except Exception:  # noqa: BLE001
                pass
        res["errors"] = all_errors()
        for q in qemus:
            q.end()
        if be is not None:
            be.end()
        if res["errors"] and not any("kernel errors" in p for p in res["problems"]):
            res["problems"].append("guest kernel errors")
        res["ok"] = not res["problems"]
        res["downtime_ms"] = [m["downtime_ms"] for m in res["migrations"]]
        res["wall_s"] = round(time.time() - t_start, 1)
