"""Prints tests/conformal/oracles/p_values_oracles.hpp: conformal p-values
p_y(x) = (1 + #{i : s_i >= s(x, y)}) / (n + 1) of every label of 12 test rows, against MAPIE's
calibration scores of 50 rows of a fixed 62 x 5 probability table.

    /tmp/mapie-venv/bin/python p_values_oracles.py > p_values_oracles.hpp

MAPIE has no p-values; the calibration scores are those of MAPIE's SplitConformalClassifier
(prefit=True) with LAC and with Top-K (tessera's rank is MAPIE's 0-based position + 1), the
test scores are the same score classes' values for every label, and the counts are numpy's.
Top-K scores are ranks, so they tie: the counts must include the calibration scores equal to s.
"""
import numpy as np
from mapie.classification import SplitConformalClassifier
from mapie.conformity_scores.sets.utils import get_true_label_position

from classification_oracle_data import (cpp_array, cpp_scalar, dirichlet_table, fitted_model,
                                        header_start)


def p_values(calibration_scores, test_scores):
    n = len(calibration_scores)
    at_least = (calibration_scores[np.newaxis, np.newaxis, :] >= test_scores[:, :, np.newaxis]).sum(axis=2)
    return (1 + at_least) / (n + 1)


def main():
    rng = np.random.default_rng(20240920)
    table, labels = dirichlet_table(rng, 62, 5, 0.8)
    calibration, test = np.arange(50), np.arange(50, 62)
    model = fitted_model(table)
    out = [cpp_array("probabilities", table), cpp_array("labels", labels, "std::int32_t"),
           cpp_scalar("calibration_rows", len(calibration), "std::size_t"),
           cpp_scalar("test_rows", len(test), "std::size_t"),
           cpp_scalar("classes", table.shape[1], "std::size_t")]
    for score in ("lac", "top_k"):
        classifier = SplitConformalClassifier(estimator=model, confidence_level=0.9,
                                              conformity_score=score, prefit=True)
        classifier.conformalize(calibration.reshape(-1, 1), labels[calibration])
        scores = np.asarray(classifier.conformity_scores).ravel()
        every_label = np.tile(np.arange(table.shape[1]), (len(test), 1))
        if score == "lac":
            test_scores = 1 - table[test]
        else:
            test_scores = np.stack([get_true_label_position(table[test], every_label[:, y])[:, 0]
                                    for y in range(table.shape[1])], axis=1)
        out += [cpp_array(f"{score}_calibration_scores", scores),
                cpp_array(f"{score}_p_values", p_values(scores, test_scores))]
    print(header_start("p_values_oracles.py", """
Plain conformal p-values [test row][label], flattened, from MAPIE's LAC and Top-K calibration
scores (50 rows, labels drawn from Dirichlet(0.8) rows of 5 classes) and numpy counts.
"""))
    print("namespace tessera::test::p_values_oracles {\n")
    print("\n".join(out))
    print("\n}  // namespace tessera::test::p_values_oracles")


if __name__ == "__main__":
    main()
