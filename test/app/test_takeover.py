#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Live upgrade (U1-U3): a new vstop started with --takeover CTL takes over every port of
the running one while vstop-fe (4 queue pairs, sequence-numbered frames, loopback) keeps
sending; vstop-fe must see nothing: no close, nothing lost, duplicated or reordered.

Usage: test_takeover.py CASE
  pingpong  VSTOP_TAKEOVERS (default 10; the soak: 100) takeovers A -> B -> A ...
  refused   the new vstop's ports differ: it refuses, the running one serves on (U2)
  killed    the new vstop dies after it replayed everything, before its ack (U2)
  second    a second takeover while one is under way is refused (U2)
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools"))
import proclib  # noqa: E402

FE = os.environ.get("VSTOP_FE", "build/tools/fe/vstop-fe")
QUEUES = 4
RATE = 100000
FRAMES = re.compile(r"frames: sent (\d+) received (\d+) lost (\d+) duplicated (\d+) "
                    r"reordered (\d+)")


class V(h.Proc):
    """A vstop with its own file prefix and, for a takeover, an environment."""
    n = 0

    def __init__(self, sock, ctl, takeover=False, queues=QUEUES, env=None, client=False):
        V.n += 1
        self.prefix = h.uniq(f"to{V.n}")
        spec = f"{sock},client,queues={queues}" if client else f"{sock},queues={queues}"
        cmd = [h.VSTOP, "--no-huge", "-m", "256", "--no-pci", "--file-prefix", self.prefix,
               "--lcores", h.LCORES, "--", "--vhost", spec,
               "--fwd", "loopback", "--idle-backoff-us", "100"]
        cmd += ["--takeover", ctl] if takeover else ["--ctl", ctl]
        fd_env = dict(os.environ, **(env or {}))
        import tempfile
        fd, self.logpath = tempfile.mkstemp(prefix=f"vst_to{V.n}_", suffix=".log")
        self.logf = os.fdopen(fd, "w")
        self.argv = cmd
        self.p = proclib.Child(cmd, stdout=self.logf, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, env=fd_env)
        h._procs.append(self)

    def wait_log(self, what, timeout=30):
        h.wait_for(lambda: what in self.log() or not self.alive(), timeout, what=what)
        if what not in self.log():
            self.dump()
            raise AssertionError(f"no '{what}' from {self.prefix}")

    def exit_code(self, timeout=30):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.prefix} did not exit within {timeout} s")


def fe_start(sock, duration):
    log = open(f"/tmp/{h.uniq('fe')}.log", "w+")
    p = proclib.Child([FE, "-s", sock, "-q", str(QUEUES), "-d", str(duration), "--rate",
                       str(RATE), "--drain", "20000", "--quiet"],
                      stdout=log, stderr=subprocess.STDOUT)
    p.logf = log
    return p


def fe_result(p, timeout):
    try:
        rc = p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.end(signal.SIGKILL)
        raise AssertionError("vstop-fe did not finish")
    p.logf.flush()
    out = open(p.logf.name).read()
    print(out)
    m = FRAMES.search(out)
    if rc != 0 or m is None:
        raise AssertionError(f"vstop-fe failed (exit {rc}):\n{out}")
    sent, rcvd, lost, dup, reord = map(int, m.groups())
    if lost or dup or reord or sent != rcvd or sent == 0:
        raise AssertionError(f"frames: {m.group(0)}")
    if "closed the connection" in out or out.count("connected to") > 1:
        raise AssertionError("vstop-fe saw a disconnect")
    return sent, out


def final_rx(v):
    """The rx counter of port 0 in the last stats block a vstop printed."""
    return h.parse_stats(v.log())[0]["rx"]


def takeover(cur, sock, ctl, i, **kw):
    nxt = V(sock, ctl, takeover=True, **kw)
    nxt.wait_log("takeover done", 40)
    rc = cur.exit_code(30)
    if rc != 0:
        cur.dump()
        raise AssertionError(f"takeover {i}: the old vstop exited {rc}, not 0")
    log = cur.log()
    if "stats begin (exit)" not in log or "handed over" not in log:
        cur.dump()
        raise AssertionError(f"takeover {i}: no final statistics / outcome in the old log")
    m = re.search(r"takeover done ports=(\d+) total_ms=([\d.]+) handover_ms=([\d.]+)",
                  nxt.log())
    print(f"takeover {i}: {m.group(0)}", flush=True)
    return nxt, float(m.group(3))


def setup(name):
    sock, ctl = h.sock_path(name, 0), h.sock_path(name, 1)
    a = V(sock, ctl)
    a.wait_log("vstop ready")
    return sock, ctl, a


