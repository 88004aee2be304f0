#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <tessera/conformal/quantile.hpp>
#include <tessera/conformal/metrics.hpp>
#include <tessera/conformal/robust_conformal.hpp>
#include <tessera/core/random.hpp>
#include <vector>
#include <xtensor/xtensor.hpp>

#include "support/gaussian_mixture.hpp"
#include "support/test_support.hpp"

namespace cf = tessera::conformal;
using tessera::test::message_of;
using namespace tessera::test;  // the mixture, its classifier and the attack

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();


// A table of given means (and variances), as smooth_score_table returns.
template <class T>
cf::smoothed_score_table<T> table_of(xt::xtensor<T, 2> mean, xt::xtensor<T, 2> variance = {}) {
  return {std::move(mean), std::move(variance)};
}


}  // namespace

TEMPLATE_TEST_CASE("RSCP: tau = Phi^{-1}(Q_alpha) + eps / sigma on the calibration means", "", float, double) {
  // n = 9 means 0.1 .. 0.9, alpha = 0.2: rank ceil(10 * 0.8) = 8, Q = 0.8;
  // tau = Phi^{-1}(0.8) + 0.25 / 0.5 = 0.8416212335729143 + 0.5 (scipy 1.17).
  xt::xtensor<TestType, 2> calibration = xt::xtensor<TestType, 2>::from_shape({9, 2});
  for (std::size_t i = 0; i < 9; ++i) {
    calibration(i, 0) = static_cast<TestType>(0.1 * static_cast<double>(i + 1));
    calibration(i, 1) = TestType(0.5);
  }
  const std::vector<std::int32_t> labels(9, 0);
  cf::robust_conformal_classifier<TestType> rscp({0.5, 100}, {0.2, 0.25, 0.001, cf::monte_carlo_correction::none}, 1);
  CHECK_FALSE(rscp.calibrated());
  rscp.calibrate(table_of<TestType>(calibration), labels);
  CHECK(rscp.calibration_quantile() == Approx(0.8).epsilon(1e-7));
  CHECK(rscp.threshold() == Approx(1.3416212335729143).epsilon(1e-6));
  // Phi^{-1}: 0.9 -> 1.28 (in), 0.95 -> 1.64 (out), 0 -> -inf (in), 1 -> +inf (out).
  const auto sets = rscp.predict(table_of<TestType>({{TestType(0.9), TestType(0.95)}, {TestType(0), TestType(1)}}));
  CHECK((sets == xt::xtensor<bool, 2>{{true, false}, {true, false}}));
}

