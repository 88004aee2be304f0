#pragma once
// Adaptive conformal inference: online prediction sets whose long-run miscoverage tracks alpha
// under any distribution shift.
//
// ACI (Gibbs & Candès, "Adaptive conformal inference under distribution shift", NeurIPS 2021).
// At step t the set is C_t = {y : s_t(y) <= q_t(alpha_t)}, where s_t is any conformity score
// (|y - mu(x_t)| for regression, 1 - p_y(x_t) for classification) and q_t(a) is the conformal
// quantile at miscoverage a of the last W scores observed: their ceil((n + 1)(1 - a))-th
// smallest, +inf when that rank exceeds their number n. Two ends are part of the method:
// a <= 0 gives q = +inf (the whole line, every label) and a >= 1 gives the empty set. Once s_t is
// revealed, err_t = 1{s_t > q_t(alpha_t)} (always 1 for the empty set) and
//
//     alpha_{t+1} = alpha_t + gamma (alpha - err_t).
//
// For every sequence of scores, |(1/T) sum_{t <= T} err_t - alpha| <= (max(alpha_1, 1 - alpha_1)
// + gamma) / (gamma T) (their Proposition 4.1), with no assumption on the data.
//
// DtACI (Gibbs & Candès, "Conformal inference for online prediction with arbitrary distribution
// shifts", JMLR 25(162), 2024, Algorithm 1) removes the choice of gamma: k ACI experts with step
// sizes gamma_1..gamma_k run side by side, and the output level is drawn from them with
// probabilities p_t updated by exponential weights on the pinball loss
//
//     l(beta_t, theta) = alpha (beta_t - theta) - min(0, beta_t - theta),
//     beta_t = sup{a : s_t <= q_t(a)}   (the largest level whose set still covers y_t),
//     w_i <- p_i exp(-eta l(beta_t, alpha_t^i)),  p_i <- (1 - sigma) w_i / sum_j w_j + sigma / k,
//
// the fixed-share term sigma / k letting a once-bad expert regain weight after a shift. The
// paper outputs expert i with probability p_i (dtaci_output::sampled, drawn here from a counter
// stream so a run is reproducible); its authors' code also reports the deterministic average
// sum_i p_i alpha_t^i (dtaci_output::weighted_mean).
//
// Both states are plain values (DESIGN principle 4): copy or save aci_state / dtaci_state, build
// a new object from it, and the run continues bit for bit.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tessera/conformal/interval.hpp"
#include "tessera/conformal/quantile.hpp"
#include "tessera/core/concepts.hpp"
#include "tessera/core/random.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::conformal {

namespace detail {

/// Whether the set at level a covers a score that exceeds exactly `below` of the n window
/// scores. s <= (k-th smallest) holds iff fewer than k scores lie below s, so no quantile needs
/// to be selected: covered iff a <= 0, or a < 1 and ceil((n + 1)(1 - a)) > below. O(1).
inline bool level_covers(double level, std::size_t n, std::size_t below) {
  if (level <= 0) return true;
  if (level >= 1) return false;
  return upper_rank(n, level) > below;
}

/// q(a) of the window: +inf for a <= 0, -inf (the empty set) for a >= 1, else the conformal
/// quantile (+inf when the rank exceeds the number of scores, an empty window included). O(W).
template <float_or_double T>
T window_threshold(std::span<const T> scores, double level) {
  if (level <= 0) return std::numeric_limits<T>::infinity();
  if (level >= 1) return -std::numeric_limits<T>::infinity();
  std::vector<T> copy(scores.begin(), scores.end());
  return order_statistic_in_place(std::span<T>(copy), upper_rank(copy.size(), level));
}

/// #{window scores < score}. O(W).
template <float_or_double T>
std::size_t count_below(std::span<const T> scores, T score) {
  return static_cast<std::size_t>(
      std::count_if(scores.begin(), scores.end(), [score](T s) { return s < score; }));
}

/// Appends a score, dropping the oldest once the window holds `window` scores. O(W).
template <float_or_double T>
void push_score(std::vector<T>& scores, std::size_t window, T score) {
  if (scores.size() == window) scores.erase(scores.begin());
  scores.push_back(score);
}

/// The last min(window, size) scores, oldest first.
template <float_or_double T>
std::vector<T> last_scores(std::span<const T> scores, std::size_t window) {
  const std::size_t kept = std::min(window, scores.size());
  return {scores.end() - static_cast<std::ptrdiff_t>(kept), scores.end()};
}

/// [prediction - q, prediction + q]: the whole line for q = +inf and, for q = -inf, the empty
/// interval [+inf, -inf] that contains nothing.
template <float_or_double T>
interval<T> interval_around(T prediction, T threshold) {
  return {prediction - threshold, prediction + threshold};
}

template <float_or_double T>
void require_window(std::string_view where, std::size_t window, std::span<const T> scores) {
  require(window >= 1, where, "window", window, ">= 1");
  require(scores.size() <= window, where, "scores.size()", scores.size(),
          "<= window = " + tessera::detail::to_text(window));
  require_no_nan(where, "scores", scores);
}

}  // namespace detail

