// Member views and the batched perturbed forward: the noise layout of es/noise.hpp, rebuilt here
// element by element from tessera::normal, against the library's block fills and GEMMs.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "support/test_support.hpp"
#include "tessera/es/perturbed_forward.hpp"
#include "tessera/es/perturbed_parameters.hpp"

namespace es = tessera::es;
using tessera::normal;
using tessera::random_stream;

namespace {

constexpr std::uint64_t seed = 20251120;

/// W (m x n) then v (n), filled with a fixed pattern.
struct one_layer {
  es::parameter_layout layout;
  std::vector<double> theta;
  one_layer(std::size_t m, std::size_t n) {
    layout.add_matrix(m, n);
    layout.add_vector(n);
    theta.resize(layout.size());
    for (std::size_t j = 0; j < theta.size(); ++j) theta[j] = std::sin(0.7 * static_cast<double>(j));
  }
  es::matrix<double> w() const {
    const auto& b = layout.block(0);
    return Eigen::Map<const es::matrix<double>>(theta.data(), static_cast<Eigen::Index>(b.rows),
                                                static_cast<Eigen::Index>(b.cols));
  }
};

es::matrix<double> inputs(std::size_t b, std::size_t m) {
  es::matrix<double> x(b, m);
  for (std::size_t i = 0; i < b; ++i)
    for (std::size_t j = 0; j < m; ++j) x(i, j) = std::cos(0.3 * static_cast<double>(i * m + j));
  return x;
}

/// E = A B^T / sqrt(r) with A[i][k] = draw i r + k and B[j][k] = draw m r + j r + k (es/noise.hpp).
es::matrix<double> low_rank_noise(const random_stream& s, std::size_t m, std::size_t n, std::size_t r) {
  es::matrix<double> e = es::matrix<double>::Zero(m, n);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t k = 0; k < r; ++k) e(i, j) += normal<double>(s, i * r + k) * normal<double>(s, m * r + j * r + k);
  return e / std::sqrt(static_cast<double>(r));
}

}  // namespace

TEST_CASE("members map to noise indices and signs: antithetic pairs share one stream") {
  CHECK(es::member_noise::of(6, true).index == 3);
  CHECK_FALSE(es::member_noise::of(6, true).negated);
  CHECK(es::member_noise::of(7, true).index == 3);
  CHECK(es::member_noise::of(7, true).negated);
  CHECK(es::member_noise::of(7, false).index == 7);
  CHECK_FALSE(es::member_noise::of(7, false).negated);
}

TEST_CASE("a low-rank member computes X (W + sigma A B^T / sqrt r) from the documented draws") {
  const std::size_t m = 6, n = 5, r = 3, b = 4;
  const one_layer p(m, n);
  const double sigma = 0.25;
  const auto x = inputs(b, m);
  for (std::size_t member : {0u, 1u, 4u}) {
    const es::member_noise who = es::member_noise::of(member, true);
    const es::perturbed_parameters<double, es::low_rank> view(p.layout, p.theta, es::low_rank{r}, sigma, seed, 7, who);
    const random_stream s = es::noise_stream(seed, 0, 7, who.index);
    const double sign = who.negated ? -1 : 1;
    const es::matrix<double> expected = x * (p.w() + sign * sigma * low_rank_noise(s, m, n, r));
    CHECK((view.linear(0, x) - expected).cwiseAbs().maxCoeff() < 1e-13);
    // the vector block: v + sigma eps, eps = draws [0, n) of the block's own stream (layer 1)
    const random_stream sv = es::noise_stream(seed, 1, 7, who.index);
    const auto v = view.vector(1);
    for (std::size_t j = 0; j < n; ++j)
      CHECK(v(static_cast<Eigen::Index>(j)) == Approx(p.theta[m * n + j] + sign * sigma * normal<double>(sv, j)).epsilon(1e-15));
  }
}

TEST_CASE("a full-rank member computes X (W + sigma E) with E = draws [0, m n) row-major") {
  const std::size_t m = 4, n = 3;
  const one_layer p(m, n);
  const auto x = inputs(2, m);
  const es::perturbed_parameters<double, es::full_rank> view(p.layout, p.theta, {}, 0.5, seed, 2,
                                                              es::member_noise::of(5, false));
  const random_stream s = es::noise_stream(seed, 0, 2, 5);
  es::matrix<double> e(m, n);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) e(i, j) = normal<double>(s, i * n + j);
  CHECK((view.linear(0, x) - x * (p.w() + 0.5 * e)).cwiseAbs().maxCoeff() < 1e-14);
}

