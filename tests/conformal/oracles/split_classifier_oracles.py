"""Prints tests/conformal/oracles/split_classifier_oracles.hpp: MAPIE's SplitConformalClassifier
(prefit=True) end to end with LAC, Top-K and RAPS on fixed probability tables.

    /tmp/mapie-venv/bin/python split_classifier_oracles.py > split_classifier_oracles.hpp

LAC and Top-K are deterministic, so tessera's split_classifier must return MAPIE's thresholds
(Top-K: MAPIE's 0-based position + 1) and sets exactly, at confidence 0.8 and 0.9. The script
asserts that no test score lies within MAPIE's tolerance EPSILON of a threshold, where MAPIE's
"<= q + EPSILON" and tessera's "<= q" could differ.

Class-conditional (Mondrian) LAC is not in MAPIE; its thresholds are MAPIE's own quantile
function (_compute_classification_quantile) on the LAC scores of each label's rows, +inf where
ceil((n_y + 1)(1 - alpha)) > n_y.

RAPS end to end: MAPIE holds out part of the conformalization rows (a StratifiedShuffleSplit
seeded with random_state; its test_size is None, so scikit-learn's 10%: SplitConformalClassifier
passes no size_raps and RAPSConformityScore.set_external_attributes overwrites its 0.2 with None)
to choose k* = 1 + the conformal quantile of the 0-based true-label positions and lambda* from
(0.001, 0.01, 0.1, 0.2, 0.5), then scores the other rows with its randomized score (u =
RandomState(random_state).uniform). Printed: the holdout rows, k*, lambda*, the calibration rows
in MAPIE's order with their u, and MAPIE's threshold.

RAPS parameters: on a separate 40 x 8 holdout where lambda changes the set sizes, k* by MAPIE's
formula and lambda by tessera's rule: the grid value of smallest mean size of the deterministic
sets {y : C_r + lambda (r - k*)^+ <= q}, q the conformal quantile of the holdout's deterministic
RAPS scores (MAPIE's score and quantile functions). MAPIE's own choice uses its
include_last_label=True sets, which also hold the label crossing q, so it may pick another lambda.
"""
import math

import numpy as np
from mapie._machine_precision import EPSILON
from mapie.classification import SplitConformalClassifier
from mapie.conformity_scores import APSConformityScore, RAPSConformityScore
from mapie.conformity_scores.sets.utils import get_true_label_position
from mapie.utils import _compute_classification_quantile
from sklearn.model_selection import StratifiedShuffleSplit

from classification_oracle_data import (cpp_array, cpp_scalar, dirichlet_table, fitted_model,
                                        header_start, softmax_table)

LEVELS = (0.8, 0.9)
RAPS_SEED = 3
RAPS_LEVEL = 0.9
LAMBDA_GRID = (0.001, 0.01, 0.1, 0.2, 0.5)


def conformal_quantile(scores, alpha):
    n = len(scores)
    if math.ceil((n + 1) * (1 - alpha)) > n:
        return math.inf
    return _compute_classification_quantile(np.asarray(scores).reshape(-1, 1), np.array([alpha]))[0]


def deterministic_raps_sizes(table, threshold, k_reg, lam):
    ordered = -np.sort(-table, axis=1)
    regularized = np.cumsum(ordered, axis=1) + lam * np.maximum(np.arange(1, table.shape[1] + 1) - k_reg, 0)
    return np.sum(regularized <= threshold, axis=1)


def lac_and_top_k(out):
    rng = np.random.default_rng(20240918)
    table, labels = dirichlet_table(rng, 60, 4, 0.7)
    calibration, test = np.arange(40), np.arange(40, 60)
    model = fitted_model(table)
    out += [cpp_array("probabilities", table), cpp_array("labels", labels, "std::int32_t"),
            cpp_scalar("calibration_rows", len(calibration), "std::size_t"),
            cpp_scalar("test_rows", len(test), "std::size_t"),
            cpp_array("levels", LEVELS)]
    for score in ("lac", "top_k"):
        thresholds, sets = [], []
        for level in LEVELS:
            classifier = SplitConformalClassifier(estimator=model, confidence_level=level,
                                                  conformity_score=score, prefit=True)
            classifier.conformalize(calibration.reshape(-1, 1), labels[calibration])
            _, predicted = classifier.predict_set(test.reshape(-1, 1))
            q = classifier._mapie_classifier.quantiles_[0]
            if score == "lac":
                assert np.min(np.abs((1 - table[test]) - q)) > 10 * EPSILON
            thresholds.append(q)
            sets.append(predicted[:, :, 0])
        out += [cpp_array(f"{score}_thresholds", thresholds),
                cpp_array(f"{score}_sets", np.array(sets), "bool")]

    # Mondrian LAC: one quantile per label, from MAPIE's LAC scores of that label's rows.
    scores = 1 - table[calibration, labels[calibration]]
    for alpha_name, alpha in (("09", 0.09), ("15", 0.15)):
        thresholds = [conformal_quantile(scores[labels[calibration] == y], alpha) for y in range(4)]
        sets = (1 - table[test]) <= np.array(thresholds)[np.newaxis, :]
        out += [cpp_array(f"mondrian_thresholds_{alpha_name}", thresholds),
                cpp_array(f"mondrian_sets_{alpha_name}", sets, "bool")]
    counts = np.bincount(labels[calibration], minlength=4)
    out.append(cpp_array("calibration_label_counts", counts, "std::int32_t"))


