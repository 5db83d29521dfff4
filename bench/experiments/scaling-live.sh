#!/usr/bin/env bash
# Router scaling through the API, on the whole stack (issue 9, the live
# variant of scaling.sh): scripts/stack.sh up (broker, API, routers,
# platform-sim, connectors, Prometheus), chat-load as the client, and
# per-router series pulled from Prometheus.
#
# A. saturation, 1 vs 2 routers: chat-load's baseline scenario as a closed
#    model (64 VUs, no think time) for LIVE_SECONDS with 1 router, then
#    `stack.sh scale-router 2`, once both routers own their share of the
#    partitions the same run again. Accepted/s from chat-load's summary;
#    from Prometheus over each run's window: stored/s per router, CPU per
#    process, end-to-end latency p99. Every accepted id is checked to be
#    stored once (check-zero-loss), which also waits for the routers to
#    drain before the next run.
# B. 2 -> 1 -> 2 under load: an open-model run at RATE/s for SCALE_SECONDS
#    with 2 routers; `stack.sh scale-router 1` (SIGTERM of router-2) a third
#    of the way in, `stack.sh scale-router 2` at two thirds; then the
#    zero-loss check and the routers' rebalance log lines.
#
# For every run, Prometheus range queries (step 2 s) of each router's
# chat_router_assigned_partitions, stored rate, `messages` partitions with
# traffic and every service's CPU go to prometheus.csv (t_s, run, instance,
# series, value); part A's per-run figures to live.jsonl; the rebalance log
# lines to scale-rebalances.log (part B) and rebalances.log (all).
# scaling_live_report.py turns it all into report.md and PNG charts.
#
#   bench/experiments/scaling-live.sh [OUT_DIR]  (default docs/results/scaling/live)
#
# Environment: LIVE_SECONDS (part A, each run, default 30), VUS (64),
# RATE (part B, default 1000/s: well below saturation), SCALE_SECONDS (45),
# CHAT_BIN_DIR (build/release/chat-services), CHAT_LOAD
# (build/release/bench/load/chat-load), CHAT_PASSWORD_ITERATIONS (default
# 1000 here: logins are not what is measured), KEEP_WORK=1 keeps the stack
# directory (logs, store, Prometheus data, chat-load's raw files).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/docs/results/scaling/live}
BIN=${CHAT_BIN_DIR:-$ROOT/build/release/chat-services}
LOAD=${CHAT_LOAD:-$ROOT/build/release/bench/load/chat-load}
LIVE_SECONDS=${LIVE_SECONDS:-30}
VUS=${VUS:-64}
RATE=${RATE:-1000}
SCALE_SECONDS=${SCALE_SECONDS:-45}
STACK=$ROOT/scripts/stack.sh
# Rate window for the per-router series: three scrapes at the 5 s interval
# of monitoring/prometheus.yml, so every step has at least two samples.
RATE_WINDOW=15s
# 12 partitions: `messages` and `status-updates`, 6 each (a group per topic).
PARTITIONS=12

log() { echo "scaling-live: $*" >&2; }
for tool in "$BIN/chat-broker" "$BIN/chat-api" "$BIN/chat-router" \
  "$BIN/chat-platform-sim" "$BIN/chat-connector" "$LOAD"; do
  [ -x "$tool" ] || { log "$tool missing (build the release preset)"; exit 1; }
