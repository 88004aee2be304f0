#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <tessera/conformal/metrics.hpp>
#include <tessera/conformal/split_classifier.hpp>
#include <tessera/core/random.hpp>
#include <vector>
#include <xtensor/xadapt.hpp>
#include <xtensor/xview.hpp>

#include "conformal/oracles/split_classifier_oracles.hpp"
#include "support/test_support.hpp"

namespace cf = tessera::conformal;
namespace oracle = tessera::test::split_classifier_oracles;
using tessera::test::message_of;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

// Rows [first, first + count) of a flattened oracle table with `classes` columns.
template <std::size_t N>
xt::xtensor<double, 2> table_rows(const std::array<double, N>& table, std::size_t classes,
                                  std::size_t first, std::size_t count) {
  xt::xtensor<double, 2> rows = xt::xtensor<double, 2>::from_shape({count, classes});
  std::copy_n(table.begin() + static_cast<std::ptrdiff_t>(first * classes), count * classes, rows.data());
  return rows;
}

template <std::size_t N, std::size_t M>
xt::xtensor<double, 2> pick_rows(const std::array<double, N>& table, std::size_t classes,
                                 const std::array<std::int32_t, M>& rows) {
  xt::xtensor<double, 2> picked = xt::xtensor<double, 2>::from_shape({M, classes});
  for (std::size_t i = 0; i < M; ++i)
    std::copy_n(table.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(rows[i]) * classes),
                classes, picked.data() + i * classes);
  return picked;
}

// MAPIE's sets for level number l, flattened [level][row][label], as a matrix.
// (xtensor's == compares whole containers: the tests bracket it, CHECK((a == b)), so Catch
// does not decompose it.)
template <std::size_t N>
xt::xtensor<bool, 2> oracle_sets(const std::array<bool, N>& sets, std::size_t level, std::size_t rows,
                                 std::size_t classes) {
  xt::xtensor<bool, 2> out = xt::xtensor<bool, 2>::from_shape({rows, classes});
  std::copy_n(sets.begin() + static_cast<std::ptrdiff_t>(level * rows * classes), rows * classes, out.data());
  return out;
}

const std::vector<std::int32_t> calibration_labels(oracle::labels.begin(),
                                                   oracle::labels.begin() + oracle::calibration_rows);

const xt::xtensor<double, 2> calibration = table_rows(oracle::probabilities, 4, 0, oracle::calibration_rows);
const xt::xtensor<double, 2> test = table_rows(oracle::probabilities, 4, oracle::calibration_rows, oracle::test_rows);

// A synthetic classification task: the true label distribution is softmax(z), z ~ N(0, 1.5^2 I);
// the model reports softmax(z - shift e_0), so it underrates label 0 when shift > 0. Only
// exchangeability matters for the guarantee, not whether the model is right.
struct task {
  xt::xtensor<double, 2> probabilities;
  std::vector<std::int32_t> labels;
};

task draw_task(std::size_t rows, std::size_t classes, double shift, std::uint64_t seed) {
  const tessera::random_stream logits(seed, 0), choices(seed, 1);
  task t{xt::xtensor<double, 2>::from_shape({rows, classes}), std::vector<std::int32_t>(rows)};
  std::vector<double> z(classes), truth(classes);
  for (std::size_t i = 0; i < rows; ++i) {
    double truth_sum = 0, model_sum = 0;
    for (std::size_t j = 0; j < classes; ++j) {
      z[j] = 1.5 * tessera::normal<double>(logits, i * classes + j);
      truth[j] = std::exp(z[j]);
      t.probabilities(i, j) = std::exp(z[j] - (j == 0 ? shift : 0.0));
      truth_sum += truth[j];
      model_sum += t.probabilities(i, j);
    }
    double draw = tessera::uniform<double>(choices, i) * truth_sum;
    std::size_t label = 0;
    while (label + 1 < classes && draw >= truth[label]) draw -= truth[label++];
    t.labels[i] = static_cast<std::int32_t>(label);
    for (std::size_t j = 0; j < classes; ++j) t.probabilities(i, j) /= model_sum;
  }
  return t;
}

