#pragma once
// Fitness shaping: the map from raw fitness values F_i to the weights of the ES update.
//
//   centered_ranks  rank_i / (N − 1) − 1/2 in [−1/2, 1/2], rank 0 = lowest fitness (Salimans et al.
//                   2017, §2.2 "fitness shaping"); tied values share the mean of their ranks, so
//                   equal fitness gets equal weight whatever the member order.
//   z_scores        (F_i − mean) / standard deviation (population form); all zero when F is constant.
//   raw             F_i unchanged.
//
// Non-finite fitness (a diverged member) is an error naming the member, unless the caller asks
// for `nonfinite_fitness::worst`: then NaN and ±∞ rank below every finite value (centered ranks)
// or take the lowest finite value of the population (z-scores, raw).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "tessera/core/concepts.hpp"
#include "tessera/core/errors.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::es {

/// How raw fitness values become update weights (see the top of this header).
enum class fitness_shaping { centered_ranks, z_scores, raw };

/// What to do with a NaN or infinite fitness.
enum class nonfinite_fitness {
  reject,  ///< throw tessera::domain_error naming the member
  worst,   ///< treat it as the worst fitness of the population
};

namespace detail {

/// Copies `fitness` with each non-finite value replaced by `replacement` (or throws naming the
/// member). Throws domain_error when no value is finite.
template <float_or_double T>
std::vector<T> finite_fitness(std::span<const T> fitness, nonfinite_fitness rule, T replacement) {
  std::vector<T> out(fitness.begin(), fitness.end());
  std::size_t replaced = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (std::isfinite(out[i])) continue;
    if (rule == nonfinite_fitness::reject)
      throw domain_error("tessera::es::shape_fitness: fitness[" + std::to_string(i) + "] = " +
                         tessera::detail::to_text(out[i]) +
                         "; expected a finite number (or pass nonfinite_fitness::worst)");
    out[i] = replacement;
    ++replaced;
  }
  if (replaced == out.size())
    throw domain_error("tessera::es::shape_fitness: every fitness value is non-finite");
  return out;
}

/// The lowest finite value of `fitness` (+∞ when none is finite).
template <float_or_double T>
T lowest_finite(std::span<const T> fitness) {
  T lowest = std::numeric_limits<T>::infinity();
  for (const T f : fitness)
    if (std::isfinite(f)) lowest = std::min(lowest, f);
  return lowest;
}

/// weights[i] = mean rank of F_i / (N − 1) − 1/2, ranks from 0 (lowest). O(N log N).
template <float_or_double T>
void centered_ranks(std::span<const T> fitness, std::span<T> weights) {
  const std::size_t n = fitness.size();
  if (n == 1) {
    weights[0] = T(0);
    return;
  }
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return fitness[a] < fitness[b]; });
  const T scale = T(1) / static_cast<T>(n - 1);
  for (std::size_t begin = 0; begin < n;) {
    std::size_t end = begin + 1;
    while (end < n && fitness[order[end]] == fitness[order[begin]]) ++end;
    const T mean_rank = static_cast<T>(begin + end - 1) / T(2);  // ties share their mean rank
    for (std::size_t k = begin; k < end; ++k) weights[order[k]] = mean_rank * scale - T(0.5);
    begin = end;
  }
}

/// weights[i] = (F_i − mean) / sd, or 0 when sd = 0. O(N).
template <float_or_double T>
void z_scores(std::span<const T> fitness, std::span<T> weights) {
  const T n = static_cast<T>(fitness.size());
  const T mean = std::accumulate(fitness.begin(), fitness.end(), T(0)) / n;
  T sum_of_squares = 0;
  for (const T f : fitness) sum_of_squares += (f - mean) * (f - mean);
  const T sd = std::sqrt(sum_of_squares / n);
  for (std::size_t i = 0; i < fitness.size(); ++i) weights[i] = sd > T(0) ? (fitness[i] - mean) / sd : T(0);
}

}  // namespace detail

/// Shapes a population's fitness into update weights (see the top of this header).
///   fitness:  N raw values, member order;  weights: N outputs (may not alias fitness).
/// Complexity O(N log N) for ranks, O(N) otherwise.
/// Throws invalid_argument when the sizes differ or N = 0; domain_error on non-finite fitness
/// under nonfinite_fitness::reject, or when no fitness is finite.
template <float_or_double T>
void shape_fitness(std::span<const T> fitness, std::span<T> weights, fitness_shaping shaping,
                   nonfinite_fitness rule = nonfinite_fitness::reject) {
  constexpr auto where = "tessera::es::shape_fitness";
  require_nonempty(where, "fitness", fitness.size());
  require_same_size(where, "weights", weights.size(), "fitness", fitness.size());
  // For ranks a non-finite value must fall below every finite one: -inf does; elsewhere the
  // lowest finite value keeps the mean and deviation finite.
  const T replacement = shaping == fitness_shaping::centered_ranks ? -std::numeric_limits<T>::infinity()
                                                                   : detail::lowest_finite(fitness);
  const std::vector<T> values = detail::finite_fitness(fitness, rule, replacement);
  switch (shaping) {
    case fitness_shaping::centered_ranks: detail::centered_ranks<T>(values, weights); break;
    case fitness_shaping::z_scores: detail::z_scores<T>(values, weights); break;
    case fitness_shaping::raw: std::copy(values.begin(), values.end(), weights.begin()); break;
  }
}

}  // namespace tessera::es
