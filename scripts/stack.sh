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
#   scripts/stack.sh kill-router K   kill -9 router K, which stays dead
#                                    (failover experiments; scale-router
#                                    brings it back)
#   scripts/stack.sh scale-api N     run N APIs (api-1..N) behind HAProxy on
#                                    the public API port (leastconn, health-
#                                    checked on /health/ready); N >= 1
#   scripts/stack.sh api-port        the public API port (the API's, or
#                                    HAProxy's once scaled)
#   scripts/stack.sh logs [NAME]     follow the logs (all, or api, router-1,
#                                    platform-sim, connector-whatsapp,
#                                    supervisor...)
#   scripts/stack.sh store-url       the store the services use (a SQLite
#                                    file or a postgresql:// URL), for
#                                    check-zero-loss and the experiments
#
# Every service but the broker runs under a supervisor (a loop of this
# script in the background, its pid in $CHAT_STACK_DIR/supervisors/NAME.pid;
# pids/NAME is always the service's own pid): when the service exits for any
# reason but `down`, `scale-router` or `kill-router` stopping it, the
# supervisor logs a service_restarted line to logs/supervisor.log (exit_code
# as the shell reports it: 128+N for signal N) and starts it again after a
# back-off of 1 s, doubling up to 30 s, back to 1 s once it stayed up 60 s.
# `status` shows the restarts. The broker is not restarted: it keeps its
# topics in memory and comes back on another port, which the running
# services do not know, so a dead broker means `down` and `up`.
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
#   CHAT_STORE       sqlite (default: $CHAT_STACK_DIR/data/chat.db) or
#                    postgres: `up` starts a PostgreSQL cluster in
#                    $CHAT_STACK_DIR/postgres (initdb on the first up; run as
#                    the `postgres` system user when root, as PostgreSQL
#                    refuses root), listening on 127.0.0.1 only, with its
#                    socket in that directory, a generated password
#                    (postgres/password, mode 0600) and a database `chat`;
#                    the API and the routers get its URL as CHAT_STORE_URL.
#                    `down` stops it (pg_ctl stop -m fast), its data stays.
#                    With CHAT_STORE=sqlite, a CHAT_STORE_URL you set is
#                    passed on as it is (an external PostgreSQL).
#   CHAT_PG_PORT     the cluster's port (default: a free one)
#   CHAT_PG_BINDIR   PostgreSQL's server binaries (default: the newest
#                    /usr/lib/postgresql/*/bin)
#
#   CHAT_HOST_CPU    simulated hosts: each router-K and api-K runs on a
#                    loopback address of its own (127.0.1.K, 127.0.2.K) in a
#                    cgroup with this many cores of CPU budget, e.g. 0.4
#                    (cgroup v1 cfs quota; needs root). The broker, the
#                    store and Prometheus stay outside the budgets. Where
#                    cgroups are unavailable, the addresses still apply and
#                    a message says the budgets do not.
#   CHAT_CGROUP_CPU_DIR  the cgroup v1 cpu hierarchy (default /sys/fs/cgroup/cpu)
#
# Scaled APIs share the store, the JWT secret (data/jwt.secret, or
# CHAT_JWT_SECRET) and the blob directory (data/blobs): files live on this
# host's disk, so instances on other hosts would need a shared file system.
# Each keeps its own login rate limits. HAProxy (Debian `haproxy`) takes the
# public port and sends each request to the instance with the fewest
# connections; it checks /health/ready every 500 ms, takes an instance out
# after 2 failures (or at once when its connections are refused) and resends
# requests that could not connect; each instance keeps its own port across
# restarts and is its own Prometheus target (job chat-api).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${CHAT_STACK_DIR:-$ROOT/.stack}
BIN=${CHAT_BIN_DIR:-$ROOT/build/release/chat-services}
READY_TIMEOUT=${CHAT_READY_TIMEOUT:-60}
PROM_DIR=$STATE/prometheus
SUPERVISORS=$STATE/supervisors
PG_DIR=$STATE/postgres
BACKOFF_MIN_S=1 BACKOFF_MAX_S=30 BACKOFF_RESET_S=60
STARTING=  # set while `up` starts the stack: a failure then stops it all

die() {
  echo "stack: $*" >&2
  if [ -n "$STARTING" ]; then
    STARTING=
    echo "stack: up failed, stopping what was started" >&2
    down >&2 || true
  fi
  exit 1
}
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
  [ -n "$port" ] && [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://$(host_address "$1"):$port/health/ready")" = 200 ]
}

