#!/usr/bin/env bash
# Builds and runs the metrics demo: a service-like loop instrumented with vigil,
# served on loopback for Prometheus to scrape. Ctrl-C stops it.
#   PORT=9464 scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target vigil_metrics_demo -j "$(nproc)"
exec build/release/examples/metrics-demo/vigil_metrics_demo --port "${PORT:-9464}"
