#pragma once
// Digitally-shift-invariant (DSI) product kernels in base 2, the kernels that digital nets
// diagonalize.
//
// QMCPy's KernelDigShiftInvar (QMCPy 2.4, qmcpy/kernel/si_dsi_kernels.py and
// qmcpy/util/dig_shift_invar_ops.py), with scale S > 0, product weights gamma_j > 0 (QMCPy's
// `lengthscales`, alias `weights`) and smoothness orders alpha_j in 1..4:
//
//     K(x, z) = S prod_{j=1}^d (1 + gamma_j psi_{alpha_j}(x_j XOR z_j)),
//
// where x XOR z XORs the binary digits of x, z in [0, 1). Coordinates are handled as t-bit
// integers (t = the precision, 1..64): a coordinate x is the integer X = floor(x 2^t) and
// x = X / 2^t, so the XOR is exact. For d = X XOR Z and u = d / 2^t in [0, 1), let
// beta = -floor(log2 u) = t - (index of the highest set bit of d) (beta >= 1 for d > 0).
// Then, for d > 0,
//
//   psi_1(u) = 6 (1/6 - 2^{floor(log2 u) - 1}) = 1 - 3 2^{-beta},
//   psi_2(u) = -beta u + (5/2)(1 - 2^{-beta}) - 1,
//   psi_3(u) = beta u^2 - 5 (1 - 2^{-beta}) u + (43/18)(1 - 2^{-2 beta}) - 1,
//   psi_4(u) = -(2/3) beta u^3 + 5 (1 - 2^{-beta}) u^2 - (43/9)(1 - 2^{-2 beta}) u
//              + (701/294)(1 - 2^{-3 beta}) + beta (S(u)/48 - 1/42) - 1,
//   S(u)     = sum_{a >= 0} wal_{2^a}(u) 2^{-3 a} = sum_{a >= 0} (-1)^{u_{a+1}} 2^{-3 a},
//
// u_1 u_2 ... the binary digits of u, and at d = 0 (x = z) the limits psi_1 = 1, psi_2 = 3/2,
// psi_3 = 25/18, psi_4 = 407/294. psi_1 is the order-1 kernel of Dick & Pillichshammer (2005);
// for alpha >= 2, psi_alpha(u) = sum_{k >= 1} wal_k(u) 2^{-mu_alpha(k)} with Dick's weight
// mu_alpha(k) = the sum of the alpha largest positions of 1 bits of k (Dick 2008, 2009), whose
// closed forms above QMCPy uses. QMCPy's defaults: S = 1, gamma_j = 2^{1/d} - 1, alpha_j = 2.
//
// One documented difference from QMCPy: QMCPy sums S(u) over a = 0..min(t, 9) - 1 only (it
// stops at 2^{-3a} < 1e-8), while this header sums every digit of u (those past t are 0, so
// their terms total (8/7) 2^{-3t}): psi_4 differs from QMCPy's by at most
// beta 2^{-3 min(t, 9)} / 42, below 2e-8 for t >= 9 (beta <= t <= 64) but up to 1.4e-4 for
// t = 3. psi_1..psi_3 agree with QMCPy to rounding; beta is taken from the
// integer's highest bit, which QMCPy's floating-point log2 can misjudge by one for t > 53.

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tessera/core/concepts.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::qmc {

/// The largest smoothness order of the DSI kernels (QMCPy's closed forms stop at 4).
inline constexpr int digitally_shift_invariant_max_alpha = 4;

namespace detail {

/// S(u) = sum_{a >= 0} (-1)^{u_{a+1}} 2^{-3a} for u = d / 2^t. Terms with a >= 21 are below
/// 2^{-63} while S >= 6/7, so past 21 digits only the exact tail of zero digits is added
/// (when t < 21) and the rest is beneath double rounding.
inline double walsh_power_sum(std::uint64_t d, int t) {
  const int digits = t < 21 ? t : 21;
  double sum = 0;
  for (int a = digits - 1; a >= 0; --a) {  // smallest terms first
    const bool digit = ((d >> (t - 1 - a)) & 1u) != 0;
    const double term = std::ldexp(1.0, -3 * a);
    sum += digit ? -term : term;
  }
  if (t < 21) sum += std::ldexp(8.0 / 7.0, -3 * t);
  return sum;
}

/// psi_alpha(d / 2^t) in double; alpha in [1, 4], t in [1, 64], d < 2^t (all checked by callers).
inline double dsi_psi(int alpha, std::uint64_t d, int t) {
  if (d == 0) {
    constexpr double at_zero[] = {1.0, 1.5, 25.0 / 18.0, 407.0 / 294.0};
    return at_zero[alpha - 1];
  }
  const int beta = t + 1 - static_cast<int>(std::bit_width(d));
  const double b = beta;
  const double p1 = 1.0 - std::ldexp(1.0, -beta);      // 1 - 2^{-beta}
  const double p2 = 1.0 - std::ldexp(1.0, -2 * beta);  // 1 - 2^{-2 beta}
  const double p3 = 1.0 - std::ldexp(1.0, -3 * beta);  // 1 - 2^{-3 beta}
  const double u = std::ldexp(static_cast<double>(d), -t);
  switch (alpha) {
    case 1: return 1.0 - 3.0 * std::ldexp(1.0, -beta);
    case 2: return -b * u + 2.5 * p1 - 1.0;
    case 3: return b * u * u - 5.0 * p1 * u + 43.0 / 18.0 * p2 - 1.0;
    default:
      return -2.0 / 3.0 * b * u * u * u + 5.0 * p1 * u * u - 43.0 / 9.0 * p2 * u + 701.0 / 294.0 * p3 +
             b * (walsh_power_sum(d, t) / 48.0 - 1.0 / 42.0) - 1.0;
  }
}

/// Requires 0 <= x < 1 and returns floor(x 2^t), exact for t <= 52 (x 2^t only moves the
/// exponent; the floor of a double below 2^52 is exact).
template <float_or_double T>
std::uint64_t to_digits_checked(const char* where, const char* name, T x, int precision) {
  require(x >= T(0) && x < T(1), where, name, x, "0 <= value < 1");
  return static_cast<std::uint64_t>(std::floor(std::ldexp(static_cast<double>(x), precision)));
}

}  // namespace detail

/// psi_alpha(d / 2^t) for an XOR difference d of two t-bit coordinates; see the top of this
/// header for the formulas. O(1), and O(min(t, 21)) for alpha = 4.
/// Throws invalid_argument for alpha outside [1, 4], precision outside [1, 64] or d >= 2^t.
template <float_or_double T>
T digitally_shift_invariant_psi(int alpha, std::uint64_t d, int precision) {
  constexpr const char* where = "tessera::qmc::digitally_shift_invariant_psi";
  require_in_range(where, "alpha", alpha, 1, digitally_shift_invariant_max_alpha);
  require_in_range(where, "precision", precision, 1, 64);
  if (precision < 64 && (d >> precision) != 0)
    require(false, where, "d", d, "d < 2^precision = 2^" + std::to_string(precision));
  return static_cast<T>(detail::dsi_psi(alpha, d, precision));
}

/// floor(x 2^t): the t-bit integer of a coordinate x in [0, 1) (QMCPy's to_bin), exact for
/// precision t <= 52. O(1). Throws invalid_argument for x outside [0, 1) (NaN included) or t
/// outside [1, 52].
template <float_or_double T>
std::uint64_t to_digital_integer(T x, int precision) {
  constexpr const char* where = "tessera::qmc::to_digital_integer";
  require_in_range(where, "precision", precision, 1, 52);
  return detail::to_digits_checked(where, "x", x, precision);
}

/// K(x, z) = S prod_j (1 + gamma_j psi_{alpha_j}(x_j XOR z_j)): QMCPy's KernelDigShiftInvar.
/// Points are t-bit integers per coordinate (t = precision()), or coordinates in [0, 1) that
/// are converted exactly when t <= 52. A value type; parameters are validated by the constructors.
template <float_or_double T>
class digitally_shift_invariant_kernel {
 public:
  /// QMCPy's defaults in `dimension` dimensions: S = 1, gamma_j = 2^{1/d} - 1, alpha_j = 2;
  /// points carry `precision` bits. Throws invalid_argument for dimension 0 or precision
  /// outside [1, 64].
  digitally_shift_invariant_kernel(std::size_t dimension, int precision)
      : digitally_shift_invariant_kernel(precision, T(1), default_weights(dimension), 2) {}

  /// S = scale, gamma = weights, alpha_j = alpha for every j. Errors as the next constructor.
  digitally_shift_invariant_kernel(int precision, T scale, std::vector<T> weights, int alpha)
      : digitally_shift_invariant_kernel(precision, scale, weights, std::vector<int>(weights.size(), alpha)) {}

  /// S = scale, gamma = weights, per-dimension orders alpha; points carry `precision` bits.
  /// Throws invalid_argument unless precision is in [1, 64], scale and every weight are finite
  /// and > 0, every alpha_j is in [1, 4], weights is non-empty and alpha has its length.
  digitally_shift_invariant_kernel(int precision, T scale, std::vector<T> weights, std::vector<int> alpha)
      : precision_(precision), scale_(scale), weights_(std::move(weights)), alpha_(std::move(alpha)) {
    constexpr const char* where = "tessera::qmc::digitally_shift_invariant_kernel";
    require_in_range(where, "precision", precision_, 1, 64);
    require_positive(where, "scale", scale_);
    require(!weights_.empty(), where, "weights.size()", weights_.size(), "at least 1");
    require(alpha_.size() == weights_.size(), where, "alpha.size()", alpha_.size(),
            "alpha.size() == weights.size() = " + tessera::detail::to_text(weights_.size()));
    for (std::size_t j = 0; j < weights_.size(); ++j) {
      require_positive(where, "weights[" + std::to_string(j) + "]", weights_[j]);
      require_in_range(where, "alpha[" + std::to_string(j) + "]", alpha_[j], 1,
                       digitally_shift_invariant_max_alpha);
    }
  }

  /// d, the number of coordinates.
  std::size_t dimension() const noexcept { return weights_.size(); }
  /// t, the bits per coordinate.
  int precision() const noexcept { return precision_; }
  /// S.
  T scale() const noexcept { return scale_; }
  /// gamma_1..gamma_d.
  std::span<const T> weights() const noexcept { return weights_; }
  /// alpha_1..alpha_d.
  std::span<const int> alpha() const noexcept { return alpha_; }

  /// 1 + gamma_j psi_{alpha_j}(d / 2^t) for coordinate j < dimension() and an XOR difference
  /// d < 2^t (neither checked): the building block of first-column loops. O(1) (alpha_j < 4),
  /// O(min(t, 21)) (alpha_j = 4).
  T factor(std::size_t j, std::uint64_t d) const noexcept {
    return static_cast<T>(1.0 + static_cast<double>(weights_[j]) * detail::dsi_psi(alpha_[j], d, precision_));
  }

  /// K(x, z) for two points given as t-bit integers, one per coordinate.
  /// O(d) (times min(t, 21) where alpha_j = 4).
  /// Throws invalid_argument for a length mismatch or an integer >= 2^t.
  T operator()(std::span<const std::uint64_t> x, std::span<const std::uint64_t> z) const {
    constexpr const char* where = "tessera::qmc::digitally_shift_invariant_kernel";
    require_lengths(where, x.size(), z.size());
    T product = scale_;
    for (std::size_t j = 0; j < dimension(); ++j) {
      require_digits(where, "x[j]", x[j]);
      require_digits(where, "z[j]", z[j]);
      product *= factor(j, x[j] ^ z[j]);
    }
    return product;
  }

  /// K(x, z) for two points with coordinates in [0, 1), each converted to floor(x 2^t) (exact,
  /// QMCPy's to_bin). O(d) as above. Throws invalid_argument for a length mismatch, a
  /// coordinate outside [0, 1) or precision() > 52.
  T operator()(std::span<const T> x, std::span<const T> z) const {
    constexpr const char* where = "tessera::qmc::digitally_shift_invariant_kernel";
    require_lengths(where, x.size(), z.size());
    require(precision_ <= 52, where, "precision", precision_,
            "precision <= 52 for floating-point coordinates (exact conversion)");
    T product = scale_;
    for (std::size_t j = 0; j < dimension(); ++j) {
      const std::uint64_t xj = detail::to_digits_checked(where, "x[j]", x[j], precision_);
      const std::uint64_t zj = detail::to_digits_checked(where, "z[j]", z[j], precision_);
      product *= factor(j, xj ^ zj);
    }
    return product;
  }

 private:
  static std::vector<T> default_weights(std::size_t dimension) {
    require(dimension >= 1, "tessera::qmc::digitally_shift_invariant_kernel", "dimension", dimension,
            "at least 1");
    return std::vector<T>(dimension, static_cast<T>(std::exp2(1.0 / static_cast<double>(dimension)) - 1.0));
  }

  void require_lengths(const char* where, std::size_t x_size, std::size_t z_size) const {
    if (x_size == dimension() && z_size == dimension()) return;
    const std::string expected = "the kernel's dimension " + tessera::detail::to_text(dimension());
    require(x_size == dimension(), where, "x.size()", x_size, expected);
    require(false, where, "z.size()", z_size, expected);
  }

  void require_digits(const char* where, const char* name, std::uint64_t value) const {
    if (precision_ == 64 || (value >> precision_) == 0) return;
    require(false, where, name, value, "value < 2^precision = 2^" + std::to_string(precision_));
  }

  int precision_;
  T scale_;
  std::vector<T> weights_;
  std::vector<int> alpha_;
};

}  // namespace tessera::qmc
