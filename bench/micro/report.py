#!/usr/bin/env python3
"""Turns a Google Benchmark JSON run of vigil_micro_bench into the ratio table
of docs/results/micro-benchmarks.md. Uses the median of the repetitions.

usage: report.py RUN.json
"""
import json
import sys

# (what, vigil benchmark, baseline benchmark, target ratio baseline/vigil)
COMPARISONS = [
    ("counter inc vs prometheus-cpp, 1 thread", "BM_CounterInc_Vigil/real_time/threads:1",
     "BM_CounterInc_PrometheusCpp/real_time/threads:1", 5),
    ("counter inc vs prometheus-cpp, 2 threads", "BM_CounterInc_Vigil/real_time/threads:2",
     "BM_CounterInc_PrometheusCpp/real_time/threads:2", 20),
    ("counter inc vs atomic fetch_add, 1 thread", "BM_CounterInc_Vigil/real_time/threads:1",
     "BM_CounterInc_AtomicFetchAdd/real_time/threads:1", None),
    ("counter inc vs atomic fetch_add, 2 threads", "BM_CounterInc_Vigil/real_time/threads:2",
     "BM_CounterInc_AtomicFetchAdd/real_time/threads:2", None),
    ("histogram observe (11 buckets) vs prometheus-cpp, 1 thread",
     "BM_HistogramObserve_Vigil/real_time/threads:1",
     "BM_HistogramObserve_PrometheusCpp/real_time/threads:1", 5),
    ("histogram observe (11 buckets) vs prometheus-cpp, 2 threads",
     "BM_HistogramObserve_Vigil/real_time/threads:2",
     "BM_HistogramObserve_PrometheusCpp/real_time/threads:2", 20),
    ("lookup of an existing series, 3 labels, vs Family::Add", "BM_LabelLookup_Vigil",
     "BM_LabelLookup_PrometheusCpp", 5),
    ("scrape of 10,000 series vs Collect+TextSerializer", "BM_Scrape10k_Vigil",
     "BM_Scrape10k_PrometheusCpp", 3),
]
# (what, vigil benchmark, floor benchmark, allowed ratio vigil/floor)
FLOORS = [
    ("counter inc vs thread-local floor, 1 thread", "BM_CounterInc_Vigil/real_time/threads:1",
     "BM_CounterInc_ThreadLocalFloor/real_time/threads:1", 4),
    ("counter inc vs thread-local floor, 2 threads", "BM_CounterInc_Vigil/real_time/threads:2",
     "BM_CounterInc_ThreadLocalFloor/real_time/threads:2", 4),
]
MEMORY = [
    ("counter series", "BM_MemoryCounterSeries_Vigil/iterations:1",
     "BM_MemoryCounterSeries_PrometheusCpp/iterations:1"),
    ("histogram series (11 buckets)", "BM_MemoryHistogramSeries_Vigil/iterations:1",
     "BM_MemoryHistogramSeries_PrometheusCpp/iterations:1"),
]
UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def load(path):
    with open(path) as f:
        run = json.load(f)
    medians = {}
    for b in run["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        medians[b["run_name"]] = b
    repetitions = max((b.get("repetitions", 1) for b in run["benchmarks"]), default=1)
    return run["context"], medians, repetitions


def ns(b):
    return b["real_time"] * UNIT_NS[b["time_unit"]]


def fmt_ns(v):
    return f"{v / 1e3:.1f} µs" if v >= 1e4 else f"{v:.2f} ns"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    context, runs, repetitions = load(sys.argv[1])
    missing = [name for row in COMPARISONS + FLOORS for name in row[1:3] if name not in runs]
    if missing:
        sys.exit(f"report.py: benchmarks missing from the run: {', '.join(sorted(set(missing)))}")
    print(f"Machine: {context.get('num_cpus')} CPUs at {context.get('mhz_per_cpu')} MHz, "
          f"load average {context.get('load_avg', [0])[0]:.2f}, {context.get('date')}; "
          f"median of {repetitions} repetitions; "
          "times are wall-clock per operation (for 2 threads: total operations / wall time).\n")
    print("| comparison | vigil | baseline | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    for what, ours, theirs, target in COMPARISONS:
        ratio = ns(runs[theirs]) / ns(runs[ours])
        met = "" if target is None else ("yes" if ratio >= target else "**no**")
        tgt = "" if target is None else f"≥ {target}x"
        print(f"| {what} | {fmt_ns(ns(runs[ours]))} | {fmt_ns(ns(runs[theirs]))} | "
              f"{ratio:.1f}x faster | {tgt} | {met} |")
    for what, ours, floor, allowed in FLOORS:
        ratio = ns(runs[ours]) / ns(runs[floor])
        met = "yes" if ratio <= allowed else "**no**"
        print(f"| {what} | {fmt_ns(ns(runs[ours]))} | {fmt_ns(ns(runs[floor]))} | "
              f"{ratio:.1f}x the floor | ≤ {allowed}x | {met} |")
    print("\n| memory per series | vigil | prometheus-cpp |")
    print("|---|---|---|")
    for what, ours, theirs in MEMORY:
        if ours in runs and theirs in runs:
            print(f"| {what} | {runs[ours]['bytes_per_series']:.0f} B | "
                  f"{runs[theirs]['bytes_per_series']:.0f} B |")


if __name__ == "__main__":
    main()
