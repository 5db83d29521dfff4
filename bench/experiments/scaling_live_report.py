#!/usr/bin/python3
"""Turns bench/experiments/scaling-live.sh's raw results into report.md and
PNG charts (partitions owned and stored msg/s per router over time).

    scaling_live_report.py DIR   (reads and writes DIR: live.jsonl,
                                  prometheus.csv, scale-events.csv,
                                  scale-rebalances.log, scale.summary.json,
                                  scale.zero-loss.json, machine.json
                                  -> report.md, <run>-partitions.png,
                                  <run>-stored.png)

Charts in bench/load/analyze's style; Debian's python3-matplotlib (hence
/usr/bin/python3).
"""
import csv
import json
import sys
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

EVENT_LABELS = {"scale_down_start": "scale-router 1 (SIGTERM router-2)",
                "scale_up_start": "scale-router 2"}
EVENT_ROWS = dict(EVENT_LABELS, scale_down_done="scale-router 1 returned "
                  "(router-2 exited)", scale_up_done="scale-router 2 returned "
                  "(router-2 ready)")


def load_json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def load_jsonl(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def prometheus_series(path):
    """{run: {series: {instance: ([t], [v])}}} from prometheus.csv."""
    out = {}
    if not path.exists():
        return out
    with path.open() as f:
        for row in csv.DictReader(f):
            if row["value"] in ("NaN", "+Inf", "-Inf"):
                continue
            xs, ys = (out.setdefault(row["run"], {})
                      .setdefault(row["series"], {})
                      .setdefault(row["instance"], ([], [])))
            xs.append(float(row["t_s"]))
            ys.append(float(row["value"]))
    return out


def with_gaps(xs, ys, gap=3.0):
    """Breaks the line where samples are missing (a stopped router) instead
    of drawing across the hole."""
    out_x, out_y = [], []
    for k, (x, y) in enumerate(zip(xs, ys)):
        if k and x - xs[k - 1] > gap:
            out_x.append((x + xs[k - 1]) / 2)
            out_y.append(float("nan"))
        out_x.append(x)
        out_y.append(y)
    return out_x, out_y


def chart(path, title, ylabel, lines, events=(), step=False):
    """lines: [(label, xs, ys[, style])], events: [(t, label)]; writes a PNG,
    returns whether it did (bench/load/analyze's chart, plus event markers)."""
    lines = [line for line in lines if line[1]]
    if not lines:
        return False
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
    for label, xs, ys, *style in lines:
        xs, ys = with_gaps(xs, ys)
        kw = dict(label=label, linewidth=1.2, linestyle=style[0] if style else "-")
        if step:
            ax.step(xs, ys, where="post", **kw)
        else:
            ax.plot(xs, ys, **kw)
    for k, (t, label) in enumerate(sorted(events)):
        ax.axvline(t, color="grey", linestyle="--", linewidth=1)
        ax.annotate(label, (t, 1), xycoords=("data", "axes fraction"),
                    xytext=(3, -12 - 11 * (k % 2)), textcoords="offset points",
                    fontsize="small", color="dimgrey")
    ax.set_title(title)
    ax.set_xlabel("seconds into the run")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def routers_only(by_instance):
    return sorted((i, v) for i, v in by_instance.items()
                  if i.startswith("router-"))


def charts(out, series, events):
    made = []
    for run, by_series in sorted(series.items()):
        marks = events if run == "scale" else []
        owned = routers_only(by_series.get("assigned_partitions", {}))
        traffic = routers_only(
            by_series.get("messages_partitions_with_traffic", {}))
        if chart(out / f"{run}-partitions.png",
                 f"{run}: partitions owned per router (Prometheus)",
                 "partitions",
                 [(f"{i}: owned (both topics)", xs, ys)
                  for i, (xs, ys) in owned] +
                 [(f"{i}: `messages` partitions with traffic", xs, ys, ":")
                  for i, (xs, ys) in traffic],
                 marks, step=True):
            made.append((run, f"{run}-partitions.png"))
        stored = routers_only(by_series.get("stored_per_s", {}))
        if chart(out / f"{run}-stored.png",
                 f"{run}: messages stored per second per router (Prometheus)",
                 "msg/s", [(i, xs, ys) for i, (xs, ys) in stored], marks):
            made.append((run, f"{run}-stored.png"))
    return made


def cores(mapping):
    return ", ".join(f"{k} {v:.2f}" for k, v in sorted(mapping.items()))


def saturation_section(runs):
    if not runs:
        return "No saturation runs (live.jsonl missing).\n"
    lines = [
        "| routers | accepted/s (chat-load) | stored/s per router "
        "(Prometheus) | stored/s total | CPU, cores (Prometheus) | broker CPU, "
        "cores (/proc) | e2e p99 ms | HTTP p99 ms | errors | zero loss | "
        "`messages` partitions with traffic |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    by_n = {}
    for r in runs:
        by_n[r["routers"]] = r
        loss = r.get("zero_loss") or {}
        ok = ("ok" if loss.get("ok") else
              f"missing {loss.get('missing')}, duplicated "
              f"{loss.get('duplicated_in_store')}") if loss else "not checked"
        stored = r.get("stored_per_s", {})
        parts = r.get("messages_partitions_with_traffic", {})
        broker = r.get("proc_cpu_cores", {}).get("broker")
        http_p99 = r.get("http_p99_ms")
        lines.append(
            f"| {r['routers']} | {r['accepted_per_s']:.0f} | "
            f"{', '.join(f'{k} {v:.0f}' for k, v in sorted(stored.items()))} | "
            f"{sum(stored.values()):.0f} | {cores(r.get('cpu_cores', {}))} | "
            f"{'-' if broker is None else f'{broker:.2f}'} | "
            f"{'-' if r.get('e2e_p99_ms') is None else r['e2e_p99_ms']} | "
            f"{'-' if http_p99 is None else f'{http_p99:.1f}'} | "
            f"{100 * r['error_rate']:.2f}% | {ok} | "
            f"{', '.join(f'{k} {v}' for k, v in sorted(parts.items())) or '-'} |")
    text = "\n".join(lines) + "\n"
    if 1 in by_n and 2 in by_n:
        t1, t2 = by_n[1]["accepted_per_s"], by_n[2]["accepted_per_s"]
        s1 = sum(by_n[1].get("stored_per_s", {}).values())
        s2 = sum(by_n[2].get("stored_per_s", {}).values())
        text += (f"\nAccepted: T1 = {t1:.0f} msg/s, T2 = {t2:.0f} msg/s, "
                 f"**T2/T1 = {t2 / t1:.2f}**")
        if s1:
            text += f"; stored: {s1:.0f} -> {s2:.0f} msg/s ({s2 / s1:.2f})"
        text += (". The API is the entrance: a second router can only store "
                 "what the API accepts, so compare the CPU columns to see "
                 "which process ran out first.\n")
        idle = [k for k in ("router-1", "router-2")
                if by_n[2].get("messages_partitions_with_traffic", {}).get(k, 0) == 0]
        if idle:
            text += (f"\n**With 2 routers, {' and '.join(idle)} consumed no "
                     "`messages` partition**: only one router stored, and "
                     "this run does not measure two routers storing side by "
                     "side. Each topic has a consumer group of its own so "
                     "that this does not happen (in one group over both "
                     "topics the assignor balanced partition counts, not "
                     "topics); see rebalances.log for what the groups did."
                     "\n")
    return text


def parse_ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def rebalances(path):
    """[(unix_s, instance, event, count, owned)] from the routers' JSON logs."""
    out = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        ts = next((item[k] for k in ("ts", "time", "timestamp") if k in item),
                  None)
        if ts is None:
            continue
        t = parse_ts(ts) if isinstance(ts, str) else float(ts)
        topics = {}
        for part in filter(None, str(item.get("partitions", "")).split(",")):
            topic = part.rsplit("/", 1)[0]
            topics[topic] = topics.get(topic, 0) + 1
        out.append((t, item.get("instance", "?"), item.get("event", "?"),
                    item.get("count"), item.get("owned"),
                    ", ".join(f"{k} x{v}" for k, v in sorted(topics.items()))))
    return sorted(out)


def scale_section(out, events_ms, start_s):
    summary = load_json(out / "scale.summary.json")
    loss = load_json(out / "scale.zero-loss.json")
    if summary is None:
        return "Part B did not run (scale.summary.json missing).\n"
    m = summary["metrics"]
    text = (f"Open model, {summary['chat_load'].get('base_rate'):.0f} msg/s for "
            f"{summary['state']['testRunDurationMs'] / 1000:.0f} s: "
            f"{m['chat_messages_accepted']['count']:.0f} accepted, errors "
            f"{100 * m['http_req_failed']['value']:.2f}%.\n\n")
    if loss:
        verdict = "**zero loss: ok**" if loss.get("ok") else "**zero loss: FAILED**"
        text += (f"{verdict} ({loss.get('accepted')} accepted ids: missing "
                 f"{loss.get('missing')}, duplicated {loss.get('duplicated_in_store')}; "
                 f"all stored {loss.get('drain_seconds', '?')} s after the "
                 "run ended).\n\n")
    else:
        text += "**zero loss: not checked** (scale.zero-loss.json missing).\n\n"
    lines = rebalances(out / "scale-rebalances.log")
    marks = {name: ms / 1000 for name, ms in events_ms.items()}
    rows = [(EVENT_ROWS.get(k, k), t) for k, t in marks.items()]
    table = ["| t (s) | what |", "|---|---|"]
    for t, inst, ev, count, owned, topics in lines:
        rows.append((f"{inst} {ev.replace('partitions_', '')} {count}"
                     f"{f' ({topics})' if topics else ''}, owns {owned}", t))
    for what, t in sorted(rows, key=lambda r: r[1]):
        table.append(f"| {t - start_s:.2f} | {what} |")
    text += "Scale events and the routers' rebalance log lines (t from the run's start):\n\n"
    text += "\n".join(table) + "\n\n"

    def first(after, inst, ev, owned):
        for t, i, e, _, o, _ in lines:
            if t >= after and i == inst and e == ev and o == owned:
                return t
        return None

    down, up = marks.get("scale_down_start"), marks.get("scale_up_start")
    if down is not None:
        t = first(down, "router-1", "partitions_assigned", 12)
        if t is not None:
            text += (f"* Scale-down: router-1 owned all 12 partitions "
                     f"{t - down:.2f} s after `scale-router 1` began.\n")
    if up is not None:
        t = first(up, "router-2", "partitions_assigned", 6)
        if t is not None:
            text += (f"* Scale-up: router-2 owned its 6 partitions "
                     f"{t - up:.2f} s after `scale-router 2` began "
                     "(includes starting the process).\n")
    return text


def main():
    out = Path(sys.argv[1])
    runs = load_jsonl(out / "live.jsonl")
    series = prometheus_series(out / "prometheus.csv")
    machine = load_json(out / "machine.json") or {}
    scale = load_json(out / "scale.summary.json")
    start_s = scale["chat_load"]["started_unix_ms"] / 1000 if scale else 0
    events_ms = {}
    if (out / "scale-events.csv").exists():
        with (out / "scale-events.csv").open() as f:
            for row in csv.DictReader(f):
                events_ms[row["event"]] = int(row["unix_ms"])
    events = [(ms / 1000 - start_s, EVENT_LABELS[name])
              for name, ms in events_ms.items() if name in EVENT_LABELS]
    made = charts(out, series, events)

    md = ["# Router scaling through the API (live)", ""]
    md.append(f"Run {machine.get('date', '?')} on {machine.get('nproc', '?')} "
              f"cores ({machine.get('cpu', '?')}), load average before "
              f"{machine.get('loadavg_before', '?')}; binaries "
              f"{machine.get('bin', '?')}. Generated by "
              "bench/experiments/scaling_live_report.py from "
              "bench/experiments/scaling-live.sh's raw files here.")
    md += ["", "## A. 1 vs 2 routers at saturation (closed model, no think time)", ""]
    md.append(saturation_section(runs))
    md += ["## B. 2 -> 1 -> 2 routers under load", ""]
    md.append(scale_section(out, events_ms, start_s))
    md += ["## Charts (Prometheus, 5 s scrapes, rate over 15 s, step 2 s)", ""]
    for run, file in made:
        md.append(f"![{run}]({file})")
        md.append("")
    (out / "report.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
