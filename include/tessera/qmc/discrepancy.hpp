#pragma once
// L2 discrepancies of a point set P = {x_1, ..., x_n} in [0,1]^d, with exactly the definitions
// of SciPy's scipy.stats.qmc.discrepancy (methods "L2-star", "CD", "WD"):
//
//   L2-star (Warnock 1972), returned as the discrepancy itself (SciPy takes the square root):
//     D*^2 = 3^{-d} - (2^{1-d}/n) sum_i prod_k (1 - x_ik^2)
//            + (1/n^2) sum_{i,j} prod_k (1 - max(x_ik, x_jk))
//   centered (Hickernell 1998; eq. 9 of Zhou, Fang & Ning, J. Complexity 29, 2013), returned
//   SQUARED, as SciPy returns it (no square root taken):
//     CD^2 = (13/12)^d - (2/n) sum_i prod_k (1 + |x_ik - 1/2|/2 - |x_ik - 1/2|^2/2)
//            + (1/n^2) sum_{i,j} prod_k (1 + |x_ik - 1/2|/2 + |x_jk - 1/2|/2 - |x_ik - x_jk|/2)
//   wrap-around (eq. 10 of Zhou et al.), returned SQUARED, as SciPy returns it:
//     WD^2 = -(4/3)^d + (1/n^2) sum_{i,j} prod_k (3/2 - |x_ik - x_jk| + |x_ik - x_jk|^2)
//
// The names say which are squared: l2_star_discrepancy, centered_discrepancy_squared,
// wrap_around_discrepancy_squared; each equals SciPy's number for the same points.
//
// Cost O(n^2 d) time (the double sum is taken over i <= j, using its symmetry) and O(1) extra
// memory (a 64-double buffer, and three sums per thread); the rows i are spread over OpenMP
// threads where enabled, and the result is the same bits on every run with the same number of
// threads. Sums are accumulated in
// double with Neumaier compensation whatever T is, and the result is a double. SciPy sums
// naively, so where the result is small (good point sets, large n) SciPy's own rounding error
// can exceed 1e-12 relative (see tests/qmc/discrepancy_test.cpp); these sums are accurate to a
// few units of rounding of the final subtraction.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "tessera/core/concepts.hpp"
#include "tessera/core/exec.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/qmc/integrand.hpp"
#include "tessera/qmc/point_set.hpp"

namespace tessera::qmc {
namespace detail {

/// Requires a non-empty n x d set (n, d >= 1) inside [0, 1]^d.
template <float_or_double T>
void require_discrepancy_points(std::string_view where, const point_array<T>& points) {
  require(points.shape(0) >= 1, where, "points.shape(0)", points.shape(0), ">= 1 point");
  require(points.shape(1) >= 1, where, "points.shape(1)", points.shape(1), ">= 1 dimension");
  require_in_unit_cube(where, points);
}

/// A running sum with Neumaier's compensation (A. Neumaier, ZAMM 54, 1974): its error does not
/// grow with the number of terms. The discrepancies subtract sums of n^2 terms of size ~1 to get
/// values of size ~1e-4, so plain summation would lose digits in proportion to n.
struct compensated_sum {
  double sum = 0;
  double compensation = 0;

