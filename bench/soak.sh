#!/usr/bin/env bash
# Soak: the real server under moderate load for N minutes, with a mix of upstream faults (resets, garbage,
# endless and huge answers, slow trickles, error statuses) among good calls, streamed and not. Prints the
# server's resident memory (VmRSS) at the start and the end and its peak (VmHWM), the answers by status,
# and fails if the server dies or answers anything but 200, 502 or 504.
#
#   bench/soak.sh [--minutes N | --seconds N] [--connections C] [--debug]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=600 conns=8 profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) seconds=$(( $2 * 60 )); shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --connections) conns="$2"; shift 2 ;;
    --debug) profile=debug; shift ;;
    *) echo "usage: $0 [--minutes N | --seconds N] [--connections C] [--debug]" >&2; exit 2 ;;
  esac
done
flag=$([ "$profile" = release ] && echo --release || true)
cargo build -q $flag -p gatehouse -p gatehouse-mock-upstream
bin=target/$profile/gatehouse mockbin=target/$profile/gatehouse-mock-upstream
tmp=$(mktemp -d) pid= mpid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$mpid" ] && kill "$mpid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(freeport) mport=$(freeport)
"$mockbin" --listen "127.0.0.1:$mport" >/dev/null 2>&1 & mpid=$!
export GATEHOUSE_DATABASE_URL="sqlite://$tmp/soak.db" RUST_LOG=error
export GATEHOUSE_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export GATEHOUSE_MAX_UPSTREAM_BODY=$(( 1024 * 1024 ))
"$bin" --listen "127.0.0.1:$port" serve >"$tmp/server.log" 2>&1 & pid=$!
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
admin=$("$bin" bootstrap --email admin@example.com)
python3 - "$port" "$mport" "$admin" "$seconds" "$conns" "$pid" <<'PY'
import json, sys, threading, time, urllib.request, urllib.error, collections
port, mport, token, seconds, conns, pid = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
base = f"http://127.0.0.1:{port}"
def mem(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field): return int(line.split()[1]) // 1024
def call(path, body, timeout=30):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST")
    req.add_header("authorization", f"Bearer {token}"); req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r: r.read(); return r.status
    except urllib.error.HTTPError as e: e.read(); return e.code
    except Exception as e: return type(e).__name__
faults = {"ok": "mock-gpt", "reset": "cut-20", "garbage": "garbage-3000", "endless": "endless-8192",
          "huge": "huge-3000000", "trickle": "drip-20ms-tokens-20", "fail": "fail-503", "stallcut": "drip-50ms-cut-3"}
models = [{"name": k, "model_id": v, "types": ["chat"]} for k, v in faults.items()]
# The server picks up the token bootstrap wrote within its poll interval (1 s).
for _ in range(100):
    try:
        me = urllib.request.Request(base + "/api/v1/me"); me.add_header("authorization", f"Bearer {token}")
        urllib.request.urlopen(me, timeout=5).read(); break
    except urllib.error.HTTPError: time.sleep(0.1)
for acct in [{"type": "openai-compatible", "name": "oa", "base_url": f"http://127.0.0.1:{mport}/v1", "auth": {"api_key": "k"}, "models": models},
             {"type": "anthropic", "name": "an", "base_url": f"http://127.0.0.1:{mport}", "auth": {"api_key": "k"}, "models": models},
             {"type": "aws-bedrock", "name": "br", "base_url": f"http://127.0.0.1:{mport}", "region": "us-east-1",
              "auth": {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "s"}, "models": models}]:
    st = call("/api/v1/provider-accounts", acct); assert st == 201, (acct["name"], st)
mix = ["ok"] * 6 + list(faults)
plan = [(f"{p}/{m}", s) for p in ("oa", "an", "br") for m in mix for s in (False, True)]
counts = collections.Counter(); lock = threading.Lock(); stop = time.time() + seconds
def worker(w):
    i = w
    while time.time() < stop:
        model, stream = plan[i % len(plan)]; i += 7
        st = call("/v1/chat/completions", {"model": model, "stream": stream, "messages": [{"role": "user", "content": "hello soak"}]})
        with lock: counts[(model.split("/")[1], st)] += 1
start_rss = mem("VmRSS")
print(f"soak: {seconds:.0f} s, {conns} connections; RSS at start {start_rss} MiB", flush=True)
ts = [threading.Thread(target=worker, args=(w,)) for w in range(conns)]
for t in ts: t.start()
while any(t.is_alive() for t in ts):
    time.sleep(min(60, max(1, seconds / 10)))
    try: print(f"  t+{seconds - max(0, stop - time.time()):.0f}s RSS {mem('VmRSS')} MiB, {sum(counts.values())} calls", flush=True)
    except FileNotFoundError: print("soak: the server died"); sys.exit(1)
for t in ts: t.join()
end_rss, peak = mem("VmRSS"), mem("VmHWM")
by = collections.defaultdict(dict)
for (m, st), n in sorted(counts.items(), key=str): by[m][str(st)] = n
for m, d in by.items(): print(f"  {m:9} {d}")
bad = {k: n for k, n in counts.items() if k[1] not in (200, 502, 504)}
print(f"soak summary: {sum(counts.values())} calls; RSS start {start_rss} MiB, end {end_rss} MiB, peak {peak} MiB; unexpected answers {sum(bad.values())}")
sys.exit(1 if bad else 0)
PY
