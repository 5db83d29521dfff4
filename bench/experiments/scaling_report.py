#!/usr/bin/env python3
"""Turns bench/experiments/scaling.sh's raw results into report.md and an
SVG chart of partition ownership over time (standard library only).

    scaling_report.py DIR   (reads and writes DIR: drain.jsonl,
                             ownership.csv, ownership-summary.json,
                             machine.json -> report.md, ownership.svg)
"""
import csv
import json
import statistics
import sys
from pathlib import Path


def load_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def drain_section(runs):
    by_n = {}
    for run in runs:
        by_n.setdefault(run["routers"], []).append(run)
    lines = [
        "| routers | runs | throughput msg/s (median) | each run | "
        "router CPU s / s (each) | broker CPU s / s | store lock wait "
        "per write (ms) | lost by the broker (each run) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    medians = {}
    for n in sorted(by_n):
        rs = by_n[n]
        tp = [r["throughput"] for r in rs]
        medians[n] = statistics.median(tp)
        cpu = [
            "/".join(f"{x['cpu_s'] / r['steady_seconds']:.2f}" for x in r["router"])
            for r in rs
        ]
        broker = [r["broker_cpu_s"] / r["steady_seconds"] for r in rs]
        wait = [
            1000 * r["lock_wait_s"] / max(1, r["write_transactions"]) for r in rs
        ]
        lines.append(
            f"| {n} | {len(rs)} | {medians[n]:.0f} | "
            f"{', '.join(f'{x:.0f}' for x in tp)} | {'; '.join(cpu)} | "
            f"{statistics.median(broker):.2f} | {statistics.median(wait):.2f} | "
            f"{', '.join(str(r.get('lost_by_broker', 0)) for r in rs)} |"
        )
    verdict = ""
    if 1 in medians and 2 in medians:
        speedup = medians[2] / medians[1]
        verdict = (
            f"\nT1 = {medians[1]:.0f} msg/s, T2 = {medians[2]:.0f} msg/s: "
            f"T2/T1 = {speedup:.2f}, efficiency (T2/T1)/2 = {speedup / 2:.2f} "
            f"(target T2 >= 1.6 x T1: {'met' if speedup >= 1.6 else 'not met'}).\n"
        )
    return "\n".join(lines) + "\n" + verdict


def ownership_chart(rows, out):
    """Partitions owned per router over time, as an SVG step chart."""
    width, height, left, bottom, top = 720, 260, 50, 40, 20
    t_max = max(float(r["t_s"]) for r in rows) or 1
    v_max = max(6, max(float(r["assigned_partitions"] or 0) for r in rows))
    colors = {"router-1": "#1f77b4", "router-2": "#d62728"}

    def x(t):
        return left + (width - left - 20) * t / t_max

    def y(v):
        return top + (height - top - bottom) * (1 - v / v_max)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" font-family="sans-serif" font-size="11">',
        f'<text x="{left}" y="14">partitions owned per router '
        "(chat_router_assigned_partitions)</text>",
    ]
    for v in range(0, int(v_max) + 1, 2 if v_max > 6 else 1):
        parts.append(
            f'<line x1="{left}" y1="{y(v)}" x2="{width - 20}" y2="{y(v)}" '
            'stroke="#ddd"/>'
            f'<text x="{left - 20}" y="{y(v) + 4}">{v}</text>'
        )
    step = max(1, int(t_max / 10))
    for t in range(0, int(t_max) + 1, step):
        parts.append(
            f'<text x="{x(t) - 5}" y="{height - bottom + 15}">{t}</text>'
        )
    parts.append(
        f'<text x="{width / 2}" y="{height - 5}">seconds since the load '
        "started</text>"
    )
    for router, color in colors.items():
        points = [
            (float(r["t_s"]), float(r["assigned_partitions"] or 0))
            for r in rows
            if r["router"] == router
        ]
        if not points:
            continue
        # A gap in router-2's samples is the time it was stopped: break the line.
        segments, current, last_t = [], [], None
        for t, v in points:
            if last_t is not None and t - last_t > 1.5:
                segments.append(current)
                current = []
            current.append((t, v))
            last_t = t
        segments.append(current)
        for segment in segments:
            path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in segment)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" '
                'stroke-width="2"/>'
            )
        parts.append(
            f'<text x="{width - 90}" y="{30 + 14 * list(colors).index(router)}" '
            f'fill="{color}">{router}</text>'
        )
    parts.append("</svg>")
    out.write_text("\n".join(parts) + "\n")


def ownership_section(rows, summary):
    per_router = {}
    for r in rows:
        per_router.setdefault(r["router"], []).append(r)
    lines = [
        "| router | samples | partitions owned (min-max) | processed at its "
        "last sample |",
        "|---|---|---|---|",
    ]
    for router, rs in sorted(per_router.items()):
        owned = [int(float(r["assigned_partitions"] or 0)) for r in rs]
        lines.append(
            f"| {router} | {len(rs)} | {min(owned)}-{max(owned)} | "
            f"{float(rs[-1]['processed_total'] or 0):.0f} |"
        )
    lines.append("")
    lines.append(
        f"{summary['confirmed']} messages confirmed by the broker at "
        f"{summary['rate']}/s for {summary['seconds']} s; missing from the "
        f"store: {summary['missing']}; stored twice: "
        f"{summary['duplicated_in_store']}; redelivered (router duplicate "
        f"counters): router-1 {summary['redelivered_router1_final']}, "
        f"restarted router-2 {summary['redelivered_router2_restarted']}."
    )
    return "\n".join(lines) + "\n"


def main():
    out = Path(sys.argv[1])
    machine = json.loads((out / "machine.json").read_text())
    report = [
        "# Router scaling: raw results of bench/experiments/scaling.sh",
        "",
        f"Run {machine['date']} on {machine['nproc']} CPUs ({machine['cpu']}), "
        f"load average before the run {machine['loadavg_before']}; binaries "
        f"{machine['bin']}.",
        "",
    ]
    if (out / "drain.jsonl").exists():
        report += ["## Backlog drain", "",
                   drain_section(load_jsonl(out / "drain.jsonl"))]
    csv_path = out / "ownership.csv"
    if csv_path.exists():
        with csv_path.open() as f:
            rows = list(csv.DictReader(f))
        summary = json.loads((out / "ownership-summary.json").read_text())
        ownership_chart(rows, out / "ownership.svg")
        report += [
            "## Scale 2 -> 1 -> 2 under load",
            "",
            "![partitions owned over time](ownership.svg)",
            "",
            ownership_section(rows, summary),
            "Rebalance log lines: ownership-rebalances.log.",
        ]
    (out / "report.md").write_text("\n".join(report) + "\n")
    print((out / "report.md").read_text())


if __name__ == "__main__":
    main()
