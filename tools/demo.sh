#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The main job, end to end: install what is missing, build, start vstop with two vhost-user
# ports forwarding (io) for a dpdk-testpmd front end (two net_virtio_user ports), stop
# both devices while frames flow, resume them, and print what happened. Then migrate a
# live device between two vstop instances with vstop-fe (our own front end and driver,
# since no stock driver moves device state) and print the downtime and frame counts.
#
# The stop and resume go through vstop's control socket with tools/vstopctl (the
# operator's client): 'device stop all' stops both devices in one engine pass under one
# epoch barrier (rule E1), 'device resume all' brings them back.
# Only processes this script started are ended, by PID. They are not children of this
# shell (tools/proclib.sh: bash reaps its children whenever it waits, and reaping a dead
# DPDK process can block in the kernel for a long time).
#
# Then a live upgrade: a new vstop takes over a running one (--takeover, docs/upgrade.rst)
# twice under vstop-fe traffic; vstop-fe checks that nothing was lost and it saw no close.
# Last, with a real guest: a QEMU 7.2 (TCG) guest counting sequence-numbered
# frames is live-migrated between vstop's two ports (tools/guest, docs/migration.rst).
#
# Usage: tools/demo.sh [seconds of traffic per phase, default 2]
set -euo pipefail
cd "$(dirname "$0")/.."

phase=${1:-2}
tools/install-deps.sh
builddir=${VSTOP_BUILDDIR:-build}
if [ ! -f "$builddir/build.ninja" ]; then
	meson setup "$builddir" >/dev/null
fi
ninja -C "$builddir" >/dev/null

tag="vstop-demo-$$"
work=$(mktemp -d "/tmp/$tag.XXXX")
sock0="$work/port0.sock"
sock1="$work/port1.sock"
vs_log="$work/vstop.log"   # spawn's names: vstop, testpmd
vs_ctl="$work/vstop.ctl"
ctl() { tools/vstopctl -s "$vs_ctl" "$@"; }
tp_log="$work/testpmd.log"
fifo="$work/testpmd.in"
vs_pid=""
tp_pid=""
mig_pids=""

# spawn, alive, gone_within, exit_status_within, end_pid: tools/proclib.sh
. tools/proclib.sh

cleanup() {
	for pid in $tp_pid $vs_pid $mig_pids; do end_pid "$pid"; done
	exec 3>&- 2>/dev/null || true
	rm -f "$fifo" "$sock0" "$sock1" "$vs_ctl" "$work/a.sock" "$work/b.sock" "$work/to.sock" \
		"$work/to.ctl"
}
trap cleanup EXIT

wait_log() { # file pattern timeout_s
	for _ in $(seq $(($3 * 10))); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "demo: timed out waiting for '$2' in $1" >&2
	tail -20 "$1" >&2
	return 1
}

# Ask vstop for its counters (SIGUSR1) and print port N's rx/tx from the newest block.
stats() {
	local n
	n=$(grep -c "^stats end" "$vs_log" || true)
	kill -USR1 "$vs_pid"
	for _ in $(seq 50); do
		[ "$(grep -c "^stats end" "$vs_log" || true)" -gt "$n" ] && break
		sleep 0.1
	done
	# awk leaves early: tac may die of SIGPIPE, which pipefail would make fatal.
	{ tac "$vs_log" || true; } | awk '/^stats end/{f=1; next} /^stats begin/{if (f) exit} f' | tac
}

rx_total() { stats | awk '{for (i = 1; i <= NF; i++) if ($i ~ /^rx=/) { sub("rx=", "", $i); s += $i } } END { print s + 0 }'; }

all() { # stop|resume: every device, one engine pass; the answer's key figures
	ctl device "$1" all | grep -E "^(op|devices|done|wall_us|epochs|engine_batch_[a-z]*):" |
		sed 's/^/   /'
}

echo "== vstop: two vhost-user ports, io forwarding (port 0 <-> port 1)"
vs_pid=$(spawn vstop /dev/null "$builddir/app/vstop" --no-huge -m 256 --no-pci \
	--file-prefix "$tag-vs" --lcores 0@0,1@1 --log-level 'lib.vhost.*:warning' -- \
	--vhost "$sock0" --vhost "$sock1" --fwd io --idle-backoff-us 100 --ctl "$vs_ctl")
wait_log "$vs_log" "vstop ready" 30

echo "== dpdk-testpmd: two net_virtio_user ports on those sockets, io forwarding"
mkfifo "$fifo"
exec 3<>"$fifo"
tp_pid=$(spawn testpmd "$fifo" stdbuf -o0 dpdk-testpmd --no-huge -m 256 --no-pci \
	--file-prefix "$tag-tp" --lcores 0@0,1@1 --log-level 'pmd.net.virtio.*:warning' \
	--vdev "net_virtio_user0,path=$sock0" --vdev "net_virtio_user1,path=$sock1" -- \
	-i --total-num-mbufs=8192 --forward-mode=io --nb-cores=1)
wait_log "$tp_log" "testpmd>" 30
wait_log "$vs_log" "$sock1: device ready" 10

echo "start tx_first" >&3
sleep "$phase"
a=$(rx_total); sleep 1; b=$(rx_total)
echo "== running: vstop forwards $((b - a)) frames/s (frames circulate testpmd <-> vstop)"
stats

echo "== stop both devices: tools/vstopctl -s $vs_ctl device stop all"
all stop
a=$(rx_total); sleep "$phase"; b=$(rx_total)
echo "   while stopped: $((b - a)) frames forwarded in ${phase}s (the rings wait)"

for p in 0 1; do
	echo "   port $p: $(ctl show device status $p | grep -E '^(status_names|last_stop_us):' |
		tr '\n' ' ')"
