#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <span>
#include <tessera/conformal/risk_control.hpp>
#include <tessera/core/random.hpp>
#include <vector>
#include <xtensor/xadapt.hpp>
#include <xtensor/xtensor.hpp>

#include "conformal/oracles/risk_control_oracles.hpp"
#include "support/test_support.hpp"

namespace cf = tessera::conformal;
namespace oracle = tessera::test::risk_control_oracles;
using tessera::test::message_of;

namespace {

template <class T, std::size_t N>
xt::xtensor<T, 2> matrix(const std::array<double, N>& values, std::size_t rows, std::size_t cols) {
  auto m = xt::xtensor<T, 2>::from_shape({rows, cols});
  for (std::size_t i = 0; i < N; ++i) m.data()[i] = static_cast<T>(values[i]);
  return m;
}

// A tiny table: 4 points, lambda in {0, 0.5, 1}. Column sums 3.5, 2, 0; with B = 1 the adjusted
// risks (sum + 1) / 5 are 0.9, 0.6, 0.2.
xt::xtensor<double, 2> tiny_table() {
  return {{1.0, 0.5, 0.0}, {1.0, 0.0, 0.0}, {0.5, 0.5, 0.0}, {1.0, 1.0, 0.0}};
}

const std::vector<double> tiny_grid{0.0, 0.5, 1.0};

struct multilabel_data {
  xt::xtensor<double, 2> probabilities;
  xt::xtensor<double, 2> labels;
};

// Marginal probabilities p_k ~ U(0, 1) and labels y_k ~ Bernoulli(p_k); a row with no true label
// gets its most probable one (the same rule for every row keeps the rows exchangeable).
multilabel_data draw_multilabel(std::size_t n, std::size_t k, const tessera::random_stream& stream,
                                std::uint64_t first) {
  multilabel_data d{xt::xtensor<double, 2>::from_shape({n, k}),
                    xt::xtensor<double, 2>::from_shape({n, k})};
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t most_probable = 0;
    bool any = false;
    for (std::size_t j = 0; j < k; ++j) {
      const std::uint64_t draw = first + 2 * (i * k + j);
      d.probabilities(i, j) = tessera::uniform<double>(stream, draw);
      const bool positive = tessera::uniform<double>(stream, draw + 1) < d.probabilities(i, j);
      d.labels(i, j) = positive ? 1.0 : 0.0;
      any = any || d.labels(i, j) == 1;
      if (d.probabilities(i, j) > d.probabilities(i, most_probable)) most_probable = j;
    }
    if (!any) d.labels(i, most_probable) = 1;
  }
  return d;
}

}  // namespace

TEST_CASE("CRC of the multilabel false-negative rate reproduces MAPIE's CRC controller") {
  // MAPIE's MultiLabelClassificationController(risk="recall", method="crc"). Its bound per lambda
  // is (n / (n + 1)) mean + 1 / (n + 1), ours (sum + 1) / (n + 1): equal up to rounding (1e-12).
  // The choices agree exactly: the script keeps every bound away from alpha.
  const auto p = matrix<double>(oracle::probabilities, oracle::n, oracle::labels_per_row);
  const auto y = matrix<double>(oracle::labels, oracle::n, oracle::labels_per_row);
  const std::span<const double> lambdas(oracle::lambdas);
  const auto losses = cf::false_negative_rate_table(p, y, lambdas);
  REQUIRE(losses.shape()[1] == oracle::grid_size);
  for (std::size_t j = 0; j < oracle::grid_size; ++j) {
    double sum = 0;
    for (std::size_t i = 0; i < oracle::n; ++i) sum += losses(i, j);
    CHECK((sum + 1) / (oracle::n + 1) == Approx(oracle::adjusted_risks[j]).margin(1e-12));
  }
  for (std::size_t a = 0; a < oracle::alphas.size(); ++a) {
    const auto choice = cf::conformal_risk_control(losses, lambdas, oracle::alphas[a]);
    CHECK(choice.controlled);
    CHECK(choice.lambda == oracle::chosen_lambdas[a]);
    CHECK(choice.adjusted_risk == Approx(oracle::adjusted_risks[choice.index]).margin(1e-12));
    CHECK(choice.adjusted_risk <= oracle::alphas[a]);
    if (choice.index > 0) CHECK(oracle::adjusted_risks[choice.index - 1] > oracle::alphas[a]);
  }
}

