#!/usr/bin/env bash
# The long differential run of the authorization engine against Cedar (crates/gatehouse-core/tests/cedar):
# random worlds and requests decided by both, in release. Prints the number of decisions, the disagreements
# (0, or the first counterexample, shrunk) and the time taken.
#   bash scripts/cedar-diff.sh [decisions]     (default 1,000,000; CI runs a bounded 5,000 through cargo test)
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-${GATEHOUSE_CEDAR_CASES:-1000000}}"
GATEHOUSE_CEDAR_CASES="$cases" cargo test --release -p gatehouse-core --test properties cedar_diff -- --nocapture
