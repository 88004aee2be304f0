#pragma once
// The ES gradient estimate on a CUDA device (es/gradient_estimate.hpp on exec::cuda):
//
//   ĝ = 1/(N σ) Σ_k c_k ε_k   for every block of the layout, the ε_k regenerated from their streams.
//
// Low-rank matrix blocks (EGGROLL): G = 1/(N σ √r) Σ_k c_k A_k B_kᵀ as cuBLAS GEMMs over chunks
// of C members: a kernel writes the stacked factors UA (m × C r, column-major, column k r + q =
// c_k A_k[:, q]) and UB (n × C r, column k r + q = B_k[:, q]) from the streams, and
// Gᵀ (n × m column-major, which is G row-major) += α UB UAᵀ. C is chosen as on the host, so that
// the factors held at once number about `chunk_elements` (16 Mi values by default).
// Vector blocks and full-rank matrices: one thread per Philox block of outputs loops over the
// noise indices k in order, accumulating c_k z with separate roundings (no fma), skipping c_k = 0,
// and scales by 1/(N σ) at the end: the host's operations in the host's order, so these blocks
// equal the host's bit for bit (where the host does not contract a + c z into an fma: x86-64
// without -mfma does not). Low-rank blocks agree within the GEMM's rounding: elementwise
// |Δ| <= 2 (C r + 3) u Σ_k |c_k| |A_k| |B_k|ᵀ / (N σ √r) over a chunk, summed over the chunks.

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "tessera/core/concepts.hpp"
#include "tessera/core/cuda/check.cuh"
#include "tessera/core/cuda/detail/stream_buffer.cuh"
#include "tessera/core/exec.hpp"
#include "tessera/core/random.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/es/cuda/detail/blas.cuh"
#include "tessera/es/cuda/noise.cuh"
#include "tessera/es/gradient_estimate.hpp"
#include "tessera/es/noise.hpp"
#include "tessera/es/parameter_layout.hpp"

namespace tessera::es {
namespace detail {

/// The streams of one block of one generation: noise index k draws from
/// noise_stream(seed, layer, generation, k).
struct block_streams {
  std::uint64_t seed;
  std::uint32_t layer;
  std::uint32_t generation;

  __device__ random_stream of(std::uint64_t k) const {
    return random_stream(seed, layer, generation, static_cast<std::uint32_t>(k));
  }
};

/// c z + g rounded as the host's g += c z (a product, then a sum; nvcc would fuse them).
__device__ inline float accumulate_scaled(float g, float c, float z) { return __fadd_rn(g, __fmul_rn(c, z)); }
__device__ inline double accumulate_scaled(double g, double c, double z) { return __dadd_rn(g, __dmul_rn(c, z)); }
__device__ inline float rounded_product(float a, float b) { return __fmul_rn(a, b); }
__device__ inline double rounded_product(double a, double b) { return __dmul_rn(a, b); }

/// g[j] = scale Σ_k c_k normal<T>(stream_k, j) for j < size, k < k_count in order, c_k = 0 skipped.
template <float_or_double T>
__global__ void dense_estimate_kernel(block_streams streams, const T* c, std::uint64_t k_count, std::uint64_t size,
                                      T scale, T* g) {
  constexpr std::uint64_t per_block = draws_per_block<T>;
  const std::uint64_t blocks = (size + per_block - 1) / per_block;
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t block = blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x; block < blocks; block += stride) {
    T sum[per_block] = {};
    for (std::uint64_t k = 0; k < k_count; ++k) {
      const T ck = c[k];
      if (ck == T(0)) continue;  // as the host: tied pairs and zero weights add nothing
      const auto z = normal_block<T>(streams.of(k), block);
#pragma unroll
      for (std::uint64_t e = 0; e < per_block; ++e) sum[e] = accumulate_scaled(sum[e], ck, z[e]);
    }
#pragma unroll
    for (std::uint64_t e = 0; e < per_block; ++e) {
      const std::uint64_t j = block * per_block + e;
      if (j < size) g[j] = rounded_product(sum[e], scale);
    }
  }
}

/// Draws of one member's factors each block of the stacking kernel generates.
inline constexpr std::uint32_t stacking_tile_draws = 4096;

/// For members k0 + q, q < members: UA[j + m (q r + i)] = c_(k0+q) A[j][i] and
/// UB[col + n (q r + i)] = B[col][i] (both column-major with leading dimensions m and n).
template <float_or_double T>
__global__ void stack_factors_kernel(block_streams streams, std::uint64_t m, std::uint64_t n, std::uint64_t r,
                                     const T* c, std::uint64_t k0, std::uint64_t members, T* ua, T* ub) {
  const std::uint64_t a_draws = m * r, draws = (m + n) * r;
  const std::uint64_t tiles = (draws + stacking_tile_draws - 1) / stacking_tile_draws;
  for (std::uint64_t item = blockIdx.x; item < members * tiles; item += gridDim.x) {
    const std::uint64_t q = item / tiles, first = (item % tiles) * stacking_tile_draws;
    const auto count = static_cast<std::uint32_t>(std::min<std::uint64_t>(stacking_tile_draws, draws - first));
    const T ck = c[k0 + q];
    generate_normal_range<T>(streams.of(k0 + q), first, count, [=](std::uint32_t i, T z) {
      const std::uint64_t d = first + i;
      if (d < a_draws)
        ua[d / r + m * (q * r + d % r)] = ck * z;
      else
        ub[(d - a_draws) / r + n * (q * r + (d - a_draws) % r)] = z;
    });
  }
}

/// G (m × n row-major, device) = α Σ_k c_k A_k B_kᵀ, the sum in GEMMs over chunks of members
/// sized as the host's accumulate_low_rank; c: the K coefficients in device memory.
template <float_or_double T>
void estimate_low_rank_block(exec::cuda policy, cublasHandle_t handle, const parameter_block& block,
                             std::size_t r, block_streams streams, const T* c, std::size_t k_count, T alpha, T* g,
                             std::size_t chunk_elements, const char* where) {
  const std::size_t m = block.rows, n = block.cols;
  // As the host; and C r within cuBLAS's int.
  const std::size_t chunk = std::clamp<std::size_t>(chunk_elements / ((m + n) * r), 1,
                                                    std::min<std::size_t>(k_count, INT_MAX / r));
  const tessera::detail::stream_buffer<T> ua(m * chunk * r, policy.stream, where);
  const tessera::detail::stream_buffer<T> ub(n * chunk * r, policy.stream, where);
  const std::uint64_t tiles = ((m + n) * r + stacking_tile_draws - 1) / stacking_tile_draws;
  for (std::size_t k0 = 0; k0 < k_count; k0 += chunk) {
    const std::size_t members = std::min(chunk, k_count - k0);
    stack_factors_kernel<T><<<grid_blocks(members * tiles), 256, 0, policy.stream>>>(
        streams, m, n, r, c, k0, members, ua.data(), ub.data());
    check_launch(where);
    // Gᵀ (n × m, column-major) = α UB UAᵀ (+ the previous chunks).
    gemm(handle, CUBLAS_OP_N, CUBLAS_OP_T, n, m, members * r, alpha, ub.data(), n, ua.data(), m,
         k0 == 0 ? T(0) : T(1), g, n, where);
  }
}

}  // namespace detail

