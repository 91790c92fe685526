#!/usr/bin/env bash
# The gateway load benchmark: the mock upstream, the gateway (authentication, access check and request log
# on), and a closed-loop load generator, all on this machine's loopback. Two passes:
# - throughput: many connections, requests per second through the gateway (and straight to the mock);
# - added latency: one connection, so nothing queues, through the gateway minus straight to the mock at p50
#   and p99 (on a saturated machine the difference would be queueing, not the gateway's own cost);
# and the gateway's peak resident memory.
#
#   bash bench/load.sh [--seconds S] [--connections N] [--pin] [--debug] [--guardrails]
#
# --pin: the gateway on core 1 alone (`taskset -c 1`), the mock upstream and the load generator on core 0, as
# a gateway deployed with one CPU runs. Access goes through a team's grant, the request log is on.
# --debug: debug builds, for a quick smoke (the figures mean nothing then).
# --guardrails: then one guardrails rule (keywords + PII, on input and output) on every call: the latency pass
# again, and the time to first token of a streamed answer (a word every 20 ms) without and with it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=10
connections=32
pin=0
profile=release
guardrails=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --pin) pin=1; shift ;;
    --debug) profile=debug; shift ;;
    --guardrails) guardrails=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

if [ "$profile" = release ]; then
  cargo build --release -q -p gatehouse -p gatehouse-mock-upstream -p gatehouse-loadgen
else
  cargo build -q -p gatehouse -p gatehouse-mock-upstream -p gatehouse-loadgen
fi
bin=target/$profile
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mock_port=$(port); gw_port=$(port)
mock=http://127.0.0.1:$mock_port
gw=http://127.0.0.1:$gw_port
export GATEHOUSE_DATABASE_URL="sqlite://$tmp/bench.db"
export GATEHOUSE_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export RUST_LOG=warn

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
api POST /api/v1/provider-accounts "" "{\"type\":\"openai-compatible\",\"name\":\"mock\",\"base_url\":\"$mock/v1\",\"auth\":{\"api_key\":\"sk-bench\"},\"models\":[{\"name\":\"gpt\",\"model_id\":\"gpt-4o\",\"types\":[\"chat\"]}],\"collaborators\":[{\"subject\":\"team:bench\",\"role\":\"provider-account-user\"}]}" >/dev/null
api POST /api/v1/users/bench@example.com/password "" '{"password":"bench-password"}' >/dev/null
session=$(curl -sf "$gw/api/v1/auth/login" -H 'content-type: application/json' -d '{"email":"bench@example.com","password":"bench-password"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
token=$(api POST /api/v1/personal-access-tokens "$session" '{"name":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

body='{"model":"%s","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":16}'
run() { "${other_cpu[@]}" "$bin/gatehouse-loadgen" "$1" "$2" "$(printf "$body" "$3")" --connections "$4" --seconds "$seconds"; }
echo "throughput ($connections connections, ${seconds}s each):"
t_direct=$(run "$mock/v1/chat/completions" sk-bench gpt-4o "$connections"); echo "  direct to the mock: $t_direct"
t_via=$(run "$gw/v1/chat/completions" "$token" mock/gpt "$connections"); echo "  through the gateway: $t_via"
echo "added latency (1 connection, ${seconds}s each):"
l_direct=$(run "$mock/v1/chat/completions" sk-bench gpt-4o 1); echo "  direct to the mock: $l_direct"
l_via=$(run "$gw/v1/chat/completions" "$token" mock/gpt 1); echo "  through the gateway: $l_via"
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$gw_pid/status")
logged=$(api GET "/api/v1/usage" | python3 -c 'import json,sys; print(sum(r["requests"] for r in json.load(sys.stdin)["usage"]))')
python3 - "$t_via" "$l_direct" "$l_via" "$rss_kb" "$logged" <<'PY'
import json, sys
t, ld, lv = (json.loads(a) for a in sys.argv[1:4])
rss, logged = int(sys.argv[4]), int(sys.argv[5])
print(f"summary: {t['rps']:.0f} requests/s through the gateway ({t['errors']} errors); "
      f"added latency p50 {lv['p50_us'] - ld['p50_us']} us, p99 {lv['p99_us'] - ld['p99_us']} us; "
      f"peak RSS {rss / 1024:.1f} MiB; {logged} requests in the request log")
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
