#include <catch2/catch.hpp>

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <span>
#include <string>
#include <tessera/conformal/cross_conformal.hpp>
#include <tessera/core/random.hpp>
#include <vector>

#include "conformal/oracles/cross_conformal_oracles.hpp"
#include "support/test_support.hpp"

namespace cf = tessera::conformal;
namespace oracle = tessera::test::cross_conformal_oracles;
using tessera::test::domain_message_of;
using tessera::test::message_of;

namespace {

using point = std::array<double, 2>;
constexpr double inf = std::numeric_limits<double>::infinity();

// y = c0 + c1 x0 + c2 x1.
struct linear_model {
  Eigen::Vector3d coefficients;
  double operator()(const point& x) const {
    return coefficients(0) + coefficients(1) * x[0] + coefficients(2) * x[1];
  }
};

// Ordinary least squares with an intercept on the given rows (repeats count twice), as
// scikit-learn's LinearRegression; column-pivoted QR, backward stable like its SVD solver.
auto least_squares(std::span<const point> x, std::span<const double> y) {
  return [x, y](std::span<const std::size_t> rows) {
    Eigen::MatrixXd design(static_cast<Eigen::Index>(rows.size()), 3);
    Eigen::VectorXd target(static_cast<Eigen::Index>(rows.size()));
    for (std::size_t k = 0; k < rows.size(); ++k) {
      const auto i = static_cast<Eigen::Index>(k);
      design.row(i) << 1.0, x[rows[k]][0], x[rows[k]][1];
      target(i) = y[rows[k]];
    }
    return linear_model{design.colPivHouseholderQr().solve(target)};
  };
}

std::span<const point> features() { return oracle::features; }
std::span<const double> targets() { return oracle::y; }
std::span<const point> test_features() { return oracle::test_features; }

// Two least-squares codes (Eigen's pivoted QR here, LAPACK's SVD in scikit-learn) agree on this
// well-conditioned data to 3e-15 relative (measured); 1e-9 leaves room for other BLAS and
// compilers while still catching a wrong row, rank or formula (those move a bound by 1e-2 or
// more). An infinite bound must match exactly.
bool close(double actual, double expected) {
  if (std::isinf(expected)) return actual == expected;
  return std::abs(actual - expected) <= 1e-9 * std::max(1.0, std::abs(expected));
}

template <std::size_t N>
void check_values(std::span<const double> actual, const std::array<double, N>& expected) {
  REQUIRE(actual.size() == N);
  for (std::size_t i = 0; i < N; ++i) {
    INFO("index " << i << ": " << actual[i] << " vs " << expected[i]);
    CHECK(close(actual[i], expected[i]));
  }
}

template <class Regressor, std::size_t N>
void check_intervals(const Regressor& regressor, double alpha, cf::cross_method method,
                     const std::array<double, N>& lower, const std::array<double, N>& upper) {
  const auto intervals = regressor.predict(test_features(), alpha, method);
  REQUIRE(intervals.size() == N);
  for (std::size_t i = 0; i < N; ++i) {
    INFO("test point " << i << ": [" << intervals[i].lower << ", " << intervals[i].upper
                       << "] vs [" << lower[i] << ", " << upper[i] << "]");
    CHECK(close(intervals[i].lower, lower[i]));
    CHECK(close(intervals[i].upper, upper[i]));
  }
}

template <class Regressor, std::size_t N>
void check_points(const Regressor& regressor, const std::array<double, N>& expected) {
  std::vector<double> points;
  for (const point& x : test_features()) points.push_back(regressor.predict_point(x));
  check_values(points, expected);
}

std::vector<std::vector<std::size_t>> as_resamples(
    std::span<const std::array<std::size_t, 40>> table) {
  std::vector<std::vector<std::size_t>> resamples;
  for (const auto& row : table) resamples.emplace_back(row.begin(), row.end());
  return resamples;
}
// A fitter that records the training rows of every call and fits the mean of y on them.
struct recording_fitter {
  std::span<const double> y;
  std::vector<std::vector<std::size_t>>* calls;
  auto operator()(std::span<const std::size_t> rows) {
    calls->emplace_back(rows.begin(), rows.end());
    double sum = 0;
    for (const std::size_t r : rows) sum += y[r];
    return [mean = sum / static_cast<double>(rows.size())](const point&) { return mean; };
  }
};

}  // namespace

