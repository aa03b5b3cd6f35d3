#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Every vstop benchmark, one after the other (see docs/benchmarks.rst):
#   1. stop_engine.sh   the stop engine alone (quiescent report cost, stop latency)
#   2. throughput.py    vstop vs dpdk-testpmd net_vhost, same virtio_user front end
#   3. throughput.py    cost of stop support: vstop vs vstop without the quiescent report
#   4. stop_latency.py  stop latency over the wire vs queue count, idle and under traffic
#   5. migration.py     live-migration downtime between two vstop processes
#   6. scale.py         many devices: stop all vs one by one, idle ports, attach/detach
#   7. packed rings     throughput (vs testpmd), stop latency and migration, packed (P1)
#   8. takeover.py      live upgrade: the front end's interruption across a takeover
# Usage: tools/bench/run_all.sh [--smoke] [--build DIR] [--no-build]
#   --smoke     a few seconds each: checks that every benchmark runs and writes its CSV
#               (the meson test 'bench_smoke' runs this; it asserts nothing about timing)
#   (default)   the full run the figures in docs/benchmarks.rst come from (about an hour;
#               --rt variants need root for SCHED_FIFO, see stop_latency.py --help)
# Output: $VSTOP_BENCH_OUT (default out/bench): NAME.csv, NAME_*.csv, NAME.png, logs.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

smoke=0
build=$top/build
do_build=1
while [ $# -gt 0 ]; do
	case "$1" in
	--smoke) smoke=1 ;;
	--build) build=$(cd "$2" && pwd); shift ;;
	--no-build) do_build=0 ;;
	*) echo "usage: $0 [--smoke] [--build DIR] [--no-build]" >&2; exit 2 ;;
	esac
	shift
done
out=${VSTOP_BENCH_OUT:-$top/out/bench}
export VSTOP_BENCH_OUT=$out
mkdir -p "$out"
csvs=(stop_engine.csv throughput.csv throughput_runs.csv stop_cost.csv stop_cost_runs.csv
      stop_latency.csv stop_latency_stops.csv migration.csv migration_migrations.csv
      scale_engine_summary.csv scale_wire.csv scale_idle.csv scale_attach.csv
      throughput_packed.csv stop_latency_packed.csv migration_packed.csv
      takeover.csv takeover_takeovers.csv)
for f in "${csvs[@]}"; do rm -f "$out/$f"; done
if ! command -v dpdk-testpmd >/dev/null; then
	echo "run_all: dpdk-testpmd not found (Debian package dpdk): skipped" >&2
	exit 77
fi

