#pragma once
// Split conformal classification (Vovk, Gammerman, Shafer 2005; Lei et al. 2018 for the split
// scheme), marginal or class-conditional ("Mondrian", Vovk et al. 2005 ch. 4; the class-specific
// sets of Sadinle, Lei, Wasserman 2019), with any classification_score, and the choice of RAPS's
// k_reg and lambda on a holdout set (Angelopoulos, Bates, Malik, Jordan 2021).
//
// Calibration: s_i = score(p_i, y_i, u_i) for the n calibration rows and
//   q   = the ceil((n + 1)(1 - alpha))-th smallest s_i (+inf when that rank exceeds n), or
//   q_y = the same order statistic of the n_y scores of the rows labelled y (class-conditional).
// Prediction: C(x) = {y : score(x, y, u) <= q} (or <= q_y).
// Guarantee, for exchangeable calibration and test points: P(Y in C(X)) >= 1 - alpha, and
// <= 1 - alpha + 1/(n + 1) when the scores have no ties (randomized APS and RAPS always; LAC and
// deterministic APS with continuous probabilities; not Top-K, whose scores are ranks).
// Class-conditional: P(Y in C(X) | Y = y) >= 1 - alpha for every label y.
//
// Random draws, the contract a device backend reproduces bit for bit:
//   calibration row i:  u_i = uniform<T>(random_stream(seed, 0), i)
//   test row j:         u_j = uniform<T>(random_stream(seed, 1), first_row + j)
// first_row lets a test set split into batches draw exactly as it would in one call.

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>
#include <xtensor/xtensor.hpp>

#include "tessera/conformal/classification_score.hpp"
#include "tessera/conformal/detail/probability_rows.hpp"
#include "tessera/conformal/quantile.hpp"
#include "tessera/core/concepts.hpp"
#include "tessera/core/detail/fresh_tensor.hpp"
#include "tessera/core/matrix_view.hpp"
#include "tessera/core/random.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::conformal {

/// What a function taking probabilities does with a row whose sum is not 1 within 1e-6.
enum class row_sums {
  checked,       ///< throw invalid_argument: such a row is usually logits passed for probabilities
  renormalized,  ///< divide the row by its sum (a row summing to 0 still throws)
};

/// Options of split_classifier.
struct split_classifier_options {
  /// One threshold per label, from the calibration rows of that label (Mondrian).
  bool class_conditional = false;
  /// Rows whose sum is not 1 within 1e-6: refused or renormalized.
  row_sums sums = row_sums::checked;
};

