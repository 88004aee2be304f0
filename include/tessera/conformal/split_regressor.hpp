#pragma once
// Split conformal regression around a fitted model's predictions mu(x).
//
// Calibration rows (y_i, mu(x_i)) not used to fit the model give scores s_i; q is their conformal
// quantile (quantile.hpp) and the interval of a test point is mu(x) -+ q, or mu(x) -+ q sigma(x):
//
//   absolute residual    s = |y - mu(x)|              (Lei, G'Sell, Rinaldo, Tibshirani,
//                                                       Wasserman, JASA 2018, section 2.2)
//   normalized residual  s = |y - mu(x)| / sigma(x)   (locally weighted: Lei et al. 2018, section
//                                                       5.2; Papadopoulos, Gammerman, Vovk 2008)
//
// With exchangeable calibration and test rows, P(y in C(x)) >= 1 - alpha, and <= 1 - alpha +
// 1/(n + 1) when the scores have no ties. sigma is any positive scale fixed before calibration
// (a residual model, an ensemble spread, a GP posterior sd); it moves the width, not the guarantee.
//
// Under covariate shift (the test x drawn from a different law than the calibration x, the law of
// y given x unchanged), weighted_split_conformal_regressor weights calibration row i by the
// likelihood ratio w(x_i) = dP_test/dP_train (x_i) and the test point by w(x): the quantile is
// weighted_conformal_quantile's, and the coverage 1 - alpha holds under the shifted law
// (Tibshirani, Barber, Candès, Ramdas, "Conformal prediction under covariate shift", NeurIPS
// 2019). The scores are sorted once at calibration, so each test point costs O(log n).
//
// MAPIE's SplitConformalRegressor(prefit=True) with conformity_score "absolute" or
// ResidualNormalisedScore(prefit=True) computes the same intervals.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/conformal/detail/interval_writer.hpp"
#include "tessera/conformal/interval.hpp"
#include "tessera/conformal/quantile.hpp"
#include "tessera/core/concepts.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::conformal {

namespace detail {

/// Checks a calibration or test set of targets and predictions: same length, n >= 1, finite.
template <float_or_double T>
void require_targets_and_predictions(std::string_view where, std::span<const T> y,
                                     std::span<const T> prediction) {
  require_nonempty(where, "y", y.size());
  require_same_size(where, "prediction", prediction.size(), "y", y.size());
  require_all_finite(where, "y", y);
  require_all_finite(where, "prediction", prediction);
}

/// Checks scales sigma: one per prediction, each finite and > 0.
template <float_or_double T>
void require_scales(std::string_view where, std::span<const T> sigma, std::size_t size) {
  require_same_size(where, "sigma", sigma.size(), "prediction", size);
  for (std::size_t i = 0; i < sigma.size(); ++i)
    if (!(std::isfinite(sigma[i]) && sigma[i] > 0))  // the name is formatted only on failure
      require_positive(where, "sigma[" + tessera::detail::to_text(i) + "]", sigma[i]);
}

/// Checks likelihood-ratio weights: one per calibration row, finite, >= 0, of positive sum.
/// Returns the sum. O(n).
template <float_or_double T>
double require_weights(std::string_view where, std::span<const T> weights, std::size_t size) {
  require_same_size(where, "weights", weights.size(), "y", size);
  double total = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (!(std::isfinite(weights[i]) && weights[i] >= 0))  // the name is formatted only on failure
      require(false, where, "weights[" + tessera::detail::to_text(i) + "]", weights[i], "a finite number >= 0");
    total += weights[i];
  }
  require(total > 0, where, "the total calibration weight", total, "> 0");
  return total;
}

/// Checks that a predict call passes sigma exactly when the calibration used the normalized score.
inline void require_matching_score(std::string_view where, bool normalized, bool sigma_given) {
  require(normalized == sigma_given, where, "sigma", sigma_given ? "given" : "missing",
          normalized ? "one per prediction (calibrated with the normalized residual)"
                     : "none (calibrated with the absolute residual)");
}

/// s_i = |y_i - prediction_i| / sigma_i, or |y_i - prediction_i| when sigma is empty. O(1).
template <float_or_double T>
T residual_score(std::span<const T> y, std::span<const T> prediction, std::span<const T> sigma, std::size_t i) {
  const T residual = std::abs(y[i] - prediction[i]);
  return sigma.empty() ? residual : residual / sigma[i];
}