if [ "$do_build" = 1 ]; then
	tools/install-deps.sh --bench
	[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
	ninja -C "$build" >/dev/null
	ninja -C "$build" tools/bench/vstop-noqsbr >/dev/null
fi

py=(python3)
s=()
[ "$smoke" = 1 ] && s=(--smoke)
b=(--build "$build")
t0=$(date +%s)
step() { echo; echo "=== run_all: $* ($(( $(date +%s) - t0 )) s so far)"; }

step "1/8 stop engine micro-benchmark"
if [ "$smoke" = 1 ]; then
	tools/bench/stop_engine.sh --smoke --build "$build" --no-build
else
	tools/bench/stop_engine.sh --cycles 2000 --build "$build" --no-build
fi

step "2/8 throughput: vstop vs testpmd net_vhost"
if [ "$smoke" = 1 ]; then
	"${py[@]}" tools/bench/throughput.py "${b[@]}" "${s[@]}" --name throughput \
		--backends testpmd,vstop,testpmd-io2,vstop-io2
else
	"${py[@]}" tools/bench/throughput.py "${b[@]}" --name throughput \
		--backends testpmd,vstop,testpmd-io2,vstop-io2 --sizes 64,1518 --queues 1,2 \
		--runs 7 --seconds 4
fi

step "3/8 cost of stop support: vstop vs vstop without the quiescent report"
if [ "$smoke" = 1 ]; then
	"${py[@]}" tools/bench/throughput.py "${b[@]}" "${s[@]}" --name stop_cost \
		--backends vstop,vstop-noqsbr
else
	"${py[@]}" tools/bench/throughput.py "${b[@]}" --name stop_cost \
		--backends vstop,vstop-noqsbr,vstop-io2,vstop-noqsbr-io2 --sizes 64 --queues 1,2 \
		--runs 7 --seconds 4 --idle-seconds 2 \
		--title "cost of stop support: vstop vs vstop without the quiescent report"
fi

step "4/8 stop latency over the wire vs queue count"
if [ "$smoke" = 1 ]; then
	"${py[@]}" tools/bench/stop_latency.py "${b[@]}" "${s[@]}" --name stop_latency
else
	# --rt: the threads that sleep between requests run SCHED_FIFO (as on a core of
	# their own); then all SCHED_OTHER, as shipped.
	"${py[@]}" tools/bench/stop_latency.py "${b[@]}" --cycles 300 --rt --name stop_latency_rt
	"${py[@]}" tools/bench/stop_latency.py "${b[@]}" --cycles 300 --name stop_latency
fi

step "5/8 migration downtime"
if [ "$smoke" = 1 ]; then
	"${py[@]}" tools/bench/migration.py "${b[@]}" "${s[@]}" --name migration
else
	"${py[@]}" tools/bench/migration.py "${b[@]}" --migrations 200 --queues 1,4 --rt \
		--name migration_rt
	"${py[@]}" tools/bench/migration.py "${b[@]}" --migrations 200 --queues 1,4 \
		--name migration
	if command -v perf >/dev/null; then
		step "profile of the backends (perf)"
		"${py[@]}" tools/bench/profile.py "${b[@]}" --backends testpmd,vstop || true
	fi
fi

step "6/8 many devices (E1), idle ports, runtime attach/detach"
"${py[@]}" tools/bench/scale.py "${b[@]}" "${s[@]}"

step "7/8 packed virtqueues (P1): throughput vs testpmd, stop latency, migration"
if [ "$smoke" = 1 ]; then
	"${py[@]}" tools/bench/throughput.py "${b[@]}" "${s[@]}" --packed \
		--name throughput_packed --backends testpmd,vstop
	"${py[@]}" tools/bench/stop_latency.py "${b[@]}" "${s[@]}" --packed \
		--name stop_latency_packed
	"${py[@]}" tools/bench/migration.py "${b[@]}" "${s[@]}" --packed --name migration_packed
else
	"${py[@]}" tools/bench/throughput.py "${b[@]}" --packed --name throughput_packed \
		--backends testpmd,vstop,testpmd-io2,vstop-io2 --sizes 64,1518 --queues 1,2 \
		--runs 7 --seconds 4 \
		--title "vhost-user loopback throughput, packed rings (testpmd virtio_user packed_vq=1)"
	"${py[@]}" tools/bench/stop_latency.py "${b[@]}" --packed --cycles 300 \
		--queues 1,4,16,64 --name stop_latency_packed
	"${py[@]}" tools/bench/migration.py "${b[@]}" --packed --migrations 200 --queues 1,4 \
		--name migration_packed
fi

step "8/8 live upgrade: the front end's interruption across a takeover (vs testpmd kill+restart)"
if [ "$smoke" = 1 ]; then
	"${py[@]}" tools/bench/takeover.py --build "$build" --smoke --name takeover
else
	"${py[@]}" tools/bench/takeover.py --build "$build" --takeovers 100 --queues 1,4 \
		--name takeover
fi

# Every benchmark must have written its CSV (the smoke test checks nothing else).
missing=0
for f in "${csvs[@]}"; do
	if [ ! -s "$out/$f" ]; then
		echo "run_all: $out/$f missing or empty" >&2
		missing=1
	fi
done
step "done: CSV, plots and logs in $out"
exit $missing
