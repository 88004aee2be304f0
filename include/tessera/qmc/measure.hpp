#pragma once
// Transforms of uniform points to a true measure (QMCPy's `Gaussian` and `Uniform`/`Lebesgue`).
//
// A cubature rule draws u uniform on [0,1)^d; an integrand that is an expectation under another
// measure composes one of these transforms with its own function:
//
//   gaussian_transform  u -> mean + A z,  z_j = Phi^{-1}(u_j),  A A^T = covariance,
//                       A the Cholesky factor or the PCA factor (QMCPy's decomp_type).
//   box_transform       u -> a + (b - a) u  (uniform on the box [a, b]); the Lebesgue integral
//                       over the box is volume() times the unit-cube integral.
//
// Inputs in float are factorized in double and the factor is rounded to float once.

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
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

/// How far normal_quantile_clipped keeps u from 0 and 1: half the machine epsilon of T, 2^-53
/// for double and 2^-24 for float. 1 - epsilon/2 is the largest value of T below one, so no
/// u < 1 is moved at the top, the clipped interval [epsilon/2, 1 - epsilon/2] is symmetric about
/// 1/2, and at the bottom only u < epsilon/2 (u = 0 in particular) is moved. Phi^{-1} of the
/// ends is -+8.21 (double) and -+5.29 (float).
template <float_or_double T>
inline constexpr T normal_clip_epsilon = std::numeric_limits<T>::epsilon() / 2;

/// Phi^{-1}(clamp(u, e, 1 - e)) with e = normal_clip_epsilon<T>: the standard normal quantile of
/// u kept finite at u = 0 and u = 1 (a Sobol' net's first point is 0). Boost.Math's quantile
/// (relative accuracy of a few ulp). Precondition: u is not NaN. O(1).
template <float_or_double T>
T normal_quantile_clipped(T u) {
  constexpr T e = normal_clip_epsilon<T>;
  const T p = std::clamp(u, e, T(1) - e);
  return boost::math::quantile(boost::math::normal_distribution<T>(), p);
}

/// How a Gaussian transform factors its covariance Sigma = A A^T (QMCPy's decomp_type).
enum class factorization {
  /// A = L, the lower-triangular Cholesky factor; needs Sigma positive definite.
  cholesky,
  /// A = V diag(sqrt(lambda)), eigenvalues lambda in decreasing order and each eigenvector's
  /// first component made >= 0 (QMCPy's sign rule), so that the leading coordinates of u carry
  /// the most variance; accepts a positive semidefinite Sigma.
  pca,
};

/// Maps uniform points to the Gaussian N(mean, covariance):
///   x = mean + A z,  z_j = normal_quantile_clipped(u_j),  A A^T = covariance.
/// A value type; the factor is computed once by the constructor.
template <float_or_double T>
class gaussian_transform {
 public:
  using vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

  /// mean: d values; covariance: d x d, symmetric to a relative tolerance of 64 epsilon(T) of its
  /// largest entry (it is then symmetrized as (S + S^T)/2), positive definite for cholesky and
  /// positive semidefinite for pca (smallest eigenvalue >= -64 d epsilon(double) lambda_max;
  /// eigenvalues within that tolerance of zero are set to zero). Factorized in double:
  /// O(d^3). Throws invalid_argument naming `mean` (empty, non-finite entry), `covariance`
  /// (shape, non-finite or asymmetric entry, not positive definite) or its smallest eigenvalue.
  gaussian_transform(vector mean, const matrix& covariance,
                     factorization method = factorization::pca)
      : mean_(std::move(mean)), method_(method) {
    constexpr std::string_view where = "tessera::qmc::gaussian_transform";
    const auto d = mean_.size();
    require(d >= 1, where, "mean.size()", d, ">= 1");
    for (Eigen::Index j = 0; j < d; ++j)
      require_finite(where, detail::entry_name("mean", static_cast<std::size_t>(j)), mean_(j));
    require(covariance.rows() == d && covariance.cols() == d, where, "covariance.shape",
            detail::concat({std::to_string(covariance.rows()), " x ",
                            std::to_string(covariance.cols())}),
            detail::concat({std::to_string(d), " x ", std::to_string(d), " (mean.size() squared)"}));
    const Eigen::MatrixXd sigma = symmetrized(where, covariance);
    factor_ = (method == factorization::cholesky ? cholesky_factor(where, sigma)
                                                 : pca_factor(where, sigma))
                  .template cast<T>();
    covariance_ = sigma.cast<T>();
  }