/// Every s_i (residual_score). O(n).
template <float_or_double T>
std::vector<T> residual_scores(std::span<const T> y, std::span<const T> prediction,
                               std::span<const T> sigma) {
  std::vector<T> scores(y.size());
  for (std::size_t i = 0; i < y.size(); ++i) scores[i] = residual_score(y, prediction, sigma, i);
  return scores;
}

/// [prediction - q sigma, prediction + q sigma]; q = +inf gives the whole line.
template <float_or_double T>
interval<T> scaled_interval(T prediction, T q, T sigma) {
  const T half_width = q * sigma;  // q = inf, sigma > 0: inf, never NaN
  return {prediction - half_width, prediction + half_width};
}

/// Whether every scale a loop passed through see() was finite and > 0, known without a pass of
/// its own: see keeps the largest (bits of sigma) - 1, which stays below (bits of +inf) - 1
/// exactly when 0 < sigma < inf (+0 wraps to the top; -0, negatives and NaNs have larger bits).
template <float_or_double T>
class positive_scale_watch {
 public:
  /// Records sigma and returns it. O(1).
  T see(T sigma) {
    const bits_of<T> b = std::bit_cast<bits_of<T>>(sigma) - 1;
    largest_ = largest_ > b ? largest_ : b;
    return sigma;
  }

  /// Whether every scale seen was finite and > 0 (true when none was seen).
  bool all_positive() const { return largest_ < tessera::detail::infinity_bits<T>() - 1; }

 private:
  bits_of<T> largest_ = 0;
};

/// The intervals of split_conformal_regressor's predictions, each formed from its inputs once,
/// with the inputs checked on the way (the watches), so that predict makes one pass over them (a
/// checked_interval_maker).
template <float_or_double T>
class interval_maker {
 public:
  /// q: the calibrated quantile; prediction (and sigma, for the normalized score) are read at
  /// the indices asked, sigma of prediction's size.
  interval_maker(T q, std::span<const T> prediction, std::span<const T> sigma = {})
      : q_(q), prediction_(prediction), sigma_(sigma) {}

  /// [mu_i - q, mu_i + q]. O(1).
  interval<T> absolute(std::size_t i) { return scaled_interval(finite_.see(prediction_[i]), q_, T{1}); }

  /// [mu_i - q sigma_i, mu_i + q sigma_i]. O(1).
  interval<T> normalized(std::size_t i) {
    return scaled_interval(finite_.see(prediction_[i]), q_, scales_.see(sigma_[i]));
  }

  /// Whether every prediction passed was finite and every scale finite and > 0.
  bool valid() const { return finite_.all_finite() && scales_.all_positive(); }
  /// Throws invalid_argument naming the first non-finite prediction, then the first scale not
  /// finite and > 0, of all (if any). O(m).
  void require_all_valid(std::string_view where) const {
    require_all_finite(where, "prediction", prediction_);
    if (!sigma_.empty()) require_scales(where, sigma_, prediction_.size());
  }

 private:
  T q_;
  std::span<const T> prediction_;
  std::span<const T> sigma_;
  tessera::detail::finite_watch<T> finite_;
  positive_scale_watch<T> scales_;
};

}  // namespace detail

/// Split conformal regression: calibrate once on held-out rows, then an interval per test point.
template <float_or_double T>
class split_conformal_regressor {
 public:
  /// Absolute residual score s = |y - prediction|.
  /// y, prediction: n >= 1 finite calibration targets and the model's predictions of them;
  /// alpha in (0, 1). O(n) time (selection in one pass over the rows); transient memory a few
  /// percent of n (the scores near the quantile; n when the scores defeat the sampling).
  /// Throws invalid_argument on a size mismatch, an empty or non-finite input, or a bad alpha.
  split_conformal_regressor(std::span<const T> y, std::span<const T> prediction, double alpha)
      : split_conformal_regressor(y, prediction, {}, alpha, false) {}

  /// Normalized residual score s = |y - prediction| / sigma.
  /// sigma: n finite scales > 0 of the calibration rows. Otherwise as above.
  /// Throws invalid_argument also on a sigma of the wrong size or <= 0.
  split_conformal_regressor(std::span<const T> y, std::span<const T> prediction,
                            std::span<const T> sigma, double alpha)
      : split_conformal_regressor(y, prediction, sigma, alpha, true) {}

  /// The conformal quantile q of the calibration scores (+inf when ceil((n+1)(1-alpha)) > n).
  T quantile() const noexcept { return quantile_; }

  /// The miscoverage level calibrated for.
  double alpha() const noexcept { return alpha_; }

  /// The number of calibration rows n.
  std::size_t calibration_size() const noexcept { return calibration_size_; }

