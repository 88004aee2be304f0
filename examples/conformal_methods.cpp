// Coverage and size of tessera's conformal methods on two real data sets at alpha = 0.1, averaged
// over 200 random half/half calibration-test splits: regression intervals on the diabetes data
// (ridge predictions and gradient-boosting quantiles) and prediction sets on the digits data
// (logistic-regression probabilities). The outputs are out-of-fold, written by
// examples/data/make_conformal_data.py, so every split is a fair calibration.
//
// Coverage should sit in [0.9, 0.9 + 1/(n + 1)] on average for the split methods; the printed
// table is the one in docs/conformal.md.
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <span>
#include <tessera/conformal.hpp>
#include <vector>
#include <xtensor/xadapt.hpp>

#include "data/conformal_data.hpp"

namespace cf = tessera::conformal;

namespace {

constexpr double alpha = 0.1;
constexpr int splits = 200;

// A random permutation of 0..n-1 (Fisher-Yates on a counter-based stream).
std::vector<std::size_t> permutation(std::size_t n, std::uint64_t seed) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  const tessera::random_stream stream(seed);
  for (std::size_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<std::size_t>(tessera::uniform<double>(stream, i) * static_cast<double>(i + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

struct tally {
  double coverage = 0;
  double size = 0;
  void add(double c, double s) {
    coverage += c / splits;
    size += s / splits;
  }
};

// Column c of the rows `rows` of a row-major table of `width` columns.
std::vector<double> column(const double* table, std::size_t width, std::size_t c, std::span<const std::size_t> rows) {
  std::vector<double> out;
  for (const std::size_t r : rows) out.push_back(table[r * width + c]);
  return out;
}

void regression_table() {
  using tessera::examples::diabetes;
  const std::size_t n = tessera::examples::diabetes_rows, half = n / 2;
  tally split, cqr_symmetric, cqr_asymmetric;
  for (int s = 0; s < splits; ++s) {
    const auto order = permutation(n, 1000 + static_cast<std::uint64_t>(s));
    const std::span<const std::size_t> calibration(order.data(), half), test(order.data() + half, n - half);
    const auto y = column(diabetes, 4, 0, calibration), y_test = column(diabetes, 4, 0, test);
    const auto pred = column(diabetes, 4, 1, calibration), pred_test = column(diabetes, 4, 1, test);
    const auto lo = column(diabetes, 4, 2, calibration), lo_test = column(diabetes, 4, 2, test);
    const auto hi = column(diabetes, 4, 3, calibration), hi_test = column(diabetes, 4, 3, test);

    const auto split_intervals = cf::split_conformal_regressor<double>(y, pred, alpha).predict(pred_test);
    split.add(cf::interval_coverage<double>(split_intervals, y_test), cf::interval_widths<double>(split_intervals).mean);
    for (const auto correction : {cf::cqr_correction::symmetric, cf::cqr_correction::asymmetric}) {
      const auto intervals = cf::conformalized_quantile_regressor<double>(y, lo, hi, alpha, correction).predict(lo_test, hi_test);
      (correction == cf::cqr_correction::symmetric ? cqr_symmetric : cqr_asymmetric)
          .add(cf::interval_coverage<double>(intervals, y_test), cf::interval_widths<double>(intervals).mean);
    }
  }
  std::printf("diabetes regression (%zu calibration / %zu test rows, %d splits, alpha = %.1f)\n", half, n - half, splits, alpha);
  std::printf("  %-22s %9s %11s\n", "method", "coverage", "mean width");
  std::printf("  %-22s %9.3f %11.1f\n", "split conformal", split.coverage, split.size);
  std::printf("  %-22s %9.3f %11.1f\n", "CQR (symmetric)", cqr_symmetric.coverage, cqr_symmetric.size);
  std::printf("  %-22s %9.3f %11.1f\n", "CQR (asymmetric)", cqr_asymmetric.coverage, cqr_asymmetric.size);
}

template <class Score>
void classify(tally& t, const Score& score, const std::vector<double>& calibration_p,
              const std::vector<std::int32_t>& labels, const std::vector<double>& test_p,
              const std::vector<std::int32_t>& test_labels, std::uint64_t seed, bool class_conditional) {
  constexpr std::size_t classes = 10;
  const auto calibration = xt::adapt(calibration_p, {labels.size(), classes});
  const auto test = xt::adapt(test_p, {test_labels.size(), classes});
  const cf::split_classifier<double, Score> classifier(score, calibration, labels, alpha, seed, {class_conditional});
  const auto sets = classifier.predict(test);
  t.add(cf::set_coverage(sets, test_labels), cf::set_sizes(sets).mean);
}

void classification_table() {
  using tessera::examples::digits;
  const std::size_t n = tessera::examples::digits_rows, half = n / 2;
  tally lac, lac_mondrian, aps, aps_deterministic, raps, top_k;
  for (int s = 0; s < splits; ++s) {
    const auto order = permutation(n, 5000 + static_cast<std::uint64_t>(s));
    std::vector<double> calibration_p, test_p;
    std::vector<std::int32_t> labels, test_labels;
    for (std::size_t i = 0; i < n; ++i) {
      const double* row = digits + 11 * order[i];
      (i < half ? calibration_p : test_p).insert((i < half ? calibration_p : test_p).end(), row, row + 10);
      (i < half ? labels : test_labels).push_back(static_cast<std::int32_t>(row[10]));
    }
    const auto seed = static_cast<std::uint64_t>(s);
    classify(lac, cf::lac_score{}, calibration_p, labels, test_p, test_labels, seed, false);
    classify(lac_mondrian, cf::lac_score{}, calibration_p, labels, test_p, test_labels, seed, true);
    classify(aps, cf::aps_score{true}, calibration_p, labels, test_p, test_labels, seed, false);
    classify(aps_deterministic, cf::aps_score{false}, calibration_p, labels, test_p, test_labels, seed, false);
    classify(raps, cf::raps_score{1, 0.01, true}, calibration_p, labels, test_p, test_labels, seed, false);
    classify(top_k, cf::top_k_score{}, calibration_p, labels, test_p, test_labels, seed, false);
  }
  std::printf("\ndigits classification (%zu calibration / %zu test rows, 10 classes, %d splits, alpha = %.1f)\n",
              half, n - half, splits, alpha);
  std::printf("  %-22s %9s %11s\n", "score", "coverage", "mean size");
  const auto row = [](const char* name, const tally& t) { std::printf("  %-22s %9.3f %11.3f\n", name, t.coverage, t.size); };
  row("LAC", lac);
  row("LAC, class-conditional", lac_mondrian);
  row("APS (randomized)", aps);
  row("APS (deterministic)", aps_deterministic);
  row("RAPS (k_reg 1, 0.01)", raps);
  row("Top-K", top_k);
}

}  // namespace

int main() {
  regression_table();
  classification_table();
}
