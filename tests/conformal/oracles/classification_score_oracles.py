"""Prints tests/conformal/oracles/classification_score_oracles.hpp: scores of one label and
prediction sets for given thresholds, from MAPIE's own score classes, on a fixed 24 x 4
probability table.

    /tmp/mapie-venv/bin/python classification_score_oracles.py > classification_score_oracles.hpp

Scores (tessera's rank is MAPIE's 0-based position + 1):
  LAC 1 - p_y (LACConformityScore); deterministic APS m_y + p_y, the cumulative mass through y
  (APSConformityScore.get_true_label_cumsum_proba); Top-K positions (TopKConformityScore);
  deterministic RAPS for k_reg = 2, lambda = 0.1 (RAPSConformityScore._regularize_conformity_score);
  randomized APS as MAPIE computes it, m_y + p_y - u p_y with u = RandomState(7).uniform(n), which
  is tessera's m_y + U p_y at U = 1 - u.

Sets for thresholds q, from get_prediction_sets with quantiles_ = [q] and cv="prefit":
  LAC; Top-K; APS with include_last_label True (tessera's randomized APS at u = 0: a label is in
  when the mass before it is <= q), False (tessera's deterministic APS, except that MAPIE never
  returns an empty set) and "randomized" with u = RandomState(9).uniform(n) (tessera at U = 1 - u);
  RAPS with include_last_label False (tessera's deterministic RAPS, same exception).
MAPIE's randomized RAPS divides by p_L - lambda max(0, L - k) + lambda [L > k] where Angelopoulos
et al. (2021, Algorithm 3, and their code) divide by p_L; the randomized RAPS sets here follow the
paper, restated below: L = 1 + #{r : C_r + lambda (r - k)^+ <= q} (at most K), the L-th label is
kept when U <= V = (q - C_{L-1} - lambda (L - k)^+) / p_L.
"""
import numpy as np
from mapie._machine_precision import EPSILON
from mapie.conformity_scores import (APSConformityScore, LACConformityScore,
                                     RAPSConformityScore, TopKConformityScore)

from classification_oracle_data import (cpp_array, cpp_scalar, dirichlet_table, header_start)

K_REG = 2
LAMBDA = 0.1
SCORE_SEED = 7
SET_SEED = 9
THRESHOLDS = [0.3, 0.55, 0.8, 0.95]
RAPS_THRESHOLDS = [0.55, 0.95, 1.12]
TOP_K_POSITIONS = [0, 1, 2]


def with_attributes(score, classes, random_state=None):
    score.set_external_attributes(classes=classes, random_state=random_state)
    return score


def mapie_sets(score, table, threshold, include_last_label=None):
    score.quantiles_ = np.array([threshold])
    extra = {} if include_last_label is None else {"include_last_label": include_last_label}
    sets = score.get_prediction_sets(table[:, :, np.newaxis], np.zeros((table.shape[0], 1)),
                                     np.array([0.1]), cv="prefit", **extra)
    return sets[:, :, 0]


def paper_randomized_raps_sets(table, threshold, u, k_reg, lam):
    rows, classes = table.shape
    sets = np.zeros_like(table, dtype=bool)
    for i in range(rows):
        order = sorted(range(classes), key=lambda j: (-table[i, j], j))
        sorted_p = table[i, order]
        penalty = lam * np.maximum(np.arange(1, classes + 1) - k_reg, 0)
        cumulative = np.cumsum(sorted_p) + penalty
        last = min(int(np.sum(cumulative <= threshold)) + 1, classes)
        before = np.sum(sorted_p[:last - 1])
        v = (threshold - before - penalty[last - 1]) / sorted_p[last - 1]
        size = last if u[i] <= v else last - 1
        sets[i, order[:size]] = True
    return sets


