#pragma once
// Internals of the es device backend: adding the partial sums of a split-K kernel (each block
// summed one range of the reduced dimension) in range order, so that every run gives the same
// bits (atomics would add in the order blocks finish).

#include <cuda_runtime_api.h>

#include <cstdint>

#include "tessera/core/concepts.hpp"

namespace tessera::es::detail {

/// p[i] = scale Σ_{s < splits} partial[s size + i] for i < size, summed in the order of s: the
/// ranges of a split-K kernel added in a fixed order (no atomics: the same bits every run).
template <float_or_double T>
__global__ void sum_partials_kernel(const T* partial, std::uint32_t splits, std::uint64_t size, T scale, T* p) {
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t i = blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x; i < size; i += stride) {
    T sum = partial[i];
    for (std::uint32_t s = 1; s < splits; ++s) sum += partial[s * size + i];
    p[i] = sum * scale;
  }
}

}  // namespace tessera::es::detail