// The mean test coverage of a score over many independent (calibration, test) draws.
template <class Score>
double mean_coverage(const Score& score, std::size_t n, std::size_t m, double alpha, int trials) {
  double total = 0;
  for (int t = 0; t < trials; ++t) {
    const auto seed = 5000 + static_cast<std::uint64_t>(t);
    const task data = draw_task(n + m, 10, 1.0, seed);
    const auto cal = xt::xtensor<double, 2>(xt::view(data.probabilities, xt::range(0, n), xt::all()));
    const auto tst = xt::xtensor<double, 2>(xt::view(data.probabilities, xt::range(n, n + m), xt::all()));
    const std::span<const std::int32_t> labels(data.labels);
    const cf::split_classifier classifier(score, cal, labels.first(n), alpha, seed);
    total += cf::set_coverage(classifier.predict(tst), labels.subspan(n));
  }
  return total / trials;
}

}  // namespace

TEST_CASE("LAC and Top-K thresholds and sets equal MAPIE's SplitConformalClassifier") {
  for (std::size_t l = 0; l < oracle::levels.size(); ++l) {
    const double alpha = 1 - oracle::levels[l];  // MAPIE's alpha, rounding included
    CAPTURE(alpha);
    const cf::split_classifier lac(cf::lac_score{}, calibration, calibration_labels, alpha, 1);
    CHECK(lac.thresholds().size() == 1);
    CHECK(lac.threshold(3) == oracle::lac_thresholds[l]);
    CHECK((lac.predict(test) == oracle_sets(oracle::lac_sets, l, oracle::test_rows, 4)));
    // MAPIE's Top-K score is the 0-based position of the label, tessera's its rank.
    const cf::split_classifier top_k(cf::top_k_score{}, calibration, calibration_labels, alpha, 1);
    CHECK(top_k.threshold(0) == oracle::top_k_thresholds[l] + 1);
    CHECK((top_k.predict(test) == oracle_sets(oracle::top_k_sets, l, oracle::test_rows, 4)));
  }
}

TEST_CASE("class-conditional LAC thresholds are MAPIE's quantile of each label's scores") {
  const cf::split_classifier_options mondrian{true, cf::row_sums::checked};
  const cf::split_classifier at_09(cf::lac_score{}, calibration, calibration_labels, 0.09, 1, mondrian);
  const cf::split_classifier at_15(cf::lac_score{}, calibration, calibration_labels, 0.15, 1, mondrian);
  REQUIRE(at_09.thresholds().size() == 4);
  for (std::int32_t y = 0; y < 4; ++y) {
    CHECK(at_09.threshold(y) == oracle::mondrian_thresholds_09[y]);
    CHECK(at_15.threshold(y) == oracle::mondrian_thresholds_15[y]);
  }
  // 10 rows of label 1: ceil(11 * 0.91) = 11 > 10, so label 1 is in every set at alpha = 0.09.
  CHECK(oracle::calibration_label_counts[1] == 10);
  CHECK(at_09.threshold(1) == inf);
  CHECK((at_09.predict(test) == oracle_sets(oracle::mondrian_sets_09, 0, oracle::test_rows, 4)));
  CHECK((at_15.predict(test) == oracle_sets(oracle::mondrian_sets_15, 0, oracle::test_rows, 4)));
}