TEST_CASE("CRC on a hand-computed table: the first lambda with (sum + B) / (n + 1) <= alpha") {
  const auto table = tiny_table();
  const std::span<const double> grid(tiny_grid);
  auto choice = cf::conformal_risk_control(table, grid, 0.7);
  CHECK(choice.index == 1);
  CHECK(choice.lambda == 0.5);
  CHECK(choice.adjusted_risk == Approx(0.6).epsilon(1e-15));
  // The bound is <= alpha, as the paper writes it: equality qualifies (3 / 5 rounds to the same
  // double as 0.6). MAPIE asks for < alpha and would take lambda = 1 here.
  CHECK(cf::conformal_risk_control(table, grid, 0.6).index == 1);
  CHECK(cf::conformal_risk_control(table, grid, 0.5).index == 2);
  CHECK(cf::conformal_risk_control(table, grid, 0.95).index == 0);
  // alpha below B / (n + 1) = 0.2 cannot be met: the largest lambda, flagged.
  const auto infeasible = cf::conformal_risk_control(table, grid, 0.1);
  CHECK_FALSE(infeasible.controlled);
  CHECK(infeasible.lambda == 1.0);
  CHECK(infeasible.adjusted_risk == Approx(0.2).epsilon(1e-15));
  // Losses bounded by B = 2: (sum + 2) / 5 = 1.1, 0.8, 0.4.
  CHECK(cf::conformal_risk_control(table, grid, 0.8, 2.0).index == 1);
  CHECK(cf::conformal_risk_control(table, grid, 0.79, 2.0).index == 2);
  // Any row-major container: an adaptor over the caller's buffer, and float.
  std::vector<float> buffer{1.0f, 0.5f, 0.0f, 1.0f, 0.0f, 0.0f, 0.5f, 0.5f, 0.0f, 1.0f, 1.0f, 0.0f};
  const auto adapted = xt::adapt(buffer.data(), buffer.size(), xt::no_ownership(),
                                 std::array<std::size_t, 2>{4, 3});
  const std::vector<float> float_grid{0.0f, 0.5f, 1.0f};
  CHECK(cf::conformal_risk_control(adapted, std::span<const float>(float_grid), 0.7).index == 1);
}

TEST_CASE("the false-negative rate and its sets") {
  const std::vector<double> p{0.9, 0.5, 0.2};
  const std::vector<double> y{1, 0, 1};
  CHECK(cf::multilabel_set<double>(p, 0.5) == std::vector<std::size_t>{0, 1});
  CHECK(cf::false_negative_rate<double>(p, y, 0.5) == 0.5);
  CHECK(cf::false_negative_rate<double>(p, y, 0.05) == 1.0);  // threshold 0.95: the empty set
  CHECK(cf::false_negative_rate<double>(p, y, 0.85) == 0.0);  // threshold 0.15: every label
  // The table agrees with the one-example function.
  const xt::xtensor<double, 2> probabilities{{0.9, 0.5, 0.2}, {0.1, 0.7, 0.65}};
  const xt::xtensor<double, 2> labels{{1, 0, 1}, {1, 1, 1}};
  const std::vector<double> grid{0.0, 0.2, 0.32, 0.5, 0.85, 0.95};
  const auto table =
      cf::false_negative_rate_table(probabilities, labels, std::span<const double>(grid));
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < grid.size(); ++j) {
      const std::vector<double> pi{probabilities(i, 0), probabilities(i, 1), probabilities(i, 2)};
      const std::vector<double> yi{labels(i, 0), labels(i, 1), labels(i, 2)};
      CHECK(table(i, j) == cf::false_negative_rate<double>(pi, yi, grid[j]));
    }
  CHECK(table(1, 2) == Approx(2.0 / 3));  // threshold 0.68: only 0.7 of 0.1, 0.7, 0.65
}

