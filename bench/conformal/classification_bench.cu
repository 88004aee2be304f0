// Device conformal classification: prediction sets (LAC, APS) of a 50 000 x 1000 probability
// matrix beside a device-to-device copy of the same traffic (the memory limit), and calibration
// (scores, then the conformal quantile) of n = 10^6..10^8 rows of K = 10, in one binary.
//
// Sets (K = 1000, and K = 500 for the ranked scores, whose kernel differs for K below 992): a
// call reads the n x K matrix and writes the n x K mask, n K (sizeof(T) + 1) bytes of
// traffic, counted in "GB/s". "copy_GB/s" is cudaMemcpyAsync of half as many bytes (a copy reads
// and writes each byte: the same traffic), the median of 20 copies after a warm-up, and "ratio" =
// copy time / set time: the fraction of the copy bandwidth the set kernel reaches.
// Calibration: "scores_ms" and "quantile_ms" split the time of calibration_scores (reads matrix
// and labels, writes scores) and conformal_quantile (reads the scores 4 or 8 times);
// "GB/s" counts the scores' traffic, n (K sizeof(T) + 4 + sizeof(T)) bytes, over scores_ms.
// Every call includes its read-back of the input check (one word) and, for the quantile, of q.
// Rows are softmax outputs of Gaussian logits with a temperature drawn per row (peaked to flat).
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <tessera/conformal/cuda/classification.cuh>
#include <tessera/conformal/cuda/quantile.cuh>
#include <tessera/core/random.hpp>
#include <vector>

#include "support/cuda_timing.cuh"

namespace {

namespace cf = tessera::conformal;
using tessera::bench::device_buffer;
using tessera::bench::event_pair;

constexpr unsigned full_warp = 0xffffffffu;

// One warp per row: p_j = exp(t z_j) / sum_k exp(t z_k), z_j = normal(stream(seed), i K + j),
// t = 0.5 + 4 u_i, summed in double and rounded to T (rows sum to 1 within K 2^-24).
template <class T>
__global__ void softmax_rows_kernel(T* p, std::uint64_t n, int classes, std::uint64_t seed) {
  const tessera::random_stream logits(seed), temperatures(seed, 1);
  const int lane = static_cast<int>(threadIdx.x % 32);
  const std::uint64_t warps = std::uint64_t{gridDim.x} * blockDim.x / 32;
  for (std::uint64_t i = (blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x) / 32; i < n; i += warps) {
    const double t = 0.5 + 4.0 * tessera::uniform<double>(temperatures, i);
    const auto logit = [&](int j) { return t * tessera::normal<double>(logits, i * classes + j); };
    double top = -INFINITY;
    for (int j = lane; j < classes; j += 32) top = fmax(top, logit(j));
    for (int offset = 16; offset > 0; offset /= 2) top = fmax(top, __shfl_xor_sync(full_warp, top, offset));
    double sum = 0;
    for (int j = lane; j < classes; j += 32) sum += exp(logit(j) - top);
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(full_warp, sum, offset);
    for (int j = lane; j < classes; j += 32) p[i * classes + j] = static_cast<T>(exp(logit(j) - top) / sum);
  }
}

__global__ void labels_kernel(std::int32_t* labels, std::uint64_t n, int classes, std::uint64_t seed) {
  const tessera::random_stream draws(seed, 2);
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t i = blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x; i < n; i += stride)
    labels[i] = static_cast<std::int32_t>(draws.block(i)[0] % static_cast<std::uint32_t>(classes));
}

template <class T>
tessera::matrix_view<const T> softmax_rows(const device_buffer& buffer, std::uint64_t n, int classes) {
  softmax_rows_kernel<T><<<4096, 256>>>(static_cast<T*>(buffer.data), n, classes, 42);
  tessera::check_launch("softmax_rows_kernel");
  return {static_cast<const T*>(buffer.data), n, static_cast<std::size_t>(classes)};
}

// The median time of 20 device-to-device copies of `bytes` (after one warm-up copy).
double copy_seconds(std::size_t bytes) {
  device_buffer from(bytes), to(bytes);
  cudaMemset(from.data, 1, bytes);
  event_pair events;
  std::vector<double> times;
  for (int i = 0; i < 21; ++i) {
    const double t = events.time([&] { cudaMemcpyAsync(to.data, from.data, bytes, cudaMemcpyDeviceToDevice); });
    if (i > 0) times.push_back(t);
  }
  std::nth_element(times.begin(), times.begin() + 10, times.end());
  return times[10];
}

