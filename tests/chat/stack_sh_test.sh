#!/usr/bin/env bash
# scripts/stack.sh as a user runs it, on free ports in a temporary directory:
# up (with the platform simulator and both connectors), status, a crashed
# API restarted by its supervisor, scale-router, kill-router (whose victim
# stays dead), down in dependency order, and nothing left running, the
# supervisors included; Prometheus's target files follow the services.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export CHAT_BIN_DIR=$1
export CHAT_STACK_DIR=$(mktemp -d /tmp/chat-stack-test-XXXXXX)
export CHAT_API_PORT=0 CHAT_ROUTER_PORT=0 CHAT_PASSWORD_ITERATIONS=1000
export CHAT_PLATFORM_PORT=0 CHAT_CONNECTOR_WHATSAPP_PORT=0 CHAT_CONNECTOR_INSTAGRAM_PORT=0
export CHAT_WHATSAPP_LATENCY_MS=0 CHAT_INSTAGRAM_LATENCY_MS=0 CHAT_PROMETHEUS_PORT=0
stack=$root/scripts/stack.sh
cleanup() {
  "$stack" down >/dev/null 2>&1 || true
  rm -rf "$CHAT_STACK_DIR"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# Captured first: grep -q would close the pipe early under pipefail.
has_line() { local out; out=$("$@" 2>&1) || true; grep -q "$PATTERN" <<<"$out"; }

"$stack" up
for name in api router-1 platform-sim connector-whatsapp connector-instagram; do
  PATTERN="^$name .* ready$" has_line "$stack" status || fail "$name not ready after up"
done
PATTERN='^prometheus .* ready' has_line "$stack" status || fail "prometheus not ready after up"
targets=$CHAT_STACK_DIR/prometheus/targets
for file in chat-api/api chat-router/router-1 chat-platform-sim/platform-sim \
  chat-connector-whatsapp/connector-whatsapp chat-connector-instagram/connector-instagram; do
  [ -s "$targets/$file.json" ] || fail "no Prometheus target file $file.json"
done
"$stack" up 2>/dev/null && fail "a second up must refuse"
# The generated JWT secret is readable by its owner only.
[ "$(stat -c %a "$CHAT_STACK_DIR/data/jwt.secret")" = 600 ] || fail "jwt.secret is not mode 0600"
# The development stack has the demo users the original clients log in as.
login=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  -d '{"username":"user_a","password":"pass_a"}' \
  "http://127.0.0.1:$(sed -n 's/.*"event":"api_listening".*"port":\([0-9]*\).*/\1/p' "$CHAT_STACK_DIR/logs/api.log" | tail -1)/auth/token")
[ "$login" = 200 ] || fail "user_a cannot log in to the development stack ($login)"
supervisors=$CHAT_STACK_DIR/supervisors
for name in api router-1 platform-sim connector-whatsapp connector-instagram prometheus; do
  [ -s "$supervisors/$name.pid" ] || fail "$name has no supervisor"
done
[ -e "$supervisors/broker.pid" ] && fail "the broker must not be supervised"
[ "$(ls "$CHAT_STACK_DIR/pids" | wc -l)" = 7 ] || fail "pids/ must hold the 7 services' pids, no more"

# A crashed service comes back: kill -9 the API, and its supervisor starts a
# new one (1 s back-off), writes its pid, logs the restart, and points
# Prometheus at the API's new (free) port.
old_api=$(cat "$CHAT_STACK_DIR/pids/api")
kill -9 "$old_api"
api_restarted() {
  local pid
  pid=$(cat "$CHAT_STACK_DIR/pids/api" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$pid" != "$old_api" ] && kill -0 "$pid" 2>/dev/null &&
    PATTERN='^api  *[0-9][0-9]*  *restarted 1x, ready$' has_line "$stack" status
}
deadline=$((SECONDS + 30))
until api_restarted; do
  [ $SECONDS -lt $deadline ] || fail "the API was not restarted and ready within 30 s: $("$stack" status 2>&1)"
  sleep 0.2
done
grep -q '"event":"service_restarted","name":"api","exit_code":137,"restarts":1,"backoff_s":1}' \
  "$CHAT_STACK_DIR/logs/supervisor.log" || fail "no service_restarted line for api in supervisor.log"
new_port=$(grep -ho '"event":"api_listening"[^}]*"port":[0-9]*' "$CHAT_STACK_DIR/logs/api.log" |
  tail -1 | sed 's/.*"port"://')
deadline=$((SECONDS + 10))
until grep -q "\"127.0.0.1:$new_port\"" "$targets/chat-api/api.json"; do
  [ $SECONDS -lt $deadline ] || fail "api's target file lacks its new port $new_port"
  sleep 0.2
done

PATTERN='^router-2 .* ready$' has_line "$stack" scale-router 2 || fail "router-2 not ready"
pid=$(cat "$CHAT_STACK_DIR/pids/router-2")
router2_supervisor=$(cat "$supervisors/router-2.pid")
grep -q "\"127.0.0.1:$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$CHAT_STACK_DIR/logs/router-2.log" | tail -1)\"" \
  "$targets/chat-router/router-2.json" || fail "router-2's target file lacks its port"