TEST_CASE("RAPS end to end: k_reg is MAPIE's k*, the threshold MAPIE's") {
  const auto holdout = pick_rows(oracle::raps_probabilities, oracle::raps_classes, oracle::raps_holdout_rows);
  std::vector<std::int32_t> holdout_labels;
  for (const std::int32_t row : oracle::raps_holdout_rows) holdout_labels.push_back(oracle::raps_labels[row]);
  for (const bool randomized : {false, true})  // k_reg depends on the ranks alone
    CHECK(cf::select_raps_score(holdout, holdout_labels, oracle::raps_alpha, randomized, 1).k_reg ==
          oracle::raps_k_star);

  // MAPIE's threshold: its randomized RAPS scores (with its k*, lambda*) of the calibration rows,
  // m + p - u p + penalty; tessera's score at U = 1 - u is the same number within a few
  // roundings of values below 2 (4 * 2^-52 < 1e-15), and the quantile picks the same row.
  const cf::raps_score mapie_raps{oracle::raps_k_star, oracle::raps_lambda_star, true};
  std::vector<double> scores;
  std::vector<std::int32_t> scratch(oracle::raps_classes);
  for (std::size_t i = 0; i < oracle::raps_calibration_rows.size(); ++i) {
    const auto row = static_cast<std::size_t>(oracle::raps_calibration_rows[i]);
    const std::span<const double> p(oracle::raps_probabilities.data() + row * oracle::raps_classes,
                                    oracle::raps_classes);
    scores.push_back(cf::score_of(mapie_raps, p, oracle::raps_labels[row], 1 - oracle::raps_calibration_u[i],
                                  std::span<std::int32_t>(scratch)));
  }
  CHECK(cf::conformal_quantile<double>(scores, oracle::raps_alpha) ==
        Approx(oracle::raps_threshold).margin(1e-15));
}

TEST_CASE("RAPS selection: k_reg by MAPIE's formula, lambda of the smallest mean set size") {
  const auto holdout = table_rows(oracle::selection_probabilities, oracle::selection_classes, 0,
                                  oracle::selection_labels.size());
  const std::vector<std::int32_t> labels(oracle::selection_labels.begin(), oracle::selection_labels.end());
  // Mean sizes over the grid: 3.125, 3.05, 2.7, 2.65, 2.65: lambda = 0.2, the first of equals.
  const cf::raps_score chosen = cf::select_raps_score(holdout, labels, oracle::selection_alpha, false, 1);
  CHECK(chosen.k_reg == oracle::selection_k_star);
  CHECK(chosen.lambda == oracle::selection_lambda);
  CHECK_FALSE(chosen.randomized);
  // A grid of one value is returned as it is; a reordered grid finds the same minimum.
  const std::vector<double> one{0.7}, reordered{0.5, 0.2, 0.001};
  CHECK(cf::select_raps_score(holdout, labels, oracle::selection_alpha, false, 1, one).lambda == 0.7);
  CHECK(cf::select_raps_score(holdout, labels, oracle::selection_alpha, false, 1, reordered).lambda == 0.5);
  const cf::raps_score randomized = cf::select_raps_score(holdout, labels, oracle::selection_alpha, true, 1);
  CHECK(randomized.randomized);
  CHECK(std::find(cf::raps_lambda_grid.begin(), cf::raps_lambda_grid.end(), randomized.lambda) !=
        cf::raps_lambda_grid.end());
}

TEST_CASE("RAPS selection: a holdout too small for alpha gives k_reg = K") {
  const xt::xtensor<double, 2> p = {{0.6, 0.3, 0.1}, {0.2, 0.5, 0.3}, {0.1, 0.1, 0.8}, {0.4, 0.4, 0.2}, {0.3, 0.3, 0.4}};
  const std::vector<std::int32_t> y{0, 1, 2, 0, 1};
  // ceil(6 * 0.9) = 6 > 5 rows: the rank quantile is +inf.
  CHECK(cf::select_raps_score(p, y, 0.1, false, 1).k_reg == 3);
  // ceil(6 * 0.5) = 3: the third smallest of the ranks {1, 1, 1, 1, 2}.
  CHECK(cf::select_raps_score(p, y, 0.5, false, 1).k_reg == 1);
}

