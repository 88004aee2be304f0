#pragma once
// Fast Gram matrices: K_ik = K(x_i, x_k) for n = 2^m points whose structure matches the kernel,
// so that one transform diagonalizes K and multiply / solve cost O(n log n) instead of O(n^2) /
// O(n^3) (QMCPy's fast kernel methods: Sorokin 2025, section "Fast kernel methods"; Jagadeeswaran
// & Hickernell 2019, 2022).
//
// * Lattice + shift-invariant kernel (lattice_gram_matrix): x_i = frac(phi_2(i) z + Delta) in
//   radical-inverse order. K_ik depends on (rev_m(i) - rev_m(k)) mod n only, so P K P is circulant
//   and, with fftbr / ifftbr of fft_bit_reversed.hpp,
//       K y = ifftbr(lambda .* fftbr(y)),   lambda = sqrt(n) fftbr(k0),   k0 = K(:, 0).
//   lambda is real (the kernel is symmetric: eta_alpha(t) = eta_alpha(1 - t)); the rounding-level
//   imaginary parts of the computed transform are dropped.
// * Digital net + digitally-shift-invariant kernel (digital_net_gram_matrix): x_i XOR x_0 linear
//   in the bits of i (natural order; digital shifts and linear matrix scrambling keep this), so
//   K_ik = k0[i XOR k] and, with the unnormalized Walsh-Hadamard transform H of fwht.hpp,
//       K y = H (lambda .* H y) / n,   lambda = H k0.
//
// Both are symmetric; with the nugget s >= 0 (noise variance in GP regression) the matrix is
// K + s I, whose eigenvalues are lambda_k + s. The first column costs O(n d) kernel factors
// (the product over dimensions is formed for k0 only); the transform of it O(n log n).
//
// Checked on construction (O(n d), no kernel evaluations):
// * lattice: with delta_i = (x_i - x_0) mod 1 and z_j = round(n delta_{n/2, j}) mod n (because
//   phi_2(n/2) = 1/n), every delta_{i,j} lies within 16 eps of frac(rev_m(i) z_j / n) on the
//   circle. This is exactly "a shifted rank-1 lattice in radical-inverse order".
// * digital net: every integer coordinate is < 2^t and x_i = x_{i XOR 2^b} XOR x_{2^b} XOR x_0 for
//   b the lowest set bit of i, i.e. i -> x_i XOR x_0 is GF(2)-linear. Exact.

#include <bit>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>
#include <xtensor/xtensor.hpp>

#include "tessera/core/concepts.hpp"
#include "tessera/core/errors.hpp"
#include "tessera/core/exec.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/qmc/fft_bit_reversed.hpp"
#include "tessera/qmc/fwht.hpp"
#include "tessera/qmc/kernel/digitally_shift_invariant.hpp"
#include "tessera/qmc/kernel/shift_invariant.hpp"
#include "tessera/qmc/point_set.hpp"

