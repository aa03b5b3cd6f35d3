#!/usr/bin/env bash
# Stop-engine micro-benchmark: quiescent report cost (cycles) and stop latency in wall time
# and in loop iterations for 1, 4, 16, 64 queues over 2 polling lcores.
# Usage: tools/bench/stop_engine.sh [--smoke] [--cycles N]   (CSV in out/bench/stop_engine.csv)
set -euo pipefail
cd "$(dirname "$0")/../.."

cycles=2000
case "${1:-}" in
--smoke) cycles=20 ;;
--cycles) cycles=$2 ;;
esac
tools/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build tools/bench/bench_stop >/dev/null
mkdir -p out/bench
echo "stop engine benchmark: $cycles stop/resume cycles per queue count ($(nproc) cores)"
build/tools/bench/bench_stop --no-huge --no-pci -m 128 --lcores 0@0,1@1,2@0,3@1 \
	--file-prefix "vs-bench-$$" --log-level error -- \
	--cycles "$cycles" --queues 1,4,16,64 --csv out/bench/stop_engine.csv
echo "per-cycle figures: out/bench/stop_engine.csv"