/// ĝ = 1/(N σ) Σ_k c_k ε_k for every block of the layout into `gradient` (device memory), on
/// policy.stream; the device version of estimate_gradient (see the top of this header).
///   handle: the caller's cuBLAS handle (its stream and pointer mode are restored on return);
///   noise: low_rank{r} or full_rank{}; sigma > 0; seed, generation: the streams;
///   coefficients: c_k from noise_coefficients, in host memory (copied to the device);
///   population: N >= 1; gradient: |θ| device values; chunk_elements: the factors a low-rank block
///   holds at once (scratch of chunk_elements values, at least one member's r (m + n)).
/// Complexity: low-rank blocks O(K r m n) in GEMMs and O(K r (m + n)) draws; vector and full-rank
/// blocks O(K · size) draws. Returns once the work is enqueued (`coefficients` may be freed then).
/// Throws invalid_argument before any launch for gradient.size() != layout.size(), σ <= 0 or not
/// finite, N = 0, a rank outside [1, min(m, n)] for a matrix block, more than 2^32 coefficients,
/// matrix dimensions over 2^31 − 1, or a null handle; cuda_error on a failed allocation, copy,
/// launch or cuBLAS call.
template <float_or_double T, noise_kind Noise>
void estimate_gradient(exec::cuda policy, cublasHandle_t handle, const parameter_layout& layout, Noise noise, T sigma,
                       std::uint64_t seed, std::uint32_t generation, std::span<const T> coefficients,
                       std::size_t population, std::span<T> gradient,
                       std::size_t chunk_elements = detail::default_chunk_elements) {
  constexpr auto where = "tessera::es::estimate_gradient";
  require(handle != nullptr, where, "handle", "null", "a cuBLAS handle from cublasCreate");
  require_same_size(where, "gradient", gradient.size(), "layout", layout.size());
  require_positive(where, "sigma", sigma);
  require(population >= 1, where, "population", population, ">= 1");
  require_rank_fits(layout, noise);
  require(coefficients.size() <= (std::uint64_t{1} << 32), where, "coefficients.size()", coefficients.size(),
          "<= 2^32 (32-bit noise indices)");
  for (const parameter_block& b : layout.blocks())
    require(!b.is_matrix() || (detail::fits_blas_int(b.rows) && detail::fits_blas_int(b.cols)), where,
            "matrix block", std::to_string(b.rows) + " x " + std::to_string(b.cols),
            "dimensions <= 2^31 - 1 (cuBLAS)");
  if (gradient.empty()) return;
  const std::size_t k_count = coefficients.size();
  if (k_count == 0) {
    check_cuda(cudaMemsetAsync(gradient.data(), 0, gradient.size() * sizeof(T), policy.stream), where);
    return;
  }
  const detail::cublas_call_scope scope(handle, policy.stream, where);
  const tessera::detail::stream_buffer<T> c(k_count, policy.stream, where);
  check_cuda(cudaMemcpyAsync(c.data(), coefficients.data(), k_count * sizeof(T), cudaMemcpyHostToDevice,
                             policy.stream),
             where);
  const T scale = T(1) / (static_cast<T>(population) * sigma);
  for (std::size_t l = 0; l < layout.block_count(); ++l) {
    const parameter_block& b = layout.block(l);
    const detail::block_streams streams{seed, static_cast<std::uint32_t>(l), generation};
    T* g = gradient.data() + b.offset;
    if constexpr (std::same_as<Noise, low_rank>) {
      if (b.is_matrix()) {
        const T alpha = scale / std::sqrt(static_cast<T>(noise.rank));
        detail::estimate_low_rank_block(policy, handle, b, noise.rank, streams, c.data(), k_count, alpha, g,
                                        chunk_elements, where);
        continue;
      }
    }
    const std::uint64_t blocks = (b.size() + draws_per_block<T> - 1) / draws_per_block<T>;
    detail::dense_estimate_kernel<T><<<detail::grid_blocks((blocks + 255) / 256), 256, 0, policy.stream>>>(
        streams, c.data(), k_count, b.size(), scale, g);
    check_launch(where);
  }
}

}  // namespace tessera::es
