#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Traffic through vstop with dpdk-testpmd (net_virtio_user) as the front end.
Usage: [VSTOP_LAYOUT=split|packed] test_traffic.py CASE   (the virtqueue layout, rule P1)"""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

BURSTS = 16  # tx_first bursts of 32 frames per port
LAYOUTS = {"split": "", "packed": ",packed_vq=1"}
LAYOUT = os.environ.get("VSTOP_LAYOUT", "split")


def Testpmd(*args, **kw):
    """dpdk-testpmd's virtio_user ports in this run's ring layout."""
    return h.Testpmd(*args, vdev_args=LAYOUTS[LAYOUT], **kw)


def eq(what, got, want):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def settle(vs, tp, timeout=10):
    """Wait until vstop's counters stop moving; return (vstop stats, testpmd stats)."""
    prev = None
    end = time.time() + timeout
    while time.time() < end:
        cur = vs.stats()
        key = [(p["rx"], p["tx"]) for p in cur.values()]
        if key == prev:
            break
        prev = key
        time.sleep(0.5)
    return cur, tp.port_stats()


def check_paired(vs_st, tp_st, pairs):
    """Counters agree on both sides, for vstop port i <-> testpmd port i, i forwarded to
    pairs[i]: what testpmd sent on i vstop received on i, sent on pairs[i] (or counted as
    dropped there), and testpmd received exactly what vstop sent."""
    for i, j in pairs.items():
        sent = tp_st[i]["tx"]
        if sent == 0:
            raise AssertionError(f"testpmd sent nothing on port {i}")
        eq(f"vstop rx on port {i} = testpmd tx on port {i}", vs_st[i]["rx"], sent)
        eq(f"vstop rx on port {i} = tx + drop on port {j}",
           vs_st[i]["rx"], vs_st[j]["tx"] + vs_st[j]["drop"])
        eq(f"testpmd rx on port {j} = vstop tx on port {j}", tp_st[j]["rx"], vs_st[j]["tx"])
    print("agree:", {i: (tp_st[i]["tx"], vs_st[i]["rx"], vs_st[pairs[i]]["tx"],
                         tp_st[pairs[i]]["rx"]) for i in pairs})


def run_rxonly(vs, tp, bursts=BURSTS):
    tp.cmd(f"start tx_first {bursts}", 1.5)
    tp.cmd("stop", 0.5)
    return settle(vs, tp)


def case_io():
    """io: two vhost ports with 4 queue pairs each (in -m 256), two virtio_user ports."""
    s0, s1 = h.sock_path("io", 0), h.sock_path("io", 1)
    vs = h.Vstop("io", ["--vhost", f"{s0},queues=4", "--vhost", f"{s1},queues=4",
                        "--fwd", "io"], mem=256)
    tp = Testpmd("io", [s0, s1], queues=4, fwd="rxonly")
    vs_st, tp_st = run_rxonly(vs, tp)
    check_paired(vs_st, tp_st, {0: 1, 1: 0})
    tp.quit()


def port_mac(tp, port):
    start = len(tp.log())
    tp.cmd(f"show port info {port}")
    m = h.wait_for(lambda: re.search(r"MAC address: ([0-9A-Fa-f:]{17})", tp.log()[start:]),
                   10, what="MAC address")
    return m.group(1).upper()


def case_macswap():
    s0, s1 = h.sock_path("mac", 0), h.sock_path("mac", 1)
    vs = h.Vstop("mac", ["--vhost", s0, "--vhost", s1, "--fwd", "macswap"])
    tp = Testpmd("mac", [s0, s1], fwd="rxonly")
    mac0 = port_mac(tp, 0)
    tp.cmd("set verbose 1")
    start = len(tp.log())
    vs_st, tp_st = run_rxonly(vs, tp, 1)
    check_paired(vs_st, tp_st, {0: 1, 1: 0})
    # Frames port 0 sent (src = port 0's MAC) arrive on port 1 with src/dst swapped.
    rx1 = re.findall(r"port 1/queue 0: received \d+ packets\n\s+src=([0-9A-F:]{17}) - "
                     r"dst=([0-9A-F:]{17})", tp.log()[start:], re.I)
    if not rx1:
        raise AssertionError("no verbose rx line for port 1")
    eq("dst MAC of a frame from port 0 after macswap", rx1[0][1].upper(), mac0)
    tp.quit()


