#!/bin/busybox sh
# SPDX-License-Identifier: BSD-3-Clause
# /init of the migration rig's guest (tools/guest/build-guest.sh): mount proc/sys/dev,
# load the virtio-net modules in order, bring eth0 up, run seqcheck with the vstop.*
# parameters of the kernel command line, then idle (the harness ends QEMU).
# Lines for the harness start with GUEST-.
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "GUEST-INIT kernel=$(cat /kernel-version) cmdline=$(cat /proc/cmdline)"
for m in $(cat /lib/modules/order); do
	insmod /lib/modules/$m.ko || echo "GUEST-ERROR insmod $m failed"
done
ip link set lo up
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -e /sys/class/net/eth0 ]; then
	echo "GUEST-ERROR no eth0"
else
	ip link set eth0 up
	echo "GUEST-NET eth0 $(cat /sys/class/net/eth0/address) up"
	/bin/seqcheck --cmdline
	echo "GUEST-DONE rc=$?"
fi
while true; do sleep 3600; done
