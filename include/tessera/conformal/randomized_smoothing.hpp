#pragma once
// Randomized smoothing of a bounded score, estimated by Monte Carlo, with the error bounds of the
// estimate.
//
// For a score S(x, y) in [0, 1] (e.g. 1 - p_y(x) of a classifier) and noise delta ~ N(0, sigma^2 I),
//
//     S_RS(x, y) = E_delta S(x + delta, y),     S~(x, y) = Phi^{-1}(S_RS(x, y)).
//
// S~ is (1/sigma)-Lipschitz in x (Salman et al., NeurIPS 2019, Lemma 2), so an l2 perturbation of
// norm eps moves it by at most eps / sigma: the certificate behind RSCP (Gendler, Weng, Daniel,
// Romano, ICLR 2022). S_RS is unknown in practice and estimated from N perturbations,
//
//     S^_RS(x, y) = (1/N) sum_{s < N} S(x + sigma z_s, y),
//
// whose error Yan, Romano, Weng ("Provably Robust Conformal Prediction with Improved Efficiency",
// ICLR 2024, Sec. 3) bound at confidence 1 - beta by Hoeffding or by the empirical Bernstein
// inequality; the bounds are the functions below, with the constants of the authors' code
// (Provably-Robust-Conformal-Prediction: `bound_hoef` in RSCP_exp.py, `calculate_Bern_bound` in
// utils.py).
//
// Randomness (DESIGN principle 3): perturbation s of a point is sigma * z with
// z_c = normal<T>(noise, s * d + c) for coordinate c < d, where `noise` is the point's stream,
// random_stream(seed, point_id, role). The role keeps the perturbations of calibration, test and
// holdout points independent of each other, which the coverage guarantees need.

#include <boost/math/distributions/normal.hpp>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>
#include <xtensor/xtensor.hpp>

#include "tessera/core/concepts.hpp"
#include "tessera/core/detail/fresh_tensor.hpp"
#include "tessera/core/errors.hpp"
#include "tessera/core/matrix_view.hpp"
#include "tessera/core/random.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::conformal {

/// A score of every label at a point, as a classifier gives it: f(point, scores) writes the K
/// scores S(point, 0..K-1), each in [0, 1], into scores (a span of K elements).
template <class F, class T>
concept label_score_function = std::invocable<F&, std::span<const T>, std::span<T>>;

/// The Gaussian noise of the smoothing and the number of Monte Carlo perturbations per point.
struct smoothing_parameters {
  double sigma = 0.25;          ///< sigma > 0: the standard deviation of every coordinate's noise
  std::uint32_t samples = 256;  ///< N >= 1: perturbations per point (the paper's N_MC)
};

/// Which use of a point a noise stream serves: the id1 of random_stream(seed, point_id, role).
enum class noise_role : std::uint32_t {
  calibration = 0,    ///< calibration point i: random_stream(seed, i) (id1 = id2 = 0)
  test = 1,           ///< test point j
  ptt_reference = 2,  ///< the one perturbation of a holdout point that PTT's rank transform uses
  ptt_selection = 3,  ///< the perturbations of a holdout point when PTT's sigmoid is chosen
};

/// The noise stream of point point_id in a given role: random_stream(seed, point_id, role).
/// Cost: one Philox evaluation (the key).
inline random_stream noise_stream(std::uint64_t seed, std::uint32_t point_id, noise_role role) {
  return random_stream(seed, point_id, static_cast<std::uint32_t>(role));
}

/// Phi^{-1}(p), the standard normal quantile, with Phi^{-1}(p) = -inf for p <= 0 and +inf for
/// p >= 1: the limits, so that a score or threshold clamped to [0, 1] keeps its order (a label
/// whose lowered score reaches 0 is always in a set; a threshold that reaches 1 admits every
/// label). p must not be NaN (not checked: the callers never pass one). O(1).
inline double standard_normal_quantile(double p) {
  if (p <= 0) return -std::numeric_limits<double>::infinity();
  if (p >= 1) return std::numeric_limits<double>::infinity();
  return boost::math::quantile(boost::math::normal_distribution<double>(), p);
}

/// Hoeffding's one-sided bound on the Monte Carlo error of a mean of N values in [0, 1]:
/// P(mean - E >= b) <= beta for b = sqrt(ln(1/beta) / (2N)) (the paper's b_Hoef(beta)).
/// samples: N >= 1; beta in (0, 1). O(1). Throws invalid_argument otherwise.
inline double hoeffding_bound(std::uint32_t samples, double beta) {
  constexpr std::string_view where = "tessera::conformal::hoeffding_bound";
  require(samples >= 1, where, "samples", samples, ">= 1");
  require_open_unit_interval(where, "beta", beta);
  return std::sqrt(std::log(1 / beta) / (2.0 * samples));
}

