#!/usr/bin/env bash
# Installs what the build and tests need beyond the Rust toolchain. Idempotent; run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: $1 is required but not installed: $2" >&2; exit 1; }; }
need cargo "install Rust 1.85 or newer (https://rustup.rs)"
need cc "install a C compiler (Debian: apt-get install build-essential); the bundled SQLite is compiled from C"
need python3 "install Python 3.10 or newer (Debian: apt-get install python3 python3-venv)"

# rustfmt and clippy are part of CI.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

# The official OpenAI and Anthropic Python SDKs, for the end-to-end tests, in a virtual environment of the
# project's own; reinstalled only when tests/sdk/requirements.txt changes.
req=tests/sdk/requirements.txt
stamp=.venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi
echo "setup: ok"
