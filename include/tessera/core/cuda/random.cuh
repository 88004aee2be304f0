#pragma once
// The device backend of core/random.hpp: fills of device memory with the same bits as the host.

#include <cstdint>
#include <span>

#include "tessera/core/cuda/check.cuh"
#include "tessera/core/random.hpp"

namespace tessera {
namespace detail {

template <float_or_double T>
struct uniform_blocks {
  random_stream stream;
  static constexpr int per_block = draws_per_block<T>;
  __device__ std::array<T, per_block> operator()(std::uint64_t k) const {
    return uniform_block<T>(stream, k);
  }
};

template <float_or_double T>
struct normal_blocks {
  random_stream stream;
  static constexpr int per_block = draws_per_block<T>;
  __device__ std::array<T, per_block> operator()(std::uint64_t k) const {
    return normal_block<T>(stream, k);
  }
};

/// Rademacher signs by 32-bit word: unit u is word u % 4 of block u / 4 (one thread per word
/// keeps the per-thread output small; the bits are those of the host's 128-sign blocks).
template <float_or_double T>
struct rademacher_words {
  random_stream stream;
  static constexpr int per_block = 32;
  __device__ std::array<T, per_block> operator()(std::uint64_t u) const {
    const std::uint32_t word = stream.block(u / 4)[u % 4];
    std::array<T, per_block> signs;
#pragma unroll
    for (int b = 0; b < per_block; ++b) signs[b] = ((word >> b) & 1u) != 0 ? T(1) : T(-1);
    return signs;
  }
};

/// One thread per unit of Units::per_block draws; out[j] = draw(first + j).
template <class T, class Units>
__global__ void fill_units_kernel(T* out, std::uint64_t n, std::uint64_t first, Units units) {
  constexpr std::uint64_t per = Units::per_block;
  const std::uint64_t first_unit = first / per;
  const std::uint64_t unit_count = (first + n - 1) / per - first_unit + 1;
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  for (std::uint64_t t = blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x; t < unit_count;
       t += stride) {
    const std::uint64_t unit = first_unit + t;
    const auto values = units(unit);
    const std::uint64_t begin = unit * per;
#pragma unroll
    for (std::uint64_t r = 0; r < per; ++r) {
      const std::uint64_t index = begin + r;
      if (index >= first && index < first + n) out[index - first] = values[r];
    }
  }
}

template <class T, class Units>
void launch_fill(exec::cuda policy, std::span<T> out, std::uint64_t first, Units units,
                 const char* what) {
  if (out.empty()) return;
  constexpr int threads = 256;
  const std::uint64_t units_needed = (first + out.size() - 1) / Units::per_block -
                                     first / Units::per_block + 1;
  const std::uint64_t wanted = (units_needed + threads - 1) / threads;
  const unsigned grid = static_cast<unsigned>(wanted < 65535u * 64u ? wanted : 65535u * 64u);
  fill_units_kernel<<<grid, threads, 0, policy.stream>>>(out.data(), out.size(), first, units);
  check_launch(what);
}

}  // namespace detail

/// Device version of fill_uniform: out is device memory; identical bits to the host version.
/// Enqueued on policy.stream. O(n) work, one thread per Philox block.
template <float_or_double T>
void fill_uniform(exec::cuda policy, const random_stream& s, std::span<T> out,
                  std::uint64_t first = 0) {
  detail::launch_fill(policy, out, first, detail::uniform_blocks<T>{s}, "tessera::fill_uniform");
}

/// Device version of fill_normal: out is device memory; identical bits to the host version.
template <float_or_double T>
void fill_normal(exec::cuda policy, const random_stream& s, std::span<T> out,
                 std::uint64_t first = 0) {
  detail::launch_fill(policy, out, first, detail::normal_blocks<T>{s}, "tessera::fill_normal");
}

/// Device version of fill_rademacher: out is device memory; identical values to the host version.
template <float_or_double T>
void fill_rademacher(exec::cuda policy, const random_stream& s, std::span<T> out,
                     std::uint64_t first = 0) {
  detail::launch_fill(policy, out, first, detail::rademacher_words<T>{s},
                      "tessera::fill_rademacher");
}

}  // namespace tessera
