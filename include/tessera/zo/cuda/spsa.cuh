#pragma once
// The device side of shared-seed SPSA (zo/spsa.hpp): θ moved along a direction regenerated from
// its stream, in device memory.
//
//   θ_j ← θ_j + scale · z_j,   z_j = normal<T>(z_stream, j),   j < |θ|.
//
// With z_stream = perturbation_stream(id) and scale = ±ε, 2ε, −η g/n this is every move of a
// step (zo/spsa.hpp): θ + εz, θ − 2εz, θ + εz for in_place restoration; for exact restoration,
// copy the saved θ back and perturb it (saved + m ε z is that sum); the update θ − c z is
// perturb(θ, z, −c) (negating c and the sum's sign are exact).
//
// Bits: the product and the sum are rounded separately (__fmul_rn, __fadd_rn; __dmul_rn,
// __dadd_rn), which nvcc would otherwise fuse into one fma, so each θ_j is the host's
// `theta[j] += a * z[j]` (detail/normal_passes.hpp, add_scaled_normal) bit for bit, the draws
// being the host's too. That holds where the host compiler does not contract a * z + θ into an
// fma either: g++ and clang++ on x86-64 cannot without -mfma / -march=native (the default
// flags); with such flags add -ffp-contract=off to keep the host bit-equal.

#include <cuda_runtime_api.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

#include "tessera/core/concepts.hpp"
#include "tessera/core/cuda/check.cuh"
#include "tessera/core/exec.hpp"
#include "tessera/core/random.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::zo {
namespace detail {

/// θ + a z with the product and the sum rounded separately, as the host computes it.
__device__ inline float add_scaled(float theta, float a, float z) { return __fadd_rn(theta, __fmul_rn(a, z)); }
__device__ inline double add_scaled(double theta, double a, double z) { return __dadd_rn(theta, __dmul_rn(a, z)); }

/// Philox blocks' worth of values moved as one 16-byte access.
template <float_or_double T>
struct alignas(16) block_values {
  T value[draws_per_block<T>];
};

/// One thread per Philox block of z: θ_j += scale z_j for the block's j < n. `aligned`: θ is
/// 16-byte aligned, so a whole block of θ is one vector load and store.
template <float_or_double T>
__global__ void perturb_kernel(T* theta, std::uint64_t n, random_stream z_stream, T scale, bool aligned) {
  constexpr std::uint64_t per_block = draws_per_block<T>;
  const std::uint64_t blocks = (n + per_block - 1) / per_block;
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t block = blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x; block < blocks; block += stride) {
    const auto z = normal_block<T>(z_stream, block);
    T* part = theta + block * per_block;
    if (aligned && (block + 1) * per_block <= n) {
      block_values<T> values = *reinterpret_cast<const block_values<T>*>(part);
#pragma unroll
      for (std::uint64_t e = 0; e < per_block; ++e) values.value[e] = add_scaled(values.value[e], scale, z[e]);
      *reinterpret_cast<block_values<T>*>(part) = values;
    } else {
      for (std::uint64_t e = 0; block * per_block + e < n && e < per_block; ++e)
        part[e] = add_scaled(part[e], scale, z[e]);
    }
  }
}

}  // namespace detail

/// θ_j += scale · normal<T>(z_stream, j) for every j < theta.size(), θ in device memory, on
/// policy.stream; the host's bits (see the top of this header). O(|θ|): one thread per Philox
/// block, reading and writing θ once. Throws invalid_argument (before any launch) unless scale
/// is finite; cuda_error on a failed launch. Returns once the kernel is enqueued.
template <float_or_double T>
void perturb(exec::cuda policy, std::span<T> theta, const random_stream& z_stream, T scale) {
  constexpr auto where = "tessera::zo::perturb";
  require_finite(where, "scale", scale);
  if (theta.empty()) return;
  constexpr unsigned threads = 256;
  const std::uint64_t blocks = (theta.size() + draws_per_block<T> - 1) / draws_per_block<T>;
  const std::uint64_t wanted = (blocks + threads - 1) / threads;
  constexpr std::uint64_t most = std::uint64_t{1} << 20;  // the kernel loops over the rest
  const bool aligned = std::bit_cast<std::uintptr_t>(theta.data()) % 16 == 0;
  detail::perturb_kernel<T><<<static_cast<unsigned>(wanted < most ? wanted : most), threads, 0, policy.stream>>>(
      theta.data(), theta.size(), z_stream, scale, aligned);
  check_launch(where);
}

}  // namespace tessera::zo
