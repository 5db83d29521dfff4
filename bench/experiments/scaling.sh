#!/usr/bin/env bash
# Horizontal scaling of the chat routers, measured (issue 9):
#
# 1. drain: a backlog of COUNT messages is written to `messages` with the
#    routers stopped (chat-backlog; the API stays out of the way), then 1 or
#    2 routers start together and the store is polled until it holds them
#    all. Throughput = the middle 90% of the backlog / the time it took
#    (start-up and tail excluded). Per-process CPU from /proc and the
#    routers' store-lock wait are recorded to name the limit.
# 2. ownership: 2 routers under a steady stream (RATE/s for SECONDS);
#    one is stopped (SIGTERM) a third of the way in and restarted at two
#    thirds. Partitions owned and messages processed per router are sampled
#    from their /metrics every 0.5 s, and every confirmed message id is
#    checked in SQL to be stored exactly once.
#
#   bench/experiments/scaling.sh [OUT_DIR]   (default docs/results/scaling)
#
# Environment: COUNT (default 400000) and DRAIN_PARTITIONS (48): the
# development broker keeps only the newest few MB of each partition, so a
# big backlog on few partitions loses its head (ADR 0004: 200,000 on 6 lost
# a third, 400,000 on 24 lost 1.4%); 48 partitions hold 400,000 (~2 MB
# each), enough for a drain of seconds rather than a fraction of one. REPEAT (3), RATE (1000), LOAD_SECONDS (36),
# CHAT_BIN_DIR (build/release/chat-services), CHAT_BACKLOG
# (build/release/bench/experiments/chat-backlog), KEEP_WORK=1 keeps the
# services' logs and stores in the /tmp work directory.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/docs/results/scaling}
BIN=${CHAT_BIN_DIR:-$ROOT/build/release/chat-services}
BACKLOG=${CHAT_BACKLOG:-$ROOT/build/release/bench/experiments/chat-backlog}
COUNT=${COUNT:-400000}
DRAIN_PARTITIONS=${DRAIN_PARTITIONS:-48}
REPEAT=${REPEAT:-3}
RATE=${RATE:-1000}
SECONDS_OF_LOAD=${LOAD_SECONDS:-36}
SESSION_MS=${CHAT_ROUTER_SESSION_TIMEOUT_MS:-3000}
TICK=$(getconf CLK_TCK)

for tool in "$BIN/chat-broker" "$BIN/chat-router" "$BACKLOG"; do
  [ -x "$tool" ] || { echo "scaling: $tool missing (build the release preset)" >&2; exit 1; }
done
command -v sqlite3 >/dev/null || { echo "scaling: needs sqlite3 (scripts/setup.sh)" >&2; exit 1; }
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/chat-scaling-XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'log "failed at line $LINENO"' ERR

log() { echo "scaling: $*" >&2; }
now() { date +%s.%N; }
# CPU seconds (user + system) a process has used so far.
cpu_of() { awk -v t="$TICK" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo 0; }
port_of() { grep -ho '"event":"endpoint_listening"[^}]*"port":[0-9]*' "$1" | tail -1 | sed 's/.*"port"://'; }
STORE_SQL=$ROOT/bench/load/store-sql
count_of() { "$STORE_SQL" "$1/chat.db" 'SELECT count(*) FROM messages' 2>/dev/null || echo 0; }
# Messages stored so far in a fresh store, cheaply: seq is the rowid, so
# max(seq) is one B-tree descent where count(*) scans the table (polled
# every 50 ms, the scan took CPU from the routers being measured).
stored_of() { "$STORE_SQL" "$1/chat.db" 'SELECT coalesce(max(seq), 0) FROM messages' 2>/dev/null || echo 0; }
# The sum of a metric's series on a router (0 when absent).
metric() {
  { curl -s "http://127.0.0.1:$1/metrics" || true; } |
    awk -v n="$2" -v f="${3:-}" '{ split($1, a, "{") } a[1] == n && index($1, f) { s += $NF } END { printf "%.6g", s + 0 }'
}

start_broker() {  # start_broker DIR [chat-broker args...]
  local dir=$1
  shift
  rm -f "$dir/addr"
  "$BIN/chat-broker" --address-file "$dir/addr" "$@" >>"$dir/broker.log" 2>&1 &
  PIDS+=($!)
  BROKER_PID=$!
  local i
  for i in $(seq 300); do [ -s "$dir/addr" ] && break; sleep 0.1; done
  BROKERS=$(head -1 "$dir/addr")
}