/// Everything ACI needs to continue a run; a plain value to copy, save and restore.
template <float_or_double T>
struct aci_state {
  double alpha = 0.1;            ///< target miscoverage, 0 < alpha < 1
  double gamma = 0.005;          ///< step size, > 0
  double level = 0.1;            ///< the current level alpha_t (any finite value)
  std::size_t window = 1;        ///< W >= 1: how many recent scores calibrate the set
  std::vector<T> scores;         ///< the last <= W scores, oldest first
  std::uint64_t steps = 0;       ///< labels observed
  std::uint64_t miscovered = 0;  ///< of which fell outside their set

  friend bool operator==(const aci_state&, const aci_state&) = default;
};

/// Adaptive conformal inference (Gibbs & Candès 2021) over a sliding window of scores.
template <float_or_double T>
class aci {
 public:
  /// alpha: target miscoverage in (0, 1), also alpha_1; gamma > 0: step size; window >= 1: the
  /// number of recent scores kept; calibration_scores: scores known before the first step (the
  /// last `window` are kept, none is fine). O(W). Throws invalid_argument on a bad parameter or
  /// a NaN score.
  aci(double alpha, double gamma, std::size_t window,
      std::span<const T> calibration_scores = {})
      : aci(aci_state<T>{alpha, gamma, alpha, window,
                         detail::last_scores(calibration_scores, window), 0, 0}) {}

  /// Resumes from a saved state. O(W). Throws invalid_argument on an inconsistent state.
  explicit aci(aci_state<T> state) : state_(std::move(state)) {
    constexpr std::string_view where = "tessera::conformal::aci";
    require_open_unit_interval(where, "alpha", state_.alpha);
    require_positive(where, "gamma", state_.gamma);
    require_finite(where, "level", state_.level);
    detail::require_window(where, state_.window, std::span<const T>(state_.scores));
    require(state_.miscovered <= state_.steps, where, "miscovered", state_.miscovered,
            "<= steps = " + tessera::detail::to_text(state_.steps));
  }

  /// The state to save; aci(state()) continues identically. O(1).
  const aci_state<T>& state() const noexcept { return state_; }

  /// The current level alpha_t. O(1).
  double level() const noexcept { return state_.level; }

  /// The current threshold q_t(alpha_t): the set is {y : score(y) <= threshold()}; +inf is
  /// every y, -inf (alpha_t >= 1) none. O(W).
  T threshold() const {
    return detail::window_threshold(std::span<const T>(state_.scores), state_.level);
  }

  /// Whether the current set holds a candidate with this score. O(W). Throws on NaN.
  bool covers(T score) const {
    require(!std::isnan(score), "tessera::conformal::aci::covers", "score", score,
            "a number (not NaN)");
    const std::span<const T> scores(state_.scores);
    return detail::level_covers(state_.level, scores.size(), detail::count_below(scores, score));
  }

  /// The regression interval [prediction - q_t, prediction + q_t] for the score |y - prediction|;
  /// [+inf, -inf] (contains nothing) when alpha_t >= 1. O(W).
  interval<T> interval_around(T prediction) const {
    return detail::interval_around(prediction, threshold());
  }

  /// Records the score of the revealed label: err_t = !covers(score), alpha_{t+1} = alpha_t +
  /// gamma (alpha - err_t), and the score joins the window. Returns err_t. O(W).
  /// Throws invalid_argument on a NaN score.
  bool observe(T score) {
    const bool miss = !covers(score);
    state_.level += state_.gamma * (state_.alpha - (miss ? 1.0 : 0.0));
    detail::push_score(state_.scores, state_.window, score);
    ++state_.steps;
    state_.miscovered += miss ? 1 : 0;
    return miss;
  }