namespace tessera::qmc {
namespace detail {

/// Requires n = 2^m points (rows) of `dimension` coordinates; returns m.
template <class Points>
int require_gram_points(const char* where, const Points& points, std::size_t dimension) {
  require_power_of_two(where, "points.shape(0)", points.shape(0));
  require(points.shape(1) == dimension, where, "points.shape(1)", points.shape(1),
          "the kernel's dimension " + tessera::detail::to_text(dimension));
  return std::countr_zero(points.shape(0));
}

/// The eigenvalues lambda_k + s for solving; throws domain_error at the first one <= 0.
template <class T>
void require_positive_spectrum(const char* where, std::span<const T> eigenvalues, T nugget) {
  for (std::size_t k = 0; k < eigenvalues.size(); ++k) {
    const T value = eigenvalues[k] + nugget;
    if (!(value > T(0)))
      throw domain_error(std::string(where) + ": eigenvalue " + std::to_string(k) + " of K + nugget I is " +
                         tessera::detail::to_text(value) + "; expected > 0 (the system is singular or indefinite)");
  }
}

/// out = y with out.size() == y.size() == n checked.
template <class T>
void require_vector_sizes(const char* where, std::size_t n, std::size_t y_size, std::size_t out_size) {
  require(y_size == n, where, "y.size()", y_size, "the Gram matrix's size n = " + tessera::detail::to_text(n));
  require(out_size == n, where, "out.size()", out_size, "the Gram matrix's size n = " + tessera::detail::to_text(n));
}

/// What both fast Gram matrices share: the first column k0, the eigenvalues lambda of K, the
/// nugget s, and multiply / solve / log_determinant through the derived class's
/// apply(y, out, inverse), which diagonalizes K by its transform. Derived::name names it in
/// messages.
template <class Derived, float_or_double T>
class diagonalized_gram {
 public:
  /// n, the number of points.
  std::size_t size() const noexcept { return first_column_.size(); }
  /// s, the nugget added to the diagonal.
  T nugget() const noexcept { return nugget_; }
  /// k0_i = K(x_i, x_0), i = 0..n-1 (without the nugget).
  std::span<const T> first_column() const noexcept { return first_column_; }
  /// lambda_k in the order of the diagonalizing transform (natural frequencies for lattices,
  /// Walsh order for digital nets), without the nugget.
  std::span<const T> eigenvalues() const noexcept { return eigenvalues_; }

  /// out = (K + s I) y. O(n log n). y and out may be the same storage.
  /// Throws invalid_argument unless y.size() == out.size() == n.
  void multiply(std::span<const T> y, std::span<T> out) const {
    require_vector_sizes<T>(where("multiply").c_str(), size(), y.size(), out.size());
    self().apply(y, out, false);
  }

  /// (K + s I) y as a new vector. O(n log n). Throws as the two-argument form.
  std::vector<T> multiply(std::span<const T> y) const {
    std::vector<T> out(size());
    multiply(y, out);
    return out;
  }

  /// out = (K + s I)^{-1} y. O(n log n). y and out may be the same storage.
  /// Throws invalid_argument unless y.size() == out.size() == n, and domain_error when some
  /// lambda_k + s <= 0 (a singular or indefinite system).
  void solve(std::span<const T> y, std::span<T> out) const {
    const std::string name = where("solve");
    require_vector_sizes<T>(name.c_str(), size(), y.size(), out.size());
    require_positive_spectrum<T>(name.c_str(), eigenvalues_, nugget_);
    self().apply(y, out, true);
  }

  /// (K + s I)^{-1} y as a new vector. O(n log n). Throws as the two-argument form.
  std::vector<T> solve(std::span<const T> y) const {
    std::vector<T> out(size());
    solve(y, out);
    return out;
  }

  /// log det(K + s I) = sum_k log(lambda_k + s), for Gaussian-process likelihoods. O(n).
  /// Throws domain_error when some lambda_k + s <= 0.
  T log_determinant() const {
    require_positive_spectrum<T>(where("log_determinant").c_str(), eigenvalues_, nugget_);
    T sum = 0;
    for (const T lambda : eigenvalues_) sum += std::log(lambda + nugget_);
    return sum;
  }

 protected:
  /// Requires a finite nugget >= 0.
  explicit diagonalized_gram(T nugget) : nugget_(nugget) {
    require(std::isfinite(nugget) && nugget >= T(0), Derived::name, "nugget", nugget, "a finite number >= 0");
  }

  T nugget_;
  std::vector<T> first_column_;
  std::vector<T> eigenvalues_;

 private:
  const Derived& self() const { return static_cast<const Derived&>(*this); }
  static std::string where(const char* member) { return std::string(Derived::name) + "::" + member; }
};

}  // namespace detail

/// The Gram matrix K + s I of a shift-invariant kernel on a (shifted) rank-1 lattice of n = 2^m
/// points in radical-inverse order, diagonalized by FFTBR; see the top of this header.
template <float_or_double T>
class lattice_gram_matrix : public detail::diagonalized_gram<lattice_gram_matrix<T>, T> {
  using base = detail::diagonalized_gram<lattice_gram_matrix<T>, T>;
  friend base;
  using base::eigenvalues_;
  using base::first_column_;
  using base::nugget_;

