# SPDX-License-Identifier: BSD-3-Clause
"""Real-process harness for the console tests: vstop (console under a pseudo-terminal,
control socket, command file), dpdk-testpmd as a virtio-user front end, and the telemetry
socket. Every process is started here and ended here, by PID."""

import json
import os
import pty
import select
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


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(SKIP)


def runtime_dir(prefix):
    if os.geteuid() == 0:
        return f"/var/run/dpdk/{prefix}"
    base = os.environ.get("XDG_RUNTIME_DIR", "/tmp")
    return f"{base}/dpdk/{prefix}"


class Vstop:
    """One vstop process with one vhost-user port (port 0)."""

    def __init__(self, vstop_bin, name, interactive=False, ctl=True, script=None,
                 fwd="loopback", extra=(), eal_extra=(), mem=256):
        tag = f"{name}_{os.getpid()}"
        self.prefix = f"vsc_{tag}"
        self.sock = f"/tmp/vsc_{tag}.sock"
        self.ctl_path = f"/tmp/vsc_{tag}.ctl" if ctl else None
        self.interactive = interactive
        self.pid = None
        self.child = None
        self.fd = None
        self.out = b""
        self.returncode = None
        for p in (self.sock, self.ctl_path):
            if p and os.path.exists(p):
                os.unlink(p)
        argv = [vstop_bin, "--no-huge", "-m", str(mem), "--no-pci", "--file-prefix",
                self.prefix, "--lcores", "0@0,1@1"] + list(eal_extra) + [
                "--", "--vhost", self.sock, "--fwd",
                fwd, "--idle-backoff-us", "50",
                # 'device stop' answers once the stop completes or its deadline passes:
                # 10 s, not the default 1 s, as a core-1 stall of this shared VM can
                # delay a stop past a second (console_M1_frames_held_while_stopped
                # failed so once in CI); no console test is about the deadline itself.
                "--stop-timeout-ms", "10000"]
        if ctl:
            argv += ["--ctl", self.ctl_path]
        if script:
            argv += ["--cmdline-file", script]
        if interactive:
            argv += ["-i"]
        argv += list(extra)
        self.argv = argv
        if interactive:
            pid, fd = pty.fork()
            if pid == 0:
                try:
                    os.execv(vstop_bin, argv)
                finally:
                    os._exit(127)
            self.pid, self.fd = pid, fd
            self.child = proclib.Child.adopt(pid, argv)
        else:
            self.logf = tempfile.TemporaryFile()
            self.child = proclib.Child(argv, stdin=subprocess.DEVNULL, stdout=self.logf,
                                       stderr=subprocess.STDOUT)
            self.pid = self.child.pid
        self._conn = None

    # ---- output ----
    def _pump(self, timeout):
        if self.fd is not None:
            r, _, _ = select.select([self.fd], [], [], timeout)
            if r:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    return False
                self.out += data
            return True
        time.sleep(timeout)
        self.logf.seek(0)
        self.out = self.logf.read()
        return self.child.alive()

    def expect(self, pattern, timeout=20.0, start=0):
        """Wait until bytes @pattern appear in the output after offset @start.
        @return the offset just past it."""
        if isinstance(pattern, str):
            pattern = pattern.encode()
        end = time.time() + timeout
        while True:
            i = self.out.find(pattern, start)
            if i >= 0:
                return i + len(pattern)
            if time.time() > end:
                raise TestFailure(f"timeout waiting for {pattern!r}; output tail:\n"
                                  + self.out[-3000:].decode(errors="replace"))
            if not self._pump(0.05) and self.out.find(pattern, start) < 0:
                raise TestFailure(f"vstop exited while waiting for {pattern!r}; output:\n"
                                  + self.out[-3000:].decode(errors="replace"))

    def settle(self, quiet=0.3, timeout=5.0):
        """Read until the output has been quiet for @quiet seconds."""
        end = time.time() + timeout
        n = -1
        while len(self.out) != n and time.time() < end:
            n = len(self.out)
            self._pump(quiet)

    def wait_ready(self):
        self.expect("vstop ready pid=", timeout=30)
        if self.interactive:
            self.expect("vstop> ", timeout=10)

    # ---- interactive console ----
    def type(self, data):
        if isinstance(data, str):
            data = data.encode()
        os.write(self.fd, data)

    def console(self, line, timeout=20.0):
        """Type a line at the prompt, return what it printed before the next prompt."""
        start = len(self.out)
        self.type(line + "\n")
        end = self.expect("vstop> ", timeout=timeout, start=start)
        text = self.out[start:end - len("vstop> ")].decode(errors="replace")
        return text.replace("\r", "")

    # ---- control socket ----
    def connect(self):
        if self._conn is None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(30)
            s.connect(self.ctl_path)
            self._conn = (s, s.makefile("rwb"))
        return self._conn

    def cmd_raw(self, line):
        s, f = self.connect()
        f.write(line.encode() + b"\n")
        f.flush()
        reply = f.readline()
        check(reply.endswith(b"\n"), f"no complete answer to {line!r}: {reply!r}")
        return reply.decode()

    def cmd(self, line):
        raw = self.cmd_raw(line)
        try:
            return json.loads(raw)
        except ValueError as e:
            raise TestFailure(f"answer to {line!r} is not JSON ({e}): {raw!r}")

    def ok(self, line):
        r = self.cmd(line)
        check(r.get("ok") is True, f"{line!r} failed: {r}")
        return r

    def err(self, line, contains=None):
        r = self.cmd(line)
        check(r.get("ok") is False and isinstance(r.get("error"), str) and r["error"],
              f"{line!r} should fail with an error: {r}")
        if contains:
            check(contains in r["error"], f"{line!r}: error {r['error']!r} lacks {contains!r}")
        return r

    def wait_status(self, pred, what, timeout=30.0, port=0):
        end = time.time() + timeout
        last = None
        while time.time() < end:
            last = self.ok(f"show device status {port}")
            if pred(last):
                return last
            time.sleep(0.2)
        raise TestFailure(f"timeout waiting for {what}; last status: {last}")

    # ---- end ----
    def stop(self):
        if self._conn is not None:
            try:
                self._conn[1].close()
                self._conn[0].close()
            except OSError:
                pass
            self._conn = None
        if self.child is not None and self.returncode is None:
            self.returncode = self.child.end(signal.SIGTERM, 15)
        if self.fd is not None:
            try:
                while self._pump(0.05):
                    pass
            except OSError:
                pass
            os.close(self.fd)
            self.fd = None
        elif self.child is not None:
            self._pump(0)
        return self.returncode

    def wait_exit(self, timeout=20.0):
        """Wait for vstop to leave on its own (quit)."""
        end = time.time() + timeout
        while time.time() < end:
            if self.fd is not None:
                self._pump(0.05)
            if self.child.poll() is not None:
                self.returncode = self.child.end()  # dead: just the bounded reap
                self._pump(0)
                return self.returncode
            time.sleep(0.05)
        raise TestFailure("vstop did not exit")

    def cleanup(self):
        self.stop()
        for p in (self.sock, self.ctl_path):
            if p and os.path.exists(p):
                os.unlink(p)
        shutil.rmtree(runtime_dir(self.prefix), ignore_errors=True)


