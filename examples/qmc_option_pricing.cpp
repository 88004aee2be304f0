// Price an Asian-style option and integrate Keister's function to a guaranteed tolerance, and see
// how many samples IID Monte Carlo would need for the same accuracy.
//
// QMC: the guaranteed cubature for digital nets (QMCPy's CubQMCNetG) on a randomized Sobol' net
// stops when its data-driven error bound is below the tolerance. Monte Carlo: a pilot of 2^14
// IID points estimates the standard deviation sigma, and the CLT says n = (z sigma / tol)^2
// points reach the same tolerance with 99% confidence (z = 2.576).
#include <cmath>
#include <cstdio>
#include <span>
#include <tessera/core/random.hpp>
#include <tessera/qmc/cubature/guaranteed.hpp>
#include <tessera/qmc/integrand/asian_option.hpp>
#include <tessera/qmc/integrand/keister.hpp>
#include <vector>

using namespace tessera::qmc;

// n IID uniform points in [0,1)^d from a counter-based stream.
point_array<double> iid_points(int d, std::uint64_t n, std::uint64_t seed) {
  point_array<double> x({n, static_cast<std::size_t>(d)});
  tessera::fill_uniform(tessera::exec::host, tessera::random_stream(seed), std::span<double>(x.data(), x.size()));
  return x;
}

template <class F>
double monte_carlo_samples_needed(const F& f, double tolerance) {
  const auto y = f(iid_points(f.dimension(), 1 << 14, 7));
  double mean = 0, squares = 0;
  for (double v : y) mean += v;
  mean /= static_cast<double>(y.size());
  for (double v : y) squares += (v - mean) * (v - mean);
  const double sigma = std::sqrt(squares / static_cast<double>(y.size() - 1));
  return std::pow(2.576 * sigma / tolerance, 2);
}

template <class F>
void compare(const char* name, const F& f, double tolerance, double exact) {
  guaranteed_cubature_options options;
  options.tolerance.abs_tol = tolerance;
  const digital_net net = sobol(f.dimension(), {net_order::natural, net_randomization::lms_digital_shift, 2026});
  const cubature_result qmc = integrate_net_g(tessera::exec::host, f, net, options);
  const double mc = monte_carlo_samples_needed(f, tolerance);
  std::printf("%s, d = %d, tolerance %.0e\n", name, f.dimension(), tolerance);
  std::printf("  QMC (Sobol' net, guaranteed bound): %.6f +- %.1e, %llu points, %.3f s\n", qmc.estimate,
              qmc.error_bound, static_cast<unsigned long long>(qmc.n), qmc.seconds);
  if (std::isfinite(exact)) std::printf("  exact value: %.6f (error %.1e)\n", exact, std::abs(qmc.estimate - exact));
  std::printf("  IID Monte Carlo would need about %.2e points: %.0fx more\n\n", mc, mc / static_cast<double>(qmc.n));
}

int main() {
  // A geometric Asian call monitored at 16 dates (S0 = 30, K = 35, r = 0, sigma = 0.5, T = 1, as
  // QMCPy's FinancialOption), priced by PCA of the Brownian path; it has a closed form to check.
  const geometric_asian_option<double> asian(16);
  compare("geometric Asian call", asian, 1e-3, asian.exact_value());
  const keister<double> k(5);
  compare("Keister", k, 1e-3, k.exact_value());
  return 0;
}