done
command -v prometheus >/dev/null || { log "needs prometheus (scripts/setup.sh)"; exit 1; }
command -v python3 >/dev/null || { log "needs python3 (scripts/setup.sh)"; exit 1; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

export CHAT_STACK_DIR
CHAT_STACK_DIR=$(mktemp -d /tmp/chat-scaling-live-XXXXXX)
export CHAT_BIN_DIR=$BIN CHAT_API_PORT=0 CHAT_ROUTER_PORT=0 CHAT_PLATFORM_PORT=0 \
  CHAT_CONNECTOR_WHATSAPP_PORT=0 CHAT_CONNECTOR_INSTAGRAM_PORT=0 \
  CHAT_PROMETHEUS_PORT=0 CHAT_PASSWORD_ITERATIONS=${CHAT_PASSWORD_ITERATIONS:-1000}
RAW=$CHAT_STACK_DIR/load
mkdir -p "$RAW"
LOAD_PID=""
cleanup() {
  if [ -n "$LOAD_PID" ]; then kill -TERM "$LOAD_PID" 2>/dev/null || true; wait "$LOAD_PID" 2>/dev/null || true; fi
  "$STACK" down >/dev/null 2>&1 || true
  [ -n "${KEEP_WORK:-}" ] && log "kept $CHAT_STACK_DIR" || rm -rf "$CHAT_STACK_DIR"
}
trap cleanup EXIT
trap 'log "failed at line $LINENO"' ERR

now_ms() { date +%s%3N; }
port_of() {  # port_of NAME: the port the service logged last (stack.sh's logs)
  grep -ho '"event":"[a-z]*_listening"[^}]*"port":[0-9]*' \
    "$CHAT_STACK_DIR/logs/$1.log" 2>/dev/null | tail -1 | sed 's/.*"port"://' || true
}
PROM=""
# A router's gauge straight from its /metrics (empty when unreachable).
router_gauge() {
  { curl -s --max-time 2 "http://127.0.0.1:$(port_of "$1")/metrics" || true; } |
    awk -v n="$2" '$1 == n { print $NF }'
}

# prom instant QUERY [UNIX_S] | prom range RUN START_MS END_MS: the Prometheus
# HTTP API. `instant` prints "labels<TAB>value" per series (labels as
# instance/service); `range` appends the per-router series to prometheus.csv
# as t_s (from START_MS), run, instance, series, value.
prom() {
  python3 - "$PROM" "$OUT/prometheus.csv" "$RATE_WINDOW" "$@" <<'PY'
import csv, json, sys, urllib.parse, urllib.request
url, csv_path, window, mode, *args = sys.argv[1:]

def get(path, **params):
    q = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{url}/api/v1/{path}?{q}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        sys.exit(f"prometheus: {body}")
    return body["data"]["result"]

if mode == "instant":
    params = {"query": args[0]}
    if len(args) > 1:
        params["time"] = args[1]
    for s in get("query", **params):
        m = s["metric"]
        name = m.get("instance") or m.get("service") or "all"
        print(f"{name}\t{s['value'][1]}")
else:
    run, start_ms, end_ms = args[0], int(args[1]), int(args[2])
    series = {
        "assigned_partitions":
            'chat_router_assigned_partitions{service="chat-router"}',
        "stored_per_s":
            'sum by (instance) (rate(chat_messages_processed_total'
            f'{{service="chat-router",outcome="stored"}}[{window}]))',
        # Which router consumes `messages` (stores) and from how many of
        # its partitions: chat_router_assigned_partitions counts both topics.
        "messages_partitions_with_traffic":
            'count by (instance) (rate(chat_messages_consumed_total'
            f'{{service="chat-router",topic="messages"}}[{window}]) > 0)',
        "cpu_cores":
            'sum by (instance) (rate(process_cpu_seconds_total'
            f'{{service=~"chat-.*"}}[{window}]))',
    }
    with open(csv_path, "a", newline="") as f:
        out = csv.writer(f)
        for name, query in series.items():
            for s in get("query_range", query=query, start=start_ms / 1000,
                         end=end_ms / 1000 + 10, step=2):
                for t, v in s["values"]:
                    out.writerow([f"{float(t) - start_ms / 1000:.1f}", run,
                                  s["metric"].get("instance", "all"), name, v])
PY
}

# Polls COMMAND every 0.2 s until it succeeds or SECONDS pass.
wait_for() {  # wait_for SECONDS WHAT COMMAND...
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@"; do
    [ $SECONDS -lt $deadline ] || { log "timed out after $1 s waiting for $what"; return 1; }
    sleep 0.2
  done
}

# Both routers own their half of the partitions, and Prometheus scrapes both.
split_evenly() {
  [ "$(router_gauge router-1 chat_router_assigned_partitions)" = $((PARTITIONS / 2)) ] &&
    [ "$(router_gauge router-2 chat_router_assigned_partitions)" = $((PARTITIONS / 2)) ]
}
scraped() {  # scraped N: Prometheus has N router targets up
  [ "$(prom instant 'count(up{service="chat-router"} == 1)' | cut -f2)" = "$1" ]
}
# Prometheus has scraped every router after UNIX_S (so a window ending then
# is complete). settle END_MS: the rate window after a run's end has passed
# too, so the next run's series do not start with this one's tail.
scraped_after() {
  local oldest
  oldest=$(prom instant 'min(timestamp(chat_router_assigned_partitions{service="chat-router"}))' | cut -f2)
  [ -n "$oldest" ] && [ "$(echo "$oldest >= $1" | bc -l)" = 1 ]
}

settle() {
  wait_for 60 "the rate window after the last run to pass" \
    scraped_after $(($1 / 1000 + ${RATE_WINDOW%s} + 1))
}

# run_load NAME ARGS...: chat-load against the API; its summary, zero-loss
# result and log go to $OUT, its (large) id file stays in $RAW.
start_load() {
  local name=$1
  shift
  "$LOAD" --scenario baseline --name "$name" --port "$(port_of api)" \
    --out-dir "$RAW" --stack-dir "$CHAT_STACK_DIR" --progress plain \
    --progress-seconds 5 "$@" >"$OUT/$name.chat-load.log" 2>&1 &
  LOAD_PID=$!
}
finish_load() {  # finish_load NAME: waits for chat-load, checks zero loss
  local name=$1 rc=0
  wait "$LOAD_PID" || rc=$?
  LOAD_PID=""
  # 99: a latency threshold failed, which saturation is expected to do.
  [ $rc = 0 ] || [ $rc = 99 ] || { log "$name: chat-load failed ($rc), see $OUT/$name.chat-load.log"; return 1; }
  cp "$RAW/$name.summary.json" "$OUT/"
  log "$name: waiting until every accepted message is stored (check-zero-loss)"
  rc=0
  python3 "$ROOT/bench/load/check-zero-loss" --store-url "$("$STACK" store-url)" \
    --wait 60 --json "$OUT/$name.zero-loss.json" "$RAW/$name.ids" >&2 || rc=$?
  return $rc
}
window_of() {  # window_of NAME: "START_MS END_MS" of chat-load's run
  python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
start = s["chat_load"]["started_unix_ms"]
print(start, start + int(s["state"]["testRunDurationMs"]))' "$OUT/$1.summary.json"
}

# One saturation run with the routers running now; appends to live.jsonl.
saturation() {  # saturation ROUTERS
  local n=$1 name="saturation-$1" start end secs rc=0
  log "A: $n router(s), $VUS VUs without think time for ${LIVE_SECONDS}s"
  start_load "$name" --vus "$VUS" --think 0 --duration "$LIVE_SECONDS"
  finish_load "$name" || rc=$?
  read -r start end < <(window_of "$name")
  wait_for 30 "Prometheus to scrape past the run" scraped_after $((end / 1000 + 1))
  prom range "$name" "$start" "$end"
  LAST_END=$end
  secs=$(((end - start) / 1000))
  local at=$((end / 1000))
  local stored cpu p99 msgparts
  stored=$(prom instant "sum by (instance) (rate(chat_messages_processed_total{service=\"chat-router\",outcome=\"stored\"}[${secs}s]))" "$at")
  cpu=$(prom instant "sum by (instance) (rate(process_cpu_seconds_total{service=~\"chat-.*\"}[${secs}s]))" "$at")
  msgparts=$(prom instant "count by (instance) (increase(chat_messages_consumed_total{service=\"chat-router\",topic=\"messages\"}[${secs}s]) > 0)" "$at")
  p99=$(prom instant "histogram_quantile(0.99, sum by (le) (rate(chat_end_to_end_latency_seconds_bucket{service=\"chat-router\"}[${secs}s])))" "$at" | cut -f2)
  python3 - "$OUT/$name.summary.json" "$OUT/$name.zero-loss.json" "$n" \
    "$start" "$end" "$stored" "$cpu" "${p99:-NaN}" "$msgparts" <<'PY' | tee -a "$OUT/live.jsonl" >&2
import json, sys
summary_path, loss_path, n, start, end, stored, cpu, p99, parts = sys.argv[1:]
s = json.load(open(summary_path))
m = s["metrics"]
pairs = lambda text: {k: round(float(v), 3) for k, v in
                      (line.split("\t") for line in text.splitlines() if line)}
try:
    loss = json.load(open(loss_path))
except (OSError, ValueError):
    loss = None
p99 = float(p99)
print(json.dumps({
    "routers": int(n), "window_unix_ms": [int(start), int(end)],
    "seconds": round((int(end) - int(start)) / 1000, 1), "vus": s["chat_load"].get("base_vus"),
    "accepted": m["chat_messages_accepted"]["count"],
    "accepted_per_s": round(m["chat_messages_accepted"]["rate"], 1),
    "http_p99_ms": m["http_req_duration"].get("p(99)"),
    "error_rate": m["http_req_failed"]["value"],
    "stored_per_s": pairs(stored), "cpu_cores": pairs(cpu),
    "messages_partitions_with_traffic": {k: int(v) for k, v in pairs(parts).items()},
    # chat-load's /proc samples of the stack's pids: the broker too, which
    # Prometheus does not scrape.
    "proc_cpu_cores": {k: round(v["cpu_percent_avg"] / 100, 3) for k, v in
                       s["chat_load"].get("processes", {}).items()},
    "e2e_p99_ms": None if p99 != p99 else round(1000 * p99, 1),
    "zero_loss": loss}))
PY
  return $rc
}

machine() {
  printf '{"date":"%s","nproc":%s,"loadavg_before":"%s","cpu":"%s","bin":"%s"}\n' \
    "$(date -u +%FT%TZ)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" "$BIN"
}

machine >"$OUT/machine.json"
rm -f "$OUT/live.jsonl" "$OUT/scale-events.csv"
echo "t_s,run,instance,series,value" >"$OUT/prometheus.csv"
log "starting the stack in $CHAT_STACK_DIR"
"$STACK" up >/dev/null
PROM=http://127.0.0.1:$(cat "$CHAT_STACK_DIR/prometheus/port")
wait_for 30 "Prometheus to scrape router-1" scraped 1
status=0
LAST_END=$(now_ms)

saturation 1 || status=1
log "scale-router 2"
"$STACK" scale-router 2 >/dev/null
wait_for 60 "both routers to own $((PARTITIONS / 2)) partitions" split_evenly
wait_for 30 "Prometheus to scrape both routers" scraped 2
settle "$LAST_END"
saturation 2 || status=1

# B: 2 -> 1 -> 2 under a steady stream. The rebalance lines of this part are
# what the routers log after this point.
declare -A skip
for f in "$CHAT_STACK_DIR"/logs/router-*.log; do skip[$f]=$(wc -l <"$f"); done
log "B: $RATE msg/s for ${SCALE_SECONDS}s; 2 -> 1 router at 1/3, back to 2 at 2/3"
echo "unix_ms,event" >"$OUT/scale-events.csv"
settle "$LAST_END"
begin=$SECONDS
start_load scale --rate "$RATE" --duration "$SCALE_SECONDS"
phase=2
while kill -0 "$LOAD_PID" 2>/dev/null; do
  elapsed=$((SECONDS - begin))
  if [ $phase = 2 ] && [ $elapsed -ge $((SCALE_SECONDS / 3)) ]; then
    log "scale-router 1 (SIGTERM of router-2) at ${elapsed}s"
    echo "$(now_ms),scale_down_start" >>"$OUT/scale-events.csv"
    "$STACK" scale-router 1 >/dev/null
    echo "$(now_ms),scale_down_done" >>"$OUT/scale-events.csv"
    phase=1
  elif [ $phase = 1 ] && [ $elapsed -ge $((2 * SCALE_SECONDS / 3)) ]; then
    log "scale-router 2 at ${elapsed}s"
    echo "$(now_ms),scale_up_start" >>"$OUT/scale-events.csv"
    "$STACK" scale-router 2 >/dev/null
    echo "$(now_ms),scale_up_done" >>"$OUT/scale-events.csv"
    phase=3
  fi
  sleep 0.2
done
[ $phase = 3 ] || { log "B: chat-load ended before the scaling was done (phase $phase)"; status=1; }
finish_load scale || status=1
for f in "$CHAT_STACK_DIR"/logs/router-*.log; do
  tail -n +$((${skip[$f]:-0} + 1)) "$f" | grep '"partitions_\(assigned\|revoked\)"' || true
done >"$OUT/scale-rebalances.log"
grep -h '"partitions_\(assigned\|revoked\)"' "$CHAT_STACK_DIR"/logs/router-*.log >"$OUT/rebalances.log" || true
read -r start end < <(window_of scale)
wait_for 30 "Prometheus to scrape past the run" scraped_after $((end / 1000 + 1))
prom range scale "$start" "$end"

log "writing the report"
"$ROOT/bench/experiments/scaling_live_report.py" "$OUT"
log "report: $OUT/report.md"
exit $status
