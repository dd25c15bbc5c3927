#!/usr/bin/env bash
# The main job: a local Sidero management plane on this machine (loopback and network
# namespaces only). Builds what it needs on first use, runs until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || { echo "go is required (Go >= 1.26.6)" >&2; exit 1; }
echo "==> building Go peers (first run: several minutes; cached afterwards)"
echo "    (Cluster API core, Talos providers: about 30 minutes on 2 cores the first time)"
for w in etcd-3.5 kube-1.33 capi-1.10 cabpt-0.6 cacppt-0.5; do tools/peers/build.sh "$w" >/dev/null; done
export PATH="$(tools/peers/build.sh kube-1.33):$PATH"
[ -f /usr/lib/ipxe/snponly.efi ] || {
  echo "==> installing Debian's iPXE binaries"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ipxe
}
echo "==> building the workspace"
cargo build -q -p sidero-testenv --bin sidero-lab -p sidero-controller-manager --bin sidero-controller-manager \
  -p caps-controller-manager --bin caps-controller-manager
export SIDERO_MANAGER_BIN="$PWD/target/debug/sidero-controller-manager"
export SIDERO_CAPS_BIN="$PWD/target/debug/caps-controller-manager"
exec target/debug/sidero-lab