  void add(double value) {
    const double total = sum + value;
    compensation += std::abs(sum) >= std::abs(value) ? (sum - total) + value : (value - total) + sum;
    sum = total;
  }
  double value() const { return sum + compensation; }
};

/// The two sums of a discrepancy formula.
struct discrepancy_sums {
  double single = 0;  ///< sum_i single(x_i)
  double pair = 0;    ///< sum_{i,j} pair(x_i, x_j)
};

/// sum_i single(x_i) and sum_{i,j} pair(x_i, x_j) for a symmetric pair kernel, the latter as
/// sum_i pair(x_i, x_i) + 2 sum_{i<j} pair(x_i, x_j). Each kernel maps coordinates (doubles) to
/// one factor; a point's (or pair's) term is the product of its d factors. Row i goes to thread
/// i mod threads and the threads' sums are added in thread order, so the result is the same bits
/// on every run with the same number of threads.
template <float_or_double T, class Single, class Pair>
discrepancy_sums accumulate(const point_array<T>& points, Single single, Pair pair) {
  const auto n = static_cast<std::int64_t>(points.shape(0));
  const std::size_t d = points.shape(1);
  const T* data = points.data();
  constexpr std::int64_t block = 64;
  struct partial_sums {
    compensated_sum single, diagonal, off_diagonal;
  };
#if defined(_OPENMP)
  std::vector<partial_sums> shares(static_cast<std::size_t>(omp_get_max_threads()));
#pragma omp parallel
#else
  std::vector<partial_sums> shares(1);
#endif
  {
#if defined(_OPENMP)
    partial_sums& share = shares[static_cast<std::size_t>(omp_get_thread_num())];
#else
    partial_sums& share = shares[0];
#endif
    // Cyclic rows balance the triangle (row i pairs with the n - i - 1 rows after it).
#if defined(_OPENMP)
#pragma omp for schedule(static, 1)
#endif
    for (std::int64_t i = 0; i < n; ++i) {
      const T* xi = data + static_cast<std::size_t>(i) * d;
      double own = 1;
      double self = 1;
      for (std::size_t k = 0; k < d; ++k) {
        const auto x = static_cast<double>(xi[k]);
        own *= single(x);
        self *= pair(x, x);
      }
      share.single.add(own);
      share.diagonal.add(self);
      // The rows after i in blocks of `block`: a block's products are built dimension by
      // dimension in a fixed buffer (a loop the compiler vectorizes), summed plainly (an error
      // of ~block ulp: the terms are positive), and the block sums compensated.
      for (std::int64_t begin = i + 1; begin < n; begin += block) {
        const auto count = static_cast<std::size_t>(begin + block < n ? block : n - begin);
        const T* rows = data + static_cast<std::size_t>(begin) * d;
        double products[block];
        for (std::size_t r = 0; r < count; ++r) products[r] = 1;
        for (std::size_t k = 0; k < d; ++k) {
          const auto x = static_cast<double>(xi[k]);
          for (std::size_t r = 0; r < count; ++r)
            products[r] *= pair(x, static_cast<double>(rows[r * d + k]));
        }
        double partial = 0;
        for (std::size_t r = 0; r < count; ++r) partial += products[r];
        share.off_diagonal.add(partial);
      }
    }
  }
  partial_sums total;
  for (const partial_sums& share : shares) {
    for (auto [to, from] : {std::pair{&total.single, &share.single},
                            std::pair{&total.diagonal, &share.diagonal},
                            std::pair{&total.off_diagonal, &share.off_diagonal}}) {
      to->add(from->sum);
      to->add(from->compensation);
    }
  }
  return {total.single.value(), total.diagonal.value() + 2 * total.off_diagonal.value()};
}

}  // namespace detail

/// The L2-star discrepancy D*(P) (not squared), SciPy's
/// `qmc.discrepancy(points, method="L2-star")`; formula at the top of this header. A rounding
/// error that makes D*^2 negative yields 0. O(n^2 d) time, O(1) extra memory, OpenMP-parallel.
/// Throws invalid_argument for an empty set (naming points.shape) or a coordinate outside
/// [0, 1] (naming the first offending row and column).
template <float_or_double T>
double l2_star_discrepancy(exec::host_policy, const point_array<T>& points) {
  detail::require_discrepancy_points("tessera::qmc::l2_star_discrepancy", points);
  const auto n = static_cast<double>(points.shape(0));
  const auto d = static_cast<double>(points.shape(1));
  const detail::discrepancy_sums sums = detail::accumulate(
      points, [](double x) { return 1 - x * x; },
      [](double x, double y) { return 1 - (x > y ? x : y); });
  const double squared =
      std::pow(3.0, -d) - std::pow(2.0, 1 - d) / n * sums.single + sums.pair / (n * n);
  return std::sqrt(squared > 0 ? squared : 0.0);
}

/// The SQUARED centered L2 discrepancy CD^2(P), SciPy's `qmc.discrepancy(points, method="CD")`
/// (SciPy's default method, which returns the square); formula at the top of this header.
/// O(n^2 d) time, O(1) extra memory, OpenMP-parallel. Throws invalid_argument for an empty set
/// or a coordinate outside [0, 1] (naming the first offending row and column).
template <float_or_double T>
double centered_discrepancy_squared(exec::host_policy, const point_array<T>& points) {
  detail::require_discrepancy_points("tessera::qmc::centered_discrepancy_squared", points);
  const auto n = static_cast<double>(points.shape(0));
  const auto d = static_cast<double>(points.shape(1));
  const detail::discrepancy_sums sums = detail::accumulate(
      points,
      [](double x) {
        const double c = std::abs(x - 0.5);
        return 1 + 0.5 * c - 0.5 * c * c;
      },
      [](double x, double y) {
        return 1 + 0.5 * std::abs(x - 0.5) + 0.5 * std::abs(y - 0.5) - 0.5 * std::abs(x - y);
      });
  return std::pow(13.0 / 12.0, d) - 2 / n * sums.single + sums.pair / (n * n);
}

/// The SQUARED wrap-around L2 discrepancy WD^2(P), SciPy's `qmc.discrepancy(points,
/// method="WD")` (which returns the square); formula at the top of this header. O(n^2 d) time,
/// O(1) extra memory, OpenMP-parallel. Throws invalid_argument for an empty set or a coordinate
/// outside [0, 1] (naming the first offending row and column).
template <float_or_double T>
double wrap_around_discrepancy_squared(exec::host_policy, const point_array<T>& points) {
  detail::require_discrepancy_points("tessera::qmc::wrap_around_discrepancy_squared", points);
  const auto n = static_cast<double>(points.shape(0));
  const auto d = static_cast<double>(points.shape(1));
  const detail::discrepancy_sums sums = detail::accumulate(
      points, [](double) { return 1.0; },
      [](double x, double y) {
        const double gap = std::abs(x - y);
        return 1.5 - gap + gap * gap;
      });
  return sums.pair / (n * n) - std::pow(4.0 / 3.0, d);
}

}  // namespace tessera::qmc