TEST_CASE("coverage over many draws lies in [1 - alpha, 1 - alpha + 1/(n + 1)]") {
  // n = 200, m = 100, alpha = 0.1: with continuous scores the coverage of one draw has mean
  // k/(n + 1) = 181/201 and variance <= Var Beta(181, 20) + 0.25/m... here 4.4e-4 + 9e-4
  // (F(1 - F)/m at F = 0.9), so the mean of 400 draws has standard deviation <= 0.0019:
  // 4 sigma = 0.0075. Top-K scores are ranks, with ties: only the lower bound holds.
  const std::size_t n = 200, m = 100;
  const double alpha = 0.1, tolerance = 0.0075;
  const int trials = 400;
  const double lower = 1 - alpha - tolerance, upper = 1 - alpha + 1.0 / (n + 1) + tolerance;
  const double lac = mean_coverage(cf::lac_score{}, n, m, alpha, trials);
  const double aps = mean_coverage(cf::aps_score{true}, n, m, alpha, trials);
  const double aps_deterministic = mean_coverage(cf::aps_score{false}, n, m, alpha, trials);
  const double raps = mean_coverage(cf::raps_score{2, 0.05, true}, n, m, alpha, trials);
  const double top_k = mean_coverage(cf::top_k_score{}, n, m, alpha, trials);
  CHECK(lac >= lower);
  CHECK(lac <= upper);
  CHECK(aps >= lower);
  CHECK(aps <= upper);
  CHECK(aps_deterministic >= lower);
  CHECK(aps_deterministic <= upper);
  CHECK(raps >= lower);
  CHECK(raps <= upper);
  CHECK(top_k >= lower);
}

TEST_CASE("class-conditional calibration covers every label where marginal calibration does not") {
  // The model underrates label 0 (shift 1.5), so marginal LAC under-covers the rows of label 0.
  // Per label, about n/3 = 200 calibration and m/3 = 100 test rows a draw: the per-draw coverage
  // has variance <= Var Beta + 0.09/100 ~ 4.4e-4 + 9e-4; over 300 draws 4 sigma <= 0.009.
  const std::size_t n = 600, m = 300, classes = 3;
  const double alpha = 0.1;
  const int trials = 300;
  std::vector<double> marginal(classes), mondrian(classes);
  for (int t = 0; t < trials; ++t) {
    const auto seed = 9000 + static_cast<std::uint64_t>(t);
    const task data = draw_task(n + m, classes, 1.5, seed);
    const auto cal = xt::xtensor<double, 2>(xt::view(data.probabilities, xt::range(0, n), xt::all()));
    const auto tst = xt::xtensor<double, 2>(xt::view(data.probabilities, xt::range(n, n + m), xt::all()));
    const std::span<const std::int32_t> labels(data.labels);
    const cf::split_classifier plain(cf::lac_score{}, cal, labels.first(n), alpha, seed);
    const cf::split_classifier per_label(cf::lac_score{}, cal, labels.first(n), alpha, seed,
                                         {true, cf::row_sums::checked});
    const auto plain_by_label = cf::class_conditional_coverage(plain.predict(tst), labels.subspan(n));
    const auto mondrian_by_label = cf::class_conditional_coverage(per_label.predict(tst), labels.subspan(n));
    for (std::size_t y = 0; y < classes; ++y) {
      marginal[y] += plain_by_label[y].coverage / trials;
      mondrian[y] += mondrian_by_label[y].coverage / trials;
    }
  }
  for (std::size_t y = 0; y < classes; ++y) {
    CAPTURE(y, marginal[y], mondrian[y]);
    CHECK(mondrian[y] >= 1 - alpha - 0.009);
    CHECK(mondrian[y] <= 1 - alpha + 0.02);  // 1/(n_y + 1) ~ 0.005 above, plus 4 sigma
  }
  CHECK(marginal[0] < 1 - alpha - 0.05);  // what the class-conditional thresholds repair
}

