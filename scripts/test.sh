#!/usr/bin/env bash
# The project's test command: every test of every crate, then the official OpenAI and Anthropic Python SDKs
# against the real gateway and mock upstream binaries, then the web console in headless Chromium. Tests that
# need Postgres read GATEHOUSE_TEST_POSTGRES_URL and print a skip line when it is unset.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test --workspace --all-targets "$@"
cargo build -p gatehouse -p gatehouse-mock-upstream
.venv/bin/python -m pytest tests/sdk -q
(cd tests/console && npx playwright test)
