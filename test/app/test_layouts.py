#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""P1: the stop contract on both ring layouts, with dpdk-testpmd's virtio_user as the
front end (split, packed_vq=1, packed_vq=1 + in_order=1).

One run: traffic (no false DEVICE_NEEDS_RESET for an honest driver, the counters of both
sides agree), an orchestrator stop mid-traffic over the control socket (R4: the rings are
not read while stopped; the device state is saved and records the layout), a resume (R9:
traffic goes on where it stopped), then 'port close' (V1: GET_VRING_BASE quiesces) and a
new front end on the same socket (V3: the rings start again).
Case 'cross': a device state saved from a packed device is refused by a split one (and
the other way round) with a clear error, and the refusing device is left as it was (M3).
Usage: test_layouts.py split|packed|packed_in_order|cross"""
import json
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

LAYOUTS = {"split": "", "packed": ",packed_vq=1", "packed_in_order": ",packed_vq=1,in_order=1"}
F_RING_PACKED = 34


def eq(what, got, want):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def ctl(path, line, timeout=10, ok=True):
    """One control-socket command, its JSON answer (which must say ok, if @ok)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall((line + "\n").encode())
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    ans = json.loads(buf)
    if ok and not ans.get("ok"):
        raise AssertionError(f"'{line}': {ans.get('error')}")
    return ans


def flowing(vs, timeout=10, port=0):
    a = vs.stats()[port]["rx"]
    h.wait_for(lambda: vs.stats()[port]["rx"] > a + 100, timeout,
               what=f"traffic on port {port}")


def settle(vs, timeout=10):
    prev, end = None, time.time() + timeout
    while time.time() < end:
        st = vs.stats()[0]
        if (st["rx"], st["tx"]) == prev:
            return st
        prev = (st["rx"], st["tx"])
        time.sleep(0.5)
    raise AssertionError("vstop's counters never settled")


def run(layout):
    sock = h.sock_path("lay_" + layout)
    ctl_path = f"/tmp/{h.uniq('lay')}.ctl"
    h._socks.append(ctl_path)
    vs = h.Vstop("lay", ["--vhost", sock, "--fwd", "loopback", "--ctl", ctl_path])
    tp = h.Testpmd("lay", [sock], fwd="io", vdev_args=LAYOUTS[layout])
    tp.cmd("start tx_first", 1.0)
    flowing(vs)
    features = ctl(ctl_path, "show device status 0")["features"]
    features = int(features, 0) if isinstance(features, str) else features
    eq("ring layout negotiated (bit 34)", (features >> F_RING_PACKED) & 1,
       int(layout != "split"))

    # Orchestrator stop mid-traffic (R4, R5, R6), save (M1), resume (R9).
    ans = ctl(ctl_path, "device stop 0")
    if "DEVICE_STOPPED" not in json.dumps(ans):
        raise AssertionError(f"device stop: {ans}")
    rx0 = vs.stats()[0]["rx"]
    time.sleep(0.5)
    eq("frames read while stopped (R4)", vs.stats()[0]["rx"] - rx0, 0)
    with tempfile.NamedTemporaryFile(prefix="vst_lay_", suffix=".bin") as f:
        ctl(ctl_path, f"device save 0 {f.name}")
        if os.path.getsize(f.name) == 0:
            raise AssertionError("empty device state")
    ctl(ctl_path, "device resume 0")
    flowing(vs)

    # Stop sending, then let testpmd take what is still in its receive ring.
    tp.cmd("stop", 0.5)
    tp.cmd("set fwd rxonly", 0.2)
    tp.cmd("start", 1.0)
    st = settle(vs)
    tp.cmd("stop", 0.5)
    tps = tp.port_stats()[0]
    eq("vstop rx = testpmd tx", st["rx"], tps["tx"])
    eq("testpmd rx = vstop tx", tps["rx"], st["tx"])
    eq("vstop rx = tx + drop (loopback)", st["rx"], st["tx"] + st["drop"])
    eq("stops", st["stops"], 1)
    eq("resumes", st["resumes"], 1)

    # V1: 'port close' stops through GET_VRING_BASE; V3: a new front end runs again.
    tp.cmd("port stop 0", 0.5)
    tp.cmd("port close 0", 1.0)
    h.wait_for(lambda: "GET_VRING_BASE 1: device quiesced" in vs.log(), 10,
               what="GET_VRING_BASE handled")
    eq("attached after GET_VRING_BASE", vs.stats()[0]["attached"], 0)
    tp.quit()
    h.wait_for(lambda: vs.stats()[0]["connected"] == 0, 10, what="disconnect")
    tp2 = h.Testpmd("lay2", [sock], fwd="io", vdev_args=LAYOUTS[layout])
    tp2.cmd("start tx_first", 1.0)
    flowing(vs)
    tp2.cmd("stop", 0.5)
    tp2.quit()
    if "driver error" in vs.log() or "NEEDS_RESET" in vs.log():
        raise AssertionError("an honest driver was called broken")
    eq("vstop exit code", vs.end(), 0)
    print(f"ok: {layout}: {st['rx']} frames looped, stop/save/resume, close and reconnect")


def cross():
    s0, s1 = h.sock_path("lay_x", 0), h.sock_path("lay_x", 1)
    ctl_path = f"/tmp/{h.uniq('layx')}.ctl"
    h._socks.append(ctl_path)
    vs = h.Vstop("layx", ["--vhost", s0, "--vhost", s1, "--fwd", "loopback",
                          "--ctl", ctl_path])
    tps = [h.Testpmd("layx0", [s0], fwd="io", vdev_args=LAYOUTS["packed"]),
           h.Testpmd("layx1", [s1], fwd="io")]
    for t in tps:
        t.cmd("start tx_first", 1.0)
    for port in (0, 1):
        flowing(vs, port=port)
        ctl(ctl_path, f"device stop {port}")
    with tempfile.TemporaryDirectory(prefix="vst_layx_") as d:
        for port in (0, 1):
            ctl(ctl_path, f"device save {port} {d}/{port}.bin")
        for src, dst, words in ((0, 1, "packed virtqueues, the driver negotiated split"),
                                (1, 0, "split virtqueues, the driver negotiated packed")):
            before = ctl(ctl_path, f"show device status {dst}")
            ans = ctl(ctl_path, f"device load {dst} {d}/{src}.bin", ok=False)
            if ans.get("ok") or words not in ans.get("error", ""):
                raise AssertionError(f"load of port {src}'s state into port {dst}: {ans}")
            eq(f"port {dst} after the refused load (M3)",
               ctl(ctl_path, f"show device status {dst}"), before)
        # Each device's own state still loads.
        for port in (0, 1):
            ctl(ctl_path, f"device load {port} {d}/{port}.bin")
    for port in (0, 1):
        ctl(ctl_path, f"device resume {port}")
        flowing(vs, port=port)
    for t in tps:
        t.cmd("stop", 0.3)
        t.quit()
    eq("vstop exit code", vs.end(), 0)
    print("ok: a packed device's state refused by a split device and back, both unchanged")


if __name__ == "__main__":
    h.run(cross if sys.argv[1] == "cross" else lambda: run(sys.argv[1]))