TEST_CASE("sets are reproducible and batches with first_row draw as one call") {
  const task data = draw_task(500, 6, 0.5, 77);
  const auto cal = xt::xtensor<double, 2>(xt::view(data.probabilities, xt::range(0, 300), xt::all()));
  const auto tst = xt::xtensor<double, 2>(xt::view(data.probabilities, xt::range(300, 500), xt::all()));
  const std::span<const std::int32_t> labels(data.labels);
  const cf::split_classifier classifier(cf::aps_score{true}, cal, labels.first(300), 0.1, 42);
  const auto whole = classifier.predict(tst);
  CHECK((classifier.predict(tst) == whole));
  const auto head = xt::xtensor<double, 2>(xt::view(tst, xt::range(0, 120), xt::all()));
  const auto tail = xt::xtensor<double, 2>(xt::view(tst, xt::range(120, 200), xt::all()));
  CHECK((classifier.predict(head) == xt::view(whole, xt::range(0, 120), xt::all())));
  CHECK((classifier.predict(tail, 120) == xt::view(whole, xt::range(120, 200), xt::all())));
  // The calibration draws are fixed by the seed: calibration_scores reproduces the threshold.
  const auto scores = cf::calibration_scores(cf::aps_score{true}, cal, labels.first(300), 42);
  CHECK(cf::conformal_quantile<double>(scores, 0.1) == classifier.threshold(0));
  // Another seed draws other u, so other randomized sets.
  const cf::split_classifier other(cf::aps_score{true}, cal, labels.first(300), 0.1, 43);
  CHECK((other.predict(tst) != whole));
}

TEST_CASE("predict_into writes predict's sets into a reused buffer, batch after batch") {
  const task data = draw_task(500, 6, 0.5, 78);
  const auto cal = xt::xtensor<double, 2>(xt::view(data.probabilities, xt::range(0, 300), xt::all()));
  const auto tst = xt::xtensor<double, 2>(xt::view(data.probabilities, xt::range(300, 500), xt::all()));
  const std::span<const std::int32_t> labels(data.labels);
  const auto check_score = [&](const auto& score, cf::split_classifier_options options) {
    const cf::split_classifier classifier(score, cal, labels.first(300), 0.1, 42, options);
    const auto whole = classifier.predict(tst);
    // One buffer of 100 rows, filled with the opposite of the answer first, takes both halves.
    auto buffer = xt::xtensor<bool, 2>::from_shape({100, 6});
    for (std::size_t first = 0; first < 200; first += 100) {
      buffer = !xt::view(whole, xt::range(first, first + 100), xt::all());
      const auto batch = xt::xtensor<double, 2>(xt::view(tst, xt::range(first, first + 100), xt::all()));
      classifier.predict_into(batch, tessera::matrix_view<bool>{buffer.data(), 100, 6}, first);
      CAPTURE(first);
      CHECK((buffer == xt::view(whole, xt::range(first, first + 100), xt::all())));
    }
  };
  check_score(cf::aps_score{true}, {});
  check_score(cf::raps_score{1, 0.05, false}, {});
  check_score(cf::lac_score{}, {.class_conditional = true});
}

TEST_CASE("thresholds are the exact scores' order statistics, also where many scores tie") {
  // Calibration ranks most rows by intervals that hold their scores, and scores exactly only the
  // rows that could be the quantile: the thresholds must be those of calibration_scores. Coarse
  // rows (probabilities k/8, so many equal scores, ties at the quantile) and continuous ones.
  const task continuous = draw_task(600, 7, 0.3, 91);
  task coarse{xt::xtensor<double, 2>::from_shape({600, 4}), continuous.labels};
  const tessera::random_stream cuts(92);
  for (std::size_t i = 0; i < 600; ++i) {
    const auto a = static_cast<int>(tessera::uniform<double>(cuts, i) * 5);  // 0..4 eighths, then the rest
    const double row[4] = {a / 8.0, (4 - a) / 8.0, 0.25, 0.25};
    for (std::size_t j = 0; j < 4; ++j) coarse.probabilities(i, j) = row[j];
    coarse.labels[i] %= 4;
  }
  const auto check = [&](const task& data, const auto& score) {
    for (const double alpha : {0.05, 0.1, 0.3}) {
      for (const bool conditional : {false, true}) {
        const cf::split_classifier classifier(score, data.probabilities, data.labels, alpha, 5,
                                              cf::split_classifier_options{conditional});
        const auto scores = cf::calibration_scores(score, data.probabilities, data.labels, 5);
        const std::size_t classes = data.probabilities.shape()[1];
        for (std::size_t y = 0; y < (conditional ? classes : 1); ++y) {
          std::vector<double> group;
          for (std::size_t i = 0; i < scores.size(); ++i)
            if (!conditional || data.labels[i] == static_cast<std::int32_t>(y)) group.push_back(scores[i]);
          const double expected =
              group.empty() ? inf : cf::order_statistic_in_place(std::span<double>(group), cf::upper_rank(group.size(), alpha));
          CAPTURE(alpha, conditional, y);
          CHECK(classifier.threshold(static_cast<std::int32_t>(y)) == expected);
        }
      }
    }
  };
  for (const task* data : std::array<const task*, 2>{&continuous, &coarse}) {
    check(*data, cf::aps_score{true});
    check(*data, cf::aps_score{false});
    check(*data, cf::raps_score{1, 0.05, false});
    check(*data, cf::top_k_score{});
    check(*data, cf::lac_score{});
  }
}