TEST_CASE("jackknife+ and jackknife-minmax: MAPIE's CrossConformalRegressor(cv=-1)") {
  const auto regressor = cf::fit_jackknife<double, point>(features(), targets(),
                                                          least_squares(features(), targets()));
  CHECK(regressor.model_count() == 40);
  CHECK(regressor.calibration_size() == 40);
  check_values(regressor.residuals(), oracle::jackknife_residuals);
  check_points(regressor, oracle::jackknife_points);
  using enum cf::cross_method;
  check_intervals(regressor, 0.1, plus, oracle::jackknife_plus_90_lower,
                  oracle::jackknife_plus_90_upper);
  check_intervals(regressor, 0.2, plus, oracle::jackknife_plus_80_lower,
                  oracle::jackknife_plus_80_upper);
  // floor(0.04 * 41) = 1: the bounds are the smallest of mu_{-i} - R_i and the largest of
  // mu_{-i} + R_i.
  check_intervals(regressor, 0.04, plus, oracle::jackknife_plus_96_lower,
                  oracle::jackknife_plus_96_upper);
  check_intervals(regressor, 0.1, minmax, oracle::jackknife_minmax_90_lower,
                  oracle::jackknife_minmax_90_upper);
  check_intervals(regressor, 0.2, minmax, oracle::jackknife_minmax_80_lower,
                  oracle::jackknife_minmax_80_upper);
  check_intervals(regressor, 0.04, minmax, oracle::jackknife_minmax_96_lower,
                  oracle::jackknife_minmax_96_upper);
  CHECK(regressor.predict(test_features()[4], 0.2) == regressor.predict(test_features(), 0.2)[4]);
}

TEST_CASE("CV+ and CV-minmax: MAPIE's CrossConformalRegressor(cv=KFold(K))") {
  using enum cf::cross_method;
  const auto fit = least_squares(features(), targets());
  const auto five = cf::fit_cross_validation<double, point>(features(), targets(), fit, 5);
  CHECK(five.model_count() == 5);
  check_values(five.residuals(), oracle::cv5_residuals);
  check_points(five, oracle::cv5_points);  // equal folds: the mean of the 5 models is MAPIE's
  check_intervals(five, 0.1, plus, oracle::cv5_plus_90_lower, oracle::cv5_plus_90_upper);
  check_intervals(five, 0.2, plus, oracle::cv5_plus_80_lower, oracle::cv5_plus_80_upper);
  check_intervals(five, 0.1, minmax, oracle::cv5_minmax_90_lower, oracle::cv5_minmax_90_upper);
  check_intervals(five, 0.2, minmax, oracle::cv5_minmax_80_lower, oracle::cv5_minmax_80_upper);

  // 40 rows in 6 folds: 7, 7, 7, 7, 6, 6 rows, the longer folds first as in scikit-learn.
  const auto six = cf::fit_cross_validation<double, point>(features(), targets(), fit, 6);
  check_values(six.residuals(), oracle::cv6_residuals);
  check_intervals(six, 0.1, plus, oracle::cv6_plus_90_lower, oracle::cv6_plus_90_upper);
  check_intervals(six, 0.1, minmax, oracle::cv6_minmax_90_lower, oracle::cv6_minmax_90_upper);
}

