#pragma once
// First-order optimizers for the gradient estimates of ES and zeroth-order methods.
//
// Sign convention (stated once for all of tessera): the optimizers here ASCEND. They take the
// gradient of an objective to maximize (ES fitness) and move θ along it. A loss L is minimized by
// passing -∇L.
//
// Each optimizer is a small options struct; its moments and step count live in an
// `optimizer_state` value, so a run saved after step t resumes bit for bit (DESIGN principle 4).

#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "tessera/core/concepts.hpp"
#include "tessera/core/validate.hpp"

namespace tessera {

/// The moments and step count of an optimizer; empty moments are sized on the first step.
template <float_or_double T>
struct optimizer_state {
  std::vector<T> first_moment;   ///< momentum (SGD) or m (Adam)
  std::vector<T> second_moment;  ///< v (Adam); empty for SGD
  std::uint64_t steps = 0;       ///< completed steps

  friend bool operator==(const optimizer_state&, const optimizer_state&) = default;
};

/// Stochastic gradient ascent with heavy-ball momentum:
///   v ← μ v + g,  θ ← θ + η v   (μ = 0: plain SGD, no moment stored).
template <float_or_double T>
struct sgd {
  T learning_rate = T(0.01);
  T momentum = T(0);

  /// Throws invalid_argument unless η > 0 and 0 <= μ < 1.
  void validate() const {
    require_positive("tessera::sgd", "learning_rate", learning_rate);
    require(momentum >= T(0) && momentum < T(1), "tessera::sgd", "momentum", momentum, "0 <= momentum < 1");
  }

  /// One ascent step on θ with gradient g. O(|θ|).
  void ascend(optimizer_state<T>& state, std::span<T> theta, std::span<const T> gradient) const {
    if (momentum == T(0)) {
      for (std::size_t j = 0; j < theta.size(); ++j) theta[j] += learning_rate * gradient[j];
    } else {
      state.first_moment.resize(theta.size(), T(0));
      for (std::size_t j = 0; j < theta.size(); ++j) {
        T& v = state.first_moment[j];
        v = momentum * v + gradient[j];
        theta[j] += learning_rate * v;
      }
    }
    ++state.steps;
  }
};

/// Adam (Kingma & Ba 2015, Algorithm 1), ascending:
///   m ← β1 m + (1 − β1) g,  v ← β2 v + (1 − β2) g²,
///   θ ← θ + η m̂ / (√v̂ + ε),  m̂ = m / (1 − β1^t),  v̂ = v / (1 − β2^t).
template <float_or_double T>
struct adam {
  T learning_rate = T(0.001);
  T beta1 = T(0.9);
  T beta2 = T(0.999);
  T epsilon = T(1e-8);

  /// Throws invalid_argument unless η > 0, 0 <= β1, β2 < 1 and ε > 0.
  void validate() const {
    constexpr auto where = "tessera::adam";
    require_positive(where, "learning_rate", learning_rate);
    require(beta1 >= T(0) && beta1 < T(1), where, "beta1", beta1, "0 <= beta1 < 1");
    require(beta2 >= T(0) && beta2 < T(1), where, "beta2", beta2, "0 <= beta2 < 1");
    require_positive(where, "epsilon", epsilon);
  }

  /// One ascent step on θ with gradient g. O(|θ|).
  void ascend(optimizer_state<T>& state, std::span<T> theta, std::span<const T> gradient) const {
    state.first_moment.resize(theta.size(), T(0));
    state.second_moment.resize(theta.size(), T(0));
    ++state.steps;
    const T t = static_cast<T>(state.steps);
    const T first_correction = T(1) - std::pow(beta1, t);
    const T second_correction = T(1) - std::pow(beta2, t);
    for (std::size_t j = 0; j < theta.size(); ++j) {
      T& m = state.first_moment[j];
      T& v = state.second_moment[j];
      m = beta1 * m + (T(1) - beta1) * gradient[j];
      v = beta2 * v + (T(1) - beta2) * gradient[j] * gradient[j];
      theta[j] += learning_rate * (m / first_correction) / (std::sqrt(v / second_correction) + epsilon);
    }
  }
};

/// An optimizer over T: validates its options and ascends θ along a gradient, keeping its moments
/// in an optimizer_state<T>.
template <class O, class T>
concept ascent_optimizer = float_or_double<T> &&
    requires(const O& o, optimizer_state<T>& s, std::span<T> theta, std::span<const T> g) {
      o.validate();
      o.ascend(s, theta, g);
    };

}  // namespace tessera
