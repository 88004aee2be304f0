// Adaptive QMC cubature: the cone error bound equals QMCPy's on the same values; every rule meets
// its tolerance on integrands with known integrals; the replicated interval covers at its level;
// bad input and non-finite integrands are reported.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <tessera/qmc/cubature/guaranteed.hpp>
#include <tessera/qmc/cubature/replicated_student_t.hpp>
#include <tessera/qmc/integrand/european_option.hpp>
#include <tessera/qmc/integrand/keister.hpp>
#include <tessera/qmc/integrand/sine_product.hpp>
#include <vector>

using namespace tessera::qmc;
using tessera::exec::host;
using Catch::Matchers::Contains;

namespace {

// The value sequence of the QMCPy comparison: y_i = cos(0.37 i) + (i mod 7)/7 + 1/(1 + i).
std::vector<double> values(std::uint64_t from, std::uint64_t to) {
  std::vector<double> y;
  for (std::uint64_t i = from; i < to; ++i)
    y.push_back(std::cos(0.37 * static_cast<double>(i)) + static_cast<double>(i % 7) / 7 + 1 / (1 + static_cast<double>(i)));
  return y;
}

template <class Coefficient, class Transform>
std::vector<double> bounds_on_doubling(Transform transform) {
  int m = 8;
  detail::cone_error_bound<Coefficient> bound(transform(values(0, 256), false), m);
  std::vector<double> out;
  for (int step = 0; step < 5; ++step, ++m) {
    out.push_back(bound.bound(default_fudge));
    bound.extend(transform(values(std::uint64_t{1} << m, std::uint64_t{2} << m), true));
  }
  return out;
}

digital_net shifted_net(int d, std::uint64_t seed) {
  return sobol(d, {net_order::natural, net_randomization::lms_digital_shift, seed});
}

rank1_lattice shifted_lattice(int d, std::uint64_t seed) {
  return kuo_lattice(d, {lattice_order::radical_inverse, lattice_randomization::shift, seed});
}

}  // namespace

TEST_CASE("the cone error bound equals QMCPy's on the same values, Walsh and Fourier") {
  // qmcpy 2.4: starting from 2^8 values and doubling four times, the loop of
  // AbstractCubQMCLDG.integrate with fwht/omega_fwht (CubQMCNetG) and fftbr/omega_fftbr
  // (CubQMCLatticeG): 5 * 2^-m * sum |ytilde[kappa[2^(m-5) : 2^(m-4)]]| at each m.
  const double walsh[] = {0.015377153468870265, 0.005872638046042515, 0.0035427226980937502,
                          0.004125238828714239, 0.00137841592530465};
  const double fourier[] = {0.013836495151534099, 0.007718552637979142, 0.0049069676566169075,
                            0.0031766539062594193, 0.0018290349968821365};
  const auto ours_walsh = bounds_on_doubling<double>([](std::vector<double> y, bool) {
    return detail::walsh_coefficients(std::move(y));
  });
  const auto ours_fourier = bounds_on_doubling<std::complex<double>>(detail::fourier_coefficients);
  for (int k = 0; k < 5; ++k) {
    CHECK(ours_walsh[k] == Approx(walsh[k]).epsilon(1e-12));
    CHECK(ours_fourier[k] == Approx(fourier[k]).epsilon(1e-12));
  }
}

TEST_CASE("the guaranteed rules meet the tolerance on Keister's integrand") {
  for (int d : {1, 2, 3}) {
    const keister<double> f(d);
    for (std::uint64_t seed : {1, 2, 3}) {
      guaranteed_cubature_options o;
      o.tolerance.abs_tol = 1e-4;
      const cubature_result net = integrate_net_g(host, f, shifted_net(d, seed), o);
      const cubature_result lattice = integrate_lattice_g(host, f, shifted_lattice(d, seed), o);
      INFO("d " << d << ", seed " << seed << ": net " << net.estimate << " +- " << net.error_bound << " (n "
                << net.n << "), lattice " << lattice.estimate << " +- " << lattice.error_bound << " (n " << lattice.n << ")");
      CHECK(net.converged);
      CHECK(lattice.converged);
      CHECK(std::abs(net.estimate - f.exact_value()) <= 1e-4);
      CHECK(std::abs(lattice.estimate - f.exact_value()) <= 1e-4);
      CHECK(net.error_bound <= 1e-4);
    }
  }
}

TEST_CASE("a relative tolerance is met on an option price") {
  const european_option<double> call(4);
  guaranteed_cubature_options o;
  o.tolerance = {0.0, 1e-3, tolerance_rule::either};
  const cubature_result r = integrate_net_g(host, call, shifted_net(4, 9), o);
  CHECK(r.converged);
  CHECK(std::abs(r.estimate - call.exact_value()) <= 1e-3 * call.exact_value());
}