TEST_CASE("jackknife+-after-bootstrap: MAPIE's JackknifeAfterBootstrapRegressor on its resamples") {
  using enum cf::cross_method;
  const auto resamples = as_resamples(oracle::resamples_20);
  const auto mean = cf::fit_jackknife_after_bootstrap<double, point>(
      features(), targets(), least_squares(features(), targets()),
      std::span<const std::vector<std::size_t>>(resamples), cf::aggregation::mean);
  CHECK(mean.model_count() == 20);
  CHECK(std::ranges::equal(mean.calibration_rows(), oracle::bootstrap_mean_calibration_rows));
  check_values(mean.residuals(), oracle::bootstrap_mean_residuals);
  check_points(mean, oracle::bootstrap_mean_points);
  check_intervals(mean, 0.1, plus, oracle::bootstrap_mean_plus_90_lower,
                  oracle::bootstrap_mean_plus_90_upper);
  check_intervals(mean, 0.2, plus, oracle::bootstrap_mean_plus_80_lower,
                  oracle::bootstrap_mean_plus_80_upper);
  check_intervals(mean, 0.1, minmax, oracle::bootstrap_mean_minmax_90_lower,
                  oracle::bootstrap_mean_minmax_90_upper);
  check_intervals(mean, 0.2, minmax, oracle::bootstrap_mean_minmax_80_lower,
                  oracle::bootstrap_mean_minmax_80_upper);

  const auto median = cf::fit_jackknife_after_bootstrap<double, point>(
      features(), targets(), least_squares(features(), targets()),
      std::span<const std::vector<std::size_t>>(resamples), cf::aggregation::median);
  check_values(median.residuals(), oracle::bootstrap_median_residuals);
  check_points(median, oracle::bootstrap_median_points);
  check_intervals(median, 0.1, plus, oracle::bootstrap_median_plus_90_lower,
                  oracle::bootstrap_median_plus_90_upper);
  check_intervals(median, 0.2, plus, oracle::bootstrap_median_plus_80_lower,
                  oracle::bootstrap_median_plus_80_upper);
}

TEST_CASE("J+aB leaves out rows every resample contains, as MAPIE does") {
  const auto resamples = as_resamples(oracle::resamples_3);
  const auto few = cf::fit_jackknife_after_bootstrap<double, point>(
      features(), targets(), least_squares(features(), targets()),
      std::span<const std::vector<std::size_t>>(resamples));
  CHECK(few.calibration_size() == 30);  // 10 of the 40 rows are in all three resamples
  CHECK(std::ranges::equal(few.calibration_rows(), oracle::bootstrap_few_calibration_rows));
  check_values(few.residuals(), oracle::bootstrap_few_residuals);
  check_points(few, oracle::bootstrap_few_points);
  check_intervals(few, 0.2, cf::cross_method::plus, oracle::bootstrap_few_plus_80_lower,
                  oracle::bootstrap_few_plus_80_upper);
}

TEST_CASE("identities: n folds, shuffled n folds and leave-one-out resamples are the jackknife") {
  const auto fit = least_squares(features(), targets());
  const auto jackknife = cf::fit_jackknife<double, point>(features(), targets(), fit);
  const auto folds = cf::fit_cross_validation<double, point>(features(), targets(), fit, 40);
  const auto shuffled = cf::fit_cross_validation<double, point>(features(), targets(), fit, 40, 99);
  std::vector<std::vector<std::size_t>> leave_one_out(40);
  for (std::size_t b = 0; b < 40; ++b)
    for (std::size_t r = 0; r < 40; ++r)
      if (r != b) leave_one_out[b].push_back(r);
  const auto bootstrap = cf::fit_jackknife_after_bootstrap<double, point>(
      features(), targets(), fit, std::span<const std::vector<std::size_t>>(leave_one_out));
  // Every row's held-out model is fitted on the same rows in the same order, so the intervals
  // agree to the last bit.
  for (double alpha : {0.1, 0.3})
    for (auto method : {cf::cross_method::plus, cf::cross_method::minmax}) {
      const auto expected = jackknife.predict(test_features(), alpha, method);
      CHECK(folds.predict(test_features(), alpha, method) == expected);
      CHECK(shuffled.predict(test_features(), alpha, method) == expected);
      CHECK(bootstrap.predict(test_features(), alpha, method) == expected);
    }
  // floor(0.02 * 41) = 0 and ceil(0.98 * 41) = 41 > 40: the plus interval is the whole line.
  CHECK(jackknife.predict(test_features()[0], 0.02) == cf::interval<double>{-inf, inf});
}

