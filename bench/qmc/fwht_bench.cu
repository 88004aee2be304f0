// Device FWHT throughput beside a device-to-device copy of the same bytes, in the same binary.
//
// Effective bandwidth counts one read and one write of the array per transform (2 n sizeof(T)
// bytes), as a copy moves; "copy_GB/s" is cudaMemcpyAsync device-to-device of the same n values
// between two buffers, timed the same way (median of 20 copies after a warm-up), and "ratio" is
// FWHT / copy. Times are CUDA-event times per call (manual timing); before each timed call the
// array is restored from a pristine copy (untimed) so that repeated transforms do not overflow.
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <tessera/core/cuda/random.cuh>
#include <tessera/qmc/cuda/fwht.cuh>

#include "support/cuda_timing.cuh"
#include <vector>

namespace {

using tessera::bench::device_buffer;
using tessera::bench::event_pair;

template <class T>
void device_fwht(benchmark::State& state) {
  const std::size_t n = std::size_t{1} << state.range(0);
  const std::size_t bytes = n * sizeof(T);
  device_buffer pristine(bytes), values(bytes), copy_target(bytes);
  const std::span<T> pristine_span(static_cast<T*>(pristine.data), n);
  const std::span<T> span(static_cast<T*>(values.data), n);
  tessera::fill_uniform(tessera::exec::cuda{}, tessera::random_stream(3), pristine_span);
  const auto restore = [&] { cudaMemcpyAsync(values.data, pristine.data, bytes, cudaMemcpyDeviceToDevice); };
  event_pair events;
  restore();
  tessera::qmc::fwht(tessera::exec::cuda{}, span);  // warm-up: module load, attributes
  double total = 0;
  for (auto _ : state) {
    restore();
    const double t = events.time([&] { tessera::qmc::fwht(tessera::exec::cuda{}, span); });
    state.SetIterationTime(t);
    total += t;
  }
  std::vector<double> copies;
  for (int i = 0; i < 21; ++i) {
    const double t = events.time([&] {
      cudaMemcpyAsync(copy_target.data, values.data, bytes, cudaMemcpyDeviceToDevice);
    });
    if (i > 0) copies.push_back(t);
  }
  std::nth_element(copies.begin(), copies.begin() + 10, copies.end());
  tessera::check_cuda(cudaGetLastError(), "benchmark");
  const double moved = 2.0 * static_cast<double>(bytes);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(2 * bytes));
  const double mean = total / static_cast<double>(state.iterations());
  state.counters["GB/s"] = moved / mean / 1e9;
  state.counters["copy_GB/s"] = moved / copies[10] / 1e9;
  state.counters["ratio"] = copies[10] / mean;  // (moved / t_fwht) / (moved / t_copy)
}

}  // namespace

BENCHMARK(device_fwht<float>)->DenseRange(20, 26)->UseManualTime();
BENCHMARK(device_fwht<double>)->DenseRange(20, 26)->UseManualTime();
BENCHMARK_MAIN();
