#pragma once
// Shared-seed SPSA (MeZO): zeroth-order descent whose direction is regenerated from a seed, so a
// step needs θ, two loss evaluations and O(1) more memory.
//
// Malladi, Gao, Nichani, Damian, Lee, Chen, Arora, "Fine-Tuning Language Models with Just Forward
// Passes" (MeZO, NeurIPS 2023), Algorithm 1. One step t with perturbation size ε (their default
// 1e-3) and learning rate η:
//
//     θ ← θ + εz;   L⁺ = L(θ)          z ~ N(0, I), regenerated from its seed, never stored
//     θ ← θ − 2εz;  L⁻ = L(θ)
//     θ ← θ + εz                        (restoration, below)
//     g = (L⁺ − L⁻) / (2ε)              the projected gradient, an estimate of zᵀ∇L(θ)
//     θ ← θ − η g z                     (z regenerated once more)
//
// n-SPSA (their §2) draws n directions z_0..z_{n-1} per step and
// applies the average, θ ← θ − η Σ_j (g_j / n) z_j. For a quadratic loss the central difference
// is exact: g = zᵀ∇L(θ) up to rounding.
//
// Streams (DESIGN principle 3). Direction j of step t of worker w is
//
//     z_k = tessera::normal<T>(random_stream(seed, /*id0*/ w, /*id1*/ t, /*id2*/ j), k),
//
// k = 0..|θ|-1 (perturbation_stream below). A single process is worker 0; decentralized_spsa.hpp
// gives every rank its own w. Ids are 32-bit: t < 2^32, and j = 2^32 - 1 is reserved for the
// stochastic-rounding draws of the one-byte exchange.
//
// Restoration (restoration below). In floating point θ + εz − 2εz + εz need not equal θ:
//   in_place  MeZO's own sequence, θ plus O(1) memory (one chunk of z per thread). With
//             d = fl(εz) every element returns within
//                 |θ' − θ| <= 3u (|θ| + |d|) (1 + 2u),   u = 2^-24 (float), 2^-53 (double),
//             per direction (three roundings of at most u times their result), |z| <= 5.77 (float)
//             or 8.57 (double) by the generator's construction; over many steps the drift adds
//             up at most linearly (tests/zo/spsa_test.cpp measures it).
//   exact     keeps one saved copy of θ and copies it back: θ returns bit for bit, at |θ| extra
//             values. It is the default: a step is then a function of θ, the seed and the losses
//             alone (no rounding noise that depends on ε), which is what resuming, comparing runs
//             and the decentralized replicas need; it is also faster (two regenerations of z per
//             direction instead of three), and the paper code of "Just One Byte" does the same
//             (a backup copy "to prevent floating point errors from repeated perturbations").
//             Choose in_place where the copy of θ does not fit.
// θ is restored before an error leaves a step, also when the loss throws.

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

#include "tessera/core/concepts.hpp"
#include "tessera/core/errors.hpp"
#include "tessera/core/random.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/zo/detail/normal_passes.hpp"

namespace tessera::zo {

/// How θ returns to its value after the two perturbed evaluations (see the top of this header).
enum class restoration {
  exact,     ///< from a saved copy of θ: bit for bit, |θ| extra values (the default)
  in_place,  ///< MeZO's θ + εz − 2εz + εz: θ plus O(1) memory, drift bounded above
};

/// The parameters of shared-seed SPSA.
template <float_or_double T>
struct spsa_options {
  T eps = T(1e-3);                            ///< ε > 0: the perturbation size (MeZO's default)
  T learning_rate = T(1e-3);                  ///< η > 0 (problem-dependent; MeZO tunes 1e-7..1e-6 for LMs)
  std::uint32_t samples = 1;                  ///< n >= 1: directions per step (n-SPSA)
  restoration restore = restoration::exact;  ///< how θ is restored after the evaluations
};

/// Everything an SPSA run needs to continue: a plain value to copy, save and restore.
template <float_or_double T>
struct spsa_state {
  std::vector<T> theta;    ///< the parameters
  std::uint64_t step = 0;  ///< completed steps t (< 2^32: the streams' id is 32-bit)
  std::uint64_t seed = 0;  ///< the run's seed, shared by all workers

