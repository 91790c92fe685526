#!/usr/bin/env bash
# Renders the console's main pages into docs/screenshots/ (for the README), against a fresh server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build -p gatehouse -p gatehouse-mock-upstream
cd tests/console && GATEHOUSE_SCREENSHOTS=1 npx playwright test screenshots.spec.mjs
