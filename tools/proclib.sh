# SPDX-License-Identifier: BSD-3-Clause
# Child processes for bash scripts (tools/demo.sh, tools/bench/stop_engine.sh): the shell
# counterpart of tools/proclib.py. Source it; set $work (a directory) first.
#
# bash reaps its children whenever it waits for any command, and reaping a dead
# multi-threaded DPDK process can block in the kernel for tens of seconds
# (docs/reliability.rst, "Reaping a killed DPDK process"). So a DPDK process is never a
# child of the script's shell: spawn makes a throw-away sh its parent (that sh reaps it and
# writes its exit status), and that sh's own parent exits at once. Liveness is read from
# /proc (a zombie counts as dead) and every wait has a deadline.

# spawn NAME STDIN CMD...: start CMD in the background, its output in $work/NAME.log;
# print its PID. Its exit status appears in $work/NAME.rc (see exit_status_within).
# In $(spawn ...), the sh has no output of its own, so the substitution does not wait.
spawn() {
	local name=$1 in=$2
	shift 2
	rm -f "$work/$name.pid" "$work/$name.rc"
	(sh -c 'in=$1; shift; "$@" <"$in" >"$0.log" 2>&1 & echo $! >"$0.pid"; wait $!
		echo $? >"$0.rc"' \
		"$work/$name" "$in" "$@" </dev/null >/dev/null 2>&1 &)
	for _ in $(seq 100); do [ -s "$work/$name.pid" ] && break; sleep 0.1; done
	cat "$work/$name.pid"
}

alive() { # pid: running (not a zombie)?
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

gone_within() { # pid seconds: poll until it is dead (zombie or reaped), or give up
	for _ in $(seq $(($2 * 10))); do alive "$1" || return 0; sleep 0.1; done
	return 1
}

exit_status_within() { # name seconds: print the exit status of spawn NAME once its sh
	# wrote it, or "none within N s" (a reap stuck in the kernel delays it)
	for _ in $(seq $(($2 * 10))); do [ -s "$work/$1.rc" ] && break; sleep 0.1; done
	cat "$work/$1.rc" 2>/dev/null || echo "none within $2 s"
}

end_pid() { # pid: SIGTERM, SIGKILL after 5 s, report one that does not die
	alive "$1" || return 0
	kill -TERM "$1" 2>/dev/null || true
	gone_within "$1" 5 || kill -KILL "$1" 2>/dev/null || true
	gone_within "$1" 5 || echo "pid $1 still not dead after SIGKILL" >&2
}
