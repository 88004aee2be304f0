#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <tessera/conformal/interval.hpp>
#include <tessera/conformal/metrics.hpp>
#include <vector>
#include <xtensor/xtensor.hpp>

#include "conformal/oracles/metrics_oracles.hpp"
#include "support/test_support.hpp"

namespace cf = tessera::conformal;
namespace oracle = tessera::test::metrics_oracles;
using tessera::test::message_of;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

xt::xtensor<bool, 2> oracle_sets() {
  auto sets = xt::xtensor<bool, 2>::from_shape({oracle::labels.size(), 5});
  std::copy(oracle::sets.begin(), oracle::sets.end(), sets.data());
  return sets;
}

std::vector<cf::interval<double>> oracle_intervals() {
  std::vector<cf::interval<double>> intervals;
  for (std::size_t i = 0; i < oracle::y.size(); ++i) intervals.push_back({oracle::lower[i], oracle::upper[i]});
  return intervals;
}

// Strata compare equal when counts agree and coverages agree, NaN for NaN.
void check_strata(const std::vector<cf::stratum_coverage>& ours, std::span<const double> coverage) {
  REQUIRE(ours.size() == coverage.size());
  for (std::size_t s = 0; s < ours.size(); ++s) {
    CAPTURE(s);
    if (std::isnan(coverage[s])) {
      CHECK(ours[s].count == 0);
      CHECK(std::isnan(ours[s].coverage));
    } else {
      CHECK(ours[s].coverage == Approx(coverage[s]).epsilon(1e-15));
    }
  }
}

}  // namespace

TEST_CASE("set metrics equal mapie.metrics' classification scores") {
  const auto sets = oracle_sets();
  const std::span<const std::int32_t> labels(oracle::labels);
  CHECK(cf::set_coverage(sets, labels) == oracle::set_coverage);
  const cf::set_size_summary sizes = cf::set_sizes(sets);
  CHECK(sizes.mean == Approx(oracle::mean_set_size).epsilon(1e-15));
  CHECK(sizes.median == oracle::median_set_size);
  CHECK(sizes.empty_fraction == oracle::empty_fraction);
  CHECK(sizes.full_fraction == oracle::full_fraction);

  const auto by_size = cf::size_stratified_coverage(sets, labels);
  check_strata(by_size, oracle::coverage_by_size);
  for (std::size_t s = 0; s < by_size.size(); ++s) CHECK(by_size[s].count == static_cast<std::size_t>(oracle::count_by_size[s]));
  CHECK(by_size[4].count == 0);  // the empty stratum, NaN as in MAPIE

  const auto by_label = cf::class_conditional_coverage(sets, labels);
  check_strata(by_label, oracle::coverage_by_label);
  for (std::size_t y = 0; y < by_label.size(); ++y) CHECK(by_label[y].count == static_cast<std::size_t>(oracle::count_by_label[y]));
}

TEST_CASE("interval metrics equal mapie.metrics' regression scores") {
  const auto intervals = oracle_intervals();
  const std::span<const cf::interval<double>> view(intervals);
  const std::span<const double> y(oracle::y);
  CHECK(cf::interval_coverage(view, y) == oracle::interval_coverage);
  const cf::size_summary widths = cf::interval_widths(view);
  CHECK(widths.mean == Approx(oracle::mean_width).epsilon(1e-15));
  CHECK(widths.median == Approx(oracle::median_width).epsilon(1e-15));
  check_strata(cf::interval_size_stratified_coverage(view, y, oracle::ssc_bins), oracle::coverage_by_width_bin);
}

TEST_CASE("small cases: odd medians, unbounded intervals, bins of unequal size") {
  const std::vector<cf::interval<double>> intervals{{0, 1}, {-inf, inf}, {2, 5}, {0, 0.5}, {1, 1}};
  const std::vector<double> y{0.5, 100, 6, 0.5, 1};
  CHECK(cf::interval_coverage<double>(intervals, y) == 0.8);
  const auto widths = cf::interval_widths<double>(intervals);
  CHECK(widths.mean == inf);
  CHECK(widths.median == 1);  // of {1, inf, 3, 0.5, 0}
  // Widths ranked 0 (i = 4), 0.5 (i = 3), 1 (i = 0), 3 (i = 2), inf (i = 1); 5 into 2 bins: 3 + 2.
  const auto bins = cf::interval_size_stratified_coverage<double>(intervals, y, 2);
  CHECK(bins[0].count == 3);
  CHECK(bins[0].coverage == 1.0);
  CHECK(bins[1].count == 2);
  CHECK(bins[1].coverage == 0.5);
  const xt::xtensor<bool, 2> sets = {{true, false, true}, {false, false, false}, {true, true, true}};
  const auto sizes = cf::set_sizes(sets);
  CHECK(sizes.median == 2);
  CHECK(sizes.mean == Approx(5.0 / 3));
  CHECK(sizes.empty_fraction == Approx(1.0 / 3));
  CHECK(sizes.full_fraction == Approx(1.0 / 3));
}

TEST_CASE("metrics: bad input gets a message naming the parameter") {
  const std::vector<cf::interval<double>> intervals{{0, 1}, {0, 2}};
  const std::vector<cf::interval<double>> none;
  const std::vector<double> y{0.5}, two{0.5, std::nan("")};
  CHECK(message_of([&] { cf::interval_coverage<double>(intervals, y); }) ==
        "tessera::conformal::interval_coverage: y.size() = 1; expected intervals.size() = 2");
  CHECK(message_of([&] { cf::interval_coverage<double>(none, std::vector<double>{}); }) ==
        "tessera::conformal::interval_coverage: intervals.size() = 0; expected >= 1");
  CHECK(message_of([&] { cf::interval_coverage<double>(intervals, two); }) ==
        "tessera::conformal::interval_coverage: y[1] = nan; expected a number (not NaN)");
  CHECK(message_of([&] { cf::interval_widths<double>(none); }) ==
        "tessera::conformal::interval_widths: intervals.size() = 0; expected >= 1");
  CHECK(message_of([&] { cf::interval_size_stratified_coverage<double>(intervals, std::vector<double>{0, 1}, 3); }) ==
        "tessera::conformal::interval_size_stratified_coverage: bins = 3; expected 1 <= bins <= 2");
  const xt::xtensor<bool, 2> sets = {{true, false}, {false, true}};
  CHECK(message_of([&] { cf::set_coverage(sets, std::vector<std::int32_t>{0}); }) ==
        "tessera::conformal::set_coverage: labels.size() = 1; expected sets.shape()[0] = 2");
  CHECK(message_of([&] { cf::set_coverage(sets, std::vector<std::int32_t>{0, 2}); }) ==
        "tessera::conformal::set_coverage: labels[1] = 2; expected 0 <= labels[1] <= 1");
  CHECK(message_of([&] { cf::set_sizes(xt::xtensor<bool, 2>::from_shape({0, 3})); }) ==
        "tessera::conformal::set_sizes: sets.shape()[0] = 0; expected >= 1");
  CHECK(message_of([&] { cf::size_stratified_coverage(xt::xtensor<bool, 2>::from_shape({2, 0}), std::vector<std::int32_t>{0, 0}); }) ==
        "tessera::conformal::size_stratified_coverage: sets.shape()[1] = 0; expected >= 1");
}
