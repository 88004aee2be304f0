#pragma once
// Post-training transformation (PTT) of a base score before randomized smoothing: Yan, Romano,
// Weng, "Provably Robust Conformal Prediction with Improved Efficiency" (ICLR 2024, Sec. 4).
//
//     Q(s) = sigmoid((Q_rank(s) - b) / T),   Q_rank(s) = (1/m) #{j : r_j <= s},
//
// where r_1..r_m are base scores of a holdout set at its true labels (the empirical CDF) and
// sigmoid(z) = 1 / (1 + e^{-z}). Why it shrinks robust sets: RSCP+ compares Phi^{-1} of smoothed
// scores against a threshold raised by eps / sigma and by the Monte Carlo bounds, so its sets are
// small only when the smoothed scores of true and wrong labels lie far apart on the Phi^{-1}
// scale. The rank step makes the true-label score uniform on [0, 1] whatever the classifier; the
// sigmoid with a small temperature T then pushes scores below the bias b towards 0 and those above
// it towards 1, so the smoothed score becomes the probability of landing above b, which separates
// labels and has a small variance (which the empirical Bernstein bound rewards).
//
// Q is non-decreasing and maps into (0, 1): a transformed score is a valid RSCP+ score, and as long
// as the holdout set is disjoint from the calibration set the RSCP+ guarantee holds unchanged.
//
// Following the authors' code (`ranking_score`, `sigmoid_score` in Score_Functions.py; holdout
// reference scores from one Gaussian perturbation per point in RSCP_exp.py) the reference score of
// holdout point j is its base score at its label under one perturbation, drawn from
// noise_stream(seed, j, noise_role::ptt_reference). Their sigmoid multiplies (s - b) by T; their
// T = 400 is temperature 1/400 here, with b = 0.9 at alpha = 0.1. Here b and T can also be chosen
// on the holdout set: the pair of a grid whose RSCP / RSCP+ sets, calibrated and measured on the
// holdout (perturbations from noise_role::ptt_selection), have the smallest mean size.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include <xtensor/xtensor.hpp>

#include "tessera/conformal/randomized_smoothing.hpp"
#include "tessera/conformal/robust_conformal.hpp"
#include "tessera/core/concepts.hpp"
#include "tessera/core/detail/fresh_tensor.hpp"
#include "tessera/core/errors.hpp"
#include "tessera/core/matrix_view.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::conformal {

/// The empirical CDF of reference scores: Q_rank(s) = #{j : r_j <= s} / m, in {0, 1/m, ..., 1}.
template <float_or_double T>
class rank_transform {
 public:
  /// reference_scores: m >= 1 base scores (e.g. of a holdout set at its true labels), no NaN.
  /// O(m log m): one sorted copy. Throws invalid_argument on an empty or NaN-holding input.
  explicit rank_transform(std::span<const T> reference_scores)
      : sorted_(reference_scores.begin(), reference_scores.end()) {
    constexpr std::string_view where = "tessera::conformal::rank_transform";
    require_nonempty(where, "reference_scores", reference_scores.size());
    require_no_nan(where, "reference_scores", reference_scores);
    std::sort(sorted_.begin(), sorted_.end());
  }

  /// Q_rank(score). O(log m). Throws domain_error on a NaN score (it has no rank).
  T operator()(T score) const {
    if (std::isnan(score))
      throw domain_error("tessera::conformal::rank_transform: score = nan; expected a number (not NaN)");
    const auto at_most = std::upper_bound(sorted_.begin(), sorted_.end(), score) - sorted_.begin();
    return static_cast<T>(static_cast<double>(at_most) / static_cast<double>(sorted_.size()));
  }

  /// The reference scores, sorted.
  std::span<const T> sorted_reference() const noexcept { return sorted_; }

 private:
  std::vector<T> sorted_;
};

/// sigmoid((s - bias) / temperature). Defaults: the authors' b = 0.9, T = 1/400 (for alpha = 0.1).
struct sigmoid_transform {
  double bias = 0.9;
  double temperature = 1.0 / 400;

  /// The transformed score, in [0, 1] (exactly 0 or 1 where the exponential over- or underflows).
  template <float_or_double T>
  T operator()(T score) const {
    return static_cast<T>(1 / (1 + std::exp(-(static_cast<double>(score) - bias) / temperature)));
  }
};

/// Q = sigmoid_transform o rank_transform: the PTT of a base score.
template <float_or_double T>
class post_training_transformation {
 public:
  /// rank: fitted on the holdout; sigmoid: bias finite, temperature > 0 finite. O(1) after the
  /// move. Throws invalid_argument on a bad sigmoid.
  post_training_transformation(rank_transform<T> rank, sigmoid_transform sigmoid)
      : rank_(std::move(rank)), sigmoid_(sigmoid) {
    constexpr std::string_view where = "tessera::conformal::post_training_transformation";
    require_finite(where, "sigmoid.bias", sigmoid.bias);
    require_positive(where, "sigmoid.temperature", sigmoid.temperature);
  }

