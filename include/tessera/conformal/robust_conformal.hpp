#pragma once
// Conformal classification that keeps its coverage under l2 attacks of the test input:
// RSCP (Gendler, Weng, Daniel, Romano, ICLR 2022) and RSCP+ (Yan, Romano, Weng, "Provably Robust
// Conformal Prediction with Improved Efficiency", ICLR 2024, Sec. 3).
//
// Both calibrate on smoothed scores (randomized_smoothing.hpp) of the calibration points at their
// true labels, m_i = S^_RS(x_i, y_i), the Monte Carlo estimates from N perturbations, and move the
// threshold by eps / sigma, the most an attack of l2 norm eps can move Phi^{-1}(S_RS):
//
//   RSCP   tau = Phi^{-1}(Q_alpha(m)) + eps / sigma,
//          C(x~) = {k : Phi^{-1}(S^_RS(x~, k)) <= tau}.
//   RSCP+  tau = Phi^{-1}(min(Q_{alpha - 2 beta}(m) + b_Hoef, 1)) + eps / sigma,
//          C+(x~) = {k : Phi^{-1}(max(S^_RS(x~, k) - b_k, 0)) <= tau},
//
// where Q_a is the conformal quantile (the ceil((n + 1)(1 - a))-th smallest, quantile.hpp),
// b_Hoef = sqrt(ln(1/beta) / (2N)), and b_k = b_Hoef (Hoeffding) or the empirical Bernstein bound
// from the sample variance of label k's N scores (the two RSCP+ variants of the authors' code,
// `prediction` in utils.py; the calibration side uses Hoeffding in both, as there).
//
// Guarantee of RSCP+: P(Y in C+(X~)) >= 1 - alpha for every X~ with ||X~ - X||_2 <= eps that is
// chosen without knowledge of the test point's Monte Carlo noise. Why: the calibration means are
// exchangeable with the clean test point's, so m_{n+1} <= Q_{alpha - 2 beta} with probability
// >= 1 - alpha + 2 beta; S_RS(x, y) <= m_{n+1} + b_Hoef except with probability beta (Hoeffding);
// Phi^{-1}(S_RS) moves by at most eps / sigma; and S^_RS(x~, y) - b_k <= S_RS(x~, y) except with
// probability beta. RSCP makes the same argument with the exact S_RS; with its Monte Carlo
// estimate in place of S_RS the argument breaks (the flaw RSCP+ repairs), so RSCP is the baseline.
//
// Randomness: calibration point i is perturbed with noise_stream(seed, i, noise_role::calibration)
// = random_stream(seed, i), test point j of a batch with noise_stream(seed, first_point_id + j,
// noise_role::test). The guarantee asks the attacker not to know that noise: keep the seed secret
// from the attacker.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <vector>
#include <xtensor/xtensor.hpp>

#include "tessera/conformal/detail/probability_rows.hpp"
#include "tessera/conformal/quantile.hpp"
#include "tessera/conformal/randomized_smoothing.hpp"
#include "tessera/core/concepts.hpp"
#include "tessera/core/detail/fresh_tensor.hpp"
#include "tessera/core/matrix_view.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::conformal {

namespace detail {

/// Requires a smoothed score of point i to lie in [0, 1] (NaN rejected).
template <float_or_double T>
void require_unit_mean(std::string_view where, std::size_t i, T mean) {
  if (!(mean >= 0 && mean <= 1))  // the name is formatted only on failure
    require(false, where, "a smoothed score of point " + tessera::detail::to_text(i), mean, "0 <= score <= 1");
}

/// Requires a sample variance of point i to be finite and >= 0.
template <float_or_double T>
void require_variance(std::string_view where, std::size_t i, T variance) {
  if (!(std::isfinite(variance) && variance >= 0))  // the name is formatted only on failure
    require(false, where, "a score variance of point " + tessera::detail::to_text(i), variance,
            "a finite number >= 0");
}

}  // namespace detail

/// How the Monte Carlo error of the smoothed scores is accounted for.
enum class monte_carlo_correction {
  none,                 ///< RSCP: the estimate is used as if exact (no provable guarantee)
  hoeffding,            ///< RSCP+ with b_Hoef on both sides
  empirical_bernstein,  ///< RSCP+ with the empirical Bernstein bound on the test side (N >= 2)
};

/// The coverage target, the attack radius and the Monte Carlo confidence budget.
struct robust_parameters {
  double alpha = 0.1;     ///< miscoverage, 0 < alpha < 1
  double epsilon = 0.125; ///< l2 radius of the attack, >= 0
  double beta = 0.001;    ///< RSCP+ only: each Monte Carlo bound fails with probability beta, 0 < beta < alpha / 2
  monte_carlo_correction correction = monte_carlo_correction::hoeffding;
};

