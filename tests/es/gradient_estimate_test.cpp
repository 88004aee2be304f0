// The ES gradient estimate: the chunked GEMM against the explicit sum, the Gaussian-smoothing
// oracle on a quadratic (specs/es.md), exact cancellation of even terms by antithetic pairs, and
// EGGROLL's O(1/r) convergence to full-rank ES (Sarkar et al. 2025).

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "support/test_support.hpp"
#include "tessera/core/optimizers.hpp"
#include "tessera/es/evolution_strategy.hpp"
#include "tessera/es/gradient_estimate.hpp"

namespace es = tessera::es;
using tessera::normal;

namespace {

/// E = A B^T / sqrt r from the documented draws (as in perturbed_parameters_test).
es::matrix<double> low_rank_noise(const tessera::random_stream& s, std::size_t m, std::size_t n, std::size_t r) {
  es::matrix<double> e = es::matrix<double>::Zero(m, n);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t k = 0; k < r; ++k) e(i, j) += normal<double>(s, i * r + k) * normal<double>(s, m * r + j * r + k);
  return e / std::sqrt(static_cast<double>(r));
}

template <class Noise>
using strategy = es::evolution_strategy<double, Noise, tessera::sgd<double>>;

/// Fitness of every member of the current generation under `f` (a function of the view).
template <class Noise, class F>
std::vector<double> population_fitness(const strategy<Noise>& s, const es::es_state<double>& state, F f) {
  std::vector<double> fitness(s.options().population);
  for (std::size_t i = 0; i < fitness.size(); ++i) fitness[i] = f(s.member(state, i));
  return fitness;
}

}  // namespace

TEST_CASE("the low-rank update is the GEMM of the stacked factors, chunk by chunk") {
  es::parameter_block block{0, 5, 4};
  const std::size_t r = 2;
  const std::vector<double> c{0.5, -1.25, 0, 2, 0.75, -0.5, 1};
  es::matrix<double> expected = es::matrix<double>::Zero(5, 4);
  for (std::size_t k = 0; k < c.size(); ++k)
    expected += c[k] * low_rank_noise(es::noise_stream(9, 3, 1, static_cast<std::uint32_t>(k)), 5, 4, r) *
                std::sqrt(double(r));
  for (std::size_t chunk_elements : {std::size_t{18}, std::size_t{40}, es::detail::default_chunk_elements}) {
    std::vector<double> g(20, 0.0);
    es::detail::accumulate_low_rank<double>(block, r, 3, 9, 1, c, g, chunk_elements);
    const Eigen::Map<const es::matrix<double>> got(g.data(), 5, 4);
    CHECK((got - expected).cwiseAbs().maxCoeff() < 1e-13);
  }
}

TEST_CASE("on f = -|theta - theta*|^2 the estimate is unbiased for -2 (theta - theta*)") {
  es::parameter_layout layout;
  layout.add_matrix(6, 6);
  layout.add_vector(6);
  std::vector<double> theta(layout.size()), target(layout.size());
  for (std::size_t j = 0; j < theta.size(); ++j) {
    theta[j] = std::sin(1.3 * double(j));
    target[j] = 0.5 * std::cos(0.9 * double(j));
  }
  const auto f = [&](const auto& view) {
    // -|theta + sigma eps - theta*|^2, read through the view: rows of W via identity inputs
    const es::matrix<double> w = view.linear(0, es::matrix<double>::Identity(6, 6));
    const auto v = view.vector(1);
    double sum = 0;
    for (std::size_t j = 0; j < 36; ++j) sum += std::pow(w.data()[j] - target[j], 2);
    for (std::size_t j = 0; j < 6; ++j) sum += std::pow(v(Eigen::Index(j)) - target[36 + j], 2);
    return -sum;
  };
  // 20 independent seeds of N = 2000: the spread of the 20 estimates gives each coordinate's SE.
  auto check_unbiased = [&](auto noise) {
    using Noise = decltype(noise);
    const std::size_t seeds = 20;
    std::vector<std::vector<double>> estimates;
    for (std::uint64_t seed = 0; seed < seeds; ++seed) {
      es::es_options<double> options{2000, 0.1, true, es::fitness_shaping::raw, es::nonfinite_fitness::reject, seed};
      const strategy<Noise> s(layout, noise, options, tessera::sgd<double>{0.1, 0});
      const auto state = s.initial_state(theta);
      estimates.push_back(s.gradient(state, population_fitness(s, state, f)));
    }
    double sum_z2 = 0, max_z = 0;
    for (std::size_t j = 0; j < theta.size(); ++j) {
      std::vector<double> column;
      for (const auto& e : estimates) column.push_back(e[j]);
      const auto [mean, se] = tessera::test::mean_and_standard_error(column);
      const double z = (mean - (-2 * (theta[j] - target[j]))) / se;
      sum_z2 += z * z;
      max_z = std::max(max_z, std::abs(z));
    }
    CHECK(max_z < 4.5);                                // no coordinate off by more than 4.5 SE
    CHECK(sum_z2 / double(theta.size()) < 2.0);        // and about 1 on average (chi-square / dof)
  };
  check_unbiased(es::low_rank{2});
  check_unbiased(es::full_rank{});
}

