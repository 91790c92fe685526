#!/usr/bin/env bash
# The gateway load benchmark: the mock upstream, the gateway (authentication, access check and request log
# on), and a closed-loop load generator, all on this machine's loopback. Two passes:
# - throughput: many connections, requests per second through the gateway (and straight to the mock);
# - added latency: one connection, so nothing queues, through the gateway minus straight to the mock at p50
#   and p99 (on a saturated machine the difference would be queueing, not the gateway's own cost);
# and the gateway's peak resident memory.
#
#   bash bench/load.sh [--seconds S] [--connections N] [--pin] [--debug] [--controls [--redis URL] [--ab N]] [--guardrails]
#
# --pin: the gateway on core 1 alone (`taskset -c 1`), the mock upstream and the load generator on core 0, as
# a gateway deployed with one CPU runs. Access goes through a team's grant, the request log is on.
# --debug: debug builds, for a quick smoke (the figures mean nothing then).
# --controls: one rate limit (per user, requests per minute) and one budget (cost per month) apply to every
# request, both so high that nothing is refused: every request is admitted, counted and settled.
# --redis URL: their counters in Redis (GATEHOUSE_REDIS_URL) instead of in process. The controls are named
# after this run, and the run deletes its own keys from Redis when it ends.
# --ab N: instead, N rounds in one gateway process, each a pass without and a pass with the controls (in
# alternating order), throughput and latency: paired differences that drift on a shared machine cancels.
# Compare runs of the same session (interleaved), not against figures from another time: see
# bench/RESULTS-limits.md.
# --guardrails: then one guardrails rule (keywords + PII, on input and output) on every call: the latency pass
# again, and the time to first token of a streamed answer (a word every 20 ms) without and with it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=10
connections=32
pin=0
profile=release
controls=0
redis=
guardrails=0
ab=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --pin) pin=1; shift ;;
    --debug) profile=debug; shift ;;
    --controls) controls=1; shift ;;
    --redis) redis=$2; shift 2 ;;
    --guardrails) guardrails=1; shift ;;
    --ab) ab=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
if { [ -n "$redis" ] || [ "$ab" != 0 ]; } && [ "$controls" = 0 ]; then echo "--redis and --ab need --controls" >&2; exit 2; fi
run_id=$(python3 -c 'import secrets; print(secrets.token_hex(4))')

if [ "$profile" = release ]; then
  cargo build --release -q -p gatehouse -p gatehouse-mock-upstream -p gatehouse-loadgen
else
  cargo build -q -p gatehouse -p gatehouse-mock-upstream -p gatehouse-loadgen
fi
bin=target/$profile
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
  # Only this run's counters (their keys name its controls).
  if [ -n "$redis" ]; then
    redis-cli -u "$redis" --scan --pattern "gatehouse:limits:*bench-*-$run_id*" | while read -r k; do
      redis-cli -u "$redis" del "$k" >/dev/null
    done
  fi
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mock_port=$(port); gw_port=$(port)
mock=http://127.0.0.1:$mock_port
gw=http://127.0.0.1:$gw_port
export GATEHOUSE_DATABASE_URL="sqlite://$tmp/bench.db"
export GATEHOUSE_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export RUST_LOG=warn
if [ -n "$redis" ]; then export GATEHOUSE_REDIS_URL=$redis; else unset GATEHOUSE_REDIS_URL; fi

# One thread: the mock stands in for a remote upstream and should not take the gateway's cores.
gw_cpu=(); other_cpu=()
if [ "$pin" = 1 ]; then gw_cpu=(taskset -c 1); other_cpu=(taskset -c 0); fi
"${other_cpu[@]}" "$bin/gatehouse-mock-upstream" --listen "127.0.0.1:$mock_port" --threads 1 >/dev/null 2>&1 & pids+=($!)
"${gw_cpu[@]}" "$bin/gatehouse" --listen "127.0.0.1:$gw_port" serve >"$tmp/gateway.log" 2>&1 & gw_pid=$!; pids+=($gw_pid)
for _ in $(seq 100); do curl -sf "$gw/healthz" >/dev/null && curl -sf "$mock/__mock/stats" >/dev/null && break; sleep 0.1; done

