#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <tessera/conformal/p_values.hpp>
#include <tessera/conformal/split_classifier.hpp>
#include <tessera/core/random.hpp>
#include <vector>
#include <xtensor/xview.hpp>

#include "conformal/oracles/p_values_oracles.hpp"
#include "support/test_support.hpp"

namespace cf = tessera::conformal;
namespace oracle = tessera::test::p_values_oracles;
using tessera::test::message_of;

namespace {

xt::xtensor<double, 2> oracle_rows(std::size_t first, std::size_t count) {
  auto rows = xt::xtensor<double, 2>::from_shape({count, oracle::classes});
  std::copy_n(oracle::probabilities.begin() + static_cast<std::ptrdiff_t>(first * oracle::classes),
              count * oracle::classes, rows.data());
  return rows;
}

const xt::xtensor<double, 2> calibration = oracle_rows(0, oracle::calibration_rows);
const xt::xtensor<double, 2> test = oracle_rows(oracle::calibration_rows, oracle::test_rows);
const std::vector<std::int32_t> calibration_labels(oracle::labels.begin(),
                                                   oracle::labels.begin() + oracle::calibration_rows);

// Rows of K probabilities from softmax(1.5 z) with labels drawn from them.
struct task {
  xt::xtensor<double, 2> probabilities;
  std::vector<std::int32_t> labels;
};

task draw_task(std::size_t rows, std::size_t classes, std::uint64_t seed) {
  const tessera::random_stream logits(seed, 0), choices(seed, 1);
  task t{xt::xtensor<double, 2>::from_shape({rows, classes}), std::vector<std::int32_t>(rows)};
  for (std::size_t i = 0; i < rows; ++i) {
    double sum = 0;
    for (std::size_t j = 0; j < classes; ++j) {
      t.probabilities(i, j) = std::exp(1.5 * tessera::normal<double>(logits, i * classes + j));
      sum += t.probabilities(i, j);
    }
    double draw = tessera::uniform<double>(choices, i);
    std::size_t label = 0;
    for (std::size_t j = 0; j < classes; ++j) t.probabilities(i, j) /= sum;
    while (label + 1 < classes && draw >= t.probabilities(i, label)) draw -= t.probabilities(i, label++);
    t.labels[i] = static_cast<std::int32_t>(label);
  }
  return t;
}

// The p-values of the true labels of single test points, each with its own calibration set
// of n rows: over many draws these are exchangeable with their calibration scores.
template <class Score>
std::vector<double> true_label_p_values(const Score& score, std::size_t n, int trials, bool smoothed) {
  std::vector<double> p;
  for (int t = 0; t < trials; ++t) {
    const auto seed = 300 + static_cast<std::uint64_t>(t);
    const task data = draw_task(n + 1, 6, seed);
    const auto cal = xt::xtensor<double, 2>(xt::view(data.probabilities, xt::range(0, n), xt::all()));
    const auto tst = xt::xtensor<double, 2>(xt::view(data.probabilities, xt::range(n, n + 1), xt::all()));
    const auto scores = cf::calibration_scores(score, cal, std::span<const std::int32_t>(data.labels).first(n), seed);
    const auto values = cf::conformal_p_values(score, scores, tst, seed, {smoothed, 0, cf::row_sums::checked});
    p.push_back(values(0, static_cast<std::size_t>(data.labels[n])));
  }
  return p;
}

}  // namespace

TEST_CASE("p-values equal counts against MAPIE's LAC and Top-K calibration scores") {
  const auto lac_scores = cf::calibration_scores(cf::lac_score{}, calibration, calibration_labels, 1);
  const auto top_k_scores = cf::calibration_scores(cf::top_k_score{}, calibration, calibration_labels, 1);
  for (std::size_t i = 0; i < oracle::calibration_rows; ++i) {
    CHECK(lac_scores[i] == oracle::lac_calibration_scores[i]);
    CHECK(top_k_scores[i] == oracle::top_k_calibration_scores[i] + 1);
  }
  const auto lac = cf::conformal_p_values(cf::lac_score{}, std::span<const double>(lac_scores), test, 1);
  const auto top_k = cf::conformal_p_values(cf::top_k_score{}, std::span<const double>(top_k_scores), test, 1);
  for (std::size_t j = 0; j < oracle::test_rows; ++j)
    for (std::size_t y = 0; y < oracle::classes; ++y) {
      CAPTURE(j, y);
      CHECK(lac(j, y) == oracle::lac_p_values[j * oracle::classes + y]);
      CHECK(top_k(j, y) == oracle::top_k_p_values[j * oracle::classes + y]);
    }
}

TEST_CASE("{y : p_y > alpha} is the split-conformal set of the same scores and seed") {
  const task data = draw_task(700, 8, 17);
  const auto cal = xt::xtensor<double, 2>(xt::view(data.probabilities, xt::range(0, 500), xt::all()));
  const auto tst = xt::xtensor<double, 2>(xt::view(data.probabilities, xt::range(500, 700), xt::all()));
  const auto labels = std::span<const std::int32_t>(data.labels).first(500);
  // 501 alpha is no integer for these alpha, so the rounding of p cannot decide a comparison.
  for (const double alpha : {0.05, 0.1, 0.25}) {
    const cf::raps_score raps{2, 0.02, true};
    const cf::split_classifier classifier(raps, cal, labels, alpha, 23);
    const auto scores = cf::calibration_scores(raps, cal, labels, 23);
    const auto p = cf::conformal_p_values(raps, std::span<const double>(scores), tst, 23);
    CHECK(((p > alpha) == classifier.predict(tst)));
  }
}