 public:
  static constexpr const char* name = "tessera::qmc::lattice_gram_matrix";

  /// points: n x d, row i = x_i (n = 2^m, d = kernel.dimension()); nugget: s >= 0.
  /// O(n d sum alpha + n log n). Throws invalid_argument for n not a power of two, d different
  /// from the kernel's, a non-finite coordinate, a negative or non-finite nugget, or points that
  /// fail the lattice check documented at the top of this header.
  lattice_gram_matrix(const shift_invariant_kernel<T>& kernel, const point_array<T>& points, T nugget = T(0))
      : base(nugget) {
    constexpr const char* where = name;
    const int m = detail::require_gram_points(where, points, kernel.dimension());
    const std::size_t n = points.shape(0);
    const std::size_t d = kernel.dimension();
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < d; ++j) require_finite(where, "points(i, j)", points(i, j));
    check_lattice(where, points, m);

    first_column_.assign(n, kernel.scale());
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < d; ++j)
        first_column_[i] *= kernel.factor(j, static_cast<double>(points(i, j)) - static_cast<double>(points(0, j)));

    std::vector<std::complex<T>> spectrum(first_column_.begin(), first_column_.end());
    fftbr(exec::host, std::span<const std::complex<T>>(spectrum), std::span<std::complex<T>>(spectrum));
    const T root_n = std::sqrt(static_cast<T>(n));
    eigenvalues_.resize(n);
    for (std::size_t k = 0; k < n; ++k) eigenvalues_[k] = root_n * spectrum[k].real();
  }

 private:
  void apply(std::span<const T> y, std::span<T> out, bool inverse) const {
    std::vector<std::complex<T>> work(y.begin(), y.end());
    const std::span<std::complex<T>> w(work);
    fftbr(exec::host, std::span<const std::complex<T>>(w), w);
    for (std::size_t k = 0; k < work.size(); ++k)
      work[k] = inverse ? work[k] / (eigenvalues_[k] + nugget_) : work[k] * (eigenvalues_[k] + nugget_);
    ifftbr(exec::host, std::span<const std::complex<T>>(w), w);
    for (std::size_t i = 0; i < work.size(); ++i) out[i] = work[i].real();
  }

  static void check_lattice(const char* where, const point_array<T>& points, int m) {
    const std::size_t n = points.shape(0);
    if (n == 1) return;
    const double tolerance = 16.0 * std::numeric_limits<T>::epsilon();
    const auto circle_gap = [](double a, double b) {
      const double gap = detail::fractional_part(a - b);
      return gap < 0.5 ? gap : 1.0 - gap;
    };
    for (std::size_t j = 0; j < points.shape(1); ++j) {
      const double x0 = points(0, j);
      const double half = detail::fractional_part(static_cast<double>(points(n / 2, j)) - x0);
      const auto z = static_cast<std::uint64_t>(std::llround(half * static_cast<double>(n))) % n;
      for (std::size_t i = 1; i < n; ++i) {
        const std::uint64_t phase = (detail::reverse_low_bits(i, m) * z) % n;
        const double expected = static_cast<double>(phase) / static_cast<double>(n);
        const double gap = circle_gap(static_cast<double>(points(i, j)) - x0, expected);
        if (gap <= tolerance) continue;
        require(false, where, "points(" + std::to_string(i) + ", " + std::to_string(j) + ")",
                points(i, j),
                "a shifted rank-1 lattice in radical-inverse order: x_0 + rev_m(i) z / n mod 1 with z = " +
                    std::to_string(z) + " (read from points(n/2, j))");
      }
    }
  }

};

/// The Gram matrix K + s I of a digitally-shift-invariant kernel on a base-2 digital net of n =
/// 2^m points in natural order (digitally shifted and/or linearly scrambled allowed),
/// diagonalized by the FWHT; see the top of this header.
template <float_or_double T>
class digital_net_gram_matrix : public detail::diagonalized_gram<digital_net_gram_matrix<T>, T> {
  using base = detail::diagonalized_gram<digital_net_gram_matrix<T>, T>;
  friend base;
  using base::eigenvalues_;
  using base::first_column_;
  using base::nugget_;

