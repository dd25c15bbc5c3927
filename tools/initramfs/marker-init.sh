#!/bin/busybox sh
# /init of the "marker" initramfs: proves that a network boot reached user space with the
# kernel command line we rendered, then powers the machine off (QEMU exits).
/bin/busybox mkdir -p /proc /sys /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
export PATH=/bin
# Modules added with build.sh --module, in dependency order.
while read -r ko; do [ -n "$ko" ] && insmod "$ko"; done </etc/modules.order
uuid=$(cat /sys/class/dmi/id/product_uuid 2>/dev/null)
nics=$(ls /sys/class/net | tr '\n' ' ')
echo "SIDERO-MARKER uuid=$uuid nics=$nics cmdline=$(cat /proc/cmdline)" >/dev/console
sync
poweroff -f