  /// Whether the calibration used the normalized score (predict then needs sigma).
  bool normalized() const noexcept { return normalized_; }

  /// [prediction - q, prediction + q] (absolute score). O(1).
  /// Throws invalid_argument on a non-finite prediction or if calibrated with sigma.
  interval<T> predict(T prediction) const {
    constexpr std::string_view where = "tessera::conformal::split_conformal_regressor::predict";
    detail::require_matching_score(where, normalized_, false);
    require_finite(where, "prediction", prediction);
    return detail::scaled_interval(prediction, quantile_, T{1});
  }

  /// [prediction - q sigma, prediction + q sigma] (normalized score). O(1).
  /// Throws invalid_argument on a non-finite prediction, sigma <= 0, or if calibrated without
  /// sigma.
  interval<T> predict(T prediction, T sigma) const {
    constexpr std::string_view where = "tessera::conformal::split_conformal_regressor::predict";
    detail::require_matching_score(where, normalized_, true);
    require_finite(where, "prediction", prediction);
    require_positive(where, "sigma", sigma);
    return detail::scaled_interval(prediction, quantile_, sigma);
  }

  /// One interval per prediction (absolute score). O(m), one pass, over OpenMP's threads from
  /// 2^15 intervals (detail::write_intervals). Errors as predict(T).
  std::vector<interval<T>> predict(std::span<const T> prediction) const {
    constexpr std::string_view where = "tessera::conformal::split_conformal_regressor::predict";
    detail::require_matching_score(where, normalized_, false);
    auto intervals = detail::fresh_intervals<T>(prediction.size());
    write_absolute(where, prediction, intervals);
    return intervals;
  }

  /// One interval per (prediction, sigma) (normalized score). O(m), one pass, as above. Errors as
  /// predict(T, T), and invalid_argument when sigma.size() != prediction.size().
  std::vector<interval<T>> predict(std::span<const T> prediction, std::span<const T> sigma) const {
    constexpr std::string_view where = "tessera::conformal::split_conformal_regressor::predict";
    detail::require_matching_score(where, normalized_, true);
    require_same_size(where, "sigma", sigma.size(), "prediction", prediction.size());
    auto intervals = detail::fresh_intervals<T>(prediction.size());
    write_normalized(where, prediction, sigma, intervals);
    return intervals;
  }

  /// predict's intervals written into `out` (one per prediction), memory of the caller's that
  /// batches can reuse: a fresh vector is faulted in page by page past the caches (at 10^7
  /// intervals most of predict's time). O(m), as predict. Errors as predict, and
  /// invalid_argument when out.size() != prediction.size(); out may be written before a bad
  /// input is reported.
  void predict_into(std::span<const T> prediction, std::span<interval<T>> out) const {
    constexpr std::string_view where = "tessera::conformal::split_conformal_regressor::predict_into";
    require_same_size(where, "out", out.size(), "prediction", prediction.size());
    detail::require_matching_score(where, normalized_, false);
    write_absolute(where, prediction, out);
  }

  /// predict(prediction, sigma) into `out`, as above.
  void predict_into(std::span<const T> prediction, std::span<const T> sigma, std::span<interval<T>> out) const {
    constexpr std::string_view where = "tessera::conformal::split_conformal_regressor::predict_into";
    require_same_size(where, "out", out.size(), "prediction", prediction.size());
    detail::require_matching_score(where, normalized_, true);
    require_same_size(where, "sigma", sigma.size(), "prediction", prediction.size());
    write_normalized(where, prediction, sigma, out);
  }

 private:
  // [mu_i - q, mu_i + q] into out (of prediction's size), the predictions checked.
  void write_absolute(std::string_view where, std::span<const T> prediction, std::span<interval<T>> out) const {
    detail::write_intervals<T>(where, detail::interval_maker<T>(quantile_, prediction), out,
                               [](detail::interval_maker<T>& make, std::size_t i) { return make.absolute(i); });
  }

  // [mu_i - q sigma_i, mu_i + q sigma_i] into out, the predictions and scales checked.
  void write_normalized(std::string_view where, std::span<const T> prediction, std::span<const T> sigma,
                        std::span<interval<T>> out) const {
    detail::write_intervals<T>(where, detail::interval_maker<T>(quantile_, prediction, sigma), out,
                               [](detail::interval_maker<T>& make, std::size_t i) { return make.normalized(i); });
  }

