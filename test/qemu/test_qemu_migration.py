#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""qemu_V5_V6_migration_split: a QEMU 7.2 guest (TCG, Debian cloud kernel, busybox
initramfs) on vstop (--fwd loopback, two vhost-user ports), live-migrated under flat-out
sequence-numbered traffic (seqcheck, AF_PACKET) from the QEMU on port 0 to a QEMU on
port 1. QEMU 7.2 stops the source device with SET_STATUS(0) then GET_VRING_BASE (V5) and
refuses to migrate without dirty logging (V6).

With --packed it is qemu_P1_V5_V6_migration_packed: the same with packed virtqueues
(virtio-net-pci packed=on, rule P1).

With --check-memory it is qemu_V6_migration_ram_identical: the destination QEMU starts
paused (-S) and, once the migration completed, its guest RAM must equal the source's page
by page (V6: every page vstop wrote reached the destination through dirty logging, and
the rig's guest RAM size keeps QEMU 7.2's TCG dirty tracking honest: see
qemu_rig.GUEST_RAM_KIB; issue 15). The RAM size rule itself is checked first, so that
part fails deterministically if the workaround is lost.

Fails on: any guest kernel error line (BUG, Oops, 'not a head', soft lockup, corruption,
Call Trace, general protection, ...), any lost, duplicated or corrupt frame, traffic that
does not continue on the destination. Skips (77) only when the guest kernel cannot be
obtained (apt unreachable). The consoles of a failed run stay in the directory printed."""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools", "guest"))
import qemu_rig  # noqa: E402


def main():
    if shutil.which(qemu_rig.QEMU) is None:
        print(f"FAIL: {qemu_rig.QEMU} not found (tools/install-deps.sh installs "
              "qemu-system-x86)")
        return 1
    check_memory = "--check-memory" in sys.argv[1:]
    packed = "--packed" in sys.argv[1:]
    if check_memory and qemu_rig.GUEST_RAM_KIB % 256 == 0:
        # A multiple of 256 KiB makes QEMU 7.2 take the sync fast path that loses TCG
        # guest writes during migration (issue 15): the destination guest is corrupt.
        print(f"FAIL: guest RAM {qemu_rig.GUEST_RAM_KIB} KiB is a multiple of 256 KiB")
        return 1
    try:
        kernel, initrd, build_s = qemu_rig.build_guest()
    except qemu_rig.SkipRig as e:
        print(f"SKIP: {e}")
        return 77
    print(f"guest: {kernel} {initrd} (build-guest.sh {build_s:.1f} s)")
    logdir = tempfile.mkdtemp(prefix="vst_qemu_mig_")
    r = qemu_rig.run_migration("vstop", kernel, initrd, logdir, migrate_at_ms=3000,
                               after_s=5, hops=1, log=lambda m: print(m, flush=True),
                               check_memory=check_memory, packed=packed)
    f = r.get("final") or {}
    m = r["migrations"][0] if r["migrations"] else {}
    print(f"boot {r.get('boot_s')} s, migration {m.get('status')} in {m.get('total_ms')} ms, "
          f"downtime {m.get('downtime_ms')} ms, destination traffic "
          f"{m.get('dst_traffic_s')} s, wall {r.get('wall_s')} s"
          + (f", guest RAM pages differing {m.get('ram_diff_pages')}" if check_memory else ""))
    if f:
        print("SEQ-FINAL " + " ".join(f"{k}={v}" for k, v in f.items()))
    for port, st in sorted((r.get("backend_stats") or {}).items()):
        print(f"vstop port {port}: rx={st.get('rx')} tx={st.get('tx')} drop={st.get('drop')} "
              f"held_drop={st.get('held_drop')} resets={st.get('resets')}")
    if r["ok"]:
        shutil.rmtree(logdir, ignore_errors=True)
        print("PASS")
        return 0
    for p in r["problems"]:
        print(f"problem: {p}")
    for e in r["errors"][:40]:
        print(f"guest: {e}")
    print(f"FAIL: logs (consoles, QEMU, vstop) kept in {logdir}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