/// RSCP / RSCP+ prediction sets of a classifier given as a label_score_function.
/// Usage: construct, calibrate once on labelled points, then predict batches of test points.
template <float_or_double T>
class robust_conformal_classifier {
 public:
  /// smoothing: sigma > 0, samples >= 1 (>= 2 for empirical Bernstein); robust: alpha in (0, 1),
  /// epsilon >= 0 finite, beta in (0, alpha / 2) unless correction is none (beta is then unused);
  /// seed: of every noise stream. O(1). Throws invalid_argument on a parameter out of range.
  robust_conformal_classifier(const smoothing_parameters& smoothing, const robust_parameters& robust,
                              std::uint64_t seed)
      : smoothing_(smoothing), robust_(robust), seed_(seed) {
    constexpr std::string_view where = "tessera::conformal::robust_conformal_classifier";
    detail::require_smoothing(where, smoothing, needs_variance());
    require_open_unit_interval(where, "alpha", robust.alpha);
    require(std::isfinite(robust.epsilon) && robust.epsilon >= 0, where, "epsilon", robust.epsilon,
            "a finite number >= 0");
    if (robust.correction != monte_carlo_correction::none)
      require(robust.beta > 0 && robust.beta < robust.alpha / 2, where, "beta", robust.beta,
              "0 < beta < alpha / 2 = " + tessera::detail::to_text(robust.alpha / 2));
  }

  /// Calibrates on n labelled points: smooths every point (role calibration) and sets the
  /// threshold. points: n x d finite coordinates (any row-major xtensor container); labels: n
  /// values in [0, label_count); score: the K = label_count scores in [0, 1] of a point.
  /// Cost: n N calls of score, then O(n). Throws invalid_argument on shape or label errors,
  /// domain_error on a score outside [0, 1].
  template <row_major_matrix_of<T> M, label_score_function<T> F>
  void calibrate(const M& points, std::span<const std::int32_t> labels, std::size_t label_count, F&& score) {
    constexpr std::string_view where = "tessera::conformal::robust_conformal_classifier::calibrate";
    const matrix_view<const T> x = view_of<T>(points);
    require(label_count >= 1, where, "label_count", label_count, ">= 1");
    detail::require_labels(where, labels, "points", x.rows, label_count);
    calibrate(smooth_score_table<T>(points, score, label_count, smoothing_, seed_, noise_role::calibration),
              labels);
    dimension_ = x.cols;
  }

  /// Calibrates on Monte Carlo estimates already made (e.g. by smooth_score_table with role
  /// calibration and this object's smoothing and seed): only table.mean(i, labels[i]) is used.
  /// O(n) expected. Throws invalid_argument on an empty table, a label outside [0, K), a size
  /// mismatch, or a mean outside [0, 1].
  void calibrate(const smoothed_score_table<T>& table, std::span<const std::int32_t> labels) {
    constexpr std::string_view where = "tessera::conformal::robust_conformal_classifier::calibrate";
    const std::size_t n = table.mean.shape()[0];
    const std::size_t label_count = table.mean.shape()[1];
    require_nonempty(where, "labels", labels.size());
    require(label_count >= 1, where, "table.mean.shape()[1]", label_count, ">= 1");
    detail::require_labels(where, labels, "table.mean", n, label_count);
    std::vector<T> true_label_means(n);
    for (std::size_t i = 0; i < n; ++i) {
      true_label_means[i] = table.mean(i, static_cast<std::size_t>(labels[i]));
      detail::require_unit_mean(where, i, true_label_means[i]);
    }
    quantile_ = conformal_quantile_in_place(std::span<T>(true_label_means), calibration_level());
    threshold_ = calibrated_threshold(quantile_);
    label_count_ = label_count;
    dimension_ = 0;
  }

  /// The prediction sets of m test points: out(j, k) = whether label k is in the set of point j.
  /// Smooths every point (role test, ids first_point_id + j), with sample variances for the
  /// empirical Bernstein correction. points: m x d finite coordinates, d as at calibration.
  /// Cost: m N calls of score, then O(m K). Throws invalid_argument when not calibrated or on a
  /// shape error, domain_error on a score outside [0, 1].
  template <row_major_matrix_of<T> M, label_score_function<T> F>
  xt::xtensor<bool, 2> predict(const M& points, F&& score, std::uint32_t first_point_id = 0) const {
    constexpr std::string_view where = "tessera::conformal::robust_conformal_classifier::predict";
    require_calibrated(where);
    const matrix_view<const T> x = view_of<T>(points);
    if (dimension_ != 0)
      require(x.cols == dimension_, where, "points.shape()[1]", x.cols,
              "the calibration points' dimension = " + tessera::detail::to_text(dimension_));
    return predict(smooth_score_table<T>(points, score, label_count_, smoothing_, seed_, noise_role::test,
                                         first_point_id, needs_variance()));
  }

