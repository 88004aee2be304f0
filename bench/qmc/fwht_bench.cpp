// Host FWHT throughput, 2^10 .. 2^24 values in float and double: values per second and the
// effective bandwidth counting one read and one write of the array per transform.
//
// Anchor (Python, not in this binary): QMCPy 2.4's fwht, numpy with one gather/scatter pass per
// stage, timed for the same sizes with
//   x = np.random.default_rng(3).random(2**m); timeit.repeat(lambda: qmcpy.fwht(x), number=1, repeat=5)
// (the minimum of the repeats; float64, as QMCPy computes in float64 whatever the input).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <tessera/core/random.hpp>
#include <tessera/qmc/fwht.hpp>
#include <vector>

namespace {

template <class T>
void host_fwht(benchmark::State& state) {
  const std::size_t n = std::size_t{1} << state.range(0);
  std::vector<T> pristine(n);
  tessera::fill_uniform(tessera::exec::host, tessera::random_stream(3), std::span<T>(pristine));
  std::vector<T> values = pristine;
  int since_restore = 0;
  for (auto _ : state) {
    // Each transform scales the norm by sqrt(n); restore (untimed) before values can overflow.
    if (++since_restore == 4) {
      state.PauseTiming();
      values = pristine;
      since_restore = 0;
      state.ResumeTiming();
    }
    tessera::qmc::fwht(tessera::exec::host, std::span<T>(values));
    benchmark::DoNotOptimize(values.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(2 * n * sizeof(T)));
}

}  // namespace

BENCHMARK(host_fwht<float>)->DenseRange(10, 24, 2)->UseRealTime();
BENCHMARK(host_fwht<double>)->DenseRange(10, 24, 2)->UseRealTime();
BENCHMARK_MAIN();
