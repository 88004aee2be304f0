#pragma once
// The batched perturbed forward of one layer on a CUDA device (es/perturbed_forward.hpp on
// exec::cuda):
//
//   Y_i = X_i (W + σ E_i),  i in [first, first + count),  W: m × n,  every matrix row-major.
//
// X_i is one X (b × m) for all members (member_inputs::shared: X W is computed once for the
// population, by es/cuda/detail/skinny_product.cuh for b <= 8 rows, else by cuBLAS) or the
// members' own rows (member_inputs::per_member: X stacks count blocks of b rows, and X W is one
// GEMM of count b rows written straight into the output).
//
// EGGROLL (low_rank{r}): Y_i = (X W)_i + (σ_i/√r) (X_i A_i) B_iᵀ, σ_i = ±σ. The members that draw
// one noise index form a unit — an antithetic pair (the same A, B; opposite signs) or, without
// pairs, one member — whose factors are generated once, where they are used (es/cuda/noise.cuh),
// never in global memory. Two kernels:
//  1. project: P_p = (σ/√r) X_p A_p (b × r) for every projection p: one per unit with shared
//     inputs (the pair's − member uses −P), one per member with per-member inputs. A thread block
//     takes a tile of projections (several with shared inputs, so that they share one staged X), a
//     tile of X's rows and a range of A's rows (split-K, so that the blocks fill the device even
//     for few members), and walks its range chunk by chunk: the chunk of X staged in shared
//     memory, each projection's chunk of A generated beside it (row pitch r rounded up to an odd
//     number, so the lanes' strided reads hit distinct banks). A warp owns four output rows by four
//     (projection, rank) columns, its lanes run over the chunk's rows, a shuffle reduction closes
//     each chunk and lanes 0..15 add it to the range's sums. A small kernel adds the ranges' sums
//     in range order and scales them (es/cuda/detail/partial_sums.cuh). Each output has one owner
//     and a fixed order of sums: no atomics, the same bits every run.
//  2. expand: one thread block per (unit, tile of columns) generates the tile's rows of B_u
//     (contiguous draws: columns × r) into shared memory, transposed so that a thread's Vec
//     consecutive columns of one rank are one vector load. A thread owns Vec columns (4 floats or
//     2 doubles: 16 bytes) and its share of the b rows (all of them when the tile spans 256 vectors),
//     2 rows at a time in registers: s = Σ_k P[row][k] B_u[col][k], then y = (XW)_row + s for the
//     unit's + member and (XW)_row − s for its − member, written with 16-byte streaming stores.
//     With shared inputs s and the row of X W (from L2) serve both members of a pair; per-member
//     inputs give each member its own P and X W. B_u is generated once per (unit, column) and
//     reused by every row and member, so the kernel is a streaming write of the outputs.
//     n not a multiple of Vec, or pointers not 16-byte aligned, take a scalar variant.
// Kernel 1 runs beside X W, which it does not need (X W on a side stream,
// es/cuda/detail/stream_fork.cuh); kernel 2 waits for both. The call as a whole stays ordered on
// policy.stream: it starts after the work enqueued there before it, and work enqueued there after
// it starts after all of it.
// Fused (shared inputs, b <= 8, r <= 4 for float or 2 for double, 16-byte vectors, and many units
// or, for m <= 2048, one expand tile per unit or a unit per SM: fused_forward_serves): after X W,
// one kernel in which a block takes a unit at a time, computes its P = (σ/√r) X A_u itself (X
// staged in chunks, each thread drawing whole Philox blocks of A's rows and keeping b r sums in
// registers, reduced over the block in a fixed order) and then expands every tile of its columns
// as kernel 2 does. No P in global memory, and the blocks drift apart, so that the projection
// (issue-bound) of some hides under the writes (memory-bound) of others; kernel 1 beside X W hid
// little of it (its single wave of long blocks left no room beside X W's).
// Full rank (full_rank{}, the naive baseline): a kernel forms W + σ_i E_i (E_i's m n draws) for
// a chunk of members in scratch memory, then one strided-batched GEMM multiplies each by X_i.
//
// Agreement with the host: the same draws bit for bit, the same sums in another order. Each
// output is a dot product of length m, a scaling, a dot product of length r and a sum (the host
// scales X first, then adds the product to X W; the device's − member subtracts the + member's
// product, which is exactly the host's product with −σ), so device and host both lie within
// (m + r + 2) u M of the exact value, M = |X||W| + |σ/√r| (|X||A|)|B|ᵀ elementwise (u = 2^-24
// float, 2^-53 double; full rank: (m + 2) u |X| |W + σE|); tests/es/perturbed_forward_gpu_test.cu
// checks twice that bound.
//
// Memory: one scratch allocation ordered on the policy's stream (cudaMallocAsync): X W (b n values)
// when shared and, for the skinny product, its ranges' partial sums (b n values per range, one
// wave of its blocks over the tiles of columns), P (b r values per projection; not when fused),
// and when A's rows are split the ranges' partial sums (at most project_partial_values values);
// full rank: the perturbed weights of at most `scratch_bytes` (256 MiB) of members at a time. The
// cuBLAS handle runs with host-side α, β for the call (on the side stream for the low-rank GEMM,
// on policy.stream for full rank; its stream and pointer mode restored after); its math mode is
// the caller's, so TF32 tensor-op math, if the caller enabled it, changes the float GEMM's
// rounding beyond the bound above.

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
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
#include "tessera/core/matrix_view.hpp"
#include "tessera/core/random.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/es/cuda/detail/blas.cuh"
#include "tessera/es/cuda/detail/expand_kernel.cuh"
#include "tessera/es/cuda/detail/forward_call.cuh"
#include "tessera/es/cuda/detail/fused_forward.cuh"
#include "tessera/es/cuda/detail/project_kernel.cuh"
#include "tessera/es/cuda/detail/skinny_product.cuh"
#include "tessera/es/cuda/detail/stream_fork.cuh"
#include "tessera/es/cuda/member_inputs.cuh"
#include "tessera/es/cuda/noise.cuh"
#include "tessera/es/noise.hpp"
#include "tessera/es/parameter_layout.hpp"
#include "tessera/es/perturbed_forward.hpp"