  /// Q(base_score). O(log m). Throws domain_error on NaN.
  T operator()(T base_score) const { return sigmoid_(rank_(base_score)); }

  /// The label_score_function that calls base_score and transforms each of its K scores; it
  /// holds copies of base_score and of this transformation and calls base_score as const (pass
  /// std::ref(f) to transform a score function f whose call changes its state).
  /// Cost per call: base_score's plus O(K log m).
  template <class F>
    requires label_score_function<const F, T>
  auto transformed(F base_score) const {
    return [transformation = *this, base = std::move(base_score)](std::span<const T> point,
                                                                 std::span<T> scores) {
      std::invoke(base, point, scores);
      for (T& score : scores) score = transformation(score);
    };
  }

  /// The two steps: the holdout's rank transform and the sigmoid.
  const rank_transform<T>& rank() const noexcept { return rank_; }
  const sigmoid_transform& sigmoid() const noexcept { return sigmoid_; }

 private:
  rank_transform<T> rank_;
  sigmoid_transform sigmoid_;
};

/// The result of fit_post_training_transformation.
template <float_or_double T>
struct post_training_fit {
  /// The rank transform of the holdout with the chosen sigmoid.
  post_training_transformation<T> transformation;
  /// mean_set_size(a, b): the mean RSCP / RSCP+ set size on the holdout with biases[a] and
  /// temperatures[b].
  xt::xtensor<double, 2> mean_set_size;
};

namespace detail {

/// Rank-transformed base scores of every holdout point, perturbation and label (n x N x K,
/// flattened): computed once, then every sigmoid of the grid reuses them.
template <float_or_double T>
struct ranked_perturbation_scores {
  std::vector<T> values;
  std::size_t samples;
  std::size_t labels;

  std::span<const T> at(std::size_t point, std::size_t sample) const {
    return {values.data() + (point * samples + sample) * labels, labels};
  }
};

/// The base score of each holdout point at its label, under one perturbation (ptt_reference).
template <float_or_double T, class F>
std::vector<T> holdout_reference_scores(std::string_view where, matrix_view<const T> points,
                                        std::span<const std::int32_t> labels, std::size_t label_count,
                                        F& base_score, const smoothing_parameters& smoothing,
                                        std::uint64_t seed) {
  smoothing_workspace<T> workspace(points.cols, label_count);
  std::vector<T> reference(points.rows);
  for (std::size_t j = 0; j < points.rows; ++j) {
    const random_stream noise = noise_stream(seed, static_cast<std::uint32_t>(j), noise_role::ptt_reference);
    const auto point = workspace.perturb(points.row(j), noise, static_cast<T>(smoothing.sigma), 0);
    reference[j] = workspace.scores_at(where, base_score, point, 0)[static_cast<std::size_t>(labels[j])];
  }
  return reference;
}

/// rank(S(x_j + sigma z_s, k)) for every holdout point j, perturbation s (ptt_selection), label k.
template <float_or_double T, class F>
ranked_perturbation_scores<T> rank_perturbation_scores(std::string_view where, matrix_view<const T> points,
                                                        std::size_t label_count, F& base_score,
                                                        const rank_transform<T>& rank,
                                                        const smoothing_parameters& smoothing,
                                                        std::uint64_t seed) {
  ranked_perturbation_scores<T> ranked{std::vector<T>(points.rows * smoothing.samples * label_count),
                                       smoothing.samples, label_count};
  smoothing_workspace<T> workspace(points.cols, label_count);
  for (std::size_t j = 0; j < points.rows; ++j) {
    const random_stream noise = noise_stream(seed, static_cast<std::uint32_t>(j), noise_role::ptt_selection);
    for (std::uint64_t s = 0; s < smoothing.samples; ++s) {
      const auto point = workspace.perturb(points.row(j), noise, static_cast<T>(smoothing.sigma), s);
      const auto scores = workspace.scores_at(where, base_score, point, s);
      T* out = ranked.values.data() + (j * smoothing.samples + s) * label_count;
      for (std::size_t k = 0; k < label_count; ++k) out[k] = rank(scores[k]);
    }
  }
  return ranked;
}

/// The Monte Carlo table of sigmoid(ranked scores): the same numbers smooth_score_table gives for
/// the transformed score, since the perturbations and the order of accumulation are the same.
template <float_or_double T>
smoothed_score_table<T> sigmoid_score_table(const ranked_perturbation_scores<T>& ranked, std::size_t points,
                                            const sigmoid_transform& sigmoid, bool with_variance) {
  smoothed_score_table<T> table{tessera::detail::fresh_tensor<T, 2>({points, ranked.labels}),
                                tessera::detail::fresh_tensor<T, 2>({with_variance ? points : 0,
                                                                     with_variance ? ranked.labels : 0})};
  label_moments moments(ranked.labels);
  std::vector<T> transformed(ranked.labels);
  for (std::size_t j = 0; j < points; ++j) {
    moments.reset();
    for (std::size_t s = 0; s < ranked.samples; ++s) {
      const auto ranks = ranked.at(j, s);
      for (std::size_t k = 0; k < ranked.labels; ++k) transformed[k] = sigmoid(ranks[k]);
      moments.add(std::span<const T>(transformed));
    }
    std::span<T> variance = with_variance ? std::span<T>(table.variance.data() + j * ranked.labels, ranked.labels)
                                          : std::span<T>();
    moments.write(std::span<T>(table.mean.data() + j * ranked.labels, ranked.labels), variance);
  }
  return table;
}

inline void require_sigmoid_grid(std::string_view where, std::span<const double> biases,
                                 std::span<const double> temperatures) {
  require_nonempty(where, "biases", biases.size());
  require_nonempty(where, "temperatures", temperatures.size());
  require_all_finite(where, "biases", biases);
  for (std::size_t b = 0; b < temperatures.size(); ++b)
    require_positive(where, "temperatures[" + tessera::detail::to_text(b) + "]", temperatures[b]);
}

}  // namespace detail