TEST_CASE("the replicated Student t rule meets its tolerance with both generators") {
  const sine_product<double> f = sine_product<double>::normalized(3);
  replicated_cubature_options o;
  o.tolerance.abs_tol = 1e-4;
  const cubature_result net = integrate_replicated(host, f, shifted_net(3, 4), o);
  const cubature_result lattice = integrate_replicated(host, f, shifted_lattice(3, 4), o);
  CHECK(net.converged);
  CHECK(lattice.converged);
  CHECK(std::abs(net.estimate - 1) <= 1e-4);
  CHECK(std::abs(lattice.estimate - 1) <= 1e-4);
  CHECK(net.n % 16 == 0);
  const halton_sequence halton({3, halton_randomization::lms_permutation, 4, 16});
  const cubature_result h = integrate_replicated(host, f, halton, o);
  CHECK(h.converged);
  CHECK(std::abs(h.estimate - 1) <= 1e-4);
  o.replications = 32;
  CHECK_THROWS_WITH(integrate_replicated(host, f, halton, o), Contains("replications = 32"));
}

TEST_CASE("the replicated interval covers the integral at about its confidence level") {
  // 99% nominal (alpha = 0.01): over 40 independent seeds, at most a few misses may occur.
  const keister<double> f(2);
  replicated_cubature_options o;
  o.tolerance.abs_tol = 1e-3;
  int covered = 0;
  for (std::uint64_t seed = 0; seed < 40; ++seed) {
    const cubature_result r = integrate_replicated(host, f, shifted_net(2, 100 + seed), o);
    covered += r.lower <= f.exact_value() && f.exact_value() <= r.upper;
  }
  CHECK(covered >= 37);
}

TEST_CASE("periodizing transforms preserve integrals and make lattices converge faster") {
  // f(x) = x_1^2 x_2 over [0,1)^2 = 1/6 is not periodic: on 2^16 lattice points its error is of
  // order 1/n; each periodization keeps the integral and cuts the error by orders of magnitude.
  const auto f = make_pointwise_integrand<double>(2, [](std::span<const double> x) { return x[0] * x[0] * x[1]; });
  auto error = [&](periodization p) {
    point_array<double> x = generate<double>(host, shifted_lattice(2, 1), {0, 1 << 16});
    const auto weights = periodize(p, x);
    const auto y = f(x);
    double sum = 0;
    for (std::size_t i = 0; i < y.size(); ++i) sum += y[i] * weights[i];
    return std::abs(sum / static_cast<double>(y.size()) - 1.0 / 6);
  };
  const double plain = error(periodization::none);
  CHECK(plain < 1e-3);
  for (periodization p : {periodization::baker, periodization::c0, periodization::c1, periodization::c1sin,
                          periodization::c2sin, periodization::c3sin}) {
    CHECK(error(p) < 1e-7);
    CHECK(error(p) < plain / 100);
  }
}

TEST_CASE("cubature bad input is rejected with a message naming the parameter") {
  const keister<double> f(2);
  guaranteed_cubature_options o;
  o.tolerance.abs_tol = 0;
  CHECK_THROWS_WITH(integrate_net_g(host, f, shifted_net(2, 1), o), Contains("abs_tol = 0"));
  o.tolerance.abs_tol = -1;
  CHECK_THROWS_WITH(integrate_lattice_g(host, f, shifted_lattice(2, 1), o), Contains("abs_tol = -1"));
  o = {};
  o.n_init = 1000;
  CHECK_THROWS_WITH(integrate_net_g(host, f, shifted_net(2, 1), o), Contains("n_init = 1000"));
  o = {};
  CHECK_THROWS_WITH(integrate_net_g(host, f, sobol(2, {net_order::gray, net_randomization::lms, 1}), o),
                    Contains("natural order"));
  CHECK_THROWS_WITH(integrate_net_g(host, f, sobol(2, {net_order::natural, net_randomization::none, 1}), o),
                    Contains("randomized"));
  CHECK_THROWS_WITH(integrate_lattice_g(host, f, kuo_lattice(2, {lattice_order::natural, lattice_randomization::shift, 1, 1024}), o),
                    Contains("radical-inverse"));
  CHECK_THROWS_WITH(integrate_net_g(host, f, shifted_net(3, 1), o), Contains("f.dimension() = 2"));
  replicated_cubature_options r;
  r.replications = 1;
  CHECK_THROWS_WITH(integrate_replicated(host, f, shifted_net(2, 1), r), Contains("replications = 1"));
  r = {};
  r.alpha = 1.5;
  CHECK_THROWS_WITH(integrate_replicated(host, f, shifted_net(2, 1), r), Contains("alpha = 1.5"));
}

TEST_CASE("a non-finite integrand value is reported with the index of its point") {
  const auto f = make_pointwise_integrand<double>(1, [](std::span<const double> x) {
    return x[0] < 0.5 ? 1.0 : std::numeric_limits<double>::quiet_NaN();
  });
  CHECK_THROWS_AS(integrate_net_g(host, f, shifted_net(1, 1)), tessera::domain_error);
  CHECK_THROWS_WITH(integrate_replicated(host, f, shifted_lattice(1, 1)),
                    Contains("the integrand returned nan at point") && Contains("of replication 0"));
}
