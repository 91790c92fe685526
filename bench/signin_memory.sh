#!/usr/bin/env bash
# Peak resident memory of the real `gatehouse serve` under concurrent wrong-password sign-ins (issue 9).
# Each sign-in runs argon2 (19 MiB while it runs): without a bound on how many run at once, memory grows
# with the number of concurrent sign-ins. Each request names its own unknown account from its own address
# (through a proxy the server is told to trust, so that no throttle turns any away before hashing): the
# worst case for memory. Reads VmHWM from /proc before and after.
#
#   bash bench/signin_memory.sh [--binary PATH] [--concurrency N] [--waves W]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=""
concurrency=100
waves=3
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) bin=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --waves) waves=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$bin" ]; then
  cargo build --release -q -p gatehouse
  bin=target/release/gatehouse
fi

tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export GATEHOUSE_DATABASE_URL="sqlite://$tmp/bench.db"
export GATEHOUSE_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export GATEHOUSE_TRUSTED_PROXIES=127.0.0.1
export RUST_LOG=warn
"$bin" bootstrap --email admin@example.com --password 'a long password' >/dev/null
"$bin" --listen "127.0.0.1:$port" serve >"$tmp/server.log" 2>&1 & pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
hwm() { awk '/VmHWM/ {print $2}' "/proc/$pid/status"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
idle_kb=$(hwm)

python3 - "$port" "$concurrency" "$waves" <<'PY'
import collections, http.client, json, sys, threading, time
port, n, waves = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
counts = collections.Counter()
lock = threading.Lock()
def one(w, i):
    body = json.dumps({"email": f"nobody{w}-{i}@example.com", "password": "wrong-password"})
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        c.request("POST", "/api/v1/auth/login", body, {"content-type": "application/json",
                  "x-forwarded-for": f"10.{w}.{i // 250}.{i % 250 + 1}"})
        status = c.getresponse().status
    except Exception as e:
        status = type(e).__name__
    with lock:
        counts[status] += 1
start = time.time()
for w in range(waves):
    threads = [threading.Thread(target=one, args=(w, i)) for i in range(n)]
    for t in threads: t.start()
    for t in threads: t.join()
print(f"  {waves} waves of {n} concurrent wrong-password sign-ins in {time.time() - start:.1f} s: "
      + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=str)))
PY
peak_kb=$(hwm)
echo "  peak resident memory: idle $((idle_kb / 1024)) MiB, under sign-ins $((peak_kb / 1024)) MiB (VmHWM; VmRSS now $(( $(rss) / 1024 )) MiB)"
