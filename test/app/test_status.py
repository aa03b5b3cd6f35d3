#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Status rules (R*, S*, V5, V1) and device state (M2, M3) over a real vhost-user socket,
with the small front end in vu_fe.py.  Usage: test_status.py CASE
Ring layout (P1): split, or packed with VSTOP_LAYOUT=packed (vu_fe.py); the meson names
say which (app_split_*, app_packed_*). Ring positions are compared in GET_VRING_BASE's
encoding, fe.pos(n): split an index, packed bits 0-14 index and bit 15 wrap counter."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from vu_fe import (DEVICE_STOPPED, DRIVER_OK, F_DEVICE_STOP, F_RING_PACKED,  # noqa: E402
                   F_SUSPEND, INIT, PF_DEVICE_STATE, RING_NUM, RUNNING, SUSPEND, VhostUser)

F_LOG_ALL = 26
PF_LOG_SHMFD = 1
PF_STATUS = 16
PF_REPLY_ACK = 3


def start(name):
    sock = h.sock_path(name)
    vs = h.Vstop(name, ["--vhost", sock, "--fwd", "loopback"])
    return vs, sock


def wait_status(fe, want, timeout=3.0):
    """R6: the driver polls until the status shows what it asked for."""
    seen = []

    def ok():
        s = fe.get_status()
        seen.append(s)
        return s == want
    try:
        h.wait_for(ok, timeout, step=0.01, what=f"status {want:#x}")
    except AssertionError:
        raise AssertionError(f"status never became {want:#x}; last reads "
                             f"{[hex(s) for s in seen[-5:]]}")
    return seen


def eq(what, got, want):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def case_R1():
    vs, sock = start("r1")
    fe = VhostUser(sock)
    offered, poffered = fe.negotiate(stop=False, suspend=False)
    eq("VIRTIO_F_DEVICE_STOP (42) offered", (offered >> F_DEVICE_STOP) & 1, 1)
    eq("VIRTIO_F_SUSPEND (43) offered", (offered >> F_SUSPEND) & 1, 1)
    eq("VHOST_F_LOG_ALL offered (V6)", (offered >> F_LOG_ALL) & 1, 1)
    eq("protocol LOG_SHMFD offered (V6)", (poffered >> PF_LOG_SHMFD) & 1, 1)
    eq("VIRTIO_F_RING_PACKED (34) negotiated as asked (P1)",
       (fe.features >> F_RING_PACKED) & 1, int(fe.packed))
    for b in (PF_STATUS, PF_REPLY_ACK, PF_DEVICE_STATE):
        eq(f"protocol feature {b} offered", (poffered >> b) & 1, 1)
    fe.init_status()
    fe.setup_rings()
    eq("DRIVER_OK ack", fe.set_status(RUNNING), 0)
    # Not negotiated: DEVICE_STOPPED (0x20) is ignored.
    eq("ack of DEVICE_STOPPED write", fe.set_status(RUNNING | DEVICE_STOPPED), 0)
    time.sleep(0.3)
    eq("status", fe.get_status(), RUNNING)
    eq("stops", vs.stats()[0]["stops"], 0)
    fe.close()
    h.wait_for(lambda: vs.stats()[0]["connected"] == 0, 5, what="disconnect")
    # Negotiated: the same write stops the device and 0x20 shows.
    fe = VhostUser(sock)
    fe.bring_up()
    eq("ack", fe.set_status(RUNNING | DEVICE_STOPPED), 0)
    wait_status(fe, RUNNING | 0x20)
    eq("stops", vs.stats()[0]["stops"], 1)