STARTS=0
# start_router DIR K: sets ROUTER_PID and ROUTER_LOG (a fresh log per start,
# so a restarted router's port is never confused with its predecessor's).
start_router() {
  STARTS=$((STARTS + 1))
  ROUTER_LOG="$1/router-$2-$STARTS.log"
  "$BIN/chat-router" --brokers "$BROKERS" --data-dir "$1" --metrics-port 0 \
    --instance "router-$2" --session-timeout-ms "$SESSION_MS" \
    --lag-interval-ms 500 >>"$ROUTER_LOG" 2>&1 &
  ROUTER_PID=$!
  PIDS+=($ROUTER_PID)
}

wait_port() {  # wait_port LOG: prints the port once logged
  local i port
  for i in $(seq 300); do
    port=$(port_of "$1" 2>/dev/null || true)
    [ -n "$port" ] && { echo "$port"; return; }
    sleep 0.1
  done
  log "no port in $1"; return 1
}

stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  PIDS=()
}

# One drain with $1 routers; appends a JSON line to $OUT/drain.jsonl.
drain() {
  local n=$1 run=$2 dir="$WORK/drain-$1-$2" k
  mkdir -p "$dir"
  start_broker "$dir" --partitions "$DRAIN_PARTITIONS"
  "$BACKLOG" --brokers "$BROKERS" --count "$COUNT" --prefix "d$n$run" 2>>"$dir/backlog.log"
  local pids=() ports=()
  local logs=()
  for k in $(seq "$n"); do
    start_router "$dir" "$k"; pids+=("$ROUTER_PID"); logs+=("$ROUTER_LOG")
  done
  for k in "${!logs[@]}"; do ports+=("$(wait_port "${logs[$k]}")"); done
  local lo=$((COUNT / 20)) hi=$((COUNT - COUNT / 20)) c=0 t_lo="" t_hi="" t_first=""
  local cpu_lo=() cpu_hi=() broker_lo broker_hi deadline=$((SECONDS + 600))
  # The development broker may drop a backlog's oldest messages without a
  # word (ADR 0004), so the drain also ends once the store has not grown for
  # 3 s after the 95% mark; what never arrived is reported as lost_by_broker.
  local last=-1 still_since=$SECONDS
  while [ "$c" -lt "$COUNT" ] && [ $SECONDS -lt $deadline ]; do
    c=$(stored_of "$dir")
    if [ "$c" != "$last" ]; then last=$c still_since=$SECONDS; fi
    [ -n "$t_hi" ] && [ $((SECONDS - still_since)) -ge 3 ] && break
    if [ -z "$t_first" ] && [ "$c" -gt 0 ]; then t_first=$(now); fi
    if [ -z "$t_lo" ] && [ "$c" -ge "$lo" ]; then
      t_lo=$(now); broker_lo=$(cpu_of "$BROKER_PID")
      for k in "${!pids[@]}"; do cpu_lo[$k]=$(cpu_of "${pids[$k]}"); done
    fi
    if [ -z "$t_hi" ] && [ "$c" -ge "$hi" ]; then
      t_hi=$(now); broker_hi=$(cpu_of "$BROKER_PID")
      for k in "${!pids[@]}"; do cpu_hi[$k]=$(cpu_of "${pids[$k]}"); done
    fi
    sleep 0.05
  done
  local t_done wait_sum=0 wait_count=0 routers_json="" stored_total
  t_done=$(now)
  [ -n "$t_hi" ] || { log "drain with $n router(s) did not reach 95%"; return 1; }
  # count(*), not seq numbers: those also count inserts ignored as duplicates.
  stored_total=$(count_of "$dir")
  for k in "${!ports[@]}"; do
    local ws wc st
    ws=$(metric "${ports[$k]}" chat_store_lock_wait_seconds_sum)
    wc=$(metric "${ports[$k]}" chat_store_lock_wait_seconds_count)
    st=$(metric "${ports[$k]}" chat_messages_processed_total stored)
    wait_sum=$(echo "$wait_sum + $ws" | bc -l); wait_count=$(echo "$wait_count + $wc" | bc -l)
    routers_json+="${routers_json:+,}{\"stored\":$st,\"cpu_s\":$(printf '%.2f' "$(echo "${cpu_hi[$k]} - ${cpu_lo[$k]}" | bc -l)"),\"lock_wait_s\":$ws,\"batches\":$wc}"
  done
  stop_all
  local secs
  secs=$(echo "$t_hi - $t_lo" | bc -l)
  printf '{"routers":%d,"run":%d,"count":%d,"lost_by_broker":%d,"steady_seconds":%.3f,"throughput":%.0f,"drain_seconds":%.3f,"broker_cpu_s":%.2f,"router":[%s],"lock_wait_s":%.3f,"write_transactions":%d}\n' \
    "$n" "$run" "$COUNT" "$((COUNT - stored_total))" "$secs" "$(echo "($hi - $lo) / $secs" | bc -l)" \
    "$(echo "$t_done - $t_first" | bc -l)" "$(echo "$broker_hi - $broker_lo" | bc -l)" \
    "$routers_json" "$wait_sum" "$wait_count" | tee -a "$OUT/drain.jsonl" >&2
}

