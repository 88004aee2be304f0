// Host cost of split conformal classification on MAPIE's shapes: calibrate on 10 000 x 1 000
// probabilities, then the prediction sets of 50 000 x 1 000 test rows, for LAC and randomized
// APS. The anchor is MAPIE's SplitConformalClassifier(prefit=True) on the same work
// (bench/anchors/conformal.py), compared by scripts/bench conformal under the names
// <score>_sets/50000/1000.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <tessera/conformal/classification_score.hpp>
#include <tessera/conformal/split_classifier.hpp>
#include <tessera/core/matrix_view.hpp>
#include <tessera/core/random.hpp>
#include <vector>
#include <xtensor/xtensor.hpp>

namespace {

namespace cf = tessera::conformal;

constexpr std::size_t classes = 1000, calibration_rows = 10'000, test_rows = 50'000;

// Rows softmax(2 z), z standard normal: the anchor's law. Labels drawn from each row.
xt::xtensor<double, 2> random_probabilities(std::size_t rows, std::uint32_t id) {
  auto p = xt::xtensor<double, 2>::from_shape({rows, classes});
  tessera::fill_normal<double>(tessera::exec::host, tessera::random_stream(11, id), std::span<double>(p.data(), p.size()));
  for (std::size_t i = 0; i < rows; ++i) {
    double* row = p.data() + i * classes;
    double sum = 0;
    for (std::size_t k = 0; k < classes; ++k) sum += row[k] = std::exp(2 * row[k]);
    for (std::size_t k = 0; k < classes; ++k) row[k] /= sum;
  }
  return p;
}

std::vector<std::int32_t> draw_labels(const xt::xtensor<double, 2>& p) {
  std::vector<std::int32_t> labels(p.shape()[0]);
  const tessera::random_stream stream(11, 99);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    double u = tessera::uniform<double>(stream, i), mass = 0;
    std::size_t k = 0;
    while (k + 1 < classes && (mass += p(i, k)) <= u) ++k;
    labels[i] = static_cast<std::int32_t>(k);
  }
  return labels;
}

template <class Score>
void sets(benchmark::State& state, Score score) {
  const auto calibration = random_probabilities(calibration_rows, 0);
  const auto labels = draw_labels(calibration);
  const auto test = random_probabilities(test_rows, 1);
  for (auto _ : state) {
    const cf::split_classifier<double, Score> classifier(score, calibration, labels, 0.1, 3);
    auto mask = classifier.predict(test);
    benchmark::DoNotOptimize(mask.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(test_rows * classes));
}

// The same work with the sets written by predict_into into one buffer that every call reuses, as
// a caller streaming batches would: no fresh pages to fault in. No anchor: MAPIE returns a new
// array each call, as predict does.
template <class Score>
void sets_into(benchmark::State& state, Score score) {
  const auto calibration = random_probabilities(calibration_rows, 0);
  const auto labels = draw_labels(calibration);
  const auto test = random_probabilities(test_rows, 1);
  auto mask = xt::xtensor<bool, 2>::from_shape({test_rows, classes});
  std::fill(mask.begin(), mask.end(), false);  // touched once, before the timing
  for (auto _ : state) {
    const cf::split_classifier<double, Score> classifier(score, calibration, labels, 0.1, 3);
    classifier.predict_into(test, tessera::matrix_view<bool>{mask.data(), test_rows, classes});
    benchmark::DoNotOptimize(mask.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(test_rows * classes));
}

}  // namespace

BENCHMARK_CAPTURE(sets, lac, cf::lac_score{})->Name("lac_sets/50000/1000")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(sets, aps, cf::aps_score{true})->Name("aps_sets/50000/1000")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(sets_into, lac, cf::lac_score{})->Name("lac_sets_into/50000/1000")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(sets_into, aps, cf::aps_score{true})->Name("aps_sets_into/50000/1000")->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