TEST_CASE("shuffled folds are a seeded partition; contiguous folds follow scikit-learn's KFold") {
  auto held_out_sets = [](const std::vector<std::vector<std::size_t>>& calls, std::size_t n) {
    std::vector<std::set<std::size_t>> held_out;
    for (const auto& training : calls) {
      std::set<std::size_t> rows;
      for (std::size_t r = 0; r < n; ++r)
        if (std::find(training.begin(), training.end(), r) == training.end()) rows.insert(r);
      held_out.push_back(rows);
    }
    return held_out;
  };
  std::vector<std::vector<std::size_t>> contiguous, seeded, same_seed, other_seed;
  auto record = [](std::vector<std::vector<std::size_t>>& calls) {
    return recording_fitter{targets(), &calls};
  };
  cf::fit_cross_validation<double, point>(features(), targets(), record(contiguous), 6);
  cf::fit_cross_validation<double, point>(features(), targets(), record(seeded), 6, 1);
  cf::fit_cross_validation<double, point>(features(), targets(), record(same_seed), 6, 1);
  cf::fit_cross_validation<double, point>(features(), targets(), record(other_seed), 6, 2);
  const auto folds = held_out_sets(contiguous, 40);
  CHECK(folds[0] == std::set<std::size_t>{0, 1, 2, 3, 4, 5, 6});
  CHECK(folds[5] == std::set<std::size_t>{34, 35, 36, 37, 38, 39});
  const auto shuffled = held_out_sets(seeded, 40);
  std::multiset<std::size_t> every_row;
  std::vector<std::size_t> sizes;
  for (const auto& fold : shuffled) {
    every_row.insert(fold.begin(), fold.end());
    sizes.push_back(fold.size());
  }
  CHECK(every_row.size() == 40);
  CHECK(std::set<std::size_t>(every_row.begin(), every_row.end()).size() == 40);  // a partition
  CHECK(sizes == std::vector<std::size_t>{7, 7, 7, 7, 6, 6});
  CHECK(shuffled != folds);
  CHECK(seeded == same_seed);
  CHECK(seeded != other_seed);
}

TEST_CASE("seeded bootstrap: row j of resample b is floor(n u), u the draw b n + j of the stream") {
  std::vector<std::vector<std::size_t>> calls, again;
  const auto regressor = cf::fit_jackknife_after_bootstrap<double, point>(
      features(), targets(), recording_fitter{targets(), &calls}, 25, 17);
  cf::fit_jackknife_after_bootstrap<double, point>(features(), targets(),
                                                   recording_fitter{targets(), &again}, 25, 17);
  CHECK(calls == again);
  REQUIRE(calls.size() == 25);
  const tessera::random_stream stream(17);
  std::set<std::size_t> left_out_somewhere;
  for (std::size_t b = 0; b < 25; ++b) {
    REQUIRE(calls[b].size() == 40);
    for (std::size_t j = 0; j < 40; ++j)
      CHECK(calls[b][j] ==
            static_cast<std::size_t>(40 * tessera::uniform<double>(stream, b * 40 + j)));
    for (std::size_t r = 0; r < 40; ++r)
      if (std::find(calls[b].begin(), calls[b].end(), r) == calls[b].end())
        left_out_somewhere.insert(r);
  }
  CHECK(std::ranges::equal(regressor.calibration_rows(), left_out_somewhere));
}

TEST_CASE("float instantiation agrees with double to float precision") {
  std::vector<float> y(oracle::y.begin(), oracle::y.end());
  const auto fit = least_squares(features(), targets());  // the models compute in double
  const auto single = cf::fit_jackknife<float, point>(features(), y, fit);
  const auto interval = single.predict(test_features()[1], 0.1);
  CHECK(interval.lower == Approx(oracle::jackknife_plus_90_lower[1]).epsilon(1e-5));
  CHECK(interval.upper == Approx(oracle::jackknife_plus_90_upper[1]).epsilon(1e-5));
}

