// Sobol' and other base-2 digital sequences: published and reference points, orders, index
// ranges, and the properties each randomization must keep.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <set>
#include <tessera/core/random.hpp>
#include <tessera/qmc/digital_net.hpp>
#include <tessera/qmc/interlacing.hpp>
#include <vector>
#include "support/test_support.hpp"

using tessera::test::ks_critical;
using tessera::test::ks_uniform;
using tessera::test::log_log_slope;

using namespace tessera::qmc;
using tessera::exec::host;

namespace {

constexpr digital_net_options unrandomized(net_order order) { return {order, net_randomization::none, 0}; }

const net_randomization all_randomizations[] = {net_randomization::none, net_randomization::digital_shift,
                                                net_randomization::lms, net_randomization::lms_digital_shift,
                                                net_randomization::nus};

// Whether n = 2^m points, projected on coordinates (a, b), form a (0, m, 2)-net: every box
// [i/2^q, (i+1)/2^q) x [k/2^(m-q), (k+1)/2^(m-q)) holds exactly one point.
bool is_0m2_net(const point_array<double>& x, int a, int b, int m) {
  const std::size_t n = x.shape(0);
  for (int q = 0; q <= m; ++q) {
    std::vector<int> count(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
      const auto u = static_cast<std::size_t>(std::ldexp(x(i, a), q));
      const auto v = static_cast<std::size_t>(std::ldexp(x(i, b), m - q));
      if (++count[(u << (m - q)) + v] > 1) return false;
    }
  }
  return true;
}

// Variance over replications of the QMC mean of f(x) = 9 x_1^2 x_2^2 (integral 1).
double replicated_variance(const digital_net& net, std::uint64_t n, int replications) {
  std::vector<double> means;
  for (int r = 0; r < replications; ++r) {
    const auto x = generate<double>(host, net, {0, n}, static_cast<std::uint64_t>(r));
    double sum = 0;
    for (std::uint64_t i = 0; i < n; ++i) sum += 9 * x(i, 0) * x(i, 0) * x(i, 1) * x(i, 1);
    means.push_back(sum / static_cast<double>(n));
  }
  const double mean = std::accumulate(means.begin(), means.end(), 0.0) / replications;
  double var = 0;
  for (double v : means) var += (v - mean) * (v - mean);
  return var / (replications - 1);
}

}  // namespace

TEST_CASE("Gray-order Sobol' points equal the spec's (SciPy's) first eight for d = 3") {
  const double expected[8][3] = {{0, 0, 0},          {.5, .5, .5},         {.75, .25, .25},
                                 {.25, .75, .75},    {.375, .375, .625},   {.875, .875, .125},
                                 {.625, .125, .875}, {.125, .625, .375}};
  for (int precision : {32, 64}) {
    const auto x = generate<double>(host, sobol(3, unrandomized(net_order::gray), precision), {0, 8});
    for (int i = 0; i < 8; ++i)
      for (int j = 0; j < 3; ++j) CHECK(x(i, j) == expected[i][j]);
  }
}

TEST_CASE("Gray-order Sobol' equals SciPy deep in the sequence, up to dimension 21201") {
  // scipy 1.17.1: s = qmc.Sobol(21201, scramble=False); s.fast_forward(1000003);
  // s.random(6)[:, [0, 1, 2, 999, 21200]] * 2**32
  const std::uint64_t expected[6][5] = {
      {1187450880, 2413424640, 334991360, 170749952, 2221355008},
      {1724321792, 802811904, 1945604096, 1781362688, 1684484096},
      {3871805440, 2950295552, 4093087744, 3928846336, 3831967744},
      {2798063616, 1876553728, 871862272, 2855104512, 2758225920},
      {650579968, 4024037376, 3019345920, 707620864, 610742272},
      {919015424, 534376448, 603426816, 3123539968, 2489790464}};
  const int dims[5] = {0, 1, 2, 999, 21200};
  for (int precision : {32, 64}) {
    const auto x = generate<double>(host, sobol(21201, unrandomized(net_order::gray), precision), {1000003, 1000009});
    for (int i = 0; i < 6; ++i)
      for (int k = 0; k < 5; ++k) CHECK(std::ldexp(x(i, dims[k]), 32) == static_cast<double>(expected[i][k]));
  }
}