def case_R2():
    vs, sock = start("r2")
    fe = VhostUser(sock)
    fe.bring_up()
    fe.set_status(RUNNING | DEVICE_STOPPED)
    wait_status(fe, RUNNING | DEVICE_STOPPED)
    eq("ack of reset", fe.set_status(0), 0)
    eq("status after reset", fe.get_status(), 0)
    fe.init_status()
    eq("ack", fe.set_status(RUNNING), 0)
    eq("status after re-init: the stop is forgotten", fe.get_status(), RUNNING)
    # A disconnect is a reset too.
    fe.set_status(RUNNING | DEVICE_STOPPED)
    wait_status(fe, RUNNING | DEVICE_STOPPED)
    fe.close()
    h.wait_for(lambda: vs.stats()[0]["connected"] == 0, 5, what="disconnect")
    fe = VhostUser(sock)
    eq("status after reconnect", fe.get_status(), 0)
    st = vs.stats()[0]
    if st["resets"] < 2:
        raise AssertionError(f"resets {st['resets']}, want >= 2")


def case_R3():
    vs, sock = start("r3")
    fe = VhostUser(sock)
    fe.negotiate()
    fe.init_status()
    eq("ack", fe.set_status(INIT | DEVICE_STOPPED), 0)
    time.sleep(0.3)
    eq("status: no DRIVER_OK, DEVICE_STOPPED ignored", fe.get_status(), INIT)
    fe.setup_rings()
    eq("ack", fe.set_status(RUNNING), 0)
    eq("status", fe.get_status(), RUNNING)
    eq("stops", vs.stats()[0]["stops"], 0)


def case_R6():
    vs, sock = start("r6")
    fe = VhostUser(sock)
    fe.bring_up()
    h.wait_for(lambda: vs.stats()[0]["attached"] == 1, 5, what="device attached")
    eq("ack", fe.set_status(RUNNING | DEVICE_STOPPED), 0)
    reads = wait_status(fe, RUNNING | DEVICE_STOPPED)
    # Every read before the bit showed returned the status without it.
    for s in reads[:-1]:
        eq("read before the stop completed", s, RUNNING)
    st = vs.stats()[0]
    eq("engine state when the bit shows", st["state"], "stopped")
    eq("stops", st["stops"], 1)
    if st["last_stop_ns"] <= 0:
        raise AssertionError("no stop latency measured")
    print(f"stop latency {st['last_stop_ns']} ns, {st['last_stop_iters']} iterations, "
          f"{len(reads)} status reads")


def case_R9():
    vs, sock = start("r9")
    fe = VhostUser(sock)
    fe.bring_up()
    fe.set_status(RUNNING | DEVICE_STOPPED)
    wait_status(fe, RUNNING | DEVICE_STOPPED)
    eq("ack of resume", fe.set_status(RUNNING), 0)
    wait_status(fe, RUNNING)
    st = vs.stats()[0]
    eq("state", st["state"], "running")
    eq("resumes", st["resumes"], 1)
    eq("attached", st["attached"], 1)


def case_R10():
    vs, sock = start("r10")
    fe = VhostUser(sock)
    fe.bring_up()
    ack = fe.set_status(INIT)  # clears DRIVER_OK: a driver error
    if ack == 0:
        raise AssertionError("a write clearing DRIVER_OK was acked 0")
    eq("connection still up", fe.alive(), True)
    eq("status unchanged", fe.get_status(), RUNNING)
    # Without NEED_REPLY nothing can be answered: still refused, connection still up.
    fe.set_status(0x1, need_reply=False)
    eq("connection still up", fe.alive(), True)
    eq("status unchanged", fe.get_status(), RUNNING)
    eq("refused count", vs.stats()[0]["refused"], 2)
    # The device still works: a stop is accepted.
    eq("ack", fe.set_status(RUNNING | DEVICE_STOPPED), 0)
    wait_status(fe, RUNNING | DEVICE_STOPPED)


def case_R12():
    vs, sock = start("r12")
    fe = VhostUser(sock)
    fe.bring_up()
    eq("ack", fe.set_status(RUNNING | DEVICE_STOPPED), 0)
    eq("ack of second stop", fe.set_status(RUNNING | DEVICE_STOPPED), 0)
    wait_status(fe, RUNNING | DEVICE_STOPPED)
    eq("ack of third stop", fe.set_status(RUNNING | DEVICE_STOPPED), 0)
    eq("status", fe.get_status(), RUNNING | DEVICE_STOPPED)
    eq("ack", fe.set_status(RUNNING), 0)
    eq("ack of second resume", fe.set_status(RUNNING), 0)
    wait_status(fe, RUNNING)
    st = vs.stats()[0]
    eq("stops", st["stops"], 1)
    eq("resumes", st["resumes"], 1)
    if st["merged"] < 2:
        raise AssertionError(f"merged {st['merged']}, want >= 2")


