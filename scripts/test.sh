#!/usr/bin/env bash
# The test command: installs what the tests need, builds the Go peers (cached outside the
# clone), then runs rustfmt, clippy and every test of the workspace against real peers.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
step() { printf '\n==> %s\n' "$*"; }
t0=$(date +%s)

step "checking toolchains"
command -v go >/dev/null || { echo "go is required (Go >= 1.26.6); install it first" >&2; exit 1; }
command -v cargo >/dev/null || { echo "cargo is required (rustup toolchain 1.95.0)" >&2; exit 1; }
go version
cargo --version

# Debian packages the tests use (real peers: BMC simulator, TFTP clients, …). Installed only
# when missing, so a warm run costs nothing.
pkgs=()
# qemu-system-x86, ovmf, ipxe-qemu: the QEMU network boot test (SeaBIOS + the NIC's iPXE ROM,
# OVMF); qemu-utils: qemu-img/qemu-io for the discovery test's disk image; cpio, kmod, xz-utils:
# tools/initramfs/build.sh (it downloads the kernel and
# busybox-static .debs itself); wireguard-go, wireguard-tools: the SideroLink interop peer.
for p in ca-certificates util-linux iproute2 curl socat openipmi ipmitool atftp tftp-hpa dnsmasq-base ipxe \
  qemu-system-x86 ovmf ipxe-qemu qemu-utils cpio kmod xz-utils wireguard-go wireguard-tools; do
  dpkg -s "$p" >/dev/null 2>&1 || pkgs+=("$p")
done
if [ ${#pkgs[@]} -gt 0 ]; then
  step "installing ${pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
fi

step "building Go peers (cached in ${XDG_CACHE_HOME:-$HOME/.cache}/sidero-rs/go-peers)"
# CAPI core + clusterctl, the Talos bootstrap and control-plane providers, talosctl: the
# Cluster API tests run them (about 25 min cold on 2 cores, nothing when cached).
for w in etcd-3.5 kube-1.33 capi-1.10 cabpt-0.6 cacppt-0.5 talosctl-1.13; do
  s=$(date +%s)
  dir=$(tools/peers/build.sh "$w")
  echo "$w: $dir ($(( $(date +%s) - s ))s)"
done
step "agent boot environment (Debian kernel + busybox initramfs, cached in ${XDG_CACHE_HOME:-$HOME/.cache}/sidero-rs/initramfs)"
s=$(date +%s)
# The same arguments as crates/controller-manager/tests/qemu_boot, so the test finds it built.
echo "$(tools/initramfs/build.sh --module virtio_pci --module virtio_net) ($(( $(date +%s) - s ))s)"
# tests/qemu_bmc's variant: the same, with an /init that stays up (the BMC powers it off).
echo "$(tools/initramfs/build.sh --init crates/controller-manager/tests/qemu_bmc/hold-init.sh \
  --module virtio_pci --module virtio_net) ($(( $(date +%s) - s ))s)"
# tests/qemu_discovery's variant: the static sidero-agent as /init, plus the virtio disk driver.
s=$(date +%s)
agent=$(tools/agent/build.sh)
echo "$(tools/initramfs/build.sh --init "$agent" \
  --module virtio_pci --module virtio_net --module virtio_blk) ($(( $(date +%s) - s ))s)"

step "Redfish emulator (sushy-tools, pinned, in a venv outside the clone)"
tools/sushy/setup.sh

# The CLI checks in the tests use the kubectl that matches the test API server.
export PATH="$(tools/peers/build.sh kube-1.33):$PATH"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
# --no-fail-fast: one red test binary must not hide the results of the others; the summary
# below is printed either way and the script then fails.
test_rc=0
cargo test --workspace --locked --no-fail-fast 2>&1 | tee target/test-output.txt || test_rc=$?

step "fuzzing every parser of untrusted bytes (bounded)"
fuzz_secs=${SIDERO_FUZZ_SECONDS:-20}
if rustup run nightly rustc --version >/dev/null 2>&1; then
  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked
  # The fuzz build lives outside the clone, so a warm run only rebuilds what changed.
  fuzz_target_dir="${XDG_CACHE_HOME:-$HOME/.cache}/sidero-rs/fuzz-target"
  for t in $(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^sidero-fuzz$'); do
    scratch=$(mktemp -d)   # new inputs go here; the committed corpus is only read
    (cd fuzz && cargo +nightly fuzz run --target-dir "$fuzz_target_dir" "$t" "$scratch" "corpus/$t" -- \
      -max_total_time="$fuzz_secs" -rss_limit_mb=2048 2>&1 | tail -n 3) || { echo "fuzz target $t failed" >&2; exit 1; }
    rm -rf "$scratch"
  done
else
  echo "fuzz: no nightly toolchain here; fuzz targets not run"
fi

step "summary"
passed=$(grep -Eo '^test result: [a-z]+\. [0-9]+ passed' target/test-output.txt | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' target/test-output.txt | awk '{s+=$1} END {print s+0}')
ignored=$(grep -Eo '[0-9]+ ignored' target/test-output.txt | awk '{s+=$1} END {print s+0}')
echo "total: $(( $(date +%s) - t0 ))s"
echo "$passed passed, $failed failed, $ignored skipped"
exit "$test_rc"