TEST_CASE("antithetic pairs cancel the even terms exactly on a quadratic") {
  // f(theta) = c - |theta - theta*|^2: F(+) - F(-) = -4 sigma d.eps, so with raw weights
  // g = -(2/K) sum_k (d.eps_k) eps_k, d = theta - theta*: no trace of c or of sigma^2 |eps|^2.
  es::parameter_layout layout;
  layout.add_vector(5);
  const std::vector<double> theta{0.3, -1, 2, 0.5, 0}, target{1, 1, 1, 1, 1};
  const double sigma = 0.05;
  es::es_options<double> options{64, sigma, true, es::fitness_shaping::raw, es::nonfinite_fitness::reject, 77};
  const strategy<es::full_rank> s(layout, {}, options, tessera::sgd<double>{});
  const auto state = s.initial_state(theta);
  const auto fitness = population_fitness(s, state, [&](const auto& view) {
    const auto v = view.vector(0);
    double sum = 0;
    for (Eigen::Index j = 0; j < 5; ++j) sum += std::pow(v(j) - target[std::size_t(j)], 2);
    return 123.0 - sum;
  });
  const auto g = s.gradient(state, fitness);
  std::vector<double> expected(5, 0.0);
  for (std::uint32_t k = 0; k < 32; ++k) {
    const auto stream = es::noise_stream(77, 0, 0, k);
    double d_dot_eps = 0;
    for (std::size_t j = 0; j < 5; ++j) d_dot_eps += (theta[j] - target[j]) * normal<double>(stream, j);
    for (std::size_t j = 0; j < 5; ++j) expected[j] += -(2.0 / 32) * d_dot_eps * normal<double>(stream, j);
  }
  for (std::size_t j = 0; j < 5; ++j) CHECK(g[j] == Approx(expected[j]).epsilon(1e-9));
}

TEST_CASE("EGGROLL's expected update approaches full-rank ES at rate 1/r") {
  // f(W) = (W_00)^3 / 3 at W = 0: the Gaussian-smoothed gradient is sigma^2 E[eps^4]/3 = sigma^2;
  // EGGROLL's is sigma^2 E[E_00^4]/3 = sigma^2 (1 + 2/r) (E_00 = a.b/sqrt r has 4th moment
  // 3 + 6/r), so the relative difference is 2/r.
  es::parameter_layout layout;
  layout.add_matrix(8, 8);
  const std::vector<double> zero(layout.size(), 0.0);
  const double sigma = 0.5;
  const auto f = [](const auto& view) {
    es::matrix<double> e0 = es::matrix<double>::Zero(1, 8);
    e0(0, 0) = 1;
    return std::pow(view.linear(0, e0)(0, 0), 3) / 3;
  };
  const es::es_options<double> options{100000, sigma, true, es::fitness_shaping::raw, es::nonfinite_fitness::reject, 5};
  const strategy<es::full_rank> full(layout, {}, options, tessera::sgd<double>{});
  const auto full_state = full.initial_state(zero);
  const double g_full = full.gradient(full_state, population_fitness(full, full_state, f))[0];
  CHECK(g_full == Approx(sigma * sigma).epsilon(0.03));  // SE about 0.7% of sigma^2
  std::vector<double> ranks, differences;
  for (std::size_t r : {1u, 2u, 4u, 8u}) {
    const strategy<es::low_rank> low(layout, {r}, options, tessera::sgd<double>{});
    const auto state = low.initial_state(zero);
    const double g = low.gradient(state, population_fitness(low, state, f))[0];
    const double relative = g / (sigma * sigma) - 1;
    CHECK(relative == Approx(2.0 / double(r)).epsilon(0.25));  // 3.4 SE at r = 8 (SE about 0.018)
    ranks.push_back(double(r));
    differences.push_back(relative);
  }
  CHECK(tessera::test::log_log_slope(ranks, differences) == Approx(-1).margin(0.2));
}
