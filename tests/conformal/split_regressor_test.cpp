#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <tessera/conformal/quantile.hpp>
#include <tessera/conformal/metrics.hpp>
#include <tessera/conformal/split_regressor.hpp>
#include <tessera/core/random.hpp>
#include <vector>

#include "conformal/oracles/split_regressor_oracles.hpp"
#include "support/test_support.hpp"

namespace cf = tessera::conformal;
namespace oracle = tessera::test::split_regressor_oracles;
using tessera::test::mean_and_standard_error;
using tessera::test::message_of;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

template <std::size_t N>
std::span<const double> view(const std::array<double, N>& values) {
  return std::span<const double>(values);
}

// MAPIE computes |y - mu| (or |y - mu| / sigma), selects an order statistic and forms mu -+ q
// (mu -+ q sigma) with the same IEEE operations as tessera, so the results agree to the last bit;
// the 1e-14 relative slack only allows a compiler to contract q * sigma + mu into an fma.
void check_intervals(const std::vector<cf::interval<double>>& intervals,
                     std::span<const double> lower, std::span<const double> upper) {
  REQUIRE(intervals.size() == lower.size());
  for (std::size_t i = 0; i < intervals.size(); ++i) {
    CHECK(intervals[i].lower == Approx(lower[i]).epsilon(1e-14));
    CHECK(intervals[i].upper == Approx(upper[i]).epsilon(1e-14));
  }
}

// A calibration or test draw from y = x + (0.5 + |x|) e with x ~ N(shift, 1), e ~ N(0, 1): the
// model mu(x) = x is exact in the mean, and sigma(x) = 0.5 + |x| is the true noise scale.
struct heteroscedastic_sample {
  std::vector<double> x, y;
};

heteroscedastic_sample draw_sample(std::size_t n, double shift, std::uint64_t seed,
                                   std::uint32_t stream_id) {
  const tessera::random_stream stream(seed, stream_id);
  heteroscedastic_sample s{std::vector<double>(n), std::vector<double>(n)};
  for (std::size_t i = 0; i < n; ++i) {
    s.x[i] = shift + tessera::normal<double>(stream, 2 * i);
    s.y[i] = s.x[i] + (0.5 + std::abs(s.x[i])) * tessera::normal<double>(stream, 2 * i + 1);
  }
  return s;
}

std::vector<double> noise_scale(const std::vector<double>& x) {
  std::vector<double> sigma(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) sigma[i] = 0.5 + std::abs(x[i]);
  return sigma;
}

}  // namespace

TEST_CASE("absolute residual: MAPIE's SplitConformalRegressor(prefit=True)") {
  const cf::split_conformal_regressor<double> at_90(view(oracle::y_calibration),
                                                    view(oracle::prediction_calibration), 0.1);
  const cf::split_conformal_regressor<double> at_80(view(oracle::y_calibration),
                                                    view(oracle::prediction_calibration), 0.2);
  CHECK(at_90.quantile() == Approx(oracle::absolute_90_quantile).epsilon(1e-14));
  CHECK(at_80.quantile() == Approx(oracle::absolute_80_quantile).epsilon(1e-14));
  CHECK(at_90.calibration_size() == 40);
  CHECK_FALSE(at_90.normalized());
  check_intervals(at_90.predict(view(oracle::prediction_test)), view(oracle::absolute_90_lower),
                  view(oracle::absolute_90_upper));
  check_intervals(at_80.predict(view(oracle::prediction_test)), view(oracle::absolute_80_lower),
                  view(oracle::absolute_80_upper));
  CHECK(at_90.predict(oracle::prediction_test[3]) ==
        at_90.predict(view(oracle::prediction_test))[3]);
}

