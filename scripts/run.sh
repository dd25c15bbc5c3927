#!/usr/bin/env bash
# The main job: a local Sidero management plane on this machine, on loopback and in network
# namespaces: three QEMU machines behind ipmi_sim BMCs PXE-boot the real agent, are discovered,
# accepted and wiped; a cluster binds them and simulated Talos nodes finish the install.
# Builds what it needs on first use, runs until Ctrl-C (SIGTERM too), then stops everything.
# Needs root (network namespaces, taps, QEMU) on Debian 12 with Go >= 1.26.6 and Rust 1.95.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run.sh needs root (network namespaces, tap devices)" >&2; exit 1; }
command -v go >/dev/null || { echo "go is required (Go >= 1.26.6)" >&2; exit 1; }

# Debian packages: QEMU (TCG) with the NIC's iPXE ROM, qemu-img for the machines' disks, the
# BMC simulator and its client, the site DHCP server, the iPXE binaries the manager serves,
# and what tools/initramfs/build.sh needs. Installed only when missing.
pkgs=()
for p in ca-certificates iproute2 curl qemu-system-x86 qemu-utils ipxe-qemu ipxe openipmi ipmitool \
  dnsmasq-base cpio kmod xz-utils; do
  dpkg -s "$p" >/dev/null 2>&1 || pkgs+=("$p")
done
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "==> installing ${pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
fi

echo "==> building Go peers (first run: several minutes; cached afterwards)"
echo "    (Cluster API core, Talos providers: about 30 minutes on 2 cores the first time)"
for w in etcd-3.5 kube-1.33 capi-1.10 cabpt-0.6 cacppt-0.5; do tools/peers/build.sh "$w" >/dev/null; done
export PATH="$(tools/peers/build.sh kube-1.33):$PATH"

echo "==> building the agent (static) and its boot environment (cached afterwards)"
log=$(mktemp)
agent=$(tools/agent/build.sh 2>"$log") || { cat "$log" >&2; exit 1; }
rm -f "$log"
tools/initramfs/build.sh --init "$agent" --module virtio_pci --module virtio_net --module virtio_blk >/dev/null

echo "==> building the workspace"
cargo build -q -p sidero-testenv --bin sidero-lab -p sidero-controller-manager --bin sidero-controller-manager \
  -p caps-controller-manager --bin caps-controller-manager -p sideroctl --bin sideroctl
export SIDERO_MANAGER_BIN="$PWD/target/debug/sidero-controller-manager"
export SIDERO_CAPS_BIN="$PWD/target/debug/caps-controller-manager"
exec target/debug/sidero-lab "$@"