TEST_CASE("float and xt::adapt over a caller's buffer work like double containers") {
  const task data = draw_task(400, 5, 0.0, 3);
  std::vector<float> buffer(data.probabilities.begin(), data.probabilities.end());
  const std::vector<std::size_t> shape{400, 5};
  const auto adapted = xt::adapt(buffer.data(), buffer.size(), xt::no_ownership(), shape);
  const std::span<const std::int32_t> labels(data.labels);
  // Float roundings can push a row sum off 1 by a few 1e-8, far inside the 1e-6 tolerance.
  const cf::split_classifier classifier(cf::raps_score{}, adapted, labels, 0.1, 9);
  const auto sets = classifier.predict(adapted);
  CHECK(sets.shape()[0] == 400);
  CHECK(cf::set_coverage(sets, labels) >= 0.9);  // in-sample: at least the k/(n+1) rows
}

TEST_CASE("renormalized rows: scaling a row by a power of two changes nothing") {
  const task data = draw_task(300, 4, 0.0, 21);
  const xt::xtensor<double, 2> scaled = data.probabilities * 4.0;
  const cf::split_classifier_options renormalize{false, cf::row_sums::renormalized};
  const cf::split_classifier from_scaled(cf::aps_score{true}, scaled, data.labels, 0.2, 5, renormalize);
  const cf::split_classifier from_original(cf::aps_score{true}, data.probabilities, data.labels, 0.2, 5, renormalize);
  CHECK(from_scaled.threshold(0) == from_original.threshold(0));
  CHECK((from_scaled.predict(scaled) == from_original.predict(data.probabilities)));
}