TEST_CASE("normalized residual: MAPIE's ResidualNormalisedScore with a prefit scale model") {
  const cf::split_conformal_regressor<double> at_90(
      view(oracle::y_calibration), view(oracle::prediction_calibration),
      view(oracle::sigma_calibration), 0.1);
  const cf::split_conformal_regressor<double> at_80(
      view(oracle::y_calibration), view(oracle::prediction_calibration),
      view(oracle::sigma_calibration), 0.2);
  CHECK(at_90.normalized());
  CHECK(at_90.quantile() == Approx(oracle::normalized_90_quantile).epsilon(1e-14));
  CHECK(at_80.quantile() == Approx(oracle::normalized_80_quantile).epsilon(1e-14));
  check_intervals(at_90.predict(view(oracle::prediction_test), view(oracle::sigma_test)),
                  view(oracle::normalized_90_lower), view(oracle::normalized_90_upper));
  check_intervals(at_80.predict(view(oracle::prediction_test), view(oracle::sigma_test)),
                  view(oracle::normalized_80_lower), view(oracle::normalized_80_upper));
  CHECK(at_80.predict(oracle::prediction_test[5], oracle::sigma_test[5]) ==
        at_80.predict(view(oracle::prediction_test), view(oracle::sigma_test))[5]);
}

TEST_CASE("predict_into writes predict's intervals into a reused buffer") {
  const cf::split_conformal_regressor<double> absolute(view(oracle::y_calibration),
                                                       view(oracle::prediction_calibration), 0.1);
  const cf::split_conformal_regressor<double> normalized(
      view(oracle::y_calibration), view(oracle::prediction_calibration), view(oracle::sigma_calibration), 0.1);
  const auto predictions = view(oracle::prediction_test), sigma = view(oracle::sigma_test);
  // One buffer, filled with a wrong interval first, takes both calibrations' intervals in turn.
  std::vector<cf::interval<double>> buffer(predictions.size(), cf::interval<double>{-1, -2});
  absolute.predict_into(predictions, buffer);
  CHECK(buffer == absolute.predict(predictions));
  normalized.predict_into(predictions, sigma, buffer);
  CHECK(buffer == normalized.predict(predictions, sigma));
}

TEST_CASE("large calibrations, predict and predict_into give the same results on any number of threads") {
  // Past the sizes where the selection's pass, predict and predict_into split over OpenMP's
  // threads (2^15); the bad entries sit in different threads' ranges, and the first is named.
  const std::size_t n = 100'003;
  REQUIRE(n >= cf::detail::parallel_bracket_minimum);
  REQUIRE(n >= cf::detail::parallel_interval_minimum);
  const auto calibration = draw_sample(n, 0.0, 41, 0), test = draw_sample(n, 0.0, 41, 1);
  const auto sigma = noise_scale(calibration.x), test_sigma = noise_scale(test.x);
  using split = cf::split_conformal_regressor<double>;
  const std::string where = "tessera::conformal::split_conformal_regressor";
  // The reference: the sorted scores' ceil((n + 1) 0.9)-th, and predict's one-thread pass.
  std::vector<double> scores(n);
  for (std::size_t i = 0; i < n; ++i) scores[i] = std::abs(calibration.y[i] - calibration.x[i]);
  std::sort(scores.begin(), scores.end());
  const double expected_q = scores[cf::upper_rank(n, 0.1) - 1];
  const split normalized_reference(calibration.y, calibration.x, sigma, 0.1);
  std::vector<cf::interval<double>> expected_absolute(n), expected_normalized(n);
  for (std::size_t i = 0; i < n; ++i) {
    expected_absolute[i] = {test.x[i] - expected_q, test.x[i] + expected_q};
    const double half_width = normalized_reference.quantile() * test_sigma[i];
    expected_normalized[i] = {test.x[i] - half_width, test.x[i] + half_width};
  }
  std::vector<double> bad_y = calibration.y, bad_sigma = test_sigma;
  bad_y[n - 5] = std::nan("");
  bad_y[n / 7] = std::numeric_limits<double>::infinity();
  bad_sigma[n - 2] = 0;
  bad_sigma[n / 3] = -1;
  for (const int threads : tessera::test::thread_counts()) {
    CAPTURE(threads);
    tessera::test::with_threads(threads, [&] {
      const split absolute(calibration.y, calibration.x, 0.1);
      CHECK(absolute.quantile() == expected_q);
      std::vector<cf::interval<double>> out(n, cf::interval<double>{-1, -2});
      absolute.predict_into(test.x, out);
      CHECK(out == expected_absolute);
      CHECK(absolute.predict(test.x) == expected_absolute);
      const split normalized(calibration.y, calibration.x, sigma, 0.1);
      CHECK(normalized.quantile() == normalized_reference.quantile());
      normalized.predict_into(test.x, test_sigma, out);
      CHECK(out == expected_normalized);
      CHECK(normalized.predict(test.x, test_sigma) == expected_normalized);
      CHECK(message_of([&] { normalized.predict(test.x, bad_sigma); }) ==
            where + "::predict: sigma[" + std::to_string(n / 3) + "] = -1; expected a finite number > 0");
      CHECK(message_of([&] { split(bad_y, calibration.x, 0.1); }) ==
            where + ": y[" + std::to_string(n / 7) + "] = inf; expected a finite number");
      CHECK(message_of([&] { normalized.predict_into(test.x, bad_sigma, out); }) ==
            where + "::predict_into: sigma[" + std::to_string(n / 3) + "] = -1; expected a finite number > 0");
    });
  }
}