def main():
    rng = np.random.default_rng(20240917)
    table, labels = dirichlet_table(rng, 24, 4, 1.0)
    rows, classes = table.shape
    class_ids = np.arange(classes)

    lac = LACConformityScore().get_conformity_scores(labels, table, y_enc=labels)[:, 0]
    cumulative, ranks = APSConformityScore.get_true_label_cumsum_proba(labels, table, class_ids)
    top_k = TopKConformityScore().get_conformity_scores(labels, table, y_enc=labels)[:, 0]
    raps = RAPSConformityScore._regularize_conformity_score(
        np.array([K_REG]), LAMBDA, cumulative.copy(), ranks)[:, 0, 0]
    aps_randomized = with_attributes(APSConformityScore(), class_ids, SCORE_SEED) \
        .get_conformity_scores(labels, table, y_enc=labels)[:, 0]
    score_u = np.random.RandomState(SCORE_SEED).uniform(size=rows)
    assert np.allclose(aps_randomized, cumulative[:, 0] - score_u * table[np.arange(rows), labels])

    set_u = np.random.RandomState(SET_SEED).uniform(size=rows)
    out = [cpp_array("probabilities", table), cpp_array("labels", labels, "std::int32_t"),
           cpp_scalar("k_reg", K_REG, "std::int32_t"), cpp_scalar("lambda", LAMBDA),
           cpp_array("lac_scores", lac), cpp_array("aps_deterministic_scores", cumulative[:, 0]),
           cpp_array("true_label_ranks", ranks, "std::int32_t"),
           cpp_array("top_k_positions", top_k, "std::int32_t"),
           cpp_array("raps_deterministic_scores", raps),
           cpp_array("score_u", score_u), cpp_array("aps_randomized_scores", aps_randomized),
           cpp_array("set_u", set_u), cpp_array("thresholds", THRESHOLDS),
           cpp_array("raps_thresholds", RAPS_THRESHOLDS),
           cpp_array("top_k_positions_kept", TOP_K_POSITIONS, "std::int32_t")]

    lac_sets, last_in, last_out, randomized = [], [], [], []
    for q in THRESHOLDS:
        lac_sets.append(mapie_sets(with_attributes(LACConformityScore(), class_ids), table, q))
        last_in.append(mapie_sets(with_attributes(APSConformityScore(), class_ids), table, q, True))
        last_out.append(mapie_sets(with_attributes(APSConformityScore(), class_ids), table, q, False))
        randomized.append(mapie_sets(with_attributes(APSConformityScore(), class_ids, SET_SEED),
                                     table, q, "randomized"))
    raps_out, raps_randomized = [], []
    for q in RAPS_THRESHOLDS:
        score = with_attributes(RAPSConformityScore(), class_ids)
        score.k_star, score.lambda_star = np.array([K_REG]), LAMBDA
        raps_out.append(mapie_sets(score, table, q, False))
        raps_randomized.append(paper_randomized_raps_sets(table, q, set_u, K_REG, LAMBDA))
    top_k_sets = [mapie_sets(with_attributes(TopKConformityScore(), class_ids), table, q)
                  for q in TOP_K_POSITIONS]
    out += [cpp_array("lac_sets", np.array(lac_sets), "bool"),
            cpp_array("aps_sets_last_included", np.array(last_in), "bool"),
            cpp_array("aps_sets_last_excluded", np.array(last_out), "bool"),
            cpp_array("aps_sets_randomized", np.array(randomized), "bool"),
            cpp_array("raps_sets_last_excluded", np.array(raps_out), "bool"),
            cpp_array("raps_sets_randomized_paper", np.array(raps_randomized), "bool"),
            cpp_array("top_k_sets", np.array(top_k_sets), "bool")]

    print(header_start("classification_score_oracles.py", f"""
Scores and sets of MAPIE's LAC, APS, RAPS and Top-K score classes on a 24 x 4 table of
Dirichlet(1) rows with labels drawn from the rows. Sets are [threshold][row][label], flattened.
EPSILON = {EPSILON} is MAPIE's tolerance in its set comparisons.
"""))
    print("namespace tessera::test::classification_score_oracles {\n")
    print(cpp_scalar("rows", rows, "std::size_t"))
    print(cpp_scalar("classes", classes, "std::size_t"))
    print("\n".join(out))
    print("\n}  // namespace tessera::test::classification_score_oracles")


if __name__ == "__main__":
    main()