def case_loopback():
    s0 = h.sock_path("lb", 0)
    vs = h.Vstop("lb", ["--vhost", s0, "--fwd", "loopback"])
    tp = Testpmd("lb", [s0], fwd="rxonly")
    vs_st, tp_st = run_rxonly(vs, tp)
    check_paired(vs_st, tp_st, {0: 0})
    tp.quit()


def flowing(vs, port, timeout=5):
    """Frames keep arriving on vstop port @port."""
    a = vs.stats()[port]["rx"]
    h.wait_for(lambda: vs.stats()[port]["rx"] > a + 100, timeout,
               what=f"traffic on vstop port {port}")


def case_V1():
    """testpmd 'port close' stops the device through GET_VRING_BASE (V1): quiesced and
    detached before the connection goes; a new testpmd after 'quit' forwards again."""
    s0 = h.sock_path("v1", 0)
    vs = h.Vstop("v1", ["--vhost", s0, "--fwd", "loopback"])
    tp = Testpmd("v1", [s0], fwd="io")
    tp.cmd("start tx_first", 1.0)
    flowing(vs, 0)
    tp.cmd("stop", 0.5)
    tp.cmd("port stop 0", 0.5)
    tp.cmd("port close 0", 1.0)
    h.wait_for(lambda: "GET_VRING_BASE 1: device quiesced" in vs.log(), 10,
               what="GET_VRING_BASE handled")
    eq("attached after GET_VRING_BASE", vs.stats()[0]["attached"], 0)
    log = vs.log()
    q = log.index("GET_VRING_BASE 0: device quiesced")
    d = log.index("device detached")
    if not q < d or ("disconnected" in log and log.index("disconnected") < d):
        raise AssertionError("device not detached by GET_VRING_BASE before disconnect")
    eq("testpmd quit", tp.quit(), 0)
    h.wait_for(lambda: vs.stats()[0]["connected"] == 0, 10, what="disconnect")
    tp2 = Testpmd("v1b", [s0], fwd="io")
    tp2.cmd("start tx_first", 1.0)
    flowing(vs, 0)
    tp2.cmd("stop", 0.5)
    tp2.quit()
    eq("vstop exit code", vs.end(), 0)


def case_V4():
    """A front end SIGKILLed mid-traffic: the other port keeps forwarding, the device is
    freed, and a new front end forwards again."""
    s0, s1 = h.sock_path("v4", 0), h.sock_path("v4", 1)
    vs = h.Vstop("v4", ["--vhost", s0, "--vhost", s1, "--fwd", "loopback"])
    a = Testpmd("v4a", [s0], fwd="io")
    b = Testpmd("v4b", [s1], fwd="io")
    a.cmd("start tx_first", 0.5)
    b.cmd("start tx_first", 0.5)
    flowing(vs, 0)
    flowing(vs, 1)
    a.end(signal.SIGKILL)
    h.wait_for(lambda: vs.stats()[0]["attached"] == 0 and vs.stats()[0]["connected"] == 0,
               10, what="port 0 freed after SIGKILL")
    flowing(vs, 1)
    eq("vstop alive", vs.alive(), True)
    a2 = Testpmd("v4c", [s0], fwd="io")
    a2.cmd("start tx_first", 0.5)
    flowing(vs, 0)
    flowing(vs, 1)
    for t in (a2, b):
        t.cmd("stop", 0.3)
        t.quit()
    eq("vstop exit code", vs.end(), 0)


if __name__ == "__main__":
    h.run(globals()[f"case_{sys.argv[1]}"])