namespace detail {

/// s_i = score_of(score, row i, labels[i], u_i) with u_i = uniform<T>(random_stream(seed, 0), i).
template <float_or_double T, classification_score<T> S>
std::vector<T> score_rows(const S& score, const matrix_view<const T>& probabilities,
                          std::span<const std::int32_t> labels, std::uint64_t seed) {
  std::vector<T> scores(probabilities.rows);
  const random_stream stream(seed, 0);
  for_each_row(
      probabilities.rows, [&] { return std::vector<std::int32_t>(probabilities.cols); },
      [&](std::size_t i, std::vector<std::int32_t>& scratch) {
        scores[i] = score_of(score, probabilities.row(i), labels[i], uniform<T>(stream, i),
                             std::span<std::int32_t>(scratch));
      });
  return scores;
}

/// An interval sure to hold the score of a calibration row: from one pass over the row for a
/// mass-monotone score (score_bounds), the exact score (low = high) otherwise. scratch: K label
/// indices (unused by mass-monotone scores). O(K), or score_of's cost.
template <float_or_double T, classification_score<T> S>
score_interval<T> calibration_interval(const S& score, std::span<const T> row, std::int32_t label, T u,
                                       std::span<std::int32_t> scratch) {
  if constexpr (mass_monotone_score<S, T>) {
    return score_bounds(score, row, label, u);
  } else {
    const T s = score_of(score, row, label, u, scratch);
    return {s, s};
  }
}

/// calibration_interval of every row (labels valid, K of them each), row i drawing u_i as
/// score_rows does. each_row(make_scratch, body) calls body(i, row i, scratch) for every row, as
/// for_each_checked_row does (which checks each row just before its interval, so the matrix
/// streams through memory once). O(n K). Throws what each_row throws.
template <float_or_double T, classification_score<T> S, class EachRow>
std::vector<score_interval<T>> calibration_intervals(const S& score, std::size_t classes,
                                                     std::span<const std::int32_t> labels, std::uint64_t seed,
                                                     EachRow each_row) {
  std::vector<score_interval<T>> intervals(labels.size());
  const random_stream stream(seed, 0);
  each_row([&] { return std::vector<std::int32_t>(mass_monotone_score<S, T> ? 0 : classes); },
           [&](std::size_t i, std::span<const T> row, std::vector<std::int32_t>& scratch) {
             intervals[i] = calibration_interval(score, row, labels[i], uniform<T>(stream, i),
                                                 std::span<std::int32_t>(scratch));
           });
  return intervals;
}

/// The k-th smallest (k >= 1; +inf for k > rows.size()) of the exact scores of `rows`, known
/// within intervals[row]; exact(row) computes one. The k-th smallest lies in [L, H], L and H the
/// k-th smallest low and high ends: the rows whose interval ends below L are among the smallest,
/// those starting above H are not, and only the rest are scored exactly (about one row when the
/// intervals are a few ulps wide). O(n) expected plus those exact scores.
template <float_or_double T, class Exact>
T order_statistic_of_intervals(std::span<const score_interval<T>> intervals, std::span<const std::size_t> rows,
                               std::uint64_t k, Exact exact) {
  if (k > rows.size()) return std::numeric_limits<T>::infinity();
  std::vector<T> ends(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) ends[i] = intervals[rows[i]].low;
  const T low = order_statistic_in_place(std::span<T>(ends), k);
  for (std::size_t i = 0; i < rows.size(); ++i) ends[i] = intervals[rows[i]].high;
  const T high = order_statistic_in_place(std::span<T>(ends), k);
  std::uint64_t below = 0;
  std::vector<T> undecided;
  for (const std::size_t row : rows) {
    if (intervals[row].high < low)
      ++below;
    else if (!(intervals[row].low > high))
      undecided.push_back(exact(row));
  }
  return order_statistic_in_place(std::span<T>(undecided), k - below);
}

/// The thresholds of a split classifier: the conformal quantile of all calibration scores, or
/// q_y of the rows labelled y for every label y (+inf for a label with too few rows, none
/// included), given intervals sure to hold the scores (calibration_intervals); the rows'
/// probabilities are read again only to score exactly the few rows whose interval may hold a
/// threshold. Equal to the order statistics of score_rows' exact scores. O(n) expected plus those
/// exact scores.
template <float_or_double T, classification_score<T> S>
std::vector<T> calibration_thresholds(const S& score, const matrix_view<const T>& probabilities,
                                      std::span<const std::int32_t> labels, std::uint64_t seed, double alpha,
                                      bool class_conditional, std::span<const score_interval<T>> intervals) {
  const random_stream stream(seed, 0);
  std::vector<std::int32_t> scratch(probabilities.cols);
  const auto exact = [&](std::size_t i) {
    return score_of(score, probabilities.row(i), labels[i], uniform<T>(stream, i), std::span<std::int32_t>(scratch));
  };
  std::vector<std::vector<std::size_t>> groups(class_conditional ? probabilities.cols : 1);
  for (std::size_t i = 0; i < labels.size(); ++i) groups[class_conditional ? labels[i] : 0].push_back(i);
  std::vector<T> thresholds;
  for (const std::vector<std::size_t>& rows : groups)
    thresholds.push_back(order_statistic_of_intervals<T>(intervals, rows, upper_rank(rows.size(), alpha), exact));
  return thresholds;
}

/// calibration_thresholds for rows already checked: their intervals first, from one pass over
/// each row. O(n K) expected.
template <float_or_double T, classification_score<T> S>
std::vector<T> calibration_thresholds(const S& score, const matrix_view<const T>& probabilities,
                                      std::span<const std::int32_t> labels, std::uint64_t seed, double alpha,
                                      bool class_conditional) {
  const std::vector<score_interval<T>> intervals =
      calibration_intervals<T>(score, probabilities.cols, labels, seed, [&](auto make_scratch, auto body) {
        for_each_row(probabilities.rows, make_scratch,
                     [&](std::size_t i, auto& scratch) { body(i, probabilities.row(i), scratch); });
      });
  return calibration_thresholds(score, probabilities, labels, seed, alpha, class_conditional,
                                std::span<const score_interval<T>>(intervals));
}

/// The mean size of the sets of the rows for one threshold, row j drawing
/// uniform<T>(random_stream(seed, 1), j). O(n K) for softmax-like rows (fill_prediction_set).
template <float_or_double T, classification_score<T> S>
double mean_set_size(const S& score, const matrix_view<const T>& probabilities, T threshold,
                     std::uint64_t seed) {
  std::vector<std::int32_t> order(probabilities.cols);
  const auto in_set = std::make_unique<bool[]>(probabilities.cols);
  const random_stream stream(seed, 1);
  set_end_hint<T> hint;
  std::size_t total = 0;
  for (std::size_t j = 0; j < probabilities.rows; ++j)
    total += fill_prediction_set(score, probabilities.row(j), threshold, uniform<T>(stream, j),
                                 std::span<std::int32_t>(order),
                                 std::span<bool>(in_set.get(), probabilities.cols), hint);
  return static_cast<double>(total) / static_cast<double>(probabilities.rows);
}

/// The scratch of one thread building sets: label indices, scores for per-label thresholds, and
/// where its previous rows' sets ended.
template <float_or_double T>
struct set_scratch {
  std::vector<std::int32_t> order;
  std::vector<T> scores;
  set_end_hint<T> hint{};
};

}  // namespace detail

