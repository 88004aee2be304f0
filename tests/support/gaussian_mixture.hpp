#pragma once
// The spec's robustness oracle (specs/conformal.md): a two-class Gaussian mixture along x_0, its
// probit classifier, and the worst-case l2 attack on it. Shared by the robust conformal tests.

#include <boost/math/distributions/normal.hpp>

#include <cstdint>
#include <span>
#include <tessera/core/random.hpp>
#include <vector>
#include <xtensor/xtensor.hpp>

namespace tessera::test {

/// Phi, the standard normal CDF.
inline double normal_cdf(double z) {
  return boost::math::cdf(boost::math::normal_distribution<double>(), z);
}

/// The probit classifier along the first coordinate: S(x, 0) = Phi(a x_0) (label 0 lives at
/// x_0 < 0), S(x, 1) = 1 - Phi(a x_0). Monotone in x_0 for both labels.
struct probit_classifier {
  double slope;

  void operator()(std::span<const double> x, std::span<double> scores) const {
    scores[0] = normal_cdf(slope * x[0]);
    scores[1] = 1 - scores[0];
  }
};

/// Labelled points: row i of x has label y[i].
struct labelled_points {
  xt::xtensor<double, 2> x;
  std::vector<std::int32_t> y;
};

/// n points of y ~ Bernoulli(1/2), x ~ N((2y - 1) separation e_0, I_2), from the streams
/// (seed, part, 0) for labels and (seed, part, 1) for coordinates.
inline labelled_points sample_mixture(std::size_t n, double separation, std::uint64_t seed, std::uint32_t part) {
  const random_stream labels(seed, part, 0);
  const random_stream coordinates(seed, part, 1);
  labelled_points points{xt::xtensor<double, 2>::from_shape({n, 2}), std::vector<std::int32_t>(n)};
  for (std::size_t i = 0; i < n; ++i) {
    points.y[i] = uniform<double>(labels, i) < 0.5 ? 1 : 0;
    points.x(i, 0) = (points.y[i] == 1 ? separation : -separation) + normal<double>(coordinates, 2 * i);
    points.x(i, 1) = normal<double>(coordinates, 2 * i + 1);
  }
  return points;
}

/// The worst l2 shift of norm epsilon for a score monotone in x_0: towards the other class. It
/// raises S(x + delta, y) for every noise delta at once, so it is also the worst case for the
/// smoothed score, for its Monte Carlo estimate, and after any non-decreasing transformation (PTT).
inline xt::xtensor<double, 2> attack(const labelled_points& points, double epsilon) {
  xt::xtensor<double, 2> attacked = points.x;
  for (std::size_t i = 0; i < points.y.size(); ++i) attacked(i, 0) += points.y[i] == 1 ? -epsilon : epsilon;
  return attacked;
}

}  // namespace tessera::test
