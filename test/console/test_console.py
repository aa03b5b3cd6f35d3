#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Console, control socket, command file and telemetry of vstop, with real processes.

    test_console.py VSTOP_BIN TEST_NAME

Exit 0 pass, 1 fail, 77 skip (vstop or dpdk-testpmd not built / installed)."""

import difflib
import glob
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def driver_ok(s):
    return s["attached"] and "DRIVER_OK" in s["status_names"].split("|")


def with_front_end(vstop_bin, name, fn, interactive=False):
    v = H.Vstop(vstop_bin, name, interactive=interactive)
    fe = None
    try:
        v.wait_ready()
        fe = H.Testpmd(name, v.sock)
        try:
            v.wait_status(driver_ok, "the front end to set DRIVER_OK")
        except H.TestFailure:
            print(fe.log()[-2000:])
            raise
        fn(v)
    finally:
        if fe is not None:
            fe.cleanup()
        v.cleanup()


def remove_files(paths):
    for p in paths:
        if os.path.exists(p):
            os.unlink(p)


def text_field(out, key):
    """Value of "key: value" in console text output."""
    m = re.search(r"^\s*" + re.escape(key) + r":\s*(.*)$", out, re.M)
    check(m is not None, f"no '{key}:' in console output:\n{out}")
    return m.group(1).strip()


# ---- the example scripts in config/ ----

def t_config_scripts(vstop_bin):
    """Every command of every config/*.cmd succeeds on a device a front end brought up."""
    scripts = sorted(glob.glob(os.path.join(ROOT, "config", "*.cmd")))
    check(len(scripts) >= 2, f"config scripts missing: {scripts}")
    d = tempfile.mkdtemp(prefix="vsc_config_")

    def run_all(v):
        for path in scripts:
            ran = 0
            for line in open(path):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                # state files go to our own temporary directory
                line = re.sub(r"/tmp/\S+", os.path.join(d, "state"), line)
                v.ok(line)
                ran += 1
            check(ran > 0, f"{path}: no commands")
        check(os.path.getsize(os.path.join(d, "state")) > 0, "device save wrote nothing")
    try:
        with_front_end(vstop_bin, "config", run_all)
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---- interactive console under a pseudo-terminal ----

def t_interactive(vstop_bin):
    v = H.Vstop(vstop_bin, "pty", interactive=True, ctl=False)
    try:
        v.wait_ready()
        out = v.console("help")
        for syn in ("show device status <port>", "device stop|suspend|resume|reset <port|all>",
                    "set link up|down <port>", "device save <port> <file>", "quit"):
            check(syn in out, f"'help' does not list '{syn}':\n{out}")

        # tab completion: keyword, keyword choice, then the list of ports
        start = len(v.out)
        v.type("show po\t")
        v.expect("show port ", start=start, timeout=5)
        v.settle()
        start = len(v.out)
        v.type("sta\t")
        v.expect("stats ", start=start, timeout=5)
        v.settle()
        start = len(v.out)
        v.type("\t\t")  # two tabs list the choices, with their help
        v.expect("all [<port|all>]", start=start, timeout=5)
        v.settle()
        out = v.console("0")
        check(text_field(out, "rx") == "0", f"show port stats 0 via completion:\n{out}")

        # '?' shows what may come next
        start = len(v.out)
        v.type("device ?")
        v.expect("stop", start=start, timeout=5)
        v.expect("save", start=start, timeout=5)
        v.settle()
        out = v.console("save 0")  # line is now "device save 0": an argument missing
        check("Error: bad arguments for 'device save'" in out, out)
        check("usage: 'device save <port> <file>'" in out, out)

        # wrong command, wrong arguments, invalid port: an error, and the prompt goes on
        cases = [
            ("frobnicate", "Error: unknown command 'frobnicate'"),
            ("show port bogus 0", "Error: bad arguments for 'show port'"),
            ("show port stats 99", "Error: invalid port 99"),
            ("show port stats x1", "Error: invalid port 'x1'"),
            ("show device status 65536", "Error: invalid port '65536'"),
            ("device stop 0", "no driver running (DRIVER_OK not set)"),
            ("set fwd warp", "Error: unknown forwarding mode 'warp'"),
            ("show fwd extra", "Error: bad arguments for 'show fwd'"),
        ]
        for line, want in cases:
            out = v.console(line)
            check(want in out, f"{line!r}: expected {want!r} in:\n{out}")
        out = v.console("show fwd")
        check(text_field(out, "fwd") == "loopback", out)
        out = v.console("help device")
        check("device stop|suspend|resume|reset <port|all>" in out and "show fwd" not in out, out)

        start = len(v.out)
        v.type("quit\n")
        rc = v.wait_exit()
        check(b"Bye." in v.out[start:], "no 'Bye.' after quit")
        check(rc == 0, f"vstop exited {rc} after quit")
    finally:
        v.cleanup()


# ---- control socket ----

def t_ctl(vstop_bin):
    v = H.Vstop(vstop_bin, "ctl")
    try:
        v.wait_ready()
        st = os.stat(v.ctl_path)
        check(stat.S_ISSOCK(st.st_mode), "--ctl path is not a socket")
        check(stat.S_IMODE(st.st_mode) == 0o600,
              f"control socket mode {oct(stat.S_IMODE(st.st_mode))}, expected 0o600")

        cmds = [c["syntax"] for c in v.ok("help")["commands"]]
        check(len(cmds) >= 14, f"help lists {len(cmds)} commands")

        r = v.ok("show port info 0")
        check(r["kind"] == "vhost" and r["socket"] == v.sock and r["connected"] is False, r)
        r = v.ok("show port info all")
        check(len(r["ports"]) == 1 and r["ports"][0]["port"] == 0, r)
        r = v.ok("show port stats 0")
        check(r["rx"] == 0 and len(r["queues"]) == 1 and "held_now" in r["queues"][0], r)
        r = v.ok("show port xstats all")
        check("q0_rx" in r["ports"][0]["xstats"], r)
        r = v.ok("show queue map")
        check(r["fwd"] == "loopback" and len(r["streams"]) == 1 and
              r["streams"][0]["rx_port"] == 0 and r["streams"][0]["tx_port"] == 0, r)
        r = v.ok("show lcores")
        check(r["polling_lcores"][0]["lcore"] == 1 and r["polling_lcores"][0]["streams"] == 1, r)
        r = v.ok("show device status 0")
        for k in ("status", "status_names", "state", "feature_names", "last_stop_us",
                  "last_stop_iters", "stops", "resumes", "deadline_misses", "frames_held",
                  "refused_writes", "stop_latency_hist"):
            check(k in r, f"show device status lacks {k}: {r}")
        check(r["status_names"] == "RESET" and r["state"] == "running", r)
        check(v.ok("show fwd")["started"] is True, "forwarding not started")
        v.ok("clear port stats all")
        v.ok("clear port stats 0")
        r = v.ok("help device")
        check(r["commands"] and all(c["syntax"].startswith("device ") for c in r["commands"]),
              r)
        r = v.ok("set link down 0")
        check(r["link"] == "down" and r["deferred"] is False, r)
        r = v.ok("set link up 0")
        check(r["link"] == "up", r)

        errors = [
            ("frobnicate", "unknown command 'frobnicate'"),
            ("show", "bad arguments for 'show'"),
            ("show port bogus 0", "bad arguments for 'show port'"),
            ("show port stats 1", "invalid port 1"),
            ("show port stats -1", "invalid port '-1'"),
            ("show device status abc", "invalid port 'abc'"),
            ("clear port stats 7", "invalid port 7"),
            ("set link sideways 0", "bad arguments for 'set link'"),
            ("set link down 3", "invalid port 3"),
            ("device stop 0", "no driver running"),
            ("device resume 9", "invalid port 9"),
            ("device save 0 /tmp/vsc_never_written.bin", "cannot save the device state"),
            ("device load 0 /nonexistent/state.bin", "device state refused"),
            ("set fwd warp", "unknown forwarding mode 'warp'"),
            ("help zzz", "no command starts with 'zzz'"),
            ("show fwd " + "x " * 20, "too many words"),
            ("show " + "y" * 2000, "line too long"),
        ]
        for line, want in errors:
            v.err(line, want)
        check(not os.path.exists("/tmp/vsc_never_written.bin"), "a failed save wrote a file")

        # blank and comment lines get no answer; the next command gets the next line
        s, f = v.connect()
        f.write(b"\n# comment\n   \nshow fwd\n")
        f.flush()
        import json
        r = json.loads(f.readline())
        check(r.get("fwd") == "loopback", f"answer after blank lines: {r}")

        # two clients at once
        c2 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c2.settimeout(10)
        c2.connect(v.ctl_path)
        c2.sendall(b"show fwd\n")
        r2 = c2.makefile("rb").readline()
        check(b'"ok":true' in r2, f"second client: {r2!r}")
        c2.close()
        v.ok("show lcores")  # the first client still works

        r = v.ok("quit")
        rc = v.wait_exit()
        check(rc == 0, f"vstop exited {rc} after quit")
        check(not os.path.exists(v.ctl_path), "control socket left behind after quit")
    finally:
        v.cleanup()


# ---- command file ----

def t_script(vstop_bin):
    d = tempfile.mkdtemp(prefix="vsc_script_")
    try:
        path = os.path.join(d, "cmds")
        with open(path, "w") as f:
            f.write("# set up\nshow fwd\nset fwd macswap\nshow fwd\nshow port info 7\n"
                    "bogus words\nshow device status 0\nquit\n")
        v = H.Vstop(vstop_bin, "script", ctl=False, script=path)
        try:
            rc = v.wait_exit(timeout=30)
            out = v.out.decode(errors="replace")
            check(rc == 0, f"vstop exited {rc}:\n{out}")
            i = out.find("vstop> set fwd macswap")
            check(i >= 0, f"script lines not echoed:\n{out}")
            check(re.search(r"^fwd:\s+macswap$", out[i:], re.M) is not None,
                  f"set fwd macswap had no effect:\n{out}")
            for want in ("Error: invalid port 7", "Error: unknown command 'bogus'",
                         "status_names:", "Bye.", "Read CLI commands from"):
                check(want in out, f"{want!r} missing from script output:\n{out}")
        finally:
            v.cleanup()

        # without quit: vstop runs on after the script
        with open(path, "w") as f:
            f.write("show fwd")  # no newline at the end: still run
        v = H.Vstop(vstop_bin, "script2", ctl=True, script=path)
        try:
            v.wait_ready()
            v.expect("Read CLI commands from")
            check(re.search(rb"^fwd:\s+loopback", v.out, re.M) is not None,
                  "last line without newline not run")
            time.sleep(0.5)
            check(v.ok("show fwd")["started"], "vstop not forwarding after the script")
            rc = v.stop()
            check(rc == 0, f"vstop exited {rc} on SIGTERM")
        finally:
            v.cleanup()
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---- telemetry ----

PORT_KEYS = ("status", "status_names", "state", "stops", "resumes", "deadline_misses",
             "refused_writes", "last_stop_ns", "last_stop_iters", "stop_latency_hist",
             "frames_held", "rxq_rx", "txq_tx", "txq_drop", "txq_held", "q_held_now",
             "link", "config_change_pending")


def t_telemetry(vstop_bin):
    v = H.Vstop(vstop_bin, "tel")
    try:
        v.wait_ready()
        lst, ports, port0, bad, badarg = H.telemetry(
            v.prefix, "/", "/vstop/ports", "/vstop/port,0", "/vstop/port,9", "/vstop/port")
        check("/vstop/ports" in lst["/"] and "/vstop/port" in lst["/"], lst)
        p = ports["/vstop/ports"]
        check(p["ids"] == [0] and p["kinds"] == ["vhost"] and p["status"] == ["RESET"], p)
        d = port0["/vstop/port"]
        for k in PORT_KEYS:
            check(k in d, f"/vstop/port,0 lacks {k}: {d}")
        check(d["status_names"] == "RESET" and d["state"] == "running", d)
        check(len(d["stop_latency_hist"]) == 8 and len(d["rxq_rx"]) == 1, d)
        check(bad["/vstop/port"] is None, f"invalid port answered: {bad}")
        check(badarg["/vstop/port"] is None, f"missing port id answered: {badarg}")

        tool = shutil.which("dpdk-telemetry.py")
        if tool:
            r = H.proclib.run([tool, "-f", v.prefix], timeout=30,
                              input=b"/vstop/port,0\n/vstop/ports\n")
            out = r.stdout
            for want in ('"/vstop/port"', '"stop_latency_hist"', '"status_names"',
                         '"/vstop/ports"'):
                check(want in out, f"dpdk-telemetry.py output lacks {want}:\n{out}")
        else:
            print("note: dpdk-telemetry.py not installed, socket checked directly")
    finally:
        v.cleanup()


# ---- with a front end (dpdk-testpmd, virtio_user) ----

def t_stop_console(vstop_bin):
    """R6: a stop from the console shows DEVICE_STOPPED in 'show device status'."""

    def body(v):
        out = v.console("show device status 0")
        check("DEVICE_STOPPED" not in text_field(out, "status_names"), out)
        out = v.console("device stop 0")
        check("DEVICE_STOPPED" in text_field(out, "status_names"), f"device stop:\n{out}")
        out = v.console("show device status 0")
        names = text_field(out, "status_names").split("|")
        check("DEVICE_STOPPED" in names and "DRIVER_OK" in names, out)
        check(text_field(out, "state") == "stopped", out)
        check(text_field(out, "stop_kind") == "device_stopped", out)
        check(text_field(out, "stops") == "1", out)
        check(float(text_field(out, "last_stop_us")) > 0, out)
        text_field(out, "last_stop_iters")
        check(text_field(out, "frames_held") == "0", out)
        check(int(text_field(out, "status"), 16) & 0x20, out)

        t = H.telemetry(v.prefix, "/vstop/port,0")[0]["/vstop/port"]
        check("DEVICE_STOPPED" in t["status_names"] and t["stops"] == 1 and
              sum(t["stop_latency_hist"]) == 1 and t["last_stop_ns"] > 0, t)

        out = v.console("device stop 0")  # R12: again, merged, still stopped
        check("DEVICE_STOPPED" in text_field(out, "status_names"), out)
        check(text_field(out, "merged") == "1", out)
        out = v.console("device resume 0")
        names = text_field(out, "status_names").split("|")
        check("DEVICE_STOPPED" not in names and "DRIVER_OK" in names, out)
        check(text_field(out, "state") == "running" and text_field(out, "resumes") == "1", out)
        r = v.ok("show device status 0")
        check(r["state"] == "running" and r["stops"] == 1 and r["resumes"] == 1, r)

    with_front_end(vstop_bin, "r6", body, interactive=True)


def t_suspend(vstop_bin):
    """S2/S3 through the control socket: SUSPEND shown with DRIVER_OK cleared, then back."""

    def body(v):
        r = v.ok("device suspend 0")
        names = r["status_names"].split("|")
        check("SUSPEND" in names and "DRIVER_OK" not in names, r)
        check(r["state"] == "stopped" and r["stop_kind"] == "suspend", r)
        v.err("device stop 0", "other kind")
        r = v.ok("device resume 0")
        names = r["status_names"].split("|")
        check("SUSPEND" not in names and "DRIVER_OK" in names and r["state"] == "running", r)

    with_front_end(vstop_bin, "s2", body)


def t_r7(vstop_bin):
    """R7: 'set link down' while stopped changes nothing until resume, then applies."""

    def body(v):
        r = v.ok("set link up 0")
        check(r["link"] == "up" and r["deferred"] is False, r)
        v.ok("device stop 0")
        r = v.ok("set link down 0")
        check(r["deferred"] is True and r["link"] == "up", f"link changed while stopped: {r}")
        time.sleep(0.3)
        s = v.ok("show device status 0")
        check(s["link"] == "up" and s["config_change_pending"] is True and
              s["state"] == "stopped", s)
        t = H.telemetry(v.prefix, "/vstop/port,0")[0]["/vstop/port"]
        check(t["link"] == "up" and t["config_change_pending"] == 1, t)
        s = v.ok("device resume 0")
        check(s["state"] == "running", s)
        s = v.ok("show device status 0")
        check(s["link"] == "down" and s["config_change_pending"] is False,
              f"link change not applied after resume: {s}")
        r = v.ok("set link up 0")  # running: applied at once
        check(r["link"] == "up" and r["deferred"] is False, r)

    with_front_end(vstop_bin, "r7", body)


def t_m1_save(vstop_bin):
    """M1: 'device save' writes the blob atomically; 'device load' takes it back."""
    d = tempfile.mkdtemp(prefix="vsc_m1_")

    def body(v):
        path = os.path.join(d, "state.bin")
        v.err(f"device save 0 {path}", "stop it before saving")
        check(not os.path.exists(path), "a refused save created the file")
        v.ok("device stop 0")
        with open(path, "wb") as f:  # an old file: replaced whole, never half-written
            f.write(b"old contents " * 100)
        ino = os.stat(path).st_ino
        r = v.ok(f"device save 0 {path}")
        data = open(path, "rb").read()
        check(data[:8] == b"VSTOPDS\0", f"not a device state blob: {data[:16]!r}")
        check(r["bytes"] == len(data) == int.from_bytes(data[12:16], "little"), (r, len(data)))
        check(os.stat(path).st_ino != ino, "file rewritten in place, not renamed over")
        check(os.listdir(d) == ["state.bin"], f"temporary files left: {os.listdir(d)}")
        r = v.ok(f"device load 0 {path}")
        check(r["state"] == "stopped" and r["loaded_from"] == path, r)
        v.ok("device resume 0")

    try:
        with_front_end(vstop_bin, "m1", body)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def t_m3_refused(vstop_bin):
    """M3: a corrupt or truncated blob is refused with a clear error, device unchanged."""
    d = tempfile.mkdtemp(prefix="vsc_m3_")

    def body(v):
        good = os.path.join(d, "good.bin")
        v.ok("device stop 0")
        v.ok(f"device save 0 {good}")
        data = open(good, "rb").read()
        bad = {
            "corrupt.bin": data[:24] + bytes([data[24] ^ 0xFF]) + data[25:],
            "truncated.bin": data[: len(data) // 2],
            "empty.bin": b"",
        }
        before = v.ok("show device status 0")
        for name, blob in bad.items():
            p = os.path.join(d, name)
            with open(p, "wb") as f:
                f.write(blob)
            r = v.err(f"device load 0 {p}", "device state refused, device unchanged")
            after = v.ok("show device status 0")
            for k in ("status", "state", "features", "link", "mac", "mtu", "stops"):
                check(before[k] == after[k], f"{name}: {k} changed: {before[k]} -> {after[k]}")
            print(f"{name}: {r['error']}")
        v.ok("device resume 0")

    try:
        with_front_end(vstop_bin, "m3", body)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def t_counters(vstop_bin):
    """Per-queue counters move with traffic (testpmd tx_first, vstop loopback) in the
    console, the socket and telemetry; 'clear port stats' rebases the console's only."""
    v = H.Vstop(vstop_bin, "cnt")
    fe = None
    try:
        v.wait_ready()
        fe = H.Testpmd("cnt", v.sock)
        v.wait_status(driver_ok, "the front end to set DRIVER_OK")
        fe.send("start tx_first")
        end = time.time() + 20
        while time.time() < end and v.ok("show port stats 0")["rx"] < 64:
            time.sleep(0.2)
        fe.send("stop")
        time.sleep(0.5)
        r = v.ok("show port stats 0")
        q = r["queues"][0]
        check(r["rx"] >= 32 and r["tx"] >= 32, f"no traffic counted: {r}")
        check(q["rx"] == r["rx"] and q["tx"] <= r["tx"], f"queue 0 counters: {r}")
        x = v.ok("show port xstats 0")["xstats"]
        check(x["q0_rx"] == q["rx"], x)
        t = H.telemetry(v.prefix, "/vstop/port,0")[0]["/vstop/port"]
        check(t["rxq_rx"][0] >= q["rx"] and t["rx"] >= r["rx"], t)
        v.ok("clear port stats 0")
        r = v.ok("show port stats 0")
        check(r["rx"] == 0 and r["queues"][0]["rx"] == 0, f"not cleared: {r}")
        t2 = H.telemetry(v.prefix, "/vstop/port,0")[0]["/vstop/port"]
        check(t2["rxq_rx"][0] >= t["rxq_rx"][0], "telemetry counters went back")
        lc = v.ok("show lcores")["polling_lcores"][0]
        check(lc["frames_moved"] > 0 and lc["iterations"] > 0, lc)
    finally:
        if fe is not None:
            fe.cleanup()
        v.cleanup()


def t_held(vstop_bin):
    """M1: frames for a stopped device are held, and 'show device status' / telemetry
    count them. net_null (port 0) -> vhost (port 1), io forwarding."""
    v = H.Vstop(vstop_bin, "held", fwd="io", eal_extra=["--vdev", "net_null0"],
                extra=["--hold", "64"])
    fe = None
    try:
        v.wait_ready()
        fe = H.Testpmd("held", v.sock)
        v.wait_status(driver_ok, "the front end to set DRIVER_OK", port=1)
        v.err("device stop 0", "port 0 is not a vhost-user port")
        r = v.ok("device stop 1")
        check("DEVICE_STOPPED" in r["status_names"], r)
        s = v.wait_status(lambda s: s["frames_held"] == 64, "64 held frames", port=1)
        t = H.telemetry(v.prefix, "/vstop/port,1")[0]["/vstop/port"]
        check(t["frames_held"] == 64 and t["q_held_now"] == [64], t)
        st = v.ok("show port stats 1")
        check(st["frames_held"] == 64 and st["queues"][0]["held_now"] == 64 and
              st["held"] >= 64, st)
        m = v.ok("show queue map")["streams"]
        check(any(x["holds"] and x["tx_port"] == 1 for x in m), m)
        r = v.ok("device resume 1")
        check(r["state"] == "running", r)
        s = v.ok("show device status 1")
        check(s["frames_held"] == 0, f"held frames not handed over on resume: {s}")
        q = v.ok("show port stats 1")["queues"][0]
        check(q["delivered"] + q["held_dropped"] >= 64, q)
    finally:
        if fe is not None:
            fe.cleanup()
        v.cleanup()


# ---- forwarding control ----

def t_fwd(vstop_bin):
    v = H.Vstop(vstop_bin, "fwd")
    try:
        v.wait_ready()
        r = v.ok("show fwd")
        check(r == {"ok": True, "fwd": "loopback", "started": True, "streams": 1}, r)
        v.err("start", "already started")
        r = v.ok("stop")
        check(r["started"] is False and r["streams"] == 0, r)
        check(v.ok("show queue map")["streams"] == [], "streams left after stop")
        check(v.ok("show lcores")["polling_lcores"][0]["streams"] == 0, "lcore still has streams")
        v.err("stop", "not started")
        r = v.ok("set fwd rxonly")
        check(r["fwd"] == "rxonly" and r["started"] is False, r)
        r = v.ok("start")
        check(r["started"] and r["streams"] == 1, r)
        s = v.ok("show queue map")["streams"]
        check(len(s) == 1 and s[0]["rx_port"] == 0 and s[0]["tx_port"] == -1, s)
        r = v.ok("set fwd txonly")  # running: restarted in the new mode
        check(r["fwd"] == "txonly" and r["started"], r)
        s = v.ok("show queue map")["streams"]
        check(len(s) == 1 and s[0]["rx_port"] == -1 and s[0]["tx_port"] == 0, s)
        v.ok("set fwd macswap")
        s = v.ok("show queue map")["streams"]
        check(len(s) == 1 and s[0]["rx_port"] == 0 and s[0]["tx_port"] == 0, s)
        v.err("set fwd bogus", "unknown forwarding mode")
        check(v.ok("show fwd")["fwd"] == "macswap", "a bad mode changed the mode")
        rc = v.stop()
        check(rc == 0, f"vstop exited {rc}")
    finally:
        v.cleanup()


# ---- E1: many devices at once ----

class MultiTestpmd(H.Testpmd):
    """dpdk-testpmd with one net_virtio_user port per socket: several front ends that
    set DRIVER_OK, from one process."""

    def __init__(self, name, socks):
        import shutil as _sh
        self.bin = _sh.which("dpdk-testpmd")
        if self.bin is None:
            H.skip("dpdk-testpmd not installed")
        self.prefix = f"vscfe_{name}_{os.getpid()}"
        self.logf = tempfile.TemporaryFile()
        vdevs = []
        for i, sk in enumerate(socks):
            vdevs += ["--vdev", f"net_virtio_user{i},path={sk}"]
        self.proc = H.proclib.Child(
            [self.bin, "--no-huge", "-m", "256", "--no-pci", "--file-prefix", self.prefix,
             "--lcores", "0@0,1@1"] + vdevs + ["--", "-i", "--total-num-mbufs=4096"],
            stdin=subprocess.PIPE, stdout=self.logf, stderr=subprocess.STDOUT)


def t_e1_stop_all(vstop_bin):
    """E1: 'device stop all' stops every device in one engine pass under one epoch
    barrier (the engine's epoch counter advances by exactly 1); 'device resume all'
    likewise; the same stops one request each take one epoch each."""
    n = 4
    tag = f"e1_{os.getpid()}"
    socks = [f"/tmp/vsc_{tag}_{i}.sock" for i in range(1, n)]
    extra = []
    for sk in socks:
        extra += ["--vhost", sk]
    v = H.Vstop(vstop_bin, "e1", extra=extra)
    fe = None
    try:
        v.wait_ready()
        fe = MultiTestpmd("e1", [v.sock] + socks)
        for p in range(n):
            try:
                v.wait_status(driver_ok, f"front end {p} to set DRIVER_OK", port=p)
            except H.TestFailure:
                print(fe.log()[-2000:])
                raise
        e0 = v.ok("show engine")["epochs"]
        r = v.ok("device stop all")
        check(r["devices"] == n and r["done"] == n and r["failed"] == [], r)
        check(r["epochs"] == 1, f"stop all of {n} devices: {r['epochs']} epochs, not 1: {r}")
        check(r["engine_batch_stops"] == n and r["engine_batch_epochs"] == 1, r)
        e = v.ok("show engine")
        check(e["epochs"] - e0 == 1, f"engine epochs {e0} -> {e['epochs']}")
        check(e["last_batch_stops"] == n and e["last_batch_epochs"] == 1, e)
        for p in range(n):
            st = v.ok(f"show device status {p}")
            check(st["state"] == "stopped" and "DEVICE_STOPPED" in st["status_names"], st)
        t = H.telemetry(v.prefix, "/vstop/engine")[0]["/vstop/engine"]
        check(t["epochs"] == e["epochs"] and t["last_batch_epochs"] == 1 and
              t["devices"] == n, t)

        r = v.ok("device stop all")  # R12: merged, nothing to unpublish
        check(r["done"] == n, r)
        e0 = v.ok("show engine")["epochs"]
        r = v.ok("device resume all")
        check(r["done"] == n and r["epochs"] == 1, f"resume all: {r}")
        for p in range(n):
            st = v.ok(f"show device status {p}")
            check(st["state"] == "running" and "DEVICE_STOPPED" not in st["status_names"], st)
        check(v.ok("show engine")["epochs"] - e0 == 1, "resume all took more than 1 epoch")

        # The comparison: one request each, one epoch each.
        e0 = v.ok("show engine")["epochs"]
        for p in range(n):
            v.ok(f"device stop {p}")
        check(v.ok("show engine")["epochs"] - e0 == n, "one stop per request")
        v.ok("device resume all")
        v.err("device reset all", "one port")
        out = v.cmd("device bogus all")
        check(out["ok"] is False, out)
    finally:
        if fe is not None:
            fe.cleanup()
        v.cleanup()
        remove_files(socks)


# ---- runtime ports: port attach vhost / port detach ----


def fe_bin(vstop_bin):
    """vstop-fe of the same build as vstop."""
    b = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(vstop_bin))),
                     "tools", "fe", "vstop-fe")
    if not os.access(b, os.X_OK):
        H.skip(f"{b} not built")
    return b


def t_port_attach_detach(vstop_bin):
    """Runtime ports while vstop-fe sends sequence-numbered frames through port 0:
    attach/detach cycles, ids reused (lowest free), sockets created and removed, bad
    input refused with nothing changed; port 0 loses, duplicates, reorders nothing."""
    fe = fe_bin(vstop_bin)
    tag = f"rt_{os.getpid()}"
    paths = [f"/tmp/vsc_{tag}_{i}.sock" for i in range(3)]
    v = H.Vstop(vstop_bin, "rtports")
    proc = None
    try:
        v.wait_ready()
        proc = H.Tool([fe, "-s", v.sock, "-d", "6", "--rate", "20000", "--quiet"])
        v.wait_status(driver_ok, "vstop-fe to set DRIVER_OK")
        e0 = v.ok("show engine")
        # bad input first: each refused, nothing changed
        v.err(f"port attach vhost {v.sock}", "in use by port 0")
        v.err("port attach vhost /tmp/x.sock,queues=0", "queues=1..")
        v.err("port attach vhost /tmp/x.sock,bogus", "unknown option")
        v.err("port attach vhost ,client", "no socket path")
        v.err("port attach vhost /" + "x" * 120, "too long")
        v.err("port detach 0", "front end is connected")
        v.err("port detach 5", "invalid port 5")
        v.err("port detach zero", "invalid port")
        open(paths[2], "w").close()
        v.err(f"port attach vhost {paths[2]}", "exists")
        os.unlink(paths[2])
        check(v.ok("show engine")["devices"] == 1, "bad input changed the engine")
        check(len(v.ok("show port info all")["ports"]) == 1, "bad input added a port")

        cycles = 0
        end = time.time() + 4
        while time.time() < end or cycles < 5:
            r = v.ok(f"port attach vhost {paths[0]},queues=2")
            check(r["port"] == 1 and r["queues"] == 2, f"first free id is 1: {r}")
            check(stat.S_ISSOCK(os.stat(paths[0]).st_mode), "no socket file")
            r = v.ok(f"port attach vhost {paths[1]},client")
            check(r["port"] == 2 and r["mode"] == "client", r)
            v.err(f"port attach vhost {paths[0]}", "in use by port 1")
            check(v.ok("show port info 1")["socket"] == paths[0], "port 1")
            v.ok("port detach 1")
            check(not os.path.exists(paths[0]), "socket file left after detach")
            v.err("port detach 1", "no such port")
            r = v.ok(f"port attach vhost {paths[0]}")
            check(r["port"] == 1, f"the id of a detached port is reused: {r}")
            v.ok("port detach 2")
            v.ok("port detach 1")
            cycles += 1
        rc, out = proc.finish(60)
        proc = None
        check(rc == 0 and "result: PASS" in out and "lost 0 duplicated 0 reordered 0" in out,
              f"port 0's traffic was disturbed ({cycles} attach/detach cycles): rc {rc}\n{out}")
        e1 = v.ok("show engine")
        check(e1["devices"] == 1, e1)
        st = v.ok("show device status 0")
        check(st["state"] == "running" and st["stops"] == 0, st)
        check(v.ok("show fwd")["streams"] == 1, "streams of detached ports remain")
        print(f"{cycles} cycles of 2 attaches and 3 detaches, epochs "
              f"{e0['epochs']} -> {e1['epochs']}")
    finally:
        if proc is not None:
            proc.end()
        v.cleanup()
        remove_files(paths)


def t_port_ids(vstop_bin):
    """Runtime port ids with an ethdev first (testpmd's habits): the lowest free id,
    reused after a detach; an ethdev is not detached; telemetry and the console list
    the ports there are, holes left out."""
    tag = f"ids_{os.getpid()}"
    paths = [f"/tmp/vsc_{tag}_{i}.sock" for i in range(3)]
    v = H.Vstop(vstop_bin, "ids", eal_extra=["--vdev", "net_ring0"])
    try:
        v.wait_ready()
        ports = v.ok("show port info all")["ports"]
        check([p["kind"] for p in ports] == ["ethdev", "vhost"], ports)
        v.err("port detach 0", "is an ethdev")
        check(v.ok(f"port attach vhost {paths[0]}")["port"] == 2, "new port id 2")
        check(v.ok(f"port attach vhost {paths[1]},queues=2")["port"] == 3, "id 3")
        v.ok("port detach 2")
        ids = [p["port"] for p in v.ok("show port info all")["ports"]]
        check(ids == [0, 1, 3], f"hole at 2: {ids}")
        v.err("show port stats 2", "no such port")
        v.err("device stop 2", "no such port")
        t = H.telemetry(v.prefix, "/vstop/ports")[0]["/vstop/ports"]
        check(t["ids"] == [0, 1, 3] and t["nb_ports"] == 3, t)
        check(v.ok(f"port attach vhost {paths[2]},client")["port"] == 2, "id 2 reused")
        v.ok("port detach 1")  # a command-line port can go too
        check(not os.path.exists(v.sock), "port 1's socket file left")
        check(v.ok(f"port attach vhost {paths[0]}")["port"] == 1, "id 1 reused")
        check(v.ok("show engine")["devices"] == 3, "engine devices")
        r = v.ok("device stop all")
        check(r["devices"] == 3 and r["skipped_no_driver"] == 3 and r["epochs"] == 0, r)
        rc = v.stop()
        check(rc == 0, f"vstop exited {rc} with runtime ports")
    finally:
        v.cleanup()
        remove_files(paths)


def t_e1_many_front_ends(vstop_bin):
    """E1 with 16 devices of one vstop-fe --devices process: 'device stop all' is one
    epoch for all 16; then the front ends stop all of theirs together (16 status writes,
    then the polls) and resume them, and every one shows the bit."""
    fe = fe_bin(vstop_bin)
    n = 16
    d = tempfile.mkdtemp(prefix="vsc_e1fe_", dir="/tmp")
    extra = []
    for i in range(1, n):
        extra += ["--vhost", f"{d}/p{i}.sock"]
    v = H.Vstop(vstop_bin, "e1fe", extra=extra)
    procs = []
    try:
        v.wait_ready()
        os.symlink(v.sock, f"{d}/p0.sock")
        hold = H.Tool([fe, "--devices", str(n), "-s", f"{d}/p%u.sock", "-d", "0",
                       "-r", "64", "--quiet"])
        procs.append(hold)
        for p in range(n):
            v.wait_status(driver_ok, f"device {p} at DRIVER_OK", port=p)
        e0 = v.ok("show engine")["epochs"]
        r = v.ok("device stop all")
        check(r["done"] == n and r["epochs"] == 1 and r["engine_batch_stops"] == n and
              r["engine_batch_epochs"] == 1, f"stop all of {n} devices: {r}")
        check(v.ok("show engine")["epochs"] - e0 == 1, "more than one epoch")
        for p in range(n):
            check(v.ok(f"show device status {p}")["state"] == "stopped", f"port {p}")
        r = v.ok("device resume all")
        check(r["done"] == n, r)
        hold.send_signal(signal.SIGTERM)
        rc, out = hold.finish(60)
        procs.remove(hold)
        check(rc == 0 and f"devices up: {n} of {n}" in out and
              "result: PASS" in out, f"vstop-fe --devices: rc {rc}\n{out}")
        for p in range(n):
            v.wait_status(lambda s: not s["attached"], f"port {p} detached", port=p)
        cyc = H.Tool([fe, "--devices", str(n), "-s", f"{d}/p%u.sock", "-d", "0",
                      "-r", "64", "--cycles", "3", "--quiet"])
        procs.append(cyc)
        rc, out = cyc.finish(120)
        procs.remove(cyc)
        check(rc == 0 and
              f"stop all from the front ends ({n} devices): 3 cycles" in out,
              f"front ends stopping together: rc {rc}\n{out}")
        st = v.ok("show device status 5")
        check(st["stops"] >= 4 and st["resumes"] >= 4, st)
    finally:
        for p in procs:
            p.end()
        v.cleanup()
        shutil.rmtree(d, ignore_errors=True)


def t_e1_1024_ports(vstop_bin):
    """Issue 14's scale target, with every frame checked: vstop with 1024 vhost ports
    (256 server sockets with a vstop-fe --devices front end each, sending sequence-numbered
    frames, and 768 client sockets nobody listens on: librte_vhost's poll set holds 1023
    sockets plus connections, so 1024 server ports cannot all be up; and no relay, whose
    private sockets count there too). 'device stop all'
    stops the 256 driven devices in one pass under one epoch (E1) and skips the 768
    without a driver, three times, each time resumed; then the front ends drain and
    nothing was lost, duplicated or reordered."""
    fe = fe_bin(vstop_bin)
    served, idle = 256, 768
    d = tempfile.mkdtemp(prefix="vsc_e1k_", dir="/tmp")
    extra = []
    for i in range(1, served):
        extra += ["--vhost", f"{d}/p{i}.sock"]
    for i in range(idle):
        extra += ["--vhost", f"{d}/c{i}.sock,client"]
    # 1024 ports share one mbuf pool: 32 held frames per queue, as in docs/benchmarks.rst.
    # --no-relay: with the relay (live upgrade, the default) every port, client ones too,
    # is a private server socket in librte_vhost's poll set of 1023 (docs/user-guide.rst).
    extra += ["--hold", "32", "--mbufs", "16384", "--no-relay"]
    v = H.Vstop(vstop_bin, "e1k", extra=extra, mem=768)
    front = None
    try:
        v.wait_ready()
        os.symlink(v.sock, f"{d}/p0.sock")
        check(v.ok("show engine")["devices"] == served + idle, "engine devices")
        front = H.Tool([fe, "--devices", str(served), "-s", f"{d}/p%u.sock", "-d", "0",
                        "-r", "64", "--traffic", "--rate", "100", "--drain", "30000",
                        "--quiet"])
        end = time.time() + 120
        while "devices up:" not in front.text() and front.child.poll() is None:
            check(time.time() < end, "vstop-fe did not bring its devices up in 120 s")
            time.sleep(0.2)
        check(f"devices up: {served} of {served}" in front.text(), front.text())
        for p in (0, served // 2, served - 1):
            v.wait_status(driver_ok, f"device {p} at DRIVER_OK", port=p)
        time.sleep(2)  # traffic on all 256 (100 frames/s each)
        for cycle in range(3):
            e0 = v.ok("show engine")["epochs"]
            r = v.ok("device stop all")
            check(r["devices"] == served + idle and r["done"] == served and
                  r["skipped_no_driver"] == idle and r["failed"] == [] and
                  r["epochs"] == 1, f"cycle {cycle}: stop all of 1024 ports: {r}")
            check(v.ok("show engine")["epochs"] - e0 == 1, "more than one epoch")
            for p in (0, served - 1):
                st = v.ok(f"show device status {p}")
                check(st["state"] == "stopped" and "DEVICE_STOPPED" in st["status_names"],
                      st)
            time.sleep(0.5)  # the front ends keep posting; the rings wait
            r = v.ok("device resume all")
            # resume all answers for every device: a running one is already resumed
            check(r["done"] == served + idle and r["failed"] == [], f"resume all: {r}")
            time.sleep(1)
        front.send_signal(signal.SIGTERM)
        rc, out = front.finish(120)
        m = re.search(r"frames \(256 devices\): sent (\d+) received (\d+) lost (\d+) "
                      r"duplicated (\d+) reordered (\d+) bad (\d+) inflight (\d+)", out)
        check(rc == 0 and "result: PASS" in out and m is not None,
              f"vstop-fe --devices {served} --traffic: rc {rc}\n{out[-3000:]}")
        sent = int(m.group(1))
        check(sent >= served * 100 and m.group(2) == m.group(1) and
              m.groups()[2:] == ("0", "0", "0", "0", "0"), out)
        print(f"1024 ports, {served} driven: 3 stop-all/resume-all cycles, {sent} frames "
              f"sent and received, 0 lost, 0 duplicated, 0 reordered")
        front = None
    finally:
        if front is not None:
            front.end()
        v.cleanup()
        shutil.rmtree(d, ignore_errors=True)


# ---- tools/vstopctl, the operator's client ----

def t_vstopctl(vstop_bin):
    """tools/vstopctl: readable and --json answers, errors on stderr with exit 1, an
    unreachable socket exit 2, commands from a file."""
    tool = os.path.join(ROOT, "tools", "vstopctl")
    v = H.Vstop(vstop_bin, "ctlcli")

    def run(*args, stdin=None, env=None):
        with tempfile.TemporaryFile() as err:
            p = H.proclib.run([sys.executable, tool] + list(args), timeout=60, env=env,
                              input=None if stdin is None else stdin.encode(), stderr=err)
            err.seek(0)
            return p.returncode, p.stdout, err.read().decode(errors="replace")

    try:
        v.wait_ready()
        rc, out, err = run("-s", v.ctl_path, "show", "fwd")
        check(rc == 0 and re.search(r"^fwd: loopback$", out, re.M), (rc, out, err))
        rc, out, err = run("-s", v.ctl_path, "--json", "show", "engine")
        check(rc == 0, (rc, out, err))
        j = __import__("json").loads(out)
        check(j["ok"] is True and j["devices"] == 1 and "epochs" in j, j)
        rc, out, err = run("-s", v.ctl_path, "show", "port", "info", "all")
        check(rc == 0 and "ports:" in out and "  -" in out, out)
        rc, out, err = run("-s", v.ctl_path, "show", "port", "stats", "9")
        check(rc == 1 and err.startswith("Error: invalid port 9"), (rc, out, err))
        rc, out, err = run("-s", v.ctl_path, "--json", "bogus")
        check(rc == 1 and '"ok":false' in out.replace(" ", ""), (rc, out, err))
        env = dict(os.environ, VSTOP_CTL=v.ctl_path)
        rc, out, err = run("-f", "-", stdin="# comment\nshow fwd\n\nshow lcores\n", env=env)
        check(rc == 0 and "vstop> show fwd" in out and "vstop> show lcores" in out,
              (rc, out, err))
        rc, out, err = run("-s", "/nonexistent/vstop.ctl", "show", "fwd")
        check(rc == 2 and "cannot connect" in err, (rc, out, err))
        rc, out, err = run("show", "fwd", env={k: x for k, x in os.environ.items()
                                                 if k != "VSTOP_CTL"})
        check(rc == 2, (rc, out, err))
    finally:
        v.cleanup()


# ---- the documentation cannot drift from the command table ----

def t_docs(vstop_bin):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "gen_console_doc", os.path.join(ROOT, "tools", "gen-console-doc.py"))
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)

    v = H.Vstop(vstop_bin, "docs")
    try:
        v.wait_ready()
        cmds = v.ok("help")["commands"]
        want = gen.render(cmds)
        doc_path = os.path.join(ROOT, "docs", "console.rst")
        have = open(doc_path).read() if os.path.exists(doc_path) else ""
        if have != want:
            diff = "".join(difflib.unified_diff(have.splitlines(True), want.splitlines(True),
                                                "docs/console.rst", "generated"))
            raise H.TestFailure("docs/console.rst differs from the command table; "
                                "regenerate: tools/gen-console-doc.py build/app/vstop > "
                                f"docs/console.rst\n{diff}")
        # every command has an example, and every example parses
        for c in cmds:
            ex = c["example"]
            check(ex, f"{c['syntax']} has no example")
            if ex == "quit":
                continue
            r = v.cmd(ex)
            check(r["ok"] or ("unknown command" not in r["error"] and
                              "bad arguments" not in r["error"]),
                  f"example {ex!r} of {c['syntax']!r} does not parse: {r}")
    finally:
        v.cleanup()


TESTS = {
    "console_interactive_prompt_completion_errors": t_interactive,
    "console_ctl_socket_commands_and_errors": t_ctl,
    "console_cmdline_file_script": t_script,
    "console_config_scripts_run_clean": t_config_scripts,
    "console_telemetry_endpoints": t_telemetry,
    "console_R6_device_stop_shows_DEVICE_STOPPED": t_stop_console,
    "console_S2_suspend_shows_SUSPEND_without_DRIVER_OK": t_suspend,
    "console_R7_link_change_deferred_while_stopped": t_r7,
    "console_M1_device_save_atomic_and_load": t_m1_save,
    "console_M3_bad_state_refused_device_unchanged": t_m3_refused,
    "console_fwd_start_stop_set_mode": t_fwd,
    "console_queue_counters_with_traffic": t_counters,
    "console_M1_frames_held_while_stopped": t_held,
    "console_docs_match_command_table": t_docs,
    "console_E1_device_stop_all_one_epoch": t_e1_stop_all,
    "console_vstopctl_text_and_json": t_vstopctl,
    "console_port_attach_detach_under_traffic": t_port_attach_detach,
    "console_E1_stop_all_16_devices_of_one_front_end": t_e1_many_front_ends,
    "console_port_ids_reused_ethdev_not_detached": t_port_ids,
    "console_E1_1024_ports_256_front_ends_stop_all_frames_checked": t_e1_1024_ports,
}

if __name__ == "__main__":
    H.main(TESTS)