  /// The prediction sets from Monte Carlo estimates already made (role test): table.mean is
  /// m x K, and table.variance m x K too under the empirical Bernstein correction. O(m K).
  /// Throws invalid_argument when not calibrated, on a shape mismatch, a mean outside [0, 1] or
  /// a negative or non-finite variance.
  xt::xtensor<bool, 2> predict(const smoothed_score_table<T>& table) const {
    constexpr std::string_view where = "tessera::conformal::robust_conformal_classifier::predict";
    require_calibrated(where);
    const std::size_t m = table.mean.shape()[0];
    require(table.mean.shape()[1] == label_count_, where, "table.mean.shape()[1]", table.mean.shape()[1],
            "the calibration label count = " + tessera::detail::to_text(label_count_));
    if (needs_variance())
      require(table.variance.shape() == table.mean.shape(), where, "table.variance.shape()[0]",
              table.variance.shape()[0], "the shape of table.mean (empirical Bernstein needs variances)");
    auto sets = tessera::detail::fresh_tensor<bool, 2>({m, label_count_});
    for (std::size_t j = 0; j < m; ++j)
      for (std::size_t k = 0; k < label_count_; ++k)
        sets(j, k) = includes(where, j, table.mean(j, k), needs_variance() ? table.variance(j, k) : T(0));
    return sets;
  }

  /// The calibrated threshold tau on Phi^{-1} of the lowered scores, eps / sigma included
  /// (+inf: every set is full). Meaningful after calibrate.
  double threshold() const noexcept { return threshold_; }

  /// The conformal quantile of the calibration means: Q_alpha (RSCP) or Q_{alpha - 2 beta}
  /// (RSCP+), +inf when its rank exceeds n. Meaningful after calibrate.
  double calibration_quantile() const noexcept { return quantile_; }

  /// Whether calibrate has run.
  bool calibrated() const noexcept { return label_count_ != 0; }

  /// The smoothing (sigma, N), the robust parameters and the seed given at construction.
  const smoothing_parameters& smoothing() const noexcept { return smoothing_; }
  const robust_parameters& parameters() const noexcept { return robust_; }
  std::uint64_t seed() const noexcept { return seed_; }

 private:
  bool needs_variance() const noexcept {
    return robust_.correction == monte_carlo_correction::empirical_bernstein;
  }

  // RSCP+ spends 2 beta of the miscoverage on the two Monte Carlo bounds.
  double calibration_level() const noexcept {
    return robust_.correction == monte_carlo_correction::none ? robust_.alpha
                                                              : robust_.alpha - 2 * robust_.beta;
  }

  double hoeffding() const { return hoeffding_bound(smoothing_.samples, robust_.beta); }

  double calibrated_threshold(double quantile) const {
    const double raised = robust_.correction == monte_carlo_correction::none
                              ? quantile
                              : std::min(quantile + hoeffding(), 1.0);
    return standard_normal_quantile(raised) + robust_.epsilon / smoothing_.sigma;
  }

  // The amount by which a test mean is lowered before Phi^{-1}: zero for RSCP.
  double test_bound(T variance) const {
    switch (robust_.correction) {
      case monte_carlo_correction::hoeffding: return hoeffding();
      case monte_carlo_correction::empirical_bernstein:
        return empirical_bernstein_bound(smoothing_.samples, robust_.beta, variance);
      case monte_carlo_correction::none: break;
    }
    return 0;
  }

  bool includes(std::string_view where, std::size_t j, T mean, T variance) const {
    detail::require_unit_mean(where, j, mean);
    detail::require_variance(where, j, variance);
    const double lowered = std::max(static_cast<double>(mean) - test_bound(variance), 0.0);
    return standard_normal_quantile(lowered) <= threshold_;
  }

  void require_calibrated(std::string_view where) const {
    require(calibrated(), where, "calibrated()", false, "true (call calibrate first)");
  }

  smoothing_parameters smoothing_;
  robust_parameters robust_;
  std::uint64_t seed_;
  double quantile_ = std::numeric_limits<double>::quiet_NaN();
  double threshold_ = std::numeric_limits<double>::quiet_NaN();
  std::size_t label_count_ = 0;
  std::size_t dimension_ = 0;
};

}  // namespace tessera::conformal
