# SPDX-License-Identifier: BSD-3-Clause
"""A minimal vhost-user front end, just enough to test vstop's status rules.

It speaks the driver side of GET/SET_FEATURES, GET/SET_PROTOCOL_FEATURES, SET_OWNER,
SET/GET_STATUS (with REPLY_ACK), and optionally sets up two rings in a memfd so that
librte_vhost declares the device ready (new_device) and vstop's polling lcore runs its
streams. It posts a few frames and buffers and reads completions, as far as the status
and dirty-log tests need; vstop-fe (tools/fe) is the real front end.

Both ring layouts (P1): split (the default) or packed, VhostUser(path, packed=True) or
the environment variable VSTOP_LAYOUT=packed (how the meson entries app_packed_* run the
same scripts). Packed (virtio 1.1+ section 2.8): per ring, a descriptor ring of RING_NUM
16-byte descriptors {addr u64, len u32, id u16, flags u16} where the split descriptor
table is, the driver event suppression area where the split avail ring is, the device
event suppression area where the split used ring is (so SET_VRING_ADDR: desc = descriptor
ring, avail = driver area, used = device area). The driver makes a descriptor available
with AVAIL = its avail wrap counter and USED = the inverse; the device marks it used with
AVAIL = USED = its used wrap counter; both counters start at 1 and flip at every lap.
Ring positions over vhost-user (GET/SET_VRING_BASE) are, as librte_vhost 22.11 encodes
them, bits 0-14 the index and bit 15 the wrap counter: pos(n) gives the position after
n descriptors from the start, for either layout.
"""
import array
import mmap
import os
import socket
import struct

GET_FEATURES = 1
SET_FEATURES = 2
SET_OWNER = 3
RESET_OWNER = 4
SET_MEM_TABLE = 5
SET_LOG_BASE = 6
SET_VRING_NUM = 8
SET_VRING_ADDR = 9
SET_VRING_BASE = 10
GET_VRING_BASE = 11
SET_VRING_KICK = 12
SET_VRING_CALL = 13
GET_PROTOCOL_FEATURES = 15
SET_PROTOCOL_FEATURES = 16
GET_QUEUE_NUM = 17
SET_VRING_ENABLE = 18
SET_STATUS = 39
GET_STATUS = 40
SET_DEVICE_STATE_FD = 42
CHECK_DEVICE_STATE = 43

F_LOG_ALL = 26
F_VERSION_1 = 32
F_RING_PACKED = 34
F_PROTOCOL_FEATURES = 30
F_DEVICE_STOP = 42
F_SUSPEND = 43

PF_MQ = 0
PF_LOG_SHMFD = 1
PF_REPLY_ACK = 3
PF_STATUS = 16
PF_DEVICE_STATE = 19

ACK, DRIVER, DRIVER_OK, FEATURES_OK = 0x1, 0x2, 0x4, 0x8
SUSPEND, DEVICE_STOPPED, NEEDS_RESET = 0x10, 0x20, 0x40
INIT = ACK | DRIVER | FEATURES_OK
RUNNING = INIT | DRIVER_OK

VERSION = 0x1
FLAG_REPLY = 0x4
FLAG_NEED_REPLY = 0x8

RING_NUM = 256
MEM_SIZE = 1 << 21
FAKE_UADDR = 0x7F0000000000  # the "QEMU virtual address" of our one region

# Packed descriptor flags (virtio 1.1+ 2.8.1): VRING_DESC_F_NEXT 1, WRITE 2, and
DESC_F_NEXT, DESC_F_WRITE = 1 << 0, 1 << 1
DESC_F_AVAIL, DESC_F_USED = 1 << 7, 1 << 15


def layout_from_env():
    """'split' or 'packed', from VSTOP_LAYOUT (default split)."""
    layout = os.environ.get("VSTOP_LAYOUT", "split")
    if layout not in ("split", "packed"):
        raise ValueError(f"VSTOP_LAYOUT={layout!r}: split or packed")
    return layout


def packed_pos(idx, wrap):
    """A packed ring position as GET/SET_VRING_BASE carry it (librte_vhost 22.11)."""
    return (idx & 0x7FFF) | ((wrap & 1) << 15)


def packed_unpos(val):
    """(index, wrap counter) of a packed GET/SET_VRING_BASE value."""
    return val & 0x7FFF, (val >> 15) & 1