 private:
  aci_state<T> state_;
};

/// How DtACI turns its experts into one level.
enum class dtaci_output {
  sampled,        ///< expert i with probability p_i (the paper's Algorithm 1), seeded
  weighted_mean,  ///< sum_i p_i alpha^i (deterministic; reported by the authors' code)
};

/// The tuning of DtACI. The defaults are those of the authors' volatility experiment at
/// alpha = 0.1 (isgibbs/DtACI, VolatilityPredictions.R): eta depends on alpha and on how fast
/// the weights should move, so set it for other levels.
struct dtaci_options {
  std::vector<double> gammas = {0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128};
  double sigma = 1.0 / 500;  ///< fixed-share mixing, 0 <= sigma <= 1
  double eta = 2.8;          ///< learning rate of the exponential weights, > 0
  dtaci_output output = dtaci_output::sampled;
  std::uint64_t seed = 0;    ///< the stream of the sampled output: draw t is uniform(seed, t)

  friend bool operator==(const dtaci_options&, const dtaci_options&) = default;
};

/// Everything DtACI needs to continue a run; a plain value to copy, save and restore.
template <float_or_double T>
struct dtaci_state {
  double alpha = 0.1;                  ///< target miscoverage, 0 < alpha < 1
  dtaci_options options;
  std::vector<double> expert_levels;   ///< alpha_t^i, one per gamma
  std::vector<double> probabilities;   ///< p_t^i, one per gamma, summing to 1
  std::size_t window = 1;              ///< W >= 1
  std::vector<T> scores;               ///< the last <= W scores, oldest first
  std::uint64_t steps = 0;
  std::uint64_t miscovered = 0;

  friend bool operator==(const dtaci_state&, const dtaci_state&) = default;
};

/// DtACI (Gibbs & Candès 2024): ACI experts with several step sizes, aggregated by exponential
/// weights on the pinball loss, over a sliding window of scores.
template <float_or_double T>
class dtaci {
 public:
  /// alpha in (0, 1): target miscoverage and every expert's alpha_1; options: step sizes
  /// (k >= 1, each > 0), sigma in [0, 1], eta > 0, output and seed; window >= 1;
  /// calibration_scores: scores known before the first step (the last `window` are kept).
  /// O(W + k). Throws invalid_argument on a bad parameter or a NaN score.
  dtaci(double alpha, dtaci_options options, std::size_t window,
        std::span<const T> calibration_scores = {})
      : dtaci(initial_state(alpha, std::move(options), window, calibration_scores)) {}

  /// Resumes from a saved state. O(W + k). Throws invalid_argument on an inconsistent state.
  explicit dtaci(dtaci_state<T> state) : state_(std::move(state)) {
    constexpr std::string_view where = "tessera::conformal::dtaci";
    const dtaci_options& o = state_.options;
    require_open_unit_interval(where, "alpha", state_.alpha);
    require_nonempty(where, "gammas", o.gammas.size());
    for (std::size_t i = 0; i < o.gammas.size(); ++i)
      require(std::isfinite(o.gammas[i]) && o.gammas[i] > 0, where,
              "gammas[" + tessera::detail::to_text(i) + "]", o.gammas[i], "a finite number > 0");
    require_in_range(where, "sigma", o.sigma, 0.0, 1.0);
    require_positive(where, "eta", o.eta);
    require_same_size(where, "expert_levels", state_.expert_levels.size(), "gammas",
                      o.gammas.size());
    require_same_size(where, "probabilities", state_.probabilities.size(), "gammas",
                      o.gammas.size());
    require_all_finite(where, "expert_levels", std::span<const double>(state_.expert_levels));
    double total = 0;
    for (std::size_t i = 0; i < state_.probabilities.size(); ++i) {
      require_in_range(where, "probabilities[" + tessera::detail::to_text(i) + "]",
                       state_.probabilities[i], 0.0, 1.0);
      total += state_.probabilities[i];
    }
    require(std::abs(total - 1) <= 1e-6, where, "the sum of probabilities", total,
            "1 within 1e-6");
    detail::require_window(where, state_.window, std::span<const T>(state_.scores));
    require(state_.miscovered <= state_.steps, where, "miscovered", state_.miscovered,
            "<= steps = " + tessera::detail::to_text(state_.steps));
  }

