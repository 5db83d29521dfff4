#!/usr/bin/env bash
# scripts/stack.sh as a user runs it, on free ports in a temporary directory:
# up, status, scale-router, kill-router, down, and nothing left running.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export CHAT_BIN_DIR=$1
export CHAT_STACK_DIR=$(mktemp -d /tmp/chat-stack-test-XXXXXX)
export CHAT_API_PORT=0 CHAT_ROUTER_PORT=0 CHAT_PASSWORD_ITERATIONS=1000
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
PATTERN='^api .* ready$' has_line "$stack" status || fail "api not ready after up"
"$stack" up 2>/dev/null && fail "a second up must refuse"
PATTERN='^router-2 .* ready$' has_line "$stack" scale-router 2 || fail "router-2 not ready"
pid=$(cat "$CHAT_STACK_DIR/pids/router-2")
"$stack" kill-router 2
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(cut -d' ' -f3 "/proc/$1/stat")" = Z ]; }
gone "$pid" || fail "router-2 still alive after kill-router"
PATTERN='^router-2' has_line "$stack" status && fail "router-2 still listed"
pids=$(cat "$CHAT_STACK_DIR"/pids/*)
"$stack" down
for p in $pids; do gone "$p" || fail "process $p left running"; done
"$stack" bogus >/dev/null 2>&1 && fail "an unknown command must fail"
echo "stack.sh: all checks passed"
