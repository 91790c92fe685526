#!/usr/bin/env bash
# The gateway load benchmark: the mock upstream, the gateway (authentication, access check and request log
# on), and a closed-loop load generator, all on this machine's loopback. Prints requests per second and the
# latency the gateway adds (through the gateway minus straight to the mock) at p50 and p99, and the
# gateway's peak resident memory.
#
#   bash bench/load.sh [--seconds S] [--connections N]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=10
connections=32
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

cargo build --release -q -p gatehouse -p gatehouse-mock-upstream -p gatehouse-loadgen
bin=target/release
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

"$bin/gatehouse-mock-upstream" --listen "127.0.0.1:$mock_port" >/dev/null 2>&1 & pids+=($!)
"$bin/gatehouse" --listen "127.0.0.1:$gw_port" serve >"$tmp/gateway.log" 2>&1 & gw_pid=$!; pids+=($gw_pid)
for _ in $(seq 100); do curl -sf "$gw/healthz" >/dev/null && curl -sf "$mock/__mock/stats" >/dev/null && break; sleep 0.1; done

admin=$("$bin/gatehouse" bootstrap --email admin@example.com)
api() { curl -sf -X "$1" "$gw$2" -H "authorization: Bearer ${3:-$admin}" -H 'content-type: application/json' ${4:+-d "$4"}; }
for _ in $(seq 50); do api GET /api/v1/me >/dev/null 2>&1 && break; sleep 0.1; done
api POST /api/v1/users "" '{"email":"bench@example.com"}' >/dev/null
api POST /api/v1/provider-accounts "" "{\"type\":\"openai-compatible\",\"name\":\"mock\",\"base_url\":\"$mock/v1\",\"auth\":{\"api_key\":\"sk-bench\"},\"models\":[{\"name\":\"gpt\",\"model_id\":\"gpt-4o\",\"types\":[\"chat\"]}],\"collaborators\":[{\"subject\":\"user:bench@example.com\",\"role\":\"provider-account-user\"}]}" >/dev/null
api POST /api/v1/users/bench@example.com/password "" '{"password":"bench-password"}' >/dev/null
session=$(curl -sf "$gw/api/v1/auth/login" -d '{"email":"bench@example.com","password":"bench-password"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
token=$(api POST /api/v1/personal-access-tokens "$session" '{"name":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

body='{"model":"%s","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":16}'
echo "direct to the mock upstream ($connections connections, ${seconds}s):"
direct=$("$bin/gatehouse-loadgen" "$mock/v1/chat/completions" sk-bench "$(printf "$body" gpt-4o)" --connections "$connections" --seconds "$seconds")
echo "  $direct"
echo "through the gateway:"
via=$("$bin/gatehouse-loadgen" "$gw/v1/chat/completions" "$token" "$(printf "$body" mock/gpt)" --connections "$connections" --seconds "$seconds")
echo "  $via"
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$gw_pid/status")
python3 - "$direct" "$via" "$rss_kb" <<'PY'
import json, sys
d, v, rss = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
print(f"gateway: {v['rps']:.0f} requests/s ({v['errors']} errors); added latency p50 {v['p50_us'] - d['p50_us']} us, "
      f"p99 {v['p99_us'] - d['p99_us']} us; peak RSS {rss / 1024:.1f} MiB")
PY