TEST_CASE("bad input gets a message naming the parameter") {
  const xt::xtensor<double, 2> p = {{0.5, 0.3, 0.2}, {0.1, 0.6, 0.3}, {0.2, 0.2, 0.6}};
  const std::vector<std::int32_t> y{0, 1, 2};
  const auto make = [&](const xt::xtensor<double, 2>& probabilities, std::vector<std::int32_t> labels,
                        double alpha, auto score) {
    return message_of([&] { cf::split_classifier(score, probabilities, labels, alpha, 1); });
  };
  const std::string where = "tessera::conformal::split_classifier: ";
  CHECK(make(p, y, 0.0, cf::lac_score{}) == where + "alpha = 0; expected 0 < value < 1");
  CHECK(make(xt::xtensor<double, 2>::from_shape({0, 3}), {}, 0.1, cf::lac_score{}) ==
        where + "probabilities.shape()[0] = 0; expected >= 1 (a calibration row)");
  CHECK(make(xt::xtensor<double, 2>{{0.5, 0.3, 0.2}, {0.5, 0.3, 0.3}}, {0, 1}, 0.1, cf::lac_score{}) ==
        where + "the sum of probabilities row 1 = 1.1; expected 1 within 1e-6 (or row_sums::renormalized)");
  CHECK(make(xt::xtensor<double, 2>{{0.5, 0.5, std::nan("")}}, {0}, 0.1, cf::lac_score{}) ==
        where + "probabilities(0, 2) = nan; expected a finite number >= 0");
  CHECK(make(xt::xtensor<double, 2>{{0.6, 0.5, -0.1}}, {0}, 0.1, cf::lac_score{}) ==
        where + "probabilities(0, 2) = -0.1; expected a finite number >= 0");
  CHECK(make(p, {0, 3, 1}, 0.1, cf::lac_score{}) == where + "labels[1] = 3; expected 0 <= labels[1] <= 2");
  CHECK(make(p, {0, 1}, 0.1, cf::lac_score{}) == where + "labels.size() = 2; expected probabilities.shape()[0] = 3");
  CHECK(make(p, y, 0.1, cf::raps_score{-1, 0.01, true}) == where + "k_reg = -1; expected >= 0");
  CHECK(make(p, y, 0.1, cf::raps_score{1, -0.5, true}) == where + "lambda = -0.5; expected a finite number >= 0");

  const cf::split_classifier classifier(cf::lac_score{}, p, y, 0.5, 1);
  CHECK(message_of([&] { classifier.predict(xt::xtensor<double, 2>{{0.5, 0.5}}); }) ==
        "tessera::conformal::split_classifier::predict: probabilities.shape()[1] = 2; expected the "
        "calibration's K = 3");
  bool mask[6];
  CHECK(message_of([&] { classifier.predict_into(p, tessera::matrix_view<bool>{mask, 2, 3}); }) ==
        "tessera::conformal::split_classifier::predict_into: sets shape = 2 x 3; expected the "
        "probabilities' shape 3 x 3");
  CHECK(message_of([&] { classifier.predict_into(p, tessera::matrix_view<bool>{nullptr, 3, 3}); }) ==
        "tessera::conformal::split_classifier::predict_into: sets.data = null; expected memory for the mask");
  CHECK(message_of([&] {
          classifier.predict_into(xt::xtensor<double, 2>{{0.5, 0.5}}, tessera::matrix_view<bool>{mask, 1, 2});
        }) == "tessera::conformal::split_classifier::predict_into: probabilities.shape()[1] = 2; expected the "
              "calibration's K = 3");
  // predict checks each row as it builds the sets, rows in parallel where OpenMP is on: the
  // message must still name what the checks name (an invalid entry anywhere before a bad sum).
  xt::xtensor<double, 2> many = xt::xtensor<double, 2>::from_shape({1000, 3});
  for (std::size_t i = 0; i < 1000; ++i) xt::view(many, i, xt::all()) = xt::view(p, i % 3, xt::all());
  xt::view(many, 3, xt::all()) = 0.5;
  CHECK(message_of([&] { classifier.predict(many); }) ==
        "tessera::conformal::split_classifier::predict: the sum of probabilities row 3 = 1.5; expected 1 within 1e-6 "
        "(or row_sums::renormalized)");
  many(900, 1) = std::nan("");
  CHECK(message_of([&] { classifier.predict(many); }) ==
        "tessera::conformal::split_classifier::predict: probabilities(900, 1) = nan; expected a finite number >= 0");
  const cf::split_classifier_options renormalize{false, cf::row_sums::renormalized};
  CHECK(message_of([&] { cf::split_classifier(cf::lac_score{}, xt::xtensor<double, 2>{{0.0, 0.0}}, std::vector<std::int32_t>{0}, 0.1, 1, renormalize); }) ==
        where + "the sum of probabilities row 0 = 0; expected > 0 to renormalize");
  const std::vector<double> negative_grid{0.1, -1.0};
  CHECK(message_of([&] { cf::select_raps_score(p, y, 0.1, true, 1, negative_grid); }) ==
        "tessera::conformal::select_raps_score: lambda = -1; expected a finite number >= 0");
  CHECK(message_of([&] { cf::select_raps_score(p, y, 0.1, true, 1, std::span<const double>()); }) ==
        "tessera::conformal::select_raps_score: lambda_grid.size() = 0; expected >= 1");
  CHECK(message_of([&] { cf::calibration_scores(cf::aps_score{}, p, std::vector<std::int32_t>{0, 1, -1}, 1); }) ==
        "tessera::conformal::calibration_scores: labels[2] = -1; expected 0 <= labels[2] <= 2");
}