TEST_CASE("identities: sigma = 1 is the absolute score; too few rows give the whole line") {
  const std::vector<double> ones(oracle::y_calibration.size(), 1.0);
  const cf::split_conformal_regressor<double> absolute(view(oracle::y_calibration),
                                                       view(oracle::prediction_calibration), 0.1);
  const cf::split_conformal_regressor<double> unit_scale(
      view(oracle::y_calibration), view(oracle::prediction_calibration), ones, 0.1);
  CHECK(unit_scale.quantile() == absolute.quantile());

  // n = 5 at alpha = 0.1: the rank ceil(6 * 0.9) = 6 exceeds n, so q = +inf.
  const std::vector<double> y{1, 2, 3, 4, 5}, mu{1.5, 2, 2.5, 4, 6};
  const cf::split_conformal_regressor<double> small(y, mu, 0.1);
  CHECK(small.quantile() == inf);
  CHECK(small.predict(0.0) == cf::interval<double>{-inf, inf});
  // At alpha = 0.5 the rank is 3: the third smallest of |y - mu| = {0.5, 0, 0.5, 0, 1} is 0.5.
  CHECK(cf::split_conformal_regressor<double>(y, mu, 0.5).predict(2.0) ==
        cf::interval<double>{1.5, 2.5});
}

TEST_CASE("float gives the double intervals to float precision") {
  std::vector<float> y, mu, sigma;
  for (std::size_t i = 0; i < oracle::y_calibration.size(); ++i) {
    y.push_back(static_cast<float>(oracle::y_calibration[i]));
    mu.push_back(static_cast<float>(oracle::prediction_calibration[i]));
    sigma.push_back(static_cast<float>(oracle::sigma_calibration[i]));
  }
  const cf::split_conformal_regressor<float> at_90(y, mu, sigma, 0.1);
  // Rounding the inputs to float moves each score by a few float ulps, far less than the gap
  // between neighbouring scores, so the same order statistic is selected.
  CHECK(at_90.quantile() == Approx(oracle::normalized_90_quantile).epsilon(1e-6));
}

TEST_CASE("split conformal coverage lies in [1 - alpha, 1 - alpha + 1/(n + 1)] over many splits") {
  // With continuous scores the coverage averaged over calibration draws is exactly
  // k / (n + 1) = 90 / 100 for n = 99, alpha = 0.1. Each of 2000 trials draws a calibration set
  // and 50 test points; the standard error of the mean coverage is estimated from the trials
  // (about 0.0012) and the bounds are widened by 4 of them.
  const std::size_t n = 99, test_points = 50, trials = 2000;
  const double alpha = 0.1;
  std::vector<double> absolute_coverage, normalized_coverage;
  for (std::size_t t = 0; t < trials; ++t) {
    const auto calibration = draw_sample(n, 0.0, 7000 + t, 0);
    const auto test = draw_sample(test_points, 0.0, 7000 + t, 1);
    const cf::split_conformal_regressor<double> absolute(calibration.y, calibration.x, alpha);
    const cf::split_conformal_regressor<double> normalized(calibration.y, calibration.x,
                                                           noise_scale(calibration.x), alpha);
    absolute_coverage.push_back(cf::interval_coverage<double>(absolute.predict(test.x), test.y));
    normalized_coverage.push_back(
        cf::interval_coverage<double>(normalized.predict(test.x, noise_scale(test.x)), test.y));
  }
  for (const auto& per_trial : {absolute_coverage, normalized_coverage}) {
    const auto [mean, se] = mean_and_standard_error(per_trial);
    CHECK(mean >= 1 - alpha - 4 * se);
    CHECK(mean <= 1 - alpha + 1.0 / (n + 1) + 4 * se);
  }
}