def case_pingpong():
    n = int(os.environ.get("VSTOP_TAKEOVERS", "10"))
    sock, ctl, cur = setup("topp")
    fe = fe_start(sock, 6 + 4 * n)
    time.sleep(2)
    t0 = time.time()
    times = []
    for i in range(n):
        cur, ms = takeover(cur, sock, ctl, i)
        times.append(ms)
        # the new one serves the control socket where the old one did
        out = subprocess.run([sys.executable, os.path.join(os.path.dirname(h.__file__), "..",
                                                           "..", "tools", "vstopctl"),
                              "-s", ctl, "--json", "show", "port", "info", "0"],
                             capture_output=True, text=True, timeout=20) if i == 0 else None
        if out is not None and '"ok":true' not in out.stdout.replace(" ", ""):
            raise AssertionError(f"control socket after the takeover: {out.stdout}"
                                 f"{out.stderr}")
        time.sleep(0.3)
    took = time.time() - t0
    if took > 4 * n + 4:
        raise AssertionError(f"{n} takeovers took {took:.0f} s: vstop-fe stopped first")
    sent, out = fe_result(fe, 4 * n + 60)
    cur.kill_sig(signal.SIGUSR1)
    h.wait_for(lambda: "stats end" in cur.log(), 10, what="stats")
    rx = final_rx(cur)
    if rx != sent:
        raise AssertionError(f"U3 counters continue: last vstop counted rx={rx}, "
                             f"vstop-fe sent {sent}")
    times.sort()
    gap = re.search(r"max gap between frames: ([\d.]+) ms", out).group(1)
    print(f"U1 U3: {n} takeovers, {sent} frames, lost 0 duplicated 0 reordered 0, "
          f"handover median {times[len(times) // 2]:.3f} ms max {times[-1]:.3f} ms, "
          f"vstop-fe max receive gap {gap} ms")


def case_refused():
    sock, ctl, a = setup("toref")
    fe = fe_start(sock, 8)
    time.sleep(1.5)
    b = V(sock, ctl, takeover=True, queues=2)
    rc = b.exit_code(40)
    if rc == 0 or "takeover refused: port 0 differs" not in b.log():
        b.dump()
        raise AssertionError(f"the mismatched vstop: exit {rc}, no clear refusal")
    if not a.alive() or "takeover: failed: the new vstop refused" not in a.log():
        a.dump()
        raise AssertionError("the running vstop did not log the refusal / died")
    fe_result(fe, 60)
    if not a.alive():
        raise AssertionError("the running vstop died")
    print("U2: refused (ports differ), the running vstop served on, nothing lost")


def case_killed():
    sock, ctl, a = setup("tokill")
    fe = fe_start(sock, 12)
    time.sleep(1.5)
    b = V(sock, ctl, takeover=True, env={"VSTOP_TAKEOVER_FAULT": "die-before-ack"})
    rc = b.exit_code(40)
    if rc != -signal.SIGKILL:
        b.dump()
        raise AssertionError(f"the new vstop should have been killed, exit {rc}")
    h.wait_for(lambda: "every device resumed here" in a.log(), 20, what="A resumes")
    if not a.alive():
        raise AssertionError("the running vstop died")
    # A can still hand over afterwards
    time.sleep(1)
    c, _ = takeover(a, sock, ctl, 1)
    fe_result(fe, 60)
    print("U2: the new vstop killed before its ack: the running one resumed, nothing "
          "lost; a takeover afterwards succeeded")


def case_second():
    sock, ctl, a = setup("to2nd")
    fe = fe_start(sock, 14)
    time.sleep(1.5)
    b1 = V(sock, ctl, takeover=True, env={"VSTOP_TAKEOVER_FAULT": "delay-ready:4000"})
    a.wait_log("a new vstop asks for the ports", 30)
    b2 = V(sock, ctl, takeover=True)
    rc = b2.exit_code(40)
    if rc == 0 or "one is under way" not in b2.log():
        b2.dump()
        raise AssertionError(f"second takeover: exit {rc}, not refused")
    b1.wait_log("takeover done", 40)
    if a.exit_code(30) != 0:
        raise AssertionError("the old vstop did not exit 0")
    fe_result(fe, 60)
    print("U2: a second takeover was refused while one was under way; the first succeeded")


def testpmd_case(server):
    """testpmd's virtio_user drives the device (io forwarding, frames injected once go
    round and round through vstop's loopback); two takeovers; the frames keep going round
    and testpmd's port never goes down."""
    name = "totps" if server else "totpc"
    sock, ctl = h.sock_path(name, 0), h.sock_path(name, 1)
    q = 2
    if server:  # testpmd listens (server=1), vstop connects (client port, retrying)
        cur = V(sock, ctl, queues=q, client=True)
        cur.wait_log("vstop ready")
        tp = h.Testpmd(name, [sock], queues=q, fwd="io", vdev_args=",server=1")
    else:
        cur = V(sock, ctl, queues=q)
        cur.wait_log("vstop ready")
        tp = h.Testpmd(name, [sock], queues=q, fwd="io")
    cur.wait_log("device ready", 30)
    tp.cmd("start tx_first", 1.0)

    def moving(timeout=10):
        a = tp.port_stats()[0]["rx"]
        h.wait_for(lambda: tp.port_stats()[0]["rx"] > a + 1000, timeout,
                   what="frames going round")
    moving()
    for i in range(2):
        cur, ms = takeover(cur, sock, ctl, i, queues=q, client=server)
        moving()
    log = tp.log()
    for bad in ("Link status changed", "disconnect", "Port 0: link state change"):
        if bad.lower() in log.lower():
            tp.dump()
            raise AssertionError(f"testpmd noticed: '{bad}'")
    tp.cmd("stop", 0.5)
    tp.quit()
    print(f"U3: testpmd virtio_user ({'server=1' if server else 'client'}): traffic "
          "continued across 2 takeovers, no link change")


def case_testpmd_client():
    testpmd_case(False)


def case_testpmd_server():
    testpmd_case(True)


if __name__ == "__main__":
    case = sys.argv[1] if len(sys.argv) > 1 else "pingpong"
    h.run(globals()[f"case_{case}"])
