#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""What interop testing found: a driver that uses fewer queue pairs than the port offers,
a device state loaded before the rings exist (QEMU's order), a front end that reconnects
at once, a driver that lies about its rings, socket permissions.
The vu_fe front ends drive split rings, or packed ones with VSTOP_LAYOUT=packed (P1).
Usage: test_interop.py CASE"""
import grp
import os
import re
import signal
import stat
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_status as ts  # noqa: E402
from vu_fe import (DEVICE_STOPPED, NEEDS_RESET, RING_NUM, RUNNING, VhostUser,  # noqa: E402
                   VhostUserError)


def eq(what, got, want):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def flowing(vs, port, timeout=10):
    """Frames keep arriving on vstop port @port."""
    a = vs.stats()[port]["rx"]
    h.wait_for(lambda: vs.stats()[port]["rx"] > a + 100, timeout,
               what=f"traffic on vstop port {port}")


# ---- 1: fewer queue pairs than the port offers ----

def case_fewer_pairs():
    """testpmd sets up 1 pair on a port that offers 2: vstop polls only the rings that
    exist (no 'invalid virtqueue' flood), traffic flows, stop/resume and V1 work."""
    s0 = h.sock_path("fq", 0)
    vs = h.Vstop("fq", ["--vhost", f"{s0},queues=2", "--fwd", "loopback"])
    tp = h.Testpmd("fq", [s0], queues=1, fwd="io")
    tp.cmd("start tx_first", 1.0)
    flowing(vs, 0)
    for want in ("stop", "resume"):
        lines = vs.demo()
        if not lines or f" {want} rc=0" not in lines[0]:
            raise AssertionError(f"demo {want}: {lines}")
    flowing(vs, 0)
    tp.cmd("stop", 0.5)
    eq("testpmd quit", tp.quit(), 0)
    h.wait_for(lambda: vs.stats()[0]["connected"] == 0, 10, what="disconnect")
    log = vs.log()
    n = log.count("invalid virtqueue")
    if n:
        raise AssertionError(f"vstop touched a ring the driver never set up ({n} errors)")
    eq("vstop exit code", vs.end(), 0)


# ---- 2: device state loaded before the rings are set up ----

def case_state_first():
    """M2 in QEMU's order. Source: vstop io between testpmd (port 0) and a vu_fe device
    (port 1) that received 32 frames, then stopped and had 32 more held for it. The state
    goes to a destination whose front end loads it right after FEATURES_OK, before any
    memory or ring, and sets its rings up without SET_VRING_BASE: the device starts at
    the loaded positions and delivers the held frames after the 32 already used."""
    s0, s1 = h.sock_path("sf", 0), h.sock_path("sf", 1)
    src = h.Vstop("sf", ["--vhost", s0, "--vhost", s1, "--fwd", "io"])
    fe = VhostUser(s1)
    fe.bring_up()
    fe.post_rx_buffers(128)
    tp = h.Testpmd("sf", [s0], fwd="rxonly")
    h.wait_for(lambda: all(p["attached"] == 1 for p in src.stats().values()), 10,
               what="both devices attached")
    tp.cmd("start tx_first 1", 1.0)
    tp.cmd("stop", 0.3)
    h.wait_for(lambda: fe.used()[0] == 32, 10, what="32 frames delivered at the source")
    fe.set_status(RUNNING | DEVICE_STOPPED)
    ts.wait_status(fe, RUNNING | DEVICE_STOPPED)
    tp.cmd("start tx_first 1", 1.0)
    tp.cmd("stop", 0.3)
    h.wait_for(lambda: src.stats()[1]["held"] == 32, 10, what="32 frames held")
    blob, chk = ts.save_state(fe)
    eq("CHECK after save", chk, 0)

    dsock = h.sock_path("sfdst")
    dst = h.Vstop("sfdst", ["--vhost", dsock, "--fwd", "loopback"])
    fe2 = VhostUser(dsock)
    fe2.negotiate()
    fe2.init_status()
    eq("CHECK after a load before any ring exists", ts.load_state(fe2, blob), 0)
    # The guest's memory came along: its rings say 32, and nothing tells the device.
    fe2.setup_rings(base=None, mem_idx=32)
    fe2.post_rx_buffers(128)
    eq("DRIVER_OK ack", fe2.set_status(RUNNING), 0)
    ts.wait_status(fe2, RUNNING)
    h.wait_for(lambda: fe2.used()[0] == 64, 10,
               what="held frames delivered at the loaded position (used index 32 -> 64)")
    idx, elems = fe2.used()
    for i, (did, ln) in enumerate(elems[32:64]):
        frame = fe2.rx_frame(did, ln)
        eq(f"carried frame {i}", (len(frame), frame[12:14]), (64, b"\x08\x00"))
    if f"vq 0 starts at the loaded position {fe2.pos(32)}" not in dst.log():
        raise AssertionError("destination did not apply the loaded ring position")
    eq("destination tx: 32 carried in the state's counters + 32 delivered",
       dst.stats()[0]["tx"], 64)
    print(f"state of {len(blob)} bytes loaded before the rings; used index {idx}")
    tp.quit()


# ---- 3: a front end that reconnects at once ----

def case_reconnect():
    """A front end closes and reconnects at once, 20 times: every connection is served
    (none refused because vstop had not yet processed the previous close). A second front
    end that connects while the first is up is refused, and the first keeps working."""
    s0 = h.sock_path("rc")
    vs = h.Vstop("rc", ["--vhost", s0, "--fwd", "loopback"])
    fe = VhostUser(s0)
    fe.bring_up()
    for i in range(20):
        fe.close()
        fe = VhostUser(s0)
        try:
            fe.bring_up()
        except (VhostUserError, OSError) as e:
            raise AssertionError(f"reconnect {i + 1} of 20 refused: {e}")
    eq("status after 20 reconnects", fe.get_status(), RUNNING)
    other = VhostUser(s0)
    try:
        other.negotiate()
        raise AssertionError("a second front end was served while the first is up")
    except (VhostUserError, OSError):
        pass
    other.close()
    eq("the first front end is unaffected", fe.get_status(), RUNNING)
    h.wait_for(lambda: vs.stats()[0]["attached"] == 1, 5, what="first still attached")
    if "refusing a second front end" not in vs.log():
        raise AssertionError("the second front end was not refused by vstop")
    fe.close()
    eq("vstop exit code", vs.end(), 0)


# ---- 5: a driver that lies about its rings ----

def lying(how):
    """Port 0: a vu_fe device that lies; port 1: testpmd forwarding through vstop
    (loopback). The liar gets DEVICE_NEEDS_RESET and is stopped; port 1 never stops
    forwarding; vstop survives; a reset and a new connection bring port 0 back."""
    s0, s1 = h.sock_path("lie" + how, 0), h.sock_path("lie" + how, 1)
    vs = h.Vstop("lie" + how, ["--vhost", s0, "--vhost", s1, "--fwd", "loopback"])
    liar = VhostUser(s0)
    liar.bring_up()
    liar.post_rx_buffers(64)
    tp = h.Testpmd("lie" + how, [s1], fwd="io")
    tp.cmd("start tx_first", 1.0)
    flowing(vs, 1)
    # An honest start: frames go round the liar's rings.
    eq("frames posted", liar.send_frames(16), 16)
    h.wait_for(lambda: liar.used(0)[0] == 16, 10, what="honest frames looped back")
    eq("status before the lie", liar.get_status(), RUNNING)
    if how == "avail":
        liar.lie_avail(vq=1)
    elif how == "loop" and liar.packed:
        liar.lie_loop(vq=1)
        dropped_chain_goes_on(vs, liar, tp)
        return
    elif how == "loop":
        liar.lie_loop(vq=1)
    elif how == "oob":
        liar.lie_oob(vq=0)  # a receive buffer outside guest memory ...
    end = time.time() + 15
    while time.time() < end:
        if how == "oob":
            liar.send_frames(8)  # ... and frames that need it
        if liar.get_status() & NEEDS_RESET:
            break
        time.sleep(0.05)
    st = liar.get_status()
    eq("DEVICE_NEEDS_RESET shown", st, RUNNING | NEEDS_RESET)
    if "driver error" not in vs.log():
        raise AssertionError("vstop did not say why")
    flowing(vs, 1)
    eq("vstop alive", vs.alive(), True)
    eq("R10: the driver cannot clear it", liar.set_status(RUNNING) != 0, True)
    eq("reset ack", liar.set_status(0), 0)
    eq("status after reset", liar.get_status(), 0)
    liar.close()
    h.wait_for(lambda: vs.stats()[0]["connected"] == 0, 10, what="liar gone")
    honest = VhostUser(s0)
    honest.bring_up()
    honest.post_rx_buffers(64)
    eq("frames posted", honest.send_frames(16), 16)
    h.wait_for(lambda: honest.used(0)[0] == 16, 10, what="port 0 forwards again")
    flowing(vs, 1)
    line = [ln for ln in vs.log().splitlines() if "driver error" in ln][0]
    print(line)
    tp.cmd("stop", 0.3)
    tp.quit()
    honest.close()
    eq("vstop exit code", vs.end(), 0)


def dropped_chain_goes_on(vs, liar, tp):
    """Packed guest tx ring, a chain with NEXT on every descriptor of the ring (P1): a
    packed chain has no next field to loop with, it goes on while NEXT is set, so this is
    a chain longer than the ring. librte_vhost 22.11 does not leave it stuck as it does on
    a split ring: virtio_dev_tx_single_packed() returns the descriptors it walked as used
    even when fill_vec_buf_packed() gives up (desc_count > 0), so the frame is dropped and
    the ring goes on. No wedge, so no DEVICE_NEEDS_RESET either: the device keeps
    working, and so does the other port."""
    h.wait_for(lambda: liar.inflight(1) == 0, 10, what="the endless chain returned used")
    eq("tx ring position: the 16 frames and the whole-ring chain",
       liar.ring_pos(1), liar.pos(16 + RING_NUM))
    time.sleep(2.0)  # twice the health check's stuck period
    eq("status: the device is not broken", liar.get_status(), RUNNING)
    if "driver error" in vs.log():
        raise AssertionError("a dropped chain was taken for a wedged ring")
    eq("frames posted after the chain", liar.send_frames(16), 16)
    h.wait_for(lambda: liar.used(0)[0] == 32, 10, what="frames after the chain looped back")
    flowing(vs, 1)
    eq("the chain's frame was dropped, the others looped", vs.stats()[0]["rx"], 32)
    print(f"packed: a {RING_NUM}-descriptor chain dropped and returned used; "
          f"tx ring at {liar.ring_pos(1):#x}, frames flow on")
    tp.cmd("stop", 0.3)
    tp.quit()
    liar.close()
    eq("vstop exit code", vs.end(), 0)


def case_lie_avail():
    lying("avail")


def case_lie_loop():
    lying("loop")


def case_lie_oob():
    lying("oob")


# ---- 7: socket permissions ----

def other_group():
    """A group to give the socket: another one than ours when we may (root, or a
    supplementary group), else our own (the mode is still checked)."""
    mine = os.getgid()
    cands = [g.gr_gid for g in grp.getgrall()] if os.geteuid() == 0 else os.getgroups()
    for gid in cands:
        if gid != mine:
            return grp.getgrgid(gid).gr_name, gid
    return grp.getgrgid(mine).gr_name, mine


def case_socket_mode():
    """vhost-user server sockets are owner-only by default (0600); with --socket-group
    they are 0660 with that group, and a front end still connects; an unknown group is
    refused before anything starts (exit 2)."""
    s0 = h.sock_path("perm", 0)
    vs = h.Vstop("perm", ["--vhost", s0, "--fwd", "loopback"])
    st = os.stat(s0)
    eq("default socket mode", oct(stat.S_IMODE(st.st_mode)), oct(0o600))
    vs.end()
    name, gid = other_group()
    s1 = h.sock_path("perm", 1)
    vs = h.Vstop("permg", ["--vhost", s1, "--fwd", "loopback", "--socket-group", name])
    st = os.stat(s1)
    eq("socket mode with --socket-group", oct(stat.S_IMODE(st.st_mode)), oct(0o660))
    eq("socket group", st.st_gid, gid)
    fe = VhostUser(s1)
    fe.bring_up()
    eq("a front end connects", fe.get_status(), RUNNING)
    fe.close()
    vs.end()
    r = h.proclib.run([h.VSTOP, "--no-huge", "--", "--vhost", h.sock_path("perm", 2),
                       "--socket-group", "no-such-group-vstop"], timeout=30)
    eq("exit status for an unknown group", r.returncode, 2)
    if "no group 'no-such-group-vstop'" not in r.stdout:
        raise AssertionError(f"unclear message: {r.stdout!r}")
    print(f"0600 by default; 0660 group {name} ({gid}) with --socket-group")


if __name__ == "__main__":
    h.run(globals()[f"case_{sys.argv[1]}"])
