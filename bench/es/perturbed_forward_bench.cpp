// Host cost of one layer's perturbed forward for a population sharing its inputs, the
// operation EGGROLL makes cheap: Y_i = X (W + sigma E_i) for P members, X of b = 8 rows, W m x n,
// float. EGGROLL (low-rank E_i, rank r) beside naive full-rank ES (dense E_i) in the same binary,
// and the update sum_k c_k E_k of the same population (EGGROLL's chunked GEMM). The NumPy anchor
// (bench/anchors/es.py) does the same work; scripts/bench es joins them by name.
//
// Counters: items = members; "GFLOP/s" counts the multiply-adds the method needs (low-rank:
// b m n once plus P b r (m + n); full-rank: P b m n, the perturbation's forming not counted).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <span>
#include <tessera/core/optimizers.hpp>
#include <tessera/core/random.hpp>
#include <tessera/es/gradient_estimate.hpp>
#include <tessera/es/perturbed_forward.hpp>
#include <vector>

namespace {

namespace es = tessera::es;
constexpr std::size_t batch_rows = 8;

es::matrix<float> normal_matrix(std::size_t rows, std::size_t cols, std::uint32_t id) {
  es::matrix<float> a(rows, cols);
  tessera::fill_normal<float>(tessera::exec::host, tessera::random_stream(1, id), std::span<float>(a.data(), a.size()));
  return a;
}

template <class Noise>
void run_forward(benchmark::State& state, Noise noise, std::size_t m, std::size_t members) {
  const auto x = normal_matrix(batch_rows, m, 0);
  const auto w = normal_matrix(m, m, 1);
  std::vector<float> out(members * batch_rows * m);
  const es::population_noise population{3, 0, true};
  for (auto _ : state) {
    es::perturbed_forward<float>(tessera::exec::host, x, w, 0, noise, 0.01f, population, 0, members, out);
    benchmark::DoNotOptimize(out.data());
  }
  const double b = batch_rows, n = static_cast<double>(m), p = static_cast<double>(members);
  double flops = 2 * p * b * n * n;
  if constexpr (std::same_as<Noise, es::low_rank>) flops = 2 * (b * n * n + p * b * static_cast<double>(noise.rank) * 2 * n);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(members));
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// args: m (= n), r, P
void low_rank_forward(benchmark::State& state) {
  run_forward(state, es::low_rank{static_cast<std::size_t>(state.range(1))}, static_cast<std::size_t>(state.range(0)),
              static_cast<std::size_t>(state.range(2)));
}

// args: m (= n), P
void full_rank_forward(benchmark::State& state) {
  run_forward(state, es::full_rank{}, static_cast<std::size_t>(state.range(0)), static_cast<std::size_t>(state.range(1)));
}

// The EGGROLL update of one m x m block for P members (P/2 antithetic pairs). args: m, r, P
void low_rank_update(benchmark::State& state) {
  const auto m = static_cast<std::size_t>(state.range(0)), r = static_cast<std::size_t>(state.range(1));
  const auto members = static_cast<std::size_t>(state.range(2));
  es::parameter_layout layout;
  layout.add_matrix(m, m);
  std::vector<float> coefficients(members / 2), gradient(layout.size());
  tessera::fill_normal<float>(tessera::exec::host, tessera::random_stream(2), std::span<float>(coefficients));
  for (auto _ : state) {
    es::estimate_gradient<float>(layout, es::low_rank{r}, 0.01f, 3, 0, coefficients, members, gradient);
    benchmark::DoNotOptimize(gradient.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(members));
  const double flops = 2.0 * static_cast<double>(members / 2 * r) * static_cast<double>(m * m);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK(low_rank_forward)->Args({1024, 1, 256})->Args({1024, 4, 256})->Args({1024, 16, 256})
    ->Args({4096, 1, 64})->Args({4096, 16, 64})->Unit(benchmark::kMillisecond);
BENCHMARK(full_rank_forward)->Args({1024, 16})->Args({4096, 2})->Unit(benchmark::kMillisecond);
BENCHMARK(low_rank_update)->Args({1024, 1, 256})->Args({1024, 16, 256})->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
