// Host cost of split conformal regression: calibration on n scores (residuals and the conformal
// quantile by selection) plus the intervals of n test points, n = 10^4 .. 10^7, and the exact
// streaming calibration of 10^8 scores in chunks of 10^6. The anchor is MAPIE's
// SplitConformalRegressor(prefit=True) on the same work (bench/anchors/conformal.py), compared by
// scripts/bench conformal under the names split_regression/<n>.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <span>
#include <tessera/conformal/quantile.hpp>
#include <tessera/conformal/split_regressor.hpp>
#include <tessera/core/random.hpp>
#include <vector>

namespace {

namespace cf = tessera::conformal;

// y ~ N(0, 1) and a prediction y + 0.5 N(0, 1): the anchor's data law.
struct regression_data {
  std::vector<double> y, prediction;
  explicit regression_data(std::size_t n) : y(n), prediction(n) {
    tessera::fill_normal<double>(tessera::exec::host, tessera::random_stream(7, 0), std::span<double>(y));
    tessera::fill_normal<double>(tessera::exec::host, tessera::random_stream(7, 1), std::span<double>(prediction));
    for (std::size_t i = 0; i < n; ++i) prediction[i] = y[i] + 0.5 * prediction[i];
  }
};

void split_regression(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const regression_data calibration(n);
  const regression_data test(n);  // the same law, the same draws: only the work matters here
  for (auto _ : state) {
    const cf::split_conformal_regressor<double> regressor(calibration.y, calibration.prediction, 0.1);
    auto intervals = regressor.predict(test.prediction);
    benchmark::DoNotOptimize(intervals.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(2 * n));
}

// The same work with the intervals written by predict_into into one buffer that every call
// reuses, as a caller streaming batches would. No anchor: MAPIE returns new arrays, as predict
// does.
void split_regression_into(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const regression_data calibration(n);
  const regression_data test(n);
  std::vector<cf::interval<double>> intervals(n, cf::interval<double>{0, 0});  // touched once, before the timing
  for (auto _ : state) {
    const cf::split_conformal_regressor<double> regressor(calibration.y, calibration.prediction, 0.1);
    regressor.predict_into(test.prediction, intervals);
    benchmark::DoNotOptimize(intervals.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(2 * n));
}

void streaming_calibration(benchmark::State& state) {
  constexpr std::uint64_t total = 100'000'000, chunk = 1'000'000;
  std::vector<double> scores(chunk);
  for (auto _ : state) {
    cf::streaming_quantile<double> quantile(total, 0.1);
    for (std::uint64_t begin = 0; begin < total; begin += chunk) {
      state.PauseTiming();  // the scores' generation is the caller's, not the calibration's
      tessera::fill_uniform<double>(tessera::exec::host, tessera::random_stream(11), std::span<double>(scores), begin);
      state.ResumeTiming();
      quantile.push(scores);
    }
    benchmark::DoNotOptimize(quantile.result());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(total));
}

}  // namespace

BENCHMARK(split_regression)->RangeMultiplier(10)->Range(10'000, 10'000'000)->Unit(benchmark::kMillisecond);
BENCHMARK(split_regression_into)->RangeMultiplier(10)->Range(10'000, 10'000'000)->Unit(benchmark::kMillisecond);
BENCHMARK(streaming_calibration)->Unit(benchmark::kMillisecond)->Iterations(1);

BENCHMARK_MAIN();
