"""Prints tests/conformal/oracles/cross_conformal_oracles.hpp: jackknife+, jackknife-minmax,
CV+, CV-minmax and jackknife+-after-bootstrap intervals from MAPIE's CrossConformalRegressor and
JackknifeAfterBootstrapRegressor around scikit-learn's LinearRegression, on small fixed data.

    /tmp/mapie-venv/bin/python cross_conformal_oracles.py > cross_conformal_oracles.hpp

The training rows, test points and MAPIE's bootstrap resamples are printed with the results, so
the C++ test refits the same least-squares models and feeds the same resamples.
"""
import mapie
import numpy as np
import sklearn
from mapie.regression import CrossConformalRegressor, JackknifeAfterBootstrapRegressor
from mapie.subsample import Subsample
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import KFold

from cxx_output import cpp_array, cpp_number, cpp_rows

N_TRAIN, N_TEST = 40, 8


def cpp_points(name, points):
    body = cpp_rows([f"{{{cpp_number(a)}, {cpp_number(b)}}}" for a, b in points], 2)
    return (f"inline constexpr std::array<std::array<double, 2>, {len(points)}> {name}{{{{\n"
            f"    {body}}}}};")


def cpp_index_table(name, table):
    inner = len(table[0])
    body = ",\n    ".join(
        "{" + cpp_rows([str(int(i)) for i in row], 20).replace("\n    ", "\n     ") + "}"
        for row in table)
    return (f"inline constexpr std::array<std::array<std::size_t, {inner}>, {len(table)}> "
            f"{name}{{{{\n    {body}}}}};")


def cpp_indices(name, indices):
    body = cpp_rows([str(int(i)) for i in indices], 16)
    return f"inline constexpr std::array<std::size_t, {len(indices)}> {name}{{\n    {body}}};"


def make_data(rng, n):
    """Two features in [0, 3]; y = 1 + 2 x0 - x1 + noise whose sd grows with x0."""
    x = rng.uniform(0.0, 3.0, size=(n, 2))
    y = 1.0 + 2.0 * x[:, 0] - x[:, 1] + (0.3 + 0.5 * x[:, 0]) * rng.standard_normal(n)
    return x, y


def level_tag(level):
    return str(int(round(level * 100)))


def interval_lines(tag, levels, intervals):
    lines = []
    for j, level in enumerate(levels):
        lines.append(cpp_array(f"{tag}_{level_tag(level)}_lower", intervals[:, 0, j]))
        lines.append(cpp_array(f"{tag}_{level_tag(level)}_upper", intervals[:, 1, j]))
    return lines


def cross_conformal(x, y, x_test, tag, cv, levels, with_points):
    """Plus and minmax intervals; the plus run also gives residuals and, if asked, points."""
    lines = []
    for method in ("plus", "minmax"):
        regressor = CrossConformalRegressor(estimator=LinearRegression(), confidence_level=levels,
                                            method=method, cv=cv)
        regressor.fit_conformalize(x, y)
        points, intervals = regressor.predict_interval(x_test, aggregate_point_predictions="mean")
        lines += interval_lines(f"{tag}_{method}", levels, intervals)
        if method == "plus":
            lines.append(cpp_array(f"{tag}_residuals", regressor.conformity_scores))
            if with_points:
                lines.append(cpp_array(f"{tag}_points", points))
    return lines


