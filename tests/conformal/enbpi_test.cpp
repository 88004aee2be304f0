#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <tessera/conformal/enbpi.hpp>
#include <tessera/core/random.hpp>
#include <vector>

#include "conformal/oracles/enbpi_oracles.hpp"
#include "support/test_support.hpp"

namespace cf = tessera::conformal;
namespace oracle = tessera::test::enbpi_oracles;
using tessera::test::message_of;

namespace {

struct line {
  double intercept;
  double slope;
  double operator()(double x) const { return intercept + slope * x; }
};

// Ordinary least squares with an intercept on the given rows (with their repetitions): what
// scikit-learn's LinearRegression computes, by the centred closed form.
struct least_squares {
  std::span<const double> x;
  std::span<const double> y;

  line operator()(std::span<const std::size_t> rows) const {
    const double n = static_cast<double>(rows.size());
    double mean_x = 0, mean_y = 0;
    for (std::size_t r : rows) {
      mean_x += x[r];
      mean_y += y[r];
    }
    mean_x /= n;
    mean_y /= n;
    double sxy = 0, sxx = 0;
    for (std::size_t r : rows) {
      sxy += (x[r] - mean_x) * (y[r] - mean_y);
      sxx += (x[r] - mean_x) * (x[r] - mean_x);
    }
    const double slope = sxy / sxx;
    return {mean_y - slope * mean_x, slope};
  }
};

std::vector<std::vector<std::size_t>> oracle_resamples() {
  const std::size_t n = oracle::x_train.size();
  std::vector<std::vector<std::size_t>> resamples(oracle::models);
  for (std::size_t b = 0; b < oracle::models; ++b)
    for (std::size_t j = 0; j < n; ++j)
      resamples[b].push_back(static_cast<std::size_t>(oracle::resamples[b * n + j]));
  return resamples;
}

// N training residuals, P test points, bounds for each test point and alpha.
template <std::size_t N, std::size_t P, std::size_t M>
void check_against_mapie(cf::ensemble_aggregation aggregation,
                         const std::array<double, N>& initial_residuals,
                         const std::array<double, P>& centers,
                         const std::array<double, 2 * P>& lower,
                         const std::array<double, 2 * P>& upper,
                         const std::array<double, M>& final_residuals) {
  // The least-squares fits differ from scikit-learn's in rounding only (1e-15 relative), and
  // every quantile selects the same residual (no two lie within 1e-10): 1e-10 absolute.
  const auto resamples = oracle_resamples();
  auto model = cf::fit_enbpi(oracle::x_train, oracle::y_train,
                             least_squares{oracle::x_train, oracle::y_train}, N,
                             resamples, aggregation);
  REQUIRE(model.left_out_rows().size() == N);
  for (std::size_t i = 0; i < N; ++i)
    CHECK(model.residuals()[i] == Approx(initial_residuals[i]).margin(1e-10));
  for (std::size_t start = 0; start < oracle::x_test.size(); start += oracle::batch) {
    for (std::size_t t = start; t < start + oracle::batch; ++t) {
      INFO("test point " << t);
      CHECK(model.predict(oracle::x_test[t]) == Approx(centers[t]).margin(1e-10));
      for (std::size_t a = 0; a < oracle::alphas.size(); ++a) {
        const auto band = model.predict_interval(oracle::x_test[t], oracle::alphas[a]);
        CHECK(band.lower == Approx(lower[t * 2 + a]).margin(1e-10));
        CHECK(band.upper == Approx(upper[t * 2 + a]).margin(1e-10));
      }
    }
    model.update(std::span<const double>(oracle::x_test).subspan(start, oracle::batch),
                 std::span<const double>(oracle::y_test).subspan(start, oracle::batch));
  }
  REQUIRE(model.residuals().size() == M);
  for (std::size_t i = 0; i < M; ++i)
    CHECK(model.residuals()[i] == Approx(final_residuals[i]).margin(1e-10));
}

struct sample {
  std::vector<double> x;
  std::vector<double> y;
};

// y = 1 + 2 x + noise, x uniform on [-1, 1]; the noise sd is `scale`.
sample linear_sample(std::size_t n, double scale, std::uint64_t seed) {
  const tessera::random_stream stream(seed);
  sample s{std::vector<double>(n), std::vector<double>(n)};
  for (std::size_t i = 0; i < n; ++i) {
    s.x[i] = 2 * tessera::uniform<double>(stream, 2 * i) - 1;
    s.y[i] = 1 + 2 * s.x[i] + scale * tessera::normal<double>(stream, 2 * i + 1);
  }
  return s;
}

}  // namespace

