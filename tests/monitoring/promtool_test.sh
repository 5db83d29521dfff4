#!/usr/bin/env bash
# monitoring/ as promtool sees it: the Prometheus config and the rules it
# loads are valid, and the rules' unit tests (monitoring/rules/tests/) pass.
#   promtool_test.sh PROMTOOL
set -euo pipefail
promtool=$1
dir=$(cd "$(dirname "$0")/../../monitoring" && pwd)
"$promtool" check config "$dir/prometheus.yml"
"$promtool" check rules "$dir"/rules/*.yml
"$promtool" test rules "$dir"/rules/tests/*.yml