/// The calibration scores s_i = score(row i, labels[i], u_i), u_i = uniform<T>(random_stream(seed,
/// 0), i): what split_classifier calibrates on, for conformal_p_values or a custom quantile.
/// probabilities: n x K, rows summing to 1 (or renormalized, see row_sums); labels: n in [0, K).
/// O(n K) for LAC, O(n (K + r log r)) for ranked scores with true-label rank r.
/// Throws invalid_argument on a bad matrix, label count or label, or bad score parameters.
template <detail::real_matrix M, classification_score<detail::element_of<M>> S>
std::vector<detail::element_of<M>> calibration_scores(const S& score, const M& probabilities,
                                                      std::span<const std::int32_t> labels,
                                                      std::uint64_t seed,
                                                      row_sums sums = row_sums::checked) {
  using T = detail::element_of<M>;
  constexpr std::string_view where = "tessera::conformal::calibration_scores";
  detail::require_valid_score(score, where);
  const detail::checked_probabilities<T> checked(probabilities, sums == row_sums::renormalized,
                                                 where, "probabilities");
  detail::require_labels(where, labels, "probabilities", checked.view().rows, checked.view().cols);
  return detail::score_rows(score, checked.view(), labels, seed);
}

/// A split conformal classifier: thresholds calibrated once, then prediction sets for any number
/// of test rows. A value type holding the score, the seed and K thresholds at most.
///
///   const split_classifier classifier(aps_score{}, calibration_probabilities, labels, 0.1, seed);
///   xt::xtensor<bool, 2> sets = classifier.predict(test_probabilities);  // n_test x K
template <float_or_double T, classification_score<T> Score>
class split_classifier {
 public:
  /// Calibrates on n >= 1 rows of K probabilities (rows summing to 1 within 1e-6 unless
  /// options.sums renormalizes) with labels in [0, K), at miscoverage alpha in (0, 1); seed names
  /// the draws of randomized scores (see the top of this header).
  /// O(n K): one pass per row, and the exact score (O(K + r log r), r the true label's rank) only
  /// of the few rows that may hold the quantile (calibration_thresholds); O(n) memory.
  /// Throws invalid_argument on a bad alpha, an empty calibration set, a NaN, infinite or
  /// negative probability, a row sum off 1, a label count or label out of range, k_reg < 0 or
  /// lambda < 0.
  template <row_major_matrix_of<T> M>
  split_classifier(const Score& score, const M& probabilities, std::span<const std::int32_t> labels,
                   double alpha, std::uint64_t seed, split_classifier_options options = {})
      : score_(score), seed_(seed), options_(options) {
    constexpr std::string_view where = "tessera::conformal::split_classifier";
    require_open_unit_interval(where, "alpha", alpha);
    detail::require_valid_score(score, where);
    detail::require_probability_shape(probabilities, where, "probabilities");
    const matrix_view<const T> view = view_of<T>(probabilities);
    require(view.rows >= 1, where, "probabilities.shape()[0]", view.rows, ">= 1 (a calibration row)");
    detail::require_labels(where, labels, "probabilities", view.rows, view.cols);
    classes_ = view.cols;
    if (options.sums == row_sums::renormalized) {
      const detail::checked_probabilities<T> checked(probabilities, true, where, "probabilities");
      thresholds_ = detail::calibration_thresholds(score, checked.view(), labels, seed, alpha, options.class_conditional);
      return;
    }
    const std::vector<detail::score_interval<T>> intervals =
        detail::calibration_intervals<T>(score, view.cols, labels, seed, [&](auto make_scratch, auto body) {
          detail::for_each_checked_row<T>(probabilities, false, where, "probabilities", make_scratch, body);
        });
    thresholds_ = detail::calibration_thresholds(score, view, labels, seed, alpha, options.class_conditional,
                                                 std::span<const detail::score_interval<T>>(intervals));
  }