class PackedRing:
    """The driver's side of one packed ring: where it posts next (avail index and wrap
    counter), where it expects the next used descriptor (used index and wrap counter),
    free buffer ids and what is in flight, and every completion read so far."""

    def __init__(self, start=0):
        self.count = start               # completions read, free-running (split used.idx)
        self.elems = [(0, 0)] * start    # (id, len) of every completion, oldest first
        self.reset(pos_after(True, start))

    def reset(self, pos):
        """Nothing in flight; the driver posts and expects completions at @pos."""
        idx, wrap = packed_unpos(pos)
        self.aidx, self.awrap = idx, wrap
        self.uidx, self.uwrap = idx, wrap
        self.inflight = {}               # buffer id -> number of descriptors
        self.free = list(range(RING_NUM))

    def outstanding(self):
        return sum(self.inflight.values())


def pos_after(packed, n):
    """The ring position after @n descriptors from the start, as GET_VRING_BASE reports
    it: split the free-running index, packed index and wrap counter (which starts at 1
    and flips at every lap)."""
    if not packed:
        return n & 0xFFFF
    return packed_pos(n % RING_NUM, 1 ^ ((n // RING_NUM) & 1))


class VhostUserError(Exception):
    pass


class VhostUser:
    def __init__(self, path, timeout=5.0, packed=None):
        """packed: drive packed rings (P1); None: as VSTOP_LAYOUT says."""
        self.packed = layout_from_env() == "packed" if packed is None else packed
        self.rings = {}  # vq -> PackedRing (packed layout only)
        # Send SET_VRING_ADDR's log address as QEMU 7.2 does: the used ring's, which for a
        # packed ring is the device event area (test_dirtylog.py qemu_log_addr).
        self.qemu_log_addr = False
        self.driver_writes = []  # (gpa, bytes) of packed descriptors this driver wrote
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.mem = None
        self.memfd = None
        self.log = None
        self.efds = []

    def close(self):
        self.sock.close()
        for fd in self.efds:
            os.close(fd)
        self.efds = []
        if self.mem is not None:
            self.mem.close()
            os.close(self.memfd)
            self.mem = None

    # ---- wire ----
    def send(self, req, payload=b"", fds=(), need_reply=False):
        flags = VERSION | (FLAG_NEED_REPLY if need_reply else 0)
        msg = struct.pack("<III", req, flags, len(payload)) + payload
        anc = []
        if fds:
            anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
        self.sock.sendmsg([msg], anc)

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise VhostUserError("connection closed by vstop")
            buf += chunk
        return buf

    def recv(self, expect_req):
        req, flags, size = struct.unpack("<III", self._recv_exact(12))
        payload = self._recv_exact(size) if size else b""
        if req != expect_req or not flags & FLAG_REPLY:
            raise VhostUserError(f"unexpected reply {req} flags {flags:#x} to {expect_req}")
        return payload

    def get_u64(self, req):
        self.send(req)
        return struct.unpack("<Q", self.recv(req))[0]

    def set_u64(self, req, val, need_reply=True, fds=()):
        """Send a u64 write; with need_reply return the REPLY_ACK value (0 = ok)."""
        self.send(req, struct.pack("<Q", val), fds=fds, need_reply=need_reply)
        if need_reply:
            return struct.unpack("<Q", self.recv(req))[0]
        return None

    def alive(self):
        """True if the connection still answers."""
        try:
            self.get_status()
            return True
        except (VhostUserError, OSError):
            return False

    # ---- driver side ----
    def get_status(self):
        return self.get_u64(GET_STATUS)

    def set_status(self, val, need_reply=True):
        return self.set_u64(SET_STATUS, val, need_reply)

    def negotiate(self, stop=True, suspend=True, device_state=True, log=False):
        """Features and protocol features. Returns (offered, protocol features offered).
        log: take protocol feature LOG_SHMFD, as QEMU does (dirty logging, V6)."""
        self.offered = self.get_u64(GET_FEATURES)
        want = (1 << F_VERSION_1) | (1 << F_PROTOCOL_FEATURES)
        if self.packed:
            if not self.offered >> F_RING_PACKED & 1:
                raise VhostUserError("VIRTIO_F_RING_PACKED (34) not offered")
            want |= 1 << F_RING_PACKED
        if stop:
            want |= 1 << F_DEVICE_STOP
        if suspend:
            want |= 1 << F_SUSPEND
        self.features = want & self.offered
        self.set_u64(SET_FEATURES, self.features, need_reply=False)
        self.poffered = self.get_u64(GET_PROTOCOL_FEATURES)
        pwant = (1 << PF_REPLY_ACK) | (1 << PF_STATUS) | (1 << PF_MQ)
        if device_state:
            pwant |= 1 << PF_DEVICE_STATE
        if log:
            pwant |= 1 << PF_LOG_SHMFD
        self.set_u64(SET_PROTOCOL_FEATURES, pwant & self.poffered, need_reply=False)
        self.send(SET_OWNER)
        return self.offered, self.poffered

    def init_status(self):
        for s in (ACK, ACK | DRIVER, INIT):
            ack = self.set_status(s)
            if ack != 0:
                raise VhostUserError(f"status write {s:#x} refused")

    def setup_rings(self, nvq=2, base="mem", mem_idx=0):
        """One memfd region, nvq rings of RING_NUM (split or packed), kick/call eventfds,
        enabled. base: the SET_VRING_BASE value ("mem": the position mem_idx gives,
        pos(mem_idx)), or None to send none (leave the position to a loaded device
        state); mem_idx: descriptors already used in ring memory from the start (a guest
        that migrated with its memory): split avail/used index, packed the first mem_idx
        descriptors used and the driver's counters past them."""
        self.memfd = os.memfd_create("vu_fe_mem")
        os.ftruncate(self.memfd, MEM_SIZE)
        self.mem = mmap.mmap(self.memfd, MEM_SIZE)
        region = struct.pack("<QQQQ", 0, MEM_SIZE, FAKE_UADDR, 0)
        self.send(SET_MEM_TABLE, struct.pack("<II", 1, 0) + region, fds=[self.memfd],
                  need_reply=True)
        if struct.unpack("<Q", self.recv(SET_MEM_TABLE))[0] != 0:
            raise VhostUserError("SET_MEM_TABLE refused")
        if base == "mem":
            base = self.pos(mem_idx)
        for vq in range(nvq):
            desc, avail, used = self._ring(vq)
            if self.packed:
                self.rings[vq] = PackedRing(mem_idx)
                self._pmark_idle(vq, self.pos(mem_idx))
            else:
                struct.pack_into("<H", self.mem, avail + 2, mem_idx)
                struct.pack_into("<H", self.mem, used + 2, mem_idx)
            self.send(SET_VRING_NUM, struct.pack("<II", vq, RING_NUM))
            self.send(SET_VRING_ADDR, struct.pack("<IIQQQQ", vq, 0, FAKE_UADDR + desc,
                                                  FAKE_UADDR + used, FAKE_UADDR + avail,
                                                  self._log_gpa(vq)))
            if base is not None:
                self.send(SET_VRING_BASE, struct.pack("<II", vq, base))
            kick, call = os.eventfd(0, os.EFD_NONBLOCK), os.eventfd(0, os.EFD_NONBLOCK)
            self.efds += [kick, call]
            self.send(SET_VRING_KICK, struct.pack("<Q", vq), fds=[kick])
            self.send(SET_VRING_CALL, struct.pack("<Q", vq), fds=[call])
            self.send(SET_VRING_ENABLE, struct.pack("<II", vq, 1))

    def pos(self, n):
        """The position after n descriptors from the start, as GET_VRING_BASE says it."""
        return pos_after(self.packed, n)

    def _log_gpa(self, vq):
        """SET_VRING_ADDR's log address: the guest address of what the device writes
        completions to. Split: the used ring (as QEMU sends). Packed: the descriptor ring,
        which is where librte_vhost 22.11 logs used descriptors from (it logs the write
        of descriptor i at log + 16 * i, vhost_log_cache_used_vring); QEMU 7.2 sends the
        device area's address here for packed rings too (vq->used_phys), see the report
        in docs/design.rst."""
        desc, _, used = self._ring(vq)
        return desc if self.packed and not self.qemu_log_addr else used

    # ---- dirty page logging (V6), in QEMU's order when a migration starts ----
    LOG_SIZE = MEM_SIZE // 4096 // 8  # one bit per 4 KiB page

    def start_log(self, nvq=2):
        """SET_LOG_BASE (a memfd, replied to with LOG_SHMFD), SET_FEATURES with LOG_ALL
        (QEMU waits for the ack), then SET_VRING_ADDR with VHOST_VRING_F_LOG on every
        ring. Returns the log bitmap (a mmap the device writes to)."""
        self.logfd = os.memfd_create("vu_fe_log")
        os.ftruncate(self.logfd, self.LOG_SIZE)
        self.log = mmap.mmap(self.logfd, self.LOG_SIZE)
        self.send(SET_LOG_BASE, struct.pack("<QQ", self.LOG_SIZE, 0), fds=[self.logfd])
        self.recv(SET_LOG_BASE)
        self.features |= 1 << F_LOG_ALL
        if self.set_u64(SET_FEATURES, self.features) != 0:
            raise VhostUserError("SET_FEATURES with LOG_ALL refused")
        for vq in range(nvq):
            desc, avail, used = self._ring(vq)
            self.send(SET_VRING_ADDR, struct.pack("<IIQQQQ", vq, 1, FAKE_UADDR + desc,
                                                  FAKE_UADDR + used, FAKE_UADDR + avail,
                                                  self._log_gpa(vq)))
        self.get_status()  # a round trip: the ADDR messages were handled
        return self.log

    def logged(self, gpa):
        """True if the device marked the 4 KiB page of guest address gpa dirty."""
        page = gpa // 4096
        return bool(self.log[page // 8] & (1 << (page % 8)))

    def restart_ring(self, vq, index, keep_memory=False):
        """V3: after GET_VRING_BASE, set the ring up again to resume at @index (a
        GET_VRING_BASE value: packed index and wrap counter). Unless keep_memory, the
        ring memory is made to say the same (split avail.idx = used.idx = index; packed
        no descriptor available, the driver's counters at index): nothing pending. With
        keep_memory the rings stay as the device and the driver left them (a migrated
        guest: buffers may be pending)."""
        desc, avail, used = self._ring(vq)
        if not keep_memory:
            if self.packed:
                self.rings[vq].reset(index)
                self._pmark_idle(vq, index)
            else:
                struct.pack_into("<H", self.mem, avail + 2, index)
                struct.pack_into("<H", self.mem, used + 2, index)
        self.send(SET_VRING_NUM, struct.pack("<II", vq, RING_NUM))
        self.send(SET_VRING_BASE, struct.pack("<II", vq, index))
        flags = 1 if getattr(self, "log", None) is not None else 0  # VHOST_VRING_F_LOG
        self.send(SET_VRING_ADDR, struct.pack("<IIQQQQ", vq, flags, FAKE_UADDR + desc,
                                              FAKE_UADDR + used, FAKE_UADDR + avail,
                                              self._log_gpa(vq)))
        kick, call = os.eventfd(0, os.EFD_NONBLOCK), os.eventfd(0, os.EFD_NONBLOCK)
        self.efds += [kick, call]
        self.send(SET_VRING_KICK, struct.pack("<Q", vq), fds=[kick])
        self.send(SET_VRING_CALL, struct.pack("<Q", vq), fds=[call])
        self.send(SET_VRING_ENABLE, struct.pack("<II", vq, 1))

    # ---- packed rings (P1) ----
    def _pmark_idle(self, vq, pos):
        """Packed ring memory with nothing available at @pos: the descriptors before the
        index used in the current lap, the rest used in the previous one."""
        desc = self._ring(vq)[0]
        idx, wrap = packed_unpos(pos)
        for slot in range(RING_NUM):
            w = wrap if slot < idx else wrap ^ 1
            struct.pack_into("<H", self.mem, desc + 16 * slot + 14,
                             (DESC_F_AVAIL | DESC_F_USED) if w else 0)

    def _ppost(self, vq, chain, bid):
        """Make one buffer available on packed ring vq: @chain [(addr, len, flags)], its
        descriptors at the driver's next positions, all with buffer id @bid; the head's
        flags written last (the device may take the buffer from then on)."""
        r = self.rings[vq]
        desc = self._ring(vq)[0]
        idx, wrap = r.aidx, r.awrap
        heads = []
        for i, (addr, length, flags) in enumerate(chain):
            off = desc + 16 * idx
            flags |= DESC_F_AVAIL if wrap else DESC_F_USED
            struct.pack_into("<QIH", self.mem, off, addr, length, bid)
            if i == 0:
                heads.append((off, flags))
            else:
                struct.pack_into("<H", self.mem, off + 14, flags)
            self.driver_writes.append((off, struct.pack("<QIHH", addr, length, bid, flags)))
            idx += 1
            if idx == RING_NUM:
                idx, wrap = 0, wrap ^ 1
        off, flags = heads[0]
        struct.pack_into("<H", self.mem, off + 14, flags)
        r.aidx, r.awrap = idx, wrap
        r.inflight[bid] = len(chain)

    def _preap(self, vq):
        """Read the used descriptors the device wrote since the last call (at the
        driver's used index, AVAIL = USED = its used wrap counter)."""
        r = self.rings[vq]
        desc = self._ring(vq)[0]
        while r.inflight:
            off = desc + 16 * r.uidx
            flags = struct.unpack_from("<H", self.mem, off + 14)[0]
            if bool(flags & DESC_F_AVAIL) != r.uwrap or bool(flags & DESC_F_USED) != r.uwrap:
                break
            _, length, bid = struct.unpack_from("<QIH", self.mem, off)
            if bid not in r.inflight:
                raise VhostUserError(f"vq {vq}: used descriptor at {r.uidx} (wrap "
                                     f"{r.uwrap}) has id {bid}, not in flight")
            n = r.inflight.pop(bid)
            r.free.append(bid)
            r.elems.append((bid, length))
            r.count += 1
            r.uidx += n
            if r.uidx >= RING_NUM:
                r.uidx -= RING_NUM
                r.uwrap ^= 1

    def ring_pos(self, vq):
        """The device's position as the ring in guest memory shows it, in GET_VRING_BASE's
        encoding: split the used index; packed the end of the run of used descriptors
        (index, and bit 15 the used wrap counter)."""
        if not self.packed:
            return struct.unpack_from("<H", self.mem, self._ring(vq)[2] + 2)[0]
        self._preap(vq)
        r = self.rings[vq]
        return packed_pos(r.uidx, r.uwrap)

    def inflight(self, vq):
        """Buffers posted on ring vq that the device has not returned."""
        if not self.packed:
            _, avail, used = self._ring(vq)
            return (struct.unpack_from("<H", self.mem, avail + 2)[0] -
                    struct.unpack_from("<H", self.mem, used + 2)[0]) & 0xFFFF
        self._preap(vq)
        return self.rings[vq].outstanding()

    def post_rx_buffers(self, n=128, buflen=2048, vq=0):
        """Give the device n receive buffers on ring vq (descriptors 0..n-1)."""
        bufs = 0x100000
        self.rx_buf = (bufs, buflen)
        if self.packed:
            # Buffer id i is at bufs + i * buflen (as split descriptor i): rx_frame().
            self._preap(vq)
            r = self.rings[vq]
            r.free.sort()
            n = min(n, RING_NUM - r.outstanding())
            for _ in range(n):
                bid = r.free.pop(0)
                self._ppost(vq, [(bufs + bid * buflen, buflen, DESC_F_WRITE)], bid)
            return n
        desc, avail, _ = self._ring(vq)
        idx = struct.unpack_from("<H", self.mem, avail + 2)[0]
        for i in range(n):
            struct.pack_into("<QIHH", self.mem, desc + 16 * i, bufs + i * buflen, buflen,
                             2, 0)  # VRING_DESC_F_WRITE
            struct.pack_into("<H", self.mem, avail + 4 + 2 * ((idx + i) % RING_NUM), i)
        struct.pack_into("<H", self.mem, avail + 2, (idx + n) & 0xFFFF)
        return n

    # ---- the guest's transmit ring (vq 1) ----
    TX_BUFS = 0x180000
    FRAME = bytes(12) + bytes.fromhex("ffffffffffff020000000001" "0800") + bytes(50)

    def _ring(self, vq):
        rb = 0x10000 * (vq + 1)
        return rb, rb + 0x1000, rb + 0x2000

    def send_frames(self, n, vq=1):
        """Post up to n 64-byte frames (plus the 12-byte virtio-net header) on the
        transmit ring, as many as it has room for. Returns how many were posted."""
        if self.packed:
            self._preap(vq)
            r = self.rings[vq]
            n = min(n, RING_NUM - r.outstanding())
            for _ in range(n):
                bid = r.free.pop(0)
                addr = self.TX_BUFS + bid * 128
                self.mem[addr:addr + len(self.FRAME)] = self.FRAME
                self._ppost(vq, [(addr, len(self.FRAME), 0)], bid)
            return n
        desc, avail, used = self._ring(vq)
        aidx = struct.unpack_from("<H", self.mem, avail + 2)[0]
        uidx = struct.unpack_from("<H", self.mem, used + 2)[0]
        n = min(n, RING_NUM - ((aidx - uidx) & 0xFFFF))
        for i in range(n):
            d = (aidx + i) % RING_NUM
            addr = self.TX_BUFS + d * 128
            self.mem[addr:addr + len(self.FRAME)] = self.FRAME
            struct.pack_into("<QIHH", self.mem, desc + 16 * d, addr, len(self.FRAME), 0, 0)
            struct.pack_into("<H", self.mem, avail + 4 + 2 * ((aidx + i) % RING_NUM), d)
        struct.pack_into("<H", self.mem, avail + 2, (aidx + n) & 0xFFFF)
        return n

    # ---- a driver that lies about its rings ----
    def lie_avail(self, vq=1, ahead=0x8000):
        """Move the avail index far more than the ring size ahead of the device.
        Split only: a packed ring has no avail index to lie with."""
        if self.packed:
            raise VhostUserError("a packed ring has no avail index")
        _, avail, _ = self._ring(vq)
        aidx = struct.unpack_from("<H", self.mem, avail + 2)[0]
        struct.pack_into("<H", self.mem, avail + 2, (aidx + ahead) & 0xFFFF)

    def _post_one(self, vq, d, addr, length, flags, nxt):
        desc, avail, _ = self._ring(vq)
        aidx = struct.unpack_from("<H", self.mem, avail + 2)[0]
        struct.pack_into("<QIHH", self.mem, desc + 16 * d, addr, length, flags, nxt)
        struct.pack_into("<H", self.mem, avail + 4 + 2 * (aidx % RING_NUM), d)
        struct.pack_into("<H", self.mem, avail + 2, (aidx + 1) & 0xFFFF)

    def lie_loop(self, vq=1):
        """A descriptor chain that loops: descriptor 5 names itself as next. Packed: a
        chain has no next field, it goes on while NEXT is set; one that spans the whole
        ring (and on into the descriptors after it) has no end."""
        if self.packed:
            self._preap(vq)
            if self.rings[vq].outstanding():
                raise VhostUserError("lie_loop wants an idle ring")
            self.rings[vq].free.remove(5)
            self._ppost(vq, [(self.TX_BUFS, 76, DESC_F_NEXT)] * RING_NUM, 5)
            return
        self._post_one(vq, 5, self.TX_BUFS, 76, 1, 5)  # VRING_DESC_F_NEXT

    def lie_oob(self, vq=0):
        """A receive buffer outside guest memory."""
        if self.packed:
            self._preap(vq)
            r = self.rings[vq]
            self._ppost(vq, [(MEM_SIZE + 0x100000, 2048, DESC_F_WRITE)], r.free.pop(0))
            return
        self._post_one(vq, 7, MEM_SIZE + 0x100000, 2048, 2, 0)  # VRING_DESC_F_WRITE

    def used(self, vq=0):
        """(used.idx, [(id, len)...]) of ring vq. Packed: completions read so far, every
        one of them, oldest first."""
        if self.packed:
            self._preap(vq)
            r = self.rings[vq]
            return r.count & 0xFFFF, list(r.elems)
        used = 0x10000 * (vq + 1) + 0x2000
        idx = struct.unpack_from("<H", self.mem, used + 2)[0]
        elems = [struct.unpack_from("<II", self.mem, used + 4 + 8 * i)
                 for i in range(min(idx, RING_NUM))]
        return idx, elems

    def rx_frame(self, desc_id, length, hdr=12):
        bufs, buflen = self.rx_buf
        off = bufs + desc_id * buflen
        return bytes(self.mem[off + hdr:off + length])

    def get_vring_base(self, vq):
        self.send(GET_VRING_BASE, struct.pack("<II", vq, 0))
        return struct.unpack("<II", self.recv(GET_VRING_BASE))[1]

    def bring_up(self, rings=True, **kw):
        """Negotiate, initialise, optionally set up rings, then DRIVER_OK."""
        self.negotiate(**kw)
        self.init_status()
        if rings:
            self.setup_rings()
        ack = self.set_status(RUNNING)
        if ack != 0:
            raise VhostUserError("DRIVER_OK refused")

    # ---- device state ----
    def set_device_state_fd(self, direction, fd):
        self.send(SET_DEVICE_STATE_FD, struct.pack("<II", direction, 0), fds=[fd])
        return struct.unpack("<Q", self.recv(SET_DEVICE_STATE_FD))[0]

    def check_device_state(self):
        return self.get_u64(CHECK_DEVICE_STATE)