def raps_end_to_end(out):
    rng = np.random.default_rng(20240919)
    table, labels = softmax_table(rng, 120, 5, 0.6)
    rows = np.arange(len(labels)).reshape(-1, 1)
    classifier = SplitConformalClassifier(estimator=fitted_model(table), confidence_level=RAPS_LEVEL,
                                          conformity_score="raps", prefit=True,
                                          random_state=RAPS_SEED)
    classifier.conformalize(rows, labels)
    classifier.predict_set(rows[:5])  # MAPIE chooses k* and lambda* at prediction time
    fitted = classifier._mapie_classifier
    score = fitted.conformity_score_function_

    split = StratifiedShuffleSplit(n_splits=1, test_size=None, random_state=RAPS_SEED)
    calibration, holdout = next(split.split(rows, labels))
    assert np.array_equal(score.X_raps[:, 0], holdout)
    u = np.random.RandomState(RAPS_SEED).uniform(size=len(calibration))
    out += [cpp_array("raps_probabilities", table), cpp_array("raps_labels", labels, "std::int32_t"),
            cpp_scalar("raps_classes", table.shape[1], "std::size_t"),
            cpp_scalar("raps_alpha", 1 - RAPS_LEVEL),
            cpp_array("raps_holdout_rows", holdout, "std::int32_t"),
            cpp_array("raps_calibration_rows", calibration, "std::int32_t"),
            cpp_array("raps_calibration_u", u),
            cpp_scalar("raps_k_star", int(score.k_star[0]), "std::int32_t"),
            cpp_scalar("raps_lambda_star", float(score.lambda_star)),
            cpp_scalar("raps_threshold", fitted.quantiles_[0])]


def raps_selection(out):
    """k* as MAPIE computes it, lambda by tessera's rule, on a holdout where lambda matters."""
    rng = np.random.default_rng(20240930)
    table, labels = softmax_table(rng, 40, 8, 0.5)
    alpha = 0.1
    positions = get_true_label_position(table, labels)
    k_star = int(_compute_classification_quantile(positions, np.array([alpha]))[0]) + 1
    cumulative, ranks = APSConformityScore.get_true_label_cumsum_proba(labels, table, np.arange(8))
    sizes = []
    for lam in LAMBDA_GRID:
        regularized = RAPSConformityScore._regularize_conformity_score(
            np.array([k_star]), lam, cumulative.copy(), ranks)[:, 0, 0]
        q = conformal_quantile(regularized, alpha)
        sizes.append(np.mean(deterministic_raps_sizes(table, q, k_star, lam)))
    best = int(np.argmin(sizes))  # the first of equal minima, as a strict-improvement scan
    out += [cpp_array("selection_probabilities", table),
            cpp_array("selection_labels", labels, "std::int32_t"),
            cpp_scalar("selection_classes", table.shape[1], "std::size_t"),
            cpp_scalar("selection_alpha", alpha),
            cpp_scalar("selection_k_star", k_star, "std::int32_t"),
            cpp_array("selection_lambda_grid", LAMBDA_GRID),
            cpp_array("selection_mean_sizes", sizes),
            cpp_scalar("selection_lambda", LAMBDA_GRID[best])]


def main():
    out = []
    lac_and_top_k(out)
    raps_end_to_end(out)
    raps_selection(out)
    print(header_start("split_classifier_oracles.py", """
SplitConformalClassifier(prefit=True) with LAC and Top-K on a 60 x 4 table of Dirichlet(0.7)
rows (40 calibration, 20 test), with RAPS on a 120 x 5 table of softmax rows, and RAPS's
parameters chosen on a 40 x 8 softmax table; labels drawn
from the rows. Sets are [level][test row][label], flattened.
"""))
    print("namespace tessera::test::split_classifier_oracles {\n")
    print("\n".join(out))
    print("\n}  // namespace tessera::test::split_classifier_oracles")


if __name__ == "__main__":
    main()