# Two routers under a steady stream, scaled 2 -> 1 -> 2.
ownership() {
  local dir="$WORK/ownership" total=$((RATE * SECONDS_OF_LOAD))
  mkdir -p "$dir"
  start_broker "$dir"
  start_router "$dir" 1; local log1=$ROUTER_LOG
  start_router "$dir" 2; local r2=$ROUTER_PID log2=$ROUTER_LOG
  local p1 p2
  p1=$(wait_port "$log1"); p2=$(wait_port "$log2")
  for _ in $(seq 300); do
    # 12 partitions: `messages` and `status-updates`, 6 each.
    [ "$(metric "$p1" chat_router_assigned_partitions)" = 6 ] &&
      [ "$(metric "$p2" chat_router_assigned_partitions)" = 6 ] && break
    sleep 0.1
  done
  "$BACKLOG" --brokers "$BROKERS" --count "$total" --rate "$RATE" --prefix own \
    --ids-file "$dir/ids.txt" 2>>"$dir/backlog.log" &
  local producer=$! start=$SECONDS phase=2
  echo "t_s,router,assigned_partitions,processed_total,routers_running" >"$OUT/ownership.csv"
  local t0
  t0=$(now)
  while kill -0 "$producer" 2>/dev/null || [ "$(count_of "$dir")" -lt "$total" ]; do
    local t elapsed=$((SECONDS - start))
    t=$(echo "$(now) - $t0" | bc -l)
    if [ "$phase" = 2 ] && [ $elapsed -ge $((SECONDS_OF_LOAD / 3)) ]; then
      log "stopping router-2 (SIGTERM) at ${elapsed}s"; kill -TERM "$r2"; phase=1
    elif [ "$phase" = 1 ] && [ $elapsed -ge $((2 * SECONDS_OF_LOAD / 3)) ]; then
      log "starting router-2 again at ${elapsed}s"
      start_router "$dir" 2; r2=$ROUTER_PID; p2=$(wait_port "$ROUTER_LOG"); phase=3
    fi
    local running=1
    kill -0 "$r2" 2>/dev/null && running=2
    printf '%.2f,router-1,%s,%s,%d\n' "$t" "$(metric "$p1" chat_router_assigned_partitions)" \
      "$(metric "$p1" chat_messages_processed_total)" "$running" >>"$OUT/ownership.csv"
    if [ $running = 2 ]; then
      printf '%.2f,router-2,%s,%s,%d\n' "$t" "$(metric "$p2" chat_router_assigned_partitions)" \
        "$(metric "$p2" chat_messages_processed_total)" "$running" >>"$OUT/ownership.csv"
    fi
    [ $((SECONDS - start)) -lt $((SECONDS_OF_LOAD + 120)) ] || { log "ownership run timed out"; break; }
    sleep 0.5
  done
  wait "$producer"
  local dups1 dups2 check
  dups1=$(metric "$p1" chat_messages_processed_total duplicate)
  dups2=$(metric "$p2" chat_messages_processed_total duplicate)
  grep -h '"partitions_\(assigned\|revoked\)"' "$dir"/router-*.log >"$OUT/ownership-rebalances.log" || true
  stop_all
  "$ROOT/bench/load/check-zero-loss" --store-url "$dir/chat.db" --json "$dir/zero-loss.json" \
    "$dir/ids.txt" >&2 || true
  check=$(python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
print(r["accepted"], r["missing"], r["duplicated_in_store"], sep=",")' "$dir/zero-loss.json")
  IFS=, read -r confirmed missing duplicated <<<"$check"
  printf '{"rate":%d,"seconds":%d,"confirmed":%d,"missing":%d,"duplicated_in_store":%d,"redelivered_router1_final":%s,"redelivered_router2_restarted":%s}\n' \
    "$RATE" "$SECONDS_OF_LOAD" "$confirmed" "$missing" "$duplicated" "$dups1" "$dups2" |
    tee "$OUT/ownership-summary.json" >&2
}

machine() {
  printf '{"date":"%s","nproc":%s,"loadavg_before":"%s","cpu":"%s","bin":"%s"}\n' \
    "$(date -u +%FT%TZ)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" "$BIN"
}

machine >"$OUT/machine.json"
rm -f "$OUT/drain.jsonl"
for run in $(seq "$REPEAT"); do
  for n in 1 2; do
    log "drain: $COUNT messages, $n router(s), run $run/$REPEAT"
    drain "$n" "$run"
  done
done
log "ownership: 2 -> 1 -> 2 routers under $RATE msg/s for ${SECONDS_OF_LOAD}s"
ownership
python3 "$ROOT/bench/experiments/scaling_report.py" "$OUT"