/// Fits PTT on a labelled holdout set, disjoint from the calibration set: the rank transform from
/// each holdout point's base score at its label under one perturbation, then the (bias,
/// temperature) of the grid biases x temperatures whose RSCP / RSCP+ sets (robust's correction),
/// calibrated and measured on the holdout with `smoothing`, have the smallest mean size (ties:
/// the first in row-major grid order).
/// holdout_points: n x d finite; holdout_labels: n in [0, label_count); base_score: K scores in
/// [0, 1]; biases: finite; temperatures: > 0.
/// Cost: n (N + 1) calls of base_score, O(n N K log n) for the ranks, and O(G n N K) for a grid of
/// G pairs; memory O(n N K) (the ranked scores are kept for the whole grid).
/// Throws invalid_argument on the parameters robust_conformal_classifier rejects, on shape or
/// label errors, or on an empty or invalid grid; domain_error on a base score outside [0, 1].
template <float_or_double T, row_major_matrix_of<T> M, label_score_function<T> F>
post_training_fit<T> fit_post_training_transformation(const M& holdout_points,
                                                      std::span<const std::int32_t> holdout_labels,
                                                      std::size_t label_count, F&& base_score,
                                                      const smoothing_parameters& smoothing,
                                                      const robust_parameters& robust, std::uint64_t seed,
                                                      std::span<const double> biases,
                                                      std::span<const double> temperatures) {
  constexpr std::string_view where = "tessera::conformal::fit_post_training_transformation";
  robust_conformal_classifier<T> classifier(smoothing, robust, seed);
  const matrix_view<const T> x = view_of<T>(holdout_points);
  detail::require_points(where, x, 0);
  require(label_count >= 1, where, "label_count", label_count, ">= 1");
  detail::require_labels(where, holdout_labels, "holdout_points", x.rows, label_count);
  detail::require_sigmoid_grid(where, biases, temperatures);

  rank_transform<T> rank(std::span<const T>(
      detail::holdout_reference_scores(where, x, holdout_labels, label_count, base_score, smoothing, seed)));
  const auto ranked = detail::rank_perturbation_scores(where, x, label_count, base_score, rank, smoothing, seed);
  const bool with_variance = robust.correction == monte_carlo_correction::empirical_bernstein;

  auto mean_set_size = xt::xtensor<double, 2>::from_shape({biases.size(), temperatures.size()});
  sigmoid_transform best{biases[0], temperatures[0]};
  double smallest = std::numeric_limits<double>::infinity();
  for (std::size_t a = 0; a < biases.size(); ++a) {
    for (std::size_t b = 0; b < temperatures.size(); ++b) {
      const sigmoid_transform sigmoid{biases[a], temperatures[b]};
      const auto table = detail::sigmoid_score_table(ranked, x.rows, sigmoid, with_variance);
      classifier.calibrate(table, holdout_labels);
      const auto sets = classifier.predict(table);
      mean_set_size(a, b) = static_cast<double>(std::count(sets.begin(), sets.end(), true)) /
                            static_cast<double>(x.rows);
      if (mean_set_size(a, b) < smallest) {
        smallest = mean_set_size(a, b);
        best = sigmoid;
      }
    }
  }
  return {post_training_transformation<T>(std::move(rank), best), std::move(mean_set_size)};
}

}  // namespace tessera::conformal