TEST_CASE("natural-order Sobol' equals QMCPy's DigitalNetB2") {
  // qmcpy 2.4: qmcpy.DigitalNetB2(1000, randomize=False, order='NATURAL')
  //   .gen_samples(n_min=2**14, n_max=2**15)[[0, 1, 4095, 12345]][:, [0, 1, 2, 999]] * 2**32
  const std::uint64_t expected[4][4] = {{131072, 2863267840, 1626210304, 3705012224},
                                        {2147614720, 715784192, 3773693952, 1557528576},
                                        {4294049792, 3149529088, 1616773120, 3188064256},
                                        {2618163200, 3673030656, 2216296448, 2489450496}};
  const std::uint64_t rows[4] = {0, 1, 4095, 12345};
  const int dims[4] = {0, 1, 2, 999};
  const digital_net net = sobol(1000, unrandomized(net_order::natural));
  for (int r = 0; r < 4; ++r) {
    const std::uint64_t i = (std::uint64_t{1} << 14) + rows[r];
    const auto x = generate<double>(host, net, {i, i + 1});
    for (int k = 0; k < 4; ++k) CHECK(std::ldexp(x(0, dims[k]), 32) == static_cast<double>(expected[r][k]));
  }
}

TEST_CASE("Gray point i is natural point i XOR (i >> 1)") {
  const auto gray = generate<double>(host, sobol(20, unrandomized(net_order::gray)), {0, 1024});
  const auto natural = generate<double>(host, sobol(20, unrandomized(net_order::natural)), {0, 1024});
  for (std::size_t i = 0; i < 1024; ++i)
    for (std::size_t j = 0; j < 20; ++j) REQUIRE(gray(i, j) == natural(i ^ (i >> 1), j));
}

TEST_CASE("any index range equals the same rows of a longer generation") {
  for (net_randomization randomization : all_randomizations) {
    for (net_order order : {net_order::natural, net_order::gray}) {
      for (int precision : {32, 64}) {
        const digital_net net = sobol(7, {order, randomization, 99}, precision);
        const auto all = generate<double>(host, net, {0, 20000}, 3);
        const auto slice = generate<double>(host, net, {12289, 19001}, 3);
        for (std::size_t i = 0; i < slice.shape(0); ++i)
          for (std::size_t j = 0; j < 7; ++j) REQUIRE(slice(i, j) == all(12289 + i, j));
      }
    }
  }
}

TEST_CASE("every randomization keeps the (0, m, 2)-net of Sobol's first two coordinates") {
  for (net_randomization randomization : all_randomizations) {
    for (int precision : {32, 64}) {
      const digital_net net = sobol(2, {net_order::natural, randomization, 5}, precision);
      for (std::uint64_t r = 0; r < 3; ++r) {
        const auto x = generate<double>(host, net, {0, 1 << 10}, r);
        CHECK(is_0m2_net(x, 0, 1, 10));
      }
    }
  }
}

TEST_CASE("randomized points are uniform across replications") {
  // Point 0 of an unrandomized net is the origin; every randomization must spread it (and any
  // other point) uniformly over [0, 1): Kolmogorov-Smirnov at level 0.001 over 4096 replications.
  const std::size_t replications = 4096;
  for (net_randomization randomization : all_randomizations) {
    if (randomization == net_randomization::none || randomization == net_randomization::lms) continue;
    for (int precision : {32, 64}) {
      const digital_net net = sobol(4, {net_order::natural, randomization, 2026}, precision);
      std::vector<double> first(replications), later(replications);
      for (std::size_t r = 0; r < replications; ++r) {
        const auto x = generate<double>(host, net, {0, 6}, r);
        first[r] = x(0, 3);
        later[r] = x(5, 1);
      }
      INFO("randomization " << to_string(randomization) << ", precision " << precision);
      CHECK(ks_uniform(first) < ks_critical(replications));
      CHECK(ks_uniform(later) < ks_critical(replications));
    }
  }
}

