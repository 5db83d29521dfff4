#!/usr/bin/env bash
# Runs the chat4all stack on loopback: the development broker, the API,
# router workers, the platform simulator and the WhatsApp and Instagram
# connectors, each logging JSON lines to its own file, and a Prometheus
# scraping them with monitoring/prometheus.yml.
#
#   scripts/stack.sh up              start everything, wait until ready
#   scripts/stack.sh down            stop everything this stack started
#   scripts/stack.sh status          what runs, on which ports, ready or not
#   scripts/stack.sh scale-router N  run N routers
#   scripts/stack.sh kill-router K   kill -9 router K (failover experiments)
#   scripts/stack.sh logs [NAME]     follow the logs (all, or api, router-1,
#                                    platform-sim, connector-whatsapp...)
#
# Environment:
#   CHAT_STACK_DIR   state, logs and data (default: .stack in the repo)
#   CHAT_BIN_DIR     where the binaries are (default: build/release/chat-services)
#   CHAT_API_PORT    API port (default 8080; 0 picks a free one)
#   CHAT_ROUTER_PORT first router's metrics port (default 8082; others pick
#                    free ports); 0 picks a free one
#   CHAT_PLATFORM_PORT platform simulator port (default 8085; 0: free one)
#   CHAT_CONNECTOR_WHATSAPP_PORT, CHAT_CONNECTOR_INSTAGRAM_PORT
#                    connectors' metrics ports (default 8083, 8084; 0: free)
#   CHAT_WHATSAPP_LATENCY_MS, CHAT_INSTAGRAM_LATENCY_MS
#                    simulated platform latency, MIN-MAX or N ms (0 for tests)
#   CHAT_PASSWORD_ITERATIONS  PBKDF2 iterations (default 600000)
#   CHAT_PROMETHEUS  0: do not start Prometheus (default 1)
#   CHAT_PROMETHEUS_PORT  Prometheus port on 127.0.0.1 (default 9090; 0 picks
#                    a free one)
#   CHAT_ROUTER_SESSION_TIMEOUT_MS  routers' group session timeout (default
#                    3000: the development broker accepts it and rebalances
#                    in session - 1 s; a real Kafka broker needs >= 6000)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${CHAT_STACK_DIR:-$ROOT/.stack}
BIN=${CHAT_BIN_DIR:-$ROOT/build/release/chat-services}
READY_TIMEOUT=${CHAT_READY_TIMEOUT:-60}
PROM_DIR=$STATE/prometheus

die() { echo "stack: $*" >&2; exit 1; }
log_of() { echo "$STATE/logs/$1.log"; }
pid_of() { cat "$STATE/pids/$1" 2>/dev/null || true; }
# A killed process lingers as a zombie until its (re)parent reaps it.
running() { kill -0 "$1" 2>/dev/null && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }
alive() { local pid; pid=$(pid_of "$1"); [ -n "$pid" ] && running "$pid"; }

# The port a service logged in its "listening" event (api_listening,
# endpoint_listening, platform_listening, connector_listening).
port_of() {
  grep -ho '"event":"[a-z]*_listening"[^}]*"port":[0-9]*' \
    "$(log_of "$1")" 2>/dev/null | tail -1 | sed 's/.*"port"://'  || true
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
  return 0
}

ready() {  # ready NAME: its /health/ready answers 200
  local port
  port=$(port_of "$1")
  [ -n "$port" ] && [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health/ready")" = 200 ]
}

not_running() { ! running "$1"; }

# The Prometheus job (monitoring/prometheus.yml) that scrapes service NAME;
# none for the broker.
prometheus_job() {
  case $1 in
    api) echo chat-api ;;
    router-*) echo chat-router ;;
    platform-sim) echo chat-platform-sim ;;
    connector-*) echo "chat-$1" ;;
    *) return 1 ;;
  esac
}

