#!/usr/bin/env bash
# The load study (bench/load): warmup, baseline, spike, file-upload (when
# the API has /v1/files) and a short stress against the stack, the
# zero-loss check, then reports with charts and SUMMARY.md.
#
#   scripts/load-study.sh              short scenarios (about 4 minutes)
#   scripts/load-study.sh --full       the issue's full lengths (~15 minutes)
#   scripts/load-study.sh --soak       also the 15-minute soak
#   scripts/load-study.sh --reference  the reference run: --full, then the
#       stress and a capacity run again with vigil's metrics compiled out
#       (VIGIL_DISABLE_METRICS) for the overhead comparison; results go to
#       docs/results/load (--short after it: the short lengths, for a try)
#   --results DIR   where results go (default results/load/<UTC time>)
#   --stop-stack    stop the stack at the end even if it was running before
#
# Uses the stack if it runs ($CHAT_STACK_DIR, default .stack), otherwise
# starts one and stops it at the end. Builds chat-load (release preset).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

full=0 soak=0 reference=0 stop_stack=0
results=results/load/$(date -u +%Y%m%dT%H%M%SZ)
while [ $# -gt 0 ]; do
  case "$1" in
    --full) full=1 ;;
    --soak) soak=1 ;;
    --reference) reference=1 full=1 results=docs/results/load ;;
    --short) full=0 ;;
    --results) results=$2; shift ;;
    --stop-stack) stop_stack=1 ;;
    *) sed -n '2,20p' "$0"; exit 2 ;;
  esac
  shift
done

export CHAT_STACK_DIR=${CHAT_STACK_DIR:-$ROOT/.stack}
BIN=${CHAT_BIN_DIR:-$ROOT/build/release/chat-services}
LOAD=$ROOT/build/release/bench/load/chat-load
# Raw results (id files are large) stay out of the reports directory.
OUT=results/load/raw-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT" "$results"
say() { echo "load-study: $*"; }

say "building chat-load and the services (release preset)"
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target chat-load chat-broker \
  chat-api chat-router chat-platform-sim chat-connector >/dev/null