  split_conformal_regressor(std::span<const T> y, std::span<const T> prediction,
                            std::span<const T> sigma, double alpha, bool normalized)
      : alpha_(alpha), calibration_size_(y.size()), normalized_(normalized) {
    constexpr std::string_view where = "tessera::conformal::split_conformal_regressor";
    require_open_unit_interval(where, "alpha", alpha);
    require_nonempty(where, "y", y.size());
    require_same_size(where, "prediction", prediction.size(), "y", y.size());
    if (normalized) detail::require_scales(where, sigma, prediction.size());
    const std::uint64_t rank = upper_rank(y.size(), alpha);
    if (rank > y.size()) {  // too few rows for alpha: no selection, so the inputs' own checks
      detail::require_targets_and_predictions(where, y, prediction);
      quantile_ = std::numeric_limits<T>::infinity();
      return;
    }
    // The scores are selected as they are formed, never stored (detail::kth_smallest), and y and
    // the predictions are checked by that same pass: a score is finite unless one of them is not
    // (or |y - mu| overflows), so the named checks run only when the largest score is +inf. A NaN
    // score is selected as +inf, as selection needs an order.
    const auto [q, largest] = detail::kth_smallest<T>(y.size(), rank, [&](std::size_t i) {
      const T score = detail::residual_score(y, prediction, sigma, i);
      return score == score ? score : std::numeric_limits<T>::infinity();
    });
    if (largest == std::numeric_limits<T>::infinity()) detail::require_targets_and_predictions(where, y, prediction);
    quantile_ = q;
  }

  T quantile_{};
  double alpha_;
  std::size_t calibration_size_;
  bool normalized_;
};

/// Weighted split conformal regression for covariate shift (Tibshirani et al. 2019): the
/// quantile of each test point depends on its own likelihood ratio.
template <float_or_double T>
class weighted_split_conformal_regressor {
 public:
  /// Absolute residual score. y, prediction: n >= 1 finite calibration rows; weights: the
  /// likelihood ratios w(x_i) >= 0, finite, of positive sum (any common factor cancels);
  /// alpha in (0, 1). O(n log n) time (one sort), O(n) memory.
  /// Throws invalid_argument on a size mismatch, an empty or non-finite input, a negative
  /// weight, a zero total weight, or a bad alpha.
  weighted_split_conformal_regressor(std::span<const T> y, std::span<const T> prediction,
                                     std::span<const T> weights, double alpha)
      : weighted_split_conformal_regressor(y, prediction, {}, weights, alpha, false) {}

  /// Normalized residual score |y - prediction| / sigma; sigma: n finite scales > 0.
  /// Otherwise as above; throws also on a sigma of the wrong size or <= 0.
  weighted_split_conformal_regressor(std::span<const T> y, std::span<const T> prediction,
                                     std::span<const T> sigma, std::span<const T> weights,
                                     double alpha)
      : weighted_split_conformal_regressor(y, prediction, sigma, weights, alpha, true) {}

  /// The weighted conformal quantile for a test point of likelihood ratio test_weight >= 0:
  /// weighted_conformal_quantile(scores, weights, test_weight, alpha), up to the rounding of the
  /// total weight. O(log n). Throws invalid_argument on a negative or non-finite test_weight.
  T quantile(T test_weight) const {
    require_test_weight("tessera::conformal::weighted_split_conformal_regressor::quantile",
                        "test_weight", test_weight);
    return quantile_unchecked(test_weight);
  }

  /// The miscoverage level calibrated for.
  double alpha() const noexcept { return alpha_; }

  /// The number of calibration rows n.
  std::size_t calibration_size() const noexcept { return sorted_scores_.size(); }

  /// Whether the calibration used the normalized score (predict then needs sigma).
  bool normalized() const noexcept { return normalized_; }

  /// prediction -+ quantile(test_weight) (absolute score). O(log n).
  /// Throws invalid_argument on a non-finite prediction, a bad test_weight, or if calibrated
  /// with sigma.
  interval<T> predict(T prediction, T test_weight) const {
    constexpr std::string_view where =
        "tessera::conformal::weighted_split_conformal_regressor::predict";
    detail::require_matching_score(where, normalized_, false);
    require_finite(where, "prediction", prediction);
    require_test_weight(where, "test_weight", test_weight);
    return detail::scaled_interval(prediction, quantile_unchecked(test_weight), T{1});
  }

  /// prediction -+ quantile(test_weight) sigma (normalized score). O(log n).
  /// Throws also on sigma <= 0, or if calibrated without sigma.
  interval<T> predict(T prediction, T sigma, T test_weight) const {
    constexpr std::string_view where =
        "tessera::conformal::weighted_split_conformal_regressor::predict";
    detail::require_matching_score(where, normalized_, true);
    require_finite(where, "prediction", prediction);
    require_positive(where, "sigma", sigma);
    require_test_weight(where, "test_weight", test_weight);
    return detail::scaled_interval(prediction, quantile_unchecked(test_weight), sigma);
  }