TEST_CASE("coverage over many draws: jackknife+ and CV+ >= 1 - 2 alpha, minmax >= 1 - alpha") {
  // y = 1 + 2 x0 - x1 + (0.3 + 0.5 x0) e with x uniform on [0, 3]^2 and e ~ N(0, 1); least
  // squares fits. 600 trials of n = 30 training rows and 20 test points at alpha = 0.1. The
  // guarantees are jackknife+ >= 0.8, jackknife-minmax >= 0.9, CV+ (K = 5) >= 0.8 - sqrt(2/30),
  // CV-minmax >= 0.9 (Barber et al. 2021); each is checked with 4 estimated standard errors
  // (about 0.0035) of slack. The plus methods cover about 0.90 here, the minmax ones 0.93.
  const std::size_t n = 30, test_points = 20, trials = 600;
  const double alpha = 0.1;
  auto draw = [](std::size_t count, std::uint64_t seed, std::uint32_t id) {
    const tessera::random_stream x_stream(seed, id, 0), noise_stream(seed, id, 1);
    std::vector<point> x(count);
    std::vector<double> y(count);
    for (std::size_t i = 0; i < count; ++i) {
      x[i] = {3 * tessera::uniform<double>(x_stream, 2 * i),
              3 * tessera::uniform<double>(x_stream, 2 * i + 1)};
      const double noise = tessera::normal<double>(noise_stream, i);
      y[i] = 1 + 2 * x[i][0] - x[i][1] + (0.3 + 0.5 * x[i][0]) * noise;
    }
    return std::pair{x, y};
  };
  std::array<std::vector<double>, 4> coverage;  // jackknife+, jackknife-minmax, CV+, CV-minmax
  for (std::size_t t = 0; t < trials; ++t) {
    const auto [x, y] = draw(n, 300 + t, 0);
    const auto [x_test, y_test] = draw(test_points, 300 + t, 1);
    const auto fit = least_squares(x, y);
    const auto jackknife = cf::fit_jackknife<double, point>(x, y, fit);
    const auto cv = cf::fit_cross_validation<double, point>(x, y, fit, 5);
    std::size_t k = 0;
    for (const auto* regressor : {&jackknife, &cv})
      for (auto method : {cf::cross_method::plus, cf::cross_method::minmax}) {
        const auto intervals = regressor->predict(x_test, alpha, method);
        int covered = 0;
        for (std::size_t i = 0; i < test_points; ++i) covered += intervals[i].contains(y_test[i]);
        coverage[k++].push_back(covered / static_cast<double>(test_points));
      }
  }
  const double cv_plus_slack = std::sqrt(2.0 / static_cast<double>(n));
  const std::array<double, 4> guarantee{1 - 2 * alpha, 1 - alpha, 1 - 2 * alpha - cv_plus_slack,
                                        1 - alpha};
  for (std::size_t k = 0; k < 4; ++k) {
    const auto [mean, standard_error] = tessera::test::mean_and_standard_error(coverage[k]);
    INFO("method " << k << ": coverage " << mean << " +- " << standard_error);
    CHECK(mean >= guarantee[k] - 4 * standard_error);
  }
}