  friend bool operator==(const spsa_state&, const spsa_state&) = default;
};

/// Which direction: (seed, step t, worker w, sample j).
struct perturbation_id {
  std::uint64_t seed = 0;
  std::uint64_t step = 0;
  std::uint32_t worker = 0;
  std::uint32_t sample = 0;
};

/// The sample id reserved for the one-byte exchange's rounding draws (never a direction).
inline constexpr std::uint32_t rounding_sample_id = std::numeric_limits<std::uint32_t>::max();

/// The largest step the 32-bit stream id can name.
inline constexpr std::uint64_t max_step = std::numeric_limits<std::uint32_t>::max();

/// The stream of direction `id`: random_stream(seed, w, t, j). O(1) (one Philox evaluation).
/// Throws invalid_argument when t >= 2^32 or j is the reserved rounding id.
inline random_stream perturbation_stream(const perturbation_id& id) {
  constexpr std::string_view where = "tessera::zo::perturbation_stream";
  require(id.step <= max_step, where, "step", id.step, "step < 2^32");
  require(id.sample != rounding_sample_id, where, "sample", id.sample, "sample < 2^32 - 1");
  return random_stream(id.seed, id.worker, static_cast<std::uint32_t>(id.step), id.sample);
}

/// One direction's evaluations.
template <float_or_double T>
struct spsa_sample {
  T loss_plus;           ///< L(θ + εz)
  T loss_minus;          ///< L(θ − εz)
  T projected_gradient;  ///< g = (L⁺ − L⁻) / (2ε)
};

/// What one step measured: its n samples in order.
template <float_or_double T>
struct spsa_step_record {
  std::vector<spsa_sample<T>> samples;

  /// The mean of (L⁺ + L⁻) / 2 over the samples: L(θ) + O(ε²), for monitoring. O(n).
  T mean_loss() const {
    T sum = 0;
    for (const spsa_sample<T>& s : samples) sum += (s.loss_plus + s.loss_minus) / 2;
    return sum / static_cast<T>(samples.size());
  }
};

namespace detail {

/// θ moved to θ + mεz by MeZO's in-place additions; back to m = 0 when it goes out of scope.
template <float_or_double T>
class in_place_perturbation {
 public:
  in_place_perturbation(std::span<T> theta, const random_stream& z, T eps) : theta_(theta), z_(z), eps_(eps) {}
  in_place_perturbation(const in_place_perturbation&) = delete;
  in_place_perturbation& operator=(const in_place_perturbation&) = delete;
  ~in_place_perturbation() { move_to(0); }

  /// θ += (m − current) ε z: +ε, −2ε, +ε for the sequence 1, −1, 0. O(|θ|).
  void move_to(int multiple) {
    if (multiple != multiple_) add_scaled_normal(theta_, z_, static_cast<T>(multiple - multiple_) * eps_);
    multiple_ = multiple;
  }

 private:
  std::span<T> theta_;
  random_stream z_;
  T eps_;
  int multiple_ = 0;
};

/// θ set to saved + mεz from a saved copy; back to the copy (bit for bit) when out of scope.
template <float_or_double T>
class saved_copy_perturbation {
 public:
  saved_copy_perturbation(std::span<T> theta, std::span<const T> saved, const random_stream& z, T eps)
      : theta_(theta), saved_(saved), z_(z), eps_(eps) {}
  saved_copy_perturbation(const saved_copy_perturbation&) = delete;
  saved_copy_perturbation& operator=(const saved_copy_perturbation&) = delete;
  ~saved_copy_perturbation() { move_to(0); }

  /// θ = saved + m ε z, or the saved copy itself for m = 0. O(|θ|).
  void move_to(int multiple) {
    if (multiple == multiple_) return;
    if (multiple == 0)
      std::copy(saved_.begin(), saved_.end(), theta_.begin());
    else
      assign_shifted(theta_, saved_, z_, static_cast<T>(multiple) * eps_);
    multiple_ = multiple;
  }

