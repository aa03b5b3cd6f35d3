#!/usr/bin/env bash
# Install the Debian packages vstop needs to build, test and benchmark. Idempotent: quiet
# and quick when everything is present. Runs apt-get update before installing anything.
set -euo pipefail

pkgs=(dpdk dpdk-dev libdpdk-dev meson ninja-build pkg-config gcc libcriterion-dev python3
      procps iproute2 clang libclang-rt-14-dev
      qemu-system-x86 busybox-static cpio)  # the QEMU guest rig (tools/guest, test/qemu)
if [ "${1:-}" = "--bench" ]; then
	pkgs+=(gnuplot-nox)
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
