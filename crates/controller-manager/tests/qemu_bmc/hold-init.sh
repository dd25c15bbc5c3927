#!/bin/busybox sh
# /init of the BMC test's machine: prints the marker like tools/initramfs/marker-init.sh,
# then stays up, so that powering it off is the BMC's (and the controller's) doing.
/bin/busybox mkdir -p /proc /sys /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
export PATH=/bin
while read -r ko; do [ -n "$ko" ] && insmod "$ko"; done </etc/modules.order
uuid=$(cat /sys/class/dmi/id/product_uuid 2>/dev/null)
nics=$(ls /sys/class/net | tr '\n' ' ')
echo "SIDERO-MARKER uuid=$uuid nics=$nics cmdline=$(cat /proc/cmdline)" >/dev/console
while :; do sleep 3600; done
