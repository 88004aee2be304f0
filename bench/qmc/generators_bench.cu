// Device QMC generation: values per second for Sobol' (unscrambled, LMS + digital shift, NUS) and
// rank-1 lattices, beside cuRAND's quasi-random Sobol32 generators (the anchor: cuRAND has no LMS
// or NUS) and a device-to-device copy of the same bytes (the memory limit), in one binary.
// Times are CUDA-event times; every variant writes n d floats (4 bytes each).
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>
#include <curand.h>

#include <span>
#include <tessera/core/cuda/check.cuh>
#include <tessera/qmc/cuda/digital_net.cuh>
#include <tessera/qmc/cuda/lattice.cuh>

#include "support/cuda_timing.cuh"

namespace {

using namespace tessera::qmc;

constexpr int dimension = 1024;
constexpr std::uint64_t points = std::uint64_t{1} << 18;  // 2^28 values, 1 GiB of floats
constexpr std::uint64_t values = points * dimension;

using tessera::bench::device_buffer;

template <class Launch>
void time_on_device(benchmark::State& state, Launch launch) {
  tessera::bench::time_on_device(state, static_cast<std::int64_t>(values), static_cast<std::int64_t>(values * sizeof(float)), launch);
}

void tessera_sobol(benchmark::State& state, net_randomization randomization) {
  device_buffer out(values * sizeof(float));
  const device_digital_net net(sobol(dimension, {net_order::natural, randomization, 7}), 0, 1);
  const std::span<float> span(static_cast<float*>(out.data), values);
  time_on_device(state, [&] { generate_into(tessera::exec::cuda{}, net, index_range{0, points}, span); });
}

void tessera_lattice(benchmark::State& state) {
  device_buffer out(values * sizeof(float));
  const rank1_lattice lattice = kuo_lattice(dimension);
  const std::span<float> span(static_cast<float*>(out.data), values);
  time_on_device(state, [&] { generate_into(tessera::exec::cuda{}, lattice, index_range{0, points}, 0, 1, span); });
}

void curand_sobol32(benchmark::State& state, curandRngType_t type) {
  device_buffer out(values * sizeof(float));
  curandGenerator_t generator;
  curandCreateGenerator(&generator, type);
  curandSetQuasiRandomGeneratorDimensions(generator, dimension);
  time_on_device(state, [&] { curandGenerateUniform(generator, static_cast<float*>(out.data), values); });
  curandDestroyGenerator(generator);
}

void device_copy(benchmark::State& state) {
  device_buffer from(values * sizeof(float)), to(values * sizeof(float));
  cudaMemset(from.data, 1, values * sizeof(float));
  time_on_device(state, [&] { cudaMemcpy(to.data, from.data, values * sizeof(float), cudaMemcpyDeviceToDevice); });
}

void device_memset(benchmark::State& state) {
  device_buffer to(values * sizeof(float));
  time_on_device(state, [&] { cudaMemset(to.data, 0, values * sizeof(float)); });
}

}  // namespace

BENCHMARK_CAPTURE(tessera_sobol, unscrambled, net_randomization::none)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(tessera_sobol, lms_ds, net_randomization::lms_digital_shift)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(tessera_sobol, nus, net_randomization::nus)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(tessera_lattice)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(curand_sobol32, sobol32, CURAND_RNG_QUASI_SOBOL32)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(curand_sobol32, scrambled_sobol32, CURAND_RNG_QUASI_SCRAMBLED_SOBOL32)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(device_copy)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(device_memset)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
