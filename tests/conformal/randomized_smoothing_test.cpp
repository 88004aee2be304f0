#include <catch2/catch.hpp>

#include <boost/math/distributions/normal.hpp>
#include <boost/math/special_functions/owens_t.hpp>
#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <tessera/conformal/randomized_smoothing.hpp>
#include <tessera/core/random.hpp>
#include <vector>
#include <xtensor/xtensor.hpp>

#include "support/test_support.hpp"

namespace cf = tessera::conformal;
using tessera::test::message_of;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

double normal_cdf(double z) { return boost::math::cdf(boost::math::normal_distribution<double>(), z); }

// The probit scores of a linear model: S(x, 0) = Phi(w.x + b), S(x, 1) = 1 - S(x, 0).
template <class T>
struct probit_scores {
  std::vector<double> w;
  double b;

  void operator()(std::span<const T> x, std::span<T> scores) const {
    double z = b;
    for (std::size_t c = 0; c < x.size(); ++c) z += w[c] * static_cast<double>(x[c]);
    scores[0] = static_cast<T>(normal_cdf(z));
    scores[1] = 1 - scores[0];
  }
};

// For Z = w.(x + delta) + b ~ N(mu, s^2) with mu = w.x + b and s = sigma |w|:
// E Phi(Z) = Phi(h) and E Phi(Z)^2 = P(U1 <= Z, U2 <= Z) = Phi2(h, h; rho) with U1, U2 ~ N(0, 1)
// independent of Z, h = mu / sqrt(1 + s^2), rho = s^2 / (1 + s^2), and
// Phi2(h, h; rho) = Phi(h) - 2 T(h, sqrt((1 - rho) / (1 + rho))) with Owen's T function.
struct probit_moments {
  double mean;
  double variance;
};

probit_moments smoothed_probit(double mu, double s) {
  const double h = mu / std::sqrt(1 + s * s);
  const double rho = s * s / (1 + s * s);
  const double second = normal_cdf(h) - 2 * boost::math::owens_t(h, std::sqrt((1 - rho) / (1 + rho)));
  return {normal_cdf(h), second - normal_cdf(h) * normal_cdf(h)};
}

}  // namespace

TEMPLATE_TEST_CASE("perturbation s of a point is x + sigma z with z_c = normal(noise, s d + c)", "", float, double) {
  // d = 3 is not a multiple of the draws per block (2 doubles, 4 floats): perturbations straddle blocks.
  const std::vector<TestType> x{TestType(0.5), TestType(-1.0), TestType(2.0)};
  std::vector<std::vector<TestType>> seen;
  auto recorder = [&](std::span<const TestType> point, std::span<TestType> scores) {
    seen.emplace_back(point.begin(), point.end());
    scores[0] = TestType(0.5);
  };
  const cf::smoothing_parameters smoothing{0.3, 5};
  const auto noise = cf::noise_stream(42, 7, cf::noise_role::test);
  std::vector<TestType> mean(1);
  cf::smooth_scores<TestType>(x, noise, smoothing, recorder, std::span<TestType>(mean));
  REQUIRE(seen.size() == 5);
  for (std::uint64_t s = 0; s < 5; ++s)
    for (std::uint64_t c = 0; c < 3; ++c)
      CHECK(seen[s][c] == x[c] + TestType(0.3) * tessera::normal<TestType>(noise, s * 3 + c));
  CHECK(mean[0] == TestType(0.5));
  // The calibration role is the brief's random_stream(seed, point_id).
  CHECK(cf::noise_stream(42, 7, cf::noise_role::calibration).key() == tessera::random_stream(42, 7).key());
  CHECK(cf::noise_stream(42, 7, cf::noise_role::calibration).block(3) == tessera::random_stream(42, 7).block(3));
  CHECK(cf::noise_stream(42, 7, cf::noise_role::test).block(3) != tessera::random_stream(42, 7).block(3));
}