TEST_CASE("EnbPI reproduces MAPIE's TimeSeriesRegressor(method='enbpi'), mean aggregation") {
  check_against_mapie(cf::ensemble_aggregation::mean, oracle::mean_initial_residuals,
                      oracle::mean_centers, oracle::mean_lower, oracle::mean_upper,
                      oracle::mean_final_residuals);
}

TEST_CASE("EnbPI reproduces MAPIE's TimeSeriesRegressor(method='enbpi'), median aggregation") {
  check_against_mapie(cf::ensemble_aggregation::median, oracle::median_initial_residuals,
                      oracle::median_centers, oracle::median_lower, oracle::median_upper,
                      oracle::median_final_residuals);
}

TEST_CASE("EnbPI aggregates leave-one-out predictions; points never left out are skipped") {
  // Four constant models c = 1, 2, 4, 8 on three rows with labels 0. Row 0 is left out of models
  // 1, 2; row 1 of 0, 2; row 2 of 0, 1, 3. Leave-one-out means 3, 2.5, 11/3; medians 3, 2.5, 2.
  const std::vector<double> x{0, 0, 0};
  const std::vector<double> y{0, 0, 0};
  const std::vector<std::vector<std::size_t>> resamples{{0, 0, 0}, {1, 1, 1}, {2, 2, 2}, {0, 1, 1}};
  const std::array<double, 4> constants{1, 2, 4, 8};
  struct constant {
    double value;
    double operator()(double) const { return value; }
  };
  std::size_t fitted = 0;
  const auto fit = [&](std::span<const std::size_t>) { return constant{constants[fitted++]}; };

  auto mean = cf::fit_enbpi(x, y, fit, 3, resamples,
                            cf::ensemble_aggregation::mean);
  CHECK(mean.residuals()[0] == Approx(3.0).epsilon(1e-15));
  CHECK(mean.residuals()[1] == Approx(2.5).epsilon(1e-15));
  CHECK(mean.residuals()[2] == Approx(11.0 / 3).epsilon(1e-15));
  CHECK(mean.predict(0.0) == Approx((3 + 2.5 + 11.0 / 3) / 3).epsilon(1e-15));

  fitted = 0;
  auto median = cf::fit_enbpi(x, y, fit, 3, resamples,
                              cf::ensemble_aggregation::median);
  CHECK(std::vector<double>(median.residuals().begin(), median.residuals().end()) ==
        std::vector<double>{3, 2.5, 2});
  CHECK(median.predict(0.0) == 2.5);
  // W = 3 residuals, alpha = 0.25: rank ceil(4 * 0.75) = 3, the largest residual, 3.
  CHECK(median.predict_interval(0.0, 0.25) == cf::interval<double>{-0.5, 5.5});
  // alpha = 0.2: rank ceil(4 * 0.8) = 4 > 3, the interval is the whole line.
  CHECK(median.predict_interval(0.0, 0.2).upper == std::numeric_limits<double>::infinity());

  // Rows 0 and 1 lie in both resamples: only row 2 has a residual, and only model 1 predicts.
  fitted = 0;
  const std::vector<std::vector<std::size_t>> covering{{0, 1, 2, 2}, {0, 1, 1, 0}};
  auto partial = cf::fit_enbpi(x, y, fit, 3, covering);
  CHECK(std::vector<std::size_t>(partial.left_out_rows().begin(), partial.left_out_rows().end()) ==
        std::vector<std::size_t>{2});
  CHECK(partial.residuals().size() == 1);
  CHECK(partial.predict(0.0) == 2);

  // The window keeps the newest residuals: two updates push out the two oldest.
  fitted = 0;
  auto sliding = cf::fit_enbpi(x, y, fit, 3, resamples,
                               cf::ensemble_aggregation::median);
  sliding.update(std::vector<double>{0, 0}, std::vector<double>{10, -10});
  CHECK(std::vector<double>(sliding.residuals().begin(), sliding.residuals().end()) ==
        std::vector<double>{2, 7.5, 12.5});
}

