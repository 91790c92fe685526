#!/usr/bin/env bash
# Installs what the build and tests need beyond the Rust toolchain. Idempotent; run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: $1 is required but not installed: $2" >&2; exit 1; }; }
need cargo "install Rust 1.85 or newer (https://rustup.rs)"
need cc "install a C compiler (Debian: apt-get install build-essential); the bundled SQLite is compiled from C"

# rustfmt and clippy are part of CI.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi
echo "setup: ok"