TEST_CASE("antithetic members are mirror images: Y(2k) + Y(2k+1) = 2 X W") {
  const one_layer p(8, 8);
  const auto x = inputs(3, 8);
  const es::perturbed_parameters<double, es::low_rank> plus(p.layout, p.theta, {2}, 0.1, seed, 0, es::member_noise::of(10, true));
  const es::perturbed_parameters<double, es::low_rank> minus(p.layout, p.theta, {2}, 0.1, seed, 0, es::member_noise::of(11, true));
  CHECK((plus.linear(0, x) + minus.linear(0, x) - 2 * x * p.w()).cwiseAbs().maxCoeff() < 1e-13);
}

TEST_CASE("low-rank perturbations have unit entry variance at every rank (the 1/sqrt r scaling)") {
  const std::size_t m = 16, n = 16, members = 400;
  for (std::size_t r : {1u, 4u, 16u}) {
    double sum = 0, sum_sq = 0, sum_fourth = 0;
    for (std::uint32_t k = 0; k < members; ++k) {
      const auto e = low_rank_noise(es::noise_stream(seed, 0, 0, k), m, n, r);
      sum += e.sum();
      sum_sq += e.squaredNorm();
      sum_fourth += e.array().pow(4).sum();
    }
    const double count = static_cast<double>(members * m * n);
    const double variance = sum_sq / count - (sum / count) * (sum / count);
    // Var of a squared entry is E[e^4] - 1 = 2 + 6/r; entries of one member are dependent, so the
    // standard error uses members as the unit: sd of a member's mean square <= sqrt((2 + 6/r)).
    const double se = std::sqrt((2 + 6.0 / static_cast<double>(r)) / members);
    CHECK(std::abs(variance - 1) < 4 * se);
    // the fourth moment is 3 + 6/r: heavier tails than a Gaussian's 3 at small rank. Its estimate
    // is noisy (E = a b^T at r = 1: relative SE about 0.06 over 400 members), hence 4 SE.
    CHECK(sum_fourth / count == Approx(3 + 6.0 / static_cast<double>(r)).epsilon(r == 1 ? 0.25 : 0.15));
  }
}

TEST_CASE("perturbed_forward returns each member's linear() bit for bit, from any first member") {
  const std::size_t m = 7, n = 5, b = 3, first = 3, count = 4;
  const one_layer p(m, n);
  const auto x = inputs(b, m);
  const es::population_noise population{seed, 4, true};
  std::vector<double> low(count * b * n), full(count * b * n);
  es::perturbed_forward<double>(tessera::exec::host, x, p.w(), 0, es::low_rank{2}, 0.3, population, first, count, low);
  es::perturbed_forward<double>(tessera::exec::host, x, p.w(), 0, es::full_rank{}, 0.3, population, first, count, full);
  for (std::size_t q = 0; q < count; ++q) {
    const auto who = es::member_noise::of(first + q, true);
    const es::perturbed_parameters<double, es::low_rank> lv(p.layout, p.theta, {2}, 0.3, seed, 4, who);
    const es::perturbed_parameters<double, es::full_rank> fv(p.layout, p.theta, {}, 0.3, seed, 4, who);
    const es::matrix<double> yl = lv.linear(0, x), yf = fv.linear(0, x);
    for (std::size_t e = 0; e < b * n; ++e) {
      CHECK(low[q * b * n + e] == yl.data()[e]);
      CHECK(full[q * b * n + e] == yf.data()[e]);
    }
  }
}

TEST_CASE("bad shapes, ranks and scales are clear errors") {
  const one_layer p(4, 3);
  const auto x = inputs(2, 4);
  std::vector<double> out(2 * 2 * 3);
  const es::population_noise population{seed, 0, true};
  CHECK(tessera::test::message_of([&] {
          es::perturbed_forward<double>(tessera::exec::host, x, p.w(), 0, es::low_rank{4}, 0.1, population, 0, 2, out);
        }) == "tessera::es::low_rank: rank = 4; expected 1 <= rank <= min(m, n) = 3 (block 0)");
  CHECK_THROWS_AS(es::perturbed_forward<double>(tessera::exec::host, x, p.w(), 0, es::low_rank{1}, 0.0, population, 0, 2, out),
                  tessera::invalid_argument);
  CHECK_THROWS_AS(es::perturbed_forward<double>(tessera::exec::host, inputs(2, 3), p.w(), 0, es::low_rank{1}, 0.1, population, 0, 2, out),
                  tessera::invalid_argument);
  const es::unperturbed_parameters<double> plain(p.layout, p.theta);
  CHECK(tessera::test::message_of([&] { (void)plain.linear(1, x); }) ==
        "tessera::es::unperturbed_parameters::linear: block = 1; expected a matrix block");
  CHECK_THROWS_AS(plain.linear(0, inputs(2, 5)), tessera::invalid_argument);
}