TEST_CASE("LMS alone keeps each point's digits up to its first 1 and randomizes the rest") {
  // Matousek's scramble is lower triangular with a unit diagonal: digit p becomes digit p plus a
  // random combination of the digits before it, so the leading zeros and the first 1 stay, and
  // every later digit is a fair coin. Point 5 of coordinate 3 is 0.101... (first 1 at digit 0).
  const std::size_t replications = 4096;
  std::vector<double> tail(replications);
  for (std::size_t r = 0; r < replications; ++r) {
    const auto x = generate<double>(host, sobol(3, {net_order::natural, net_randomization::lms, 7}), {0, 6}, r);
    REQUIRE(x(0, 2) == 0.0);  // the origin is fixed
    REQUIRE(x(5, 2) >= 0.5);  // the first digit is kept
    tail[r] = 2 * x(5, 2) - 1;
  }
  CHECK(ks_uniform(tail) < ks_critical(replications));
}

TEST_CASE("scrambled-net variance decays like n^-3 on a smooth integrand, far below IID") {
  // Owen (1997): for smooth f, nested uniform scrambling gives Var = O(n^-3 (log n)^(d-1));
  // Matousek's linear scrambling with a digital shift has the same variance. IID Monte Carlo
  // gives Var(f)/n; here f = 9 x_1^2 x_2^2 has Var(f) = (9/5)^2 - 1 = 2.24. 96 replications
  // estimate each variance to about 15%, the slope to about 0.1.
  for (net_randomization randomization : {net_randomization::nus, net_randomization::lms_digital_shift}) {
    const digital_net net = sobol(2, {net_order::natural, randomization, 11});
    std::vector<double> sizes, variances;
    for (int m = 6; m <= 14; m += 2) {
      sizes.push_back(std::ldexp(1.0, m));
      variances.push_back(replicated_variance(net, std::uint64_t{1} << m, 96));
    }
    const double slope = log_log_slope(sizes, variances);
    INFO(to_string(randomization) << ": log-log slope of the variance " << slope);
    CHECK(slope < -2.6);
    CHECK(slope > -3.5);
    CHECK(variances.back() < 2.24 / sizes.back() / 1000);  // 1000x below IID at n = 2^14
  }
}

TEST_CASE("replications are reproducible and distinct") {
  const digital_net net = sobol(5, {net_order::gray, net_randomization::lms_digital_shift, 3});
  const auto a = generate<float>(host, net, {0, 64}, 1);
  const auto b = generate<float>(host, net, {0, 64}, 1);
  const auto c = generate<float>(host, net, {0, 64}, 2);
  CHECK((a == b));
  CHECK((a != c));
  const auto stacked = generate_replications<float>(host, net, {0, 64}, 3);
  CHECK((xt::view(stacked, 1) == a));
  CHECK((xt::view(stacked, 2) == c));
}

TEST_CASE("float and double points agree on their common leading digits") {
  const digital_net net = sobol(6, {net_order::natural, net_randomization::nus, 8});
  const auto f = generate<float>(host, net, {100, 300});
  const auto d = generate<double>(host, net, {100, 300});
  for (std::size_t i = 0; i < f.shape(0); ++i)
    for (std::size_t j = 0; j < 6; ++j) {
      REQUIRE(f(i, j) >= 0.0f);
      REQUIRE(f(i, j) < 1.0f);
      REQUIRE(static_cast<double>(f(i, j)) == std::ldexp(std::floor(std::ldexp(d(i, j), 24)), -24));
    }
}

TEST_CASE("digits are the exact integers behind the points") {
  const digital_net net = sobol(4, {net_order::natural, net_randomization::lms_digital_shift, 1});
  const auto digits = generate_digits(host, net, {0, 256});
  const auto x = generate<double>(host, net, {0, 256});
  for (std::size_t i = 0; i < 256; ++i)
    for (std::size_t j = 0; j < 4; ++j) REQUIRE(std::ldexp(static_cast<double>(digits(i, j)), -32) == x(i, j));
}