TEST_CASE("CRC by bisection lands within the tolerance above the grid's infimum") {
  // With the loss evaluated at any lambda, lambda_hat is the smallest lambda meeting the bound; the
  // result must meet it and fail it one tolerance lower. It cannot exceed MAPIE's coarse choice.
  const auto p = matrix<double>(oracle::probabilities, oracle::n, oracle::labels_per_row);
  const auto y = matrix<double>(oracle::labels, oracle::n, oracle::labels_per_row);
  const auto loss = [&](std::size_t i, double lambda) {
    const std::span<const double> pi(&p(i, 0), oracle::labels_per_row);
    const std::span<const double> yi(&y(i, 0), oracle::labels_per_row);
    return cf::false_negative_rate(pi, yi, lambda);
  };
  const auto adjusted = [&](double lambda) {
    double sum = 0;
    for (std::size_t i = 0; i < oracle::n; ++i) sum += loss(i, lambda);
    return (sum + 1) / (oracle::n + 1);
  };
  const double tolerance = 1e-9;
  for (std::size_t a = 0; a < oracle::alphas.size(); ++a) {
    const double alpha = oracle::alphas[a];
    const auto result =
        cf::conformal_risk_control_bisection(oracle::n, loss, 0.0, 1.0, tolerance, alpha);
    CHECK(result.controlled);
    CHECK(result.adjusted_risk == adjusted(result.lambda));
    CHECK(result.adjusted_risk <= alpha);
    CHECK(adjusted(result.lambda - tolerance) > alpha);
    CHECK(result.lambda <= oracle::chosen_lambdas[a]);
  }
  // The two ends: met at lo, and never met.
  const auto at_lo =
      cf::conformal_risk_control_bisection(oracle::n, loss, 0.99, 1.0, tolerance, 0.5);
  CHECK(at_lo.lambda == 0.99);
  const auto never =
      cf::conformal_risk_control_bisection(oracle::n, loss, 0.0, 1.0, tolerance, 0.01);
  CHECK_FALSE(never.controlled);
  CHECK(never.lambda == 1.0);
}

TEST_CASE("CRC controls the expected false-negative rate over many seeded splits") {
  // Theorem 1 of the paper: E[L_test(lambda_hat)] <= alpha over calibration and test draws. 1000
  // splits of 100 calibration and 100 test points (10 labels each); the estimate's standard error
  // is measured from the splits (0.0006 here) and we allow 4 of them above alpha. This run gives
  // 0.0887. The paper's lower bound alpha - 2B/(n + 1) = 0.080 needs losses without jumps; ours
  // jump by 1/|Y| and the grid is 0.01 apart, so the check below it (0.06) only rules out a
  // vacuous, over-conservative lambda.
  const std::size_t n = 100, k = 10, splits = 1000;
  const double alpha = 0.1;
  std::vector<double> grid(101);
  for (std::size_t j = 0; j < grid.size(); ++j) grid[j] = static_cast<double>(j) / 100;
  double sum = 0, sum_of_squares = 0;
  for (std::size_t s = 0; s < splits; ++s) {
    const tessera::random_stream stream(2024, static_cast<std::uint32_t>(s));
    const auto calibration = draw_multilabel(n, k, stream, 0);
    const auto test = draw_multilabel(n, k, stream, 2 * n * k);
    const auto table = cf::false_negative_rate_table(calibration.probabilities, calibration.labels,
                                                     std::span<const double>(grid));
    const auto choice = cf::conformal_risk_control(table, std::span<const double>(grid), alpha);
    REQUIRE(choice.controlled);
    const std::vector<double> chosen{choice.lambda};
    const auto test_losses = cf::false_negative_rate_table(test.probabilities, test.labels,
                                                           std::span<const double>(chosen));
    double mean = 0;
    for (std::size_t i = 0; i < n; ++i) mean += test_losses(i, 0) / static_cast<double>(n);
    sum += mean;
    sum_of_squares += mean * mean;
  }
  const double average = sum / splits;
  const double standard_error =
      std::sqrt((sum_of_squares / splits - average * average) / (splits - 1));
  INFO("E[FNR] = " << average << " +- " << standard_error);
  REQUIRE(standard_error < 0.003);
  CHECK(average <= alpha + 4 * standard_error);
  CHECK(average >= 0.06);
}