# ---- simulated hosts (CHAT_HOST_CPU) ----

# `up` records it, so later commands (scale-router...) need not repeat it.
HOST_CPU=${CHAT_HOST_CPU-$(cat "$STATE/host-cpu" 2>/dev/null || true)}
CGROUP_CPU=${CHAT_CGROUP_CPU_DIR:-/sys/fs/cgroup/cpu}
# The address NAME binds: its own host's with CHAT_HOST_CPU, else 127.0.0.1.
host_address() {
  if [ -n "$HOST_CPU" ]; then
    case $1 in
      router-*) echo "127.0.1.${1#router-}"; return ;;
      api-*) echo "127.0.2.${1#api-}"; return ;;
    esac
  fi
  echo 127.0.0.1
}
hosted() { [ -n "$HOST_CPU" ] && [ "$(host_address "$1")" != 127.0.0.1 ]; }
# One cgroup per instance, named after the stack directory so that two
# stacks on one machine do not share budgets.
cgroup_of() { echo "$CGROUP_CPU/chat-$(cksum <<<"$STATE" | cut -d' ' -f1)-$1"; }
cgroups_usable() { [ "$(id -u)" = 0 ] && [ -w "$CGROUP_CPU" ] && [ -e "$CGROUP_CPU/cpu.cfs_quota_us" ]; }

check_host_cpu() {
  [ -n "$HOST_CPU" ] || return 0
  awk -v c="$HOST_CPU" -v n="$(nproc)" 'BEGIN { exit !(c ~ /^[0-9]*\.?[0-9]+$/ && c > 0 && c <= n) }' ||
    die "CHAT_HOST_CPU must be a number of cores in (0, $(nproc)], not '$HOST_CPU'"
  cgroups_usable || echo "stack: CHAT_HOST_CPU=$HOST_CPU needs root and a cgroup v1 cpu controller at $CGROUP_CPU; instances run on their own addresses but without CPU budgets" >&2
}

# The prefix that starts NAME's command inside its host's cgroup (created
# with the budget), or nothing.
host_prefix() {
  hosted "$1" && cgroups_usable || return 0
  local dir period=100000
  dir=$(cgroup_of "$1")
  mkdir -p "$dir"
  echo "$period" >"$dir/cpu.cfs_period_us"
  awk -v c="$HOST_CPU" -v p="$period" 'BEGIN { printf "%d\n", c * p }' >"$dir/cpu.cfs_quota_us"
  printf '%s\n' sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$dir"
}
remove_host() {  # remove_host NAME: its cgroup, once its process is gone
  local dir
  dir=$(cgroup_of "$1")
  [ -d "$dir" ] && rmdir "$dir" 2>/dev/null || true
}

not_running() { ! running "$1"; }