TEMPLATE_TEST_CASE("smoothing a probit score gives Phi((w.x + b) / sqrt(1 + sigma^2 |w|^2))", "", float, double) {
  // Oracle: the closed forms of smoothed_probit. The Monte Carlo mean of N values in [0, 1] has
  // standard error sqrt(V / N); the sample variance has standard error <= sqrt(V / N) too, since
  // (X - mu)^2 <= 1 gives Var((X - mu)^2) <= E (X - mu)^4 <= V. Five standard errors: a false
  // alarm has probability below 1e-6 (and the seed is fixed).
  const probit_scores<TestType> score{{0.8, -0.5, 1.2}, 0.3};
  const std::vector<TestType> x{TestType(0.2), TestType(0.4), TestType(-0.1)};
  const double sigma = 0.7;
  const std::uint32_t n = 20000;
  const double mu = 0.8 * 0.2 - 0.5 * 0.4 - 1.2 * 0.1 + 0.3;
  const double s = sigma * std::sqrt(0.8 * 0.8 + 0.5 * 0.5 + 1.2 * 1.2);
  const probit_moments oracle = smoothed_probit(mu, s);
  const double standard_error = std::sqrt(oracle.variance / n);
  // float inputs: x and the noise are rounded to 24 bits, a relative error ~1e-7, far below that.

  std::vector<TestType> mean(2), variance(2);
  cf::smooth_scores<TestType>(x, cf::noise_stream(2024, 0, cf::noise_role::calibration), {sigma, n}, score,
                              std::span<TestType>(mean), std::span<TestType>(variance));
  CHECK(std::abs(mean[0] - oracle.mean) <= 5 * standard_error);
  CHECK(std::abs(mean[1] - (1 - oracle.mean)) <= 5 * standard_error);
  CHECK(std::abs(variance[0] - oracle.variance) <= 5 * standard_error);
  CHECK(variance[1] == Approx(variance[0]).epsilon(1e-5));  // the same values mirrored
  // The smoothed score is a contraction of the base score: Phi(mu) = 0.544 moves towards 1/2.
  CHECK(std::abs(oracle.mean - 0.5) < std::abs(normal_cdf(mu) - 0.5));
}

TEST_CASE("the Monte Carlo bounds are Hoeffding's and Maurer & Pontil's closed forms") {
  // Reference values computed independently (numpy 2.4 float64) from
  // b_Hoef = sqrt(ln(1/beta) / (2N)) and b_EB = sqrt(2 V ln(2/beta) / N) + 7 ln(2/beta) / (3(N - 1)).
  CHECK(cf::hoeffding_bound(256, 0.001) == Approx(0.11615381840155745).epsilon(1e-14));
  CHECK(cf::hoeffding_bound(1000, 0.01) == Approx(0.04798525912188081).epsilon(1e-14));
  CHECK(cf::hoeffding_bound(1, 0.05) == Approx(1.2238734153404083).epsilon(1e-14));
  CHECK(cf::empirical_bernstein_bound(256, 0.001, 0.01) == Approx(0.09391917400386726).epsilon(1e-14));
  CHECK(cf::empirical_bernstein_bound(1000, 0.01, 0.2) == Approx(0.05841126389761031).epsilon(1e-14));
  CHECK(cf::empirical_bernstein_bound(2, 0.1, 0.0) == Approx(6.9900419716259785).epsilon(1e-14));
  CHECK(cf::empirical_bernstein_bound(100000, 0.001, 0.0025) == Approx(0.0007938341630621099).epsilon(1e-14));
  // Empirical Bernstein wins when the scores barely vary (what PTT produces), loses when they do.
  CHECK(cf::empirical_bernstein_bound(1000, 0.001, 0.001) < cf::hoeffding_bound(1000, 0.001) / 2);
  CHECK(cf::empirical_bernstein_bound(256, 0.001, 0.25) > cf::hoeffding_bound(256, 0.001));
}

TEST_CASE("each bound fails with probability at most beta") {
  // Means of N = 64 Bernoulli(p) values, 20000 trials; the frequency of mean - p >= b must not
  // exceed beta = 0.05 by more than 4 binomial standard errors, sqrt(0.05 * 0.95 / 20000) = 0.0015.
  const std::uint32_t n = 64;
  const double beta = 0.05;
  const int trials = 20000;
  for (double p : {0.5, 0.03}) {
    int hoeffding_failures = 0, bernstein_failures = 0;
    const tessera::random_stream stream(99, static_cast<std::uint32_t>(p * 100));
    for (int t = 0; t < trials; ++t) {
      double sum = 0, sum_of_squares = 0;
      for (std::uint32_t i = 0; i < n; ++i) {
        const double value = tessera::uniform<double>(stream, std::uint64_t(t) * n + i) < p ? 1.0 : 0.0;
        sum += value;
        sum_of_squares += value * value;
      }
      const double mean = sum / n;
      const double variance = (sum_of_squares - n * mean * mean) / (n - 1);
      hoeffding_failures += mean - p >= cf::hoeffding_bound(n, beta);
      bernstein_failures += mean - p >= cf::empirical_bernstein_bound(n, beta, std::max(variance, 0.0));
    }
    CHECK(hoeffding_failures <= (beta + 4 * 0.0015) * trials);
    CHECK(bernstein_failures <= (beta + 4 * 0.0015) * trials);
  }
}

TEST_CASE("Phi^{-1} is Boost's normal quantile, with the limits at 0 and 1") {
  CHECK(cf::standard_normal_quantile(0.975) == Approx(1.959963984540054).epsilon(1e-14));
  CHECK(cf::standard_normal_quantile(0.1) == Approx(-1.2815515655446004).epsilon(1e-14));
  CHECK(cf::standard_normal_quantile(0.5) == 0);
  CHECK(cf::standard_normal_quantile(0.0) == -inf);
  CHECK(cf::standard_normal_quantile(-0.2) == -inf);
  CHECK(cf::standard_normal_quantile(1.0) == inf);
  CHECK(cf::standard_normal_quantile(1.3) == inf);
}