admin=$("$bin/gatehouse" bootstrap --email admin@example.com)
api() { curl -sf -X "$1" "$gw$2" -H "authorization: Bearer ${3:-$admin}" -H 'content-type: application/json' ${4:+-d "$4"}; }
for _ in $(seq 50); do api GET /api/v1/me >/dev/null 2>&1 && break; sleep 0.1; done
api POST /api/v1/users "" '{"email":"bench@example.com"}' >/dev/null
api POST /api/v1/teams "" '{"name":"bench","members":["bench@example.com"]}' >/dev/null
api POST /api/v1/provider-accounts "" "{\"type\":\"openai-compatible\",\"name\":\"mock\",\"base_url\":\"$mock/v1\",\"auth\":{\"api_key\":\"sk-bench\"},\"models\":[{\"name\":\"gpt\",\"model_id\":\"gpt-4o\",\"types\":[\"chat\"],\"pricing\":{\"input_per_million_tokens\":2.5,\"output_per_million_tokens\":10}}],\"collaborators\":[{\"subject\":\"team:bench\",\"role\":\"provider-account-user\"}]}" >/dev/null
api POST /api/v1/users/bench@example.com/password "" '{"password":"bench-password"}' >/dev/null
session=$(curl -sf "$gw/api/v1/auth/login" -H 'content-type: application/json' -d '{"email":"bench@example.com","password":"bench-password"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
token=$(api POST /api/v1/personal-access-tokens "$session" '{"name":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

body='{"model":"%s","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":16}'
mode=none
[ "$controls" = 1 ] && mode=in-process
[ -n "$redis" ] && mode=redis
controls_on() {
  api PUT /api/v1/apply "" "[
    {\"type\":\"gateway-rate-limiting-config\",\"name\":\"bench-rl-$run_id\",\"rules\":[
      {\"id\":\"per-user\",\"limit_to\":1000000000,\"unit\":\"requests_per_minute\",\"rate_limit_applies_per\":[\"user\"]}]},
    {\"type\":\"gateway-budget-config\",\"name\":\"bench-budget-$run_id\",\"rules\":[
      {\"id\":\"monthly\",\"limit_to\":1000000,\"unit\":\"cost_per_month\"}]}]" >/dev/null
  applied=$(curl -s -o /dev/null -D - "$gw/v1/chat/completions" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d "$(printf "$body" mock/gpt)" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-gatehouse-applied-controls" {print $2}')
  case "$applied" in *rate-limit:bench-rl-*) ;; *) echo "the rate limit did not apply" >&2; exit 1 ;; esac
  case "$applied" in *budget:bench-budget-*) ;; *) echo "the budget did not apply" >&2; exit 1 ;; esac
}
controls_off() {
  api DELETE "/api/v1/gateway-controls/bench-rl-$run_id" >/dev/null || true
  api DELETE "/api/v1/gateway-controls/bench-budget-$run_id" >/dev/null || true
}
if [ "$controls" = 1 ]; then
  controls_on
  echo "controls ($mode counters): $applied"
  [ "$ab" != 0 ] && controls_off
fi
run() { "${other_cpu[@]}" "$bin/gatehouse-loadgen" "$1" "$2" "$(printf "$body" "$3")" --connections "$4" --seconds "$seconds"; }
ticks() { awk '{print $14 + $15}' "/proc/$gw_pid/stat"; }
logged() { api GET "/api/v1/usage" | python3 -c 'import json,sys; print(sum(r["requests"] for r in json.load(sys.stdin)["usage"]))'; }
if [ "$ab" != 0 ]; then
  echo "A/B in one gateway, $ab rounds of ${seconds}s passes: throughput ($connections connections) and latency (1)"
  pairs=()
  for r in $(seq "$ab"); do
    order="off on"; [ $((r % 2)) = 0 ] && order="on off"
    for c in $connections 1; do
      for state in $order; do
        if [ "$state" = on ]; then controls_on; else controls_off; fi
        out=$(run "$gw/v1/chat/completions" "$token" mock/gpt "$c")
        echo "  round $r, $c connection(s), controls $state: $out"
        pairs+=("$r $c $state $out")
      done
    done
  done
  controls_off
  printf '%s\n' "${pairs[@]}" | python3 -c '
import json, statistics, sys
runs = {}
for line in sys.stdin:
    r, c, state, out = line.split(" ", 3)
    runs[(int(r), int(c), state)] = json.loads(out)
    if runs[(int(r), int(c), state)]["errors"]:
        sys.exit("some requests through the gateway failed")
rounds = sorted({k[0] for k in runs})
conns = sorted({k[1] for k in runs}, reverse=True)
summary = {"controls": sys.argv[1], "rounds": len(rounds)}
for c in conns:
    on = [runs[(r, c, "on")] for r in rounds]
    off = [runs[(r, c, "off")] for r in rounds]
    if c > 1:
        summary["rps_ratio_median"] = round(statistics.median(a["rps"] / b["rps"] for a, b in zip(on, off)), 3)
        summary["rps_off_median"] = statistics.median(b["rps"] for b in off)
    else:
        for p in ("p50_us", "p99_us"):
            summary[f"added_{p}_median"] = statistics.median(a[p] - b[p] for a, b in zip(on, off))
            summary[f"added_{p}_each"] = [a[p] - b[p] for a, b in zip(on, off)]
        summary["p50_us_off_median"] = statistics.median(b["p50_us"] for b in off)
print("ab: " + json.dumps(summary))
' "$mode"
  exit 0
fi
# Let the set-up's requests reach the request log before counting from here.
sleep 1; ticks0=$(ticks); logged0=$(logged)
echo "throughput ($connections connections, ${seconds}s each):"
t_direct=$(run "$mock/v1/chat/completions" sk-bench gpt-4o "$connections"); echo "  direct to the mock: $t_direct"
t_via=$(run "$gw/v1/chat/completions" "$token" mock/gpt "$connections"); echo "  through the gateway: $t_via"
echo "added latency (1 connection, ${seconds}s each):"
l_direct=$(run "$mock/v1/chat/completions" sk-bench gpt-4o 1); echo "  direct to the mock: $l_direct"
l_via=$(run "$gw/v1/chat/completions" "$token" mock/gpt 1); echo "  through the gateway: $l_via"
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$gw_pid/status")
# The gateway's CPU time (user + system) over the passes, per request through it: a cost that other load
# on the machine does not inflate the way it does latencies.
cpu_ticks=$(( $(ticks) - ticks0 ))
sleep 1; logged=$(logged)
python3 - "$t_via" "$l_direct" "$l_via" "$rss_kb" "$logged" "$mode" "$cpu_ticks" "$(getconf CLK_TCK)" "$logged0" <<'PY'
import json, sys
t, ld, lv = (json.loads(a) for a in sys.argv[1:4])
rss, logged, mode = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
cpu_us = int(sys.argv[7]) / int(sys.argv[8]) * 1e6 / max(logged - int(sys.argv[9]), 1)
print(f"summary: {t['rps']:.0f} requests/s through the gateway ({t['errors']} errors); "
      f"added latency p50 {lv['p50_us'] - ld['p50_us']} us, p99 {lv['p99_us'] - ld['p99_us']} us; "
      f"gateway CPU {cpu_us:.1f} us per request; "
      f"peak RSS {rss / 1024:.1f} MiB; {logged} requests in the request log; controls: {mode}")
print("result: " + json.dumps({"controls": mode, "rps": t["rps"], "cpu_us_per_request": round(cpu_us, 1),
                               "added_p50_us": lv["p50_us"] - ld["p50_us"],
                               "added_p99_us": lv["p99_us"] - ld["p99_us"], "via_p50_us": lv["p50_us"],
                               "via_p99_us": lv["p99_us"], "direct_p50_us": ld["p50_us"], "direct_p99_us": ld["p99_us"]}))
if t["errors"] or lv["errors"]:
    sys.exit("some requests through the gateway failed")
PY

# --guardrails: the added latency of one guardrails rule, and its cost to the first token of a stream. The
# gateway's own cost is far below this machine's noise, so passes without and with the rule alternate.
if [ "$guardrails" = 1 ]; then
  api PUT /api/v1/provider-accounts/mock "" "{\"type\":\"openai-compatible\",\"name\":\"mock\",\"base_url\":\"$mock/v1\",\"models\":[{\"name\":\"gpt\",\"model_id\":\"gpt-4o\",\"types\":[\"chat\"]},{\"name\":\"drip\",\"model_id\":\"gpt-4o-drip-20ms-tokens-24\",\"types\":[\"chat\"]}],\"collaborators\":[{\"subject\":\"team:bench\",\"role\":\"provider-account-user\"}]}" >/dev/null
  rule='{"type":"gateway-guardrails-config","name":"bench-guardrails","rules":[{"id":"keywords-pii","input_guardrails":[{"type":"block-keywords","keywords":["project falcon","internal only"]},{"type":"pii","action":"redact"}],"output_guardrails":[{"type":"block-keywords","keywords":["project falcon","internal only"]},{"type":"pii","action":"redact"}]}]}'
  rule_on() { api PUT "/api/v1/apply?dry_run=false" "" "$rule" >/dev/null; }
  rule_off() { api DELETE /api/v1/gateway-controls/bench-guardrails >/dev/null; }
  streamed='{"model":"mock/drip","stream":true,"messages":[{"role":"user","content":"Say hello in one short sentence."}]}'
  ttft() { "${other_cpu[@]}" "$bin/gatehouse-loadgen" "$gw/v1/chat/completions" "$token" "$streamed" --connections 1 --seconds "$seconds" --first-token; }
  echo "guardrails (1 connection, ${seconds}s each; without and with the rule, three rounds):"
  passes=()
  for round in 1 2 3; do
    without=$(run "$gw/v1/chat/completions" "$token" mock/gpt 1)
    rule_on; with=$(run "$gw/v1/chat/completions" "$token" mock/gpt 1); rule_off
    echo "  round $round without: $without"; echo "  round $round with:    $with"
    passes+=("$without" "$with")
  done
  f_off=$(ttft); echo "  time to first token, without: $f_off"
  rule_on; f_on=$(ttft); echo "  time to first token, with:    $f_on"
  python3 - "$f_off" "$f_on" "${passes[@]}" <<'PY'
import json, statistics, sys
fo, fn, *passes = (json.loads(a) for a in sys.argv[1:])
pairs = list(zip(passes[0::2], passes[1::2]))
d50 = [w["p50_us"] - wo["p50_us"] for wo, w in pairs]
d99 = [w["p99_us"] - wo["p99_us"] for wo, w in pairs]
print(f"guardrails summary: added latency p50 {statistics.median(d50)} us (rounds {d50}), "
      f"p99 {statistics.median(d99)} us (rounds {d99}); "
      f"time to first token p50 {fo['p50_us']} -> {fn['p50_us']} us, p99 {fo['p99_us']} -> {fn['p99_us']} us")
if any(p["errors"] for p in passes) or fo["errors"] or fn["errors"]:
    sys.exit("some requests with guardrails failed")
PY
fi
