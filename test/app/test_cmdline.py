#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Bad command lines: each prints its error and exits 2 (nothing is left behind)."""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

LONG = "/tmp/" + "x" * 120

# (application options, what the message must say)
APP_CASES = [
    (["--bogus"], "unknown option '--bogus'"),
    (["--fwd"], "needs an argument"),
    (["--fwd", "mirror"], "--fwd: unknown mode 'mirror'"),
    (["--burst", "0"], "--burst: expected an integer in 1..512"),
    (["--burst", "12x"], "--burst: expected an integer"),
    (["--burst", "-3"], "--burst: expected an integer"),
    (["--stop-timeout-ms", "0"], "--stop-timeout-ms: expected an integer"),
    (["--mbufs", "10"], "--mbufs: expected an integer"),
    (["--hold", "5000"], "--hold: expected an integer"),
    (["--idle-backoff-us", "x"], "--idle-backoff-us: expected an integer"),
    (["--vhost", ",queues=2"], "--vhost: missing socket path"),
    (["--vhost", "/tmp/a.sock,queues=0"], "--vhost: queues must be 1..64"),
    (["--vhost", "/tmp/a.sock,queues=65"], "--vhost: queues must be 1..64"),
    (["--vhost", "/tmp/a.sock,color=red"], "--vhost: unknown parameter 'color=red'"),
    (["--vhost", LONG], "longer than 107 bytes"),
    (["--vhost", "/tmp/a.sock", "--vhost", "/tmp/a.sock"], "given twice"),
    (["--lcore-map", "0.0"], "is not PORT.QUEUE@LCORE"),
    (["--lcore-map", "a.0@1"], "bad numbers"),
    (["extra"], "unexpected argument 'extra'"),
]


def check(argv, want, what):
    r = h.proclib.run(argv, timeout=60)
    out = r.stdout
    if r.returncode != 2:
        raise AssertionError(f"{what}: exit {r.returncode}, want 2\n{out}")
    if want not in out:
        raise AssertionError(f"{what}: message lacks {want!r}\n{out}")
    print(f"ok: {what}: exit 2, '{want}'")


def test():
    for args, want in APP_CASES:
        check([h.VSTOP, "--", *args], want, " ".join(args))
    # Errors found once the EAL has run: still exit 2, before any port is created.
    prefix = h.uniq("cmdline")
    eal = [h.VSTOP, "--no-huge", "-m", "64", "--no-pci", "--file-prefix", prefix]
    sock = h.sock_path("cmdline")
    check([*eal, "--lcores", h.LCORES, "--", "--fwd", "io"], "no port", "no port")
    check([*eal, "--lcores", "0@0", "--", "--vhost", sock], "needs 2..", "one lcore")
    check([*eal, "--lcores", h.LCORES, "--", "--vhost", sock, "--lcore-map", "0.0@0"],
          "not a worker lcore", "lcore-map on the main lcore")
    check([*eal, "--lcores", h.LCORES, "--", "--vhost", sock, "--lcore-map", "0.3@1"],
          "no queue 3 on port 0", "lcore-map on a missing queue")
    check([*eal, "--lcores", h.LCORES, "--bogus-eal", "--", "--vhost", sock],
          "EAL initialisation failed", "bad EAL option")
    shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)
    if os.path.exists(sock):
        raise AssertionError("a socket was created by a refused command line")
    # Help is not an error.
    r = h.proclib.run([h.VSTOP, "--", "--help"], timeout=60)
    if r.returncode != 0 or "--vhost PATH" not in r.stdout:
        raise AssertionError(f"--help: exit {r.returncode}\n{r.stdout}")


if __name__ == "__main__":
    h.run(test)