TEST_CASE("risk control: bad input gets a message naming the parameter") {
  const std::span<const double> grid(tiny_grid);
  auto table = tiny_table();
  CHECK(message_of([&] { cf::conformal_risk_control(table, grid, 0.0); }) ==
        "tessera::conformal::conformal_risk_control: alpha = 0; expected a finite number > 0");
  CHECK(message_of([&] { cf::conformal_risk_control(table, grid, 0.5, -1.0); }) ==
        "tessera::conformal::conformal_risk_control: loss_bound = -1; expected a finite number > 0");
  const std::vector<double> repeated{0.0, 0.5, 0.5};
  const std::span<const double> unsorted(repeated);
  CHECK(message_of([&] { cf::conformal_risk_control(table, unsorted, 0.5); }) ==
        "tessera::conformal::conformal_risk_control: lambdas[2] = 0.5; expected > lambdas[1] = 0.5");
  const std::vector<double> two{0.0, 1.0};
  CHECK(message_of([&] { cf::conformal_risk_control(table, std::span<const double>(two), 0.5); }) ==
        "tessera::conformal::conformal_risk_control: losses.shape()[1] = 3; expected lambdas.size() = 2");
  const auto empty = xt::xtensor<double, 2>::from_shape({0, 3});
  CHECK(message_of([&] { cf::conformal_risk_control(empty, grid, 0.5); }) ==
        "tessera::conformal::conformal_risk_control: losses.shape()[0] = 0; expected >= 1");
  table(2, 1) = 0.75;
  CHECK(message_of([&] { cf::conformal_risk_control(table, grid, 0.5); }) ==
        "tessera::conformal::conformal_risk_control: losses(2, 1) = 0.75; expected <= losses(2, 0) "
        "= 0.5 (non-increasing in lambda)");
  table(2, 1) = 1.5;
  CHECK(message_of([&] { cf::conformal_risk_control(table, grid, 0.5); }) ==
        "tessera::conformal::conformal_risk_control: losses(2, 1) = 1.5; expected 0 <= loss <= "
        "loss_bound = 1");
  table(2, 1) = std::nan("");
  CHECK(message_of([&] { cf::conformal_risk_control(table, grid, 0.5); }) ==
        "tessera::conformal::conformal_risk_control: losses(2, 1) = nan; expected 0 <= loss <= "
        "loss_bound = 1");

  const xt::xtensor<double, 2> p{{0.9, 0.5}};
  const xt::xtensor<double, 2> no_label{{0, 0}};
  CHECK(message_of([&] { cf::false_negative_rate_table(p, no_label, grid); }) ==
        "tessera::conformal::false_negative_rate_table: the number of true labels in row 0 = 0; "
        "expected >= 1");
  const xt::xtensor<double, 2> not_binary{{1, 0.5}};
  CHECK(message_of([&] { cf::false_negative_rate_table(p, not_binary, grid); }) ==
        "tessera::conformal::false_negative_rate_table: labels(0, 1) = 0.5; expected 0 or 1");
  const xt::xtensor<double, 2> wide{{1, 0, 0}};
  CHECK(message_of([&] { cf::false_negative_rate_table(p, wide, grid); }) ==
        "tessera::conformal::false_negative_rate_table: labels.shape()[1] = 3; expected "
        "probabilities.shape()[1] = 2");
  const xt::xtensor<double, 2> above_one{{1.5, 0.5}};
  const xt::xtensor<double, 2> one_label{{1, 0}};
  CHECK(message_of([&] { cf::false_negative_rate_table(above_one, one_label, grid); }) ==
        "tessera::conformal::false_negative_rate_table: probabilities(0, 0) = 1.5; expected 0 <= p <= 1");

  const auto half = [](std::size_t, double) { return 0.5; };
  CHECK(message_of([&] { cf::conformal_risk_control_bisection(3, half, 1.0, 1.0, 1e-6, 0.5); }) ==
        "tessera::conformal::conformal_risk_control_bisection: hi = 1; expected a finite number > lo = 1");
  CHECK(message_of([&] { cf::conformal_risk_control_bisection(3, half, 0.0, 1.0, 0.0, 0.5); }) ==
        "tessera::conformal::conformal_risk_control_bisection: tolerance = 0; expected a finite number > 0");
  CHECK(message_of([&] { cf::conformal_risk_control_bisection(0, half, 0.0, 1.0, 1e-6, 0.5); }) ==
        "tessera::conformal::conformal_risk_control_bisection: n = 0; expected >= 1");
  const auto too_large = [](std::size_t i, double) { return i == 2 ? 2.0 : 0.5; };
  try {
    cf::conformal_risk_control_bisection(3, too_large, 0.0, 1.0, 1e-6, 0.5);
    FAIL("no exception");
  } catch (const tessera::domain_error& e) {
    CHECK(std::string(e.what()) ==
          "tessera::conformal::conformal_risk_control_bisection: loss(2, 0) = 2; expected 0 <= "
          "loss <= 1");
  }
}
