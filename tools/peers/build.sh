#!/usr/bin/env bash
# Builds one Go peer wrapper (a folder beside this script) into a cache outside the clone,
# keyed by everything that changes the binaries, and prints the folder holding them.
# A second call with the same inputs builds nothing.
#   tools/peers/build.sh kube-1.33   ->  /root/.cache/sidero-rs/go-peers/kube-1.33-<key>/bin
# Manifests named by CONFIG in peer.env land beside it, in <key>/config/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
name=${1:?usage: build.sh <wrapper>}
dir="$here/$name"
[ -f "$dir/go.mod" ] || { echo "build.sh: no wrapper $dir" >&2; exit 2; }
export GOTOOLCHAIN=local GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
# shellcheck disable=SC1091
. "$dir/peer.env"
root=${SIDERO_PEERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sidero-rs/go-peers}
key=$( { cat "$dir/go.mod" "$dir/go.sum" "$dir/peer.env"; go env GOVERSION GOOS GOARCH GOAMD64; echo "$CGO_ENABLED"; } | sha256sum | cut -c1-16)
out="$root/$name-$key"
if [ -f "$out/complete" ]; then echo "$out/bin"; exit 0; fi
mkdir -p "$root"
exec 9>"$root/$name-$key.lock"
flock 9
if [ -f "$out/complete" ]; then echo "$out/bin"; exit 0; fi
tmp=$(mktemp -d "$root/.$name-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
cd "$dir"
for b in $BINS; do
  bin=${b%%=*}; pkg=${b#*=}
  echo "build.sh: building $bin ($pkg) for $name" >&2
  go build -p 2 -modcacherw -trimpath -buildvcs=false -ldflags "-s -w $LDFLAGS" -o "$tmp/bin/$bin" "$pkg" >&2
done
# Manifests the harness installs (CRDs, webhook configurations) come from the same module
# versions as the binaries: CONFIG lists "module:folder" pairs, copied to <out>/config/<folder>.
for c in ${CONFIG:-}; do
  mod=${c%%:*}; sub=${c#*:}
  mdir=$(go list -m -f '{{.Dir}}' "$mod")
  [ -d "$mdir/$sub" ] || { echo "build.sh: $mod has no $sub" >&2; exit 1; }
  mkdir -p "$tmp/config/$(dirname "$sub")"
  cp -r "$mdir/$sub" "$tmp/config/$sub"
  chmod -R u+w "$tmp/config/$sub"
done
echo "$(( $(date +%s) - start ))" > "$tmp/build-seconds"
date -u +%FT%TZ > "$tmp/complete"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
# Older builds of this wrapper (other keys) are dead weight now.
for old in "$root/$name"-????????????????; do
  [ "$old" = "$out" ] && continue
  case "$old" in *.lock) continue ;; esac
  rm -rf "$old"
done
echo "build.sh: $name built in $(cat "$out/build-seconds")s" >&2
echo "$out/bin"
