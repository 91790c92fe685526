#!/usr/bin/env bash
# Schema-driven API testing: schemathesis against the real server's /openapi.json, as an admin and as a
# member: no 5xx, and every answer (status, content type, body) as the schema documents it.
#
#   scripts/schemathesis.sh [--max-examples N]
set -euo pipefail
cd "$(dirname "$0")/.."
examples=5
[ "${1:-}" = --max-examples ] && examples="$2"
[ -x .venv-schema/bin/schemathesis ] || bash scripts/setup.sh
cargo build -q -p gatehouse -p gatehouse-mock-upstream
bin=target/debug/gatehouse
tmp=$(mktemp -d) pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
export GATEHOUSE_DATABASE_URL="sqlite://$tmp/schema.db" RUST_LOG=error
export GATEHOUSE_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
"$bin" --listen "127.0.0.1:$port" serve >"$tmp/server.log" 2>&1 & pid=$!
for _ in $(seq 200); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.05; done
admin=$("$bin" bootstrap --email admin@example.com)
# The server picks up what bootstrap wrote within its poll interval (1 s).
for _ in $(seq 100); do curl -sf "$base/api/v1/me" -H "authorization: Bearer $admin" >/dev/null && break; sleep 0.1; done
curl -sf -X POST "$base/api/v1/users" -H "authorization: Bearer $admin" -H 'content-type: application/json' \
  -d '{"email":"member@example.com","role":"member"}' >/dev/null
curl -sf -X POST "$base/api/v1/users/member@example.com/password" -H "authorization: Bearer $admin" \
  -H 'content-type: application/json' -d '{"password":"member-password-1"}' >/dev/null
# The member's own personal access token, from a sign-in session.
session=$(curl -sf -X POST "$base/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email":"member@example.com","password":"member-password-1"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') || session=
member=$(curl -sf -X POST "$base/api/v1/personal-access-tokens" -H "authorization: Bearer $session" \
  -H 'content-type: application/json' -d '{"name":"schemathesis"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') || member=
# tests/schema/hooks.py: how this API's YAML answers are read.
export SCHEMATHESIS_HOOKS="$PWD/tests/schema/hooks.py"
failed=0
# The member first: the admin's run deactivates users and revokes tokens it finds, the member's among them.
for who in member admin; do
  tok=$([ $who = admin ] && echo "$admin" || echo "$member")
  [ -n "$tok" ] || { echo "schemathesis: no $who token"; failed=1; continue; }
  echo "schemathesis as $who ($examples examples per operation)"
  .venv-schema/bin/schemathesis run "$base/openapi.json" --url "$base" -H "Authorization: Bearer $tok" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "$examples" --workers 1 --request-timeout 20 --suppress-health-check all \
    >"$tmp/$who.log" 2>&1 || failed=1
  tail -25 "$tmp/$who.log"
  kill -0 "$pid" || { echo "schemathesis: the server died"; failed=1; break; }
done
exit "$failed"
