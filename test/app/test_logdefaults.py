#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""vstop's log defaults (docs/user-guide.rst): librte_vhost's log types start at WARNING,
and EAL's --log-level still overrides that."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def start(name, eal):
    prefix = h.uniq("logs_" + name)
    sock = h.sock_path("logs_" + name)
    p = h.Proc([h.VSTOP, "--no-huge", "-m", "64", "--no-pci", "--file-prefix", prefix,
                "--lcores", h.LCORES, *eal, "--", "--vhost", sock, "--fwd", "loopback",
                "--idle-backoff-us", "100"], "vstop")
    p.prefix = prefix  # h.run's cleanup removes its EAL runtime directory
    h.wait_for(lambda: "vstop ready" in p.log() or not p.alive(), 30, what="vstop ready")
    p.end()
    return p.log()


def test():
    # librte_vhost logs "vhost-user server: socket created" at INFO for every socket.
    quiet = start("default", [])
    if "vstop ready" not in quiet:
        raise AssertionError(f"vstop did not start:\n{quiet}")
    if "VHOST_CONFIG" in quiet:
        raise AssertionError(f"librte_vhost INFO lines with the defaults:\n{quiet}")
    print("ok: no librte_vhost INFO line by default")
    loud = start("info", ["--log-level", "lib.vhost.*:info"])
    if "socket created" not in loud:
        raise AssertionError(f"--log-level lib.vhost.*:info did not bring them back:\n{loud}")
    print("ok: --log-level lib.vhost.*:info brings them back")


if __name__ == "__main__":
    h.run(test)
