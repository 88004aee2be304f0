#pragma once
// Conformalized quantile regression (CQR): calibrates the band [lo(x), hi(x)] of two fitted
// quantile regressors so that it covers with probability >= 1 - alpha.
//
// Romano, Patterson, Candès, "Conformalized Quantile Regression", NeurIPS 2019. On calibration
// rows not used to fit lo and hi:
//
//   symmetric   s = max(lo(x) - y, y - hi(x));  q = conformal quantile of s at alpha;
//               C(x) = [lo(x) - q, hi(x) + q]                        (the paper's CQR procedure)
//   asymmetric  q_lo = conformal quantile of lo(x) - y, q_hi = of y - hi(x), each at alpha / 2;
//               C(x) = [lo(x) - q_lo, hi(x) + q_hi]  (the paper's variant with separate lower and
//                                                     upper levels, here alpha/2 + alpha/2)
//
// Both give P(y in C(x)) >= 1 - alpha with exchangeable rows; the symmetric one is also at most
// 1 - alpha + 1/(n + 1) without ties. The asymmetric one adapts to skewed errors, and needs
// ceil((n + 1)(1 - alpha/2)) <= n for finite bounds. q may be negative: the band then shrinks.
// MAPIE's ConformalizedQuantileRegressor computes the same bounds, asymmetric by default
// (symmetric_correction=False); here the paper's symmetric form is the default.
//
// Crossed quantiles (lo(x) > hi(x)) are accepted: the score and the guarantee do not need
// lo <= hi, since y in C(x) exactly when the score at y is <= q. A returned interval with
// lower > upper is empty: no y conforms at that x.

#include <algorithm>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "tessera/conformal/detail/interval_writer.hpp"
#include "tessera/conformal/interval.hpp"
#include "tessera/conformal/quantile.hpp"
#include "tessera/core/concepts.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::conformal {

/// How CQR corrects the two quantile predictions (Romano et al. 2019).
enum class cqr_correction {
  symmetric,   ///< one constant from s = max(lo - y, y - hi) at level alpha
  asymmetric,  ///< one constant per side, from lo - y and y - hi, each at level alpha / 2
};

namespace detail {

/// [lower - q_lo, upper + q_hi]: the interval of one test point. O(1).
template <float_or_double T>
interval<T> corrected_band(T lower, T upper, T lower_correction, T upper_correction) {
  return {lower - lower_correction, upper + upper_correction};
}

/// The intervals [lo_i - q_lo, hi_i + q_hi] of CQR's predictions, each formed from its inputs
/// once, with the inputs checked on the way (a checked_interval_maker).
template <float_or_double T>
class quantile_band_maker {
 public:
  /// lower, upper: the quantile regressors' predictions, read at the indices asked (same size).
  quantile_band_maker(T lower_correction, T upper_correction, std::span<const T> lower, std::span<const T> upper)
      : lower_correction_(lower_correction), upper_correction_(upper_correction), lower_(lower), upper_(upper) {}
  /// [lo_i - q_lo, hi_i + q_hi]. O(1).
  interval<T> operator()(std::size_t i) {
    return corrected_band(lower_finite_.see(lower_[i]), upper_finite_.see(upper_[i]), lower_correction_,
                          upper_correction_);
  }
  /// Whether every prediction read was finite.
  bool valid() const { return lower_finite_.all_finite() && upper_finite_.all_finite(); }
  /// Throws invalid_argument naming the first non-finite lower, then upper, prediction. O(m).
  void require_all_valid(std::string_view where) const {
    require_all_finite(where, "lower", lower_);
    require_all_finite(where, "upper", upper_);
  }

 private:
  T lower_correction_, upper_correction_;
  std::span<const T> lower_, upper_;
  tessera::detail::finite_watch<T> lower_finite_, upper_finite_;
};

}  // namespace detail

/// Conformalized quantile regression: calibrate once, then an interval per (lo(x), hi(x)).
template <float_or_double T>
class conformalized_quantile_regressor {
 public:
  /// y: n >= 1 finite calibration targets; lower, upper: the quantile regressors' finite
  /// predictions of them (crossings allowed); alpha in (0, 1).
  /// O(n) time (selection), O(n) transient memory.
  /// Throws invalid_argument on a size mismatch, an empty or non-finite input, or a bad alpha.
  conformalized_quantile_regressor(std::span<const T> y, std::span<const T> lower,
                                   std::span<const T> upper, double alpha,
                                   cqr_correction correction = cqr_correction::symmetric)
      : alpha_(alpha), correction_(correction) {
    constexpr std::string_view where = "tessera::conformal::conformalized_quantile_regressor";
    require_open_unit_interval(where, "alpha", alpha);
    require_quantile_predictions(where, lower, upper);
    require_same_size(where, "y", y.size(), "lower", lower.size());
    require_all_finite(where, "y", y);
    if (correction == cqr_correction::symmetric)
      calibrate_symmetric(y, lower, upper);
    else
      calibrate_asymmetric(y, lower, upper);
  }