def case_S1():
    vs, sock = start("s1")
    fe = VhostUser(sock)
    fe.bring_up(suspend=False)
    eq("ack", fe.set_status(RUNNING | SUSPEND), 0)
    time.sleep(0.3)
    eq("status: SUSPEND not negotiated, ignored", fe.get_status(), RUNNING)
    eq("stops", vs.stats()[0]["stops"], 0)


def case_S2():
    vs, sock = start("s2")
    fe = VhostUser(sock)
    fe.bring_up(stop=False)
    eq("ack", fe.set_status(RUNNING | SUSPEND), 0)
    wait_status(fe, INIT | SUSPEND)  # SUSPEND=1, DRIVER_OK=0
    st = vs.stats()[0]
    eq("state", st["state"], "stopped")


def case_S3():
    vs, sock = start("s3")
    fe = VhostUser(sock)
    fe.bring_up(stop=False)
    fe.set_status(RUNNING | SUSPEND)
    wait_status(fe, INIT | SUSPEND)
    eq("ack of DRIVER_OK", fe.set_status(RUNNING), 0)
    wait_status(fe, RUNNING)
    st = vs.stats()[0]
    eq("state", st["state"], "running")
    eq("resumes", st["resumes"], 1)


def case_V5():
    vs, sock = start("v5")
    fe = VhostUser(sock)
    fe.bring_up()
    h.wait_for(lambda: vs.stats()[0]["attached"] == 1, 5, what="device attached")
    eq("ack of SET_STATUS(0)", fe.set_status(0), 0)
    eq("status", fe.get_status(), 0)
    eq("connection still up", fe.alive(), True)
    # What QEMU does next: GET_VRING_BASE per ring; indices kept (nothing moved: the
    # start, packed index 0 with wrap counter 1).
    eq("vring base 0", fe.get_vring_base(0), fe.pos(0))
    eq("vring base 1", fe.get_vring_base(1), fe.pos(0))
    st = vs.stats()[0]
    eq("attached", st["attached"], 0)
    if st["resets"] < 1:
        raise AssertionError("reset not counted")


def case_V1():
    vs, sock = start("v1")
    fe = VhostUser(sock)
    fe.bring_up()
    h.wait_for(lambda: vs.stats()[0]["attached"] == 1, 5, what="device attached")
    eq("vring base 0", fe.get_vring_base(0), fe.pos(0))
    st = vs.stats()[0]
    eq("attached after GET_VRING_BASE", st["attached"], 0)
    eq("status untouched", fe.get_status(), RUNNING)
    eq("connection still up", fe.alive(), True)


def case_V3():
    """Each ring resumes at the base SET_VRING_BASE gave it, not at 0: frames looped
    through vstop after the restart land right after it, and GET_VRING_BASE then says
    where they ended. The receive ring starts 4 from the end of a lap, so the 8 frames
    wrap it (packed: index 252 with wrap counter 0, ending at 4 with wrap counter 1)."""
    vs, sock = start("v3")
    fe = VhostUser(sock)
    fe.bring_up()
    h.wait_for(lambda: vs.stats()[0]["attached"] == 1, 5, what="device attached")
    eq("vring base 0", fe.get_vring_base(0), fe.pos(0))
    eq("vring base 1", fe.get_vring_base(1), fe.pos(0))
    eq("attached after GET_VRING_BASE", vs.stats()[0]["attached"], 0)
    start_at = {0: 2 * RING_NUM - 4, 1: 3 * RING_NUM + 233}  # descriptors from the start
    for vq in (0, 1):
        fe.restart_ring(vq, fe.pos(start_at[vq]))
    h.wait_for(lambda: vs.stats()[0]["attached"] == 1, 5, what="device attached again")
    time.sleep(0.3)  # the polling lcore runs the device's stream meanwhile
    for vq in (0, 1):
        eq(f"ring {vq} position before traffic", fe.ring_pos(vq), fe.pos(start_at[vq]))
    eq("receive buffers posted", fe.post_rx_buffers(8), 8)
    eq("frames posted", fe.send_frames(8), 8)
    h.wait_for(lambda: fe.inflight(0) == 0 and fe.inflight(1) == 0, 5,
               what="8 frames looped back")
    for vq in (0, 1):
        eq(f"ring {vq} position after 8 frames", fe.ring_pos(vq), fe.pos(start_at[vq] + 8))
    eq("vring base 0 after restart", fe.get_vring_base(0), fe.pos(start_at[0] + 8))
    eq("vring base 1 after restart", fe.get_vring_base(1), fe.pos(start_at[1] + 8))


