# SPDX-License-Identifier: BSD-3-Clause
"""Child processes for every harness (test/app, test/console, test/fault, test/fe,
tools/soak, tools/bench): start them, see that one died, end one by PID, reap it.

Why not subprocess.Popen.poll()/wait(): both reap (wait4), and reaping a dead
multi-threaded DPDK process can spin in the kernel for tens of seconds (release_task ->
proc_invalidate_siblings_dcache -> d_invalidate -> shrink_dcache_parent waits for
/proc dentries another task is still killing; docs/reliability.rst, "Reaping a killed
DPDK process"). That wait4 cannot time out, so a test blocked in it hangs until meson's
timeout. Here:

* death is seen with waitid(WEXITED | WNOWAIT | WNOHANG): it reports a zombie, and its
  exit status, without reaping it;
* reaping happens in a daemon thread, and whoever asks for it waits a bounded time: if
  the kernel is stuck, a clear line says so and the caller goes on (the thread finishes
  the reap when the kernel lets it, or the process exits without waiting for it);
* Popen is used only to start the process (pipes, sessions, exec errors): its
  returncode is set at once so that neither its __del__ nor subprocess._cleanup() ever
  calls waitpid on the child behind our back.

Usage (import: sys.path has the directory of this file; see each harness):
    c = proclib.Child(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.PIPE)
    c.poll()      # None while running, else the exit code (-N: killed by signal N)
    c.wait(10)    # the exit code; raises subprocess.TimeoutExpired after 10 s
    c.end()       # SIGTERM, SIGKILL after a grace time, bounded reap; the exit code
    proclib.run(argv, timeout=60)   # like subprocess.run(..., stdout=PIPE, text=True)
"""
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

# How long a caller waits for a reap before it reports a stuck kernel and goes on.
REAP_S = float(os.environ.get("VSTOP_REAP_S", "10"))

_reapers = {}  # pid -> reaper thread
_lock = threading.Lock()


def say(msg):
    print(f"proclib: {msg}", file=sys.stderr, flush=True)


def status(pid):
    """Exit code of our child @pid if it has died, without reaping it; None while it
    runs. Popen's convention: the exit status, or -N if signal N ended it."""
    # ChildProcessError if it is not our child (any more): a bug in the caller.
    r = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
    if r is None:
        return None
    return r.si_status if r.si_code == os.CLD_EXITED else -r.si_status


def _reap(pid):
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def reap(pid, timeout=REAP_S):
    """Reap our dead child @pid in a daemon thread; wait for it at most @timeout s.
    @return True if reaped. Call only once status(pid) is not None: the thread blocks."""
    with _lock:
        t = _reapers.get(pid)
        if t is None:
            t = threading.Thread(target=_reap, args=(pid,), name=f"reap-{pid}", daemon=True)
            _reapers[pid] = t
            t.start()
    t.join(timeout)
    if t.is_alive():
        say(f"pid {pid} could not be reaped in {timeout:g} s (kernel stuck in "
            f"release_task; docs/reliability.rst); going on without it")
        return False
    return True


def signal_pid(pid, sig):
    """Send @sig to @pid; False if it is gone."""
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


class Child:
    """One child process. Attributes: pid, argv, stdin (a pipe if stdin=PIPE), stdout
    (a pipe if stdout=PIPE), returncode (None until its death is seen). Keyword
    arguments are Popen's (stdin, stdout, stderr, start_new_session, env, cwd, ...)."""

    def __init__(self, argv, **kw):
        self.argv = [str(a) for a in argv]
        p = subprocess.Popen(self.argv, **kw)
        # From here on Popen must never wait for it (see the module's doc).
        p.returncode = "owned by proclib"
        self.pid = p.pid
        self.stdin, self.stdout = p.stdin, p.stdout
        self.returncode = None
        self.reaped = False

    @classmethod
    def adopt(cls, pid, argv=()):
        """Watch a child started some other way (pty.fork)."""
        c = cls.__new__(cls)
        c.argv, c.pid, c.stdin, c.stdout = list(argv), pid, None, None
        c.returncode, c.reaped = None, False
        return c

    def poll(self):
        """The exit code once dead (never reaps), else None."""
        if self.returncode is None:
            self.returncode = status(self.pid)
        return self.returncode

    def alive(self):
        return self.poll() is None

    def wait(self, timeout=None, step=0.02):
        """Wait until it dies (without reaping); its exit code. Raises
        subprocess.TimeoutExpired after @timeout s (None: no limit)."""
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() >= end:
                raise subprocess.TimeoutExpired(self.argv, timeout)
            time.sleep(step)
        return self.returncode

    def send_signal(self, sig):
        """Signal it if it has not died (a dead, unreaped pid is still ours: no reuse)."""
        if self.poll() is None:
            signal_pid(self.pid, sig)

    def terminate(self):
        self.send_signal(signal.SIGTERM)

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def reap(self, timeout=REAP_S):
        """Bounded reap once it is dead (see reap()); True if reaped."""
        if not self.reaped and self.poll() is not None:
            self.reaped = reap(self.pid, timeout)
        return self.reaped

    def end(self, sig=signal.SIGTERM, grace=15.0, reap_timeout=REAP_S):
        """End it: @sig (None: none, it was asked to leave already), then SIGKILL if it
        is still running after @grace s; then a bounded reap. Its exit code (None only
        if even SIGKILL did not end it within @grace s, which is reported)."""
        if self.poll() is None:
            if sig is not None:
                self.send_signal(sig)
            try:
                self.wait(grace)
            except subprocess.TimeoutExpired:
                if sig != signal.SIGKILL:
                    say(f"pid {self.pid} still running {grace:g} s after "
                        f"{'signal %d' % sig if sig else 'its end was asked'}: SIGKILL")
                self.kill()
                try:
                    self.wait(grace)
                except subprocess.TimeoutExpired:
                    say(f"pid {self.pid} still not dead {grace:g} s after SIGKILL")
                    return None
        self.reap(reap_timeout)
        for f in (self.stdin, self.stdout):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass
        return self.returncode


class Result:
    def __init__(self, args, returncode, stdout):
        self.args, self.returncode, self.stdout = args, returncode, stdout


def run(argv, timeout=None, input=None, stderr=subprocess.STDOUT, **kw):
    """Run @argv to its end, like subprocess.run(..., stdout=PIPE, stderr=STDOUT,
    text=True) but with a non-reaping wait and a bounded reap (@stderr: where its stderr
    goes, with stdout by default). Its stdin is @input
    (bytes) or /dev/null. Input and output go through temporary files (no pipe to feed
    or drain while waiting). Raises subprocess.TimeoutExpired (with .output) after
    @timeout s, once the child is killed."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as inp:
        stdin = subprocess.DEVNULL
        if input is not None:
            inp.write(input)
            inp.seek(0)
            stdin = inp
        c = Child(argv, stdin=stdin, stdout=out, stderr=stderr, **kw)
        try:
            c.wait(timeout)
        except subprocess.TimeoutExpired as e:
            c.end(signal.SIGKILL, grace=5)
            out.seek(0)
            e.output = out.read().decode(errors="replace")
            raise
        c.reap()
        out.seek(0)
        return Result(c.argv, c.returncode, out.read().decode(errors="replace"))