class Testpmd:
    """dpdk-testpmd with a net_virtio_user port on vstop's socket: a front end that
    negotiates and sets DRIVER_OK. Interactive, never started: it does not poll."""

    def __init__(self, name, vhost_sock):
        self.bin = shutil.which("dpdk-testpmd")
        if self.bin is None:
            skip("dpdk-testpmd not installed")
        self.prefix = f"vscfe_{name}_{os.getpid()}"
        self.logf = tempfile.TemporaryFile()
        self.proc = proclib.Child(
            [self.bin, "--no-huge", "-m", "256", "--no-pci", "--file-prefix", self.prefix,
             "--lcores", "0@0,1@1", "--vdev", f"net_virtio_user0,path={vhost_sock}", "--",
             "-i", "--total-num-mbufs=2048"],
            stdin=subprocess.PIPE, stdout=self.logf, stderr=subprocess.STDOUT)

    def send(self, line):
        """A testpmd console command."""
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def log(self):
        self.logf.seek(0)
        return self.logf.read().decode(errors="replace")

    def cleanup(self):
        if self.proc.alive():
            try:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.proc.end(signal.SIGTERM, 15)  # still running: ended; dead: reaped
        shutil.rmtree(runtime_dir(self.prefix), ignore_errors=True)


class Tool:
    """A front end or client that runs to its end (vstop-fe): output to a temporary file,
    a non-reaping wait, a bounded reap."""

    def __init__(self, argv):
        self.out = tempfile.TemporaryFile()
        self.child = proclib.Child(argv, stdin=subprocess.DEVNULL, stdout=self.out,
                                   stderr=subprocess.STDOUT)
        self.pid = self.child.pid

    def send_signal(self, sig):
        self.child.send_signal(sig)

    def text(self):
        self.out.seek(0)
        return self.out.read().decode(errors="replace")

    def finish(self, timeout):
        """Wait for its end (SIGKILL after @timeout s); (exit code, output)."""
        try:
            self.child.wait(timeout)
        except subprocess.TimeoutExpired:
            self.child.end(signal.SIGKILL, grace=5)
            raise TestFailure(f"{self.child.argv[0]} still running after {timeout} s:\n"
                              f"{self.text()[-3000:]}")
        self.child.reap()
        return self.child.returncode, self.text()

    def end(self):
        self.child.end(signal.SIGTERM, 10)


def telemetry(prefix, *cmds):
    """Send telemetry commands over the v2 socket; @return the decoded answers."""
    path = os.path.join(runtime_dir(prefix), "dpdk_telemetry.v2")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    s.connect(path)
    info = json.loads(s.recv(16384).decode())
    bufsize = int(info.get("max_output_len", 16384))
    out = []
    for c in cmds:
        s.send(c.encode())
        out.append(json.loads(s.recv(bufsize).decode()))
    s.close()
    return out


def main(tests):
    """python3 test_console.py VSTOP_BIN TEST_NAME"""
    if len(sys.argv) != 3 or sys.argv[2] not in tests:
        print(f"usage: {sys.argv[0]} VSTOP_BIN {{{','.join(tests)}}}", file=sys.stderr)
        sys.exit(2)
    vstop_bin = sys.argv[1]
    if not os.access(vstop_bin, os.X_OK):
        skip(f"{vstop_bin} not built")
    try:
        tests[sys.argv[2]](vstop_bin)
    except TestFailure as e:
        print(f"FAIL: {e}")
        sys.exit(1)
    print("PASS")
    sys.exit(0)
