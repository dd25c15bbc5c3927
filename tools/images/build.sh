#!/usr/bin/env bash
# Builds the two manager images FROM scratch with buildah into OCI archives and prints their
# paths (spec §1.1; the Containerfiles are deploy/images/<manager>/Containerfile).
#
#   tools/images/build.sh [--out DIR] [--tag TAG] [--bin-dir DIR] [--agent-env DIR]
#
#   --bin-dir DIR    take sidero-controller-manager and caps-controller-manager from DIR
#                    (default: build them static, as tools/agent/build.sh builds the agent,
#                    into a target folder outside the clone)
#   --agent-env DIR  vmlinuz + initramfs.xz of the agent environment (default: the agent from
#                    tools/agent/build.sh as /init of tools/initramfs/build.sh)
#   --ipxe-dir DIR   iPXE binaries (default: Debian's /usr/lib/ipxe)
#   --out DIR        where the archives go (default: ./images)
#   --tag TAG        image tag (default: dev)
#   --only NAME      build only this image (sidero-controller-manager or caps-controller-manager)
# Storage is a throw-away vfs root under the output folder: nothing is left in the host's
# container storage, and no registry is contacted (FROM scratch).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$PWD/images tag=dev bin_dir="" agent_env="" ipxe_dir=/usr/lib/ipxe only=""
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$(realpath -m "$2"); shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --bin-dir) bin_dir=$(realpath "$2"); shift 2 ;;
    --agent-env) agent_env=$(realpath "$2"); shift 2 ;;
    --ipxe-dir) ipxe_dir=$(realpath "$2"); shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v buildah >/dev/null || { echo "build.sh: buildah is not installed" >&2; exit 3; }
mkdir -p "$out"
if [ -z "$bin_dir" ]; then
  target_dir=${SIDERO_IMAGE_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sidero-rs/image-target}
  if rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
    triple=x86_64-unknown-linux-musl
  else
    triple=x86_64-unknown-linux-gnu
  fi
  echo "build.sh: building both managers for $triple (static) into $target_dir" >&2
  pkgs=(-p sidero-controller-manager -p caps-controller-manager)
  [ -z "$only" ] || pkgs=(-p "$only")
  (cd "$repo" && RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" cargo build --release --locked \
    "${pkgs[@]}" --target "$triple" --target-dir "$target_dir" >&2)
  bin_dir=$target_dir/$triple/release
fi
if [ -z "$agent_env" ] && [ "$only" != caps-controller-manager ]; then
  agent=$("$repo/tools/agent/build.sh")
  agent_env=$("$repo/tools/initramfs/build.sh" --init "$agent" --module virtio_pci --module virtio_net)
fi
stage=$(mktemp -d "$out/.stage.XXXXXX")
store=$(mktemp -d "$out/.store.XXXXXX")
trap 'buildah --root "$store/root" --runroot "$store/run" --storage-driver vfs rmi -a -f >/dev/null 2>&1 || true; rm -rf "$stage" "$store"' EXIT
bah() { buildah --root "$store/root" --runroot "$store/run" --storage-driver vfs "$@"; }
for m in sidero-controller-manager caps-controller-manager; do
  [ -z "$only" ] || [ "$only" = $m ] || continue
  ctx=$stage/$m
  mkdir -p "$ctx"
  install -m 0755 "$bin_dir/$m" "$ctx/manager"
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
  if [ $m = sidero-controller-manager ]; then
    mkdir -p "$ctx/ipxe" "$ctx/env/agent-amd64"
    for f in ipxe.efi snponly.efi undionly.kpxe; do
      [ -e "$ipxe_dir/$f" ] && cp "$ipxe_dir/$f" "$ctx/ipxe/"
    done
    cp -r "$ipxe_dir"/amd64 "$ipxe_dir"/arm64 "$ctx/ipxe/" 2>/dev/null || true
    cp "$agent_env/vmlinuz" "$agent_env/initramfs.xz" "$ctx/env/agent-amd64/"
  fi
  bah build --isolation chroot --layers=false --timestamp 0 \
    -f "$repo/deploy/images/$m/Containerfile" -t "localhost/siderolabs/$m:$tag" "$ctx" >&2
  rm -f "$out/$m.tar"
  bah push "localhost/siderolabs/$m:$tag" "oci-archive:$out/$m.tar:siderolabs/$m:$tag" >&2
  echo "$out/$m.tar"
done