namespace tessera::es {

/// The largest rank the device forward takes: a tile of B's rows (at least 16 bytes of columns
/// times r) fits the 32 KiB of shared memory the kernels use.
inline constexpr std::size_t max_device_rank = 2048;

/// The scratch memory the full-rank device forward may take at once for perturbed weights.
inline constexpr std::size_t default_forward_scratch_bytes = std::size_t{256} << 20;

namespace detail {

/// x + s z rounded twice, as the host's W + σE is (nvcc would otherwise fuse it into an fma).
__device__ inline float add_scaled(float x, float s, float z) { return __fadd_rn(x, __fmul_rn(s, z)); }
__device__ inline double add_scaled(double x, double s, double z) { return __dadd_rn(x, __dmul_rn(s, z)); }

/// Full rank: out[q] = W + signed_scale_(q0+q) E_(q0+q) for q < members, each m n values; one
/// thread per Philox block of E.
template <float_or_double T>
__global__ void perturbed_weights_kernel(const T* w, std::uint64_t size, member_streams<T> noise,
                                         std::uint64_t q0, std::uint64_t members, T* out) {
  constexpr std::uint64_t per_block = draws_per_block<T>;
  const std::uint64_t blocks_per_member = (size + per_block - 1) / per_block;
  const std::uint64_t units = members * blocks_per_member;
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t u = blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x; u < units; u += stride) {
    const std::uint64_t q = u / blocks_per_member, block = u % blocks_per_member;
    const auto z = normal_block<T>(noise.stream(q0 + q), block);
    const T s = noise.signed_scale(q0 + q);
#pragma unroll
    for (std::uint64_t e = 0; e < per_block; ++e) {
      const std::uint64_t j = block * per_block + e;
      if (j < size) out[q * size + j] = add_scaled(w[j], s, z[e]);
    }
  }
}

/// EGGROLL's forward. The fused kernel where it serves (fused_forward_serves); otherwise X W on a
/// side stream beside kernel 1 on the caller's (they are independent: the kernel is
/// compute-bound, X W memory-bound), then kernel 2 after both. X W is the skinny product for
/// shared inputs of at most skinny_max_rows rows, else a cuBLAS GEMM.
template <float_or_double T>
void forward_low_rank(const forward_call<T>& call, std::size_t r, const char* where) {
  const std::size_t m = call.w.rows, n = call.w.cols, b = call.b;
  const bool shared = call.inputs == member_inputs::shared;
  const bool skinny = shared && b <= skinny_max_rows;
  const forward_shape shape = shape_of(call, r);
  const bool vectorized = skinny && skinny_vectorized(shape.n, call.w.data);
  const skinny_plan xw_plan =
      skinny ? plan_skinny<T>(shape.b, shape.m, shape.n, vectorized, skinny_resident_blocks<T>(vectorized, where))
             : skinny_plan{};
  if (skinny && fused_forward_serves(call, shape, where)) {
    forward_fused(call, shape, xw_plan, where);
    return;
  }
  // Shared inputs: one projection per unit (a pair's − member uses −P); per member: one each.
  const project_tiling tiling = plan_project<T>(shape, shared ? call.noise.units() : call.count);
  const std::size_t p_size = padded<T>(tiling.projections * b * r);
  const std::size_t partial_size = tiling.splits > 1 ? tiling.splits * p_size : 0;
  const std::size_t xw_size = padded<T>(shared ? b * n : 0);
  const std::size_t xw_partial_size = skinny ? padded<T>(xw_plan.partial_values()) : 0;
  const cudaStream_t stream = call.policy.stream;
  // One allocation: X W (shared: once for all members, read from L2), its partial sums, P and the
  // project kernel's partial sums.
  const tessera::detail::stream_buffer<T> scratch(xw_size + xw_partial_size + p_size + partial_size, stream, where);
  T* const xw = shared ? scratch.data() : call.out;  // per member: straight into out, expanded in place
  T* const xw_partial = scratch.data() + xw_size;
  T* const p = xw_partial + xw_partial_size;
  stream_fork fork(stream, where);  // declared after the scratch: joined before it is freed
  // X W is enqueued first, on the side stream of high priority, so that its blocks (memory-bound)
  // are placed before the project kernel's device-filling wave takes the SMs.
  if (skinny) {
    skinny_product(call.x.data, call.w.data, xw_plan, xw_partial, xw, fork.side(), where);
  } else {
    const cublas_call_scope on_side(call.handle, fork.side(), where);
    gemm(call.handle, CUBLAS_OP_N, CUBLAS_OP_N, n, shared ? b : call.count * b, m, T(1), call.w.data, n, call.x.data,
         m, T(0), xw, n, where);
  }
  launch_project(call, shape, tiling, stream, p + p_size, p, where);
  fork.join(where);
  launch_expand(call, shape, xw, shared ? 0 : b * n, p, where);
}

/// The naive baseline: W + σ_i E_i formed per member, then one batched GEMM per chunk of members.
template <float_or_double T>
void forward_full_rank(const forward_call<T>& call, std::size_t scratch_bytes, const char* where) {
  const std::size_t m = call.w.rows, n = call.w.cols, size = m * n, b = call.b;
  const std::size_t chunk = std::clamp<std::size_t>(scratch_bytes / (size * sizeof(T)), 1, call.count);
  const tessera::detail::stream_buffer<T> weights(chunk * size, call.policy.stream, where);
  const bool shared = call.inputs == member_inputs::shared;
  for (std::size_t q0 = 0; q0 < call.count; q0 += chunk) {
    const std::size_t members = std::min(chunk, call.count - q0);
    const std::uint64_t threads = members * ((size + draws_per_block<T> - 1) / draws_per_block<T>);
    perturbed_weights_kernel<T><<<grid_blocks((threads + forward_threads - 1) / forward_threads), forward_threads, 0,
                                  call.policy.stream>>>(call.w.data, size, call.noise, q0, members, weights.data());
    check_launch(where);
    // Y_qᵀ (n × b) = (W + σE_q)ᵀ (n × m) X_qᵀ (m × b), column-major.
    const batched_operand<T> perturbed{weights.data(), n, static_cast<long long>(size)};
    const batched_operand<T> inputs{call.x.data + (shared ? 0 : q0 * b * m), m,
                                    shared ? 0 : static_cast<long long>(b * m)};
    gemm_batched(call.handle, n, b, m, perturbed, inputs, call.out + q0 * b * n, n, static_cast<long long>(b * n),
                 members, where);
  }
}

/// Checks what the host can see, before any launch, and returns the rows per member b.
template <float_or_double T, noise_kind Noise>
std::size_t require_forward_arguments(cublasHandle_t handle, matrix_view<const T> x, member_inputs inputs,
                                      matrix_view<const T> w, Noise noise, T sigma, std::size_t first,
                                      std::size_t count, std::span<T> out, const char* where) {
  const std::size_t m = w.rows, n = w.cols;
  require(handle != nullptr, where, "handle", "null", "a cuBLAS handle from cublasCreate");
  require(x.cols == m, where, "x.cols", x.cols, "w.rows = " + std::to_string(m));
  const bool shared = inputs == member_inputs::shared;
  require(shared || count == 0 || x.rows % count == 0, where, "x.rows", x.rows,
          "count b (count = " + std::to_string(count) + ") with per-member inputs");
  const std::size_t b = shared ? x.rows : (count == 0 ? 0 : x.rows / count);
  require(out.size() == count * b * n, where, "out.size()", out.size(), "count b n = " + std::to_string(count * b * n));
  require_positive(where, "sigma", sigma);
  parameter_layout shape;
  shape.add_matrix(m, n);  // throws for m or n = 0, as the host does
  require_rank_fits(shape, noise);
  if constexpr (std::same_as<Noise, low_rank>)
    require(noise.rank <= max_device_rank, where, "rank", noise.rank,
            "<= " + std::to_string(max_device_rank) + " on the device");
  require(detail::fits_blas_int(m) && detail::fits_blas_int(n) && detail::fits_blas_int(count * b), where,
          "m, n, count b", std::to_string(m) + ", " + std::to_string(n) + ", " + std::to_string(count * b),
          "each <= 2^31 - 1 (cuBLAS dimensions)");
  const std::size_t members = first + count;
  require(members <= (std::uint64_t{1} << 32), where, "first + count", members, "<= 2^32 (32-bit noise indices)");
  return b;
}

}  // namespace detail

