#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Run N QEMU live migrations in a row, each a fresh boot (or --hops M migrations per
boot, ping-pong between the two ports): a backend (vstop --fwd loopback,
or dpdk-testpmd net_vhost io --port-topology=loop) with two vhost-user ports, the guest
(tools/guest/build-guest.sh: Debian cloud kernel, seqcheck sending sequence-numbered
frames flat out) on port 0, migrated under traffic to a QEMU on port 1.

Prints one line per run (passed/BROKEN, lost, dup, maxgap, QEMU downtime, guest kernel
errors) and a summary; the consoles of broken runs are kept under --keep (default
/tmp/migrate-loop-<pid>/run-N/), those of passed runs are removed unless --keep-all.

  tools/guest/migrate-loop.py --backend vstop --runs 20
  tools/guest/migrate-loop.py --backend testpmd --runs 5
  tools/guest/migrate-loop.py --backend vstop --runs 2 --hops 7      # ping-pong 0<->1
  tools/guest/migrate-loop.py --backend vstop --runs 1 --no-migrate --migrate-at 20
  tools/guest/migrate-loop.py --backend vstop --runs 5 --check-memory   # RAM src == dst

Exit status: 0 every run passed, 1 some run broke, 77 the guest kernel cannot be obtained.
"""
import argparse
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_rig  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=["vstop", "testpmd"], default="vstop")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--migrate-at", type=float, default=3,
                    help="migrate once the guest has had traffic this long (s), default 3")
    ap.add_argument("--after", type=float, default=5,
                    help="traffic on the destination after each migration (s), default 5")
    ap.add_argument("--hops", type=int, default=1,
                    help="migrations per run, ping-pong between the two ports (default 1)")
    ap.add_argument("--vstop", help="vstop binary (default build/app/vstop or $VSTOP)")
    ap.add_argument("--seqcheck", help="static seqcheck (default: build-guest.sh builds it)")
    ap.add_argument("--guest-dir", help="build-guest.sh output dir (default build/guest)")
    ap.add_argument("--append", default="",
                    help="extra kernel parameters, e.g. 'vstop.window=64 vstop.rate=5000'")
    ap.add_argument("--keep", help="directory for the runs' logs (default /tmp/migrate-loop-PID)")
    ap.add_argument("--keep-all", action="store_true", help="keep logs of passed runs too")
    ap.add_argument("--no-migrate", action="store_true",
                    help="baseline (--hops 0): traffic for --migrate-at s on the source only")
    ap.add_argument("--check-memory", action="store_true",
                    help="start each destination paused and compare its guest RAM with the "
                    "source's page by page before it runs (any difference breaks the run)")
    ap.add_argument("--json", help="write every run's result to this file")
    ap.add_argument("--packed", action="store_true",
                    help="packed virtqueues in the guest (virtio-net-pci packed=on; P1)")
    a = ap.parse_args()

    try:
        kernel, initrd, build_s = qemu_rig.build_guest(a.guest_dir, a.seqcheck)
    except qemu_rig.SkipRig as e:
        print(f"SKIP: {e}")
        return 77
    print(f"guest: {kernel} {initrd} (build-guest.sh {build_s:.1f} s)")
    keep = a.keep or f"/tmp/migrate-loop-{os.getpid()}"
    os.makedirs(keep, exist_ok=True)
    results = []
    for i in range(1, a.runs + 1):
        logdir = os.path.join(keep, f"run-{i}")
        shutil.rmtree(logdir, ignore_errors=True)
        print(f"run {i}/{a.runs} ({a.backend})", flush=True)
        r = qemu_rig.run_migration(
            a.backend, kernel, initrd, logdir, migrate_at_ms=int(a.migrate_at * 1000),
            after_s=a.after, hops=0 if a.no_migrate else a.hops, tag=f"{os.getpid()}_{i}",
            vstop=a.vstop, append=a.append, log=lambda m: print(m, flush=True),
            check_memory=a.check_memory, packed=a.packed)
        results.append(r)
        f = r.get("final") or {}
        state = "passed" if r["ok"] else "BROKEN"
        print(f"run {i}: {state} migrations={len(r['migrations'])} lost={f.get('lost', '?')} "
              f"dup={f.get('dup', '?')} bad={f.get('bad', '?')} "
              f"sockdrop={f.get('sockdrop', '?')} maxgap_ms={f.get('maxgap_ms', '?')} "
              f"downtime_ms={','.join(str(d) for d in r['downtime_ms']) or '-'} "
              f"migration_ms={','.join(str(m['total_ms']) for m in r['migrations']) or '-'} "
              f"kernel_errors={len(r['errors'])} wall_s={r.get('wall_s')}"
              + (" ram_diff_pages=" + ",".join(str(m.get("ram_diff_pages", "?"))
                                               for m in r["migrations"])
                 if a.check_memory else ""), flush=True)
        for p in r["problems"]:
            print(f"    problem: {p}")
        for e in r["errors"][:12]:
            print(f"    guest: {e}")
        if len(r["errors"]) > 12:
            print(f"    guest: ... {len(r['errors']) - 12} more line(s)")
        if r.get("backend_stats"):
            for port, st in sorted(r["backend_stats"].items()):
                print(f"    vstop port {port}: rx={st.get('rx')} tx={st.get('tx')} "
                      f"drop={st.get('drop')} held_drop={st.get('held_drop')} "
                      f"resets={st.get('resets')} stops={st.get('stops')}")
        if r["ok"] and not a.keep_all:
            shutil.rmtree(logdir, ignore_errors=True)
        else:
            print(f"    logs: {logdir}/ (q0-console.log = first guest console, q1..., "
                  f"backend and QEMU logs)")
    broken = [i + 1 for i, r in enumerate(results) if not r["ok"]]
    nmig = sum(len(r["migrations"]) for r in results)
    print(f"summary: backend={a.backend} runs={len(results)} migrations={nmig} "
          f"passed={len(results) - len(broken)} "
          f"broken={len(broken)}" + (f" (runs {broken})" if broken else ""))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(results, fh, indent=1, default=str)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
