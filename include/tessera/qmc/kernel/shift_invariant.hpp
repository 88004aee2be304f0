#pragma once
// Shift-invariant (SI) product kernels on [0, 1)^d, the kernels that rank-1 lattices diagonalize.
//
// QMCPy's KernelShiftInvar (QMCPy 2.4, qmcpy/kernel/si_dsi_kernels.py), with scale S > 0,
// product weights gamma_j > 0 (QMCPy calls them `lengthscales`, alias `weights`) and integer
// smoothness orders alpha_j in 1..5:
//
//     K(x, y)     = S prod_{j=1}^d (1 + gamma_j eta_{alpha_j}({x_j - y_j})),
//     eta_alpha(t) = (-1)^{alpha+1} (2 pi)^{2 alpha} B_{2 alpha}(t) / (2 alpha)!,
//
// {s} = s - floor(s) the fractional part and B_k the Bernoulli polynomials, e.g.
// eta_1(t) = 2 pi^2 (t^2 - t + 1/6) and eta_2(t) = -(2 pi^4 / 3)(t^4 - 2 t^3 + t^2 - 1/30).
// eta_alpha(t) = sum_{h != 0} e^{2 pi i h t} / |h|^{2 alpha}, so K is the reproducing kernel of
// the weighted Korobov space of smoothness alpha (Kaarnioja, Kuo, Sloan, MCQMC 2022) and
// depends on x - y mod 1 only. QMCPy's Bernoulli table stops at B_10, hence alpha <= 5.
// QMCPy's defaults: S = 1, gamma_j = 2^{1/d} - 1, alpha_j = 2.
//
// B_{2 alpha}(t) = sum_k binom(2 alpha, k) B_k t^{2 alpha - k} with the Bernoulli numbers
// B_0..B_10 (Abramowitz & Stegun, table 23.2); the coefficients, times gamma_j (-1)^{alpha+1}
// (2 pi)^{2 alpha} / (2 alpha)!, are formed once per dimension in double and each factor is one
// Horner evaluation. (Boost.Math's bernoulli_b2n would do, but its long-double internals break
// nvcc builds of the CUDA headers that include this one.)

#include <array>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <span>
#include <string>
#include <vector>

#include "tessera/core/concepts.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::qmc {

/// The largest smoothness order of the SI kernels (QMCPy's Bernoulli polynomials reach B_10).
inline constexpr int shift_invariant_max_alpha = 5;

namespace detail {

/// Coefficients c_0..c_{2 alpha} (constant term first) of
/// (-1)^{alpha+1} (2 pi)^{2 alpha} / (2 alpha)! B_{2 alpha}(t), in double.
inline std::array<double, 2 * shift_invariant_max_alpha + 1> eta_coefficients(int alpha) {
  constexpr double bernoulli_numbers[] = {1.0,         -1.0 / 2, 1.0 / 6, 0.0, -1.0 / 30, 0.0,
                                          1.0 / 42,    0.0,      -1.0 / 30, 0.0, 5.0 / 66};
  const int order = 2 * alpha;
  double factorial = 1;
  for (int k = 2; k <= order; ++k) factorial *= k;
  const double front = (alpha % 2 == 1 ? 1.0 : -1.0) * std::pow(2 * std::numbers::pi, order) / factorial;
  std::array<double, 2 * shift_invariant_max_alpha + 1> c{};
  double binomial = 1;  // binom(order, k), updated exactly in double
  for (int k = 0; k <= order; ++k) {
    c[static_cast<std::size_t>(order - k)] = front * binomial * bernoulli_numbers[k];
    binomial = binomial * (order - k) / (k + 1);
  }
  return c;
}

/// {s}: the fractional part s - floor(s) in [0, 1] (1 only when s is a tiny negative number,
/// where eta takes the same value as at 0).
inline double fractional_part(double s) { return s - std::floor(s); }

}  // namespace detail

/// eta_alpha(t) = (-1)^{alpha+1} (2 pi)^{2 alpha} B_{2 alpha}({t}) / (2 alpha)!, see the top of
/// this header; periodic in t with period 1. O(alpha).
/// Throws invalid_argument for alpha outside [1, 5] or a non-finite t.
template <float_or_double T>
T shift_invariant_eta(int alpha, T t) {
  constexpr const char* where = "tessera::qmc::shift_invariant_eta";
  require_in_range(where, "alpha", alpha, 1, shift_invariant_max_alpha);
  require_finite(where, "t", t);
  const auto c = detail::eta_coefficients(alpha);
  const double s = detail::fractional_part(static_cast<double>(t));
  double value = 0;
  for (int k = 2 * alpha; k >= 0; --k) value = value * s + c[static_cast<std::size_t>(k)];
  return static_cast<T>(value);
}