TEST_CASE("bootstrap resamples: reproducible, uniform, and made of blocks") {
  const auto a = cf::bootstrap_resamples(10, 2000, 3);
  CHECK(a == cf::bootstrap_resamples(10, 2000, 3));
  CHECK(a != cf::bootstrap_resamples(10, 2000, 4));
  // 20000 uniform draws over 10 rows: each count is 2000 with sd sqrt(20000 0.1 0.9) = 42.4;
  // 4.5 sd = 191. The fraction of rows a resample leaves out is (1 - 1/10)^10 = 0.3487 on average;
  // over 2000 resamples its sd is below 0.15 / sqrt(2000) = 0.0034, so 0.015 is > 4 sd.
  std::vector<int> counts(10, 0);
  double left_out = 0;
  for (const auto& rows : a) {
    std::vector<bool> seen(10, false);
    for (std::size_t r : rows) {
      counts[r] += 1;
      seen[r] = true;
    }
    left_out += static_cast<double>(std::count(seen.begin(), seen.end(), false)) / 10;
  }
  for (int c : counts) CHECK(std::abs(c - 2000) <= 191);
  CHECK(left_out / 2000 == Approx(std::pow(0.9, 10)).margin(0.015));

  // Blocks of 4 rows: positions 0-3, 4-7, 8-9 each hold consecutive rows starting in [0, 7].
  for (const auto& rows : cf::bootstrap_resamples(11, 50, 9, 4)) {
    REQUIRE(rows.size() == 11);
    for (std::size_t j = 0; j < rows.size(); ++j) {
      if (j % 4 == 0) REQUIRE(rows[j] <= 7);
      else REQUIRE(rows[j] == rows[j - 1] + 1);
    }
  }

  // fit_enbpi with a seed is fit_enbpi on bootstrap_resamples with that seed.
  const auto data = linear_sample(40, 1.0, 5);
  const least_squares fit{data.x, data.y};
  cf::enbpi_options options;
  options.models = 12;
  options.seed = 77;
  const auto seeded = cf::fit_enbpi(data.x, data.y, fit, 40, options);
  const auto resamples = cf::bootstrap_resamples(40, 12, 77);
  const auto given = cf::fit_enbpi(data.x, data.y, fit, 40,
                                   resamples);
  CHECK(std::equal(seeded.residuals().begin(), seeded.residuals().end(), given.residuals().begin(),
                   given.residuals().end()));
  CHECK(seeded.predict(0.3) == given.predict(0.3));
}

TEST_CASE("EnbPI covers about 1 - alpha online, and widens after a noise shift") {
  // Exchangeable data is the easy case of Xu & Xie's approximate validity (their Theorem 1).
  // 2000 online points: the coverage estimate has sd sqrt(0.09 / 2000) = 0.0067; we allow 0.03
  // (4.5 sd) around 0.9 for sampling and the ensemble's approximation.
  const auto train = linear_sample(200, 1.0, 21);
  cf::enbpi_options options;
  options.models = 30;
  options.seed = 8;
  auto model = cf::fit_enbpi(train.x, train.y, least_squares{train.x, train.y}, 200, options);
  const auto stream = linear_sample(2000, 1.0, 22);
  int covered = 0;
  for (std::size_t t = 0; t < stream.x.size(); ++t) {
    covered += model.predict_interval(stream.x[t], 0.1).contains(stream.y[t]) ? 1 : 0;
    model.update(std::span<const double>(stream.x).subspan(t, 1),
                 std::span<const double>(stream.y).subspan(t, 1));
  }
  CHECK(static_cast<double>(covered) / 2000 == Approx(0.9).margin(0.03));

  // Triple the noise: once 200 new residuals have replaced the old window, the interval is
  // about three times as wide (1.645 sd each side, so width ~ 3.3 -> ~ 9.9). The 0.9 quantile of
  // 200 residuals has a relative sd of about 6%, the ratio of two about 9% (0.27): we allow 1.0.
  const double before = model.predict_interval(0.0, 0.1).width();
  const auto shifted = linear_sample(200, 3.0, 23);
  model.update(shifted.x, shifted.y);
  const double after = model.predict_interval(0.0, 0.1).width();
  CHECK(after / before == Approx(3.0).margin(1.0));
}