def bootstrap(x, y, x_test, tag, resampling, levels, aggregation, methods):
    """J+aB intervals with MAPIE's resamples, which are printed for the C++ test to reuse."""
    resamples = [train for train, _ in resampling.split(x)]
    lines = []
    for method in methods:
        regressor = JackknifeAfterBootstrapRegressor(
            estimator=LinearRegression(), confidence_level=levels, method=method,
            resampling=resampling, aggregation_method=aggregation)
        regressor.fit_conformalize(x, y)
        estimator = regressor._mapie_regressor.estimator_
        # The resamples MAPIE fitted on are those printed: same out-of-bag pattern.
        out_of_bag = ~np.isnan(estimator.k_)
        for b, train in enumerate(resamples):
            assert np.array_equal(out_of_bag[:, b], ~np.isin(np.arange(len(y)), train))
        _, intervals = regressor.predict_interval(x_test, allow_infinite_bounds=True)
        lines += interval_lines(f"{tag}_{method}", levels, intervals)
        if method == "plus":
            scores = regressor.conformity_scores
            kept = np.flatnonzero(~np.isnan(scores))
            lines.append(cpp_indices(f"{tag}_calibration_rows", kept))
            lines.append(cpp_array(f"{tag}_residuals", scores[kept]))
            # tessera's point prediction aggregates all B models at the test point.
            every_model = np.column_stack([m.predict(x_test) for m in estimator.estimators_])
            combine = np.mean if aggregation == "mean" else np.median
            lines.append(cpp_array(f"{tag}_points", combine(every_model, axis=1)))
    return resamples, lines


def main():
    rng = np.random.default_rng(20240613)
    x, y = make_data(rng, N_TRAIN)
    x_test, _ = make_data(rng, N_TEST)

    lines = []
    # Jackknife at alpha = 0.1, 0.2 and 0.04; the last puts the plus bounds at the extreme
    # ranks 1 and n (floor(0.04 * 41) = 1).
    lines += cross_conformal(x, y, x_test, "jackknife", -1, [0.9, 0.8, 0.96], True)
    # 5 folds of 8 rows, and 6 folds of 7, 7, 7, 7, 6, 6 rows (unequal: no point oracle).
    lines += cross_conformal(x, y, x_test, "cv5", KFold(n_splits=5), [0.9, 0.8], True)
    lines += cross_conformal(x, y, x_test, "cv6", KFold(n_splits=6), [0.9], False)

    resamples_20, more = bootstrap(x, y, x_test, "bootstrap_mean", Subsample(20, random_state=3),
                                   [0.9, 0.8], "mean", ("plus", "minmax"))
    lines += more
    _, more = bootstrap(x, y, x_test, "bootstrap_median", Subsample(20, random_state=3),
                        [0.9, 0.8], "median", ("plus",))
    lines += more
    # Three resamples leave some rows in every resample: MAPIE and tessera drop those rows.
    resamples_3, more = bootstrap(x, y, x_test, "bootstrap_few", Subsample(3, random_state=5),
                                  [0.8], "mean", ("plus",))
    lines += more
    kept = len(set(range(N_TRAIN)) - set.intersection(*(set(r.tolist()) for r in resamples_3)))
    assert 0 < kept < N_TRAIN

    print(f"""// Generated by tests/conformal/oracles/cross_conformal_oracles.py with MAPIE {mapie.__version__},
// scikit-learn {sklearn.__version__}, numpy {np.__version__}: do not edit, rerun the script.
// CrossConformalRegressor (cv=-1, KFold(5), KFold(6); method "plus" and "minmax") and
// JackknifeAfterBootstrapRegressor (Subsample(20, random_state=3), mean and median; and
// Subsample(3, random_state=5)) around LinearRegression on 40 training rows of two features;
// 8 test points. Points are MAPIE's aggregate_point_predictions="mean" for jackknife and CV, and
// the mean or median of MAPIE's B fitted models for J+aB.
#pragma once

#include <array>
#include <cstddef>
#include <limits>

namespace tessera::test::cross_conformal_oracles {{

inline constexpr double inf = std::numeric_limits<double>::infinity();

{cpp_points("features", x)}
{cpp_array("y", y)}
{cpp_points("test_features", x_test)}
{cpp_index_table("resamples_20", resamples_20)}
{cpp_index_table("resamples_3", resamples_3)}

""" + "\n".join(lines) + """

}  // namespace tessera::test::cross_conformal_oracles""")


if __name__ == "__main__":
    main()
