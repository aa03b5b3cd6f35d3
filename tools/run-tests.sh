#!/usr/bin/env bash
# The test command: install what is missing, build, run every test, print one summary line.
# Two configurations: the normal build (every suite), then an ASan+UBSan build (every suite
# but fuzz, bench and qemu, or the suites in $VSTOP_ASAN_SUITES; VSTOP_ASAN=0 skips it).
# Usage: tools/run-tests.sh [meson test args...]   (e.g. --suite unit)
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh

setup_build() { # dir [meson options...]
	local dir=$1; shift
	[ -f "$dir/build.ninja" ] || meson setup "$dir" "$@" >/dev/null
	ninja -C "$dir" >/dev/null
}

rc=0
logs=()
builddir=${VSTOP_BUILDDIR:-build}
setup_build "$builddir"
echo "== tests: $builddir"
meson test -C "$builddir" --print-errorlogs "$@" || rc=1
logs+=("$builddir/meson-logs/testlog.json")

if [ "${VSTOP_ASAN:-1}" = 1 ] && [ $# -eq 0 ]; then
	setup_build build-asan -Db_sanitize=address,undefined -Db_lundef=false
	# Default: every suite but 'fuzz' (test/fuzz/run.sh builds its own ASan+UBSan binaries
	# with clang) and 'bench' (the benchmark scripts' smoke run: the processes it starts
	# are the ones the fe and app suites run here already, and sanitized timings mean
	# nothing) and 'qemu' (a TCG guest is the front end: the vstop it runs is the normal
	# build's code, which the app and fe suites already run sanitized; under ASan the guest
	# run only doubles the slowest test). VSTOP_ASAN_SUITES="unit app ..." picks suites instead.
	suites=(--no-suite fuzz --no-suite bench --no-suite qemu)
	if [ -n "${VSTOP_ASAN_SUITES:-}" ]; then
		suites=()
		for s in $VSTOP_ASAN_SUITES; do suites+=(--suite "$s"); done
	fi
	echo "== tests under ASan+UBSan: build-asan (${VSTOP_ASAN_SUITES:-every suite but fuzz, bench and qemu})"
	# Processes under test write their stderr to the tests' own logs, and not every test
	# looks at every exit status: sanitizer reports also go to files, and any file fails
	# the run. No LeakSanitizer suppression is needed (vstop and DPDK free what they
	# allocate at exit; docs/reliability.rst).
	sanlogs=build-asan/sanitizer-logs
	rm -rf "$sanlogs" && mkdir -p "$sanlogs"
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:log_path=$PWD/$sanlogs/asan} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:log_path=$PWD/$sanlogs/ubsan} \
		meson test -C build-asan --print-errorlogs "${suites[@]}" || rc=1
	if [ -n "$(ls -A "$sanlogs")" ]; then
		echo "== sanitizer reports (build-asan): $(ls "$sanlogs" | wc -l) file(s) in $sanlogs"
		head -n 40 "$sanlogs"/*
		rc=1
	fi
	logs+=(build-asan/meson-logs/testlog.json)
fi

# One closing line a person (and CI) can read: "N passed, N failed, N skipped".
python3 - "${logs[@]}" <<'PY'
import json, sys
ok = fail = skip = 0
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line).get("result", "ERROR")
        if r in ("OK", "EXPECTEDFAIL"):
            ok += 1
        elif r == "SKIP":
            skip += 1
        else:
            fail += 1
print(f"tests: {ok} passed, {fail} failed, {skip} skipped")
PY
exit $rc
