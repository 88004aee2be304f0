#pragma once
// Internals of the es device backend: adding the partial sums of a split-K kernel (each block
// summed one range of the reduced dimension) in range order, so that every run gives the same
// bits (atomics would add in the order blocks finish).
//
// The sum is launched right behind its split-K kernel on the same stream. Where the device allows
// it (compute capability 9.0 and later) it is a programmatic dependent launch: its blocks are
// scheduled while the split-K kernel's last blocks run and wait (griddepcontrol.wait) until that
// kernel has finished and its writes are visible, which hides the gap between the two launches.

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>

#include "tessera/core/concepts.hpp"
#include "tessera/core/cuda/check.cuh"
#include "tessera/core/cuda/detail/device_attribute.cuh"

namespace tessera::es::detail {

/// Waits until the grids this one depends on programmatically have finished and their memory
/// is visible; returns at once for a launch that is not programmatic (or before compute
/// capability 9.0, which has no such launches).
__device__ inline void wait_for_prior_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

/// p[i] = scale Σ_{s < splits} partial[s size + i] for i < size, summed in the order of s: the
/// ranges of a split-K kernel added in a fixed order (no atomics: the same bits every run).
template <float_or_double T>
__global__ void sum_partials_kernel(const T* partial, std::uint32_t splits, std::uint64_t size, T scale, T* p) {
  wait_for_prior_grid();
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t i = blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x; i < size; i += stride) {
    T sum = partial[i];
    for (std::uint32_t s = 1; s < splits; ++s) sum += partial[s * size + i];
    p[i] = sum * scale;
  }
}

/// sum_partials_kernel on `stream` over `size` values of `splits` ranges, behind the split-K
/// kernel just enqueued there: a programmatic dependent launch on devices of compute capability
/// 9.0 and later (see the top of this file), an ordinary one before. O(splits size) work.
/// Throws cuda_error when a query or the launch fails.
template <float_or_double T>
void launch_sum_partials(const T* partial, std::uint32_t splits, std::uint64_t size, T scale, T* p,
                         cudaStream_t stream, const char* where) {
  constexpr unsigned threads = 256;
  const auto blocks = static_cast<unsigned>(
      std::min<std::uint64_t>(std::max<std::uint64_t>((size + threads - 1) / threads, 1), std::uint64_t{1} << 20));
  const int major = tessera::detail::current_device_attribute(cudaDevAttrComputeCapabilityMajor, where);
  cudaLaunchAttribute overlap{};
  overlap.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  overlap.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = blocks;
  config.blockDim = threads;
  config.stream = stream;
  config.attrs = &overlap;
  config.numAttrs = major >= 9 ? 1 : 0;
  check_cuda(cudaLaunchKernelEx(&config, sum_partials_kernel<T>, partial, splits, size, scale, p), where);
}

}  // namespace tessera::es::detail
