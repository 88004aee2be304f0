#pragma once
// The six Genz test families on [0,1)^d (Lebesgue measure): A. Genz, "Testing multidimensional
// integration routines", in Tools, Methods and Languages for Scientific and Engineering
// Computation, North-Holland, 1984, pp. 81-94. Coefficients a_j > 0 set the difficulty, the
// shift u_j in [0, 1] the location:
//
//   oscillatory     cos(2 pi u_1 + sum_j a_j x_j)
//   product_peak    prod_j 1 / (a_j^{-2} + (x_j - u_j)^2)
//   corner_peak     (1 + sum_j a_j x_j)^{-(d+1)}                      (u unused)
//   gaussian        exp(-sum_j a_j^2 (x_j - u_j)^2)
//   continuous      exp(-sum_j a_j |x_j - u_j|)
//   discontinuous   0 if x_1 > u_1 or x_2 > u_2, else exp(sum_j a_j x_j)   (only u_1, u_2 used)
//
// QMCPy's Genz('OSCILLATORY') is the oscillatory family with u_1 = 0 and its Genz('CORNER PEAK')
// the corner peak, each with its normalized coefficient vector c as a.

#include <boost/math/quadrature/exp_sinh.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <string>
#include <utility>
#include <vector>
#include <xtensor/xtensor.hpp>

#include "tessera/core/concepts.hpp"
#include "tessera/core/detail/fresh_tensor.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/qmc/integrand.hpp"
#include "tessera/qmc/point_set.hpp"

namespace tessera::qmc {

/// The six Genz families (see the top of this header).
enum class genz_family { oscillatory, product_peak, corner_peak, gaussian, continuous, discontinuous };

/// A Genz test integrand of one family with coefficients a and shift u. Evaluates in T;
/// exact_value() in double.
template <float_or_double T>
class genz {
 public:
  /// a: d >= 1 finite coefficients > 0; u: d shifts in [0, 1] (entries a family does not use are
  /// still checked). O(d). Throws invalid_argument naming `a`, `u` or the offending entry.
  genz(genz_family family, std::vector<T> a, std::vector<T> u)
      : family_(family), a_(std::move(a)), u_(std::move(u)) {
    constexpr std::string_view where = "tessera::qmc::genz";
    require(!a_.empty(), where, "a.size()", a_.size(), ">= 1");
    require(u_.size() == a_.size(), where, "u.size()", u_.size(),
            detail::concat({"a.size() = ", std::to_string(a_.size())}));
    for (std::size_t j = 0; j < a_.size(); ++j) {
      require_positive(where, detail::entry_name("a", j), a_[j]);
      require_in_range(where, detail::entry_name("u", j), u_[j], T(0), T(1));
    }
  }

  /// The dimension d.
  int dimension() const noexcept { return static_cast<int>(a_.size()); }

  /// The family.
  genz_family family() const noexcept { return family_; }

  /// The coefficients a.
  const std::vector<T>& a() const noexcept { return a_; }

  /// The shifts u.
  const std::vector<T>& u() const noexcept { return u_; }

  /// f at each row of x (n x d). O(n d), rows on OpenMP threads where enabled. Throws
  /// invalid_argument for a wrong column count or a coordinate outside [0, 1].
  xt::xtensor<T, 1> operator()(const point_array<T>& x) const {
    require_unit_points("tessera::qmc::genz", x, dimension());
    const auto n = static_cast<std::int64_t>(x.shape(0));
    const std::size_t d = a_.size();
    xt::xtensor<T, 1> values = tessera::detail::fresh_tensor<T, 1>({x.shape(0)});
    const T* rows = x.data();
#if defined(_OPENMP)
#pragma omp parallel for schedule(static)
#endif
    for (std::int64_t i = 0; i < n; ++i)
      values(static_cast<std::size_t>(i)) = evaluate(rows + static_cast<std::size_t>(i) * d);
    return values;
  }