  /// The prediction sets of m test rows: sets(j, y) says whether label y is in the set of row j.
  /// Row j draws u = uniform<T>(random_stream(seed, 1), first_row + j).
  /// O(m K) for softmax-like rows (a few passes each, fill_prediction_set; marginal), O(m K log K)
  /// (class-conditional). Each row is checked just before its set is built, so the matrix streams
  /// through memory once. The mask is fresh memory (on huge pages where large and Linux allows,
  /// as NumPy's arrays are: core/detail/huge_pages.hpp); predict_into writes into the caller's.
  /// Throws invalid_argument on a bad matrix or a K different from the calibration's.
  template <row_major_matrix_of<T> M>
  xt::xtensor<bool, 2> predict(const M& probabilities, std::uint64_t first_row = 0) const {
    constexpr std::string_view where = "tessera::conformal::split_classifier::predict";
    require_classes(probabilities, where);
    const std::size_t rows = view_of<T>(probabilities).rows;
    auto sets = tessera::detail::fresh_tensor<bool, 2>({rows, classes_});
    fill_sets(probabilities, matrix_view<bool>{sets.data(), rows, classes_}, first_row, where);
    return sets;
  }

  /// predict's sets written into `sets`, an m x K view of the caller's memory, which batches of
  /// test rows can reuse: writing into memory already touched spares the page faults of a fresh
  /// mask (on the host of docs/benchmarks.md, 19 ms of the 84 ms that predict takes for 50 000 x
  /// 1000 APS sets). The same sets, draws, checks and cost as predict. Throws invalid_argument as
  /// predict does, and when sets is not m x K or has no memory for m >= 1 rows; the rows before
  /// a bad row may have been written.
  template <row_major_matrix_of<T> M>
  void predict_into(const M& probabilities, matrix_view<bool> sets, std::uint64_t first_row = 0) const {
    constexpr std::string_view where = "tessera::conformal::split_classifier::predict_into";
    require_classes(probabilities, where);
    detail::require_mask_shape(where, view_of<T>(probabilities).rows, classes_, sets, "memory for the mask");
    fill_sets(probabilities, sets, first_row, where);
  }

  /// The threshold that label y is held to: q_y (class-conditional) or the common q. +inf means
  /// too few calibration rows for alpha: the label is always in the set.
  T threshold(std::int32_t label) const {
    return thresholds_.size() == 1 ? thresholds_.front() : thresholds_[label];
  }

  /// The thresholds: one (marginal) or one per label (class-conditional).
  std::span<const T> thresholds() const noexcept { return thresholds_; }

  /// K, the number of labels.
  std::size_t classes() const noexcept { return classes_; }

  /// The score calibrated with.
  const Score& score() const noexcept { return score_; }

 private:
  /// Requires a test matrix of the calibration's K columns (a matrix of another dimension is
  /// refused by for_each_checked_row).
  template <row_major_matrix_of<T> M>
  void require_classes(const M& probabilities, std::string_view where) const {
    if (probabilities.dimension() == 2)
      require(probabilities.shape()[1] == classes_, where, "probabilities.shape()[1]", probabilities.shape()[1],
              "the calibration's K = " + tessera::detail::to_text(classes_));
  }

  /// The sets of predict and predict_into, into `sets` (m x K, checked by the caller).
  template <row_major_matrix_of<T> M>
  void fill_sets(const M& probabilities, matrix_view<bool> sets, std::uint64_t first_row,
                 std::string_view where) const {
    const random_stream stream(seed_, 1);
    detail::for_each_checked_row<T>(
        probabilities, options_.sums == row_sums::renormalized, where, "probabilities",
        [&] { return detail::set_scratch<T>{std::vector<std::int32_t>(classes_), std::vector<T>(classes_)}; },
        [&](std::size_t j, std::span<const T> row, detail::set_scratch<T>& scratch) {
          fill_set(row, uniform<T>(stream, first_row + j), scratch, sets.row(j));
        });
  }

