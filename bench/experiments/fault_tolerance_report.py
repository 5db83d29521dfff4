#!/usr/bin/env python3
"""Summarises chat_fault_tolerance_tests' results (CHAT_FT_RESULTS JSON
lines) into report.md: every run, and min / median / max per number.

    fault_tolerance_report.py DIR   (reads DIR/runs.jsonl, DIR/machine.txt)
"""
import json
import statistics
import sys
from pathlib import Path

TESTS = {
    "router_failover": (
        "Router kill -9 under 100 msg/s (target: recovery < 10 s)",
        ["assigned_ms", "recovery_ms", "lag_before", "lag_peak", "accepted",
         "missing", "duplicated_in_store", "redelivered_duplicates"],
    ),
    "router_graceful_scale_in": (
        "Router SIGTERM under 100 msg/s (target: handover < 3 s, no "
        "redelivery)",
        ["handover_ms", "accepted", "missing", "duplicated_in_store",
         "redelivered_duplicates"],
    ),
    "broker_outage": (
        "Broker down under 100 msg/s (503 + Retry-After, readiness not "
        "liveness)",
        ["unready_after_ms", "outage_ms", "ready_after_up_ms",
         "accepting_after_up_ms", "answered_503",
         "answered_503_without_retry_after", "liveness_failures", "accepted",
         "missing", "duplicated_in_store"],
    ),
}


def fmt(value):
    return f"{value:.0f}" if isinstance(value, float) else str(value)


def main():
    out = Path(sys.argv[1])
    runs = [json.loads(l) for l in (out / "runs.jsonl").read_text().splitlines() if l]
    machine = (out / "machine.txt").read_text().strip() if (out / "machine.txt").exists() else "?"
    lines = ["# Fault-tolerance test results", "",
             f"Machine at the start (uptime): `{machine}`", ""]
    for test, (title, keys) in TESTS.items():
        rs = [r for r in runs if r["test"] == test]
        if not rs:
            continue
        lines += [f"## {title}", "",
                  "| run | " + " | ".join(keys) + " |",
                  "|---" * (len(keys) + 1) + "|"]
        for i, r in enumerate(rs, 1):
            lines.append(f"| {i} | " + " | ".join(fmt(r.get(k, "")) for k in keys) + " |")
        for name, f in (("min", min), ("median", statistics.median), ("max", max)):
            lines.append(f"| {name} | " + " | ".join(
                fmt(float(f([r[k] for r in rs]))) for k in keys) + " |")
        lines.append("")
    (out / "report.md").write_text("\n".join(lines) + "\n")
    print((out / "report.md").read_text())


if __name__ == "__main__":
    main()