  /// The integral over [0,1]^d, by the closed forms of each family (products of 1-D integrals):
  ///   oscillatory    cos(2 pi u_1 + sum_j a_j/2) prod_j 2 sin(a_j/2) / a_j
  ///   product_peak   prod_j a_j (atan(a_j (1 - u_j)) + atan(a_j u_j))
  ///   gaussian       prod_j sqrt(pi)/(2 a_j) (erf(a_j (1 - u_j)) + erf(a_j u_j))
  ///   continuous     prod_j (2 - e^{-a_j u_j} - e^{-a_j (1 - u_j)}) / a_j
  ///   discontinuous  prod_j (e^{a_j b_j} - 1) / a_j,  b_1 = u_1, b_2 = u_2, b_j = 1 otherwise
  ///   corner_peak    (1/d!) integral_0^inf t^d e^{-t} prod_j (1 - e^{-a_j t}) / (a_j t) dt,
  /// the last from (1 + s)^{-(d+1)} = (1/d!) integral_0^inf t^d e^{-t (1+s)} dt. It is used
  /// instead of the inclusion-exclusion sum over the 2^d corners, whose alternating terms cancel
  /// catastrophically for small a; its integrand is positive and smooth, and Boost.Math's
  /// exp-sinh quadrature evaluates it to about 1e-14 relative. O(d) (corner peak: a few hundred
  /// O(d) evaluations).
  double exact_value() const {
    const std::size_t d = a_.size();
    constexpr double pi = std::numbers::pi;
    double product = 1;
    switch (family_) {
      case genz_family::oscillatory: {
        double phase = 2 * pi * static_cast<double>(u_[0]);
        for (std::size_t j = 0; j < d; ++j) {
          const double a = a_[j];
          phase += a / 2;
          product *= 2 * std::sin(a / 2) / a;
        }
        return std::cos(phase) * product;
      }
      case genz_family::product_peak:
        for (std::size_t j = 0; j < d; ++j) {
          const double a = a_[j], u = u_[j];
          product *= a * (std::atan(a * (1 - u)) + std::atan(a * u));
        }
        return product;
      case genz_family::gaussian:
        for (std::size_t j = 0; j < d; ++j) {
          const double a = a_[j], u = u_[j];
          product *= std::sqrt(pi) / (2 * a) * (std::erf(a * (1 - u)) + std::erf(a * u));
        }
        return product;
      case genz_family::continuous:
        for (std::size_t j = 0; j < d; ++j) {
          const double a = a_[j], u = u_[j];
          product *= -(std::expm1(-a * u) + std::expm1(-a * (1 - u))) / a;
        }
        return product;
      case genz_family::discontinuous:
        for (std::size_t j = 0; j < d; ++j) {
          const double a = a_[j];
          const double b = j < 2 ? static_cast<double>(u_[j]) : 1.0;
          product *= std::expm1(a * b) / a;
        }
        return product;
      case genz_family::corner_peak:
        return corner_peak_integral();
    }
    return product;
  }

 private:
  // f at one point (d coordinates).
  T evaluate(const T* x) const {
    const std::size_t d = a_.size();
    T sum = 0;
    T product = 1;
    switch (family_) {
      case genz_family::oscillatory:
        for (std::size_t j = 0; j < d; ++j) sum += a_[j] * x[j];
        return std::cos(2 * std::numbers::pi_v<T> * u_[0] + sum);
      case genz_family::product_peak:
        for (std::size_t j = 0; j < d; ++j) {
          const T gap = x[j] - u_[j];
          product *= T(1) / (T(1) / (a_[j] * a_[j]) + gap * gap);
        }
        return product;
      case genz_family::corner_peak:
        for (std::size_t j = 0; j < d; ++j) sum += a_[j] * x[j];
        return std::pow(T(1) + sum, -static_cast<T>(d + 1));
      case genz_family::gaussian:
        for (std::size_t j = 0; j < d; ++j) {
          const T gap = a_[j] * (x[j] - u_[j]);
          sum += gap * gap;
        }
        return std::exp(-sum);
      case genz_family::continuous:
        for (std::size_t j = 0; j < d; ++j) sum += a_[j] * std::abs(x[j] - u_[j]);
        return std::exp(-sum);
      case genz_family::discontinuous:
        if (x[0] > u_[0] || (d > 1 && x[1] > u_[1])) return T(0);
        for (std::size_t j = 0; j < d; ++j) sum += a_[j] * x[j];
        return std::exp(sum);
    }
    return T(0);
  }

  // (1/d!) integral_0^inf t^d e^{-t} prod_j phi(a_j t) dt, phi(s) = (1 - e^{-s}) / s, with the
  // powers and the factorial taken as logs so that large d neither overflows nor underflows.
  double corner_peak_integral() const {
    const double d = static_cast<double>(a_.size());
    const double log_factorial = std::lgamma(d + 1);
    const auto integrand = [&](double t) {
      if (!(t > 0)) return 0.0;
      double log_value = d * std::log(t) - t - log_factorial;
      for (const T a : a_) {
        const double s = static_cast<double>(a) * t;
        log_value += std::log(-std::expm1(-s) / s);
      }
      return std::exp(log_value);
    };
    boost::math::quadrature::exp_sinh<double> integrator;  // Boost 1.74: integrate is not const
    return integrator.integrate(integrand, 1e-15);
  }

  genz_family family_;
  std::vector<T> a_;
  std::vector<T> u_;
};

}  // namespace tessera::qmc
