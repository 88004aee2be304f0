#!/usr/bin/env python3
"""Joins tessera's Google Benchmark results with the Python anchors' timings and prints a
markdown table of the ratios (anchor time / tessera time for the same work).

    bench/report.py ANCHORS.jsonl BENCH.json [BENCH.json ...]

ANCHORS.jsonl: lines printed by bench/anchors/<core>.py; BENCH.json: --benchmark_out files.
"""
import json
import sys

UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def load_benchmarks(paths):
    results = {}
    for path in paths:
        with open(path) as f:
            for b in json.load(f)["benchmarks"]:
                if b.get("run_type", "iteration") == "iteration":
                    results[b["name"]] = b["real_time"] * UNIT_SECONDS[b["time_unit"]]
    return results


def main():
    anchors_path, bench_paths = sys.argv[1], sys.argv[2:]
    ours = load_benchmarks(bench_paths)
    print("| work | anchor | anchor time | tessera time | ratio |")
    print("|---|---|---|---|---|")
    with open(anchors_path) as f:
        for line in f:
            a = json.loads(line)
            mine = ours.get(a["compare_with"])
            if mine is None:
                print(f"| {a['name']} | {a['anchor']} | {a['seconds']:.4g} s | (no `{a['compare_with']}`) | |")
                continue
            print(f"| {a['name']} | {a['anchor']} | {a['seconds']:.4g} s | {mine:.4g} s "
                  f"(`{a['compare_with']}`) | **{a['seconds'] / mine:.1f}x** |")


if __name__ == "__main__":
    main()
