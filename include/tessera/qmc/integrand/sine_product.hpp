#pragma once
// The sine product f(x) = c prod_{j=1}^{d} sin(pi x_j) on [0,1)^d (Lebesgue measure), a smooth
// integrand whose integral c (2/pi)^d is known; sine_product::normalized(d) takes
// c = (pi/2)^d so that the integral is one in every dimension.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numbers>
#include <xtensor/xtensor.hpp>

#include "tessera/core/concepts.hpp"
#include "tessera/core/detail/fresh_tensor.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/qmc/integrand.hpp"
#include "tessera/qmc/point_set.hpp"

namespace tessera::qmc {

/// f(x) = scale * prod_j sin(pi x_j), x in [0,1)^d. Evaluates in T.
template <float_or_double T>
class sine_product {
 public:
  /// dimension: d >= 1; scale: a finite constant c. Throws invalid_argument otherwise.
  explicit sine_product(int dimension, T scale = T(1)) : dimension_(dimension), scale_(scale) {
    require(dimension >= 1, "tessera::qmc::sine_product", "dimension", dimension, ">= 1");
    require_finite("tessera::qmc::sine_product", "scale", scale);
  }

  /// The product scaled by (pi/2)^d, whose integral is one. Throws invalid_argument for d < 1
  /// or when (pi/2)^d overflows T (d > 196 for float, d > 1572 for double).
  static sine_product normalized(int dimension) {
    require(dimension >= 1, "tessera::qmc::sine_product::normalized", "dimension", dimension,
            ">= 1");
    const double scale = std::pow(std::numbers::pi / 2, dimension);
    require(scale <= static_cast<double>(std::numeric_limits<T>::max()),
            "tessera::qmc::sine_product::normalized", "dimension", dimension,
            "a dimension whose scale (pi/2)^d is finite in T");
    return sine_product(dimension, static_cast<T>(scale));
  }

  /// The dimension d.
  int dimension() const noexcept { return dimension_; }

  /// The constant c.
  T scale() const noexcept { return scale_; }

  /// f at each row of u (n x d). O(n d), rows on OpenMP threads where enabled. Throws
  /// invalid_argument for a wrong column count or a coordinate outside [0, 1].
  xt::xtensor<T, 1> operator()(const point_array<T>& u) const {
    require_unit_points("tessera::qmc::sine_product", u, dimension_);
    const auto n = static_cast<std::int64_t>(u.shape(0));
    const auto d = static_cast<std::size_t>(dimension_);
    xt::xtensor<T, 1> values = tessera::detail::fresh_tensor<T, 1>({u.shape(0)});
    const T* rows = u.data();
    constexpr T pi = std::numbers::pi_v<T>;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static)
#endif
    for (std::int64_t i = 0; i < n; ++i) {
      const T* row = rows + static_cast<std::size_t>(i) * d;
      T product = scale_;
      for (std::size_t j = 0; j < d; ++j) product *= std::sin(pi * row[j]);
      values(static_cast<std::size_t>(i)) = product;
    }
    return values;
  }

  /// The integral c (2/pi)^d, in double. O(1).
  double exact_value() const {
    return static_cast<double>(scale_) * std::pow(2 / std::numbers::pi, dimension_);
  }

 private:
  int dimension_;
  T scale_;
};

}  // namespace tessera::qmc
