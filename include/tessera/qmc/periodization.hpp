#pragma once
// Periodizing transforms for lattice rules (QMCPy's periodization_transform): the integral of f
// over [0,1)^d equals that of g(x) = f(psi(x)) prod_j psi'(x_j), and g is (smoother and)
// periodic, which lattice rules need for their fast convergence.
//
//   none   psi(x) = x
//   baker  psi(x) = 1 - |2x - 1|                        (tent; psi' = +-2 but integrates as 1)
//   c0     psi(x) = 3x^2 - 2x^3,                        psi'(x) = 6 x (1 - x)
//   c1     psi(x) = x^3 (10 - 15x + 6x^2),              psi'(x) = 30 x^2 (1 - x)^2
//   c1sin  psi(x) = x - sin(2 pi x) / (2 pi),           psi'(x) = 2 sin^2(pi x)         (Sidi)
//   c2sin  psi(x) = (8 - 9 cos(pi x) + cos(3 pi x))/16, psi'(x) = (9 pi sin(pi x) - 3 pi sin(3 pi x))/16
//   c3sin  psi(x) = (12 pi x - 8 sin(2 pi x) + sin(4 pi x)) / (12 pi),
//          psi'(x) = (12 pi - 16 pi cos(2 pi x) + 4 pi cos(4 pi x)) / (12 pi)
// (QMCPy 2.4's c3sin weight has sin(4 pi x) 4 pi where the derivative has cos(4 pi x) 4 pi; the
// derivative is used here, so the transform preserves integrals.)

#include <cmath>
#include <numbers>
#include <string_view>

#include "tessera/qmc/point_set.hpp"

namespace tessera::qmc {

enum class periodization { none, baker, c0, c1, c1sin, c2sin, c3sin };

/// Applies psi to every coordinate of `points` in place and returns the weights prod_j psi'(x_j)
/// per point (all 1 for none and baker). O(n d).
inline xt::xtensor<double, 1> periodize(periodization p, point_array<double>& points) {
  constexpr double pi = std::numbers::pi;
  const std::size_t n = points.shape(0), d = points.shape(1);
  xt::xtensor<double, 1> weights = xt::ones<double>({n});
  double* x = points.data();
  for (std::size_t i = 0; i < n; ++i) {
    double w = 1;
    for (std::size_t j = 0; j < d; ++j) {
      double& u = x[i * d + j];
      switch (p) {
        case periodization::none: break;
        case periodization::baker: u = 1 - std::abs(2 * u - 1); break;
        case periodization::c0: w *= 6 * u * (1 - u); u = u * u * (3 - 2 * u); break;
        case periodization::c1:
          w *= 30 * u * u * (1 - u) * (1 - u);
          u = u * u * u * (10 - 15 * u + 6 * u * u);
          break;
        case periodization::c1sin:
          w *= 2 * std::sin(pi * u) * std::sin(pi * u);
          u = u - std::sin(2 * pi * u) / (2 * pi);
          break;
        case periodization::c2sin:
          w *= (9 * pi * std::sin(pi * u) - 3 * pi * std::sin(3 * pi * u)) / 16;
          u = (8 - 9 * std::cos(pi * u) + std::cos(3 * pi * u)) / 16;
          break;
        case periodization::c3sin:
          w *= (12 * pi - 16 * pi * std::cos(2 * pi * u) + 4 * pi * std::cos(4 * pi * u)) / (12 * pi);
          u = (12 * pi * u - 8 * std::sin(2 * pi * u) + std::sin(4 * pi * u)) / (12 * pi);
          break;
      }
      // Rounding may leave psi(u) a hair outside [0, 1]; the integrands require the unit cube.
      u = std::fmin(std::fmax(u, 0.0), 1.0);
    }
    weights[i] = w;
  }
  return weights;
}

}  // namespace tessera::qmc
