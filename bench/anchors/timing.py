"""What the Python anchors share: the timing rule of docs/benchmarks.md and the line format
bench/report.py reads."""
import json
import time


def best_of(fn, repeats=3):
    """The best wall time of `repeats` calls of fn, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def emit(name, anchor, seconds, items, compare_with):
    """One result line: compare_with names the Google Benchmark entry of tessera doing the same work."""
    print(json.dumps({"name": name, "anchor": anchor, "seconds": seconds,
                      "items_per_second": items / seconds, "compare_with": compare_with}), flush=True)
