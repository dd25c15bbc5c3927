#!/usr/bin/env bash
# Builds a boot environment for QEMU tests: Debian's amd64 kernel (`vmlinuz`) and a busybox
# initramfs (`initramfs.xz`), into a cache outside the clone keyed by every input (package
# versions, this script, the /init and extra files), and prints the folder holding both.
# A second call with the same inputs builds nothing. The output is reproducible: fixed
# mtimes (SOURCE_DATE_EPOCH), sorted cpio entries owned by root, inode numbers from cpio's
# --reproducible, xz without timestamps.
#
#   tools/initramfs/build.sh                  # variant "marker": /init prints a marker, powers off
#   tools/initramfs/build.sh --init BIN --module virtio_net --file SRC:DEST …
#
# Hooks for the agent initramfs (issue 4):
#   --init PATH       installed as /init (mode 0755) instead of the marker script; a static
#                     binary (glibc `+crt-static`) such as sidero-agent. busybox stays at
#                     /bin/busybox, so the agent may exec busybox applets (udhcpc, insmod…).
#   --module NAME     adds kernel module NAME and everything it depends on (resolved with
#                     depmod/modprobe against the downloaded kernel) under /lib/modules/<kver>/;
#                     /etc/modules.order lists their paths in load order (`insmod` each line;
#                     e.g. virtio_net gives virtio_ring … net_failover virtio_net). The marker
#                     /init loads them too, so it can show the NIC.
#   --file SRC:DEST   copies SRC into the image at DEST (e.g. a udhcpc script).
# Needs: apt-get (for `apt-get download`; lists updated), dpkg-deb, cpio, xz, depmod (kmod).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
export LC_ALL=C

orig_args=("$@")
init=""
modules=()
files=()
while [ $# -gt 0 ]; do
  case $1 in
    --init) init=$(realpath "$2"); shift 2 ;;
    --module) modules+=("$2"); shift 2 ;;
    --file) files+=("$2"); shift 2 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

candidate() { apt-cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Version: //p' | head -n1; }
# linux-image-amd64 is a meta package: the kernel is its linux-image-<abi>-amd64 dependency.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1)
if [ -z "$kpkg" ]; then
  apt-get update -qq >&2
  kpkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1)
fi
[ -n "$kpkg" ] || { echo "build.sh: cannot resolve linux-image-amd64" >&2; exit 1; }
kver=$(candidate "$kpkg")
bver=$(candidate busybox-static)
[ -n "$kver" ] && [ -n "$bver" ] || { echo "build.sh: no candidate for $kpkg or busybox-static" >&2; exit 1; }

