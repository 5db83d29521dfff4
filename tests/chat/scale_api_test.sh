#!/usr/bin/env bash
# Several APIs behind HAProxy (scripts/stack.sh scale-api), on free loopback
# ports in a temporary directory: scale-api 2 puts api-1 and api-2 behind
# the public port, each its own Prometheus target; under a steady load,
# kill -9 of api-1 is routed around within 2 s, only requests in flight at
# the kill fail, every accepted (202) message is stored exactly once, and
# the supervisor brings api-1 back into rotation; scale-api 1 retires
# api-2; down leaves nothing running.
#   scale_api_test.sh BIN_DIR CHAT_LOAD
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export CHAT_BIN_DIR=$1
load=$2
command -v haproxy >/dev/null || { echo "scale_api_test: needs haproxy (scripts/setup.sh)" >&2; exit 1; }
export CHAT_STACK_DIR=$(mktemp -d /tmp/chat-scale-api-test-XXXXXX)
export CHAT_API_PORT=0 CHAT_ROUTER_PORT=0 CHAT_PASSWORD_ITERATIONS=1000
export CHAT_PLATFORM_PORT=0 CHAT_CONNECTOR_WHATSAPP_PORT=0 CHAT_CONNECTOR_INSTAGRAM_PORT=0
export CHAT_WHATSAPP_LATENCY_MS=0 CHAT_INSTAGRAM_LATENCY_MS=0 CHAT_PROMETHEUS=0
stack=$root/scripts/stack.sh
out=$CHAT_STACK_DIR/load
load_pid=
cleanup() {
  [ -z "$load_pid" ] || kill "$load_pid" 2>/dev/null || true
  "$stack" down >/dev/null 2>&1 || true
  rm -rf "$CHAT_STACK_DIR"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; "$stack" status >&2 || true; exit 1; }
status_has() { local s; s=$("$stack" status 2>&1) || true; grep -qE "$1" <<<"$s"; }
wait_until() {  # wait_until SECONDS WHAT COMMAND...
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@"; do
    [ $SECONDS -lt $deadline ] || fail "$what"
    sleep 0.1
  done
}
now_ms() { date +%s%3N; }

"$stack" up >/dev/null
public=$("$stack" api-port)
"$stack" scale-api 2 >/dev/null
[ "$("$stack" api-port)" = "$public" ] || fail "the public port moved from $public to $("$stack" api-port)"
status_has '^haproxy .* ready, 2 of 2 APIs up$' || fail "haproxy does not see 2 APIs up"
for a in api-1 api-2; do
  status_has "^$a .* ready$" || fail "$a not ready"
  [ -s "$CHAT_STACK_DIR/prometheus/targets/chat-api/$a.json" ] || fail "$a is not a Prometheus target"
done
[ -e "$CHAT_STACK_DIR/prometheus/targets/chat-api/api.json" ] && fail "the single API is still a target"
status_has '^api ' && fail "the single API is still listed"

# A steady load through the public port; api-1 dies 3 s into it.
mkdir -p "$out"
"$load" --scenario baseline --name ha --rate 200 --duration 12 --grace 5 \
  --port "$public" --out-dir "$out" --progress off >"$out/load.log" 2>&1 &
load_pid=$!
wait_until 20 "the load accepted nothing" test -s "$out/ha.ids"
served_by() {  # messages api-K accepted so far, from its /metrics
  curl -s "http://127.0.0.1:$(cat "$CHAT_STACK_DIR/haproxy/$1.port")/metrics" |
    awk '/^http_requests_total\{.*method="POST".*status="202"/ { n += $NF } END { print n + 0 }'
}
both_serve() { [ "$(served_by api-1)" -gt 50 ] && [ "$(served_by api-2)" -gt 50 ]; }
wait_until 20 "leastconn does not spread the load over both APIs" both_serve
old=$(cat "$CHAT_STACK_DIR/pids/api-1")
killed_at=$(now_ms)
kill -9 "$old"
one_up() { status_has '^haproxy .* 1 of 2 APIs up$'; }
wait_until 10 "haproxy still routes to api-1 10 s after kill -9" one_up
detected_ms=$(($(now_ms) - killed_at))
[ "$detected_ms" -le 2000 ] || fail "haproxy took ${detected_ms} ms to take api-1 out (limit 2000)"
rc=0
wait "$load_pid" || rc=$?
load_pid=
[ "$rc" = 0 ] || [ "$rc" = 99 ] || fail "chat-load failed ($rc): $(tail -5 "$out/load.log")"
read -r requests failed < <(python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
print(int(m["http_reqs"]["count"]), int(m["http_req_failed"]["passes"]))' "$out/ha.summary.json")
echo "scale-api: $requests requests, $failed failed, api-1 out of rotation after ${detected_ms} ms"
# At 200/s and millisecond latencies, a handful of requests are in flight
# at any instant: those may fail, the rest are resent or go to api-2.
[ "$failed" -le 20 ] || fail "$failed of $requests requests failed (more than those in flight)"
python3 "$root/bench/load/check-zero-loss" --store-url "$("$stack" store-url)" --wait 60 \
  "$out/ha.ids" || fail "accepted messages lost or stored twice"

# The supervisor restarts api-1 on its port, and HAProxy takes it back.
wait_until 30 "api-1 not back in rotation" status_has '^haproxy .* 2 of 2 APIs up$'
[ "$(cat "$CHAT_STACK_DIR/pids/api-1")" != "$old" ] || fail "api-1 was not restarted"
status_has '^api-1 .* restarted 1x, ready$' || fail "api-1's restart is not shown"

"$stack" scale-api 1 >/dev/null
status_has '^haproxy .* ready, 1 of 1 APIs up$' || fail "scale-api 1 left more than api-1"
status_has '^api-2 ' && fail "api-2 still running after scale-api 1"
[ -e "$CHAT_STACK_DIR/prometheus/targets/chat-api/api-2.json" ] && fail "api-2 is still a target"
"$stack" scale-api 0 >/dev/null 2>&1 && fail "scale-api 0 must be refused"
pids=$(cat "$CHAT_STACK_DIR"/pids/* "$CHAT_STACK_DIR"/supervisors/*.pid)
"$stack" down >/dev/null
for p in $pids; do
  ! kill -0 "$p" 2>/dev/null || [ "$(cut -d' ' -f3 "/proc/$p/stat")" = Z ] || fail "process $p left running"
done
echo "scale-api: all checks passed"