 private:
  std::span<T> theta_;
  std::span<const T> saved_;
  random_stream z_;
  T eps_;
  int multiple_ = 0;
};

/// L⁺, L⁻ and g of one direction; θ is restored on return and when `at` throws.
template <float_or_double T, class Perturbation, class At>
spsa_sample<T> central_difference(Perturbation& perturbation, std::span<const T> theta, T eps, At& at) {
  perturbation.move_to(1);
  const T plus = at(theta);
  perturbation.move_to(-1);
  const T minus = at(theta);
  perturbation.move_to(0);
  return {plus, minus, (plus - minus) / (2 * eps)};
}

/// One direction under the chosen restoration; `saved` is θ's copy (exact mode only).
template <float_or_double T, class At>
spsa_sample<T> evaluate_direction(std::span<T> theta, std::span<const T> saved, const random_stream& z, T eps,
                                  restoration restore, At& at) {
  if (restore == restoration::exact) {
    saved_copy_perturbation<T> perturbation(theta, saved, z, eps);
    return central_difference(perturbation, std::span<const T>(theta), eps, at);
  }
  in_place_perturbation<T> perturbation(theta, z, eps);
  return central_difference(perturbation, std::span<const T>(theta), eps, at);
}

/// Throws domain_error "<where>: <name> = <value> at step t, worker w, sample j; expected a
/// finite number" for the first non-finite value of the sample.
template <float_or_double T>
void require_finite_sample(std::string_view where, const spsa_sample<T>& s, const perturbation_id& id) {
  const auto check = [&](std::string_view name, T value) {
    if (std::isfinite(value)) return;
    std::string message(where);
    message.append(": ").append(name).append(" = ").append(tessera::detail::to_text(value));
    message.append(" at step ").append(std::to_string(id.step));
    message.append(", worker ").append(std::to_string(id.worker));
    message.append(", sample ").append(std::to_string(id.sample));
    message.append("; expected a finite number");
    throw domain_error(message);
  };
  check("loss_plus", s.loss_plus);
  check("loss_minus", s.loss_minus);
  check("projected_gradient", s.projected_gradient);
}

/// Checks ε, η and n (shared by spsa_step and the decentralized step).
template <float_or_double T>
void require_spsa_parameters(std::string_view where, T eps, T learning_rate, std::uint32_t samples) {
  require_positive(where, "eps", eps);
  require_positive(where, "learning_rate", learning_rate);
  require(samples >= 1 && samples < rounding_sample_id, where, "samples", samples, "1 <= samples < 2^32 - 1");
}

/// Checks that a state can take one more step.
template <float_or_double T>
void require_steppable(std::string_view where, const spsa_state<T>& state) {
  require_nonempty(where, "theta", state.theta.size());
  require(state.step <= max_step, where, "step", state.step, "step < 2^32");
}

}  // namespace detail

/// The projected gradient of one direction alone, for callers who own the update: evaluates
/// L(θ ± εz) for z of `id` and restores θ (bit for bit with restoration::exact, which allocates
/// one copy of θ; within the bound above with in_place). O(|θ|) plus two loss evaluations.
/// Throws invalid_argument for ε <= 0, an empty θ or a bad id; domain_error naming the step,
/// worker and sample for a non-finite loss or gradient (θ restored first).
template <float_or_double T, scalar_function_of_point<T> Loss>
spsa_sample<T> projected_gradient(std::span<T> theta, const perturbation_id& id, T eps, restoration restore,
                                  Loss&& loss) {
  constexpr std::string_view where = "tessera::zo::projected_gradient";
  require_positive(where, "eps", eps);
  require_nonempty(where, "theta", theta.size());
  const random_stream z = perturbation_stream(id);
  std::vector<T> saved;
  if (restore == restoration::exact) saved.assign(theta.begin(), theta.end());
  auto at = [&](std::span<const T> point) { return static_cast<T>(std::invoke(loss, point)); };
  const spsa_sample<T> sample = detail::evaluate_direction(theta, std::span<const T>(saved), z, eps, restore, at);
  detail::require_finite_sample(where, sample, id);
  return sample;
}

/// One step of (n-)SPSA on state.theta (the sequence at the top of this header), then ++step.
/// loss: T(std::span<const T> θ), called 2n times. O(n |θ|) plus the loss evaluations; memory θ
/// plus one copy (exact) or O(1) (in_place). Throws invalid_argument for ε <= 0, η <= 0, n < 1,
/// an empty θ or step >= 2^32; domain_error naming the step and sample for a non-finite loss or
/// gradient. On any exception the state is as before the call (θ within the in_place bound).
template <float_or_double T, scalar_function_of_point<T> Loss>
spsa_step_record<T> spsa_step(spsa_state<T>& state, const spsa_options<T>& options, Loss&& loss) {
  constexpr std::string_view where = "tessera::zo::spsa_step";
  detail::require_spsa_parameters(where, options.eps, options.learning_rate, options.samples);
  detail::require_steppable(where, state);
  const std::span<T> theta(state.theta);
  std::vector<T> saved;
  if (options.restore == restoration::exact) saved = state.theta;
  auto at = [&](std::span<const T> point) { return static_cast<T>(std::invoke(loss, point)); };

  spsa_step_record<T> record;
  std::vector<detail::update_term<T>> terms;
  const T directions = static_cast<T>(options.samples);
  for (std::uint32_t j = 0; j < options.samples; ++j) {
    const perturbation_id id{state.seed, state.step, 0, j};
    const random_stream z = perturbation_stream(id);
    const spsa_sample<T> sample =
        detail::evaluate_direction(theta, std::span<const T>(saved), z, options.eps, options.restore, at);
    detail::require_finite_sample(where, sample, id);
    record.samples.push_back(sample);
    terms.push_back({z, options.learning_rate * sample.projected_gradient / directions});
  }
  detail::subtract_directions(theta, std::span<const detail::update_term<T>>(terms));
  ++state.step;
  return record;
}

}  // namespace tessera::zo
