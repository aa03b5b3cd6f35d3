#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Build the QEMU guest of the migration rig (test/qemu, tools/guest/migrate-loop.py):
# Debian's cloud kernel (linux-image-cloud-amd64 -> the linux-image-* package it depends
# on, fetched with 'apt-get download', unpacked with 'dpkg-deb -x', never installed) and a
# busybox initramfs whose /init loads the virtio-net modules and runs seqcheck.
#
# Usage: tools/guest/build-guest.sh [--seqcheck PATH] [OUTDIR]     (OUTDIR: build/guest)
#   --seqcheck PATH  the static seqcheck binary (meson builds build/tools/guest/seqcheck);
#                    without it the script compiles tools/guest/seqcheck.c with gcc -static.
# Idempotent: the kernel package is downloaded and unpacked once per version; the
# initramfs is rebuilt only when one of its inputs is newer.
# Prints 'guest: kernel=PATH initrd=PATH version=V' last.
# Exit status: 0 built (or up to date), 3 the kernel cannot be obtained (apt unreachable,
# package unknown: callers skip), 1 any other error.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
seqcheck=""
out=""
while [ $# -gt 0 ]; do
	case "$1" in
	--seqcheck) seqcheck=$2; shift 2 ;;
	-h|--help) sed -n '2,16p' "$0"; exit 0 ;;
	*) out=$1; shift ;;
	esac
done
out=${out:-build/guest}
mkdir -p "$out"
out=$(cd "$out" && pwd)
meta=linux-image-cloud-amd64

cannot() { echo "build-guest: cannot obtain the guest kernel: $*" >&2; exit 3; }

# Kernel package: resolve the meta package's Depends to the real image package.
resolve() {
	apt-cache depends "$meta" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1
}
pkg=$(resolve || true)
if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
	echo "build-guest: $meta unknown to apt-cache, running apt-get update" >&2
	apt-get update -qq >&2 || true
	pkg=$(resolve || true)
fi
if [ -z "$pkg" ]; then
	# Offline with a cache from an earlier run: use it.
	if [ -f "$out/kernel/package" ]; then
		pkg=$(cat "$out/kernel/package")
		echo "build-guest: apt does not resolve $meta; using the cached $pkg" >&2
	else
		cannot "apt-cache does not resolve $meta to a linux-image package"
	fi
fi

kdir=$out/kernel
if [ "$(cat "$kdir/package" 2>/dev/null || true)" != "$pkg" ]; then
	echo "build-guest: fetching $pkg" >&2
	rm -rf "$kdir" "$out/deb"
	mkdir -p "$out/deb"
	# apt's _apt sandbox user may not write here; that only costs a warning.
	(cd "$out/deb" && apt-get download "$pkg" >&2) || cannot "apt-get download $pkg failed"
	deb=$(ls "$out"/deb/"$pkg"_*.deb 2>/dev/null | head -n 1)
	[ -n "$deb" ] || cannot "apt-get download $pkg left no .deb"
	mkdir -p "$kdir.tmp"
	dpkg-deb -x "$deb" "$kdir.tmp/root"
	echo "$pkg" > "$kdir.tmp/package"
	rm -rf "$kdir"
	mv "$kdir.tmp" "$kdir"
	rm -rf "$out/deb" # 27 MB; the unpacked tree is what we keep
fi
vmlinuz=$(ls "$kdir"/root/boot/vmlinuz-* | head -n 1)
config=$(ls "$kdir"/root/boot/config-* | head -n 1)
kver=${vmlinuz##*/vmlinuz-}
moddir=$kdir/root/lib/modules/$kver
[ -f "$vmlinuz" ] && [ -d "$moddir" ] || { echo "build-guest: $pkg has no vmlinuz or modules" >&2; exit 1; }

# seqcheck: the meson-built binary, or compile it here.
if [ -z "$seqcheck" ]; then
	seqcheck=$out/seqcheck
	if [ ! -x "$seqcheck" ] || [ "$here/seqcheck.c" -nt "$seqcheck" ]; then
		gcc -O2 -Wall -static -o "$seqcheck" "$here/seqcheck.c"
	fi
fi
[ -x "$seqcheck" ] || { echo "build-guest: no seqcheck binary at $seqcheck" >&2; exit 1; }
is_static() { # ldd fails on a static binary, saying so
	local o
	o=$(ldd "$1" 2>&1 || true)
	case $o in *"not a dynamic"*|*"statically linked"*) return 0 ;; esac
	return 1
}
is_static "$seqcheck" || { echo "build-guest: $seqcheck is not statically linked" >&2; exit 1; }

