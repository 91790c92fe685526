#!/usr/bin/env bash
# Coverage-guided fuzzing of every target in crates/gatehouse-fuzz under libFuzzer (the libfuzzer-sys
# crate), on the stable toolchain: the SanitizerCoverage flags cargo-fuzz passes are stable rustc flags,
# so neither nightly nor cargo-fuzz is needed (no AddressSanitizer: the code forbids `unsafe`).
#
#   scripts/fuzz.sh --seconds N [--target NAME]... [--jobs J]
#
# Each target runs N seconds on its committed seeds (fuzz/corpus/<target>, read only) plus a working corpus
# (fuzz/work/<target>, kept between runs, not committed). A crash is written to fuzz/artifacts/<target>/;
# copy it into fuzz/regressions/<target>/ once fixed, where the corpus test replays it. Prints one line per
# target: seconds, executions, corpus size, crashes; exits non-zero if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=20
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --target) targets+=("$2"); shift 2 ;;
    *) echo "usage: $0 --seconds N [--target NAME]..." >&2; exit 2 ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(manifest gateway_body sse eventstream anthropic token jsonrpc)

host=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
export CARGO_TARGET_DIR="$PWD/target/fuzz"
build_start=$(date +%s)
# --target keeps build scripts and proc macros uninstrumented, as cargo-fuzz does.
cargo build --manifest-path fuzz/Cargo.toml --release --target "$host" -j "${FUZZ_BUILD_JOBS:-2}" \
  $(printf -- '--bin %s ' "${targets[@]}")
echo "fuzz: harness built in $(( $(date +%s) - build_start )) s"

failed=0
summary=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/work/$t" "fuzz/artifacts/$t"
  log="fuzz/work/$t.log"
  set +e
  "$CARGO_TARGET_DIR/$host/release/$t" "fuzz/work/$t" "fuzz/corpus/$t" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  crashes=$(find "fuzz/artifacts/$t" -type f | wc -l)
  corpus=$(find "fuzz/work/$t" -type f | wc -l)
  line="$t: ${seconds}s, ${execs:-?} execs, working corpus $corpus, artifacts $crashes, exit $rc"
  summary+=("$line")
  echo "fuzz: $line"
  if [ "$rc" -ne 0 ]; then
    failed=1
    grep -m5 -E "panicked|ERROR|SUMMARY" "$log" || true
  fi
done
echo "fuzz summary:"
printf '  %s\n' "${summary[@]}"
exit "$failed"
