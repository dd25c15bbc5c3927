#!/usr/bin/env bash
# Regenerates the Cluster API types we read (crates/api/src/capi/{v1beta1,v1beta2}/*.rs)
# from the CRDs of sigs.k8s.io/cluster-api, using kopium.
#
# Usage: tools/gen-capi-types.sh
#
# Needs: go (any version that can `go mod download`; a module proxy must be reachable),
#        kopium (exactly $KOPIUM_VERSION unless KOPIUM_ALLOW_OTHER_VERSION=1), rustfmt.
#
# Re-running it with the same pins yields byte-identical files.
set -euo pipefail

CAPI_MODULE="sigs.k8s.io/cluster-api"
CAPI_VERSION="v1.14.0"
# go.sum hash of the module zip; guards against the pinned tag changing under us.
CAPI_SUM="h1:Cu0WV9dSdL+Do22q2LJ4OBZdm+d/6ep/L04yqFnifuM="
KOPIUM_VERSION="0.24.1"

# CRD file stem -> output file stem.
KINDS=(
    "clusters:cluster:Cluster"
    "machines:machine:Machine"
    "machinedeployments:machinedeployment:MachineDeployment"
)
API_VERSIONS=(v1beta1 v1beta2)

# Flags for every kopium run.
#   --no-condition: CAPI v1beta1 conditions carry `severity` and an optional `reason`; kopium would
#     otherwise map them to k8s-openapi's metav1 `Condition` and silently drop `severity`. With this
#     flag every conditions list gets a struct generated from its exact CRD schema.
KOPIUM_FLAGS=(
    --schema=derived
    --docs
    --derive Default
    --derive PartialEq
    --smart-derive-elision
    --no-condition
)

# Lints the generated code is exempt from (it mirrors upstream descriptions and naming).
ALLOWS='#![allow(missing_docs, unused_imports, clippy::all, clippy::pedantic, clippy::nursery, rustdoc::all)]'

die() {
    echo "gen-capi-types: error: $*" >&2
    exit 1
}

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_root="$repo_root/crates/api/src/capi"

# --- tools -------------------------------------------------------------------------------------
if ! command -v kopium >/dev/null 2>&1; then
    cat >&2 <<EOF
gen-capi-types: error: kopium not found on PATH.
Install it (outside this repository, so its rust-toolchain.toml does not apply) with:
    cd /tmp && cargo install kopium --version $KOPIUM_VERSION --locked
EOF
    exit 1
fi
kopium_version="$(kopium --version | awk '{print $2}')"
if [[ "$kopium_version" != "$KOPIUM_VERSION" ]]; then
    if [[ "${KOPIUM_ALLOW_OTHER_VERSION:-0}" == "1" ]]; then
        echo "gen-capi-types: warning: kopium $kopium_version, pinned $KOPIUM_VERSION" >&2
    else
        die "kopium $kopium_version found, $KOPIUM_VERSION pinned.
Install the pinned one: cd /tmp && cargo install kopium --version $KOPIUM_VERSION --locked --force
(or set KOPIUM_ALLOW_OTHER_VERSION=1 and update KOPIUM_VERSION in this script)."
    fi
fi
command -v go >/dev/null 2>&1 || die "go not found on PATH (needed to fetch $CAPI_MODULE@$CAPI_VERSION)"
command -v rustfmt >/dev/null 2>&1 || die "rustfmt not found on PATH (rustup component add rustfmt)"

# --- CRDs --------------------------------------------------------------------------------------
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT

# Run outside any Go module so the download is independent of the current directory.
download_json="$(cd "$workdir" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "$CAPI_MODULE@$CAPI_VERSION")" ||
    die "go mod download $CAPI_MODULE@$CAPI_VERSION failed"
json_field() {
    sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p" <<<"$download_json" | head -n1
}
module_dir="$(json_field Dir)"
module_sum="$(json_field Sum)"
[[ -n "$module_dir" && -d "$module_dir" ]] || die "no module directory in go mod download output:
$download_json"
[[ "$module_sum" == "$CAPI_SUM" ]] || die "$CAPI_MODULE@$CAPI_VERSION has sum $module_sum, expected $CAPI_SUM"
crd_dir="$module_dir/core/config/crd/bases"
[[ -d "$crd_dir" ]] || die "CRD directory $crd_dir missing"