TEST_CASE("bad input gets a message naming the parameter") {
  const std::vector<point> x{{0, 0}, {1, 0}, {0, 1}, {1, 1}};
  const std::vector<double> y{1, 2, 3, 4};
  const auto fit = least_squares(x, y);
  const std::string jackknife = "tessera::conformal::fit_jackknife";
  const std::string cv = "tessera::conformal::fit_cross_validation";
  const std::string bootstrap = "tessera::conformal::fit_jackknife_after_bootstrap";
  CHECK(message_of([&] {
          cf::fit_jackknife<double, point>(std::span(x).first(1), std::span(y).first(1), fit);
        }) == jackknife + ": y.size() = 1; expected >= 2");
  CHECK(message_of([&] { cf::fit_jackknife<double, point>(std::span(x).first(3), y, fit); }) ==
        jackknife + ": features.size() = 3; expected y.size() = 4");
  CHECK(message_of([&] {
          cf::fit_jackknife<double, point>(x, std::vector<double>{1, 2, inf, 4}, fit);
        }) == jackknife + ": y[2] = inf; expected a finite number");
  CHECK(message_of([&] { cf::fit_cross_validation<double, point>(x, y, fit, 1); }) ==
        cv + ": folds = 1; expected 2 <= folds <= 4");
  CHECK(message_of([&] { cf::fit_cross_validation<double, point>(x, y, fit, 5, 7); }) ==
        cv + ": folds = 5; expected 2 <= folds <= 4");
  CHECK(message_of([&] { cf::fit_jackknife_after_bootstrap<double, point>(x, y, fit, 0, 7); }) ==
        bootstrap + ": resamples = 0; expected >= 1");
  const std::vector<std::vector<std::size_t>> out_of_range{{0, 1}, {1, 2, 9}};
  CHECK(message_of([&] {
          cf::fit_jackknife_after_bootstrap<double, point>(
              x, y, fit, std::span<const std::vector<std::size_t>>(out_of_range));
        }) == bootstrap + ": resamples[1][2] = 9; expected < y.size() = 4");
  const std::vector<std::vector<std::size_t>> with_empty{{}, {0}};
  CHECK(message_of([&] {
          cf::fit_jackknife_after_bootstrap<double, point>(
              x, y, fit, std::span<const std::vector<std::size_t>>(with_empty));
        }) == bootstrap + ": resamples[0].size() = 0; expected >= 1");
  const std::vector<std::vector<std::size_t>> everything{{0, 1, 2, 3}, {3, 2, 1, 0}};
  CHECK(domain_message_of([&] {
          cf::fit_jackknife_after_bootstrap<double, point>(
              x, y, fit, std::span<const std::vector<std::size_t>>(everything));
        }) == bootstrap + ": every resample contains every row, so no row can be calibrated; "
                          "expected some row left out: draw more resamples");

  auto diverging = [](std::span<const std::size_t>) {
    return [](const point& p) { return p[0] > 0.5 ? std::nan("") : 1.0; };
  };
  CHECK(domain_message_of([&] { cf::fit_jackknife<double, point>(x, y, diverging); }) ==
        jackknife + ": model 1 predicts nan at row 1; expected a finite prediction");
  const auto fitted = cf::fit_jackknife<double, point>(x, y, fit);
  CHECK(message_of([&] { fitted.predict(x[0], 1.0); }) ==
        "tessera::conformal::cross_conformal_regressor::predict: alpha = 1; expected 0 < value "
        "< 1");
}

TEST_CASE("plus_interval from saved outputs: the order statistics of mu_{-i}(x) -+ R_i") {
  // R_i = 1..9; rows with odd R were held out by a model predicting 0 at x, the others by one
  // predicting 2. alpha = 0.2: lower = the floor(0.2 * 10) = 2nd smallest of
  // {-1, -3, -5, -7, -9, 0, -2, -4, -6} = -7; upper = the 8th smallest of
  // {1, 3, 5, 7, 9, 4, 6, 8, 10} = 9.
  const std::vector<double> residuals{1, 2, 3, 4, 5, 6, 7, 8, 9};
  const std::vector<double> at_x{0, 2, 0, 2, 0, 2, 0, 2, 0};
  CHECK(cf::plus_interval<double>(at_x, residuals, 0.2) == cf::interval<double>{-7, 9});
  // alpha = 0.05: floor(0.5) = 0 and ceil(9.5) = 10 > 9, both ends unbounded.
  const auto unbounded = cf::plus_interval<double>(at_x, residuals, 0.05);
  CHECK(unbounded.lower == -std::numeric_limits<double>::infinity());
  CHECK(unbounded.upper == std::numeric_limits<double>::infinity());
  CHECK(message_of([&] { cf::plus_interval<double>(std::span<const double>(at_x).first(3), residuals, 0.2); }) ==
        "tessera::conformal::plus_interval: held_out_predictions.size() = 3; expected residuals.size() = 9");
}
