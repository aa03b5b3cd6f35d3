#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Frames for a stopped device are held (bounded), delivered after resume, and carried in
the device state (M1). vstop forwards io between port 0 (testpmd, virtio_user) and port 1
(the small front end in vu_fe.py, which owns its rings: split, or packed with
VSTOP_LAYOUT=packed, P1).  Usage: test_held.py CASE"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_status as ts  # noqa: E402
from vu_fe import DEVICE_STOPPED, RUNNING, VhostUser  # noqa: E402


def eq(what, got, want):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def setup(name, hold):
    s0, s1 = h.sock_path(name, 0), h.sock_path(name, 1)
    vs = h.Vstop(name, ["--vhost", s0, "--vhost", s1, "--fwd", "io", "--hold", str(hold)])
    fe = VhostUser(s1)
    fe.bring_up()
    fe.post_rx_buffers(128)
    tp = h.Testpmd(name, [s0], fwd="rxonly")
    h.wait_for(lambda: all(p["attached"] == 1 for p in vs.stats().values()), 10,
               what="both devices attached")
    fe.set_status(RUNNING | DEVICE_STOPPED)
    ts.wait_status(fe, RUNNING | DEVICE_STOPPED)
    return vs, fe, tp


def send(vs, tp, bursts):
    tp.cmd(f"start tx_first {bursts}", 1.0)
    tp.cmd("stop", 0.3)
    sent = tp.port_stats()[0]["tx"]
    h.wait_for(lambda: vs.stats()[0]["rx"] == sent, 10, what="vstop received all")
    return sent


def case_resume():
    vs, fe, tp = setup("held", hold=32)
    sent = send(vs, tp, 2)
    eq("testpmd sent", sent, 64)
    st = vs.stats()[1]
    eq("held for the stopped device (bounded by --hold 32)", st["held"], 32)
    eq("dropped: buffer full", st["held_drop"], 32)
    time.sleep(0.2)
    eq("R8: used ring untouched while stopped", fe.used()[0], 0)
    eq("ack of resume", fe.set_status(RUNNING), 0)
    ts.wait_status(fe, RUNNING)
    h.wait_for(lambda: fe.used()[0] == 32, 5, what="held frames in the used ring")
    idx, elems = fe.used()
    for i, (did, ln) in enumerate(elems):
        frame = fe.rx_frame(did, ln)
        eq(f"frame {i}: 64-byte IPv4 from testpmd", (len(frame), frame[12:14]),
           (64, b"\x08\x00"))
    eq("receive ring position after the held frames", fe.ring_pos(0), fe.pos(32))
    st = vs.stats()[1]
    eq("delivered after resume", st["tx"], 32)
    print(f"held {st['held']}, dropped {st['held_drop']}, delivered {st['tx']}")
    tp.quit()


def case_migrate():
    vs, fe, tp = setup("hmig", hold=256)
    eq("testpmd sent", send(vs, tp, 1), 32)
    eq("held", vs.stats()[1]["held"], 32)
    blob, chk = ts.save_state(fe)
    eq("CHECK after save", chk, 0)
    if len(blob) < 32 * 64:
        raise AssertionError(f"state of {len(blob)} bytes cannot hold 32 frames")
    # Destination: a device with its own rings, stopped, loads the state and resumes.
    dsock = h.sock_path("hmigdst")
    dst = h.Vstop("hmigdst", ["--vhost", dsock, "--fwd", "loopback"])
    fe2 = VhostUser(dsock)
    fe2.bring_up()
    fe2.post_rx_buffers(128)
    fe2.set_status(RUNNING | DEVICE_STOPPED)
    ts.wait_status(fe2, RUNNING | DEVICE_STOPPED)
    eq("CHECK after load", ts.load_state(fe2, blob), 0)
    eq("nothing delivered before resume", fe2.used()[0], 0)
    fe2.set_status(RUNNING)
    ts.wait_status(fe2, RUNNING)
    h.wait_for(lambda: fe2.used()[0] == 32, 5, what="carried frames delivered")
    idx, elems = fe2.used()
    for i, (did, ln) in enumerate(elems):
        frame = fe2.rx_frame(did, ln)
        eq(f"frame {i}", (len(frame), frame[12:14]), (64, b"\x08\x00"))
    eq("destination receive ring position", fe2.ring_pos(0), fe2.pos(32))
    eq("destination tx counts the delivered frames", dst.stats()[0]["tx"], 32)
    print(f"state of {len(blob)} bytes carried 32 held frames")
    tp.quit()


if __name__ == "__main__":
    h.run(globals()[f"case_{sys.argv[1]}"])