# The Prometheus job (monitoring/prometheus.yml) that scrapes service NAME;
# none for the broker.
prometheus_job() {
  case $1 in
    api | api-*) echo chat-api ;;
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
  printf '[{"targets": ["%s:%s"], "labels": {"__chat_instance": "%s"}}]\n' \
    "$(host_address "$1")" "$(port_of "$1")" "$1" >"$file.tmp"
  mv "$file.tmp" "$file"  # atomically: Prometheus never reads half a file
}
remove_target() { rm -f "$PROM_DIR"/targets/*/"$1.json"; }

await_ready() {  # await_ready NAME: until its /health/ready passes, then scrape it
  if ! wait_for "$READY_TIMEOUT" "$1" ready "$1"; then
    stop "$1"  # or its supervisor would keep restarting it
    die "$1 not ready after ${READY_TIMEOUT}s; see $(log_of "$1")"
  fi
  add_target "$1"
}

# How many "listening" events NAME's log holds: a restarted service has
# logged its new port once there is one more.
listening_count() {
  grep -c '"event":"[a-z]*_listening"' "$(log_of "$1")" 2>/dev/null || true
}

# supervise NAME COMMAND...: runs COMMAND, and again whenever it exits, until
# SIGTERM (stop_supervisor), which leaves the running service to `stop`.
# Runs in the background, with no stdin/stdout of the caller's (a
# `$(stack.sh ...)` would wait for it otherwise).
supervise() {
  local name=$1 child pause='' stopping='' restarts=0 backoff=$BACKOFF_MIN_S
  local started rc seen deadline
  shift
  set +e  # a supervisor must not die of one failed command
  trap 'stopping=1; [ -z "$pause" ] || kill "$pause" 2>/dev/null' TERM
  # Sleeps that SIGTERM cuts short (a builtin `read -t` would not be).
  nap() {
    sleep "$1" & pause=$!
    [ -z "$stopping" ] || kill "$pause" 2>/dev/null
    wait "$pause"
    pause=
  }
  while [ -z "$stopping" ]; do
    seen=$(listening_count "$name")
    started=$SECONDS
    "$@" >>"$(log_of "$name")" 2>&1 </dev/null &
    child=$!
    echo "$child" >"$SUPERVISORS/$name.pid.tmp"
    mv -f "$SUPERVISORS/$name.pid.tmp" "$STATE/pids/$name"
    if [ "$restarts" -gt 0 ]; then
      # On a free port (port 0) it comes back on another one: point
      # Prometheus at it once it logged it.
      deadline=$((SECONDS + READY_TIMEOUT))
      while [ -z "$stopping" ] && running "$child" && [ $SECONDS -lt $deadline ] &&
        [ "$(listening_count "$name")" -le "$seen" ]; do
        nap 0.2
      done
      [ -z "$stopping" ] && running "$child" && add_target "$name"
    fi
    rc=0
    [ -n "$stopping" ] || wait "$child" || rc=$?
    [ -z "$stopping" ] || break
    [ $((SECONDS - started)) -lt "$BACKOFF_RESET_S" ] || backoff=$BACKOFF_MIN_S
    restarts=$((restarts + 1))
    echo "$restarts" >"$SUPERVISORS/$name.restarts"
    printf '{"ts":"%s","level":"warn","service":"stack","event":"service_restarted","name":"%s","exit_code":%d,"restarts":%d,"backoff_s":%d}\n' \
      "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$name" "$rc" "$restarts" "$backoff" \
      >>"$(log_of supervisor)"
    nap "$backoff"
    backoff=$((backoff * 2))
    [ "$backoff" -le "$BACKOFF_MAX_S" ] || backoff=$BACKOFF_MAX_S
  done
}

start() {  # start NAME COMMAND...: under a supervisor
  local name=$1
  shift
  mkdir -p "$SUPERVISORS"
  rm -f "$STATE/pids/$name" "$SUPERVISORS/$name.restarts"
  supervise "$name" "$@" </dev/null >/dev/null 2>>"$SUPERVISORS/$name.stderr" &
  echo $! >"$SUPERVISORS/$name.pid"
  wait_for 10 "$name" test -s "$STATE/pids/$name" ||
    die "$name: its supervisor did not start it; see $SUPERVISORS/$name.stderr"
}

start_once() {  # start_once NAME COMMAND...: no supervisor, never restarted
  local name=$1
  shift
  "$@" >>"$(log_of "$name")" 2>&1 </dev/null &
  echo $! >"$STATE/pids/$name"
}

supervisor_of() { cat "$SUPERVISORS/$1.pid" 2>/dev/null || true; }
supervised() { local pid; pid=$(supervisor_of "$1"); [ -n "$pid" ] && running "$pid"; }
restarts_of() { cat "$SUPERVISORS/$1.restarts" 2>/dev/null || true; }

# stop_supervisor NAME: from now on NAME is not restarted; the service, if it
# runs, keeps running (stop stops it).
stop_supervisor() {
  local pid
  pid=$(supervisor_of "$1")
  if [ -n "$pid" ] && running "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_for 5 "$1's supervisor to stop" not_running "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      wait_for 5 "$1's supervisor to die" not_running "$pid" || true
    fi
  fi
  rm -f "$SUPERVISORS/$1.pid" "$SUPERVISORS/$1.pid.tmp" "$SUPERVISORS/$1.restarts"
}

stop() {  # stop NAME: its supervisor, then SIGTERM, then SIGKILL after 15 s
  local name=$1 pid
  stop_supervisor "$name"
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
  remove_host "$name"
}

routers() { ls "$STATE/pids" 2>/dev/null | grep '^router-' | sort -t- -k2 -n || true; }
apis() { ls "$STATE/pids" 2>/dev/null | grep '^api-' | sort -t- -k2 -n || true; }

start_api() {  # start_api NAME PORT
  local prefix
  mapfile -t prefix < <(host_prefix "$1")
  # Demo users (user_a/pass_a, user_b/pass_b) explicitly: the clients'
  # scripts log in as them, and the binary does not create them by default.
  CHAT_STORE_URL=$(store_url) start "$1" "${prefix[@]}" "$BIN/chat-api" --brokers "$(cat "$STATE/broker.address")" \
    --data-dir "$STATE/data" --port "$2" --bind "$(host_address "$1")" \
    --password-iterations "${CHAT_PASSWORD_ITERATIONS:-600000}" \
    --demo-users true
}

start_router() {  # start_router K
  local k=$1 port=0 prefix
  [ "$k" = 1 ] && port=${CHAT_ROUTER_PORT:-8082}
  mapfile -t prefix < <(host_prefix "router-$k")
  CHAT_STORE_URL=$(store_url) start "router-$k" "${prefix[@]}" "$BIN/chat-router" --brokers "$(cat "$STATE/broker.address")" \
    --data-dir "$STATE/data" --metrics-port "$port" --instance "router-$k" \
    --bind "$(host_address "router-$k")" \
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

# PostgreSQL (CHAT_STORE=postgres): a cluster of the stack's own, not a
# service under a supervisor: its postmaster restarts its own backends, and
# pg_ctl knows its pid (postgres/data/postmaster.pid).
pg_bindir() {
  local dir=${CHAT_PG_BINDIR:-}
  [ -n "$dir" ] || dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -x "$dir/pg_ctl" ] || die "no PostgreSQL server binaries (install postgresql, or set CHAT_PG_BINDIR)"
  echo "$dir"
}
# as_pg COMMAND...: as the `postgres` user when root (PostgreSQL refuses
# root), as ourselves otherwise.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
pg_port() { cat "$PG_DIR/port" 2>/dev/null || true; }
pg_running() {
  [ -s "$PG_DIR/data/postmaster.pid" ] && running "$(head -1 "$PG_DIR/data/postmaster.pid")"
}
pg_url() {  # pg_url DATABASE
  echo "postgresql://chat:$(cat "$PG_DIR/password")@127.0.0.1:$(pg_port)/$1"
}

start_postgres() {
  local bin port
  bin=$(pg_bindir)
  port=${CHAT_PG_PORT:-$(free_port)}
  mkdir -p "$PG_DIR"
  if [ "$(id -u)" = 0 ]; then
    # The server runs as postgres: it must reach its directory through ours.
    getent passwd postgres >/dev/null || die "running as root and there is no postgres user to run PostgreSQL as"
    chmod o+x "$STATE"
    chown postgres: "$PG_DIR"
  fi
  chmod 700 "$PG_DIR"
  if [ ! -s "$PG_DIR/data/PG_VERSION" ]; then
    # The password is only ever written to 0600 files and the services'
    # environment, never a command line.
    (umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$PG_DIR/password")
    install -m 600 "$PG_DIR/password" "$PG_DIR/pwfile"
    [ "$(id -u)" != 0 ] || chown postgres: "$PG_DIR/pwfile"  # initdb reads it
    as_pg "$bin/initdb" -D "$PG_DIR/data" -U chat --pwfile="$PG_DIR/pwfile" \
      --auth-host=scram-sha-256 --auth-local=peer --encoding=UTF8 --locale=C \
      >"$(log_of postgres-initdb)" 2>&1 || die "initdb failed; see $(log_of postgres-initdb)"
    rm -f "$PG_DIR/pwfile"
  fi
  echo "$port" >"$PG_DIR/port"
  as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$PG_DIR" \
    start >>"$(log_of postgres)" 2>&1 ||
    die "PostgreSQL did not start on port $port; see $PG_DIR/server.log"
  if [ -z "$(PGPASSWORD=$(cat "$PG_DIR/password") psql -h 127.0.0.1 -p "$port" -U chat -d postgres -Atqc \
    "SELECT 1 FROM pg_database WHERE datname = 'chat'")" ]; then
    PGPASSWORD=$(cat "$PG_DIR/password") psql -h 127.0.0.1 -p "$port" -U chat -d postgres -qc \
      'CREATE DATABASE chat' >>"$(log_of postgres)" 2>&1 || die "cannot create the chat database; see $(log_of postgres)"
  fi
}

stop_postgres() {
  pg_running || return 0
  as_pg "$(pg_bindir)/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 60 stop >>"$(log_of postgres)" 2>&1 ||
    echo "stack: PostgreSQL did not stop; see $PG_DIR/server.log" >&2
}

# The store the services use, in $STATE/store-url (0600: a PostgreSQL URL
# holds the password); `stack.sh store-url` prints it.
choose_store() {
  local url
  case ${CHAT_STORE:-sqlite} in
    sqlite) url=${CHAT_STORE_URL:-$STATE/data/chat.db} ;;
    postgres) start_postgres; url=$(pg_url chat) ;;
    *) die "CHAT_STORE must be sqlite or postgres, not ${CHAT_STORE}" ;;
  esac
  (umask 077 && echo "$url" >"$STATE/store-url")
}
store_url() { cat "$STATE/store-url" 2>/dev/null || echo "$STATE/data/chat.db"; }

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
  { alive broker || alive prometheus || pg_running; } && die "already running (scripts/stack.sh down first)"
  check_host_cpu
  mkdir -p "$STATE"
  echo "$HOST_CPU" >"$STATE/host-cpu"
  mkdir -p "$STATE/pids" "$STATE/logs" "$STATE/data" "$SUPERVISORS"
  trap 'echo "stack: interrupted, stopping what was started" >&2; STARTING=; down; exit 130' INT TERM
  STARTING=1
  rm -f "$STATE/broker.address"
  rm -rf "$PROM_DIR/targets"  # a crashed run's targets are gone
  start_prometheus  # first: a taken port fails before anything else runs
  choose_store
  start_once broker "$BIN/chat-broker" --address-file "$STATE/broker.address"
  wait_for 30 broker test -s "$STATE/broker.address" ||
    die "broker did not start; see $(log_of broker)"
  start_api api "${CHAT_API_PORT:-8080}"
  start_router 1
  start_platform
  start_connectors
  await_ready api
  STARTING=
  trap - INT TERM
  status
}

# Producers before consumers, everything before the broker: the API stops
# taking messages, the routers finish their batches, the connectors finish
# their deliveries (and commit them) while the platform still answers.
# The supervisors first, all of them, so nothing restarts meanwhile.
down() {
  local r c f a
  for f in "$SUPERVISORS"/*.pid; do
    [ -e "$f" ] && stop_supervisor "$(basename "$f" .pid)"
  done
  stop haproxy
  stop api
  for a in $(apis); do stop "$a"; done
  for r in $(routers); do stop "$r"; done
  for c in $CONNECTORS; do stop "$c"; done
  stop platform-sim
  stop broker
  stop_postgres
  stop prometheus
  echo "stack: stopped"
}

status() {
  local name port state restarts
  local apis_running
  apis_running=$(apis)
  if [ -n "$apis_running" ] || alive haproxy || supervised haproxy; then
    state="not ready"
    alive haproxy || state=restarting
    haproxy_ready && state="ready, $(haproxy_up_count) of $(wc -w <<<"$apis_running") APIs up"
    restarts=$(restarts_of haproxy)
    [ -z "$restarts" ] || state="restarted ${restarts}x, $state"
    printf '%-19s %-8s %s\n' haproxy "$(haproxy_port)" "$state"
  fi
  for name in broker api $apis_running $(routers) platform-sim $CONNECTORS; do
    [ "$name" != api ] || [ -z "$apis_running" ] || continue  # scaled
    if ! alive "$name"; then
      state=stopped
      supervised "$name" && state=restarting
    elif [ "$name" = broker ]; then
      state="running at $(cat "$STATE/broker.address" 2>/dev/null)"
    elif ready "$name"; then
      state=ready
    else
      state="not ready"
    fi
    restarts=$(restarts_of "$name")
    [ -z "$restarts" ] || state="restarted ${restarts}x, $state"
    port=$(port_of "$name")
    hosted "$name" && state="$state (host $(host_address "$name"))"
    printf '%-19s %-8s %s\n' "$name" "${port:--}" "$state"
  done
  if alive prometheus || supervised prometheus; then
    state="not ready"
    alive prometheus || state=restarting
    prometheus_ready && state="ready, http://127.0.0.1:$(prometheus_port)"
    restarts=$(restarts_of prometheus)
    [ -z "$restarts" ] || state="restarted ${restarts}x, $state"
    printf '%-19s %-8s %s\n' prometheus "$(prometheus_port)" "$state"
  fi
  if pg_running; then
    state="not ready"
    "$(pg_bindir)/pg_isready" -q -h 127.0.0.1 -p "$(pg_port)" && state="ready, database chat (stack.sh store-url)"
    printf '%-19s %-8s %s\n' postgres "$(pg_port)" "$state"
  fi
}

# ---- several APIs behind HAProxy ----

HAPROXY_DIR=$STATE/haproxy
haproxy_port() { cat "$HAPROXY_DIR/port" 2>/dev/null || true; }
haproxy_ready() {
  local port
  port=$(haproxy_port)
  [ -n "$port" ] && [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health/ready")" = 200 ]
}
# Servers HAProxy sees UP, from its stats socket ("show stat": CSV, field 18).
haproxy_up_count() {
  { echo "show stat" | python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1])
s.sendall(b"show stat\n"); data = b""
while chunk := s.recv(65536): data += chunk
print(sum(1 for l in data.decode().splitlines()
          if l.startswith("api,api-") and l.split(",")[17] == "UP"))' \
    "$HAPROXY_DIR/admin.sock" 2>/dev/null; } || echo "?"
}

api_port() {
  if [ -n "$(apis)" ] || alive haproxy; then haproxy_port; else port_of api; fi
}

# The port api-K listens on, chosen once: a restarted instance comes back
# where HAProxy expects it.
api_instance_port() {
  local file=$HAPROXY_DIR/$1.port
  [ -s "$file" ] || free_port >"$file"
  cat "$file"
}

write_haproxy_config() {  # write_haproxy_config PUBLIC_PORT N
  local k cfg=$HAPROXY_DIR/haproxy.cfg
  {
    cat <<CFG
# Generated by scripts/stack.sh scale-api; rewritten on every scale-api.
global
    stats socket $HAPROXY_DIR/admin.sock mode 600 level admin
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    retries 2
    option redispatch 1
    option http-server-close
frontend public
    bind 127.0.0.1:$1
    default_backend api
backend api
    balance leastconn
    option httpchk GET /health/ready
    http-check expect status 200
    default-server inter 500ms fastinter 250ms downinter 500ms fall 2 rise 2 observe layer4 error-limit 1 on-error mark-down
CFG
    for ((k = 1; k <= $2; k++)); do
      echo "    server api-$k $(host_address "api-$k"):$(api_instance_port "api-$k") check"
    done
  } >"$cfg.tmp"
  mv "$cfg.tmp" "$cfg"
}

scale_api() {
  local want=$1 k a public
  [[ $want =~ ^[0-9]+$ ]] && [ "$want" -ge 1 ] || die "scale-api needs a count >= 1"
  alive broker || die "the stack is not running"
  command -v haproxy >/dev/null || die "no haproxy (run scripts/setup.sh)"
  mkdir -p "$HAPROXY_DIR"
  public=$(haproxy_port)
  if [ -z "$public" ]; then
    # First scale-api: the single API gives its public port to HAProxy.
    public=$(port_of api)
    [ -n "$public" ] || public=${CHAT_API_PORT:-8080}
    [ "$public" != 0 ] || public=$(free_port)
  fi
  for ((k = 1; k <= want; k++)); do
    alive "api-$k" || supervised "api-$k" || {
      start_api "api-$k" "$(api_instance_port "api-$k")"
      await_ready "api-$k"
    }
  done
  write_haproxy_config "$public" "$want"
  if alive haproxy; then
    kill -USR2 "$(pid_of haproxy)"  # master-worker: reload the new config
  else
    stop api  # frees the public port for HAProxy
    echo "$public" >"$HAPROXY_DIR/port"
    start haproxy haproxy -W -db -f "$HAPROXY_DIR/haproxy.cfg"
  fi
  wait_for "$READY_TIMEOUT" "haproxy" haproxy_serves "$want" ||
    die "haproxy does not route to $want APIs on port $public; see $(log_of haproxy)"
  for a in $(apis); do
    [ "${a#api-}" -le "$want" ] || stop "$a"
  done
  status
}

haproxy_serves() { haproxy_ready && [ "$(haproxy_up_count)" = "$1" ]; }

scale_router() {
  local want=$1 k r
  [[ $want =~ ^[0-9]+$ ]] && [ "$want" -ge 1 ] || die "scale-router needs a count >= 1"
  alive broker || die "the stack is not running"
  # By number: router-1..N run afterwards, whichever kill-router took out.
  for ((k = 1; k <= want; k++)); do
    alive "router-$k" || supervised "router-$k" || start_router "$k"
  done
  for r in $(routers); do
    [ "${r#router-}" -le "$want" ] || stop "$r"
  done
  status
}

kill_router() {
  local k=$1
  alive "router-$k" || die "router-$k is not running"
  local pid
  # Not restarted: the experiments measure the others taking over.
  stop_supervisor "router-$k"
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
  scale-api) scale_api "${2:-}" ;;
  api-port) api_port ;;
  store-url) store_url ;;
  logs) if [ -n "${2:-}" ]; then tail -F "$(log_of "$2")"; else tail -F "$STATE"/logs/*.log; fi ;;
  *) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0"; exit 2 ;;  # the header
esac
