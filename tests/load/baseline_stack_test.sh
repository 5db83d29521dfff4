#!/usr/bin/env bash
# A 20-second baseline against a real stack: chat-load's summary is k6-shaped
# with every threshold evaluated, no accepted message is lost, and the
# analyzer turns chat-load's results and a k6 fixture into the same report
# shape.
#   baseline_stack_test.sh CHAT_BIN_DIR CHAT_LOAD
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$1
LOAD=$2
TMP=$(mktemp -d)
export CHAT_STACK_DIR=$TMP/stack CHAT_BIN_DIR=$BIN CHAT_API_PORT=0 \
  CHAT_ROUTER_PORT=0 CHAT_PASSWORD_ITERATIONS=1000 CHAT_PLATFORM_PORT=0 \
  CHAT_CONNECTOR_WHATSAPP_PORT=0 CHAT_CONNECTOR_INSTAGRAM_PORT=0 \
  CHAT_PROMETHEUS_PORT=0
cleanup() {
  "$ROOT/scripts/stack.sh" down >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$ROOT/scripts/stack.sh" up >/dev/null
port=$(grep -o '"event":"api_listening"[^}]*"port":[0-9]*' \
  "$CHAT_STACK_DIR/logs/api.log" | tail -1 | sed 's/.*"port"://')
[ -n "$port" ] || fail "no API port in the log"

router_port=$(grep -o '"event":"endpoint_listening"[^}]*"port":[0-9]*' \
  "$CHAT_STACK_DIR/logs/router-1.log" | tail -1 | sed 's/.*"port"://')
scrape() { curl -sf "http://127.0.0.1:$router_port/metrics" >"$1"; }
scrape "$TMP/out-router-before.prom"
status=0
"$LOAD" --scenario baseline --duration 20 --rate 200 --port "$port" \
  --out-dir "$TMP/out" --progress plain --progress-seconds 5 || status=$?
# 0: thresholds passed, 99: one failed (a loaded CI machine may be slow);
# both mean they were evaluated. Anything else is a driver failure.
[ "$status" = 0 ] || [ "$status" = 99 ] || fail "chat-load exited $status"

python3 - "$TMP/out/baseline.summary.json" "$TMP/out/baseline.timeseries.jsonl" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
m = s["metrics"]
for name in ("http_reqs", "http_req_duration", "http_req_failed",
             "iterations", "checks"):
    assert name in m, f"missing metric {name}"
for key in ("avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"):
    assert isinstance(m["http_req_duration"][key], (int, float)), key
assert m["http_reqs"]["count"] > 0, "no requests"
th = {**m["http_req_duration"]["thresholds"], **m["http_req_failed"]["thresholds"]}
assert set(th) == {"p(95)<200", "p(99)<500", "rate<0.005"}, th
assert all(isinstance(v, bool) for v in th.values()), th
assert s["chat_load"]["thresholds_passed"] == (not any(th.values()))
assert s["chat_load"]["accepted"] > 0, "nothing accepted"
assert "api" in s["chat_load"]["processes"], "no process samples"
lines = [json.loads(l) for l in open(sys.argv[2])]
assert len(lines) >= 20, f"{len(lines)} seconds in the time series"
print("summary ok:", m["http_reqs"]["count"], "requests,",
      s["chat_load"]["accepted"], "accepted, thresholds",
      "passed" if s["chat_load"]["thresholds_passed"] else "failed")
PY

"$ROOT/bench/load/check-zero-loss" --store-url "$("$ROOT/scripts/stack.sh" store-url)" \
  --wait 60 --json "$TMP/out/baseline.zero-loss.json" "$TMP/out/baseline.ids" ||
  fail "accepted messages were lost"
scrape "$TMP/out/baseline.router-after.prom"
mv "$TMP/out-router-before.prom" "$TMP/out/baseline.router-before.prom"

# With the stack's Prometheus: its range queries become charts too.
prometheus=http://127.0.0.1:$(cat "$CHAT_STACK_DIR/prometheus/port")
"$ROOT/bench/load/analyze" --out "$TMP/report-load" --prometheus "$prometheus" \
  "$TMP/out/baseline.summary.json" >/dev/null
"$ROOT/bench/load/analyze" --out "$TMP/report-k6" \
  "baseline=$ROOT/tests/load/fixtures/k6-baseline.summary.json" >/dev/null
python3 - "$TMP/report-load" "$TMP/report-k6" <<'PY'
import json, os, re, sys
load, k6 = sys.argv[1], sys.argv[2]
a = json.load(open(f"{load}/baseline.report.json"))
b = json.load(open(f"{k6}/baseline.report.json"))
assert sorted(a) == sorted(b), (sorted(a), sorted(b))
assert (a["tool"], b["tool"]) == ("chat-load", "k6")
assert sorted(a["latency_ms"]) == sorted(b["latency_ms"])
assert b["requests"] == 1200 and b["latency_ms"]["p99"] == 31.7
assert b["thresholds_passed"] and len(b["thresholds"]) == 3
assert a["zero_loss"]["ok"], a["zero_loss"]
# Every accepted message went through a router during the run.
assert a["e2e_ms"]["count"] >= a["requests"] * (1 - a["error_rate"]), a["e2e_ms"]
assert b["e2e_ms"] is None
for report in (load, k6):
    md = open(f"{report}/baseline.md").read()
    sections = re.findall(r"^## (.*)$", md, re.M)
    assert {"Result", "Thresholds", "Charts"} <= set(sections), sections
    for chart in ("baseline-latency.png", "baseline-throughput.png"):
        assert os.path.getsize(f"{report}/{chart}") > 1000, chart
    assert "| [baseline](baseline.md) |" in open(f"{report}/SUMMARY.md").read()
assert os.path.getsize(f"{load}/baseline-lag.png") > 1000, "no lag from Prometheus"
print("reports ok: same shape from chat-load and k6")
PY

if command -v node >/dev/null; then
  for script in "$ROOT"/bench/load/k6/*.js "$ROOT"/bench/load/k6/common/*.js; do
    cp "$script" "$TMP/check.mjs"
    node --check "$TMP/check.mjs" || fail "k6 script $script does not parse"
  done
  echo "k6 scripts parse"
fi
echo PASS