def save_state(fe):
    r, w = os.pipe()
    rep = fe.set_device_state_fd(0, w)
    os.close(w)
    eq("SET_DEVICE_STATE_FD(SAVE) reply", rep, 0x100)
    blob = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        blob += chunk
    os.close(r)
    return blob, fe.check_device_state()


def load_state(fe, blob):
    r, w = os.pipe()
    rep = fe.set_device_state_fd(1, r)
    os.close(r)
    eq("SET_DEVICE_STATE_FD(LOAD) reply", rep, 0x100)
    try:
        os.write(w, blob)
    except BrokenPipeError:
        pass
    os.close(w)
    return fe.check_device_state()


def case_M2():
    src, ssock = start("m2src")
    dst, dsock = start("m2dst")
    a = VhostUser(ssock)
    a.bring_up()
    a.set_status(RUNNING | DEVICE_STOPPED)
    wait_status(a, RUNNING | DEVICE_STOPPED)
    blob, chk = save_state(a)
    eq("CHECK_DEVICE_STATE after save", chk, 0)
    eq("blob magic", blob[:8], b"VSTOPDS\0")
    b = VhostUser(dsock)
    b.bring_up()
    b.set_status(RUNNING | DEVICE_STOPPED)
    wait_status(b, RUNNING | DEVICE_STOPPED)
    eq("CHECK_DEVICE_STATE after load", load_state(b, blob), 0)
    eq("ack of resume", b.set_status(RUNNING), 0)
    wait_status(b, RUNNING)
    print(f"state blob {len(blob)} bytes")


def case_M3():
    src, ssock = start("m3src")
    a = VhostUser(ssock)
    a.bring_up()
    # Saving a running device is refused.
    _, chk = save_state(a)
    if chk == 0:
        raise AssertionError("state of a running device was saved")
    a.set_status(RUNNING | DEVICE_STOPPED)
    wait_status(a, RUNNING | DEVICE_STOPPED)
    blob, chk = save_state(a)
    eq("CHECK after save", chk, 0)
    before = src.stats()[0]
    bad = {
        "corrupt": blob[:30] + bytes([blob[30] ^ 0xFF]) + blob[31:],
        "truncated": blob[:len(blob) // 2],
        "other version": blob[:8] + b"\x63\x00" + blob[10:],
        "empty": b"",
    }
    for what, data in bad.items():
        chk = load_state(a, data)
        if chk == 0:
            raise AssertionError(f"{what} state was accepted")
        eq(f"connection up after {what} state", a.alive(), True)
        eq(f"status after {what} state", a.get_status(), RUNNING | DEVICE_STOPPED)
    after = src.stats()[0]
    for k in ("state", "status", "stops", "resumes", "resets", "attached"):
        eq(f"{k} unchanged by refused loads", after[k], before[k])
    eq("good state still loads", load_state(a, blob), 0)
    log = src.log()
    if "device state load failed" not in log:
        raise AssertionError("refused loads were not logged")


if __name__ == "__main__":
    case = sys.argv[1]
    h.run(globals()[f"case_{case}"])