TEST_CASE("weighted: equal weights give the unweighted quantile; one binary search per point") {
  const std::vector<double> ones(oracle::y_calibration.size(), 1.0);
  for (double alpha : {0.1, 0.2, 0.3}) {
    const cf::weighted_split_conformal_regressor<double> weighted(
        view(oracle::y_calibration), view(oracle::prediction_calibration), ones, alpha);
    const cf::split_conformal_regressor<double> plain(view(oracle::y_calibration),
                                                      view(oracle::prediction_calibration), alpha);
    CHECK(weighted.quantile(1.0) == plain.quantile());
  }
}

TEST_CASE("weighted: each test point's quantile is weighted_conformal_quantile's") {
  const std::size_t n = oracle::y_calibration.size();
  std::vector<double> weights(n), scores(n), test_weights(200);
  tessera::fill_uniform<double>(tessera::exec::host, tessera::random_stream(5), std::span(weights));
  tessera::fill_uniform<double>(tessera::exec::host, tessera::random_stream(6),
                                std::span(test_weights));
  for (double& w : test_weights) w *= 8;  // from negligible to several calibration rows' mass
  for (std::size_t i = 0; i < n; ++i)
    scores[i] = std::abs(oracle::y_calibration[i] - oracle::prediction_calibration[i]) /
                oracle::sigma_calibration[i];
  const cf::weighted_split_conformal_regressor<double> regressor(
      view(oracle::y_calibration), view(oracle::prediction_calibration),
      view(oracle::sigma_calibration), weights, 0.1);
  int unbounded = 0;
  for (const double w : test_weights) {
    const double expected = cf::weighted_conformal_quantile<double>(scores, weights, w, 0.1);
    CHECK(regressor.quantile(w) == expected);
    unbounded += expected == inf;
  }
  CHECK(unbounded > 0);  // the heaviest test weights push the quantile to +inf
  CHECK(unbounded < 200);
  const auto intervals = regressor.predict(std::vector<double>(3, 2.0),
                                           std::vector<double>{1, 2, 4},
                                           std::vector<double>{0.5, 0.5, 0.5});
  CHECK(intervals[2].upper - 2.0 == Approx(4 * regressor.quantile(0.5)).epsilon(1e-15));
}

TEST_CASE("weighted: a hand-computed quantile") {
  // Scores |y - mu| = {4, 1, 3, 2} with weights {0, 1, 8, 1} and test weight 2: total 12, target
  // 0.75 * 12 = 9; sorted by score the cumulative weights are 1 (s = 1), 2 (s = 2), 10 (s = 3),
  // so q = 3. With test weight 8 the target is 13.5 > 10: q = +inf.
  const std::vector<double> y{4, 1, 3, 2}, mu{0, 0, 0, 0}, w{0, 1, 8, 1};
  const cf::weighted_split_conformal_regressor<double> regressor(y, mu, w, 0.25);
  CHECK(regressor.quantile(2.0) == 3);
  CHECK(regressor.predict(10.0, 2.0) == cf::interval<double>{7, 13});
  CHECK(regressor.quantile(8.0) == inf);
}

