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
# (what, vigil hit, vigil overflow lookup, allowed ratio overflow/hit)
OVERFLOW = [
    ("label set sent to the overflow series vs a hit, 1 thread",
     "BM_LookupHit_Vigil/real_time/threads:1",
     "BM_LookupOverflow_Vigil/real_time/threads:1", 2),
    ("label set sent to the overflow series vs a hit, 2 threads",
     "BM_LookupHit_Vigil/real_time/threads:2",
     "BM_LookupOverflow_Vigil/real_time/threads:2", 2),
]
# (what, vigil one writer, vigil two writers, prometheus-cpp, cells per row)
MEMORY = [
    ("counter series", "BM_MemoryCounterSeries_Vigil/iterations:1",
     "BM_MemoryCounterSeries_VigilTwoWriters/iterations:1",
     "BM_MemoryCounterSeries_PrometheusCpp/iterations:1", 2),
    ("histogram series (11 buckets)", "BM_MemoryHistogramSeries_Vigil/iterations:1",
     "BM_MemoryHistogramSeries_VigilTwoWriters/iterations:1",
     "BM_MemoryHistogramSeries_PrometheusCpp/iterations:1", 13),
]
# Rows of a striped run on a machine with 8 or more hardware threads
# (16 exclusive rows + the shared one, docs/adr/0001).
ROWS_16_CORES = 17
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
    missing = [name for row in COMPARISONS + FLOORS + OVERFLOW for name in row[1:3]
               if name not in runs]
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
    for what, hit, overflow, allowed in OVERFLOW:
        ratio = ns(runs[overflow]) / ns(runs[hit])
        met = "yes" if ratio <= allowed else "**no**"
        print(f"| {what} | {fmt_ns(ns(runs[overflow]))} | {fmt_ns(ns(runs[hit]))} | "
              f"{ratio:.1f}x a hit | ≤ {allowed}x | {met} |")
    print("\n| memory per series | vigil, one writer | vigil, two writers, this machine"
          f" | vigil, two writers, {ROWS_16_CORES} rows (computed) | prometheus-cpp | "
          "one writer ≤ prometheus-cpp |")
    print("|---|---|---|---|---|---|")
    for what, one, two, theirs, cells in MEMORY:
        if not all(name in runs for name in (one, two, theirs)):
            continue
        rows = runs[two]["rows"]
        wide = runs[two]["bytes_per_series"] + (ROWS_16_CORES - rows) * cells * 8
        met = "yes" if runs[one]["bytes_per_series"] <= runs[theirs]["bytes_per_series"] \
            else "**no**"
        print(f"| {what} | {runs[one]['bytes_per_series']:.0f} B | "
              f"{runs[two]['bytes_per_series']:.0f} B ({rows:.0f} rows) | {wide:.0f} B | "
              f"{runs[theirs]['bytes_per_series']:.0f} B | {met} |")

if __name__ == "__main__":
    main()