TEST_CASE("a table smooths row i with the stream of point first_point_id + i") {
  const probit_scores<double> score{{1.0, -2.0}, 0.1};
  xt::xtensor<double, 2> points = {{0.1, 0.2}, {-0.3, 0.5}, {1.0, 1.0}};
  const cf::smoothing_parameters smoothing{0.5, 64};
  const auto table = cf::smooth_score_table<double>(points, score, 2, smoothing, 5, cf::noise_role::test, 10, true);
  REQUIRE(table.mean.shape()[0] == 3);
  REQUIRE(table.variance.shape()[1] == 2);
  for (std::size_t i = 0; i < 3; ++i) {
    std::vector<double> mean(2), variance(2);
    const std::vector<double> x{points(i, 0), points(i, 1)};
    cf::smooth_scores<double>(x, cf::noise_stream(5, static_cast<std::uint32_t>(10 + i), cf::noise_role::test),
                              smoothing, score, std::span<double>(mean), std::span<double>(variance));
    CHECK(table.mean(i, 0) == mean[0]);
    CHECK(table.mean(i, 1) == mean[1]);
    CHECK(table.variance(i, 0) == variance[0]);
  }
  const auto without = cf::smooth_score_table<double>(points, score, 2, smoothing, 5, cf::noise_role::test, 10);
  CHECK(without.variance.size() == 0);
  CHECK(without.mean == table.mean);
}

TEST_CASE("smoothing rejects bad parameters and scores outside [0, 1]") {
  const std::vector<double> x{0.0, 1.0};
  std::vector<double> mean(2), variance(2), short_variance(1);
  const auto noise = cf::noise_stream(1, 0, cf::noise_role::test);
  const probit_scores<double> score{{1.0, 1.0}, 0.0};
  auto smooth = [&](cf::smoothing_parameters smoothing, auto f, std::span<double> var) {
    cf::smooth_scores<double>(x, noise, smoothing, f, std::span<double>(mean), var);
  };
  CHECK(message_of([&] { smooth({0.0, 8}, score, {}); }) ==
        "tessera::conformal::smooth_scores: sigma = 0; expected a finite number > 0");
  CHECK(message_of([&] { smooth({0.5, 0}, score, {}); }) ==
        "tessera::conformal::smooth_scores: samples = 0; expected >= 1");
  CHECK(message_of([&] { smooth({0.5, 1}, score, variance); }) ==
        "tessera::conformal::smooth_scores: samples = 1; expected >= 2 (a sample variance needs two values)");
  CHECK(message_of([&] { smooth({0.5, 8}, score, short_variance); }) ==
        "tessera::conformal::smooth_scores: variance.size() = 1; expected mean.size() = 2");
  auto too_large = [](std::span<const double>, std::span<double> s) { s[0] = 0.5; s[1] = 1.5; };
  try {
    smooth({0.5, 8}, too_large, {});
    FAIL("no exception");
  } catch (const tessera::domain_error& e) {
    CHECK(std::string(e.what()) == "tessera::conformal::smooth_scores: the score function returned 1.5 for label 1 "
                                   "at perturbation 0; expected 0 <= score <= 1");
  }
  auto not_a_number = [](std::span<const double>, std::span<double> s) { s[0] = std::nan(""); s[1] = 0; };
  CHECK_THROWS_AS(smooth({0.5, 8}, not_a_number, {}), tessera::domain_error);
  const std::vector<double> bad_x{0.0, std::nan("")};
  CHECK(message_of([&] { cf::smooth_scores<double>(bad_x, noise, {0.5, 8}, score, std::span<double>(mean)); }) ==
        "tessera::conformal::smooth_scores: x[1] = nan; expected a finite number");
  xt::xtensor<double, 2> points = {{0.0, 0.0}, {1.0, 1.0}};
  CHECK(message_of([&] {
          cf::smooth_score_table<double>(points, score, 2, {0.5, 8}, 1, cf::noise_role::test, 0xFFFFFFFFu);
        }) == "tessera::conformal::smooth_score_table: first_point_id + n - 1 = 4294967296; "
              "expected <= 2^32 - 1 (a stream id is 32 bits)");
  CHECK(message_of([&] { cf::hoeffding_bound(10, 1.0); }) ==
        "tessera::conformal::hoeffding_bound: beta = 1; expected 0 < value < 1");
  CHECK(message_of([&] { cf::empirical_bernstein_bound(1, 0.1, 0.0); }) ==
        "tessera::conformal::empirical_bernstein_bound: samples = 1; expected >= 2");
}