 public:
  static constexpr const char* name = "tessera::qmc::digital_net_gram_matrix";

  /// points: n x d t-bit integers (t = kernel.precision(), row i = x_i, n = 2^m); nugget s >= 0.
  /// O(n d + n log n). Throws invalid_argument for n not a power of two, d different from the
  /// kernel's, an integer >= 2^t, a negative or non-finite nugget, or points that fail the
  /// digital-net check documented at the top of this header.
  digital_net_gram_matrix(const digitally_shift_invariant_kernel<T>& kernel,
                          const xt::xtensor<std::uint64_t, 2>& points, T nugget = T(0))
      : base(nugget) {
    constexpr const char* where = name;
    detail::require_gram_points(where, points, kernel.dimension());
    build(where, kernel, points);
  }

  /// The same from coordinates in [0, 1), converted exactly to floor(x 2^t) (t <= 52).
  /// Throws invalid_argument as above, and for a coordinate outside [0, 1) or t > 52.
  digital_net_gram_matrix(const digitally_shift_invariant_kernel<T>& kernel, const point_array<T>& points,
                          T nugget = T(0))
      : base(nugget) {
    constexpr const char* where = name;
    detail::require_gram_points(where, points, kernel.dimension());
    const int t = kernel.precision();
    require(t <= 52, where, "kernel.precision()", t, "precision <= 52 for floating-point coordinates");
    xt::xtensor<std::uint64_t, 2> digits({points.shape(0), points.shape(1)});
    for (std::size_t i = 0; i < points.shape(0); ++i)
      for (std::size_t j = 0; j < points.shape(1); ++j)
        digits(i, j) = detail::to_digits_checked(where, "points(i, j)", points(i, j), t);
    build(where, kernel, digits);
  }

 private:
  void build(const char* where, const digitally_shift_invariant_kernel<T>& kernel,
             const xt::xtensor<std::uint64_t, 2>& points) {
    check_digital_net(where, points, kernel.precision());
    const std::size_t n = points.shape(0);
    first_column_.assign(n, kernel.scale());
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < points.shape(1); ++j)
        first_column_[i] *= kernel.factor(j, points(i, j) ^ points(0, j));
    eigenvalues_ = first_column_;
    fwht(exec::host, std::span<T>(eigenvalues_));
  }

  static void check_digital_net(const char* where, const xt::xtensor<std::uint64_t, 2>& points, int t) {
    const std::size_t n = points.shape(0);
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < points.shape(1); ++j) {
        const auto entry = [&] { return "points(" + std::to_string(i) + ", " + std::to_string(j) + ")"; };
        if (t < 64 && (points(i, j) >> t) != 0)
          require(false, where, entry(), points(i, j), "value < 2^precision = 2^" + std::to_string(t));
        const std::size_t low = i & (~i + 1);  // 2^b, b the lowest set bit of i
        if (i == low) continue;                // x_0 and x_{2^b} define the net
        const std::uint64_t predicted = points(i ^ low, j) ^ points(low, j) ^ points(0, j);
        if (points(i, j) != predicted)
          require(false, where, entry(), points(i, j),
                  "a base-2 digital net in natural order: x_i = x_{i^2^b} ^ x_{2^b} ^ x_0 = " +
                      std::to_string(predicted));
      }
    }
  }

  void apply(std::span<const T> y, std::span<T> out, bool inverse) const {
    std::vector<T> work(y.begin(), y.end());
    fwht(exec::host, std::span<T>(work));
    const T inverse_n = T(1) / static_cast<T>(work.size());
    for (std::size_t k = 0; k < work.size(); ++k) {
      const T lambda = eigenvalues_[k] + nugget_;
      work[k] = inverse ? work[k] * inverse_n / lambda : work[k] * inverse_n * lambda;
    }
    fwht(exec::host, std::span<T>(work));
    for (std::size_t i = 0; i < work.size(); ++i) out[i] = work[i];
  }

};

}  // namespace tessera::qmc
