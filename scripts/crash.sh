#!/usr/bin/env bash
# Durability: kill -9 of the real server under a steady write load, on SQLite and (when
# GATEHOUSE_TEST_POSTGRES_URL is set) on a fresh database of that Postgres server; see tests/durability/crash.py.
#
#   scripts/crash.sh [--rounds N] [--seconds S]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p gatehouse -p gatehouse-mock-upstream
args=(--binary target/debug/gatehouse --mock target/debug/gatehouse-mock-upstream "$@")
python3 tests/durability/crash.py "${args[@]}"
if [ -n "${GATEHOUSE_TEST_POSTGRES_URL:-}" ]; then
  python3 tests/durability/crash.py "${args[@]}" --postgres "$GATEHOUSE_TEST_POSTGRES_URL"
else
  echo "crash: skipped on Postgres (GATEHOUSE_TEST_POSTGRES_URL is unset)"
fi