/// Writes Y_i = X_i (W + σ E_i) for members [first, first + count) into `out`, member after
/// member, each b × n row-major (see the top of this header), on policy.stream.
///   handle: the caller's cuBLAS handle; x: device rows, b × m (shared) or count b × m (per
///   member); w: W in device memory, m × n; layer: the block index of W (selects the streams);
///   noise: low_rank{r} (1 <= r <= min(m, n), r <= max_device_rank) or full_rank{}; sigma > 0;
///   population: seed, generation, antithetic pairs; out: device memory for count b n values.
///   scratch_bytes: full rank only, the memory for perturbed weights held at once.
/// Complexity: low rank O(b m n) (shared; count b m n per member inputs) in one GEMM, plus
/// O(count (b r (m + n) + r (m + n))) in the kernels and count b n values written; full rank
/// O(count (m n + b m n)).
/// Throws invalid_argument before any launch (the message names the parameter) for a null handle,
/// mismatched shapes, out.size() != count b n, σ <= 0 or not finite, a rank outside [1, min(m, n)]
/// or above max_device_rank, dimensions over 2^31 − 1, or first + count > 2^32; cuda_error on a
/// failed allocation, launch or cuBLAS call. Returns once the work is enqueued.
template <float_or_double T, noise_kind Noise>
void perturbed_forward(exec::cuda policy, cublasHandle_t handle, matrix_view<const T> x, member_inputs inputs,
                       matrix_view<const T> w, std::size_t layer, Noise noise, T sigma, population_noise population,
                       std::size_t first, std::size_t count, std::span<T> out,
                       std::size_t scratch_bytes = default_forward_scratch_bytes) {
  constexpr auto where = "tessera::es::perturbed_forward";
  const std::size_t b =
      detail::require_forward_arguments(handle, x, inputs, w, noise, sigma, first, count, out, where);
  if (out.empty()) return;
  const detail::cublas_call_scope scope(handle, policy.stream, where);
  T scale = sigma;
  if constexpr (std::same_as<Noise, low_rank>) scale = sigma / std::sqrt(static_cast<T>(noise.rank));
  const detail::member_streams<T> streams{population.seed, static_cast<std::uint32_t>(layer), population.generation,
                                          first, count, population.antithetic, scale};
  const detail::forward_call<T> call{policy, handle, x, inputs, w, b, count, streams, out.data()};
  if constexpr (std::same_as<Noise, low_rank>)
    detail::forward_low_rank(call, noise.rank, where);
  else
    detail::forward_full_rank(call, scratch_bytes, where);
}

}  // namespace tessera::es
