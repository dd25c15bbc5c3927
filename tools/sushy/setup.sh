#!/usr/bin/env bash
# Installs the sushy-tools Redfish emulator (pinned) into a venv outside the repository,
# for the crates/power Redfish tests. Idempotent; prints the path of `sushy-emulator`.
#
#   VENV (default ~/.cache/sidero-rs/venv-sushy) — where the venv lives.
#   The tests find the emulator at $VENV/bin/sushy-emulator, or via
#   SIDERO_SUSHY_EMULATOR=/path/to/sushy-emulator.
set -euo pipefail

SUSHY_VERSION="2.2.0"
VENV="${VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/sidero-rs/venv-sushy}"

installed_version() {
  "$VENV/bin/python3" -c 'import importlib.metadata as m; print(m.version("sushy-tools"))' 2>/dev/null || true
}

if [[ ! -x "$VENV/bin/sushy-emulator" || "$(installed_version)" != "$SUSHY_VERSION" ]]; then
  echo "installing sushy-tools==$SUSHY_VERSION into $VENV" >&2
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "sushy-tools==$SUSHY_VERSION"
fi
"$VENV/bin/python3" -c 'import bcrypt, flask' # the tests need both (htpasswd, server)
echo "$VENV/bin/sushy-emulator"
