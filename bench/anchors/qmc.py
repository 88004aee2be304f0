#!/usr/bin/env python3
"""Python anchors for bench/qmc: SciPy's and QMCPy's generators and discrepancies, and QMCPy's
adaptive cubature, timed on the shapes tessera's benchmarks use (one core: run with
OMP_NUM_THREADS=1, and SciPy's workers=1).

Prints one JSON object per line: {"name", "anchor", "seconds", "items_per_second", "compare_with"},
where compare_with names the Google Benchmark entry of tessera measuring the same work; see
bench/report.py, which joins the two.
"""
import os
import sys
import warnings

import numpy as np
import qmcpy
import scipy
from scipy.stats import qmc

from timing import best_of, emit

warnings.filterwarnings("ignore")


def generators():
    for d, n in ((1024, 2**14), (64, 2**18), (1024, 32), (64, 512)):
        values = n * d
        shape = f"{d}/{n}"
        emit(f"scipy Sobol unscrambled {shape}", f"scipy {scipy.__version__}",
             best_of(lambda: qmc.Sobol(d, scramble=False).random(n)), values,
             f"sobol_double/unscrambled_gray/{shape}")
        emit(f"scipy Sobol LMS+DS {shape}", f"scipy {scipy.__version__}",
             best_of(lambda: qmc.Sobol(d, scramble=True, seed=7).random(n)), values,
             f"sobol_double/lms_ds/{shape}")
        emit(f"qmcpy DigitalNetB2 LMS+DS {shape}", f"qmcpy {qmcpy.__version__}",
             best_of(lambda: qmcpy.DigitalNetB2(d, seed=7, randomize="LMS DS")(n)), values,
             f"sobol_double/lms_ds/{shape}")
        if values <= 2**16:  # QMCPy's NUS runs in Python: over 10 minutes at 2^24 values
            emit(f"qmcpy DigitalNetB2 NUS {shape}", f"qmcpy {qmcpy.__version__}",
                 best_of(lambda: qmcpy.DigitalNetB2(d, seed=7, randomize="NUS")(n)), values,
                 f"sobol_double/nus/{shape}")
        emit(f"qmcpy Lattice shift {shape}", f"qmcpy {qmcpy.__version__}",
             best_of(lambda: qmcpy.Lattice(d, seed=7)(n)), values,
             f"tessera_lattice<double>/{shape}")
    for d in (64, 1024):  # bench/qmc/halton_bench.cpp's shapes: n = 2^16
        n = 2**16
        emit(f"scipy Halton unscrambled {d}/{n}", f"scipy {scipy.__version__}",
             best_of(lambda: qmc.Halton(d, scramble=False).random(n)), n * d, f"halton/none/{d}")
        emit(f"scipy Halton permutations {d}/{n}", f"scipy {scipy.__version__}",
             best_of(lambda: qmc.Halton(d, scramble=True, seed=7).random(n)), n * d, f"halton/permutation/{d}")
        if d <= 1000:  # QMCPy's Halton stops at 1000 dimensions
            emit(f"qmcpy Halton LMS+permutation {d}/{n}", f"qmcpy {qmcpy.__version__}",
                 best_of(lambda: qmcpy.Halton(d, seed=7, randomize="LMS PERM")(n)), n * d,
                 f"halton/lms_permutation/{d}")


def discrepancy():
    rng = np.random.default_rng(2026)
    for m in range(10, 14):
        x = rng.random((2**m, 8))
        emit(f"scipy centered discrepancy n=2^{m} d=8", f"scipy {scipy.__version__}",
             best_of(lambda: qmc.discrepancy(x, method="CD", workers=1)), 2**m,
             f"centered_discrepancy/{2**m}")


def cubature():
    for d in (3, 8):
        for name, sc, dd, tag in (
                ("CubQMCNetG", qmcpy.CubQMCNetG, lambda d: qmcpy.DigitalNetB2(d, seed=7), "net_g"),
                ("CubQMCLatticeG", qmcpy.CubQMCLatticeG, lambda d: qmcpy.Lattice(d, seed=7), "lattice_g")):
            def run():
                solution, data = sc(qmcpy.Keister(dd(d)), abs_tol=1e-4).integrate()
                run.n = int(data.n_total)
            try:
                seconds = best_of(run)
            except qmcpy.util.exceptions_warnings.ParameterError as e:  # d=8 outgrows QMCPy's 2^20 points
                print(f"qmcpy {name} Keister d={d}: {e}", file=sys.stderr)
                continue
            emit(f"qmcpy {name} Keister d={d} abs_tol=1e-4 (n={run.n})", f"qmcpy {qmcpy.__version__}",
                 seconds, run.n, f"keister_{tag}/{d}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    generators()
    discrepancy()
    cubature()