# File-based service discovery: one target file per running service, which
# Prometheus picks up within seconds, so scaling needs no config change.
add_target() {  # add_target NAME
  local job file
  job=$(prometheus_job "$1") || return 0
  file=$PROM_DIR/targets/$job/$1.json
  mkdir -p "$(dirname "$file")"
  printf '[{"targets": ["127.0.0.1:%s"], "labels": {"__chat_instance": "%s"}}]\n' \
    "$(port_of "$1")" "$1" >"$file.tmp"
  mv "$file.tmp" "$file"  # atomically: Prometheus never reads half a file
}
remove_target() { rm -f "$PROM_DIR"/targets/*/"$1.json"; }

await_ready() {  # await_ready NAME: until its /health/ready passes, then scrape it
  wait_for "$READY_TIMEOUT" "$1" ready "$1" ||
    die "$1 not ready after ${READY_TIMEOUT}s; see $(log_of "$1")"
  add_target "$1"
}

start() {  # start NAME COMMAND...
  local name=$1
  shift
  "$@" >>"$(log_of "$name")" 2>&1 &
  echo $! >"$STATE/pids/$name"
}

stop() {  # stop NAME: SIGTERM, then SIGKILL after 15 s
  local name=$1 pid
  remove_target "$name"
  pid=$(pid_of "$name")
  if [ -n "$pid" ] && running "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_for 15 "$name to stop" not_running "$pid"; then
      echo "stack: $name did not stop in 15 s, killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$STATE/pids/$name"
}

routers() { ls "$STATE/pids" 2>/dev/null | grep '^router-' | sort -t- -k2 -n || true; }

start_router() {  # start_router K
  local k=$1 port=0
  [ "$k" = 1 ] && port=${CHAT_ROUTER_PORT:-8082}
  start "router-$k" "$BIN/chat-router" --brokers "$(cat "$STATE/broker.address")" \
    --data-dir "$STATE/data" --metrics-port "$port" --instance "router-$k" \
    --session-timeout-ms "${CHAT_ROUTER_SESSION_TIMEOUT_MS:-3000}"
  await_ready "router-$k"
}

prometheus_port() { cat "$PROM_DIR/port" 2>/dev/null || true; }

prometheus_ready() {
  [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(prometheus_port)/-/ready")" = 200 ]
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Prometheus on loopback with monitoring/prometheus.yml, whose relative paths
# (rules/, targets/) resolve next to the link to it in $PROM_DIR.
start_prometheus() {
  [ "${CHAT_PROMETHEUS:-1}" = 0 ] && return 0
  command -v prometheus >/dev/null || die "no prometheus (run scripts/setup.sh, or CHAT_PROMETHEUS=0)"
  local port=${CHAT_PROMETHEUS_PORT:-9090}
  [ "$port" = 0 ] && port=$(free_port)
  mkdir -p "$PROM_DIR/data"
  ln -sfn "$ROOT/monitoring/prometheus.yml" "$PROM_DIR/prometheus.yml"
  ln -sfn "$ROOT/monitoring/rules" "$PROM_DIR/rules"
  echo "$port" >"$PROM_DIR/port"
  start prometheus prometheus --config.file="$PROM_DIR/prometheus.yml" \
    --storage.tsdb.path="$PROM_DIR/data" --storage.tsdb.retention.time=2d \
    --web.listen-address="127.0.0.1:$port" --log.format=json
  # Fails fast when it exits, e.g. because its port is taken.
  wait_for "$READY_TIMEOUT" prometheus prometheus_settled && prometheus_ready ||
    die "prometheus not ready on port $port; see $(log_of prometheus)"
}

prometheus_settled() { prometheus_ready || ! alive prometheus; }

CONNECTORS="connector-whatsapp connector-instagram"

start_platform() {
  start platform-sim "$BIN/chat-platform-sim" --port "${CHAT_PLATFORM_PORT:-8085}"
  await_ready platform-sim
}

start_connectors() {
  local channel port
  for channel in whatsapp instagram; do
    if [ "$channel" = whatsapp ]; then
      port=${CHAT_CONNECTOR_WHATSAPP_PORT:-8083}
    else
      port=${CHAT_CONNECTOR_INSTAGRAM_PORT:-8084}
    fi
    start "connector-$channel" "$BIN/chat-connector" --channel "$channel" \
      --brokers "$(cat "$STATE/broker.address")" --port "$port" \
      --platform-url "http://127.0.0.1:$(port_of platform-sim)" \
      --instance "connector-$channel"
  done
  for channel in $CONNECTORS; do await_ready "$channel"; done
}

up() {
  local b
  for b in chat-broker chat-api chat-router chat-platform-sim chat-connector; do
    [ -x "$BIN/$b" ] || die "no $b in $BIN (build first: cmake --preset release && cmake --build --preset release)"
  done
  { alive broker || alive prometheus; } && die "already running (scripts/stack.sh down first)"
  mkdir -p "$STATE/pids" "$STATE/logs" "$STATE/data"
  trap 'echo "stack: interrupted, stopping what was started" >&2; down; exit 130' INT TERM
  rm -f "$STATE/broker.address"
  rm -rf "$PROM_DIR/targets"  # a crashed run's targets are gone
  start_prometheus  # first: a taken port fails before anything else runs
  start broker "$BIN/chat-broker" --address-file "$STATE/broker.address"
  wait_for 30 broker test -s "$STATE/broker.address" ||
    die "broker did not start; see $(log_of broker)"
  start api "$BIN/chat-api" --brokers "$(cat "$STATE/broker.address")" \
    --data-dir "$STATE/data" --port "${CHAT_API_PORT:-8080}" \
    --password-iterations "${CHAT_PASSWORD_ITERATIONS:-600000}"
  start_router 1
  start_platform
  start_connectors
  await_ready api
  trap - INT TERM
  status
}

# Producers before consumers, everything before the broker: the API stops
# taking messages, the routers finish their batches, the connectors finish
# their deliveries (and commit them) while the platform still answers.
down() {
  local r c
  stop api
  for r in $(routers); do stop "$r"; done
  for c in $CONNECTORS; do stop "$c"; done
  stop platform-sim
  stop broker
  stop prometheus
  echo "stack: stopped"
}

status() {
  local name port state
  for name in broker api $(routers) platform-sim $CONNECTORS; do
    if ! alive "$name"; then
      state=stopped
    elif [ "$name" = broker ]; then
      state="running at $(cat "$STATE/broker.address" 2>/dev/null)"
    elif ready "$name"; then
      state=ready
    else
      state="not ready"
    fi
    port=$(port_of "$name")
    printf '%-19s %-8s %s\n' "$name" "${port:--}" "$state"
  done
  if alive prometheus; then
    state="not ready"
    prometheus_ready && state="ready, http://127.0.0.1:$(prometheus_port)"
    printf '%-19s %-8s %s\n' prometheus "$(prometheus_port)" "$state"
  fi
}

scale_router() {
  local want=$1 have k
  [[ $want =~ ^[0-9]+$ ]] && [ "$want" -ge 1 ] || die "scale-router needs a count >= 1"
  alive broker || die "the stack is not running"
  have=$(routers | wc -l)
  for ((k = have + 1; k <= want; k++)); do start_router "$k"; done
  for ((k = have; k > want; k--)); do stop "router-$k"; done
  status
}

kill_router() {
  local k=$1
  alive "router-$k" || die "router-$k is not running"
  local pid
  pid=$(pid_of "router-$k")
  remove_target "router-$k"
  kill -KILL "$pid"
  wait_for 10 "router-$k to die" not_running "$pid" || die "router-$k survived kill -9"
  rm -f "$STATE/pids/router-$k"
  echo "stack: killed router-$k"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  scale-router) scale_router "${2:-}" ;;
  kill-router) kill_router "${2:-}" ;;
  logs) if [ -n "${2:-}" ]; then tail -F "$(log_of "$2")"; else tail -F "$STATE"/logs/*.log; fi ;;
  *) sed -n '2,25p' "$0"; exit 2 ;;
esac