  /// One interval per (prediction, test_weight) (absolute score). O(m log n).
  /// Errors as predict(T, T), and invalid_argument on sizes that differ.
  std::vector<interval<T>> predict(std::span<const T> prediction,
                                   std::span<const T> test_weights) const {
    constexpr std::string_view where =
        "tessera::conformal::weighted_split_conformal_regressor::predict";
    detail::require_matching_score(where, normalized_, false);
    return predict_all(where, prediction, {}, test_weights);
  }

  /// One interval per (prediction, sigma, test_weight) (normalized score). O(m log n).
  /// Errors as predict(T, T, T), and invalid_argument on sizes that differ.
  std::vector<interval<T>> predict(std::span<const T> prediction, std::span<const T> sigma,
                                   std::span<const T> test_weights) const {
    constexpr std::string_view where =
        "tessera::conformal::weighted_split_conformal_regressor::predict";
    detail::require_matching_score(where, normalized_, true);
    detail::require_scales(where, sigma, prediction.size());
    return predict_all(where, prediction, sigma, test_weights);
  }

 private:
  weighted_split_conformal_regressor(std::span<const T> y, std::span<const T> prediction,
                                     std::span<const T> sigma, std::span<const T> weights,
                                     double alpha, bool normalized)
      : alpha_(alpha), normalized_(normalized) {
    constexpr std::string_view where = "tessera::conformal::weighted_split_conformal_regressor";
    require_open_unit_interval(where, "alpha", alpha);
    detail::require_targets_and_predictions(where, y, prediction);
    if (normalized) detail::require_scales(where, sigma, prediction.size());
    calibration_weight_ = detail::require_weights(where, weights, y.size());
    sort_with_cumulative_weights(detail::residual_scores(y, prediction, sigma), weights);
  }

  // Orders the scores and accumulates their weights in that order, in double as
  // weighted_conformal_quantile does, so a test point's quantile is one binary search.
  void sort_with_cumulative_weights(const std::vector<T>& scores, std::span<const T> weights) {
    std::vector<std::size_t> order(scores.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
    sorted_scores_.resize(scores.size());
    cumulative_weight_.resize(scores.size());
    double mass = 0;
    for (std::size_t r = 0; r < order.size(); ++r) {
      sorted_scores_[r] = scores[order[r]];
      mass += weights[order[r]];
      cumulative_weight_[r] = mass;
    }
  }

  // The smallest sorted score whose cumulative weight reaches (1 - alpha)(W + w_test); the
  // cumulative weights never decrease (the weights are >= 0), so lower_bound finds it.
  T quantile_unchecked(T test_weight) const {
    const double target = (1.0 - alpha_) * (calibration_weight_ + test_weight);
    const auto reached =
        std::lower_bound(cumulative_weight_.begin(), cumulative_weight_.end(), target);
    if (reached == cumulative_weight_.end()) return std::numeric_limits<T>::infinity();
    return sorted_scores_[static_cast<std::size_t>(reached - cumulative_weight_.begin())];
  }

  static void require_test_weight(std::string_view where, std::string_view name, T test_weight) {
    require(std::isfinite(test_weight) && test_weight >= 0, where, name, test_weight,
            "a finite number >= 0");
  }

  std::vector<interval<T>> predict_all(std::string_view where, std::span<const T> prediction,
                                       std::span<const T> sigma,
                                       std::span<const T> test_weights) const {
    require_all_finite(where, "prediction", prediction);
    require_same_size(where, "test_weights", test_weights.size(), "prediction", prediction.size());
    for (std::size_t i = 0; i < test_weights.size(); ++i)
      require_test_weight(where, "test_weights[" + tessera::detail::to_text(i) + "]",
                          test_weights[i]);
    std::vector<interval<T>> intervals(prediction.size());
    for (std::size_t i = 0; i < prediction.size(); ++i)
      intervals[i] = detail::scaled_interval(prediction[i], quantile_unchecked(test_weights[i]),
                                             sigma.empty() ? T{1} : sigma[i]);
    return intervals;
  }

  std::vector<T> sorted_scores_;
  std::vector<double> cumulative_weight_;
  double calibration_weight_ = 0;
  double alpha_;
  bool normalized_;
};

}  // namespace tessera::conformal