/// K(x, y) = S prod_j (1 + gamma_j eta_{alpha_j}({x_j - y_j})): QMCPy's KernelShiftInvar.
/// A value type; parameters are validated by the constructors.
template <float_or_double T>
class shift_invariant_kernel {
 public:
  /// QMCPy's defaults in `dimension` dimensions: S = 1, gamma_j = 2^{1/d} - 1, alpha_j = 2.
  /// Throws invalid_argument for dimension 0.
  explicit shift_invariant_kernel(std::size_t dimension)
      : shift_invariant_kernel(T(1), default_weights(dimension), 2) {}

  /// S = scale, gamma = weights, alpha_j = alpha for every j.
  /// Throws invalid_argument as the next constructor does.
  shift_invariant_kernel(T scale, std::vector<T> weights, int alpha)
      : shift_invariant_kernel(scale, weights, std::vector<int>(weights.size(), alpha)) {}

  /// S = scale, gamma = weights, per-dimension orders alpha (both of length d >= 1).
  /// Throws invalid_argument unless scale and every weight are finite and > 0, every alpha_j
  /// lies in [1, 5], weights is non-empty and alpha has its length.
  shift_invariant_kernel(T scale, std::vector<T> weights, std::vector<int> alpha)
      : scale_(scale), weights_(std::move(weights)), alpha_(std::move(alpha)) {
    constexpr const char* where = "tessera::qmc::shift_invariant_kernel";
    require_positive(where, "scale", scale_);
    require(!weights_.empty(), where, "weights.size()", weights_.size(), "at least 1");
    require(alpha_.size() == weights_.size(), where, "alpha.size()", alpha_.size(),
            "alpha.size() == weights.size() = " + tessera::detail::to_text(weights_.size()));
    coefficients_.reserve(weights_.size());
    for (std::size_t j = 0; j < weights_.size(); ++j) {
      require_positive(where, "weights[" + std::to_string(j) + "]", weights_[j]);
      require_in_range(where, "alpha[" + std::to_string(j) + "]", alpha_[j], 1, shift_invariant_max_alpha);
      auto c = detail::eta_coefficients(alpha_[j]);
      for (double& ck : c) ck *= static_cast<double>(weights_[j]);
      coefficients_.push_back(c);
    }
  }

  /// d, the number of coordinates.
  std::size_t dimension() const noexcept { return weights_.size(); }
  /// S.
  T scale() const noexcept { return scale_; }
  /// gamma_1..gamma_d.
  std::span<const T> weights() const noexcept { return weights_; }
  /// alpha_1..alpha_d.
  std::span<const int> alpha() const noexcept { return alpha_; }

  /// 1 + gamma_j eta_{alpha_j}({delta}) for coordinate j < dimension() (not checked) and a finite
  /// difference delta = x_j - y_j (not checked): the building block of first-column loops. O(alpha_j).
  T factor(std::size_t j, double delta) const noexcept {
    const double s = detail::fractional_part(delta);
    const auto& c = coefficients_[j];
    double value = 0;
    for (int k = 2 * alpha_[j]; k >= 0; --k) value = value * s + c[static_cast<std::size_t>(k)];
    return static_cast<T>(1.0 + value);
  }

  /// K(x, y) for points x, y of dimension() finite coordinates (any reals: K has period 1).
  /// O(sum_j alpha_j). Throws invalid_argument for a length mismatch or a non-finite coordinate.
  T operator()(std::span<const T> x, std::span<const T> y) const {
    constexpr const char* where = "tessera::qmc::shift_invariant_kernel";
    if (x.size() != dimension() || y.size() != dimension()) {
      const std::string expected = "the kernel's dimension " + tessera::detail::to_text(dimension());
      require(x.size() == dimension(), where, "x.size()", x.size(), expected);
      require(false, where, "y.size()", y.size(), expected);
    }
    T product = scale_;
    for (std::size_t j = 0; j < dimension(); ++j) {
      require_finite(where, "x[j]", x[j]);
      require_finite(where, "y[j]", y[j]);
      product *= factor(j, static_cast<double>(x[j]) - static_cast<double>(y[j]));
    }
    return product;
  }

 private:
  static std::vector<T> default_weights(std::size_t dimension) {
    require(dimension >= 1, "tessera::qmc::shift_invariant_kernel", "dimension", dimension, "at least 1");
    return std::vector<T>(dimension, static_cast<T>(std::exp2(1.0 / static_cast<double>(dimension)) - 1.0));
  }

  T scale_;
  std::vector<T> weights_;
  std::vector<int> alpha_;
  std::vector<std::array<double, 2 * shift_invariant_max_alpha + 1>> coefficients_;  // gamma_j times eta's
};

}  // namespace tessera::qmc