template <class T, class Score>
void prediction_sets(benchmark::State& state) {
  const Score score{};
  constexpr std::uint64_t n = 50000;
  const auto classes = static_cast<int>(state.range(0));
  const std::size_t cells = n * static_cast<std::size_t>(classes);
  const device_buffer matrix(cells * sizeof(T)), mask(cells);
  const tessera::matrix_view<const T> probabilities = softmax_rows<T>(matrix, n, classes);
  const tessera::matrix_view<std::uint8_t> sets{static_cast<std::uint8_t*>(mask.data), n,
                                                static_cast<std::size_t>(classes)};
  const auto call = [&] { cf::predict_sets(tessera::exec::cuda{}, score, probabilities, T(0.9), 7, 0, sets); };
  event_pair events;
  call();  // warm-up: module load, first allocation of the pool
  double total = 0;
  for (auto _ : state) {
    const double t = events.time(call);
    state.SetIterationTime(t);
    total += t;
  }
  const std::size_t traffic = cells * (sizeof(T) + 1);
  const double copy = copy_seconds(traffic / 2);
  const double mean = total / static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(traffic));
  state.counters["GB/s"] = static_cast<double>(traffic) / mean / 1e9;
  state.counters["copy_GB/s"] = static_cast<double>(traffic) / copy / 1e9;
  state.counters["ratio"] = copy / mean;
}

template <class T, class Score>
void calibration(benchmark::State& state) {
  const Score score{};
  const auto n = static_cast<std::uint64_t>(state.range(0));
  constexpr int classes = 10;
  const device_buffer matrix(n * classes * sizeof(T)), labels(n * sizeof(std::int32_t)), scores(n * sizeof(T));
  const tessera::matrix_view<const T> probabilities = softmax_rows<T>(matrix, n, classes);
  labels_kernel<<<4096, 256>>>(static_cast<std::int32_t*>(labels.data), n, classes, 42);
  tessera::check_launch("labels_kernel");
  const std::span<const std::int32_t> label_span(static_cast<const std::int32_t*>(labels.data), n);
  const std::span<T> score_span(static_cast<T*>(scores.data), n);
  const auto score_rows = [&] {
    cf::calibration_scores(tessera::exec::cuda{}, score, probabilities, label_span, 7, score_span);
  };
  const auto quantile = [&] {
    benchmark::DoNotOptimize(cf::conformal_quantile(tessera::exec::cuda{}, std::span<const T>(score_span), 0.1));
  };
  event_pair events;
  score_rows();
  quantile();
  double scores_total = 0, quantile_total = 0;
  for (auto _ : state) {
    const double t_scores = events.time(score_rows);
    const double t_quantile = events.time(quantile);
    state.SetIterationTime(t_scores + t_quantile);
    scores_total += t_scores;
    quantile_total += t_quantile;
  }
  const double iterations = static_cast<double>(state.iterations());
  const double traffic = static_cast<double>(n) * (classes * sizeof(T) + sizeof(std::int32_t) + sizeof(T));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
  state.counters["scores_ms"] = scores_total / iterations * 1e3;
  state.counters["quantile_ms"] = quantile_total / iterations * 1e3;
  state.counters["GB/s"] = traffic / (scores_total / iterations) / 1e9;
}

}  // namespace

BENCHMARK_TEMPLATE(prediction_sets, float, cf::lac_score)->Arg(1000)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(prediction_sets, float, cf::aps_score)->Arg(1000)->Arg(500)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(prediction_sets, double, cf::lac_score)->Arg(1000)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(prediction_sets, double, cf::aps_score)->Arg(1000)->Arg(500)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(calibration, float, cf::aps_score)
    ->Arg(1000000)->Arg(10000000)->Arg(100000000)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(calibration, double, cf::aps_score)
    ->Arg(1000000)->Arg(10000000)->Arg(100000000)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(calibration, float, cf::lac_score)
    ->Arg(1000000)->Arg(10000000)->Arg(100000000)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