api_port() {
  grep -ho '"event":"api_listening"[^}]*"port":[0-9]*' \
    "$CHAT_STACK_DIR/logs/api.log" 2>/dev/null | tail -1 | sed 's/.*"port"://'
}
started_stack=0
stack_up() {  # stack_up BIN_DIR
  CHAT_BIN_DIR=$1 scripts/stack.sh up >/dev/null
  started_stack=1
}
cleanup() {
  if [ "$started_stack" = 1 ] || [ "$stop_stack" = 1 ]; then
    scripts/stack.sh down >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
# (grep without -q reads all of it: pipefail would fail on a SIGPIPE)
if scripts/stack.sh status 2>/dev/null | grep '^api .*ready' >/dev/null; then
  say "using the running stack in $CHAT_STACK_DIR"
else
  say "starting the stack in $CHAT_STACK_DIR"
  stack_up "$BIN"
fi

prometheus_url() {
  local port
  port=$(cat "$CHAT_STACK_DIR/prometheus/port" 2>/dev/null || echo "${CHAT_PROMETHEUS_PORT:-9090}")
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/-/ready")" = 200 ]; then
    echo "http://127.0.0.1:$port"
  fi
}
router_metrics() {  # router_metrics FILE: a scrape of router-1, for e2e latency
  local port
  port=$(grep -ho '"event":"endpoint_listening"[^}]*"port":[0-9]*' \
    "$CHAT_STACK_DIR/logs/router-1.log" 2>/dev/null | tail -1 | sed 's/.*"port"://')
  [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/metrics" >"$1" || rm -f "$1"
}
has_files_api() {  # the route answers something other than 404 without a token
  [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$(api_port)/v1/files")" != 404 ]
}

# name scenario seconds extra-args...; the seconds feed the time-left line.
steps=()
plan() { steps+=("$*"); }
if [ "$full" = 1 ]; then
  plan warmup warmup 120
  plan baseline baseline 300
  plan spike spike 120
  has_files_api && plan file-upload file-upload 120
else
  plan warmup warmup 15
  plan baseline baseline 45
  plan spike spike 45
  has_files_api && plan file-upload file-upload 30
fi
[ "$soak" = 1 ] && plan soak soak 900
if [ "$reference" = 1 ]; then
  # Saturation throughput (closed model, no think time) three times per
  # build, and the stress once per build, in A B B A order so a drifting
  # machine does not favour one build; the analyzer reports the median of
  # the capacity pairs.
  long=90 capacity=20 step=10 rate=2000
  [ "$full" = 1 ] && long=300 capacity=40 step=15 rate=1200
  saturate="baseline $capacity --vus 64 --think 0"
  plan capacity-r1 $saturate @metrics
  plan capacity-no-metrics-r1 $saturate @nometrics
  plan capacity-no-metrics-r2 $saturate @nometrics
  plan capacity-r2 $saturate @metrics
  plan capacity-r3 $saturate @metrics
  plan capacity-no-metrics-r3 $saturate @nometrics
  plan stress-no-metrics stress $long --rate $rate --step-seconds $step @nometrics
  plan stress stress $long --rate $rate --step-seconds $step @metrics
elif [ "$full" = 1 ]; then
  plan stress stress 300 --step-seconds 15
else
  plan stress stress 60 --rate 1000 --step-seconds 10
fi
has_files_api || say "no /v1/files in this API yet: file-upload skipped"

left_seconds() {  # planned seconds of steps from index $1 on, plus overheads
  local total=0 i
  for ((i = $1; i < ${#steps[@]}; i++)); do
    set -- ${steps[$i]}
    total=$((total + $3 + 10))
  done
  echo $((total + 40))  # zero-loss check and the reports
}
clock() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# use_build metrics|nometrics: a fresh stack on that build. Every run of the
# comparison gets one: the development broker keeps every message in
# memory, and a stack that has taken earlier runs must not handicap one side.
use_build() {
  local bin=$BIN
  if [ "$1" = nometrics ]; then
    say "building the services with VIGIL_DISABLE_METRICS=ON (build/release-no-metrics)"
    cmake -S . -B build/release-no-metrics -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DVIGIL_DISABLE_METRICS=ON -DVIGIL_BUILD_TESTS=OFF \
      -DVIGIL_BUILD_EXAMPLES=OFF -DVIGIL_BUILD_BENCHMARKS=OFF >/dev/null
    cmake --build build/release-no-metrics -j "$(nproc)" --target chat-broker \
      chat-api chat-router chat-platform-sim chat-connector >/dev/null
    bin=$ROOT/build/release-no-metrics/chat-services
  fi
  say "a fresh stack on the $1 build"
  scripts/stack.sh down >/dev/null
  stack_up "$bin"
}

status=0
summaries=()
ids=()
for ((i = 0; i < ${#steps[@]}; i++)); do
  set -- ${steps[$i]}
  name=$1 scenario=$2 seconds=$3
  shift 3
  args=()
  for a in "$@"; do
    case "$a" in
      @nometrics) use_build nometrics ;;
      @metrics) use_build metrics ;;
      *) args+=("$a") ;;
    esac
  done
  say "[$((i + 1))/${#steps[@]}] $name ($(clock "$seconds")); about $(clock "$(left_seconds "$i")") left"
  rc=0
  router_metrics "$OUT/$name.router-before.prom"
  "$LOAD" --scenario "$scenario" --name "$name" --duration "$seconds" \
    --port "$(api_port)" --out-dir "$OUT" --stack-dir "$CHAT_STACK_DIR" \
    "${args[@]}" || rc=$?
  case $rc in
    0) ;;
    99) say "$name: a threshold failed (see its report)" ;;
    *) say "$name: chat-load failed ($rc)"; status=1 ;;
  esac
  summaries+=("$OUT/$name.summary.json")
  [ -s "$OUT/$name.ids" ] && ids+=("$OUT/$name.ids")
  # Every accepted message stored exactly once; the wait is the drain time.
  if [ -s "$OUT/$name.ids" ]; then
    bench/load/check-zero-loss --store-url "$(scripts/stack.sh store-url)" --wait 60 \
      --json "$OUT/$name.zero-loss.json" "$OUT/$name.ids" || status=1
  fi
  router_metrics "$OUT/$name.router-after.prom"
done

say "writing the reports"
prom=$(prometheus_url)
note="Run $(date -u +%FT%TZ) on $(nproc) cores ($(uname -sr)); load average before the reports: $(cut -d' ' -f1-3 /proc/loadavg)."
bench/load/analyze --out "$results" --note "$note" ${prom:+--prometheus "$prom"} \
  "${summaries[@]}" >/dev/null
cat "$results/SUMMARY.md"
say "SUMMARY: $results/SUMMARY.md; per-scenario reports and charts: $results/*.md, $results/*.png"
exit $status
