#pragma once
// Evolution strategies with low-rank (EGGROLL) or full-rank (OpenAI-ES) perturbations.
//
// One generation t:
//   1. member i (0 <= i < N) evaluates its fitness F_i on θ + σ ε_i (a perturbed_parameters view;
//      the noise is drawn from its streams, es/noise.hpp, and never stored);
//   2. F is shaped into weights w (es/fitness_shaping.hpp);
//   3. ĝ = 1/(N σ) Σ_i w_i ε_i is formed by regenerating the noise (es/gradient_estimate.hpp);
//   4. the optimizer ascends θ along ĝ (core/optimizers.hpp: ES maximizes fitness).
// Across processes (`step` with a communicator) each rank evaluates a contiguous slice of the
// population, the N fitness values are all-gathered (N · sizeof(T) bytes in all per generation,
// padded to equal slices), and every rank applies the same update: replicas stay bit-identical.
//
// State is a value (es_state): θ, the generation and the optimizer's moments; a generation run
// from a saved state gives the same bits as an uninterrupted run.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tessera/core/communicator.hpp"
#include "tessera/core/concepts.hpp"
#include "tessera/core/optimizers.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/es/fitness_shaping.hpp"
#include "tessera/es/gradient_estimate.hpp"
#include "tessera/es/noise.hpp"
#include "tessera/es/parameter_layout.hpp"
#include "tessera/es/perturbed_parameters.hpp"

namespace tessera::es {

/// The population and sampling settings of an evolution strategy.
template <float_or_double T>
struct es_options {
  std::size_t population = 256;  ///< N members per generation (even with antithetic pairs)
  T sigma = T(0.02);             ///< perturbation scale σ > 0
  bool antithetic = true;        ///< members 2k, 2k+1 use +ε_k, −ε_k
  fitness_shaping shaping = fitness_shaping::centered_ranks;
  nonfinite_fitness nonfinite = nonfinite_fitness::reject;
  std::uint64_t seed = 0;  ///< the streams' seed

  /// Throws invalid_argument unless σ > 0, N >= 1 (>= 2 and even with antithetic pairs) and
  /// N fits the 32-bit member ids of the streams.
  void validate() const {
    constexpr auto where = "tessera::es::es_options";
    require_positive(where, "sigma", sigma);
    require(population >= 1 && population <= std::numeric_limits<std::uint32_t>::max(), where, "population",
            population, "1 <= population < 2^32");
    if (antithetic)
      require(population % 2 == 0, where, "population", population, "an even number with antithetic pairs");
  }
};

/// The state of a run: everything needed to continue it bit for bit.
template <float_or_double T>
struct es_state {
  std::vector<T> theta;            ///< the parameters
  std::uint32_t generation = 0;    ///< generations completed (the streams' generation id)
  optimizer_state<T> optimizer;    ///< the optimizer's moments

  friend bool operator==(const es_state&, const es_state&) = default;
};

/// What one generation measured (raw fitness, before shaping).
template <float_or_double T>
struct generation_report {
  T mean_fitness = 0;            ///< over the finite values
  T best_fitness = 0;
  std::size_t best_member = 0;
  T gradient_norm = 0;           ///< ‖ĝ‖₂
  std::uint64_t bytes_sent = 0;  ///< by this rank in the generation's exchange (0 for the local step)
};

/// A fitness function: maps a member's view of the parameters to a number to maximize.
template <class F, class T, class Noise>
concept fitness_function = std::regular_invocable<F&, const perturbed_parameters<T, Noise>&> &&
    std::convertible_to<std::invoke_result_t<F&, const perturbed_parameters<T, Noise>&>, T>;

/// An evolution strategy over a parameter layout (see the top of this header).
template <float_or_double T, noise_kind Noise, ascent_optimizer<T> Optimizer>
class evolution_strategy {
 public:
  /// layout: the blocks of θ; noise: low_rank{r} (EGGROLL) or full_rank{} (OpenAI-ES);
  /// options: population, σ, shaping, seed; optimizer: sgd or adam.
  /// Throws invalid_argument on bad options, r outside [1, min(m, n)] for some matrix block,
  /// or an empty layout.
  evolution_strategy(parameter_layout layout, Noise noise, es_options<T> options, Optimizer optimizer)
      : layout_(std::move(layout)), noise_(noise), options_(options), optimizer_(optimizer) {
    require(layout_.size() >= 1, "tessera::es::evolution_strategy", "layout.size()", layout_.size(), ">= 1");
    options_.validate();
    optimizer_.validate();
    require_rank_fits(layout_, noise_);
  }

  const parameter_layout& layout() const noexcept { return layout_; }
  const es_options<T>& options() const noexcept { return options_; }
  const Noise& noise() const noexcept { return noise_; }
  const Optimizer& optimizer() const noexcept { return optimizer_; }

  /// A state at generation 0 with parameters θ0. Throws invalid_argument when |θ0| != |layout|
  /// or θ0 has a non-finite entry.
  es_state<T> initial_state(std::vector<T> theta0) const {
    es_state<T> state{std::move(theta0), 0, {}};
    require_state(state);
    return state;
  }

