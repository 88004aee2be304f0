// Centered discrepancy (squared, SciPy's "CD") of n = 2^10 .. 2^13 points in d = 8.
//
// Anchor: SciPy's scipy.stats.qmc.discrepancy(x, method="CD") on an array of the same shape
// (its default workers=1 is single-threaded; workers=-1 uses every core). Our count of pair
// terms is n(n+1)/2 (the symmetric double sum), SciPy's n^2.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <span>
#include <tessera/core/random.hpp>
#include <tessera/qmc/discrepancy.hpp>

namespace {

tessera::qmc::point_array<double> uniform_points(std::size_t n, std::size_t d) {
  auto x = tessera::qmc::point_array<double>::from_shape({n, d});
  tessera::fill_uniform(tessera::exec::host, tessera::random_stream(2026),
                        std::span<double>(x.data(), x.size()));
  return x;
}

void centered_discrepancy(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const tessera::qmc::point_array<double> x = uniform_points(n, 8);
  for (auto _ : state)
    benchmark::DoNotOptimize(tessera::qmc::centered_discrepancy_squared(tessera::exec::host, x));
  state.counters["pairs/s"] = benchmark::Counter(
      static_cast<double>(n) * static_cast<double>(n + 1) / 2 * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(centered_discrepancy)->RangeMultiplier(2)->Range(1 << 10, 1 << 13)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