root=${SIDERO_INITRAMFS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sidero-rs/initramfs}
key=$( {
  echo "$kpkg=$kver busybox-static=$bver epoch=$SOURCE_DATE_EPOCH"
  cat "$here/build.sh" "$here/marker-init.sh"
  [ -z "$init" ] || sha256sum <"$init"
  printf 'module %s\n' "${modules[@]}"
  for f in "${files[@]}"; do echo "file ${f#*:}"; sha256sum <"${f%%:*}"; done
} | sha256sum | cut -c1-16)
out="$root/$key"
# `used` records the last use, so variants nobody asked for in 30 days can be pruned.
if [ -f "$out/complete" ]; then touch "$out/used"; echo "$out"; exit 0; fi
mkdir -p "$root/debs"
exec 9>"$root/$key.lock"
flock 9
if [ -f "$out/complete" ]; then touch "$out/used"; echo "$out"; exit 0; fi
start=$(date +%s)
tmp=$(mktemp -d "$root/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The .debs are kept (by version) so another variant of the same kernel downloads nothing.
fetch() { # package version -> $fetched: path of the .deb (not in a subshell: it may re-exec)
  local f="$root/debs/${1}_${2//:/%3a}_amd64.deb"
  [ -f "$f" ] || (cd "$root/debs" && apt-get download -q -o APT::Sandbox::User=root "$1=$2" >&2) || true
  if [ ! -f "$f" ]; then
    # Stale package lists name a version the archive no longer has: update them once and
    # start over (the versions, and so the cache key, may change).
    if [ -z "${SIDERO_INITRAMFS_UPDATED:-}" ]; then
      echo "build.sh: download of $1=$2 failed; updating the package lists" >&2
      apt-get update -qq >&2
      rm -rf "$tmp"
      SIDERO_INITRAMFS_UPDATED=1 exec "$here/build.sh" "${orig_args[@]}"
    fi
    echo "build.sh: download of $1=$2 failed (no $f)" >&2; exit 1
  fi
  fetched=$f
}
fetch "$kpkg" "$kver"; kdeb=$fetched
fetch busybox-static "$bver"; bdeb=$fetched
echo "build.sh: unpacking $(basename "$kdeb") and $(basename "$bdeb")" >&2
dpkg-deb -x "$kdeb" "$tmp/kernel"
dpkg-deb -x "$bdeb" "$tmp/busybox"
abi=${kpkg#linux-image-}
cp "$tmp/kernel/boot/vmlinuz-$abi" "$tmp/vmlinuz"

img="$tmp/img"
mkdir -p "$img"/{bin,dev,etc,proc,sys,tmp,run,lib/modules}
cp "$tmp/busybox/bin/busybox" "$img/bin/busybox"
if [ -n "$init" ]; then
  install -m 0755 "$init" "$img/init"
else
  install -m 0755 "$here/marker-init.sh" "$img/init"
fi
: >"$img/etc/modules.order"
if [ ${#modules[@]} -gt 0 ]; then
  # The deb ships no modules.dep: generate it, then let modprobe order the dependencies.
  depmod -b "$tmp/kernel" "$abi"
  for m in "${modules[@]}"; do
    modprobe -d "$tmp/kernel" -S "$abi" --show-depends "$m" | sed -n 's/^insmod \([^ ]*\).*/\1/p'
  done | awk '!seen[$0]++' | while read -r ko; do
    rel=${ko#"$tmp/kernel"}
    mkdir -p "$img$(dirname "$rel")"
    cp "$ko" "$img$rel"
    echo "$rel" >>"$img/etc/modules.order"
  done
fi
for f in "${files[@]}"; do
  dest=${f#*:}
  mkdir -p "$img$(dirname "$dest")"
  cp "${f%%:*}" "$img$dest"
done

# Reproducible archive: every entry has the same mtime, root owner, sorted names.
find "$img" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$img" && find . -mindepth 1 | sort | cpio -o -H newc -R 0:0 --reproducible --quiet) >"$tmp/initramfs.cpio"
# The kernel's xz decoder checks CRC32 only (xz defaults to CRC64).
xz -T1 -6 --check=crc32 -c "$tmp/initramfs.cpio" >"$tmp/initramfs.xz"
rm -rf "$tmp/kernel" "$tmp/busybox" "$img" "$tmp/initramfs.cpio"
touch -d "@$SOURCE_DATE_EPOCH" "$tmp/vmlinuz" "$tmp/initramfs.xz"
cat >"$tmp/inputs" <<EOF
$kpkg $kver
busybox-static $bver
init ${init:-marker-init.sh}
modules ${modules[*]:-}
EOF
date -u +%FT%TZ >"$tmp/complete"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
touch "$out/used"
# Every variant uses the current candidates: older .debs are dead weight.
find "$root/debs" -maxdepth 1 -name '*.deb' ! -path "$kdeb" ! -path "$bdeb" -delete
# Prune builds (of any variant) unused for 30 days, and their locks.
find "$root" -mindepth 2 -maxdepth 2 -name used -mtime +30 -printf '%h\n' | while read -r old; do
  rm -rf "$old" "$old.lock"
done
echo "build.sh: built $out in $(( $(date +%s) - start ))s" >&2
echo "$out"
