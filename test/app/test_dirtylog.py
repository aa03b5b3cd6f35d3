#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""V5/V6: what a migrating front end relies on, checked byte for byte in guest memory.

The small front end (vu_fe.py) starts dirty-page logging the way QEMU 7.2 does when a
migration begins, passes traffic through vstop in loopback mode, then stops the device
while frames are still in flight, in QEMU's order (SET_STATUS(0), then GET_VRING_BASE per
ring) or in virtio_user's (GET_VRING_BASE alone). Then:
  - every 4 KiB page the device changed since logging began (used rings, receive
    buffers; packed: the descriptor rings, where used descriptors are written, and the
    device event areas) has its bit in the dirty log (V6): a page written without its
    bit is not sent again by QEMU, and the destination guest sees stale rings;
  - the index GET_VRING_BASE returned is the used index in the ring (V1, V5): the
    destination resumes from it, and librte_vhost rewinds to the used index when they
    differ, so the guest would see descriptors completed twice. Packed (P1): the reply
    (bits 0-14 index, bit 15 wrap counter, nothing above) is the end of the run of used
    descriptors in the ring, index and used wrap counter;
  - every frame taken from the transmit ring is in the receive ring (R5);
  - guest memory does not change after the reply (R8): QEMU syncs the log once, right
    after the last GET_VRING_BASE.
Packed rings (VSTOP_LAYOUT=packed, the app_packed_* meson entries): the receive ring is
refilled after every stop and the run is long enough for both rings to wrap, so wrap
counters 1 and 0 are both checked; the descriptor ring pages are written by the driver
too (posting), so those writes are applied to the page images taken before, and only
what differs from that is the device's.
qemu_log_addr (packed): QEMU's order, and SET_VRING_ADDR's log address is the one QEMU
7.2 sends, the device event area, where librte_vhost 22.11 takes it to be the descriptor
ring: vstop must still get every descriptor page it wrote into the log before the reply
(app/vhost_log.h).
Usage: test_dirtylog.py qemu_order|vring_base_only|qemu_log_addr"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from vu_fe import RING_NUM, RUNNING, VhostUser, packed_unpos  # noqa: E402

RX_BUFS, RX_BUFLEN = 0x100000, 2048
FRAMES = 32           # frames posted just before each stop
ROUNDS = 7            # stops per run; split: the receive ring's 256 buffers are never
ROUNDS_PACKED = 12    # refilled; packed: refilled, 384 frames, so both rings wrap


