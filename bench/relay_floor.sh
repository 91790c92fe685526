#!/usr/bin/env bash
# The floor under `bench/load.sh --pin`'s added latency on this machine: the same pinning (the mock upstream
# and the load generator on core 0, the middle hop alone on core 1), with a relay that does no work at all
# (socat copying bytes both ways) in the gateway's place. Whatever a gateway does, its added latency at one
# connection cannot be below what this prints: the rest is the cost of waking a process on another core.
#
#   bash bench/relay_floor.sh [--seconds S]      (needs socat: apt-get install socat)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=5
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v socat >/dev/null || { echo "socat is needed: apt-get install socat" >&2; exit 2; }
cargo build --release -q -p gatehouse-mock-upstream -p gatehouse-loadgen
bin=target/release
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mock_port=$(port); relay_port=$(port)
taskset -c 0 "$bin/gatehouse-mock-upstream" --listen "127.0.0.1:$mock_port" --threads 1 >/dev/null 2>&1 & pids+=($!)
taskset -c 1 socat "TCP-LISTEN:$relay_port,fork,reuseaddr,nodelay" "TCP:127.0.0.1:$mock_port,nodelay" & pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$mock_port/__mock/stats" >/dev/null && break; sleep 0.1; done
body='{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":16}'
run() { taskset -c 0 "$bin/gatehouse-loadgen" "$1" sk-bench "$body" --connections 1 --seconds "$seconds"; }
direct=$(run "http://127.0.0.1:$mock_port/v1/chat/completions"); echo "direct to the mock: $direct"
relayed=$(run "http://127.0.0.1:$relay_port/v1/chat/completions"); echo "through the relay on core 1: $relayed"
python3 - "$direct" "$relayed" <<'PY'
import json, sys
d, r = (json.loads(a) for a in sys.argv[1:3])
print(f"floor: a relay that does nothing adds p50 {r['p50_us'] - d['p50_us']} us, p99 {r['p99_us'] - d['p99_us']} us")
PY