done

echo "== resume both devices: tools/vstopctl -s $vs_ctl device resume all"
all resume
sleep "$phase"
a=$(rx_total); sleep 1; b=$(rx_total)
echo "== running again: $((b - a)) frames/s"
stats

echo "stop" >&3
sleep 0.5
echo "show port stats all" >&3
sleep 0.5
echo "quit" >&3
gone_within "$tp_pid" 10 || true
echo "== testpmd's side:"
grep -E "NIC statistics for port|RX-packets|TX-packets" "$tp_log" | tail -6 | sed 's/^ */   /'
kill -TERM "$vs_pid"
gone_within "$vs_pid" 10 || true
echo "== vstop at exit:"
{ tac "$vs_log" || true; } | awk '/^stats end/{f=1; next} /^stats begin/{if (f) exit} f' | tac

echo "== migration: vstop A and vstop B (loopback, 2 queue pairs), vstop-fe moves the live"
echo "   device A -> B -> A ... (stop at A, save state, load at B, resume at B) under traffic"
for side in a b; do
	mig_pids="$mig_pids $(spawn "vstop-$side" /dev/null "$builddir/app/vstop" --no-huge \
		-m 256 --no-pci --file-prefix "$tag-$side" --lcores 0@0,1@1 \
		--log-level 'lib.vhost.*:warning' -- \
		--vhost "$work/$side.sock,queues=2" --fwd loopback --idle-backoff-us 50)"
	wait_log "$work/vstop-$side.log" "vstop ready" 30
done
fe_pid=$(spawn vstop-fe /dev/null "$builddir/tools/fe/vstop-fe" -s "$work/a.sock" \
	-p "$work/b.sock" -q 2 --migrate 6 --gap 200 --quiet)
mig_pids="$mig_pids $fe_pid"
# Its exit status, from spawn's .rc file; bounded (it migrates 6 times, then drains).
rc=$(exit_status_within vstop-fe 300)
grep -E "^(frames|lost|migrations|stops|result)|downtime" "$work/vstop-fe.log" | sed 's/^/   /'
[ "$rc" = 0 ] || { echo "demo: vstop-fe exited $rc, see $work/vstop-fe.log" >&2; exit 1; }
for pid in $mig_pids; do end_pid "$pid"; done
mig_pids=""

echo "== live upgrade: vstop T0 serves vstop-fe (4 queue pairs, sequence-numbered frames);"
echo "   a new vstop started with --takeover takes over its port and control socket, twice"
echo "   (T0 -> T1 -> T2): the front end's connection moves, nothing is renegotiated"
to_sock="$work/to.sock"
to_ctl="$work/to.ctl"
to_vstop() { # name, then --ctl PATH or --takeover PATH
	spawn "$1" /dev/null "$builddir/app/vstop" --no-huge -m 256 --no-pci \
		--file-prefix "$tag-$1" --lcores 0@0,1@1 --log-level 'lib.vhost.*:warning' -- \
		--vhost "$to_sock,queues=4" --fwd loopback --idle-backoff-us 50 "$2" "$3"
}
t_pid=$(to_vstop T0 --ctl "$to_ctl")
mig_pids="$t_pid"
wait_log "$work/T0.log" "vstop ready" 30
fe_pid=$(spawn vstop-fe-to /dev/null "$builddir/tools/fe/vstop-fe" -s "$to_sock" -q 4 \
	-d $((phase * 3 + 8)) --rate 100000 --quiet)
mig_pids="$mig_pids $fe_pid"
sleep "$phase"
for n in 1 2; do
	t_new=$(to_vstop "T$n" --takeover "$to_ctl")
	mig_pids="$mig_pids $t_new"
	wait_log "$work/T$n.log" "takeover done" 60
	echo "   T$n: $(grep -m1 '^takeover done' "$work/T$n.log" | cut -d' ' -f3-4)," \
		"T$((n - 1)) exited $(exit_status_within "T$((n - 1))" 30):" \
		"$(grep -m1 'takeover handed over' "$work/T$((n - 1)).log" | cut -d' ' -f4-)"
	echo "   $(tools/vstopctl -s "$to_ctl" show takeover | sed -n 1p)"
	sleep "$phase"
done
rc=$(exit_status_within vstop-fe-to 120)
grep -E "^(frames|result)|max gap" "$work/vstop-fe-to.log" | sed 's/^/   /'
[ "$rc" = 0 ] || { echo "demo: vstop-fe exited $rc, see $work/vstop-fe-to.log" >&2; exit 1; }

echo "== QEMU live migration: a real guest (QEMU 7.2 TCG, Debian cloud kernel, seqcheck"
echo "   sending sequence-numbered frames flat out and counting every one) on vstop's port 0,"
echo "   migrated under traffic to a second QEMU on port 1 (tools/guest/migrate-loop.py)"
set +e
# Its own deadlines end every process it starts (tools/guest/qemu_rig.py); this bound is
# for the whole run (guest build: the kernel package is downloaded once, then cached).
python3 tools/guest/migrate-loop.py --backend vstop --runs 1 --vstop "$builddir/app/vstop" \
	--guest-dir "$builddir/guest" --seqcheck "$builddir/tools/guest/seqcheck" \
	--keep "$work/qemu" >"$work/qemu.log" 2>&1
qrc=$?
set -e
grep -E "^(guest:|run 1:|summary:|SKIP)|problem|guest: " "$work/qemu.log" | sed 's/^/   /'
case $qrc in
0) ;;
77) echo "   (no guest kernel could be downloaded: the QEMU part was skipped)" ;;
*) echo "demo: the QEMU migration failed, see $work/qemu.log and $work/qemu" >&2; exit 1 ;;
esac
echo "== logs: $work"