TEMPLATE_TEST_CASE("RSCP+: the calibration and test sides move by the Monte Carlo bounds", "", float, double) {
  // alpha = 0.2, beta = 0.01: level alpha - 2 beta = 0.18, rank ceil(10 * 0.82) = 9, Q = 0.9;
  // b_Hoef = sqrt(ln(100) / 20000) = 0.015174271293851465 for N = 10000;
  // tau = Phi^{-1}(0.9 + b_Hoef) + 0.5 = 1.8733246028561739 (scipy 1.17).
  xt::xtensor<TestType, 2> calibration = xt::xtensor<TestType, 2>::from_shape({9, 1});
  for (std::size_t i = 0; i < 9; ++i) calibration(i, 0) = static_cast<TestType>(0.1 * static_cast<double>(i + 1));
  const std::vector<std::int32_t> labels(9, 0);
  const cf::smoothing_parameters smoothing{0.5, 10000};
  cf::robust_parameters robust{0.2, 0.25, 0.01, cf::monte_carlo_correction::hoeffding};
  cf::robust_conformal_classifier<TestType> hoeffding(smoothing, robust, 1);
  robust.correction = cf::monte_carlo_correction::empirical_bernstein;
  cf::robust_conformal_classifier<TestType> bernstein(smoothing, robust, 1);
  hoeffding.calibrate(table_of<TestType>(calibration), labels);
  bernstein.calibrate(table_of<TestType>(calibration), labels);
  CHECK(hoeffding.calibration_quantile() == Approx(0.9).epsilon(1e-7));
  CHECK(hoeffding.threshold() == Approx(1.8733246028561739).epsilon(1e-6));
  CHECK(bernstein.threshold() == hoeffding.threshold());  // both use Hoeffding on the calibration side

  // Test means lowered by b_Hoef = 0.0152, or by b_EB = 0.00124 (V = 0) / 0.00449 (V = 0.01):
  //   0.95: Phi^{-1} 1.51 (H), 1.63 (EB): in, in      0.98: 1.81 (H) in, 2.03 (EB) out
  //   0.99: 1.96 (H) out, 2.28 (EB) out               0.01: -inf / -2.38: in, in
  //   1.00: 2.17 (H) out, 3.03 (EB) out               0.97 with V = 0.01: 1.69 (H), 1.82 (EB): in, in
  const xt::xtensor<TestType, 2> mean{{TestType(0.95), TestType(0.98)}, {TestType(0.99), TestType(0.01)},
                                      {TestType(1), TestType(0.97)}};
  const xt::xtensor<TestType, 2> variance{{0, 0}, {0, 0}, {0, TestType(0.01)}};
  // The calibration table had one label; the test table must have as many.
  CHECK_THROWS_AS(hoeffding.predict(table_of<TestType>(mean)), tessera::invalid_argument);
  xt::xtensor<TestType, 2> calibration2 = xt::xtensor<TestType, 2>::from_shape({9, 2});
  for (std::size_t i = 0; i < 9; ++i) {
    calibration2(i, 0) = calibration(i, 0);
    calibration2(i, 1) = TestType(0.5);
  }
  hoeffding.calibrate(table_of<TestType>(calibration2), labels);
  bernstein.calibrate(table_of<TestType>(calibration2), labels);
  CHECK((hoeffding.predict(table_of<TestType>(mean)) ==
         xt::xtensor<bool, 2>{{true, true}, {false, true}, {false, true}}));
  CHECK((bernstein.predict(table_of<TestType>(mean, variance)) ==
         xt::xtensor<bool, 2>{{true, false}, {false, true}, {false, true}}));
  CHECK_THROWS_AS(bernstein.predict(table_of<TestType>(mean)), tessera::invalid_argument);  // no variances
}

TEST_CASE("a calibration set too small for alpha - 2 beta gives full sets") {
  // n = 9, alpha = 0.1, beta = 0.01: rank ceil(10 * 0.92) = 10 > 9, Q = +inf, tau = +inf.
  xt::xtensor<double, 2> calibration = {{0.1}, {0.2}, {0.3}, {0.4}, {0.5}, {0.6}, {0.7}, {0.8}, {0.9}};
  cf::robust_conformal_classifier<double> rscp_plus({0.5, 256}, {0.1, 0.1, 0.01}, 3);
  rscp_plus.calibrate(table_of<double>(calibration), std::vector<std::int32_t>(9, 0));
  CHECK(rscp_plus.calibration_quantile() == inf);
  CHECK(rscp_plus.threshold() == inf);
  CHECK((rscp_plus.predict(table_of<double>({{1.0}, {0.999}})) == xt::xtensor<bool, 2>{{true}, {true}}));
}