  /// q_lo: what predict subtracts from the lower prediction (+inf for an unbounded side).
  T lower_correction() const noexcept { return lower_correction_; }

  /// q_hi: what predict adds to the upper prediction; equals q_lo for the symmetric correction.
  T upper_correction() const noexcept { return upper_correction_; }

  /// The correction calibrated.
  cqr_correction correction() const noexcept { return correction_; }

  /// The miscoverage level calibrated for.
  double alpha() const noexcept { return alpha_; }

  /// [lower - q_lo, upper + q_hi] for one test point. O(1).
  /// Throws invalid_argument on a non-finite prediction.
  interval<T> predict(T lower, T upper) const {
    constexpr std::string_view where =
        "tessera::conformal::conformalized_quantile_regressor::predict";
    require_finite(where, "lower", lower);
    require_finite(where, "upper", upper);
    return detail::corrected_band(lower, upper, lower_correction_, upper_correction_);
  }

  /// One interval per test point. O(m), one pass, over OpenMP's threads from 2^15 intervals
  /// (detail::write_intervals).
  /// Throws invalid_argument on a size mismatch, an empty or a non-finite input.
  std::vector<interval<T>> predict(std::span<const T> lower, std::span<const T> upper) const {
    constexpr std::string_view where = "tessera::conformal::conformalized_quantile_regressor::predict";
    require_quantile_prediction_sizes(where, lower, upper);
    auto intervals = detail::fresh_intervals<T>(lower.size());
    write_bands(where, lower, upper, intervals);
    return intervals;
  }

  /// predict's intervals written into `out` (one per test point), memory of the caller's that
  /// batches can reuse, sparing a fresh vector's page faults (see
  /// split_conformal_regressor::predict_into). O(m), as predict. Errors as predict, and
  /// invalid_argument when out.size() != lower.size(); out may be written before a bad input is
  /// reported.
  void predict_into(std::span<const T> lower, std::span<const T> upper, std::span<interval<T>> out) const {
    constexpr std::string_view where = "tessera::conformal::conformalized_quantile_regressor::predict_into";
    require_quantile_prediction_sizes(where, lower, upper);
    require_same_size(where, "out", out.size(), "lower", lower.size());
    write_bands(where, lower, upper, out);
  }

 private:
  // [lo_i - q_lo, hi_i + q_hi] into out (of lower's size), the predictions checked.
  void write_bands(std::string_view where, std::span<const T> lower, std::span<const T> upper,
                   std::span<interval<T>> out) const {
    detail::write_intervals<T>(where, detail::quantile_band_maker<T>(lower_correction_, upper_correction_, lower, upper),
                               out, [](detail::quantile_band_maker<T>& make, std::size_t i) { return make(i); });
  }

  static void require_quantile_prediction_sizes(std::string_view where, std::span<const T> lower,
                                                std::span<const T> upper) {
    require_nonempty(where, "lower", lower.size());
    require_same_size(where, "upper", upper.size(), "lower", lower.size());
  }

  static void require_quantile_predictions(std::string_view where, std::span<const T> lower,
                                           std::span<const T> upper) {
    require_quantile_prediction_sizes(where, lower, upper);
    require_all_finite(where, "lower", lower);
    require_all_finite(where, "upper", upper);
  }

  void calibrate_symmetric(std::span<const T> y, std::span<const T> lower,
                           std::span<const T> upper) {
    std::vector<T> scores(y.size());
    for (std::size_t i = 0; i < y.size(); ++i)
      scores[i] = std::max(lower[i] - y[i], y[i] - upper[i]);
    lower_correction_ = conformal_quantile_in_place(std::span<T>(scores), alpha_);
    upper_correction_ = lower_correction_;
  }

  // Each side is a one-sided split conformal problem at level alpha / 2; the union bound over
  // the two sides gives 1 - alpha. Halving a double is exact, so the ranks stay exact.
  void calibrate_asymmetric(std::span<const T> y, std::span<const T> lower,
                            std::span<const T> upper) {
    std::vector<T> below(y.size()), above(y.size());
    for (std::size_t i = 0; i < y.size(); ++i) {
      below[i] = lower[i] - y[i];
      above[i] = y[i] - upper[i];
    }
    lower_correction_ = conformal_quantile_in_place(std::span<T>(below), alpha_ / 2);
    upper_correction_ = conformal_quantile_in_place(std::span<T>(above), alpha_ / 2);
  }

  T lower_correction_{};
  T upper_correction_{};
  double alpha_;
  cqr_correction correction_;
};

}  // namespace tessera::conformal
