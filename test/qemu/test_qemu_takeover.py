#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""qemu_U1_U3_takeover_<mode>_<layout>: a QEMU 7.2 guest (TCG, Debian cloud kernel, busybox
initramfs running seqcheck: sequence-numbered frames, AF_PACKET) on vstop (--fwd
loopback), which is replaced twice under traffic by a new vstop (--takeover): A -> B -> C.

mode server: vstop listens, QEMU's chardev connects (-chardev socket,path=...).
mode client: QEMU's chardev listens (server=on,wait=off), vstop's port is ',client'.
layout split or packed (virtio-net-pci packed=on).

Fails on: a lost, duplicated or corrupt frame (seqcheck's SEQ-FINAL), traffic that does
not continue after each takeover, a guest kernel error line, QEMU noticing anything of
the backend (a vhost-user error or disconnect line in its log), a vstop that does not
exit 0 after handing over. Skips (77) only when the guest kernel cannot be obtained.

Usage: test_qemu_takeover.py server|client split|packed"""
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools", "guest"))
import qemu_rig as rig  # noqa: E402

VSTOP = os.environ.get("VSTOP") or os.path.join(rig.TOP, "build", "app", "vstop")
QEMU_BAD = ("vhost", "disconnect", "Failed", "error")


class Vs:
    n = 0

    def __init__(self, sock, ctl, client, logdir, takeover):
        Vs.n += 1
        self.prefix = f"qto_{os.getpid()}_{Vs.n}"
        spec = f"{sock},client" if client else sock
        argv = [VSTOP, "--no-huge", "-m", "512", "--no-pci", "--file-prefix", self.prefix,
                "--lcores", rig.LCORES, "--log-level", "lib.vhost.*:warning", "--",
                "--vhost", spec, "--fwd", "loopback", "--idle-backoff-us", "100"]
        argv += ["--takeover", ctl] if takeover else ["--ctl", ctl]
        self.c = rig.Child(argv, f"vstop{Vs.n}", logdir)

    def log(self):
        return self.c.log()

    def end(self):
        rc = self.c.end(15)
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)
        return rc


def main():
    mode, layout = sys.argv[1], sys.argv[2]
    if shutil.which(rig.QEMU) is None:
        print(f"FAIL: {rig.QEMU} not found")
        return 1
    try:
        kernel, initrd, _ = rig.build_guest()
    except rig.SkipRig as e:
        print(f"SKIP: {e}")
        return 77
    logdir = tempfile.mkdtemp(prefix=f"vst_qemu_to_{mode}_{layout}_")
    sock = os.path.join(logdir, "vm.sock")
    ctl = os.path.join(logdir, "vs.ctl")
    client = mode == "client"
    vss, q, problems = [], None, []
    qlog_at = None

    def rcvd():
        s = q.seq()
        return s[-1]["rcvd"] if s else 0

    def flowing(base, secs, until):
        """frames back beyond base for secs guest seconds"""
        t0 = None
        while time.time() < until:
            s = q.seq()
            if s and s[-1]["rcvd"] > base:
                t0 = t0 if t0 is not None else s[-1]["t"]
                if s[-1]["t"] - t0 >= secs * 1000:
                    return True
            if q.errors() or not q.c.alive():
                return False
            time.sleep(0.2)
        return False

    try:
        vss.append(Vs(sock, ctl, client, logdir, False))
        rig.wait_for(lambda: "vstop ready" in vss[-1].log(), 60, what="vstop ready")
        q = rig.Qemu("q0", sock, kernel, initrd, logdir, seconds=600,
                     chardev_opts=",server=on,wait=off" if client else "",
                     device_opts=",packed=on" if layout == "packed" else "")
        if not flowing(0, 3, time.time() + 180):
            problems.append("no traffic before the first takeover")
            raise StopIteration
        qlog_at = len(q.c.log())  # QEMU's start-up warnings are not the takeover's
        for i in range(2):
            base = rcvd()
            a = vss[-1]
            vss.append(Vs(sock, ctl, client, logdir, True))
            b = vss[-1]
            rig.wait_for(lambda: "takeover done" in b.log() or not b.c.alive(), 60,
                         what="takeover done")
            if "takeover done" not in b.log():
                problems.append(f"takeover {i} failed:\n{b.log()[-2000:]}")
                raise StopIteration
            a.c.wait_exit(30)
            rc = a.c.rc
            line = [l for l in b.log().splitlines() if l.startswith("takeover done")][0]
            print(f"takeover {i}: {line} (old vstop exit {rc})", flush=True)
            if rc != 0:
                problems.append(f"takeover {i}: the old vstop exited {rc}")
            if not flowing(base, 3, time.time() + 90):
                problems.append(f"traffic did not continue after takeover {i}")
                raise StopIteration
        q.console_send("stop")
        rig.wait_for(lambda: q.final() or not q.c.alive(), 60, what="SEQ-FINAL")
    except (StopIteration, TimeoutError) as e:
        if isinstance(e, TimeoutError):
            problems.append(str(e))
    finally:
        f = q.final() if q else None
        if f:
            print("SEQ-FINAL " + " ".join(f"{k}={v}" for k, v in f.items()), flush=True)
            for k in ("lost", "dup", "bad"):
                if f[k]:
                    problems.append(f"{k}={f[k]}")
        elif not problems:
            problems.append("no SEQ-FINAL")
        if q is not None:
            errs = q.errors()
            if errs:
                problems.append("guest kernel errors: " + "; ".join(errs[:5]))
            qlog = [l for l in q.c.log()[qlog_at or 0:].splitlines()[1:]
                    if any(w.lower() in l.lower() for w in QEMU_BAD)]
            if qlog:
                problems.append("QEMU noticed: " + "; ".join(qlog[:5]))
            q.end()
        for v in vss:
            if v.c.alive():
                v.c.signal(signal.SIGTERM)
            v.end()
    if problems:
        for p in problems:
            print(f"problem: {p}")
        print(f"FAIL: logs kept in {logdir}")
        return 1
    shutil.rmtree(logdir, ignore_errors=True)
    print(f"PASS: {mode} mode, {layout} rings: 2 takeovers, 0 lost, 0 duplicated, QEMU "
          "noticed nothing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