TEST_CASE("under the worst-case l2 attack RSCP+ keeps coverage >= 1 - alpha; split conformal does not") {
  // The spec's oracle. Two Gaussian classes at x_0 = -2, +2 (unit variance), a probit classifier
  // of slope 2, attack radius eps = 0.25, smoothing sigma = 2 eps (the paper's ratio), N = 128,
  // alpha = 0.1, beta = 0.001; 200 seeds, each with its own 100 calibration and 50 test points.
  // RSCP+ guarantees P(y in C+(x~)) >= 1 - alpha over calibration, test point and noise. Each
  // seed gives one coverage (a mean over 50 test points); the 200 seeds are independent, so the
  // mean coverage has standard error sd / sqrt(200): about 0.0015 for RSCP+ and 0.004 for split
  // conformal (binomial spread of 50 test points plus that of the calibration quantile; the test
  // requires it below 0.01). Tolerance: 3 standard errors, a false alarm below 0.2 % (and the
  // seeds are fixed). Plain split conformal on the base score has no robustness: under the attack
  // its coverage falls to about 0.85, more than 3 standard errors below 0.9.
  const double alpha = 0.1, epsilon = 0.25, separation = 2;
  const cf::smoothing_parameters smoothing{2 * epsilon, 128};
  const probit_classifier score{2.0};
  std::vector<double> coverage_hoeffding, coverage_bernstein, coverage_split, size_hoeffding, size_bernstein;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    const auto calibration = sample_mixture(100, separation, seed, 0);
    const auto test = sample_mixture(50, separation, seed, 1);
    const auto attacked = attack(test, epsilon);
    const auto calibration_table =
        cf::smooth_score_table<double>(calibration.x, score, 2, smoothing, seed, cf::noise_role::calibration, 0, true);
    const auto test_table =
        cf::smooth_score_table<double>(attacked, score, 2, smoothing, seed, cf::noise_role::test, 0, true);
    for (auto correction : {cf::monte_carlo_correction::hoeffding, cf::monte_carlo_correction::empirical_bernstein}) {
      cf::robust_conformal_classifier<double> rscp_plus(smoothing, {alpha, epsilon, 0.001, correction}, seed);
      rscp_plus.calibrate(calibration_table, calibration.y);
      const auto sets = rscp_plus.predict(test_table);
      const bool is_hoeffding = correction == cf::monte_carlo_correction::hoeffding;
      (is_hoeffding ? coverage_hoeffding : coverage_bernstein).push_back(cf::set_coverage(sets, test.y));
      (is_hoeffding ? size_hoeffding : size_bernstein).push_back(cf::set_sizes(sets).mean);
    }
    std::vector<double> true_label_scores(100);
    std::vector<double> scores(2);
    for (std::size_t i = 0; i < 100; ++i) {
      score(std::span<const double>(&calibration.x(i, 0), 2), std::span<double>(scores));
      true_label_scores[i] = scores[static_cast<std::size_t>(calibration.y[i])];
    }
    const double q = cf::conformal_quantile<double>(true_label_scores, alpha);
    double covered = 0;
    for (std::size_t j = 0; j < 50; ++j) {
      score(std::span<const double>(&attacked(j, 0), 2), std::span<double>(scores));
      covered += scores[static_cast<std::size_t>(test.y[j])] <= q;
    }
    coverage_split.push_back(covered / 50);
  }
  for (const auto& covered : {coverage_hoeffding, coverage_bernstein}) {
    const auto c = mean_and_standard_error(covered);
    CHECK(c.standard_error < 0.01);
    CHECK(c.mean >= 1 - alpha - 3 * c.standard_error);
  }
  const auto split = mean_and_standard_error(coverage_split);
  CHECK(split.mean < 1 - alpha - 3 * split.standard_error);
  // Not vacuous: the sets are small (full sets would have size 2 and cover trivially).
  CHECK(mean_and_standard_error(size_hoeffding).mean < 1.2);
  CHECK(mean_and_standard_error(size_bernstein).mean < 1.2);
}

TEST_CASE("RSCP sets lie inside RSCP+ sets, and sets grow with eps") {
  const cf::smoothing_parameters smoothing{0.5, 128};
  const probit_classifier score{2.0};
  const auto calibration = sample_mixture(200, 2.0, 77, 0);
  const auto test = sample_mixture(300, 2.0, 77, 1);
  auto sets_of = [&](cf::robust_parameters robust) {
    cf::robust_conformal_classifier<double> classifier(smoothing, robust, 77);
    classifier.calibrate(calibration.x, calibration.y, 2, score);
    return classifier.predict(test.x, score);
  };
  using correction = cf::monte_carlo_correction;
  const auto rscp = sets_of({0.1, 0.25, 0.001, correction::none});
  const auto rscp_plus = sets_of({0.1, 0.25, 0.001, correction::hoeffding});
  const auto clean = sets_of({0.1, 0.0, 0.001, correction::hoeffding});
  int strictly_larger = 0;
  for (std::size_t i = 0; i < rscp.size(); ++i) {
    CHECK((!rscp.data()[i] || rscp_plus.data()[i]));  // Q_{alpha-2beta} + b >= Q_alpha; lowering only admits
    CHECK((!clean.data()[i] || rscp_plus.data()[i]));
    strictly_larger += rscp_plus.data()[i] && !clean.data()[i];
  }
  CHECK(strictly_larger > 0);
}