TEST_CASE("EnbPI: bad input gets a message naming the parameter") {
  const std::vector<double> x{0, 1, 2};
  const std::vector<double> y{0, 1, 2};
  const least_squares fit{x, y};
  CHECK(message_of([] { cf::bootstrap_resamples(5, 0, 1); }) ==
        "tessera::conformal::bootstrap_resamples: models = 0; expected >= 1");
  CHECK(message_of([] { cf::bootstrap_resamples(5, 3, 1, 6); }) ==
        "tessera::conformal::bootstrap_resamples: block_length = 6; expected 1 <= block_length "
        "<= 5");
  cf::enbpi_options options;
  options.models = 0;
  CHECK(message_of([&] { cf::fit_enbpi(x, y, fit, 3, options); }) ==
        "tessera::conformal::bootstrap_resamples: models = 0; expected >= 1");
  options.models = 5;
  CHECK(message_of([&] { cf::fit_enbpi(x, y, fit, 0, options); }) ==
        "tessera::conformal::enbpi: window = 0; expected >= 1");
  const std::vector<double> short_x{0, 1};
  CHECK(message_of([&] { cf::fit_enbpi(short_x, y, fit, 3, options); }) ==
        "tessera::conformal::enbpi: features.size() = 2; expected labels.size() = 3");
  const std::vector<double> bad_y{0, std::nan(""), 2};
  CHECK(message_of([&] { cf::fit_enbpi(x, bad_y, fit, 3, options); }) ==
        "tessera::conformal::enbpi: labels[1] = nan; expected a finite number");
  const std::vector<std::vector<std::size_t>> none;
  CHECK(message_of([&] { cf::fit_enbpi(x, y, fit, 3, none); }) ==
        "tessera::conformal::enbpi: resamples.size() = 0; expected >= 1");
  const std::vector<std::vector<std::size_t>> outside{{0, 1, 3}};
  CHECK(message_of([&] { cf::fit_enbpi(x, y, fit, 3, outside); }) ==
        "tessera::conformal::enbpi: resamples[0] row = 3; expected < labels.size() = 3");
  const std::vector<std::vector<std::size_t>> everything{{0, 1, 2}, {2, 1, 0}};
  CHECK(message_of([&] { cf::fit_enbpi(x, y, fit, 3, everything); }) ==
        "tessera::conformal::enbpi: points left out of some resample = 0; expected >= 1 (every "
        "point is in every resample: draw more models)");
  const std::vector<std::vector<std::size_t>> fine{{0, 0, 1}, {1, 2, 2}};
  auto model = cf::fit_enbpi(x, y, fit, 3, fine);
  CHECK(message_of([&] { model.predict_interval(0.0, 0.0); }) ==
        "tessera::conformal::enbpi::predict_interval: alpha = 0; expected 0 < value < 1");
  CHECK(message_of([&] { model.update(x, short_x); }) ==
        "tessera::conformal::enbpi::update: features.size() = 3; expected labels.size() = 2");
  const auto not_a_number = [](std::span<const std::size_t>) {
    return [](double) { return std::nan(""); };
  };
  CHECK_THROWS_AS(cf::fit_enbpi(x, y, not_a_number, 3, fine),
                  tessera::domain_error);
}
