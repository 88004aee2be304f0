"""NumPy anchors for bench/es/perturbed_forward_bench.cpp: the same perturbed forward of a
population sharing its inputs, written the way a NumPy user would (EGGROLL's low-rank form with
one einsum-free batched matmul, and naive full-rank ES), float32, one thread.

Each line names the tessera benchmark that does the same work (scripts/bench es joins them).
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from timing import best_of, emit  # noqa: E402

BATCH_ROWS = 8
SIGMA = np.float32(0.01)


def low_rank_forward(x, w, r, members, rng):
    """Y_i = X W + (sigma/sqrt r) (X A_i) B_i^T for all members: noise drawn per member."""
    m, n = w.shape
    shared = x @ w
    a = rng.standard_normal((members, m, r), dtype=np.float32)
    b = rng.standard_normal((members, n, r), dtype=np.float32)
    scale = SIGMA / np.float32(np.sqrt(r))
    return shared[None] + scale * ((x[None] @ a) @ b.transpose(0, 2, 1))


def full_rank_forward(x, w, members, rng):
    """Y_i = X (W + sigma E_i), E_i dense, member by member (P dense matrices would not fit)."""
    out = np.empty((members, x.shape[0], w.shape[1]), dtype=np.float32)
    for i in range(members):
        e = rng.standard_normal(w.shape, dtype=np.float32)
        out[i] = x @ (w + SIGMA * e)
    return out


def low_rank_update(m, r, members, coefficients, rng):
    """sum_k c_k A_k B_k^T / sqrt r over the P/2 antithetic pairs, as one stacked GEMM."""
    pairs = members // 2
    a = rng.standard_normal((m, pairs * r), dtype=np.float32)
    b = rng.standard_normal((m, pairs * r), dtype=np.float32)
    return (a * np.repeat(coefficients, r)[None]) @ b.T / np.float32(np.sqrt(r))


def main():
    rng = np.random.default_rng(0)
    anchor = f"numpy {np.__version__}"
    for m, r, members in [(1024, 1, 256), (1024, 4, 256), (1024, 16, 256), (4096, 1, 64), (4096, 16, 64)]:
        x = rng.standard_normal((BATCH_ROWS, m), dtype=np.float32)
        w = rng.standard_normal((m, m), dtype=np.float32)
        seconds = best_of(lambda: low_rank_forward(x, w, r, members, rng))
        emit(f"EGGROLL forward m=n={m} r={r} P={members}", anchor, seconds, members,
             f"low_rank_forward/{m}/{r}/{members}")
    for m, members in [(1024, 16), (4096, 2)]:
        x = rng.standard_normal((BATCH_ROWS, m), dtype=np.float32)
        w = rng.standard_normal((m, m), dtype=np.float32)
        seconds = best_of(lambda: full_rank_forward(x, w, members, rng))
        emit(f"full-rank ES forward m=n={m} P={members}", anchor, seconds, members,
             f"full_rank_forward/{m}/{members}")
    for m, r, members in [(1024, 1, 256), (1024, 16, 256)]:
        coefficients = rng.standard_normal(members // 2, dtype=np.float32)
        seconds = best_of(lambda: low_rank_update(m, r, members, coefficients, rng))
        emit(f"EGGROLL update m=n={m} r={r} P={members}", anchor, seconds, members,
             f"low_rank_update/{m}/{r}/{members}")


if __name__ == "__main__":
    main()
