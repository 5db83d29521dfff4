#!/usr/bin/env bash
# Builds the release preset and runs the metrics micro-benchmarks with
# repetitions, then prints the ratio table (medians) for
# docs/results/micro-benchmarks.md.
#   bench/micro/run.sh [REPETITIONS]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target vigil_micro_bench -j "$(nproc)"
out=build/release/metrics-bench.json
build/release/bench/micro/vigil_micro_bench \
  --benchmark_repetitions="${1:-5}" --benchmark_report_aggregates_only=true \
  --benchmark_out="$out" --benchmark_out_format=json >&2
python3 bench/micro/report.py "$out"
