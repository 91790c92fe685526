#!/usr/bin/env bash
# Peak resident memory of the real server under hostile manifests sent to PUT /api/v1/apply by a member's
# token: a 15 KB quadratic alias expansion (3,000 aliases of a 3,000-item list), the classic nested alias
# bomb, and 5,000-deep nesting, each as a dry run and as a real apply. Prints the status of each answer and
# the server's peak resident memory (VmHWM) before and after them.
#
#   bash bench/manifest_memory.sh [--binary PATH]   (default: target/release/gatehouse, built here)
#
# Exits non-zero if any answer is not a 400 or the server dies.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) bin=$2; shift 2 ;;
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
gw=http://127.0.0.1:$port
export GATEHOUSE_DATABASE_URL="sqlite://$tmp/bench.db"
export GATEHOUSE_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export RUST_LOG=warn
"$bin" --listen "127.0.0.1:$port" serve >"$tmp/server.log" 2>&1 & pid=$!
for _ in $(seq 100); do curl -sf "$gw/healthz" >/dev/null && break; sleep 0.1; done
admin=$("$bin" bootstrap --email admin@example.com)
for _ in $(seq 50); do curl -sf "$gw/api/v1/me" -H "authorization: Bearer $admin" >/dev/null && break; sleep 0.1; done

python3 - "$tmp" <<'PY'
import sys
tmp = sys.argv[1]
items = ",".join(["a"] * 3000)
aliases = ",".join(["*x"] * 3000)
open(f"{tmp}/wide.yaml", "w").write(f"type: team\nname: wide\nx: &x [{items}]\ny: [{aliases}]\n")
s = "type: team\nname: bomb\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
for i in range(1, 10):
    s += f"a{i}: &a{i} [" + ", ".join([f"*a{i-1}"] * 9) + "]\n"
open(f"{tmp}/bomb.yaml", "w").write(s)
open(f"{tmp}/deep.yaml", "w").write("[" * 5000 + "]" * 5000)
PY
hwm() { awk '/VmHWM/ {print $2}' "/proc/$pid/status"; }
refused_all=1
echo "peak resident memory after start: $(( $(hwm) / 1024 )) MiB"
for f in wide bomb deep; do
  for dry in true false; do
    start=$(date +%s.%N)
    code=$(curl -s -o "$tmp/out.json" -w '%{http_code}' --max-time 120 -X PUT "$gw/api/v1/apply?dry_run=$dry" \
      -H "authorization: Bearer $admin" -H 'content-type: application/yaml' --data-binary "@$tmp/$f.yaml" || echo "none")
    [ "$code" = 400 ] || refused_all=0
    took=$(python3 -c "import time; print(f'{time.time() - $start:.2f}')")
    printf '  %-5s (%6d bytes) dry_run=%-5s -> %s in %ss: %s\n' "$f" "$(wc -c <"$tmp/$f.yaml")" "$dry" "$code" "$took" \
      "$(head -c 160 "$tmp/out.json" 2>/dev/null)"
  done
done
if kill -0 "$pid" 2>/dev/null; then
  echo "peak resident memory after the manifests: $(( $(hwm) / 1024 )) MiB"
else
  echo "the server died"; exit 1
fi
[ "$refused_all" = 1 ] || { echo "a hostile manifest was not refused with a 400"; exit 1; }
