#pragma once
// Internals of es/cuda/perturbed_forward.cuh: the fused low-rank forward, after X W one kernel in
// which a block projects a unit (project_unit) and expands it (expand_tile), the rule that picks
// it over kernels 1 and 2 (fused_forward_serves), and its launcher. How it works: the top of
// perturbed_forward.cuh.

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "tessera/core/concepts.hpp"
#include "tessera/core/cuda/check.cuh"
#include "tessera/core/cuda/detail/device_attribute.cuh"
#include "tessera/core/cuda/detail/stream_buffer.cuh"
#include "tessera/core/cuda/detail/warp.cuh"
#include "tessera/core/random.hpp"
#include "tessera/es/cuda/detail/expand_kernel.cuh"
#include "tessera/es/cuda/detail/forward_call.cuh"
#include "tessera/es/cuda/detail/packet.cuh"
#include "tessera/es/cuda/detail/skinny_product.cuh"
#include "tessera/es/cuda/noise.cuh"

namespace tessera::es::detail {

/// The largest rank the fused forward takes: each of its threads keeps b × r sums (b <=
/// skinny_max_rows) of its rows of X A in registers, 32 floats or 16 doubles at most within its
/// 64 registers (double at rank 4 spilled 356 bytes).
template <float_or_double T>
inline constexpr std::uint32_t fused_max_rank = sizeof(T) == 4 ? 4 : 2;

/// Rows of A a thread of the fused kernel draws per chunk: one Philox block per rank (four floats
/// or two doubles), so that its draws j r + k are whole blocks.
template <float_or_double T>
inline constexpr std::uint32_t fused_rows_per_thread = static_cast<std::uint32_t>(draws_per_block<T>);

/// Rows of X (and A) per chunk of the fused kernel: forward_threads threads of
/// fused_rows_per_thread rows; b rows of them fill factor_tile_bytes (32 KiB) at b = 8.
template <float_or_double T>
inline constexpr std::uint32_t fused_chunk_rows = forward_threads * fused_rows_per_thread<T>;
static_assert(skinny_max_rows * fused_chunk_rows<float> * sizeof(float) <= factor_tile_bytes &&
              skinny_max_rows * fused_chunk_rows<double> * sizeof(double) <= factor_tile_bytes);

/// P_u = scale X A_u (b × R, R = r) into p_u (shared memory) for unit u, by the whole block:
/// chunks of fused_chunk_rows rows of X staged in `stage`, each thread drawing A's rows j0 ..
/// j0 + fused_rows_per_thread of the chunk (R whole Philox blocks) and adding their products to
/// its b × R sums in registers, which the warps then reduce (shuffles, then the warps' sums in
/// warp order through `warp_sums`): a fixed order of sums, the same bits every run.
template <float_or_double T, int R>
__device__ void project_unit(const T* x, const forward_shape& shape, const random_stream& stream, T scale,
                             bool vector_staging, T* stage, T (*warp_sums)[skinny_max_rows * fused_max_rank<T>],
                             T* p_u) {
  constexpr std::uint32_t per_thread = fused_rows_per_thread<T>, chunk = fused_chunk_rows<T>;
  constexpr std::uint64_t per_block = draws_per_block<T>;
  const std::uint32_t b = shape.b, m = shape.m, j0 = threadIdx.x * per_thread;
  T sums[skinny_max_rows][R] = {};
  for (std::uint32_t c0 = 0; c0 < m; c0 += chunk) {
    const std::uint32_t rows = min(chunk, m - c0);
    __syncthreads();  // every thread is done with the previous chunk (or tile of B)
    stage_rows(x + c0, m, b, rows, stage, chunk, vector_staging);
    __syncthreads();
    if (j0 >= rows) continue;
    // The thread's draws first (R Philox blocks), then one 16-byte read of X per row, so that
    // only the draws, the sums and one row's values are live (the Philox block and Box-Muller
    // take the rest of the 64 registers).
    T z[R * per_block];
#pragma unroll
    for (int kb = 0; kb < R; ++kb) {
      const auto block = normal_block<T>(stream, (std::uint64_t{c0} + j0) * R / per_block + kb);
#pragma unroll
      for (std::uint32_t e = 0; e < per_block; ++e) z[kb * per_block + e] = block[e];
    }
    const std::uint32_t live = min(per_thread, rows - j0);  // rows past m in the last chunk hold stale values
#pragma unroll
    for (std::uint32_t row = 0; row < skinny_max_rows; ++row) {
      if (row >= b) break;
      const auto xs = *reinterpret_cast<const packet<T, per_thread>*>(stage + row * chunk + j0);
#pragma unroll
      for (std::uint32_t d = 0; d < R * per_block; ++d) {
        const std::uint32_t j = d / R, k = d % R;  // R is a constant: no division
        if (j < live) sums[row][k] = fma(xs.value[j], z[d], sums[row][k]);
      }
    }
  }
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
  for (std::uint32_t row = 0; row < skinny_max_rows; ++row)
#pragma unroll
    for (int k = 0; k < R; ++k) {
      if (row >= b) continue;  // uniform: b is the shape's
      const T total = tessera::detail::group_sum(sums[row][k], 32);
      if (lane == 0) warp_sums[warp][row * R + k] = total;
    }
  __syncthreads();
  if (threadIdx.x < b * R) {
    T total = 0;
    for (unsigned w = 0; w < blockDim.x / 32; ++w) total += warp_sums[w][threadIdx.x];
    p_u[threadIdx.x] = total * scale;
  }
}

/// The fused forward (shared inputs, b <= skinny_max_rows, r = R <= fused_max_rank<T>): one block
/// per unit at a time computes the unit's P (project_unit) and then expands every tile of its
/// columns (expand_tile), with no P in global memory and one launch instead of two. Its blocks
/// drift apart, so that some draw A (issue-bound) while others write outputs (memory-bound);
/// with many units per block this hides the projection under the output's writes.
template <float_or_double T, int Vec, int R>
__global__ void __launch_bounds__(forward_threads, 4)
    fused_forward_kernel(const T* x, const T* xw, forward_shape shape, member_streams<T> noise,
                         std::uint32_t tile_columns, T* out) {
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  T* const stage = reinterpret_cast<T*>(shared_bytes);  // X's chunk, then B's tile
  __shared__ T warp_sums[forward_threads / 32][skinny_max_rows * fused_max_rank<T>];
  __shared__ T p_u[skinny_max_rows * fused_max_rank<T>];
  const bool vector_staging = aligned_16(x) && shape.m % vector_width<T> == 0;
  const std::uint64_t units = noise.units();
  for (std::uint64_t u = blockIdx.x; u < units; u += gridDim.x) {
    project_unit<T, R>(x, shape, noise.unit_stream(u), noise.scale, vector_staging, stage, warp_sums, p_u);
    for (std::uint32_t c0 = 0; c0 < shape.n; c0 += tile_columns)
      expand_tile<T, Vec>(xw, 0, p_u, shape, noise, u, c0, tile_columns, stage, out);
  }
}

/// The fused forward (fused_forward_kernel) after X W: out = X W ± P Bᵀ with P computed per
/// unit inside the kernel, for a call that fused_forward_serves. Throws cuda_error on a
/// failed launch.
template <float_or_double T>
void launch_fused(const forward_call<T>& call, const forward_shape& shape, const T* xw, const char* where) {
  const std::uint32_t columns = expand_tile_columns<T>(shape, vector_width<T>);
  const std::size_t shared = std::max(std::size_t{shape.b} * fused_chunk_rows<T>, std::size_t{columns} * shape.r) *
                             sizeof(T);
  const unsigned grid = grid_blocks(call.noise.units());
  const cudaStream_t stream = call.policy.stream;
  const auto launch = [&](auto kernel) {
    kernel<<<grid, forward_threads, shared, stream>>>(call.x.data, xw, shape, call.noise, columns, call.out);
  };
  if (shape.r == 1) {
    launch(fused_forward_kernel<T, vector_width<T>, 1>);
  } else if (shape.r == 2) {
    launch(fused_forward_kernel<T, vector_width<T>, 2>);
  } else if constexpr (fused_max_rank<T> == 4) {
    if (shape.r == 3)
      launch(fused_forward_kernel<T, vector_width<T>, 3>);
    else
      launch(fused_forward_kernel<T, vector_width<T>, 4>);
  }
  check_launch(where);
}

/// Units per SM from which the fused forward beats the project and expand kernels whatever m:
/// with fewer, its blocks (one unit each, m r draws in a row) leave SMs idle while the split-K
/// project kernel spreads A's rows over the device beside X W. At rank 1 the projection is a
/// small part of the forward and the fused kernel needs more units to gain. Measured on an H100
/// at m = n = 4096 and 8192 (docs/benchmarks.md): rank 1 lost 2-5% at 4 units per SM and won
/// 6% at 16 and 18-20% at 62; ranks 2 and 4 tied or lost below 2 units per SM and won 5-42%
/// from 4.
constexpr std::uint64_t fused_min_units_per_sm(std::uint32_t r) { return r == 1 ? 8 : 2; }

/// Rows of W up to which the fused forward wins even for few units (its per-unit draws are
/// short), provided it keeps the expand kernel's parallelism (below): every shape measured at
/// m = n = 1024 ran 1.2-1.5 times faster fused, down to 64 units.
inline constexpr std::uint32_t fused_short_rows = 2048;

/// Whether the fused forward serves the call: shared inputs of at most skinny_max_rows rows,
/// r <= fused_max_rank<T>, 16-byte vectors for the outputs (n a multiple of the vector width, out
/// 16-byte aligned; X W is in scratch, 256-byte aligned), and either many units
/// (fused_min_units_per_sm) or a short W (fused_short_rows) with as many blocks as the expand
/// kernel would have: a unit's columns fit one expand tile, or a unit per SM (a fused block
/// expands all of its unit's tiles, so few units of wide rows would leave SMs idle). One device
/// attribute query.
template <float_or_double T>
bool fused_forward_serves(const forward_call<T>& call, const forward_shape& shape, const char* where) {
  if (shape.inputs != member_inputs::shared || shape.b > skinny_max_rows || shape.r > fused_max_rank<T> ||
      shape.n % vector_width<T> != 0 || !aligned_16(call.out))
    return false;
  const std::uint64_t units = call.noise.units();
  const auto sms = static_cast<std::uint64_t>(
      tessera::detail::current_device_attribute(cudaDevAttrMultiProcessorCount, where));
  if (units >= fused_min_units_per_sm(shape.r) * sms) return true;
  return shape.m <= fused_short_rows && (units >= sms || expand_tile_columns<T>(shape, vector_width<T>) >= shape.n);
}

/// The fused forward: the skinny X W, then fused_forward_kernel, on the caller's stream; scratch
/// for X W and its ranges' partial sums only.
template <float_or_double T>
void forward_fused(const forward_call<T>& call, const forward_shape& shape, const skinny_plan& xw_plan,
                   const char* where) {
  const std::size_t xw_size = padded<T>(std::size_t{shape.b} * shape.n);
  const tessera::detail::stream_buffer<T> scratch(xw_size + xw_plan.partial_values(), call.policy.stream, where);
  skinny_product(call.x.data, call.w.data, xw_plan, scratch.data() + xw_size, scratch.data(), call.policy.stream,
                 where);
  launch_fused(call, shape, scratch.data(), where);
}

}  // namespace tessera::es::detail