  /// The dimension d.
  int dimension() const noexcept { return static_cast<int>(mean_.size()); }

  /// The mean vector.
  const vector& mean() const noexcept { return mean_; }

  /// The (symmetrized) covariance matrix.
  const matrix& covariance() const noexcept { return covariance_; }

  /// The factor A with A A^T = covariance (see factorization for its form).
  const matrix& factor() const noexcept { return factor_; }

  /// The factorization chosen at construction.
  factorization method() const noexcept { return method_; }

  /// Row i of the result is mean + A z_i with z_i = normal_quantile_clipped(u_i), for u of shape
  /// n x d. O(n d^2) (one matrix product, Eigen's) plus n d normal quantiles, on OpenMP threads
  /// where enabled. Throws invalid_argument for a wrong column count or a coordinate outside
  /// [0, 1] (naming the first offending row and column).
  point_array<T> operator()(const point_array<T>& u) const {
    require_unit_points("tessera::qmc::gaussian_transform", u, dimension());
    using row_major = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const auto n = static_cast<Eigen::Index>(u.shape(0));
    const Eigen::Index d = mean_.size();
    point_array<T> z = normal_quantiles(u);
    point_array<T> x = tessera::detail::fresh_tensor<T, 2>(u.shape());
    Eigen::Map<const row_major> z_map(z.data(), n, d);
    Eigen::Map<row_major> x_map(x.data(), n, d);
    x_map.noalias() = z_map * factor_.transpose();
    x_map.rowwise() += mean_.transpose();
    return x;
  }

 private:
  // Elementwise normal_quantile_clipped over an n x d batch, rows on OpenMP threads.
  static point_array<T> normal_quantiles(const point_array<T>& u) {
    point_array<T> z = tessera::detail::fresh_tensor<T, 2>(u.shape());
    const auto size = static_cast<std::int64_t>(u.size());
    const T* in = u.data();
    T* out = z.data();
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (size > 4096)
#endif
    for (std::int64_t k = 0; k < size; ++k) out[k] = normal_quantile_clipped(in[k]);
    return z;
  }

  static Eigen::MatrixXd symmetrized(std::string_view where, const matrix& covariance) {
    const Eigen::Index d = covariance.rows();
    const auto entry = [](Eigen::Index i, Eigen::Index j) {
      return detail::entry_name("covariance", static_cast<std::size_t>(i), static_cast<std::size_t>(j));
    };
    double largest = 0;
    for (Eigen::Index i = 0; i < d; ++i) {
      for (Eigen::Index j = 0; j < d; ++j) {
        require_finite(where, entry(i, j), covariance(i, j));
        largest = std::max(largest, std::abs(static_cast<double>(covariance(i, j))));
      }
    }
    const double tolerance = 64 * static_cast<double>(std::numeric_limits<T>::epsilon()) * largest;
    for (Eigen::Index i = 0; i < d; ++i) {
      for (Eigen::Index j = i + 1; j < d; ++j) {
        const double gap = std::abs(static_cast<double>(covariance(i, j)) -
                                    static_cast<double>(covariance(j, i)));
        require(gap <= tolerance, where, entry(i, j), covariance(i, j),
                detail::concat({"a symmetric matrix: ", entry(j, i), " = ",
                                tessera::detail::to_text(covariance(j, i))}));
      }
    }
    const Eigen::MatrixXd sigma = covariance.template cast<double>();
    return (sigma + sigma.transpose()) / 2;
  }

  static Eigen::MatrixXd cholesky_factor(std::string_view where, const Eigen::MatrixXd& sigma) {
    Eigen::LLT<Eigen::MatrixXd> llt(sigma);
    require(llt.info() == Eigen::Success, where, "covariance", std::string("not positive definite"),
            "a symmetric positive definite matrix for factorization::cholesky "
            "(factorization::pca accepts a semidefinite one)");
    return llt.matrixL();
  }

