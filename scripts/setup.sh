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

# The official OpenAI, Anthropic and MCP Python SDKs, for the end-to-end tests, in a virtual environment of the
# project's own; reinstalled only when tests/sdk/requirements.txt changes.
req=tests/sdk/requirements.txt
stamp=.venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi
# The console's end-to-end tests: Debian's Chromium (Playwright cannot download its own browser here) and
# Playwright from npm, reinstalled only when tests/console/package-lock.json changes.
need node "install Node.js 18 or newer (Debian: apt-get install nodejs npm)"
need npm "install npm (Debian: apt-get install npm)"
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian's chromium for the console tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
  else
    echo "setup: the console tests need Chromium at /usr/bin/chromium (Debian: sudo apt-get install chromium), or set CHROMIUM" >&2
    exit 1
  fi
fi
lock=tests/console/package-lock.json
stamp=tests/console/node_modules/.package-lock.sha256
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [ ! -d tests/console/node_modules/@playwright/test ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  (cd tests/console && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi
# cargo-deny, for CI's supply-chain check (deny.toml): built from crates.io once (several minutes), then kept.
if ! cargo deny --version >/dev/null 2>&1; then
  cargo install --locked cargo-deny
fi
# Schemathesis, for the schema-driven API tests (scripts/schemathesis.sh), in an environment of its own;
# reinstalled only when tests/schema/requirements.txt changes.
req=tests/schema/requirements.txt
stamp=.venv-schema/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x .venv-schema/bin/schemathesis ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv .venv-schema
  .venv-schema/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi
echo "setup: ok"