  /// The state to save; dtaci(state()) continues identically. O(1).
  const dtaci_state<T>& state() const noexcept { return state_; }

  /// The output level alpha_t: the sampled expert's level (draw `steps` of the seeded stream) or
  /// the probability-weighted mean of the experts' levels. O(k).
  double level() const {
    const auto& p = state_.probabilities;
    const auto& levels = state_.expert_levels;
    if (state_.options.output == dtaci_output::weighted_mean) {
      double mean = 0;
      for (std::size_t i = 0; i < p.size(); ++i) mean += p[i] * levels[i];
      return mean;
    }
    const double u = uniform<double>(random_stream(state_.options.seed), state_.steps);
    double cumulative = 0;
    for (std::size_t i = 0; i + 1 < p.size(); ++i) {
      cumulative += p[i];
      if (u < cumulative) return levels[i];
    }
    return levels.back();  // also absorbs a cumulative sum rounded just below 1
  }

  /// The current threshold q_t(alpha_t) (see aci::threshold). O(W + k).
  T threshold() const {
    return detail::window_threshold(std::span<const T>(state_.scores), level());
  }

  /// Whether the current set holds a candidate with this score. O(W + k). Throws on NaN.
  bool covers(T score) const {
    require(!std::isnan(score), "tessera::conformal::dtaci::covers", "score", score,
            "a number (not NaN)");
    const std::span<const T> scores(state_.scores);
    return detail::level_covers(level(), scores.size(), detail::count_below(scores, score));
  }

  /// [prediction - q_t, prediction + q_t]; [+inf, -inf] when alpha_t >= 1. O(W + k).
  interval<T> interval_around(T prediction) const {
    return detail::interval_around(prediction, threshold());
  }

  /// Records the score of the revealed label: err_t of the output level, the reweighting of the
  /// experts by their pinball loss at beta_t, each expert's ACI step, and the score joins the
  /// window. Returns err_t. O(W + k). Throws invalid_argument on a NaN score.
  bool observe(T score) {
    const bool miss = !covers(score);
    const std::span<const T> scores(state_.scores);
    const std::size_t n = scores.size();
    const std::size_t below = detail::count_below(scores, score);
    // level_covers(a) holds exactly for a < 1 - below / (n + 1): that supremum is beta_t.
    const double beta = 1.0 - static_cast<double>(below) / static_cast<double>(n + 1);
    reweight(beta);
    for (std::size_t i = 0; i < state_.expert_levels.size(); ++i) {
      const bool expert_miss = !detail::level_covers(state_.expert_levels[i], n, below);
      state_.expert_levels[i] +=
          state_.options.gammas[i] * (state_.alpha - (expert_miss ? 1.0 : 0.0));
    }
    detail::push_score(state_.scores, state_.window, score);
    ++state_.steps;
    state_.miscovered += miss ? 1 : 0;
    return miss;
  }

 private:
  static dtaci_state<T> initial_state(double alpha, dtaci_options options, std::size_t window,
                                      std::span<const T> calibration_scores) {
    const std::size_t k = options.gammas.size();
    const double uniform_probability = k == 0 ? 0.0 : 1.0 / static_cast<double>(k);
    return {alpha,
            std::move(options),
            std::vector<double>(k, alpha),
            std::vector<double>(k, uniform_probability),
            window,
            detail::last_scores(calibration_scores, window),
            0,
            0};
  }

  double pinball_loss(double beta, double theta) const {
    const double u = beta - theta;
    return state_.alpha * u - std::min(0.0, u);
  }

  // Exponential weights with fixed share, computed from log p_i - eta l_i less its maximum: the
  // normalized weights are unchanged, and no eta can underflow every weight to zero.
  void reweight(double beta) {
    auto& p = state_.probabilities;
    std::vector<double> log_weights(p.size());
    for (std::size_t i = 0; i < p.size(); ++i)
      log_weights[i] =
          std::log(p[i]) - state_.options.eta * pinball_loss(beta, state_.expert_levels[i]);
    const double largest = *std::max_element(log_weights.begin(), log_weights.end());
    double total = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
      p[i] = std::exp(log_weights[i] - largest);
      total += p[i];
    }
    const double sigma = state_.options.sigma;
    const double share = sigma / static_cast<double>(p.size());
    for (double& pi : p) pi = (1 - sigma) * pi / total + share;
  }

  dtaci_state<T> state_;
};

}  // namespace tessera::conformal
