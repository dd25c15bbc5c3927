#!/usr/bin/env bash
# Builds sidero-agent as a static executable (it is /init of the discovery initramfs, where
# there is no dynamic loader or libc) and prints its path.
#
#   tools/agent/build.sh   ->  ~/.cache/sidero-rs/agent-target/sidero-agent (stripped, about 6 MB)
#
# The target folder lives outside the clone (SIDERO_AGENT_TARGET_DIR overrides it), so the
# static build neither invalidates the workspace's own target/ nor starts cold in a fresh clone.
# musl is used when its target is installed; otherwise glibc with crt-static. The explicit
# --target keeps build scripts and proc macros dynamic (crt-static applies to the target only).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
target_dir=${SIDERO_AGENT_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sidero-rs/agent-target}
if rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
  triple=x86_64-unknown-linux-musl
else
  triple=x86_64-unknown-linux-gnu
fi
export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"
cd "$repo"
echo "build.sh: building sidero-agent for $triple (static) into $target_dir" >&2
cargo build --release --locked -p sidero-agent --bin sidero-agent \
  --target "$triple" --target-dir "$target_dir" >&2
bin="$target_dir/$triple/release/sidero-agent"
# A dynamic /init fails with a bare "No such file or directory" from the kernel; refuse it here.
if file "$bin" | grep -q 'dynamically linked'; then
  echo "build.sh: $bin is dynamically linked" >&2
  exit 1
fi
# Symbols are a quarter of the size and nothing reads them in the initramfs.
out="$target_dir/sidero-agent"
if command -v strip >/dev/null; then
  strip -o "$out.tmp" "$bin"
else
  cp "$bin" "$out.tmp"
fi
mv "$out.tmp" "$out"
echo "$out"
