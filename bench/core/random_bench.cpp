// Host throughput of tessera's counter-based draws beside the standard library's engines, the
// anchor a C++ user reaches for (std::mt19937_64 with std:: distributions), in the same binary.
#include <benchmark/benchmark.h>

#include <random>
#include <span>
#include <tessera/core/random.hpp>
#include <vector>

namespace {

constexpr std::int64_t draws = 1 << 20;

template <class T>
void tessera_normal(benchmark::State& state) {
  std::vector<T> out(draws);
  const tessera::random_stream stream(1, 2, 3);
  for (auto _ : state) {
    tessera::fill_normal(tessera::exec::host, stream, std::span<T>(out));
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * draws);
}

template <class T>
void std_normal(benchmark::State& state) {
  std::vector<T> out(draws);
  std::mt19937_64 engine(1);
  std::normal_distribution<T> normal;
  for (auto _ : state) {
    for (T& x : out) x = normal(engine);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * draws);
}

template <class T>
void tessera_uniform(benchmark::State& state) {
  std::vector<T> out(draws);
  const tessera::random_stream stream(1, 2, 3);
  for (auto _ : state) {
    tessera::fill_uniform(tessera::exec::host, stream, std::span<T>(out));
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * draws);
}

template <class T>
void std_uniform(benchmark::State& state) {
  std::vector<T> out(draws);
  std::mt19937_64 engine(1);
  std::uniform_real_distribution<T> uniform;
  for (auto _ : state) {
    for (T& x : out) x = uniform(engine);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * draws);
}

}  // namespace

BENCHMARK(tessera_normal<float>);
BENCHMARK(std_normal<float>);
BENCHMARK(tessera_normal<double>);
BENCHMARK(std_normal<double>);
BENCHMARK(tessera_uniform<float>);
BENCHMARK(std_uniform<float>);
BENCHMARK(tessera_uniform<double>);
BENCHMARK(std_uniform<double>);
BENCHMARK_MAIN();