# --- open enums --------------------------------------------------------------------------------
# kopium turns every `enum:` string schema into a closed Rust enum. For types we only *read* that is
# a trap: an unknown value makes the whole object fail to deserialize. And unknown values do occur:
# CAPI converts between served versions by copying strings (e.g. a v1beta2 Machine in phase
# `Updating` is served as v1beta1 with that phase, which the v1beta1 enum lacks), and newer CAPI
# releases add values. So every generated enum becomes `pub type X = String;`, documented with the
# values this CRD version lists. (`--elide` can't do this: it matches kopium's internal names.)
open_enums() {
    awk '
        function flush() { for (i = 1; i <= n; i++) print buf[i]; n = 0 }
        in_enum == 0 && /^(\/\/\/|#\[)/ { buf[++n] = $0; next }
        in_enum == 0 && /^pub enum [A-Za-z0-9_]+ \{$/ {
            name = $3; in_enum = 1; values = ""; rename = ""; n = 0; next
        }
        in_enum == 1 && /^    #\[serde\(rename = "[^"]*"\)\]$/ {
            rename = $0; sub(/^    #\[serde\(rename = "/, "", rename); sub(/"\)\]$/, "", rename)
            renamed = 1; next
        }
        in_enum == 1 && /^    [A-Za-z_][A-Za-z0-9_]*,$/ {
            v = $1; sub(/,$/, "", v); sub(/^r#/, "", v)
            if (renamed) { v = rename; renamed = 0 }
            values = values (values == "" ? "" : ", ") "`" v "`"
            next
        }
        in_enum == 1 && /^}$/ {
            print "/// A string enum, kept open (see `tools/gen-capi-types.sh`). Values listed by this CRD version:"
            print "/// " values "."
            print "pub type " name " = String;"
            in_enum = 0; next
        }
        in_enum == 1 { printf "gen-capi-types: unexpected line in enum %s: %s\n", name, $0 > "/dev/stderr"; bad = 1; exit 1 }
        { flush(); print }
        END { if (in_enum || bad) exit 1; flush() }
    '
}

# --- generate ----------------------------------------------------------------------------------
generated=()
for version in "${API_VERSIONS[@]}"; do
    mkdir -p "$workdir/$version"
    for entry in "${KINDS[@]}"; do
        IFS=: read -r crd_stem out_stem kind <<<"$entry"
        crd_file="cluster.x-k8s.io_${crd_stem}.yaml"
        [[ -f "$crd_dir/$crd_file" ]] || die "$crd_dir/$crd_file missing"
        out="$workdir/$version/$out_stem.rs"
        {
            cat <<EOF
//! Cluster API \`$kind\`, \`cluster.x-k8s.io/$version\`.
//!
//! GENERATED FILE, do not edit: run \`tools/gen-capi-types.sh\`.
//! Source: \`core/config/crd/bases/$crd_file\` of \`$CAPI_MODULE\` $CAPI_VERSION,
//! generated with kopium $kopium_version.
$ALLOWS

EOF
            # Relative -f path so the recorded command line does not depend on GOMODCACHE.
            (cd "$crd_dir" && kopium -f "$crd_file" --api-version "$version" "${KOPIUM_FLAGS[@]}") >"$out.kopium" ||
                die "kopium failed for $crd_file $version"
            open_enums <"$out.kopium" || die "rewriting enums of $crd_file $version failed"
        } >"$out"
        if grep -q '^pub enum ' "$out"; then die "enum left in $out"; fi
        generated+=("$version/$out_stem.rs")
    done
done

# rustfmt from the repository so its toolchain (rust-toolchain.toml) and rustfmt.toml (if any) apply.
rustfmt_args=(--edition 2024)
for cfg in rustfmt.toml .rustfmt.toml; do
    if [[ -f "$repo_root/$cfg" ]]; then
        rustfmt_args+=(--config-path "$repo_root/$cfg")
        break
    fi
done
(cd "$repo_root" && rustfmt "${rustfmt_args[@]}" "${generated[@]/#/$workdir/}") || die "rustfmt failed"

for rel in "${generated[@]}"; do
    mkdir -p "$out_root/$(dirname "$rel")"
    cp "$workdir/$rel" "$out_root/$rel"
    echo "wrote crates/api/src/capi/$rel ($(wc -c <"$out_root/$rel") bytes)"
done
