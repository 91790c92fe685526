#!/usr/bin/env bash
# The project's test command: every test of every crate, then the official OpenAI and Anthropic Python SDKs
# against the real gateway and mock upstream binaries, then the web console in headless Chromium. Tests that
# need Postgres read GATEHOUSE_TEST_POSTGRES_URL and print a skip line when it is unset. Last, a short smoke of
# each benchmark script.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test --workspace --all-targets "$@"
cargo build -p gatehouse -p gatehouse-mock-upstream
.venv/bin/python -m pytest tests/sdk -q
(cd tests/console && npx playwright test)
# Short, bounded smokes of the benchmark scripts; their full runs are reported in closing notes.
bash bench/manifest_memory.sh --binary target/debug/gatehouse
bash bench/signin_memory.sh --binary target/debug/gatehouse --concurrency 10 --waves 1
bash bench/load.sh --debug --seconds 1 --connections 4 --controls
bash bench/mcp_latency.sh --debug --seconds 1 --connections 4
# Hardening, bounded (docs/hardening.md; scripts/harden.sh runs the long versions): each fuzz target briefly,
# a fault-mix soak, kill -9 rounds on SQLite and Postgres, schemathesis with a few examples per operation.
bash scripts/fuzz.sh --seconds 20
bash bench/soak.sh --seconds 20 --debug
bash scripts/crash.sh --rounds 2
bash scripts/schemathesis.sh --max-examples 3
