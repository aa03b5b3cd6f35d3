#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A small, slow vhost-user backend (server mode) for testing vstop-fe's failure paths.

It loops frames back (tx ring of a pair -> rx ring of the same pair) from a Python
thread, answers the status messages, and can misbehave on purpose:

  --never-stop        GET_STATUS never shows DEVICE_STOPPED / SUSPEND (R11 deadline)
  --hang-on REQ[:N]   never answer the N-th request REQ (default N=1): reply timeout
  --close-on REQ[:N]  close the connection on the N-th request REQ: backend disconnect
  --exit-on REQ[:N]   exit the whole process on the N-th request REQ
  --refuse-state      CHECK_DEVICE_STATE after LOAD answers 1 (state refused)
  --inflight-base     packed: GET_VRING_BASE answers a used position (bits 16-31) one
                      behind the avail one, as if a buffer were still in flight

Stop bits are shown once the worker thread has parked (it finishes its current batch),
so the backend is also a tiny reference for the stop contract. Split and packed rings
(VIRTIO_F_RING_PACKED offered; a packed ring position is kept as a count modulo twice
the ring size, GET_VRING_BASE answers bits 0-15 avail slot + wrap and, like QEMU reads
it, bits 16-31 the used ones, equal once stopped). Python stdlib only.
"""

import argparse
import mmap
import os
import socket
import struct
import sys
import threading
import time

GET_FEATURES, SET_FEATURES, SET_OWNER, RESET_OWNER, SET_MEM_TABLE = 1, 2, 3, 4, 5
SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE, GET_VRING_BASE = 8, 9, 10, 11
SET_VRING_KICK, SET_VRING_CALL, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES = 12, 13, 15, 16
GET_QUEUE_NUM, SET_VRING_ENABLE, SET_STATUS, GET_STATUS = 17, 18, 39, 40
SET_DEVICE_STATE_FD, CHECK_DEVICE_STATE = 42, 43

REPLY, NEED_REPLY = 0x4, 0x8
DRIVER_OK, SUSPEND, STOPPED = 0x4, 0x10, 0x20
PACKED = 34
FEATURES = (1 << 32) | (1 << 30) | (1 << 22) | (1 << 42) | (1 << 43) | (1 << PACKED)
PROTO = (1 << 0) | (1 << 3) | (1 << 16) | (1 << 19)
WITH_REPLY = {GET_FEATURES, GET_PROTOCOL_FEATURES, GET_QUEUE_NUM, GET_VRING_BASE, GET_STATUS,
              SET_DEVICE_STATE_FD, CHECK_DEVICE_STATE}
BLOB_MAGIC = b"VSTOPDS\0"   # same header as vstop's blob (lib/vs_devstate.h)


def crc32c(data):
    crc = 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 & -(crc & 1))
    return crc ^ 0xffffffff


def blob_make(status):
    body = struct.pack("<Q", status)
    # magic, version 1, header_len 20, total_len; crc32c covers what follows the crc.
    head = BLOB_MAGIC + struct.pack("<HHI", 1, 20, 20 + len(body))
    return head + struct.pack("<I", crc32c(body)) + body


def blob_ok(data):
    if len(data) < 20 or not data.startswith(BLOB_MAGIC):
        return False
    ver, hlen, total, crc = struct.unpack_from("<HHII", data, 8)
    return ver == 1 and hlen == 20 and total == len(data) and crc == crc32c(data[20:])


def log(msg):
    print(f"fake-backend: {msg}", file=sys.stderr, flush=True)


class Ring:
    def __init__(self):
        self.num = 0
        self.addr = None          # (desc, used, avail) front-end virtual addresses
        self.base = 0
        self.last_avail = 0
        self.kick = -1
        self.call = -1
        self.enabled = False
        self.started = False      # kick fd received, not stopped by GET_VRING_BASE


class Device:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.regions = []         # (gpa, size, uva, mmap)
        self.rings = {}
        self.status = 0
        self.features = 0
        self.proto = 0
        self.parked = threading.Event()
        self.want_run = False
        self.blob_ok = True
        self.closed = False

    # -- guest memory -------------------------------------------------------------
    def _find(self, addr, n, key):
        for gpa, size, uva, mm in self.regions:
            base = gpa if key == "gpa" else uva
            if base <= addr and addr + n <= base + size:
                return mm, addr - base
        raise ValueError(f"address 0x{addr:x} not in guest memory")

    def u16(self, uva):
        mm, off = self._find(uva, 2, "uva")
        return mm[off:off + 2].cast("H")[0]

    def put16(self, uva, v):
        # One 2-byte store: struct.pack_into may copy byte by byte, and a driver that
        # reads a half-written used index sees it jump backwards.
        mm, off = self._find(uva, 2, "uva")
        mm[off:off + 2].cast("H")[0] = v & 0xffff

    def put_used(self, r, idx, did, ln):
        mm, off = self._find(r.addr[1] + 4 + 8 * (idx % r.num), 8, "uva")
        struct.pack_into("<II", mm, off, did, ln)

    def desc(self, r, did):
        mm, off = self._find(r.addr[0] + 16 * did, 16, "uva")
        return struct.unpack_from("<QIHH", mm, off)

    # -- packed rings: positions are counts modulo 2 * num; wrap = first half ----------
    def pdesc(self, r, c):
        mm, off = self._find(r.addr[0] + 16 * (c % r.num), 16, "uva")
        return mm, off, struct.unpack_from("<QIHH", mm, off)

    @staticmethod
    def pwrap(r, c):
        return c < r.num

    def pavail(self, r, c):
        _, _, (_, _, _, f) = self.pdesc(r, c)
        w = self.pwrap(r, c)
        return bool(f & 0x80) == w and bool(f & 0x8000) != w

    def pput_used(self, r, c, did, ln):
        mm, off, _ = self.pdesc(r, c)
        struct.pack_into("<IH", mm, off + 8, ln, did)
        # The flags last, in one 2-byte store: they hand the descriptor back.
        mm[off + 14:off + 16].cast("H")[0] = 0x8080 if self.pwrap(r, c) else 0

    def step_packed(self, rx, tx):
        n = 0
        while n < 64 and self.pavail(tx, tx.last_avail) and self.pavail(rx, rx.last_avail):
            _, _, (taddr, tlen, tid, _) = self.pdesc(tx, tx.last_avail)
            _, _, (raddr, rlen, rid, _) = self.pdesc(rx, rx.last_avail)
            ln = min(tlen, rlen)
            smm, soff = self._find(taddr, tlen, "gpa")
            dmm, doff = self._find(raddr, ln, "gpa")
            dmm[doff:doff + ln] = smm[soff:soff + ln]
            # In order: the used slot is the avail slot just read.
            self.pput_used(rx, rx.last_avail, rid, ln)
            self.pput_used(tx, tx.last_avail, tid, 0)
            rx.last_avail = (rx.last_avail + 1) % (2 * rx.num)
            tx.last_avail = (tx.last_avail + 1) % (2 * tx.num)
            n += 1
        return n

    def packed(self):
        return bool(self.features & (1 << PACKED))

    # -- data path ----------------------------------------------------------------
    def running(self):
        return (self.status & DRIVER_OK) and not (self.status & (SUSPEND | STOPPED)) \
            and self.want_run

    def ready(self, r):
        return r is not None and r.started and r.enabled and r.addr and r.num

    def step(self):
        """Loop frames tx -> rx on every pair. Returns frames moved."""
        moved = 0
        for q in range(0, 256, 2):
            rx, tx = self.rings.get(q), self.rings.get(q + 1)
            if not (self.ready(rx) and self.ready(tx)):
                continue
            if self.packed():
                moved += self.step_packed(rx, tx)
                continue
            tx_avail = self.u16(tx.addr[2] + 2)
            rx_avail = self.u16(rx.addr[2] + 2)
            n = 0
            while tx.last_avail != tx_avail and rx.last_avail != rx_avail and n < 64:
                tid = self.u16(tx.addr[2] + 4 + 2 * (tx.last_avail % tx.num))
                taddr, tlen, _, _ = self.desc(tx, tid)
                rid = self.u16(rx.addr[2] + 4 + 2 * (rx.last_avail % rx.num))
                raddr, rlen, _, _ = self.desc(rx, rid)
                smm, soff = self._find(taddr, tlen, "gpa")
                dmm, doff = self._find(raddr, min(tlen, rlen), "gpa")
                ln = min(tlen, rlen)
                dmm[doff:doff + ln] = smm[soff:soff + ln]
                self.put_used(rx, rx.last_avail, rid, ln)
                self.put_used(tx, tx.last_avail, tid, 0)
                rx.last_avail = (rx.last_avail + 1) & 0xffff
                tx.last_avail = (tx.last_avail + 1) & 0xffff
                n += 1
            if n:
                self.put16(rx.addr[1] + 2, rx.last_avail)
                self.put16(tx.addr[1] + 2, tx.last_avail)
                moved += n
        return moved

    def worker(self):
        while not self.closed:
            with self.lock:
                if self.running():
                    self.parked.clear()
                    try:
                        moved = self.step()
                    except ValueError as e:
                        log(f"worker: {e}")
                        moved = 0
                else:
                    moved = 0
                    self.parked.set()
            if not moved:
                time.sleep(0.0005)


class Conn:
    def __init__(self, dev, sock, args, counts):
        self.dev, self.sock, self.args, self.counts = dev, sock, args, counts

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def read_msg(self):
        data, anc, _, _ = self.sock.recvmsg(12, socket.CMSG_SPACE(8 * 4))
        if not data:
            raise EOFError
        fds = []
        for level, typ, cdata in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds += list(struct.unpack(f"{len(cdata) // 4}i", cdata[:len(cdata) - len(cdata) % 4]))
        if len(data) < 12:
            data += self.recv_exact(12 - len(data))
        req, flags, size = struct.unpack("<III", data)
        payload = self.recv_exact(size) if size else b""
        return req, flags, payload, fds

    def reply(self, req, payload, fds=()):
        hdr = struct.pack("<III", req, 0x1 | REPLY, len(payload))
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))] if fds else []
        self.sock.sendmsg([hdr + payload], anc)

    def misbehave(self, req):
        self.counts[req] = self.counts.get(req, 0) + 1
        for what in ("hang_on", "close_on", "exit_on"):
            spec = getattr(self.args, what)
            if spec and spec[0] == req and self.counts[req] == spec[1]:
                return what
        return None

    def serve(self):
        dev = self.dev
        while True:
            req, flags, p, fds = self.read_msg()
            act = self.misbehave(req)
            if act == "exit_on":
                log(f"exiting on request {req} as asked")
                os._exit(0)
            if act == "close_on":
                log(f"closing the connection on request {req} as asked")
                return
            if act == "hang_on":
                log(f"not answering request {req} as asked")
                while True:
                    time.sleep(1)
            with dev.lock:
                out, ack = self.handle(req, p, fds)
            if out is not None:
                self.reply(req, out[0], out[1] if len(out) > 1 else ())
            elif flags & NEED_REPLY:
                self.reply(req, struct.pack("<Q", ack))

    def wait_parked(self):
        dev = self.dev
        dev.lock.release()
        try:
            dev.parked.wait(1.0)
        finally:
            dev.lock.acquire()

    def handle(self, req, p, fds):
        dev, a = self.dev, self.args
        u64 = struct.unpack_from("<Q", p)[0] if len(p) >= 8 else 0
        if req == GET_FEATURES:
            return (struct.pack("<Q", FEATURES),), 0
        if req == SET_FEATURES:
            dev.features = u64
        elif req == GET_PROTOCOL_FEATURES:
            return (struct.pack("<Q", PROTO),), 0
        elif req == SET_PROTOCOL_FEATURES:
            dev.proto = u64
        elif req == GET_QUEUE_NUM:
            return (struct.pack("<Q", 8),), 0
        elif req == SET_MEM_TABLE:
            n = struct.unpack_from("<I", p)[0]
            # Old mappings are dropped, not closed: views into them may still exist.
            dev.regions = []
            for i in range(n):
                gpa, size, uva, off = struct.unpack_from("<QQQQ", p, 8 + 32 * i)
                mm = mmap.mmap(fds[i], size + off, mmap.MAP_SHARED,
                               mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
                os.close(fds[i])
                dev.regions.append((gpa, size, uva, memoryview(mm)[off:]))
        elif req in (SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ENABLE, GET_VRING_BASE):
            idx, num = struct.unpack_from("<II", p)
            r = dev.rings.setdefault(idx, Ring())
            if req == SET_VRING_NUM:
                r.num = num
            elif req == SET_VRING_BASE:
                if dev.packed():
                    # Bits 0-14 slot, bit 15 wrap counter (bits 16-31 ignored).
                    slot, wrap = num & 0x7fff, bool(num & 0x8000)
                    num = slot if wrap else slot + r.num
                r.base = r.last_avail = num
            elif req == SET_VRING_ENABLE:
                r.enabled = bool(num)
            else:
                dev.want_run = False
                self.wait_parked()
                r.started = False
                base = r.last_avail
                if dev.packed():
                    wrap = r.last_avail < r.num
                    base = (r.last_avail % r.num) | (wrap << 15)
                    used = (r.last_avail - 1) % (2 * r.num) if a.inflight_base \
                        else r.last_avail
                    base |= ((used % r.num) | ((used < r.num) << 15)) << 16
                return (struct.pack("<II", idx, base),), 0
        elif req == SET_VRING_ADDR:
            idx, _, desc, used, avail, _ = struct.unpack_from("<IIQQQQ", p)
            dev.rings.setdefault(idx, Ring()).addr = (desc, used, avail)
        elif req in (SET_VRING_KICK, SET_VRING_CALL):
            r = dev.rings.setdefault(u64 & 0xff, Ring())
            fd = fds[0] if fds else -1
            if req == SET_VRING_KICK:
                if r.kick >= 0:
                    os.close(r.kick)
                r.kick, r.started = fd, True
                dev.want_run = True
            else:
                if r.call >= 0:
                    os.close(r.call)
                r.call = fd
        elif req == SET_STATUS:
            dev.status = u64
            if u64 == 0:
                dev.want_run = False
        elif req == GET_STATUS:
            st = dev.status
            if st & (STOPPED | SUSPEND):
                if a.never_stop:
                    st &= ~(STOPPED | SUSPEND)
                else:
                    self.wait_parked()
                    if st & SUSPEND:
                        st &= ~DRIVER_OK
            return (struct.pack("<Q", st),), 0
        elif req == SET_DEVICE_STATE_FD:
            direction, _ = struct.unpack_from("<II", p)
            fd = fds[0]
            if direction == 0:
                os.write(fd, blob_make(dev.status))
                dev.blob_ok = True
            else:
                data = b""
                while True:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        break
                    data += chunk
                dev.blob_ok = blob_ok(data) and not a.refuse_state
            os.close(fd)
            return (struct.pack("<Q", 1 << 8),), 0
        elif req == CHECK_DEVICE_STATE:
            return (struct.pack("<Q", 0 if dev.blob_ok else 1),), 0
        for fd in fds:
            if req not in (SET_MEM_TABLE, SET_VRING_KICK, SET_VRING_CALL):
                os.close(fd)
        return None, 0


def req_spec(s):
    req, _, n = s.partition(":")
    return int(req), int(n or 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("socket")
    ap.add_argument("--never-stop", action="store_true")
    ap.add_argument("--hang-on", type=req_spec)
    ap.add_argument("--close-on", type=req_spec)
    ap.add_argument("--exit-on", type=req_spec)
    ap.add_argument("--refuse-state", action="store_true")
    ap.add_argument("--inflight-base", action="store_true")
    args = ap.parse_args()

    try:
        os.unlink(args.socket)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(args.socket)
    srv.listen(4)
    log(f"listening on {args.socket}")
    counts = {}
    while True:
        sock, _ = srv.accept()
        dev = Device(args)
        threading.Thread(target=dev.worker, daemon=True).start()
        try:
            Conn(dev, sock, args, counts).serve()
        except (EOFError, ConnectionError):
            pass
        with dev.lock:
            dev.want_run = False
            dev.closed = True
        sock.close()
        log("front end gone")


if __name__ == "__main__":
    main()