def device_pages(fe):
    """Pages the device writes: both used rings (packed: descriptor rings and device
    event areas) and the receive buffers."""
    pages = {fe._ring(0)[2] // 4096, fe._ring(1)[2] // 4096}
    if fe.packed:
        pages |= {fe._ring(0)[0] // 4096, fe._ring(1)[0] // 4096}
    pages.update(range(RX_BUFS // 4096, (RX_BUFS + RING_NUM * RX_BUFLEN) // 4096))
    return sorted(pages)


def with_driver_writes(fe, before):
    """The page images @before with what the driver itself wrote since into them (packed
    descriptors it posted)."""
    for gpa, data in fe.driver_writes:
        p, off = gpa // 4096, gpa % 4096
        if p in before:
            img = bytearray(before[p])
            img[off:off + len(data)] = data
            before[p] = bytes(img)
    fe.driver_writes.clear()


def page(fe, p):
    return bytes(fe.mem[p * 4096:(p + 1) * 4096])


def one_round(fe, qemu_order, rnd):
    pages = device_pages(fe)
    fe.log[:] = bytes(len(fe.log))          # QEMU clears what it has synced
    before = {p: page(fe, p) for p in pages}
    fe.driver_writes.clear()
    posted = fe.send_frames(FRAMES)
    with_driver_writes(fe, before)
    # Stop at once: the polling lcore is somewhere in its bursts.
    if qemu_order and fe.set_status(0) != 0:
        raise AssertionError("SET_STATUS(0) refused")
    base = [fe.get_vring_base(0), fe.get_vring_base(1)]
    after = {p: page(fe, p) for p in pages}
    unlogged = [hex(p * 4096) for p in pages if after[p] != before[p] and
                not fe.logged(p * 4096)]
    if unlogged:
        raise AssertionError(f"round {rnd}: pages written by the device without a dirty "
                             f"log bit (V6): {unlogged[:8]}")
    for vq in (0, 1):
        uidx = fe.ring_pos(vq)
        if uidx != base[vq]:
            raise AssertionError(f"round {rnd}: vq {vq}: GET_VRING_BASE {base[vq]:#x} but "
                                 f"the used position in guest memory is {uidx:#x} (V1/V5)")
    time.sleep(0.2)
    frozen = [hex(p * 4096) for p in pages if page(fe, p) != after[p]]
    if frozen:
        raise AssertionError(f"round {rnd}: guest memory written after GET_VRING_BASE "
                             f"(R8): {frozen[:8]}")
    return posted, base


def run(qemu_order, qemu_log_addr=False):
    sock = h.sock_path("dlog")
    vs = h.Vstop("dlog", ["--vhost", sock, "--fwd", "loopback"])
    fe = VhostUser(sock)
    fe.qemu_log_addr = qemu_log_addr
    fe.negotiate(log=True)
    fe.init_status()
    fe.setup_rings()
    fe.post_rx_buffers(RING_NUM, RX_BUFLEN)
    if fe.set_status(RUNNING) != 0:
        raise AssertionError("DRIVER_OK refused")
    h.wait_for(lambda: vs.stats()[0]["attached"] == 1, 5, what="device attached")
    fe.start_log()
    total = 0
    wraps = set()
    for rnd in range(ROUNDS_PACKED if fe.packed else ROUNDS):
        posted, base = one_round(fe, qemu_order, rnd)
        total += posted
        # R5: each frame the device took from the transmit ring reached the receive ring.
        if base[0] != base[1]:
            raise AssertionError(f"round {rnd}: {base[1]} frames taken, {base[0]} "
                                 "received (R5: nothing may be left in flight)")
        # Set the rings up again where they stopped (V3), as a destination would.
        if qemu_order:
            fe.init_status()
        for vq in (0, 1):
            fe.restart_ring(vq, base[vq], keep_memory=True)
            if fe.packed:
                wraps.add(packed_unpos(base[vq])[1])
        if fe.packed:
            fe.post_rx_buffers(RING_NUM, RX_BUFLEN)  # what the device used, again
        if fe.set_status(RUNNING) != 0:
            raise AssertionError("DRIVER_OK refused")
        h.wait_for(lambda: vs.stats()[0]["attached"] == 1, 5, what="device attached again")
    # Nothing lost across the stops: the last restart took what the last stop left
    # pending, and every frame posted came back on the receive ring (packed: also in
    # the laps after the first, with the wrap counters flipped).
    h.wait_for(lambda: fe.inflight(1) == 0, 10, what="every posted frame taken")
    h.wait_for(lambda: fe.used(0)[0] == total & 0xFFFF, 10,
               what=f"all {total} frames looped back")
    if fe.used(1)[0] != total & 0xFFFF:
        raise AssertionError(f"{fe.used(1)[0]} frames completed, {total} posted")
    if total == 0 or fe.used(1)[0] == 0:
        raise AssertionError("no frame went through: the test checked nothing")
    if fe.packed and wraps != {0, 1}:
        raise AssertionError(f"wrap counters seen {wraps}: the rings never wrapped")
    print(f"ok: {'packed' if fe.packed else 'split'}: {rnd + 1} stops with frames in flight, {fe.used(1)[0]} frames, every "
          "device write logged, base = used index, nothing written after the reply")
    fe.close()


def main():
    case = sys.argv[1]
    try:
        if case == "qemu_log_addr":
            run(True, qemu_log_addr=True)
        else:
            run({"qemu_order": True, "vring_base_only": False}[case])
    finally:
        h.cleanup()


if __name__ == "__main__":
    main()