/// The empirical Bernstein bound of Maurer & Pontil (COLT 2009, Theorem 4) on the Monte Carlo
/// error of a mean of N values in [0, 1] with sample variance V (denominator N - 1):
/// P(mean - E >= b) <= beta for b = sqrt(2 V ln(2/beta) / N) + 7 ln(2/beta) / (3 (N - 1)).
/// Smaller than Hoeffding's when V is small (a score that is nearly constant under the noise).
/// samples: N >= 2; beta in (0, 1); variance >= 0 and finite. O(1). Throws invalid_argument.
inline double empirical_bernstein_bound(std::uint32_t samples, double beta, double variance) {
  constexpr std::string_view where = "tessera::conformal::empirical_bernstein_bound";
  require(samples >= 2, where, "samples", samples, ">= 2");
  require_open_unit_interval(where, "beta", beta);
  require(std::isfinite(variance) && variance >= 0, where, "variance", variance, "a finite number >= 0");
  const double log_term = std::log(2 / beta);
  const double n = samples;
  return std::sqrt(2 * variance * log_term / n) + 7 * log_term / (3 * (n - 1));
}

/// Monte Carlo estimates of the smoothed scores of n points: mean(i, k) = S^_RS(x_i, k), and
/// variance(i, k) their sample variance (denominator N - 1), or an empty (0 x 0) array when it
/// was not asked for.
template <float_or_double T>
struct smoothed_score_table {
  xt::xtensor<T, 2> mean;
  xt::xtensor<T, 2> variance;
};

namespace detail {

/// Welford's running mean and sum of squared deviations of each label's scores: one pass,
/// accurate even when N is large and the scores are nearly equal. Accumulates in double.
class label_moments {
 public:
  explicit label_moments(std::size_t labels) : mean_(labels), squared_deviations_(labels) {}

  void reset() {
    std::fill(mean_.begin(), mean_.end(), 0.0);
    std::fill(squared_deviations_.begin(), squared_deviations_.end(), 0.0);
    count_ = 0;
  }

  template <float_or_double T>
  void add(std::span<const T> scores) {
    ++count_;
    for (std::size_t k = 0; k < scores.size(); ++k) {
      const double value = scores[k];
      const double deviation = value - mean_[k];
      mean_[k] += deviation / static_cast<double>(count_);
      squared_deviations_[k] += deviation * (value - mean_[k]);
    }
  }

  /// Writes the means, and the sample variances when variance is non-empty (count >= 2).
  template <float_or_double T>
  void write(std::span<T> mean, std::span<T> variance) const {
    for (std::size_t k = 0; k < mean.size(); ++k) mean[k] = static_cast<T>(mean_[k]);
    for (std::size_t k = 0; k < variance.size(); ++k)
      variance[k] = static_cast<T>(squared_deviations_[k] / static_cast<double>(count_ - 1));
  }

 private:
  std::vector<double> mean_;
  std::vector<double> squared_deviations_;
  std::uint64_t count_ = 0;
};

inline void require_smoothing(std::string_view where, const smoothing_parameters& smoothing,
                              bool with_variance) {
  require_positive(where, "sigma", smoothing.sigma);
  const std::uint32_t fewest = with_variance ? 2 : 1;
  require(smoothing.samples >= fewest, where, "samples", smoothing.samples,
          with_variance ? ">= 2 (a sample variance needs two values)" : ">= 1");
}

/// Throws domain_error unless every score lies in [0, 1]: the Lipschitz certificate and the
/// Monte Carlo bounds hold for bounded scores only.
template <float_or_double T>
void require_unit_scores(std::string_view where, std::span<const T> scores, std::uint64_t sample) {
  for (std::size_t k = 0; k < scores.size(); ++k) {
    if (scores[k] >= 0 && scores[k] <= 1) continue;
    std::string message(where);
    message.append(": the score function returned ").append(tessera::detail::to_text(scores[k]));
    message.append(" for label ").append(tessera::detail::to_text(k));
    message.append(" at perturbation ").append(tessera::detail::to_text(sample));
    message.append("; expected 0 <= score <= 1");
    throw domain_error(message);
  }
}

/// The buffers of one Monte Carlo estimate, reused from point to point.
template <float_or_double T>
class smoothing_workspace {
 public:
  smoothing_workspace(std::size_t dimension, std::size_t labels)
      : perturbed_(dimension), scores_(labels), moments_(labels) {}

  /// Perturbation `sample` of x: x + sigma z, z the draws sample * d ... sample * d + d - 1.
  std::span<const T> perturb(std::span<const T> x, const random_stream& noise, T sigma,
                             std::uint64_t sample) {
    fill_normal<T>(exec::host, noise, std::span<T>(perturbed_), sample * x.size());
    for (std::size_t c = 0; c < x.size(); ++c) perturbed_[c] = x[c] + sigma * perturbed_[c];
    return perturbed_;
  }

  /// The scores of every label at one perturbation, checked to lie in [0, 1].
  template <class F>
  std::span<const T> scores_at(std::string_view where, F& score, std::span<const T> point,
                               std::uint64_t sample) {
    std::invoke(score, point, std::span<T>(scores_));
    require_unit_scores(where, std::span<const T>(scores_), sample);
    return scores_;
  }

