#!/usr/bin/env bash
# Run one meson test N times in a row and count passes, failures and hangs.
# Usage: tools/loop-test.sh NAME [N [BUILDDIR [HANG_S]]]
#   e.g. tools/loop-test.sh app_split_V4_frontend_sigkill_other_port_forwards 50 build-asan
# Each run has a hard deadline of HANG_S seconds (default 90, well under meson's 180 s
# test timeout, far above a normal run's few seconds): a run still going then is a hang.
# Before ending it, the script saves what every process of the run is doing (state,
# wchan, kernel stack, open /proc files) to loop-NAME/hang-<run>.txt, the evidence for
# docs/reliability.rst. It then ends those processes by PID (SIGKILL), never by name.
# It also counts the runs in which a thread of the test sat in the kernel's reaping of a
# child (release_task in its stack) for 5 s or more ("stuck reaps", evidence in
# loop-NAME/reap-<run>.txt), and the runs whose log says a reap was given up
# ("could not be reaped": tools/proclib.py went on without it).
# Exit status 0 only if every run passed.
set -uo pipefail
cd "$(dirname "$0")/.."

name=${1:?usage: tools/loop-test.sh NAME [N [BUILDDIR [HANG_S]]]}
n=${2:-50}
builddir=${3:-build}
hang_s=${4:-90}
out=$builddir/loop-$name
rm -rf "$out" && mkdir -p "$out"
# The sanitizer settings tools/run-tests.sh uses, reports into $out.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:log_path=$PWD/$out/asan}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:log_path=$PWD/$out/ubsan}

# The processes a run started: the descendants of @1, from one ps (fast enough to poll
# every second on a loaded machine).
descendants() {
	ps -eo pid=,ppid= | awk -v root="$1" '
		{ kids[$2] = kids[$2] " " $1 }
		END {
			n = split(kids[root], todo, " ")
			for (i = 1; i <= n; i++) {
				printf "%s ", todo[i]
				m = split(kids[todo[i]], more, " ")
				for (j = 1; j <= m; j++) todo[++n] = more[j]
			}
		}'
}

snapshot() { # pid file
	for p in $1 $(descendants "$1"); do
		[ -d /proc/$p ] || continue
		echo "==== pid $p: $(tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null)"
		grep -E '^(Name|State|Tgid|PPid|Threads|SigPnd|ShdPnd|SigBlk)' /proc/$p/status 2>/dev/null
		echo "wchan: $(cat /proc/$p/wchan 2>/dev/null)"
		echo "stack:"; cat /proc/$p/stack 2>/dev/null
		echo "threads:"; ls /proc/$p/task 2>/dev/null | tr '\n' ' '; echo
		echo "open /proc files:"; ls -l /proc/$p/fd 2>/dev/null | grep -F ' /proc/' || true
	done > "$2"
	# Who else holds a file under the /proc directory of a zombie of this run?
	for p in $(descendants "$1"); do
		grep -qs '^State:.*Z' /proc/$p/status || continue
		echo "==== holders of /proc/$p/... (zombie)"
		ls -l /proc/[0-9]*/fd 2>/dev/null | grep -E " /proc/$p(/|$)" || echo "(none)"
	done >> "$2"
}

# Is a thread of a process of this run inside release_task (reaping a child)?
in_reap() {
	local p
	for p in $(descendants "$1"); do
		grep -qs release_task /proc/$p/task/*/stack && return 0
	done
	return 1
}

pass=0 fail=0 hang=0 stuck=0 gaveup=0
for i in $(seq 1 "$n"); do
	t0=$SECONDS
	meson test -C "$builddir" --no-rebuild "$name" > "$out/run-$i.txt" 2>&1 &
	m=$!
	inreap=0 seen=0
	while kill -0 "$m" 2>/dev/null && [ $((SECONDS - t0)) -lt "$hang_s" ]; do
		sleep 1
		if in_reap "$m"; then inreap=$((inreap + 1)); else inreap=0; fi
		if [ $inreap -ge 5 ] && [ $seen = 0 ]; then
			seen=1 stuck=$((stuck + 1))
			snapshot "$m" "$out/reap-$i.txt"
			echo "run $i: a reap has been stuck in the kernel for 5 s ($out/reap-$i.txt)"
		fi
	done

	if kill -0 "$m" 2>/dev/null; then
		hang=$((hang + 1))
		snapshot "$m" "$out/hang-$i.txt"
		for p in $(descendants "$m") "$m"; do kill -KILL "$p" 2>/dev/null; done
		wait "$m" 2>/dev/null
		echo "run $i: HANG after ${hang_s}s (evidence: $out/hang-$i.txt)"
		continue
	fi
	wait "$m"
	rc=$?
	if grep -qs "could not be reaped" "$builddir/meson-logs/testlog.txt"; then
		gaveup=$((gaveup + 1))
		cp "$builddir/meson-logs/testlog.txt" "$out/gaveup-$i.txt"
	fi
	if [ $rc = 0 ]; then
		pass=$((pass + 1))
		echo "run $i: ok ($((SECONDS - t0)) s)"
	else
		fail=$((fail + 1))
		cp "$builddir/meson-logs/testlog.txt" "$out/fail-$i.txt" 2>/dev/null
		echo "run $i: FAIL ($((SECONDS - t0)) s; log: $out/fail-$i.txt)"
	fi
done
san=$(ls "$out" | grep -cE '^(asan|ubsan)\.' || true)
echo "$name x$n ($builddir): $pass passed, $fail failed, $hang hung," \
	"$stuck with a reap stuck >= 5 s, $gaveup with a reap given up, $san sanitizer report(s)"
[ "$pass" -eq "$n" ]
