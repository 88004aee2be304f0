"""PyTorch anchors for bench/es/perturbed_forward_bench.cu on the GPU machine (PyTorch is
installed there): the perturbed forward of a population sharing 8 input rows, float32, as a
PyTorch user writes it — EGGROLL's low-rank form with torch.randn factors and batched matmuls
(torch.einsum, as in the spec's anchor), and naive full-rank ES forming W + sigma E_i — plus
cuBLAS's float32 GEMM rate on the per-member-input shape. Prints one JSON line per case with
members per second; the median of 20 timed calls after 3 warm-ups, CUDA events; for the
low-rank form also "pipelined_members_per_s": 20 calls enqueued back to back between two events
(the median of 5 such runs), as tessera's benchmark times its pipelined figure.

    python3 bench/anchors/es_torch.py > $OUT/es_torch.jsonl
"""
import json

import torch

BATCH_ROWS = 8
SIGMA = 0.01


def timed(fn, repeats=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(stop) / 1e3)
    times.sort()
    return times[len(times) // 2]


def pipelined(fn, calls=20, repeats=5):
    """Seconds per call of fn when `calls` calls run back to back between two CUDA events."""
    def run():
        for _ in range(calls):
            fn()  # each result dropped at once: 20 outputs alive would not fit the card at P = 16384

    return timed(run, repeats=repeats) / calls


def low_rank(x, w, r, members):
    m, n = w.shape
    a = torch.randn(members, m, r, device="cuda")
    b = torch.randn(members, n, r, device="cuda")
    xa = torch.einsum("bm,pmr->pbr", x, a)
    return (x @ w)[None] + (SIGMA / r ** 0.5) * torch.einsum("pbr,pnr->pbn", xa, b)


def full_rank(x, w, members):
    out = torch.empty(members, x.shape[0], w.shape[1], device="cuda")
    for i in range(members):
        out[i] = x @ (w + SIGMA * torch.randn_like(w))
    return out


def emit(case, seconds, members, **extra):
    print(json.dumps({"case": case, "anchor": f"torch {torch.__version__}", "seconds": seconds,
                      "members_per_s": members / seconds, **extra}), flush=True)


def main():
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 GEMMs, as tessera's
    for m in (1024, 4096, 8192):
        x = torch.randn(BATCH_ROWS, m, device="cuda")
        w = torch.randn(m, m, device="cuda")
        for r in (1, 4, 16):
            for members in (256, 1024, 16384):
                if members * BATCH_ROWS * m * 4 > 8 * 2**30 or members * m * r * 8 > 8 * 2**30:
                    continue  # out of the card's memory with the factors
                seconds = timed(lambda: low_rank(x, w, r, members))
                per_call = pipelined(lambda: low_rank(x, w, r, members))
                emit(f"low_rank_shared/m:{m}/r:{r}/P:{members}", seconds, members,
                     pipelined_members_per_s=members / per_call)
        seconds = timed(lambda: full_rank(x, w, 32), repeats=5)
        emit(f"full_rank/m:{m}/P:32", seconds, 32)
        xs = torch.randn(1024 * BATCH_ROWS, m, device="cuda")
        seconds = timed(lambda: xs @ w)
        emit(f"sgemm/m:{m}/rows:{1024 * BATCH_ROWS}", seconds, 1024,
             tflops=2 * 1024 * BATCH_ROWS * m * m / seconds / 1e12)
    torch.cuda.synchronize()


if __name__ == "__main__":
    main()