TEST_CASE("true-label p-values: plain ones are super-uniform, smoothed ones uniform even with ties") {
  // 3000 draws of (50 calibration rows, one test row). Plain p-values take the values
  // j / 51 with P(p <= j / 51) = j / 51 for continuous scores, <= with ties; the smoothed ones are
  // U(0, 1) exactly. The Kolmogorov-Smirnov statistic of a U(0, 1) sample of 3000 exceeds
  // ks_critical (1.95 / sqrt(3000) = 0.036) with probability 0.001.
  const std::size_t n = 50;
  const int trials = 3000;
  for (const bool lac : {true, false}) {
    CAPTURE(lac);
    // Top-K scores are ranks among 6 labels: heavily tied, the case smoothing exists for.
    const auto smoothed = lac ? true_label_p_values(cf::lac_score{}, n, trials, true)
                              : true_label_p_values(cf::top_k_score{}, n, trials, true);
    CHECK(tessera::test::ks_uniform(smoothed) < tessera::test::ks_critical(smoothed.size()));
    const auto plain = lac ? true_label_p_values(cf::lac_score{}, n, trials, false)
                           : true_label_p_values(cf::top_k_score{}, n, trials, false);
    // P(p <= t) <= t at t = 5/51, 10/51, 25/51: binomial standard deviation <= 0.0092, 4 sigma.
    for (const int j : {5, 10, 25}) {
      const double t = j / 51.0;
      const auto below = std::count_if(plain.begin(), plain.end(), [&](double p) { return p <= t + 1e-12; });
      CHECK(static_cast<double>(below) / trials <= t + 0.037);
    }
  }
}

TEST_CASE("smoothing only lowers a p-value, by at most (1 + ties) / (n + 1)") {
  const task data = draw_task(260, 5, 29);
  const auto cal = xt::xtensor<double, 2>(xt::view(data.probabilities, xt::range(0, 200), xt::all()));
  const auto tst = xt::xtensor<double, 2>(xt::view(data.probabilities, xt::range(200, 260), xt::all()));
  const auto scores = cf::calibration_scores(cf::top_k_score{}, cal, std::span<const std::int32_t>(data.labels).first(200), 2);
  const auto plain = cf::conformal_p_values(cf::top_k_score{}, std::span<const double>(scores), tst, 2);
  const auto smoothed = cf::conformal_p_values(cf::top_k_score{}, std::span<const double>(scores), tst, 2,
                                               {true, 0, cf::row_sums::checked});
  std::vector<std::int32_t> scratch(5);
  for (std::size_t j = 0; j < 60; ++j)
    for (std::size_t y = 0; y < 5; ++y) {
      const auto row = std::span<const double>(tst.data() + j * 5, 5);
      const double s = cf::score_of(cf::top_k_score{}, row, static_cast<std::int32_t>(y), 0.0, std::span<std::int32_t>(scratch));
      const auto ties = std::count(scores.begin(), scores.end(), s);
      CHECK(smoothed(j, y) <= plain(j, y));
      CHECK(smoothed(j, y) >= plain(j, y) - (1.0 + static_cast<double>(ties)) / 201 - 1e-15);
    }
}

TEST_CASE("p-values of a test set in batches equal those of one call") {
  const task data = draw_task(300, 4, 31);
  const auto cal = xt::xtensor<double, 2>(xt::view(data.probabilities, xt::range(0, 200), xt::all()));
  const auto tst = xt::xtensor<double, 2>(xt::view(data.probabilities, xt::range(200, 300), xt::all()));
  const auto scores = cf::calibration_scores(cf::aps_score{}, cal, std::span<const std::int32_t>(data.labels).first(200), 4);
  const cf::p_value_options smoothed{true, 0, cf::row_sums::checked};
  const auto whole = cf::conformal_p_values(cf::aps_score{}, std::span<const double>(scores), tst, 4, smoothed);
  const auto tail = xt::xtensor<double, 2>(xt::view(tst, xt::range(40, 100), xt::all()));
  const auto batch = cf::conformal_p_values(cf::aps_score{}, std::span<const double>(scores), tail, 4,
                                            {true, 40, cf::row_sums::checked});
  CHECK((batch == xt::view(whole, xt::range(40, 100), xt::all())));
}

TEST_CASE("p-values: bad input gets a message naming the parameter") {
  const std::string where = "tessera::conformal::conformal_p_values: ";
  const std::vector<double> empty, with_nan{0.1, std::nan("")}, scores{0.1, 0.2};
  CHECK(message_of([&] { cf::conformal_p_values(cf::lac_score{}, std::span<const double>(empty), test, 1); }) ==
        where + "calibration_scores.size() = 0; expected >= 1");
  CHECK(message_of([&] { cf::conformal_p_values(cf::lac_score{}, std::span<const double>(with_nan), test, 1); }) ==
        where + "calibration_scores[1] = nan; expected a number (not NaN)");
  CHECK(message_of([&] {
          cf::conformal_p_values(cf::lac_score{}, std::span<const double>(scores),
                                 xt::xtensor<double, 2>{{0.5, 0.6}}, 1);
        }) == where + "the sum of test_probabilities row 0 = 1.1; expected 1 within 1e-6 (or row_sums::renormalized)");
  CHECK(message_of([&] {
          cf::conformal_p_values(cf::raps_score{1, std::nan(""), true}, std::span<const double>(scores), test, 1);
        }) == where + "lambda = nan; expected a finite number >= 0");
}
