"""JAX anchor for bench/es/perturbed_forward_bench.cu on the GPU machine (JAX is installed there):
the shared-input perturbed forward Y_i = X (W + sigma_i A_i B_i^T / sqrt(r)) in float32, written as
EGGROLL's JAX reference structures it: one member's forward, vmapped over the population, each
member drawing its factors from a key folded with its noise index (an antithetic pair shares the
index and flips the sign), the whole jit-compiled so that XLA fuses the draws into the products.
Matrix products at full float32 precision (no TF32), as tessera's and the PyTorch anchor's.

Prints one JSON line per case: members per second from the median of 20 timed calls after 3
warm-ups (the first compiles; each timed call waits for its result), and "pipelined_members_per_s"
from 20 calls enqueued back to back (the median of 5 such runs), as tessera's benchmark and
bench/anchors/es_torch.py time theirs. Before timing, a check on a small case compares two
members with the dense product X (W + sigma_i A_i B_i^T / sqrt(r)) formed from the same draws.

    python3 bench/anchors/es_jax.py > $OUT/es_jax.jsonl       (--quick: small sizes, any machine)
"""
import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp

BATCH_ROWS = 8
SIGMA = 0.01

jax.config.update("jax_default_matmul_precision", "highest")


def member_factors(key, member, m, n, r):
    """Member's A (m x r), B (n x r) and sign: pairs (2k, 2k + 1) share noise index k."""
    factors = jax.random.normal(jax.random.fold_in(key, member // 2), (m + n, r), dtype=jnp.float32)
    sign = 1.0 - 2.0 * (member % 2)
    return factors[:m], factors[m:], sign


def make_forward(r, members):
    """The jit-compiled forward of `members` members at rank r: (key, x, w) -> P x b x n."""

    def member_output(key, x, xw, member):
        a, b, sign = member_factors(key, member, x.shape[1], xw.shape[1], r)
        return xw + (sign * SIGMA / r**0.5) * ((x @ a) @ b.T)

    @jax.jit
    def forward(key, x, w):
        xw = x @ w
        return jax.vmap(member_output, in_axes=(None, None, None, 0))(key, x, xw, jnp.arange(members))

    return forward


def check_against_dense():
    """Two members of a small case against X (W + sigma_i A_i B_i^T / sqrt(r)) from the same draws."""
    m, n, r, members = 64, 48, 2, 4
    key = jax.random.key(3)
    x = jax.random.normal(jax.random.key(1), (BATCH_ROWS, m))
    w = jax.random.normal(jax.random.key(2), (m, n))
    y = make_forward(r, members)(key, x, w)
    for member in (0, 3):
        a, b, sign = member_factors(key, member, m, n, r)
        dense = x @ (w + (sign * SIGMA / r**0.5) * (a @ b.T))
        error = float(jnp.max(jnp.abs(y[member] - dense)))
        if error > 1e-4 * float(jnp.max(jnp.abs(dense))):
            raise SystemExit(f"es_jax.py: member {member} differs from the dense product by {error}")


def seconds_per_call(call, repeats=20):
    for _ in range(3):
        call().block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call().block_until_ready()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def pipelined_seconds(call, calls=20, repeats=5):
    def run():
        result = None
        for _ in range(calls):
            result = call()
        return result

    return seconds_per_call(run, repeats) / calls


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the script anywhere")
    quick = parser.parse_args().quick
    check_against_dense()
    sizes = (256,) if quick else (1024, 4096, 8192)
    populations = (16, 64) if quick else (256, 1024, 16384)
    key = jax.random.key(0)
    for m in sizes:
        x = jax.random.normal(jax.random.key(1), (BATCH_ROWS, m))
        w = jax.random.normal(jax.random.key(2), (m, m))
        for r in (1, 4, 16):
            for members in populations:
                if members * BATCH_ROWS * m * 4 > 8 * 2**30 or members * 2 * m * r * 4 > 8 * 2**30:
                    continue  # out of the card's memory with the factors
                forward = make_forward(r, members)
                call = lambda: forward(key, x, w)  # noqa: E731
                seconds = seconds_per_call(call)
                print(json.dumps({"case": f"low_rank_shared/m:{m}/r:{r}/P:{members}",
                                  "anchor": f"jax {jax.__version__} ({jax.default_backend()})",
                                  "seconds": seconds, "members_per_s": members / seconds,
                                  "pipelined_members_per_s": members / pipelined_seconds(call)}), flush=True)


if __name__ == "__main__":
    main()
