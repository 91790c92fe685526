#!/usr/bin/env bash
# Everything long that proves the hardening claims, with a summary at the end:
#   fuzzing of every target, the upstream-fault soak, kill -9 rounds on SQLite and Postgres, schemathesis
#   with many examples, and the long Cedar differential run (when its test exists).
#
#   scripts/harden.sh [--fuzz-minutes N] [--soak-minutes N] [--crash-rounds N] [--schema-examples N]
set -uo pipefail
cd "$(dirname "$0")/.."
fuzz_minutes=10 soak_minutes=10 crash_rounds=20 schema_examples=100
while [ $# -gt 0 ]; do
  case "$1" in
    --fuzz-minutes) fuzz_minutes="$2"; shift 2 ;;
    --soak-minutes) soak_minutes="$2"; shift 2 ;;
    --crash-rounds) crash_rounds="$2"; shift 2 ;;
    --schema-examples) schema_examples="$2"; shift 2 ;;
    *) echo "usage: $0 [--fuzz-minutes N] [--soak-minutes N] [--crash-rounds N] [--schema-examples N]" >&2; exit 2 ;;
  esac
done
export GATEHOUSE_TEST_POSTGRES_URL="${GATEHOUSE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
logs=$(mktemp -d)
results=()
step() {
  local name="$1"; shift
  local start=$(date +%s)
  echo "== $name: $*"
  "$@" 2>&1 | tee "$logs/$name.log"
  local rc=${PIPESTATUS[0]}
  results+=("$(printf '%-12s %-4s %5ss' "$name" "$([ "$rc" = 0 ] && echo ok || echo FAIL)" $(( $(date +%s) - start )))")
}
step fuzz bash scripts/fuzz.sh --seconds $(( fuzz_minutes * 60 ))
step soak bash bench/soak.sh --minutes "$soak_minutes"
step crash bash scripts/crash.sh --rounds "$crash_rounds"
step schemathesis bash scripts/schemathesis.sh --max-examples "$schema_examples"
step cedar bash scripts/cedar-diff.sh 1000000
echo
echo "== harden summary"
printf '  %s\n' "${results[@]}"
grep -h -E "^fuzz: [a-z_]+:|^soak summary|^crash summary|schemathesis as|passed|failed|cases" "$logs"/*.log 2>/dev/null | sed 's/^/  /' | tail -40
rm -rf "$logs"
printf '%s\n' "${results[@]}" | grep -q FAIL && exit 1 || exit 0
