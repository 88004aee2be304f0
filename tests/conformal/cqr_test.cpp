#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <tessera/conformal/cqr.hpp>
#include <tessera/conformal/split_regressor.hpp>
#include <tessera/core/random.hpp>
#include <utility>
#include <vector>

#include "conformal/oracles/cqr_oracles.hpp"
#include "support/test_support.hpp"

namespace cf = tessera::conformal;
namespace oracle = tessera::test::cqr_oracles;
using tessera::test::mean_and_standard_error;
using tessera::test::message_of;

namespace {

template <std::size_t N>
std::span<const double> view(const std::array<double, N>& values) {
  return std::span<const double>(values);
}

cf::conformalized_quantile_regressor<double> calibrate(double alpha,
                                                       cf::cqr_correction correction) {
  return cf::conformalized_quantile_regressor<double>(
      view(oracle::y_calibration), view(oracle::lower_calibration),
      view(oracle::upper_calibration), alpha, correction);
}

// MAPIE forms lo - y, y - hi, their max, an order statistic and lo - q, hi + q with the same IEEE
// operations as tessera: the results agree to the last bit (1e-14 relative leaves room for a
// compiler's fma contraction only).
void check_against_mapie(const cf::conformalized_quantile_regressor<double>& regressor,
                         double lower_correction, double upper_correction,
                         std::span<const double> lower, std::span<const double> upper) {
  CHECK(regressor.lower_correction() == Approx(lower_correction).epsilon(1e-14));
  CHECK(regressor.upper_correction() == Approx(upper_correction).epsilon(1e-14));
  const auto intervals = regressor.predict(view(oracle::lower_test), view(oracle::upper_test));
  REQUIRE(intervals.size() == lower.size());
  for (std::size_t i = 0; i < intervals.size(); ++i) {
    CHECK(intervals[i].lower == Approx(lower[i]).epsilon(1e-14));
    CHECK(intervals[i].upper == Approx(upper[i]).epsilon(1e-14));
  }
}


}  // namespace

TEST_CASE("symmetric and asymmetric corrections: MAPIE's ConformalizedQuantileRegressor") {
  using enum cf::cqr_correction;
  check_against_mapie(calibrate(0.1, symmetric), oracle::symmetric_90_lower_correction,
                      oracle::symmetric_90_upper_correction, view(oracle::symmetric_90_lower),
                      view(oracle::symmetric_90_upper));
  check_against_mapie(calibrate(0.1, asymmetric), oracle::asymmetric_90_lower_correction,
                      oracle::asymmetric_90_upper_correction, view(oracle::asymmetric_90_lower),
                      view(oracle::asymmetric_90_upper));
  check_against_mapie(calibrate(0.2, symmetric), oracle::symmetric_80_lower_correction,
                      oracle::symmetric_80_upper_correction, view(oracle::symmetric_80_lower),
                      view(oracle::symmetric_80_upper));
  check_against_mapie(calibrate(0.2, asymmetric), oracle::asymmetric_80_lower_correction,
                      oracle::asymmetric_80_upper_correction, view(oracle::asymmetric_80_lower),
                      view(oracle::asymmetric_80_upper));
  // A negative correction narrows the band: MAPIE's asymmetric lower side at 0.8 is one.
  CHECK(calibrate(0.2, asymmetric).lower_correction() < 0);
  CHECK(calibrate(0.1, symmetric).predict(oracle::lower_test[2], oracle::upper_test[2]) ==
        calibrate(0.1, symmetric).predict(view(oracle::lower_test), view(oracle::upper_test))[2]);
}

TEST_CASE("predict_into writes predict's intervals into a reused buffer") {
  using enum cf::cqr_correction;
  const auto lower = view(oracle::lower_test), upper = view(oracle::upper_test);
  std::vector<cf::interval<double>> buffer(lower.size(), cf::interval<double>{-1, -2});
  for (const auto correction : {symmetric, asymmetric}) {
    const auto cqr = calibrate(0.1, correction);
    cqr.predict_into(lower, upper, buffer);
    CHECK(buffer == cqr.predict(lower, upper));
  }
}

