#pragma once
// What the GPU benchmarks share: device memory that frees itself, and CUDA-event timing.

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <tessera/core/cuda/check.cuh>

namespace tessera::bench {

/// cudaMalloc'ed bytes, freed on destruction.
struct device_buffer {
  explicit device_buffer(std::size_t bytes) { tessera::check_cuda(cudaMalloc(&data, bytes), "cudaMalloc"); }
  ~device_buffer() { cudaFree(data); }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  void* data = nullptr;
};

/// Two CUDA events around work enqueued on the default stream.
struct event_pair {
  event_pair() {
    cudaEventCreate(&start);
    cudaEventCreate(&stop);
  }
  ~event_pair() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  event_pair(const event_pair&) = delete;
  event_pair& operator=(const event_pair&) = delete;
  /// Seconds between the two events after `launch` ran between them.
  template <class Launch>
  double time(Launch launch) {
    cudaEventRecord(start);
    launch();
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    return ms / 1e3;
  }
  cudaEvent_t start, stop;
};

/// Times launch() once per iteration with CUDA events (use ->UseManualTime()) after one warm-up
/// call, and reports `items` and `bytes` per call as rates.
template <class Launch>
void time_on_device(benchmark::State& state, std::int64_t items, std::int64_t bytes, Launch launch) {
  event_pair events;
  launch();
  for (auto _ : state) state.SetIterationTime(events.time(launch));
  tessera::check_cuda(cudaGetLastError(), "benchmark");
  state.SetItemsProcessed(state.iterations() * items);
  state.SetBytesProcessed(state.iterations() * bytes);
}

}  // namespace tessera::bench