  /// The means (and sample variances when variance is non-empty) of the N perturbed scores.
  template <class F>
  void estimate(std::string_view where, std::span<const T> x, const random_stream& noise,
                const smoothing_parameters& smoothing, F& score, std::span<T> mean,
                std::span<T> variance) {
    const T sigma = static_cast<T>(smoothing.sigma);
    moments_.reset();
    for (std::uint64_t sample = 0; sample < smoothing.samples; ++sample)
      moments_.add(scores_at(where, score, perturb(x, noise, sigma, sample), sample));
    moments_.write(mean, variance);
  }

 private:
  std::vector<T> perturbed_;
  std::vector<T> scores_;
  label_moments moments_;
};

/// Requires an n x d table of finite coordinates with n >= 1, d >= 1, and point ids
/// first_point_id + i that fit the 32-bit stream id.
template <float_or_double T>
void require_points(std::string_view where, matrix_view<const T> points, std::uint32_t first_point_id) {
  require(points.rows >= 1 && points.cols >= 1, where, "points.shape()",
          tessera::detail::to_text(points.rows) + " x " + tessera::detail::to_text(points.cols),
          "a two-dimensional n x d array with n >= 1, d >= 1");
  require_all_finite(where, "points", std::span<const T>(points.data, points.rows * points.cols));
  const std::uint64_t last_id = std::uint64_t{first_point_id} + points.rows - 1;
  require(last_id <= std::numeric_limits<std::uint32_t>::max(), where, "first_point_id + n - 1",
          last_id, "<= 2^32 - 1 (a stream id is 32 bits)");
}

}  // namespace detail

/// The Monte Carlo estimate of the smoothed scores of every label at one point x:
/// mean[k] = (1/N) sum_s S(x + sigma z_s, k), and, when variance is non-empty, variance[k] = the
/// sample variance of the N values (denominator N - 1), which the empirical Bernstein bound needs.
/// x: d >= 1 finite coordinates; noise: the point's stream (see noise_stream); score: fills the
/// K = mean.size() scores of a perturbed point. Cost: N calls of score plus O(N (d + K)).
/// Throws invalid_argument on sigma <= 0, samples < 1 (< 2 with a variance), an empty or
/// non-finite x, an empty mean or a variance of another size; domain_error when score returns a
/// value outside [0, 1] (NaN included).
template <float_or_double T, label_score_function<T> F>
void smooth_scores(std::span<const T> x, const random_stream& noise,
                   const smoothing_parameters& smoothing, F&& score, std::span<T> mean,
                   std::span<T> variance = {}) {
  constexpr std::string_view where = "tessera::conformal::smooth_scores";
  detail::require_smoothing(where, smoothing, !variance.empty());
  require_nonempty(where, "x", x.size());
  require_all_finite(where, "x", x);
  require_nonempty(where, "mean", mean.size());
  if (!variance.empty()) require_same_size(where, "variance", variance.size(), "mean", mean.size());
  detail::smoothing_workspace<T> workspace(x.size(), mean.size());
  workspace.estimate(where, x, noise, smoothing, score, mean, variance);
}

/// smooth_scores for every row of an n x d table: row i is smoothed with the stream
/// noise_stream(seed, first_point_id + i, role). Returns n x K means and, when with_variance,
/// n x K sample variances. Cost: n N calls of score (serial: score need not be thread-safe).
/// Throws as smooth_scores, and invalid_argument on an empty table, label_count = 0 or point ids
/// past 2^32 - 1.
template <float_or_double T, row_major_matrix_of<T> M, label_score_function<T> F>
smoothed_score_table<T> smooth_score_table(const M& points, F&& score, std::size_t label_count,
                                           const smoothing_parameters& smoothing, std::uint64_t seed,
                                           noise_role role, std::uint32_t first_point_id = 0,
                                           bool with_variance = false) {
  constexpr std::string_view where = "tessera::conformal::smooth_score_table";
  detail::require_smoothing(where, smoothing, with_variance);
  const matrix_view<const T> x = view_of<T>(points);
  detail::require_points(where, x, first_point_id);
  require(label_count >= 1, where, "label_count", label_count, ">= 1");

  smoothed_score_table<T> table{tessera::detail::fresh_tensor<T, 2>({x.rows, label_count}),
                                tessera::detail::fresh_tensor<T, 2>({with_variance ? x.rows : 0,
                                                                     with_variance ? label_count : 0})};
  detail::smoothing_workspace<T> workspace(x.cols, label_count);
  for (std::size_t i = 0; i < x.rows; ++i) {
    const auto id = static_cast<std::uint32_t>(first_point_id + i);
    std::span<T> mean(table.mean.data() + i * label_count, label_count);
    std::span<T> variance = with_variance ? std::span<T>(table.variance.data() + i * label_count, label_count)
                                          : std::span<T>();
    workspace.estimate(where, x.row(i), noise_stream(seed, id, role), smoothing, score, mean, variance);
  }
  return table;
}

}  // namespace tessera::conformal
