#pragma once
// Conformal p-values of classification (Vovk, Gammerman, Shafer 2005, ch. 2): for a test row x
// and every label y, with the n calibration scores s_i and the test score s = score(x, y, u),
//
//   plain:     p_y(x) = (1 + #{i : s_i >= s}) / (n + 1)
//   smoothed:  p_y(x) = (#{i : s_i > s} + tau (1 + #{i : s_i = s})) / (n + 1),  tau ~ U[0, 1).
//
// For exchangeable data the p-value of the true label is super-uniform, P(p_Y(X) <= t) <= t,
// and the smoothed one is exactly uniform. p_y(x) > alpha holds exactly when s <= the conformal
// quantile q at alpha, so {y : p_y(x) > alpha} is split_classifier's set for the same scores and
// seed, except where (n + 1) alpha is within rounding of an integer: there the double p and the
// double alpha may compare otherwise than the exact rank upper_rank uses.
//
// Random draws, as split_classifier::predict and the contract a device backend reproduces:
//   the score's u for test row j:  uniform<T>(random_stream(seed, 1), first_row + j)
//   the smoothing tau for row j:   uniform<T>(random_stream(seed, 2), first_row + j), one per row
//                                  and shared by its labels, as in Vovk et al.'s smoothed predictor.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>
#include <xtensor/xtensor.hpp>

#include "tessera/conformal/classification_score.hpp"
#include "tessera/conformal/detail/probability_rows.hpp"
#include "tessera/conformal/split_classifier.hpp"
#include "tessera/core/detail/fresh_tensor.hpp"
#include "tessera/core/random.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::conformal {

/// Options of conformal_p_values.
struct p_value_options {
  /// Break ties among equal scores with a uniform tau (exactly uniform p-values).
  bool smoothed = false;
  /// The index of the first test row in the draws (for a test set split into batches).
  std::uint64_t first_row = 0;
  /// Rows whose sum is not 1 within 1e-6: refused or renormalized.
  row_sums sums = row_sums::checked;
};

namespace detail {

/// p-values against calibration scores sorted ascending: (#{s_i >= s} + 1) / (n + 1), or the
/// smoothed form. O(log n).
template <float_or_double T>
double p_value(std::span<const T> sorted_scores, T score, bool smoothed, T tau) {
  const auto n = static_cast<double>(sorted_scores.size());
  const auto below = std::lower_bound(sorted_scores.begin(), sorted_scores.end(), score);
  const auto at_least = static_cast<double>(sorted_scores.end() - below);
  if (!smoothed) return (1 + at_least) / (n + 1);
  const auto above = static_cast<double>(
      sorted_scores.end() - std::upper_bound(below, sorted_scores.end(), score));
  return (above + static_cast<double>(tau) * (1 + at_least - above)) / (n + 1);
}

}  // namespace detail

/// The conformal p-values p_y(x_j) of every label of m test rows, as an m x K matrix of doubles.
/// score: the score the calibration scores were computed with (see calibration_scores, whose
/// seed this seed should be); calibration_scores: n >= 1 values, no NaN (+inf allowed).
/// O(n log n + m K (log K + log n)) time, O(n + K) extra memory.
/// Throws invalid_argument on empty or NaN calibration scores, a bad test matrix or bad score
/// parameters.
template <detail::real_matrix M, classification_score<detail::element_of<M>> S>
xt::xtensor<double, 2> conformal_p_values(const S& score,
                                          std::span<const detail::element_of<M>> calibration_scores,
                                          const M& test_probabilities, std::uint64_t seed,
                                          p_value_options options = {}) {
  using T = detail::element_of<M>;
  constexpr std::string_view where = "tessera::conformal::conformal_p_values";
  detail::require_valid_score(score, where);
  require_nonempty(where, "calibration_scores", calibration_scores.size());
  require_no_nan(where, "calibration_scores", calibration_scores);
  const detail::checked_probabilities<T> checked(
      test_probabilities, options.sums == row_sums::renormalized, where, "test_probabilities");
  const matrix_view<const T>& view = checked.view();

  std::vector<T> sorted(calibration_scores.begin(), calibration_scores.end());
  std::sort(sorted.begin(), sorted.end());
  auto p = tessera::detail::fresh_tensor<double, 2>({view.rows, view.cols});
  double* const out = p.data();
  const random_stream score_stream(seed, 1);
  const random_stream tau_stream(seed, 2);
  detail::for_each_row(
      view.rows,
      [&] { return detail::set_scratch<T>{std::vector<std::int32_t>(view.cols), std::vector<T>(view.cols)}; },
      [&](std::size_t j, detail::set_scratch<T>& scratch) {
        const std::uint64_t draw = options.first_row + j;
        fill_scores(score, view.row(j), uniform<T>(score_stream, draw),
                    std::span<std::int32_t>(scratch.order), std::span<T>(scratch.scores));
        const T tau = options.smoothed ? uniform<T>(tau_stream, draw) : T(0);
        for (std::size_t y = 0; y < view.cols; ++y)
          out[j * view.cols + y] =
              detail::p_value(std::span<const T>(sorted), scratch.scores[y], options.smoothed, tau);
      });
  return p;
}

}  // namespace tessera::conformal