TEST_CASE("predict and predict_into of many intervals give the same on any number of threads") {
  // Past the size where predict_into splits over OpenMP's threads; the bad entries sit in
  // different threads' ranges, and the first is named.
  const std::size_t n = 100'003;
  REQUIRE(n >= cf::detail::parallel_interval_minimum);
  std::vector<double> lower(n), upper(n);
  tessera::fill_normal<double>(tessera::exec::host, tessera::random_stream(43, 0), std::span<double>(lower));
  for (std::size_t i = 0; i < n; ++i) upper[i] = lower[i] + 1 + 0.001 * static_cast<double>(i % 97);
  const auto cqr = calibrate(0.1, cf::cqr_correction::asymmetric);
  std::vector<cf::interval<double>> expected(n);
  for (std::size_t i = 0; i < n; ++i)
    expected[i] = {lower[i] - cqr.lower_correction(), upper[i] + cqr.upper_correction()};
  std::vector<double> bad = upper;
  bad[n - 3] = std::nan("");
  bad[n / 5] = -std::numeric_limits<double>::infinity();
  const std::string where = "tessera::conformal::conformalized_quantile_regressor::predict_into";
  for (const int threads : tessera::test::thread_counts()) {
    CAPTURE(threads);
    tessera::test::with_threads(threads, [&] {
      std::vector<cf::interval<double>> out(n, cf::interval<double>{-1, -2});
      cqr.predict_into(lower, upper, out);
      CHECK(out == expected);
      CHECK(cqr.predict(lower, upper) == expected);
      CHECK(message_of([&] { cqr.predict(lower, bad); }) ==
            "tessera::conformal::conformalized_quantile_regressor::predict: upper[" + std::to_string(n / 5) +
                "] = -inf; expected a finite number");
      CHECK(message_of([&] { cqr.predict_into(lower, bad, out); }) ==
            where + ": upper[" + std::to_string(n / 5) + "] = -inf; expected a finite number");
    });
  }
}

TEST_CASE("CQR with lower = upper = mu is split conformal with the absolute residual") {
  const auto& y = oracle::y_calibration;
  const auto& mu = oracle::lower_calibration;
  for (double alpha : {0.1, 0.25}) {
    const cf::conformalized_quantile_regressor<double> cqr(view(y), view(mu), view(mu), alpha);
    const cf::split_conformal_regressor<double> split(view(y), view(mu), alpha);
    CHECK(cqr.lower_correction() == split.quantile());
    CHECK(cqr.predict(1.5, 1.5) == split.predict(1.5));
  }
}

TEST_CASE("crossed quantiles: y is in the interval exactly when its score is <= q") {
  // Half the calibration rows have lo > hi. The interval [lo - q, hi + q] may then be empty, and
  // membership must still be the score test max(lo - y, y - hi) <= q, the root of the guarantee.
  const std::vector<double> y{0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0};
  const std::vector<double> lo{0.5, 1.5, 1.0, 3.5, 3.0, 5.5, 5.0, 7.5, 7.0};
  const std::vector<double> hi{-0.5, 0.5, 3.0, 2.5, 5.0, 4.5, 7.0, 6.5, 9.0};
  const cf::conformalized_quantile_regressor<double> cqr(y, lo, hi, 0.5);
  const double q = cqr.lower_correction();
  // Scores: crossed rows 0.5, 0.5, 0.5, 0.5, 0.5; ordered rows -1, -1, -1, -1: the 5th smallest.
  CHECK(q == 0.5);
  for (const auto& [test_lo, test_hi] :
       {std::pair{2.0, 4.0}, std::pair{4.0, 2.0}, std::pair{3.0, 1.5}}) {
    const auto band = cqr.predict(test_lo, test_hi);
    for (double t = -1.0; t <= 6.0; t += 0.125)
      CHECK(band.contains(t) == (std::max(test_lo - t, t - test_hi) <= q));
  }
  CHECK(cqr.predict(4.0, 2.0).width() == -1.0);  // [3.5, 2.5]: empty
}