TEST_CASE("interlaced (higher-order) matrices place digit k alpha + r from coordinate j alpha + r") {
  const generating_matrices base = sobol_matrices(6, 32, 16);
  const generating_matrices order2 = interlace(base, 2);
  REQUIRE(order2.dimension() == 3);
  REQUIRE(order2.precision() == 64);
  for (int j = 0; j < 3; ++j)
    for (int c = 0; c < 16; ++c)
      for (int k = 0; k < 32; ++k)
        for (int r = 0; r < 2; ++r) {
          const auto from = (base.column(2 * j + r, c) >> (31 - k)) & 1u;
          const auto to = (order2.column(j, c) >> (63 - (2 * k + r))) & 1u;
          REQUIRE(from == to);
        }
}

TEST_CASE("an order-2 interlaced net converges like n^-2 on a smooth integrand") {
  // Dick (2008): digitally shifted order-alpha nets integrate functions with alpha smooth
  // derivatives with RMSE O(n^-alpha) (log factors aside); order 1 gives O(n^-1).
  auto rmse_slope = [](const digital_net& net) {
    std::vector<double> sizes, errors;
    for (int m = 4; m <= 12; m += 2) {
      double squared = 0;
      const int replications = 32;
      for (int r = 0; r < replications; ++r) {
        const auto x = generate<double>(host, net, {0, std::uint64_t{1} << m}, static_cast<std::uint64_t>(r));
        double sum = 0;
        for (std::size_t i = 0; i < x.shape(0); ++i) sum += std::exp(x(i, 0));
        const double error = sum / static_cast<double>(x.shape(0)) - (std::exp(1.0) - 1);
        squared += error * error;
      }
      sizes.push_back(std::ldexp(1.0, m));
      errors.push_back(std::sqrt(squared / replications));
    }
    return log_log_slope(sizes, errors);
  };
  const digital_net order1(sobol_matrices(1, 32, 32), {net_order::natural, net_randomization::digital_shift, 4});
  const digital_net order2(interlace(sobol_matrices(2, 32, 32), 2), {net_order::natural, net_randomization::digital_shift, 4});
  const double slope1 = rmse_slope(order1), slope2 = rmse_slope(order2);
  INFO("RMSE slopes: order 1 " << slope1 << ", order 2 " << slope2);
  CHECK(slope1 > -1.3);
  CHECK(slope2 < -1.7);
}

TEST_CASE("bad input is rejected with a message naming the parameter") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(sobol(0), Contains("dimension = 0"));
  CHECK_THROWS_WITH(sobol(21202), Contains("dimension = 21202; expected 1 <= dimension <= 21201"));
  CHECK_THROWS_WITH(sobol(3, {}, 65), Contains("precision = 65"));
  CHECK_THROWS_WITH(sobol_matrices(3, 16, 20), Contains("columns = 20"));
  const digital_net net = sobol(3, {}, 32);
  CHECK_THROWS_WITH(generate<double>(host, net, {0, (std::uint64_t{1} << 32) + 1}), Contains("range.end"));
  CHECK_THROWS_WITH(generate<double>(host, net, {5, 4}), Contains("range.begin = 5"));
  CHECK_THROWS_WITH(generate<double>(host, net, {0, 4}, std::uint64_t{1} << 32), Contains("replication"));
  CHECK_THROWS_WITH(interlace(sobol_matrices(5), 2), Contains("base.dimension() = 5"));
  CHECK_THROWS_WITH(interlace(sobol_matrices(4, 32, 32), 3), Contains("base.dimension()"));
  CHECK_THROWS_WITH(interlace(sobol_matrices(6, 32, 32), 3), Contains("base.columns() = 32"));
  CHECK_THROWS_AS(generating_matrices(1, 2, 2, {1, 4}), tessera::invalid_argument);  // 4 >= 2^2
}
