// Device throughput of tessera's counter-based fills beside cuRAND's Philox4x32-10 generator (the
// anchor on a GPU) and beside a device-to-device copy of the same bytes (the memory limit).
// Times are CUDA-event times per call (manual timing).
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>
#include <curand.h>

#include <span>
#include <tessera/core.cuh>

#include "support/cuda_timing.cuh"

namespace {

constexpr std::size_t draws = std::size_t{1} << 28;

using tessera::bench::device_buffer;

template <class Launch>
void time_on_device(benchmark::State& state, std::size_t bytes_written, Launch launch) {
  tessera::bench::time_on_device(state, static_cast<std::int64_t>(draws), static_cast<std::int64_t>(bytes_written), launch);
}

template <class T>
void tessera_normal_device(benchmark::State& state) {
  device_buffer out(draws * sizeof(T));
  const std::span<T> span(static_cast<T*>(out.data), draws);
  const tessera::random_stream stream(1, 2, 3);
  time_on_device(state, draws * sizeof(T),
                 [&] { tessera::fill_normal(tessera::exec::cuda{}, stream, span); });
}

template <class T>
void tessera_uniform_device(benchmark::State& state) {
  device_buffer out(draws * sizeof(T));
  const std::span<T> span(static_cast<T*>(out.data), draws);
  const tessera::random_stream stream(1, 2, 3);
  time_on_device(state, draws * sizeof(T),
                 [&] { tessera::fill_uniform(tessera::exec::cuda{}, stream, span); });
}

template <class T>
void curand_philox_normal(benchmark::State& state) {
  device_buffer out(draws * sizeof(T));
  curandGenerator_t generator;
  curandCreateGenerator(&generator, CURAND_RNG_PSEUDO_PHILOX4_32_10);
  curandSetPseudoRandomGeneratorSeed(generator, 1);
  time_on_device(state, draws * sizeof(T), [&] {
    if constexpr (sizeof(T) == 4)
      curandGenerateNormal(generator, static_cast<float*>(out.data), draws, 0.0f, 1.0f);
    else
      curandGenerateNormalDouble(generator, static_cast<double*>(out.data), draws, 0.0, 1.0);
  });
  curandDestroyGenerator(generator);
}

template <class T>
void curand_philox_uniform(benchmark::State& state) {
  device_buffer out(draws * sizeof(T));
  curandGenerator_t generator;
  curandCreateGenerator(&generator, CURAND_RNG_PSEUDO_PHILOX4_32_10);
  curandSetPseudoRandomGeneratorSeed(generator, 1);
  time_on_device(state, draws * sizeof(T), [&] {
    if constexpr (sizeof(T) == 4)
      curandGenerateUniform(generator, static_cast<float*>(out.data), draws);
    else
      curandGenerateUniformDouble(generator, static_cast<double*>(out.data), draws);
  });
  curandDestroyGenerator(generator);
}

// The memory limit: copying the same number of bytes reads and writes them once each, so the
// bytes counted are the written ones, as for the generators (a write-only kernel can at best
// approach the copy's write rate).
void device_copy(benchmark::State& state) {
  device_buffer from(draws * sizeof(float)), to(draws * sizeof(float));
  cudaMemset(from.data, 1, draws * sizeof(float));
  time_on_device(state, draws * sizeof(float), [&] {
    cudaMemcpy(to.data, from.data, draws * sizeof(float), cudaMemcpyDeviceToDevice);
  });
}

}  // namespace

BENCHMARK(tessera_normal_device<float>)->UseManualTime();
BENCHMARK(curand_philox_normal<float>)->UseManualTime();
BENCHMARK(tessera_normal_device<double>)->UseManualTime();
BENCHMARK(curand_philox_normal<double>)->UseManualTime();
BENCHMARK(tessera_uniform_device<float>)->UseManualTime();
BENCHMARK(curand_philox_uniform<float>)->UseManualTime();
BENCHMARK(device_copy)->UseManualTime();
BENCHMARK_MAIN();
