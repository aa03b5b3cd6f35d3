# SPDX-License-Identifier: BSD-3-Clause
"""Process harness for vstop's application tests: start vstop and dpdk-testpmd as real
processes (no hugepages, unique file prefixes and socket paths), read their counters,
end them by PID only (other engineers run the same binaries on this machine)."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

VSTOP = os.environ.get("VSTOP", "build/app/vstop")
TESTPMD = os.environ.get("TESTPMD", "dpdk-testpmd")
LCORES = "0@0,1@1"

_procs = []
_socks = []


def uniq(name):
    return f"vst_{name}_{os.getpid()}"


def sock_path(name, i=0):
    p = f"/tmp/{uniq(name)}_{i}.sock"
    if os.path.exists(p):
        os.unlink(p)
    _socks.append(p)
    return p


def wait_for(pred, timeout, step=0.05, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Proc:
    """A child process whose stdout+stderr go to a log file."""

    def __init__(self, cmd, name, stdin=None):
        fd, self.logpath = tempfile.mkstemp(prefix=f"vst_{name}_", suffix=".log")
        self.logf = os.fdopen(fd, "w")
        self.argv = cmd
        self.p = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT,
                                  stdin=stdin)
        _procs.append(self)

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def alive(self):
        return self.p.poll() is None

    def kill_sig(self, sig):
        if self.alive():
            os.kill(self.p.pid, sig)

    def end(self, sig=signal.SIGTERM, timeout=15):
        """End this process (by PID), escalating to SIGKILL. Returns its exit code."""
        if self.alive():
            os.kill(self.p.pid, sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.p.pid, signal.SIGKILL)
                self.p.wait()
        return self.p.returncode

    def dump(self, lines=60):
        print(f"---- {' '.join(self.argv)}", file=sys.stderr)
        print("\n".join(self.log().splitlines()[-lines:]), file=sys.stderr)


def cleanup(remove_logs=False):
    """End what we started (by PID); remove its EAL runtime directory and, if asked, its
    log."""
    for p in reversed(_procs):  # front ends first, then vstop
        if p.alive():
            p.end(signal.SIGTERM, 10)
        prefix = getattr(p, "prefix", None)
        if prefix:
            shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)
        p.logf.close()
        if remove_logs:
            os.unlink(p.logpath)
    for path in _socks:
        if os.path.exists(path):
            os.unlink(path)


class Vstop(Proc):
    def __init__(self, name, app_args, eal_args=(), mem=256, backoff=True):
        self.prefix = uniq("vs_" + name)
        cmd = [VSTOP, "--no-huge", "-m", str(mem), "--no-pci", "--file-prefix", self.prefix,
               "--lcores", LCORES, "--log-level", "lib.vhost.*:warning", *eal_args, "--",
               *app_args]
        if backoff:
            cmd += ["--idle-backoff-us", "100"]
        super().__init__(cmd, "vstop")
        try:
            wait_for(lambda: "vstop ready" in self.log() or not self.alive(), 30,
                     what="vstop ready")
        except AssertionError:
            self.dump()
            raise
        if not self.alive():
            self.dump()
            raise AssertionError("vstop exited during start-up")

    def stats(self, timeout=10):
        """SIGUSR1, then parse the newest stats block: {port id: {key: value}}."""
        n0 = self.log().count("stats end")
        self.kill_sig(signal.SIGUSR1)
        wait_for(lambda: self.log().count("stats end") > n0, timeout, what="vstop stats")
        return parse_stats(self.log())

    def demo(self, timeout=10):
        """SIGUSR2 (stop or resume every attached vhost device): the new demo lines."""
        n0 = self.log().count("demo port=")
        self.kill_sig(signal.SIGUSR2)
        wait_for(lambda: self.log().count("demo port=") > n0, timeout, what="demo output")
        time.sleep(0.2)
        return [l for l in self.log().splitlines() if l.startswith("demo port=")][n0:]


def parse_kv(line):
    return {k: (int(v, 0) if re.fullmatch(r"-?(0x[0-9a-f]+|\d+)", v) else v)
            for k, v in re.findall(r"(\w+)=(\S+)", line)}


def parse_stats(log):
    block = log[log.rfind("stats begin"):]
    out = {}
    for line in block.splitlines():
        if line.startswith("stats port="):
            kv = parse_kv(line)
            out[kv["port"]] = kv
    return out


class Testpmd(Proc):
    """dpdk-testpmd with virtio_user ports on vstop's sockets, driven through stdin."""

    def __init__(self, name, socks, queues=1, fwd="io", extra=(), vdev_args=""):
        """vdev_args: more virtio_user options, e.g. ",packed_vq=1" (P1)."""
        if shutil.which(TESTPMD) is None:
            print(f"SKIP: {TESTPMD} not found", file=sys.stderr)
            sys.exit(77)
        self.prefix = uniq("tp_" + name)
        vdevs = []
        for i, s in enumerate(socks):
            vdevs += ["--vdev", f"net_virtio_user{i},path={s},queues={queues}{vdev_args}"]
        cmd = ["stdbuf", "-o0", TESTPMD, "--no-huge", "-m", "256", "--no-pci",
               "--file-prefix", self.prefix, "--lcores", LCORES,
               "--log-level", "pmd.net.virtio.*:warning", *vdevs, "--", "-i",
               "--total-num-mbufs=8192", f"--forward-mode={fwd}", f"--rxq={queues}",
               f"--txq={queues}", "--nb-cores=1", *extra]
        super().__init__(cmd, "testpmd", stdin=subprocess.PIPE)
        self.nports = len(socks)
        try:
            wait_for(lambda: "testpmd>" in self.log() or not self.alive(), 30,
                     what="testpmd prompt")
        except AssertionError:
            self.dump()
            raise
        if not self.alive():
            self.dump()
            raise AssertionError("testpmd exited during start-up")

    def cmd(self, line, settle=0.3):
        self.p.stdin.write((line + "\n").encode())
        self.p.stdin.flush()
        time.sleep(settle)

    def port_stats(self):
        """{port: {"rx": RX-packets, "tx": TX-packets}} from 'show port stats all'."""
        start = len(self.log())
        self.cmd("show port stats all")

        def parsed():
            text = self.log()[start:]
            blocks = re.findall(r"NIC statistics for port (\d+).*?RX-packets:\s+(\d+)"
                                r".*?TX-packets:\s+(\d+)", text, re.S)
            if len(blocks) < self.nports:
                return None
            return {int(p): {"rx": int(rx), "tx": int(tx)} for p, rx, tx in blocks}
        return wait_for(parsed, 10, what="testpmd port stats")

    def quit(self, timeout=20):
        if self.alive():
            self.cmd("quit", 0)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.end(signal.SIGKILL)
        return self.p.returncode


def run(test):
    """Run test(), always clean up our processes; exit 0/1 for meson."""
    rc = 1
    try:
        test()
        rc = 0
    except Exception as e:  # noqa: BLE001 - any failure fails the test
        import traceback
        traceback.print_exc()
        for p in _procs:
            p.dump()
        print(f"FAIL: {e}", file=sys.stderr)
    finally:
        cleanup(remove_logs=rc == 0)
    sys.exit(rc)
