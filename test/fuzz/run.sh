#!/usr/bin/env bash
# Build the libFuzzer harnesses with clang (+ASan +UBSan) and run each one.
# Usage: test/fuzz/run.sh [--smoke | --full] [harness...]
#   --smoke  a few seconds each (CI); default 30 s each; --full: 1,000,000 executions each.
# Seed corpora: test/fuzz/corpus/<harness>/ (read-only); the growing corpus is kept in
# build-fuzz/corpus/<harness>/. Exit 77 (skip) if clang's fuzzer runtime is missing.
# Extra harnesses: test/fuzz/fuzz_<name>.c, its other sources in fuzz_<name>.sources and,
# optionally, extra compiler/linker flags (e.g. -Wl,--wrap=...) in fuzz_<name>.flags.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
mode=normal
case "${1:-}" in --smoke|--full) mode=${1#--}; shift ;; esac
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
	harnesses=(devstate options engine)
	# Extra harnesses: test/fuzz/fuzz_<name>.c + fuzz_<name>.sources (+ optional .flags).
	for f in test/fuzz/fuzz_*.sources; do
		[ -f "$f" ] || continue
		n=${f#test/fuzz/fuzz_}
		harnesses+=("${n%.sources}")
	done
fi

if ! command -v clang >/dev/null || ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n){return 0;}' |
	clang -x c -fsanitize=fuzzer - -o /dev/null 2>/dev/null; then
	echo "fuzz: clang with libFuzzer not available (tools/install-deps.sh installs it)"
	exit 77
fi

out=build-fuzz
mkdir -p "$out"
cflags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	-DALLOW_EXPERIMENTAL_API -Wall -Wno-unused-parameter -I lib -I app
	$(pkg-config --cflags libdpdk))
libs=($(pkg-config --libs libdpdk) -lpthread)
core=(lib/vs_status.c lib/vs_ctl.c lib/vs_ctl_ops.c lib/vs_publish.c)

sources_of() {
	case $1 in
	devstate) echo test/fuzz/fuzz_devstate.c lib/vs_devstate.c ;;
	options)  echo test/fuzz/fuzz_options.c app/options.c ;;
	engine)   echo test/fuzz/fuzz_engine.c "${core[@]}" ;;
	*) [ -f "test/fuzz/fuzz_$1.c" ] && echo "test/fuzz/fuzz_$1.c $(cat "test/fuzz/fuzz_$1.sources" 2>/dev/null)" ;;
	esac
}

rc=0
for h in "${harnesses[@]}"; do
	srcs=$(sources_of "$h") || { echo "fuzz: unknown harness $h"; rc=1; continue; }
	missing=""
	for f in $srcs; do [ -f "$f" ] || missing="$missing $f"; done
	if [ -n "$missing" ]; then
		echo "fuzz: $h skipped: not in this tree:$missing"
		continue
	fi
	flags=$(cat "test/fuzz/fuzz_$h.flags" 2>/dev/null || true)
	# shellcheck disable=SC2086
	if ! clang "${cflags[@]}" $srcs $flags "${libs[@]}" -o "$out/fuzz_$h"; then
		echo "fuzz: $h FAILED to build"; rc=1; continue
	fi
	mkdir -p "$out/corpus/$h"
	seeds=()
	[ -d "test/fuzz/corpus/$h" ] && seeds=("test/fuzz/corpus/$h")
	case $mode in
	smoke) limit=(-max_total_time=5) ;;
	full)  limit=(-runs=1000000) ;;
	*)     limit=(-max_total_time=30) ;;
	esac
	echo "fuzz: $h (${limit[*]})"
	if ! ASAN_OPTIONS=detect_leaks=0 "$out/fuzz_$h" "${limit[@]}" -print_final_stats=1 \
		-artifact_prefix="$out/crash-$h-" "$out/corpus/$h" "${seeds[@]}" \
		> "$out/fuzz_$h.log" 2>&1; then
		echo "fuzz: $h FAILED, see $out/fuzz_$h.log"; tail -30 "$out/fuzz_$h.log"; rc=1
	else
		grep -a -E 'stat::number_of_executed_units' "$out/fuzz_$h.log" | sed "s/^/fuzz: $h: /"
	fi
done
exit $rc
