#pragma once
// What the cubature rules integrate: a batch integrand over the unit cube.
//
// QMCPy's chain is generator -> randomization -> transform -> cubature. tessera folds the
// transform into the integrand: a batch integrand takes points u uniform on [0,1)^d and returns
// f(u) such that the integral of f over [0,1)^d is the quantity of interest (an expectation under
// a Gaussian measure, a Lebesgue integral over a box, an option price). The cubature rules only
// ever see the unit cube.
//
// Threads: integrands evaluate their rows on OpenMP threads where tessera is built with OpenMP,
// so a user's callable wrapped by pointwise_integrand is called concurrently and must be safe to
// call from several threads at once (no unsynchronized shared mutable state).

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <xtensor/xtensor.hpp>

#include "tessera/core/concepts.hpp"
#include "tessera/core/detail/fresh_tensor.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/qmc/point_set.hpp"

namespace tessera::qmc {

/// An integrand over [0,1)^d evaluated a batch at a time:
///   `f.dimension()` is d, and `f(u)` with u an n x d point_array<T> returns the n values
///   f(u_0), ..., f(u_{n-1}) (row i of u is point i). The integral over the unit cube of f is the
///   quantity of interest: f includes the transform of u to its true measure.
/// Evaluation may run on OpenMP threads (see the top of this header).
template <class F, class T>
concept batch_integrand =
    float_or_double<T> && requires(const F& f, const point_array<T>& u) {
      { f.dimension() } -> std::convertible_to<int>;
      { f(u) } -> std::same_as<xt::xtensor<T, 1>>;
    };

namespace detail {

/// The concatenation of the parts (error messages; appending avoids GCC 12's false -Wrestrict
/// on `"literal" + std::string`).
inline std::string concat(std::initializer_list<std::string_view> parts) {
  std::string text;
  for (const std::string_view part : parts) text.append(part);
  return text;
}

/// "name(i)", the name of a vector entry in an error message.
inline std::string entry_name(std::string_view name, std::size_t i) {
  return concat({name, "(", std::to_string(i), ")"});
}

/// "name(i, j)", the name of a matrix entry in an error message.
inline std::string entry_name(std::string_view name, std::size_t i, std::size_t j) {
  return concat({name, "(", std::to_string(i), ", ", std::to_string(j), ")"});
}

}  // namespace detail

/// Requires every coordinate of `points` to lie in [0, 1] (NaN rejected), scanning in row-major
/// order. Throws invalid_argument "<where>: points(i, j) = <value>; expected 0 <= points(i, j)
/// <= 1" naming the first offending row i and column j. O(n d).
template <float_or_double T>
void require_in_unit_cube(std::string_view where, const point_array<T>& points) {
  const std::size_t n = points.shape(0);
  const std::size_t d = points.shape(1);
  const T* data = points.data();
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < d; ++j) {
      const T x = data[i * d + j];
      if (x >= T(0) && x <= T(1)) continue;
      const std::string name = detail::entry_name("points", i, j);
      require(false, where, name, x, detail::concat({"0 <= ", name, " <= 1"}));
    }
  }
}

/// Requires an n x d batch whose d equals the integrand's or transform's dimension and whose
/// coordinates lie in [0, 1]. Throws invalid_argument naming `points` (wrong column count) or the
/// first offending coordinate. O(n d).
template <float_or_double T>
void require_unit_points(std::string_view where, const point_array<T>& points, int dimension) {
  require(points.shape(1) == static_cast<std::size_t>(dimension), where, "points.shape(1)",
          points.shape(1), detail::concat({"the dimension ", std::to_string(dimension)}));
  require_in_unit_cube(where, points);
}

/// Adapts a callable T(std::span<const T>) that evaluates one point into a batch integrand of
/// dimension d. The callable receives each row of the batch (length d) and is called from
/// OpenMP threads where enabled, so it must be thread-safe; an exception it throws is rethrown
/// by operator() (the one thrown for the lowest row index when several rows throw).
template <float_or_double T, class F>
  requires scalar_function_of_point<const F, T>
class pointwise_integrand {
 public:
  /// dimension: d >= 1; f: the per-point function. Throws invalid_argument when d < 1.
  pointwise_integrand(int dimension, F f) : dimension_(dimension), f_(std::move(f)) {
    require(dimension >= 1, "tessera::qmc::pointwise_integrand", "dimension", dimension, ">= 1");
  }

  /// The number of coordinates of a point.
  int dimension() const noexcept { return dimension_; }

  /// The wrapped callable.
  const F& function() const noexcept { return f_; }

  /// f at each row of u (n x d, coordinates in [0, 1]). O(n) calls of f; rows in parallel where
  /// OpenMP is on. Throws invalid_argument for a wrong column count or a coordinate outside
  /// [0, 1]; rethrows what f throws.
  xt::xtensor<T, 1> operator()(const point_array<T>& u) const {
    require_unit_points("tessera::qmc::pointwise_integrand", u, dimension_);
    const auto n = static_cast<std::int64_t>(u.shape(0));
    const auto d = static_cast<std::size_t>(dimension_);
    xt::xtensor<T, 1> values = tessera::detail::fresh_tensor<T, 1>({u.shape(0)});
    const T* rows = u.data();
    T* out = values.data();
    // An exception must not leave an OpenMP region: keep the one of the lowest row and rethrow.
    std::exception_ptr failure;
    std::int64_t failed_row = n;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static)
#endif
    for (std::int64_t i = 0; i < n; ++i) {
      try {
        out[i] = static_cast<T>(f_(std::span<const T>(rows + static_cast<std::size_t>(i) * d, d)));
      } catch (...) {
#if defined(_OPENMP)
#pragma omp critical(tessera_pointwise_integrand)
#endif
        if (i < failed_row) {
          failed_row = i;
          failure = std::current_exception();
        }
      }
    }
    if (failure) std::rethrow_exception(failure);
    return values;
  }

 private:
  int dimension_;
  F f_;
};

/// pointwise_integrand<T, F>(dimension, f) with F deduced: make_pointwise_integrand<double>(3, f).
template <float_or_double T, class F>
  requires scalar_function_of_point<const std::decay_t<F>, T>
pointwise_integrand<T, std::decay_t<F>> make_pointwise_integrand(int dimension, F&& f) {
  return pointwise_integrand<T, std::decay_t<F>>(dimension, std::forward<F>(f));
}

}  // namespace tessera::qmc