TEST_CASE("weighted conformal restores coverage under covariate shift; unweighted loses it") {
  // Calibration x ~ N(0, 1), test x ~ N(1, 1); y | x is the same law (noise sd 0.5 + |x|), so
  // the likelihood ratio is w(x) = exp(x - 1/2) and the weighted intervals cover >= 1 - alpha
  // under the test law (Tibshirani et al. 2019). The test points have larger |x| and noise, so
  // unweighted split conformal undercovers (0.83 here, against 0.91 weighted). 1000 trials of
  // n = 200 calibration rows and 20 test points; the standard error of each mean is estimated
  // from the trials (about 0.0025) and the weighted bound is widened by 4 of them.
  const std::size_t n = 200, test_points = 20, trials = 1000;
  const double alpha = 0.1;
  auto likelihood_ratio = [](const std::vector<double>& x) {
    std::vector<double> w(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) w[i] = std::exp(x[i] - 0.5);
    return w;
  };
  std::vector<double> weighted_coverage, plain_coverage;
  for (std::size_t t = 0; t < trials; ++t) {
    const auto calibration = draw_sample(n, 0.0, 9000 + t, 0);
    const auto test = draw_sample(test_points, 1.0, 9000 + t, 1);
    const cf::weighted_split_conformal_regressor<double> weighted(
        calibration.y, calibration.x, likelihood_ratio(calibration.x), alpha);
    const cf::split_conformal_regressor<double> plain(calibration.y, calibration.x, alpha);
    weighted_coverage.push_back(
        cf::interval_coverage<double>(weighted.predict(test.x, likelihood_ratio(test.x)), test.y));
    plain_coverage.push_back(cf::interval_coverage<double>(plain.predict(test.x), test.y));
  }
  const auto weighted_estimate = mean_and_standard_error(weighted_coverage);
  const auto plain_estimate = mean_and_standard_error(plain_coverage);
  CHECK(weighted_estimate.mean >= 1 - alpha - 4 * weighted_estimate.standard_error);
  CHECK(plain_estimate.mean <= 1 - alpha - 0.02);
}

