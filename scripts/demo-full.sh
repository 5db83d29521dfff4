#!/usr/bin/env bash
# The full study (issue 9): builds the release binaries, runs every
# experiment end to end and regenerates docs/results. The README's main
# command stays scripts/demo.sh (the short demo); this one takes a while.
#
#   scripts/demo-full.sh            run every step
#   scripts/demo-full.sh --list     list the steps
#   scripts/demo-full.sh STEP...    run only these steps, in the order given
#
# Adding a step: write a function step_<name> that writes its results under
# $RESULTS and add "<name>|<minutes>|<what it does>" to STEPS.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RESULTS=${CHAT_RESULTS_DIR:-$ROOT/docs/results}
RELEASE=$ROOT/build/release
DEV=$ROOT/build/dev
REPEAT=${REPEAT:-5}

STEPS=(
  "build|6|release and dev builds of the services, tests and tools"
  "fault_tolerance|4|router failover, graceful scale-in, broker outage x $REPEAT"
  "scaling|8|backlog drain with 1 and 2 routers x $REPEAT, scale 2 -> 1 -> 2 under load"
  "scaling_live|4|through the API: 1 vs 2 routers at saturation, 2 -> 1 -> 2 under load, Prometheus charts"
  "delivery|3|circuit breaker, 60 s platform outage (store-and-forward), connector kill -9"
  "load|45|the load study's reference run with the soak, with and without vigil's metrics"
)

step_build() {
  bash "$ROOT/scripts/setup.sh"
  cmake --preset release >/dev/null
  cmake --build "$RELEASE" -j "$(nproc)" --target chat-broker chat-router chat-api chat-backlog \
    chat-platform-sim chat-connector chat-load
  cmake --preset dev >/dev/null
  cmake --build "$DEV" -j "$(nproc)" --target chat_fault_tolerance_tests \
    chat_integration_tests
}

step_fault_tolerance() {
  local out=$RESULTS/fault-tolerance
  mkdir -p "$out"
  rm -f "$out/runs.jsonl"
  local logs=$ROOT/build/fault-tolerance-logs
  rm -rf "$logs"
  uptime >"$out/machine.txt"
  CHAT_FT_RESULTS=$out/runs.jsonl CHAT_FT_KEEP=$logs \
    "$DEV/tests/chat/chat_fault_tolerance_tests" --gtest_repeat="$REPEAT" \
    --gtest_brief=1 2>/dev/null
  python3 "$ROOT/bench/experiments/fault_tolerance_report.py" "$out"
}

step_scaling() {
  REPEAT=$REPEAT CHAT_BIN_DIR=$RELEASE/chat-services \
    CHAT_BACKLOG=$RELEASE/bench/experiments/chat-backlog \
    bash "$ROOT/bench/experiments/scaling.sh" "$RESULTS/scaling"
}

step_scaling_live() {
  CHAT_BIN_DIR=$RELEASE/chat-services CHAT_LOAD=$RELEASE/bench/load/chat-load \
    bash "$ROOT/bench/experiments/scaling-live.sh" "$RESULTS/scaling/live"
}

# The delivery tests print what they saw (breaker trips, pending counts,
# duplicates after kill -9); their output is the evidence.
step_delivery() {
  local out=$RESULTS/delivery
  mkdir -p "$out"
  uptime >"$out/machine.txt"
  "$DEV/tests/chat/chat_integration_tests" --gtest_filter='Delivery.*' \
    2>&1 | tee "$out/run.txt"
}

step_load() {
  bash "$ROOT/scripts/load-study.sh" --reference --soak
}

list() {
  local s
  for s in "${STEPS[@]}"; do
    IFS='|' read -r name minutes what <<<"$s"
    printf '  %-16s ~%2s min  %s\n' "$name" "$minutes" "$what"
  done
}

if [ "${1:-}" = --list ]; then list; exit 0; fi
selected=("$@")
if [ ${#selected[@]} -eq 0 ]; then
  for s in "${STEPS[@]}"; do selected+=("${s%%|*}"); done
fi
total=0
for name in "${selected[@]}"; do
  found=""
  for s in "${STEPS[@]}"; do
    if [ "${s%%|*}" = "$name" ]; then found=$s; fi
  done
  [ -n "$found" ] || { echo "demo-full: no step '$name'; steps:" >&2; list >&2; exit 2; }
  IFS='|' read -r _ minutes _ <<<"$found"
  total=$((total + minutes))
done

started=$SECONDS
left=$total
for i in "${!selected[@]}"; do
  name=${selected[$i]}
  for s in "${STEPS[@]}"; do
    [ "${s%%|*}" = "$name" ] && IFS='|' read -r _ minutes what <<<"$s"
  done
  printf '\n==> [%d/%d] %s: %s (~%s min; ~%s min left; %ds elapsed)\n' \
    "$((i + 1))" "${#selected[@]}" "$name" "$what" "$minutes" "$left" \
    "$((SECONDS - started))"
  "step_$name"
  left=$((left - minutes))
done
printf '\n==> done in %ds; results under %s\n' "$((SECONDS - started))" "$RESULTS"