  void fill_set(std::span<const T> row, T u, detail::set_scratch<T>& scratch,
                std::span<bool> in_set) const {
    if (thresholds_.size() == 1) {
      fill_prediction_set(score_, row, thresholds_.front(), u, std::span<std::int32_t>(scratch.order), in_set,
                          scratch.hint);
      return;
    }
    fill_scores(score_, row, u, std::span<std::int32_t>(scratch.order), std::span<T>(scratch.scores));
    for (std::size_t y = 0; y < classes_; ++y) in_set[y] = scratch.scores[y] <= thresholds_[y];
  }

  Score score_;
  std::uint64_t seed_;
  split_classifier_options options_;
  std::size_t classes_ = 0;
  std::vector<T> thresholds_;
};

/// Deduces T from the matrix: split_classifier(aps_score{}, probabilities, labels, alpha, seed).
template <class Score, detail::real_matrix M>
split_classifier(const Score&, const M&, std::span<const std::int32_t>, double, std::uint64_t)
    -> split_classifier<detail::element_of<M>, Score>;

/// Deduces T from the matrix, with options.
template <class Score, detail::real_matrix M>
split_classifier(const Score&, const M&, std::span<const std::int32_t>, double, std::uint64_t,
                 split_classifier_options) -> split_classifier<detail::element_of<M>, Score>;

/// The lambda values Angelopoulos et al. (2021) search for RAPS.
inline constexpr std::array<double, 5> raps_lambda_grid{0.001, 0.01, 0.1, 0.2, 0.5};

/// RAPS with k_reg and lambda chosen on a holdout set, as Angelopoulos et al. (2021) do:
///   k_reg  = the conformal (1 - alpha) quantile of the holdout's true-label ranks, i.e. the
///            ceil((n + 1)(1 - alpha))-th smallest rank (K when that exceeds n), as MAPIE does
///            (the paper's code takes numpy's 'higher' (1 - alpha) quantile, without the n + 1);
///   lambda = the grid value whose RAPS sets, calibrated on the holdout and built for its rows,
///            are smallest on average (the first of equals).
/// The holdout must not be the calibration set of the returned score, or the guarantee is lost.
/// Draws: calibration row i uses random_stream(seed, 0), set row j random_stream(seed, 1).
/// O(G n K) for a grid of G values. Throws invalid_argument on a bad matrix, labels or
/// alpha, an empty holdout or grid, or a negative or non-finite grid value.
template <detail::real_matrix M>
raps_score select_raps_score(const M& holdout_probabilities,
                             std::span<const std::int32_t> holdout_labels, double alpha,
                             bool randomized, std::uint64_t seed,
                             std::span<const double> lambda_grid = raps_lambda_grid,
                             row_sums sums = row_sums::checked) {
  using T = detail::element_of<M>;
  constexpr std::string_view where = "tessera::conformal::select_raps_score";
  require_open_unit_interval(where, "alpha", alpha);
  require_nonempty(where, "lambda_grid", lambda_grid.size());
  const detail::checked_probabilities<T> checked(holdout_probabilities,
                                                 sums == row_sums::renormalized, where,
                                                 "holdout_probabilities");
  const matrix_view<const T>& view = checked.view();
  require(view.rows >= 1, where, "holdout_probabilities.shape()[0]", view.rows, ">= 1");
  detail::require_labels(where, holdout_labels, "holdout_probabilities", view.rows, view.cols);

  for (const double lambda : lambda_grid) raps_score{0, lambda, randomized}.require_valid(where);

  const T rank_quantile = detail::calibration_thresholds(top_k_score{}, view, holdout_labels, seed, alpha, false)[0];
  const auto classes = static_cast<std::int32_t>(view.cols);
  const std::int32_t k_reg =
      rank_quantile <= static_cast<T>(classes) ? static_cast<std::int32_t>(rank_quantile) : classes;

  raps_score best{k_reg, lambda_grid.front(), randomized};
  double best_size = std::numeric_limits<double>::infinity();
  for (const double lambda : lambda_grid) {
    const raps_score candidate{k_reg, lambda, randomized};
    const T q = detail::calibration_thresholds(candidate, view, holdout_labels, seed, alpha, false)[0];
    const double size = detail::mean_set_size(candidate, view, q, seed);
    if (size < best_size) {
      best_size = size;
      best = candidate;
    }
  }
  return best;
}

}  // namespace tessera::conformal
