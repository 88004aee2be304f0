"""Prints tests/conformal/oracles/metrics_oracles.hpp: MAPIE's mapie.metrics on fixed sets and
intervals.

    /tmp/mapie-venv/bin/python metrics_oracles.py > metrics_oracles.hpp

Sets: 40 rows of 5 labels, each label in with probability 0.45, some sets empty, some full and
none of 4 labels, and labels. Values: classification_coverage_score, classification_mean_width_score,
classification_ssc (num_bins=None: one coverage per set size 0..K, NaN for an empty size), and
numpy's median size, empty and full fractions and coverage per label.
Intervals: 30 of distinct widths around y + noise. Values: regression_coverage_score,
regression_mean_width_score, regression_ssc(num_bins=4), numpy's median width.
"""
import warnings

import numpy as np
from mapie.metrics.classification import (classification_coverage_score,
                                          classification_mean_width_score, classification_ssc)
from mapie.metrics.regression import (regression_coverage_score, regression_mean_width_score,
                                      regression_ssc)

from classification_oracle_data import cpp_array, cpp_scalar, header_start

SSC_BINS = 4


def main():
    rng = np.random.default_rng(20240921)
    sets = rng.uniform(size=(40, 5)) < 0.45
    sets[3] = True
    sets[7] = False
    sets[sets.sum(axis=1) == 4] = True  # no set of 4 labels: that stratum is empty (NaN)
    labels = rng.integers(0, 5, size=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of an empty size stratum
        per_size = classification_ssc(labels, sets)[0]
    sizes = sets.sum(axis=1)
    covered = sets[np.arange(40), labels]
    per_label = [covered[labels == y].mean() for y in range(5)]

    y = rng.normal(size=30)
    centre = y + rng.normal(scale=0.8, size=30)
    half_width = rng.uniform(0.2, 2.0, size=30)
    lower, upper = centre - half_width, centre + half_width
    intervals = np.stack([lower, upper], axis=1)

    out = [cpp_array("sets", sets, "bool"), cpp_array("labels", labels, "std::int32_t"),
           cpp_scalar("set_coverage", classification_coverage_score(labels, sets)[0]),
           cpp_scalar("mean_set_size", classification_mean_width_score(sets[:, :, np.newaxis])[0]),
           cpp_scalar("median_set_size", np.median(sizes)),
           cpp_scalar("empty_fraction", np.mean(sizes == 0)),
           cpp_scalar("full_fraction", np.mean(sizes == 5)),
           cpp_array("coverage_by_size", per_size),
           cpp_array("count_by_size", np.bincount(sizes, minlength=6), "std::int32_t"),
           cpp_array("coverage_by_label", per_label),
           cpp_array("count_by_label", np.bincount(labels, minlength=5), "std::int32_t"),
           cpp_array("y", y), cpp_array("lower", lower), cpp_array("upper", upper),
           cpp_scalar("interval_coverage", regression_coverage_score(y, intervals)[0]),
           cpp_scalar("mean_width", regression_mean_width_score(intervals[:, :, np.newaxis])[0]),
           cpp_scalar("median_width", np.median(upper - lower)),
           cpp_scalar("ssc_bins", SSC_BINS, "std::size_t"),
           cpp_array("coverage_by_width_bin", regression_ssc(y, intervals, num_bins=SSC_BINS)[0])]
    print(header_start("metrics_oracles.py", """
mapie.metrics on 40 label sets of 5 labels ([row][label], flattened) and 30 intervals.
"""))
    print("namespace tessera::test::metrics_oracles {\n")
    print("\n".join(out))
    print("\n}  // namespace tessera::test::metrics_oracles")


if __name__ == "__main__":
    main()