TEST_CASE("bad input gets a message naming the parameter") {
  const std::vector<double> y{1, 2, 3, 4}, mu{1, 2, 3, 4}, empty;
  const std::vector<double> with_nan{1, std::nan(""), 3, 4}, sigma{1, 1, 0, 1};
  using split = cf::split_conformal_regressor<double>;
  using weighted = cf::weighted_split_conformal_regressor<double>;
  const std::string where = "tessera::conformal::split_conformal_regressor";
  CHECK(message_of([&] { split(empty, empty, 0.1); }) == where + ": y.size() = 0; expected >= 1");
  CHECK(message_of([&] { split(y, std::vector<double>{1, 2, 3}, 0.1); }) ==
        where + ": prediction.size() = 3; expected y.size() = 4");
  CHECK(message_of([&] { split(with_nan, mu, 0.1); }) ==
        where + ": y[1] = nan; expected a finite number");
  CHECK(message_of([&] { split(y, with_nan, 0.1); }) ==
        where + ": prediction[1] = nan; expected a finite number");
  CHECK(message_of([&] { split(y, mu, sigma, 0.1); }) ==
        where + ": sigma[2] = 0; expected a finite number > 0");
  CHECK(message_of([&] { split(y, mu, 0.0); }) ==
        where + ": alpha = 0; expected 0 < value < 1");
  const split absolute(y, mu, 0.5), normalized(y, mu, y, 0.5);
  CHECK(message_of([&] { normalized.predict(1.0); }) ==
        where + "::predict: sigma = missing; expected one per prediction (calibrated with the "
                "normalized residual)");
  CHECK(message_of([&] { absolute.predict(1.0, 2.0); }) ==
        where + "::predict: sigma = given; expected none (calibrated with the absolute residual)");
  CHECK(message_of([&] { normalized.predict(1.0, -1.0); }) ==
        where + "::predict: sigma = -1; expected a finite number > 0");
  CHECK(message_of([&] { absolute.predict(inf); }) ==
        where + "::predict: prediction = inf; expected a finite number");
  // Many predictions: the fill loop finds a non-finite one, the full check names the first.
  for (const double bad : {inf, -inf, std::nan("")}) {
    std::vector<double> many(1001, 0.5);
    many[1000] = bad;
    many[700] = bad;
    const std::string shown = std::isnan(bad) ? "nan" : bad > 0 ? "inf" : "-inf";
    CHECK(message_of([&] { absolute.predict(std::span<const double>(many)); }) ==
          where + "::predict: prediction[700] = " + shown + "; expected a finite number");
    CHECK(message_of([&] { normalized.predict(std::span<const double>(many), std::vector<double>(1001, 1.0)); }) ==
          where + "::predict: prediction[700] = " + shown + "; expected a finite number");
  }
  CHECK(absolute.predict(std::vector<double>(1001, std::numeric_limits<double>::max())).size() == 1001);
  std::vector<cf::interval<double>> out(3);
  CHECK(message_of([&] { absolute.predict_into(y, out); }) ==
        where + "::predict_into: out.size() = 3; expected prediction.size() = 4");
  out.resize(4);
  CHECK(message_of([&] { normalized.predict_into(y, out); }) ==
        where + "::predict_into: sigma = missing; expected one per prediction (calibrated with the "
                "normalized residual)");
  CHECK(message_of([&] { normalized.predict_into(y, std::vector<double>{1, 1, 0, 1}, out); }) ==
        where + "::predict_into: sigma[2] = 0; expected a finite number > 0");

  // Calibration checks y and the predictions in its selection's pass: below and above the size
  // where the selection brackets (2^11), a non-finite entry is named by its first index; a
  // residual that overflows from finite inputs is a score like any other.
  for (const std::size_t n : {std::size_t{50}, std::size_t{20000}}) {
    for (const double bad : {inf, -inf, std::nan("")}) {
      std::vector<double> targets(n, 1.0), predictions(n, 0.5);
      targets[n - 1] = targets[n / 3] = bad;
      const std::string shown = std::isnan(bad) ? "nan" : bad > 0 ? "inf" : "-inf";
      CHECK(message_of([&] { split(targets, predictions, 0.1); }) ==
            where + ": y[" + std::to_string(n / 3) + "] = " + shown + "; expected a finite number");
      CHECK(message_of([&] { split(predictions, targets, 0.1); }) ==
            where + ": prediction[" + std::to_string(n / 3) + "] = " + shown + "; expected a finite number");
    }
    std::vector<double> targets(n, 1.0), predictions(n, 0.5);
    targets[0] = std::numeric_limits<double>::max();
    predictions[0] = -std::numeric_limits<double>::max();
    CHECK(split(targets, predictions, 0.1).quantile() == 0.5);
  }
  // The scales of predict and predict_into are checked in the pass that forms the intervals:
  // zero of either sign, negatives, inf and NaN are named; the smallest subnormal and the
  // largest double are scales.
  const double tiny = std::numeric_limits<double>::denorm_min(), huge = std::numeric_limits<double>::max();
  const std::vector<double> scales_ok{tiny, huge, 1, 2};
  CHECK(normalized.predict(mu, scales_ok)[1] == cf::interval<double>{2 - normalized.quantile() * huge, 2 + normalized.quantile() * huge});
  for (const double bad : {0.0, -0.0, -1.0, inf, std::nan("")}) {
    std::vector<double> scales(1001, 1.0), predictions(1001, 0.5);
    scales[999] = scales[400] = bad;
    const std::string shown = std::isnan(bad) ? "nan" : std::isinf(bad) ? "inf" : bad == -1 ? "-1" : std::signbit(bad) ? "-0" : "0";
    const std::string expected = "[400] = " + shown + "; expected a finite number > 0";
    CHECK(message_of([&] { normalized.predict(predictions, scales); }) == where + "::predict: sigma" + expected);
    std::vector<cf::interval<double>> many(1001);
    CHECK(message_of([&] { normalized.predict_into(predictions, scales, many); }) ==
          where + "::predict_into: sigma" + expected);
  }

  const std::string weighted_where = "tessera::conformal::weighted_split_conformal_regressor";
  CHECK(message_of([&] { weighted(y, mu, std::vector<double>{1, -1, 1, 1}, 0.1); }) ==
        weighted_where + ": weights[1] = -1; expected a finite number >= 0");
  CHECK(message_of([&] { weighted(y, mu, std::vector<double>(4, 0.0), 0.1); }) ==
        weighted_where + ": the total calibration weight = 0; expected > 0");
  CHECK(message_of([&] { weighted(y, mu, std::vector<double>(3, 1.0), 0.1); }) ==
        weighted_where + ": weights.size() = 3; expected y.size() = 4");
  const weighted shifted(y, mu, std::vector<double>(4, 1.0), 0.1);
  CHECK(message_of([&] { shifted.quantile(-2.0); }) ==
        weighted_where + "::quantile: test_weight = -2; expected a finite number >= 0");
  CHECK(message_of([&] { shifted.predict(std::vector<double>{1, 2}, std::vector<double>{1}); }) ==
        weighted_where + "::predict: test_weights.size() = 1; expected prediction.size() = 2");
}