"$stack" kill-router 2
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(cut -d' ' -f3 "/proc/$1/stat")" = Z ]; }
gone "$pid" || fail "router-2 still alive after kill-router"
# Not restarted: its supervisor went first, so nothing can bring it back.
gone "$router2_supervisor" || fail "router-2's supervisor outlived kill-router"
[ -e "$supervisors/router-2.pid" ] && fail "router-2 still has a supervisor"
PATTERN='^router-2' has_line "$stack" status && fail "router-2 still listed"
[ -e "$targets/chat-router/router-2.json" ] && fail "router-2 still a Prometheus target"
grep -q '"name":"router-2"' "$CHAT_STACK_DIR/logs/supervisor.log" && fail "kill-router's victim was restarted"
pids=$(cat "$CHAT_STACK_DIR"/pids/* "$supervisors"/*.pid)
[ "$(wc -w <<<"$pids")" = 13 ] || fail "expected 7 services and 6 supervisors, got: $pids"
"$stack" down
for p in $pids; do gone "$p" || fail "process $p left running"; done
[ -z "$(find "$supervisors" -name '*.pid')" ] || fail "supervisor pid files left after down"
[ -z "$(find "$targets" -name '*.json')" ] || fail "target files left after down"
# Dependency order: the connectors finish before the platform they call,
# and everything before the broker.
stopped_at() {  # stopped_at NAME EVENT: the ts of its last EVENT line
  grep -h "\"event\":\"$2\"" "$CHAT_STACK_DIR/logs/$1.log" | tail -1 |
    sed 's/.*"ts":"\([^"]*\)".*/\1/'
}
before() {  # before A_NAME A_EVENT B_NAME B_EVENT
  local a b
  a=$(stopped_at "$1" "$2") b=$(stopped_at "$3" "$4")
  [ -n "$a" ] && [ -n "$b" ] && [[ ! "$b" < "$a" ]] || fail "$1 did not stop before $3 ('$a' vs '$b')"
}
before api api_stopping router-1 router_stopping
before router-1 router_stopping connector-whatsapp connector_stopping
before connector-whatsapp connector_stopping platform-sim platform_stopping
before connector-instagram connector_stopping platform-sim platform_stopping
"$stack" bogus >/dev/null 2>&1 && fail "an unknown command must fail"

# CHAT_STORE=postgres: a cluster of the stack's own, whose URL the services
# and `store-url` get, in `status`, and stopped by `down`.
if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || [ -n "${CHAT_PG_BINDIR:-}" ]; then
  CHAT_STORE=postgres CHAT_PROMETHEUS=0 "$stack" up >/dev/null
  url=$("$stack" store-url)
  [[ $url == postgresql://chat:*@127.0.0.1:*/chat ]] || fail "store-url is not the stack's PostgreSQL: $url"
  [ "$(stat -c %a "$CHAT_STACK_DIR/store-url")" = 600 ] || fail "store-url (it holds the password) is not mode 0600"
  PATTERN='^postgres .* ready' has_line "$stack" status || fail "postgres not ready in status"
  # The API's demo users went to PostgreSQL, not to SQLite.
  [ "$("$root/bench/load/store-sql" "$url" "SELECT count(*) FROM users WHERE username = 'user_a'")" = 1 ] ||
    fail "the API does not use the stack's PostgreSQL"
  # check-zero-loss reads it: a message the API accepted is found once, an
  # id never sent is missing.
  api_port=$(sed -n 's/.*"event":"api_listening".*"port":\([0-9]*\).*/\1/p' "$CHAT_STACK_DIR/logs/api.log" | tail -1)
  token=$(curl -s -X POST -H 'Content-Type: application/json' -d '{"username":"user_a","password":"pass_a"}' \
    "http://127.0.0.1:$api_port/auth/token" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
  user_id=$(python3 -c 'import base64, json, sys
p = sys.argv[1].split(".")[1]
print(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["sub"])' "$token")
  curl -s -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
    -d "{\"conversation_id\":\"pg-check\",\"sender_id\":\"$user_id\",\"content\":\"hello\"}" \
    "http://127.0.0.1:$api_port/v1/messages" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["message_id"])' >"$CHAT_STACK_DIR/sent.ids"
  "$root/bench/load/check-zero-loss" --store-url "$url" --wait 30 "$CHAT_STACK_DIR/sent.ids" >/dev/null ||
    fail "check-zero-loss did not find the accepted message in PostgreSQL"
  echo m_never_sent >"$CHAT_STACK_DIR/never.ids"
  "$root/bench/load/check-zero-loss" --store-url "$url" "$CHAT_STACK_DIR/never.ids" >/dev/null &&
    fail "check-zero-loss found an id that was never sent"
  postmaster=$(head -1 "$CHAT_STACK_DIR/postgres/data/postmaster.pid")
  "$stack" down >/dev/null
  gone "$postmaster" || fail "PostgreSQL left running after down"
  [ "$("$stack" store-url)" = "$url" ] || fail "store-url changed by down"
else
  echo "stack.sh: no PostgreSQL server binaries, CHAT_STORE=postgres not tested"
fi
echo "stack.sh: all checks passed"