TEST_CASE("CQR coverage over many splits: symmetric in [1 - alpha, 1 - alpha + 1/(n + 1)]") {
  // y = x + (0.3 + |x|)(E - 1) with E ~ Exp(1): skewed, heteroscedastic noise around quantile
  // "models" that are deliberately wrong (a constant band x -+ 0.5). With n = 99 and alpha = 0.1
  // the symmetric score's rank is 90, so the mean coverage is exactly 0.9; each asymmetric side
  // misses with probability exactly 1 - 95/100, so its coverage is 0.9 too (<= 1 - alpha +
  // 2/(n + 1) in general). 2000 trials of 50 test points; 4 estimated standard errors (about
  // 0.0012 each) of slack.
  const std::size_t n = 99, test_points = 50, trials = 2000;
  const double alpha = 0.1;
  auto draw = [](std::size_t count, std::uint64_t seed, std::uint32_t id) {
    const tessera::random_stream x_stream(seed, id, 0), e_stream(seed, id, 1);
    std::vector<double> x(count), y(count), lo(count), hi(count);
    for (std::size_t i = 0; i < count; ++i) {
      x[i] = tessera::normal<double>(x_stream, i);
      const double e = -std::log1p(-tessera::uniform<double>(e_stream, i));  // Exp(1)
      y[i] = x[i] + (0.3 + std::abs(x[i])) * (e - 1.0);
      lo[i] = x[i] - 0.5;
      hi[i] = x[i] + 0.5;
    }
    return std::vector<std::vector<double>>{x, y, lo, hi};
  };
  std::vector<double> symmetric_coverage, asymmetric_coverage;
  for (std::size_t t = 0; t < trials; ++t) {
    const auto calibration = draw(n, 4000 + t, 0);
    const auto test = draw(test_points, 4000 + t, 1);
    for (auto correction : {cf::cqr_correction::symmetric, cf::cqr_correction::asymmetric}) {
      const cf::conformalized_quantile_regressor<double> cqr(calibration[1], calibration[2],
                                                             calibration[3], alpha, correction);
      const auto bands = cqr.predict(test[2], test[3]);
      int covered = 0;
      for (std::size_t i = 0; i < test_points; ++i) covered += bands[i].contains(test[1][i]);
      (correction == cf::cqr_correction::symmetric ? symmetric_coverage : asymmetric_coverage)
          .push_back(covered / static_cast<double>(test_points));
    }
  }
  const auto [symmetric_mean, symmetric_se] = mean_and_standard_error(symmetric_coverage);
  CHECK(symmetric_mean >= 1 - alpha - 4 * symmetric_se);
  CHECK(symmetric_mean <= 1 - alpha + 1.0 / (n + 1) + 4 * symmetric_se);
  const auto [asymmetric_mean, asymmetric_se] = mean_and_standard_error(asymmetric_coverage);
  CHECK(asymmetric_mean >= 1 - alpha - 4 * asymmetric_se);
  CHECK(asymmetric_mean <= 1 - alpha + 2.0 / (n + 1) + 4 * asymmetric_se);
}

TEST_CASE("too few rows for alpha / 2 leave the asymmetric sides unbounded") {
  // n = 15 at alpha = 0.1: the symmetric rank ceil(16 * 0.9) = 15 <= n is finite, the asymmetric
  // rank ceil(16 * 0.95) = 16 > n is not.
  std::vector<double> y(15), lo(15), hi(15);
  for (std::size_t i = 0; i < 15; ++i) {
    y[i] = static_cast<double>(i);
    lo[i] = y[i] - 1.0 + 0.1 * static_cast<double>(i % 4);
    hi[i] = y[i] + 1.0 - 0.1 * static_cast<double>(i % 3);
  }
  const cf::conformalized_quantile_regressor<double> symmetric(y, lo, hi, 0.1);
  CHECK(std::isfinite(symmetric.lower_correction()));
  const cf::conformalized_quantile_regressor<double> asymmetric(y, lo, hi, 0.1,
                                                                cf::cqr_correction::asymmetric);
  CHECK(asymmetric.predict(0.0, 1.0).lower == -std::numeric_limits<double>::infinity());
  CHECK(asymmetric.predict(0.0, 1.0).upper == std::numeric_limits<double>::infinity());
}

TEST_CASE("bad input gets a message naming the parameter") {
  const std::vector<double> y{1, 2, 3}, lo{0, 1, 2}, hi{2, 3, 4}, empty;
  using cqr = cf::conformalized_quantile_regressor<double>;
  const std::string where = "tessera::conformal::conformalized_quantile_regressor";
  CHECK(message_of([&] { cqr(empty, empty, empty, 0.1); }) ==
        where + ": lower.size() = 0; expected >= 1");
  CHECK(message_of([&] { cqr(y, lo, std::vector<double>{2, 3}, 0.1); }) ==
        where + ": upper.size() = 2; expected lower.size() = 3");
  CHECK(message_of([&] { cqr(std::vector<double>{1, 2}, lo, hi, 0.1); }) ==
        where + ": y.size() = 2; expected lower.size() = 3");
  CHECK(message_of([&] { cqr(y, std::vector<double>{0, std::nan(""), 2}, hi, 0.1); }) ==
        where + ": lower[1] = nan; expected a finite number");
  CHECK(message_of([&] { cqr(y, lo, hi, 1.5); }) ==
        where + ": alpha = 1.5; expected 0 < value < 1");
  const cqr fitted(y, lo, hi, 0.5);
  CHECK(message_of([&] { fitted.predict(std::nan(""), 1.0); }) ==
        where + "::predict: lower = nan; expected a finite number");
  CHECK(message_of([&] { fitted.predict(std::vector<double>{1, 2}, std::vector<double>{1}); }) ==
        where + "::predict: upper.size() = 1; expected lower.size() = 2");
  std::vector<cf::interval<double>> out(2);
  CHECK(message_of([&] { fitted.predict_into(lo, hi, out); }) ==
        where + "::predict_into: out.size() = 2; expected lower.size() = 3");
  const std::vector<double> lo_nan{1, std::nan("")}, hi_2{1, 2};
  CHECK(message_of([&] { fitted.predict_into(lo_nan, hi_2, out); }) ==
        where + "::predict_into: lower[1] = nan; expected a finite number");
}