  static Eigen::MatrixXd pca_factor(std::string_view where, const Eigen::MatrixXd& sigma) {
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(sigma);
    require(eigen.info() == Eigen::Success, where, "covariance", std::string("no eigen-decomposition"),
            "a symmetric matrix whose eigen-decomposition converges");
    const Eigen::Index d = sigma.rows();
    const Eigen::VectorXd& lambda = eigen.eigenvalues();  // increasing
    const double lambda_max = std::max(std::abs(lambda(0)), std::abs(lambda(d - 1)));
    const double tolerance = 64 * static_cast<double>(d) * std::numeric_limits<double>::epsilon() *
                             lambda_max;
    require(lambda(0) >= -tolerance, where, "smallest eigenvalue of covariance", lambda(0),
            detail::concat({">= -", tessera::detail::to_text(tolerance),
                            " (a positive semidefinite matrix)"}));
    Eigen::MatrixXd a(d, d);
    for (Eigen::Index k = 0; k < d; ++k) {
      const Eigen::Index source = d - 1 - k;  // decreasing eigenvalue order
      const double sign = eigen.eigenvectors()(0, source) < 0 ? -1.0 : 1.0;
      const double root = std::sqrt(std::max(lambda(source), 0.0));
      a.col(k) = sign * root * eigen.eigenvectors().col(source);
    }
    return a;
  }

  vector mean_;
  matrix covariance_;
  matrix factor_;
  factorization method_;
};

/// Maps uniform points to the box [lower, upper]: x_j = lower_j + (upper_j - lower_j) u_j.
/// As a true measure this is the uniform distribution on the box; for the Lebesgue measure,
/// integral over the box of g = volume() * integral over [0,1)^d of g(transform(u)).
template <float_or_double T>
class box_transform {
 public:
  /// lower, upper: d >= 1 finite bounds each, lower_j < upper_j and upper_j - lower_j finite.
  /// O(d). Throws invalid_argument naming `lower`/`upper` (sizes, a non-finite or unordered
  /// entry).
  box_transform(std::vector<T> lower, std::vector<T> upper)
      : lower_(std::move(lower)), upper_(std::move(upper)) {
    constexpr std::string_view where = "tessera::qmc::box_transform";
    require(!lower_.empty(), where, "lower.size()", lower_.size(), ">= 1");
    require(upper_.size() == lower_.size(), where, "upper.size()", upper_.size(),
            detail::concat({"lower.size() = ", std::to_string(lower_.size())}));
    volume_ = 1;
    for (std::size_t j = 0; j < lower_.size(); ++j) {
      const std::string lower_name = detail::entry_name("lower", j);
      const std::string upper_name = detail::entry_name("upper", j);
      require_finite(where, lower_name, lower_[j]);
      require_finite(where, upper_name, upper_[j]);
      require(lower_[j] < upper_[j] && std::isfinite(upper_[j] - lower_[j]), where, upper_name,
              upper_[j],
              detail::concat({"> ", lower_name, " = ", tessera::detail::to_text(lower_[j]),
                              " with a finite width"}));
      volume_ *= static_cast<double>(upper_[j]) - static_cast<double>(lower_[j]);
    }
  }

  /// The dimension d.
  int dimension() const noexcept { return static_cast<int>(lower_.size()); }

  /// The lower bounds a.
  const std::vector<T>& lower() const noexcept { return lower_; }

  /// The upper bounds b.
  const std::vector<T>& upper() const noexcept { return upper_; }

  /// The Lebesgue volume prod_j (b_j - a_j) of the box, computed in double.
  double volume() const noexcept { return volume_; }

  /// Row i of the result is a + (b - a) u_i, for u of shape n x d. O(n d). Throws
  /// invalid_argument for a wrong column count or a coordinate outside [0, 1].
  point_array<T> operator()(const point_array<T>& u) const {
    require_unit_points("tessera::qmc::box_transform", u, dimension());
    point_array<T> x = tessera::detail::fresh_tensor<T, 2>(u.shape());
    const std::size_t n = u.shape(0);
    const std::size_t d = lower_.size();
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < d; ++j)
        x(i, j) = lower_[j] + (upper_[j] - lower_[j]) * u(i, j);
    return x;
  }

 private:
  std::vector<T> lower_;
  std::vector<T> upper_;
  double volume_ = 1;
};

}  // namespace tessera::qmc
