// Host throughput of one shared-seed SPSA step (parameters per second) for |θ| = 10^4 .. 10^7
// floats with a trivial loss, so that only the step's own passes over θ are timed, beside the
// two lower bounds in the same binary:
//   copy_theta     one std::copy of θ: the memory-bandwidth bound of a single pass;
//   normal_draws   fill_normal of |θ| floats: the cost of regenerating z once.
// A step with exact restoration regenerates z three times (θ + εz, θ − εz, the update) and
// copies θ twice (the saved copy and its restoration); in_place regenerates z four times and
// copies nothing. Their ratio to normal_draws says how close a step is to 3 (or 4) draws.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <tessera/core/random.hpp>
#include <tessera/zo/spsa.hpp>
#include <vector>

namespace {

namespace zo = tessera::zo;

template <zo::restoration Restore>
void spsa_step(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  zo::spsa_state<float> spsa{std::vector<float>(n, 0.5f), 0, 1};
  const zo::spsa_options<float> options{1e-3f, 1e-6f, 1, Restore};
  const auto trivial = [](std::span<const float> theta) { return theta[0] + theta[theta.size() - 1]; };
  for (auto _ : state) {
    spsa.step %= 1u << 30;  // the stream id is 32-bit; benchmark loops can run long
    benchmark::DoNotOptimize(zo::spsa_step(spsa, options, trivial));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

void copy_theta(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::vector<float> theta(n, 0.5f);
  std::vector<float> saved(n);
  for (auto _ : state) {
    std::copy(theta.begin(), theta.end(), saved.begin());
    benchmark::DoNotOptimize(saved.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

void normal_draws(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<float> z(n);
  const tessera::random_stream stream(1, 0, 0, 0);
  for (auto _ : state) {
    tessera::fill_normal<float>(tessera::exec::host, stream, std::span<float>(z));
    benchmark::DoNotOptimize(z.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

}  // namespace

BENCHMARK(spsa_step<zo::restoration::exact>)->RangeMultiplier(10)->Range(10'000, 10'000'000)->Unit(benchmark::kMicrosecond);
BENCHMARK(spsa_step<zo::restoration::in_place>)->RangeMultiplier(10)->Range(10'000, 10'000'000)->Unit(benchmark::kMicrosecond);
BENCHMARK(copy_theta)->RangeMultiplier(10)->Range(10'000, 10'000'000)->Unit(benchmark::kMicrosecond);
BENCHMARK(normal_draws)->RangeMultiplier(10)->Range(10'000, 10'000'000)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
