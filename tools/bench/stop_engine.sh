#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Stop-engine micro-benchmark: quiescent report cost (cycles) and stop latency in wall time
# and in loop iterations for 1, 4, 16, 64 queues over 2 polling lcores.
# Usage: tools/bench/stop_engine.sh [--smoke] [--cycles N] [--build DIR] [--no-build]
# CSV in $VSTOP_BENCH_OUT (default out/bench)/stop_engine.csv, summary in stop_engine.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."

cycles=2000
build=build
do_build=1
while [ $# -gt 0 ]; do
	case "$1" in
	--smoke) cycles=20 ;;
	--cycles) cycles=$2; shift ;;
	--build) build=$2; shift ;;
	--no-build) do_build=0 ;;
	*) echo "usage: $0 [--smoke] [--cycles N] [--build DIR] [--no-build]" >&2; exit 2 ;;
	esac
	shift
done
out=${VSTOP_BENCH_OUT:-out/bench}
if [ "$do_build" = 1 ]; then
	tools/install-deps.sh
	[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
	ninja -C "$build" tools/bench/bench_stop >/dev/null
fi
mkdir -p "$out"
echo "stop engine benchmark: $cycles stop/resume cycles per queue count ($(nproc) cores)"
# bench_stop is a DPDK process: started through tools/proclib.sh (never a child of this
# shell, whose reaping of it could block in the kernel), its exit status read bounded.
work=$(mktemp -d /tmp/vs-bench-stop.XXXX)
. tools/proclib.sh
pid=$(spawn bench_stop /dev/null "$build/tools/bench/bench_stop" --no-huge --no-pci -m 128 \
	--lcores 0@0,1@1,2@0,3@1 --file-prefix "vs-bench-$$" --log-level error -- \
	--cycles "$cycles" --queues 1,4,16,64 --csv "$out/stop_engine.csv")
rc=$(exit_status_within bench_stop 1800)
end_pid "$pid"
cp "$work/bench_stop.log" "$out/stop_engine.txt"
cat "$out/stop_engine.txt"
rm -rf "$work"
[ "$rc" = 0 ] || { echo "bench_stop: exit status $rc" >&2; exit 1; }
echo "per-cycle figures: $out/stop_engine.csv"
