#pragma once
// The fixed least-squares problem of the zo tests: L(θ) = ½‖Aθ − b‖² with a 64 × 16 matrix A of
// standard normals, b = A x* + 0.5 e, all drawn from tessera streams (seed 2024), and its exact
// minimum from the normal equations.

#include <Eigen/Dense>

#include <cstddef>
#include <span>
#include <tessera/core/random.hpp>
#include <vector>

namespace tessera::test {

struct least_squares {
  static constexpr Eigen::Index rows = 64;
  static constexpr Eigen::Index cols = 16;

  Eigen::MatrixXd a = Eigen::MatrixXd(rows, cols);
  Eigen::VectorXd b = Eigen::VectorXd(rows);

  least_squares() {
    const auto draw = [](std::uint32_t id, Eigen::Index i) {
      return tessera::normal<double>(tessera::random_stream(2024, id), static_cast<std::uint64_t>(i));
    };
    for (Eigen::Index i = 0; i < a.size(); ++i) a.data()[i] = draw(1, i);
    Eigen::VectorXd x_true(cols);
    for (Eigen::Index i = 0; i < cols; ++i) x_true[i] = draw(2, i);
    for (Eigen::Index i = 0; i < rows; ++i) b[i] = draw(3, i);
    b = a * x_true + 0.5 * b;
  }

  /// ½‖A_rows θ − b_rows‖² over rows [first, first + count), accumulated in T.
  template <class T>
  T loss(std::span<const T> theta, Eigen::Index first = 0, Eigen::Index count = rows) const {
    T total = 0;
    for (Eigen::Index i = first; i < first + count; ++i) {
      T residual = -static_cast<T>(b[i]);
      for (Eigen::Index j = 0; j < cols; ++j) residual += static_cast<T>(a(i, j)) * theta[static_cast<std::size_t>(j)];
      total += residual * residual / 2;
    }
    return total;
  }

  /// ∇L(θ) = Aᵀ(Aθ − b), in double.
  Eigen::VectorXd gradient(std::span<const double> theta) const {
    const Eigen::Map<const Eigen::VectorXd> x(theta.data(), cols);
    return a.transpose() * (a * x - b);
  }

  /// The minimum of L, from the normal equations (AᵀA is well conditioned here).
  double optimal_loss() const {
    const Eigen::VectorXd x = (a.transpose() * a).ldlt().solve(a.transpose() * b);
    return (a * x - b).squaredNorm() / 2;
  }
};

}  // namespace tessera::test