TEST_CASE("calibrating and predicting on points equals doing it on their smoothed tables") {
  const cf::smoothing_parameters smoothing{0.5, 64};
  const probit_classifier score{3.0};
  const auto calibration = sample_mixture(50, 1.0, 5, 0);
  const auto test = sample_mixture(20, 1.0, 5, 1);
  const cf::robust_parameters robust{0.2, 0.1, 0.005, cf::monte_carlo_correction::empirical_bernstein};
  cf::robust_conformal_classifier<double> from_points(smoothing, robust, 11), from_tables(smoothing, robust, 11);
  from_points.calibrate(calibration.x, calibration.y, 2, score);
  from_tables.calibrate(
      cf::smooth_score_table<double>(calibration.x, score, 2, smoothing, 11, cf::noise_role::calibration), calibration.y);
  CHECK(from_points.threshold() == from_tables.threshold());
  CHECK((from_points.predict(test.x, score, 1000) ==
         from_tables.predict(cf::smooth_score_table<double>(test.x, score, 2, smoothing, 11, cf::noise_role::test, 1000, true))));
}

TEST_CASE("robust conformal rejects bad parameters and inputs") {
  using correction = cf::monte_carlo_correction;
  auto make = [](cf::smoothing_parameters s, cf::robust_parameters r) { cf::robust_conformal_classifier<double>(s, r, 0); };
  const std::string where = "tessera::conformal::robust_conformal_classifier: ";
  CHECK(message_of([&] { make({-1.0, 10}, {}); }) == where + "sigma = -1; expected a finite number > 0");
  CHECK(message_of([&] { make({0.5, 0}, {}); }) == where + "samples = 0; expected >= 1");
  CHECK(message_of([&] { make({0.5, 1}, {0.1, 0.1, 0.001, correction::empirical_bernstein}); }) ==
        where + "samples = 1; expected >= 2 (a sample variance needs two values)");
  CHECK(message_of([&] { make({0.5, 10}, {1.5, 0.1, 0.001}); }) == where + "alpha = 1.5; expected 0 < value < 1");
  CHECK(message_of([&] { make({0.5, 10}, {0.1, -0.1, 0.001}); }) == where + "epsilon = -0.1; expected a finite number >= 0");
  CHECK(message_of([&] { make({0.5, 10}, {0.1, 0.1, 0.06}); }) == where + "beta = 0.06; expected 0 < beta < alpha / 2 = 0.05");
  CHECK(message_of([&] { make({0.5, 10}, {0.1, 0.1, 0.0}); }) == where + "beta = 0; expected 0 < beta < alpha / 2 = 0.05");
  CHECK(message_of([&] { make({0.5, 10}, {0.1, 0.1, 0.06, correction::none}); }) == "(no exception)");  // beta unused

  cf::robust_conformal_classifier<double> classifier({0.5, 16}, {0.1, 0.1, 0.001}, 0);
  const probit_classifier score{1.0};
  const auto points = sample_mixture(10, 1.0, 0, 0);
  CHECK(message_of([&] { classifier.predict(points.x, score); }) ==
        "tessera::conformal::robust_conformal_classifier::predict: calibrated() = false; expected true (call calibrate first)");
  std::vector<std::int32_t> bad_labels = points.y;
  bad_labels[3] = 2;
  CHECK(message_of([&] { classifier.calibrate(points.x, bad_labels, 2, score); }) ==
        "tessera::conformal::robust_conformal_classifier::calibrate: labels[3] = 2; expected 0 <= labels[3] <= 1");
  CHECK(message_of([&] { classifier.calibrate(points.x, std::span<const std::int32_t>(points.y).first(9), 2, score); }) ==
        "tessera::conformal::robust_conformal_classifier::calibrate: labels.size() = 9; expected points.shape()[0] = 10");
  classifier.calibrate(points.x, points.y, 2, score);
  const xt::xtensor<double, 2> three_dimensional = xt::zeros<double>({4, 3});
  CHECK(message_of([&] { classifier.predict(three_dimensional, score); }) ==
        "tessera::conformal::robust_conformal_classifier::predict: points.shape()[1] = 3; expected the calibration "
        "points' dimension = 2");
  CHECK(message_of([&] { classifier.predict(table_of<double>({{0.5, 1.2}})); }) ==
        "tessera::conformal::robust_conformal_classifier::predict: a smoothed score of point 0 = 1.2; expected 0 <= score <= 1");
  auto broken = [](std::span<const double>, std::span<double> s) { s[0] = -0.1; s[1] = 1.1; };
  CHECK_THROWS_AS(classifier.predict(points.x, broken), tessera::domain_error);
}
