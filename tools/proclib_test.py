#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Self-test of tools/proclib.py (meson suite 'unit'): death is seen without reaping (the
child stays a zombie until reap()), exit codes and signals come through WNOWAIT, Popen
never reaps behind our back, end() escalates to SIGKILL, run() times out and reports."""
import gc
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proclib  # noqa: E402


def state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}")


def main():
    c = proclib.Child(["sh", "-c", "exit 3"])
    check(c.wait(10) == 3, "exit status 3 seen")
    check(state(c.pid) == "Z", "still a zombie after wait(): not reaped")
    subprocess.Popen(["true"]).wait()  # runs subprocess._cleanup(): must not reap ours
    gc.collect()
    check(state(c.pid) == "Z", "still a zombie after another Popen and gc")
    check(c.reap(10) and not os.path.exists(f"/proc/{c.pid}"), "reap() reaps it")
    check(c.poll() == 3, "exit status kept after the reap")

    c = proclib.Child(["sleep", "60"])
    check(c.poll() is None and c.alive(), "running child: poll() None")
    check(c.end(signal.SIGKILL, grace=10) == -signal.SIGKILL, "SIGKILL seen as -9")

    # exec: no grandchild left holding meson's output pipe after the SIGKILL
    c = proclib.Child(["sh", "-c", "trap '' TERM; exec sleep 60"])
    time.sleep(0.2)  # the trap is set
    t0 = time.monotonic()
    check(c.end(signal.SIGTERM, grace=1) == -signal.SIGKILL, "end(): SIGKILL after grace")
    check(time.monotonic() - t0 < 30, "end() bounded")

    try:
        proclib.run(["sh", "-c", "echo started; exec sleep 60"], timeout=1)
        check(False, "run() times out")
    except subprocess.TimeoutExpired as e:
        check("started" in (e.output or ""), "run() times out, with the output so far")
    r = proclib.run(["sh", "-c", "cat; echo err >&2; exit 4"], timeout=10, input=b"in\n")
    check((r.returncode, r.stdout) == (4, "in\nerr\n"), "run(): input, output, status")


if __name__ == "__main__":
    main()
