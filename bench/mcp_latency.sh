#!/usr/bin/env bash
# The MCP gateway's cost per tools/call: the mock upstream's MCP server (`POST /mcp`, stateless, whole JSON
# answers), the gateway in front of it as the remote server `mock` (its credential stored, access through a
# team's grant, the request log on), and the closed-loop load generator, all on this machine's loopback. The
# client opens a session through the gateway (`initialize`, as MCP clients do) and then sends the same
# `tools/call` back to back in it. Two passes, each beside the same calls sent straight to the upstream:
# - added latency: one connection, so nothing queues: through the gateway minus direct, at p50 and p99;
# - throughput: many connections, calls per second through the gateway and direct.
#
#   bash bench/mcp_latency.sh [--seconds S] [--connections N] [--pin] [--debug]
#
# --pin: the gateway on core 1 alone (`taskset -c 1`), the upstream and the load generator on core 0, as
# bench/load.sh --pin does. --debug: debug builds, for a quick smoke (the figures mean nothing then).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=10
connections=32
pin=0
profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --pin) pin=1; shift ;;
    --debug) profile=debug; shift ;;
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

gw_cpu=(); other_cpu=()
if [ "$pin" = 1 ]; then gw_cpu=(taskset -c 1); other_cpu=(taskset -c 0); fi
# One thread: the upstream stands in for a remote server and should not take the gateway's cores.
"${other_cpu[@]}" "$bin/gatehouse-mock-upstream" --listen "127.0.0.1:$mock_port" --threads 1 >/dev/null 2>&1 & pids+=($!)
"${gw_cpu[@]}" "$bin/gatehouse" --listen "127.0.0.1:$gw_port" serve >"$tmp/gateway.log" 2>&1 & gw_pid=$!; pids+=($gw_pid)
for _ in $(seq 100); do curl -sf "$gw/healthz" >/dev/null && curl -sf "$mock/__mock/stats" >/dev/null && break; sleep 0.1; done

admin=$("$bin/gatehouse" bootstrap --email admin@example.com)
api() { curl -sf -X "$1" "$gw$2" -H "authorization: Bearer ${3:-$admin}" -H 'content-type: application/json' ${4:+-d "$4"}; }
for _ in $(seq 50); do api GET /api/v1/me >/dev/null 2>&1 && break; sleep 0.1; done
api POST /api/v1/users "" '{"email":"bench@example.com"}' >/dev/null
api POST /api/v1/teams "" '{"name":"bench","members":["bench@example.com"]}' >/dev/null
api POST /api/v1/mcp-servers "" "{\"type\":\"remote\",\"name\":\"mock\",\"url\":\"$mock/mcp\",\"auth\":{\"type\":\"bearer\",\"token\":\"sk-mcp-bench\"},\"tools\":[\"echo\"],\"collaborators\":[{\"subject\":\"team:bench\",\"role\":\"mcp-server-user\"}]}" >/dev/null
api POST /api/v1/users/bench@example.com/password "" '{"password":"bench-password"}' >/dev/null
session=$(curl -sf "$gw/api/v1/auth/login" -H 'content-type: application/json' -d '{"email":"bench@example.com","password":"bench-password"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
token=$(api POST /api/v1/personal-access-tokens "$session" '{"name":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

accept='accept: application/json, text/event-stream'
init='{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}'
sid=$(curl -sf -D - -o /dev/null "$gw/mcp/mock" -H "authorization: Bearer $token" -H 'content-type: application/json' -H "$accept" -d "$init" \
  | awk -F': ' 'tolower($1) == "mcp-session-id" {print $2}' | tr -d '\r')
[ -n "$sid" ] || { echo "initialize through the gateway gave no session" >&2; exit 1; }
call='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello from the benchmark"}}}'
# The call must really be answered by the tool, through the gateway and direct (a JSON-RPC error is a 200 too).
for target in "$gw/mcp/mock|$token|mcp-session-id: $sid" "$mock/mcp|sk-mcp-bench|x-direct: 1"; do
  IFS='|' read -r url tok extra <<<"$target"
  out=$(curl -sf "$url" -H "authorization: Bearer $tok" -H 'content-type: application/json' -H "$accept" -H "$extra" -d "$call")
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); assert r["result"]["content"][0]["text"] == "echo: hello from the benchmark", r' "$out"
done

run() {
  "${other_cpu[@]}" "$bin/gatehouse-loadgen" "$1" "$2" "$call" --connections "$3" --seconds "$seconds" --warmup 1 \
    --header "$accept" --header "$4"
}
echo "added latency (1 connection, ${seconds}s each):"
l_direct=$(run "$mock/mcp" sk-mcp-bench 1 "x-direct: 1"); echo "  direct to the upstream: $l_direct"
l_via=$(run "$gw/mcp/mock" "$token" 1 "mcp-session-id: $sid"); echo "  through the gateway: $l_via"
echo "throughput ($connections connections, ${seconds}s each):"
t_direct=$(run "$mock/mcp" sk-mcp-bench "$connections" "x-direct: 1"); echo "  direct to the upstream: $t_direct"
t_via=$(run "$gw/mcp/mock" "$token" "$connections" "mcp-session-id: $sid"); echo "  through the gateway: $t_via"
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$gw_pid/status")
sleep 0.5
logged=$(api GET "/api/v1/usage" | python3 -c 'import json,sys; print(sum(r["requests"] for r in json.load(sys.stdin)["usage"] if r["model"] == "mock/echo"))')
python3 - "$l_direct" "$l_via" "$t_direct" "$t_via" "$rss_kb" "$logged" <<'PY'
import json, sys
ld, lv, td, tv = (json.loads(a) for a in sys.argv[1:5])
rss, logged = int(sys.argv[5]), int(sys.argv[6])
print(f"summary: added latency per tools/call p50 {lv['p50_us'] - ld['p50_us']} us, p99 {lv['p99_us'] - ld['p99_us']} us "
      f"(direct p50 {ld['p50_us']} us); {tv['rps']:.0f} calls/s through the gateway, {td['rps']:.0f} direct "
      f"({tv['errors']} errors); peak RSS {rss / 1024:.1f} MiB; {logged} tool calls in the request log")
if lv["errors"] or tv["errors"]:
    sys.exit("some calls through the gateway failed")
PY
