#!/usr/bin/env bash
# Simulated hosts (CHAT_HOST_CPU): every router-K and api-K listens on its
# own loopback address, not on 127.0.0.1, inside a cgroup whose CPU quota is
# the budget; a CPU-bound load makes the kernel throttle it; down removes
# the cgroups. Without usable cgroups (CHAT_CGROUP_CPU_DIR pointing
# nowhere) the stack still runs, on the addresses, and says so.
#   stack_hosts_test.sh BIN_DIR CHAT_LOAD
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export CHAT_BIN_DIR=$1
load=$2
export CHAT_STACK_DIR=$(mktemp -d /tmp/chat-hosts-test-XXXXXX)
export CHAT_API_PORT=0 CHAT_ROUTER_PORT=0 CHAT_PASSWORD_ITERATIONS=1000
export CHAT_PLATFORM_PORT=0 CHAT_CONNECTOR_WHATSAPP_PORT=0 CHAT_CONNECTOR_INSTAGRAM_PORT=0
export CHAT_WHATSAPP_LATENCY_MS=0 CHAT_INSTAGRAM_LATENCY_MS=0 CHAT_PROMETHEUS=0
export CHAT_HOST_CPU=0.2
stack=$root/scripts/stack.sh
cleanup() {
  "$stack" down >/dev/null 2>&1 || true
  rm -rf "$CHAT_STACK_DIR"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; "$stack" status >&2 || true; exit 1; }
http_code() { curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$1" || true; }
port_in_log() {
  grep -ho '"event":"[a-z]*_listening"[^}]*"port":[0-9]*' "$CHAT_STACK_DIR/logs/$1.log" |
    tail -1 | sed 's/.*"port"://'
}
cgroups=/sys/fs/cgroup/cpu
if [ "$(id -u)" != 0 ] || [ ! -w "$cgroups/cpu.cfs_quota_us" ]; then
  echo "stack_hosts_test: skipped, needs root and cgroup v1 cpu at $cgroups"
  exit 0
fi

"$stack" up >/dev/null
"$stack" scale-router 2 >/dev/null
"$stack" scale-api 2 >/dev/null
for name in router-1 router-2 api-1 api-2; do
  case $name in router-*) address=127.0.1.${name#router-} ;; api-*) address=127.0.2.${name#api-} ;; esac
  port=$(port_in_log "$name")
  [ "$(http_code "http://$address:$port/health/ready")" = 200 ] || fail "$name not ready on $address:$port"
  [ "$(http_code "http://127.0.0.1:$port/health/ready")" = 000 ] || fail "$name also listens on 127.0.0.1"
  dir=$(ls -d "$cgroups"/chat-*-"$name" 2>/dev/null | head -1)
  [ -n "$dir" ] || fail "$name has no cgroup"
  [ "$(cat "$dir/cpu.cfs_quota_us")" = 20000 ] || fail "$name's quota is $(cat "$dir/cpu.cfs_quota_us"), not 20000"
  grep -qx "$(cat "$CHAT_STACK_DIR/pids/$name")" "$dir/cgroup.procs" || fail "$name runs outside its cgroup"
  grep -q "\"$address:$port\"" "$CHAT_STACK_DIR/prometheus/targets/"*/"$name.json" ||
    fail "$name's Prometheus target is not $address:$port"
done
for name in broker platform-sim; do
  pid=$(cat "$CHAT_STACK_DIR/pids/$name")
  grep -q "chat-" "/proc/$pid/cgroup" && grep -q ":cpu:/chat-" "/proc/$pid/cgroup" && fail "$name is inside a budget"
done

# The budget is enforced: under load the instances are throttled.
"$load" --scenario baseline --name hosts --rate 2000 --duration 4 --grace 5 \
  --port "$("$stack" api-port)" --out-dir "$CHAT_STACK_DIR/load" --progress off >/dev/null 2>&1 || true
throttled=0
for dir in "$cgroups"/chat-*-api-* "$cgroups"/chat-*-router-*; do
  throttled=$((throttled + $(awk '/^nr_throttled/ { print $2 }' "$dir/cpu.stat")))
done
[ "$throttled" -gt 0 ] || fail "2000 msg/s on 0.2-core hosts was never throttled"
echo "hosts: throttled $throttled periods under load"

"$stack" down >/dev/null
ls -d "$cgroups"/chat-*-router-* "$cgroups"/chat-*-api-* 2>/dev/null | grep -q "$(cksum <<<"$CHAT_STACK_DIR" | cut -d' ' -f1)" &&
  fail "cgroups left after down"

# No usable cgroups: a clear message, and the stack still runs.
err=$(CHAT_CGROUP_CPU_DIR=/nonexistent "$stack" up 2>&1 >/dev/null) || fail "up without cgroups failed: $err"
grep -q "without CPU budgets" <<<"$err" || fail "no message about the missing budgets: $err"
port=$(port_in_log router-1)
[ "$(http_code "http://127.0.1.1:$port/health/ready")" = 200 ] || fail "router-1 not on its address without cgroups"
echo "stack hosts: all checks passed"