  /// Member i's view of the parameters in the current generation. O(1).
  /// Throws invalid_argument when i >= N.
  perturbed_parameters<T, Noise> member(const es_state<T>& state, std::size_t i) const {
    require(i < options_.population, "tessera::es::evolution_strategy::member", "member", i,
            "< population = " + std::to_string(options_.population));
    return {layout_, state.theta, noise_, options_.sigma, options_.seed, state.generation,
            member_noise::of(i, options_.antithetic)};
  }

  /// ĝ for the current generation from the N raw fitness values. O(N log N) + the estimate's cost.
  /// Throws invalid_argument when |fitness| != N; domain_error on non-finite fitness (see shaping).
  std::vector<T> gradient(const es_state<T>& state, std::span<const T> fitness) const {
    require_same_size("tessera::es::evolution_strategy::gradient", "fitness", fitness.size(), "population",
                      options_.population);
    std::vector<T> weights(fitness.size());
    shape_fitness<T>(fitness, weights, options_.shaping, options_.nonfinite);
    const std::vector<T> c = noise_coefficients<T>(weights, options_.antithetic);
    std::vector<T> g(layout_.size());
    estimate_gradient<T>(layout_, noise_, options_.sigma, options_.seed, state.generation, c, options_.population, g);
    return g;
  }

  /// Completes the generation from the N raw fitness values: ĝ, one optimizer step, generation + 1.
  /// Throws as gradient(), and invalid_argument for a state of another layout.
  generation_report<T> tell(es_state<T>& state, std::span<const T> fitness) const {
    require_state(state);
    const std::vector<T> g = gradient(state, fitness);
    optimizer_.ascend(state.optimizer, state.theta, g);
    ++state.generation;
    generation_report<T> report = summarize(fitness);
    report.gradient_norm = std::sqrt(std::inner_product(g.begin(), g.end(), g.begin(), T(0)));
    return report;
  }

  /// One generation on this process: fitness(member view) for every member (OpenMP threads when
  /// enabled: `fitness` must then be safe to call concurrently), then tell(). Throws as tell(),
  /// and what `fitness` throws.
  template <fitness_function<T, Noise> F>
  generation_report<T> step(es_state<T>& state, F&& fitness) const {
    std::vector<T> values(options_.population);
    evaluate(state, fitness, 0, values);
    return tell(state, values);
  }

  /// One generation with the population split across the ranks of `comm`: rank p evaluates
  /// members [p s, p s + s) ∩ [0, N), s = ⌈N / size⌉, the fitness values are all-gathered, and every
  /// rank applies the same update. Collective. Throws as step().
  template <fitness_function<T, Noise> F, communicator C>
  generation_report<T> step(es_state<T>& state, F&& fitness, C& comm) const {
    const auto ranks = static_cast<std::size_t>(comm.size());
    const std::size_t slice = (options_.population + ranks - 1) / ranks;
    const std::size_t first = std::min(options_.population, slice * static_cast<std::size_t>(comm.rank()));
    const std::size_t count = std::min(slice, options_.population - first);
    std::vector<T> mine(slice, T(0)), all(slice * ranks);
    evaluate(state, fitness, first, std::span<T>(mine).first(count));
    const std::uint64_t sent_before = comm.bytes_sent();
    all_gather_values<C, T>(comm, mine, all);
    all.resize(options_.population);  // drop the padding of the last slices
    generation_report<T> report = tell(state, all);
    report.bytes_sent = comm.bytes_sent() - sent_before;
    return report;
  }

 private:
  void require_state(const es_state<T>& state) const {
    constexpr auto where = "tessera::es::evolution_strategy";
    require_same_size(where, "state.theta", state.theta.size(), "layout", layout_.size());
    require_all_finite<T>(where, "state.theta", state.theta);
  }

  /// out[q] = fitness(member first + q). An exception thrown by `fitness` on a thread is
  /// rethrown here (the first one), after the loop, since none may leave an OpenMP region.
  template <class F>
  void evaluate(const es_state<T>& state, F& fitness, std::size_t first, std::span<T> out) const {
    const auto count = static_cast<std::int64_t>(out.size());
    std::exception_ptr failure;
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic)
#endif
    for (std::int64_t q = 0; q < count; ++q) {
      try {
        out[static_cast<std::size_t>(q)] = static_cast<T>(fitness(member(state, first + static_cast<std::size_t>(q))));
      } catch (...) {
#if defined(_OPENMP)
#pragma omp critical(tessera_es_evaluate)
#endif
        if (!failure) failure = std::current_exception();
      }
    }
    if (failure) std::rethrow_exception(failure);
  }

  static generation_report<T> summarize(std::span<const T> fitness) {
    generation_report<T> report;
    report.best_fitness = -std::numeric_limits<T>::infinity();
    std::size_t finite = 0;
    T sum = 0;
    for (std::size_t i = 0; i < fitness.size(); ++i) {
      if (!std::isfinite(fitness[i])) continue;
      ++finite;
      sum += fitness[i];
      if (fitness[i] > report.best_fitness) {
        report.best_fitness = fitness[i];
        report.best_member = i;
      }
    }
    report.mean_fitness = finite > 0 ? sum / static_cast<T>(finite) : std::numeric_limits<T>::quiet_NaN();
    return report;
  }

  parameter_layout layout_;
  Noise noise_;
  es_options<T> options_;
  Optimizer optimizer_;
};

}  // namespace tessera::es