busybox=""
for b in /bin/busybox /usr/bin/busybox; do # busybox-static installs /bin/busybox
	if [ -x "$b" ] && is_static "$b"; then busybox=$b; break; fi
done
[ -n "$busybox" ] ||
	{ echo "build-guest: no static busybox (apt-get install busybox-static)" >&2; exit 1; }

initrd=$out/initramfs.cpio.gz
if [ -f "$initrd" ] && [ "$initrd" -nt "$seqcheck" ] && [ "$initrd" -nt "$vmlinuz" ] &&
   [ "$initrd" -nt "$0" ] && [ "$initrd" -nt "$here/init.sh" ] && [ "$initrd" -nt "$busybox" ]; then
	echo "guest: kernel=$out/vmlinuz initrd=$initrd version=$kver (cached)"
	exit 0
fi

# Modules: what the kernel config builds as modules (=m), with their dependencies first
# (read from each module's .modinfo 'depends='; there is no modules.dep in the package).
want=(virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover
      net_failover virtio_net af_packet)
declare -A path_of=()
while IFS= read -r f; do
	m=${f##*/}; m=${m%.ko*}
	path_of[$m]=$f
done < <(find "$moddir/kernel" -name '*.ko*')
order=()
declare -A done_=()
visit() {
	local m=$1 f deps d
	[ -n "${done_[$m]:-}" ] && return 0
	done_[$m]=1
	f=${path_of[$m]:-}
	if [ -z "$f" ]; then
		# Not a module: it must be built in.
		local sym
		case $m in
		virtio) sym=VIRTIO ;; virtio_ring) sym=VIRTIO ;;
		virtio_pci_modern_dev) sym=VIRTIO_PCI_LIB ;;
		virtio_pci_legacy_dev) sym=VIRTIO_PCI_LIB_LEGACY ;;
		virtio_pci) sym=VIRTIO_PCI ;; failover) sym=FAILOVER ;;
		net_failover) sym=NET_FAILOVER ;; virtio_net) sym=VIRTIO_NET ;;
		af_packet) sym=PACKET ;;
		*) sym="" ;;
		esac
		if [ -n "$sym" ] && ! grep -q "^CONFIG_$sym=y" "$config"; then
			echo "build-guest: $m is neither a module nor built in ($config)" >&2
			exit 1
		fi
		return 0
	fi
	deps=$(case $f in
		*.ko.xz) xz -dc "$f" ;; *.ko.zst) zstd -dc "$f" ;; *.ko.gz) gzip -dc "$f" ;; *) cat "$f" ;;
		esac | grep -a -o 'depends=[a-z0-9_,-]*' | head -n 1 | sed 's/^depends=//; s/,/ /g')
	for d in $deps; do visit "$d"; done
	order+=("$m")
}
for m in "${want[@]}"; do visit "$m"; done

root=$out/initramfs.tmp
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,lib/modules}
cp "$busybox" "$root/bin/busybox"
cp "$seqcheck" "$root/bin/seqcheck"
cp "$here/init.sh" "$root/init"
chmod 755 "$root/init" "$root/bin/busybox" "$root/bin/seqcheck"
: > "$root/lib/modules/order"
for m in "${order[@]}"; do
	f=${path_of[$m]}
	case $f in # busybox insmod takes plain .ko files: decompress here
	*.ko.xz) xz -dc "$f" > "$root/lib/modules/$m.ko" ;;
	*.ko.zst) zstd -dc "$f" > "$root/lib/modules/$m.ko" ;;
	*.ko.gz) gzip -dc "$f" > "$root/lib/modules/$m.ko" ;;
	*) cp "$f" "$root/lib/modules/$m.ko" ;;
	esac
	echo "$m" >> "$root/lib/modules/order"
done
echo "$kver" > "$root/kernel-version"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -6 > "$initrd.tmp"
mv "$initrd.tmp" "$initrd"
cp "$vmlinuz" "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
rm -rf "$root"
echo "build-guest: modules: ${order[*]}" >&2
echo "guest: kernel=$out/vmlinuz initrd=$initrd version=$kver"
