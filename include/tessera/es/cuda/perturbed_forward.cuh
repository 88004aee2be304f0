#pragma once
// The batched perturbed forward of one layer on a CUDA device (es/perturbed_forward.hpp on
// exec::cuda):
//
//   Y_i = X_i (W + σ E_i),  i in [first, first + count),  W: m × n,  every matrix row-major.
//
// X_i is one X (b × m) for all members (member_inputs::shared: X W is one cuBLAS GEMM for the
// population) or the members' own rows (member_inputs::per_member: X stacks count blocks of b
// rows, and X W is one GEMM of count b rows written straight into the output).
//
// EGGROLL (low_rank{r}): Y_i = (X W)_i + (σ_i/√r) (X_i A_i) B_iᵀ, σ_i = ±σ, in two kernels that
// generate A_i and B_i where they use them (es/cuda/noise.cuh), never in global memory:
//  1. project: one thread block per member forms P_i = (σ_i/√r) X_i A_i (b × r). A_i's rows are
//     generated chunk by chunk into shared memory (row pitch r rounded up to an odd number, so
//     the lanes' strided reads hit distinct banks); a warp owns one output row and up to four
//     ranks, its lanes run over the chunk's rows, and a shuffle reduction closes each chunk. Each
//     output has one owner warp and a fixed order of chunks: no atomics, the same bits every run.
//  2. expand: one thread block per (member, tile of columns) generates the tile's rows of B_i
//     (contiguous draws: columns × r) into shared memory, transposed so that a thread's Vec
//     consecutive columns of one rank are one vector load. A thread owns Vec columns (4 floats or
//     2 doubles: 16 bytes) and its share of the b rows (all of them when the tile spans 256 vectors),
//     4 rows at a time in registers: y = (XW)_row + Σ_q P_i[row][q] B_i[col][q], then 16-byte
//     streaming stores. B_i is generated once per (member, column) and reused by every row, so
//     the kernel is a streaming write of the b n outputs of each member (XW's rows come from L2
//     when shared). Kernel 1 is enqueued before the GEMM of X W, which it does not need.
//     n not a multiple of Vec, or pointers not 16-byte aligned, take a scalar variant.
// Full rank (full_rank{}, the naive baseline): a kernel forms W + σ_i E_i (E_i's m n draws) for
// a chunk of members in scratch memory, then one strided-batched GEMM multiplies each by X_i.
//
// Agreement with the host: the same draws bit for bit, the same sums in another order. Each
// output is a dot product of length m plus one of length r, so device and host both lie within
// (m + r + 2) u M of the exact value, M = |X||W| + |σ/√r| (|X||A|)|B|ᵀ elementwise (u = 2^-24
// float, 2^-53 double; full rank: (m + 2) u |X| |W + σE|); tests/es/perturbed_forward_gpu_test.cu
// checks twice that bound.
//
// Memory: scratch ordered on the policy's stream (cudaMallocAsync): X W (b n values) when shared,
// P (count b r values); full rank: the perturbed weights of at most `scratch_bytes` (256 MiB) of
// members at a time. The cuBLAS handle runs on policy.stream with host-side α, β for the call
// (both restored after); its math mode is the caller's, so TF32 tensor-op math, if the caller
// enabled it, changes the float GEMM's rounding beyond the bound above.

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <bit>
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
#include "tessera/es/cuda/noise.cuh"
#include "tessera/es/noise.hpp"
#include "tessera/es/parameter_layout.hpp"
#include "tessera/es/perturbed_forward.hpp"

namespace tessera::es {

/// How the device forward reads X.
enum class member_inputs {
  shared,      ///< one X (b × m) for every member
  per_member,  ///< X stacks the members' inputs: rows [q b, q b + b) are member first + q's
};

/// The largest rank the device forward takes: a tile of B's rows (at least 16 bytes of columns
/// times r) fits the 32 KiB of shared memory the kernels use.
inline constexpr std::size_t max_device_rank = 2048;

/// The scratch memory the full-rank device forward may take at once for perturbed weights.
inline constexpr std::size_t default_forward_scratch_bytes = std::size_t{256} << 20;

namespace detail {

/// Threads per block of the forward kernels.
inline constexpr unsigned forward_threads = 256;

/// Shared memory a chunk of A's rows or a tile of B's rows may take.
inline constexpr std::size_t factor_tile_bytes = 32 * 1024;

/// Output rows an expand thread holds in registers at once.
inline constexpr int rows_in_registers = 4;

/// Ranks a project warp accumulates at once.
inline constexpr int ranks_per_pass = 4;

/// Vec values of T loaded or stored as one access (Vec sizeof(T) = 16 bytes: one vector access).
template <class T, int Vec>
struct alignas(sizeof(T) * Vec) packet {
  T value[Vec];
};

/// 16 bytes of T: 4 floats or 2 doubles.
template <float_or_double T>
inline constexpr int vector_width = 16 / static_cast<int>(sizeof(T));

template <float_or_double T>
__device__ T warp_sum(T value) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

/// Stores v at `at` with the streaming hint (evict first): the outputs are written once and
/// should not push X W out of L2.
template <float_or_double T, int Vec>
__device__ void store_streaming(T* at, const packet<T, Vec>& v) {
  if constexpr (Vec == 1)
    __stcs(at, v.value[0]);
  else if constexpr (std::same_as<T, float>)
    __stcs(reinterpret_cast<float4*>(at), std::bit_cast<float4>(v));
  else
    __stcs(reinterpret_cast<double2*>(at), std::bit_cast<double2>(v));
}

/// The shape of one low-rank forward: count members of b rows, W m × n, rank r.
struct forward_shape {
  std::uint32_t b;
  std::uint32_t m;
  std::uint32_t n;
  std::uint32_t r;
  std::uint64_t count;
};

/// Kernel 1: p[q][row][k] = signed_scale_q Σ_j X_q[row][j] A_q[j][k]; chunk_rows rows of A at a
/// time in shared memory (chunk_rows (r | 1) values).
template <float_or_double T>
__global__ void __launch_bounds__(forward_threads)
    project_kernel(const T* x, std::uint64_t x_stride, forward_shape shape, member_streams<T> noise,
                   std::uint32_t chunk_rows, T* p) {
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  T* a = reinterpret_cast<T*>(shared_bytes);
  const std::uint32_t r = shape.r, m = shape.m, pitch = r | 1u;
  const std::uint32_t rank_groups = (r + ranks_per_pass - 1) / ranks_per_pass;
  const std::uint32_t units = shape.b * rank_groups;  // (row, group of ranks) pairs, one warp each
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  for (std::uint64_t q = blockIdx.x; q < shape.count; q += gridDim.x) {
    const random_stream stream = noise.stream(q);
    const T scale = noise.signed_scale(q);
    const T* xq = x + q * x_stride;
    T* pq = p + q * shape.b * r;
    for (std::uint32_t j0 = 0; j0 < m; j0 += chunk_rows) {
      const std::uint32_t rows = min(chunk_rows, m - j0);
      __syncthreads();  // every warp is done with the previous chunk
      generate_normal_range<T>(stream, std::uint64_t{j0} * r, rows * r,
                               [=](std::uint32_t d, T z) { a[(d / r) * pitch + d % r] = z; });
      __syncthreads();
      const bool last_chunk = j0 + rows == m;
      for (std::uint32_t u = warp; u < units; u += warps) {  // warp-uniform: the shuffles see 32 lanes
        const std::uint32_t row = u / rank_groups, k0 = (u % rank_groups) * ranks_per_pass;
        const T* x_row = xq + std::uint64_t{row} * m + j0;
        T partial[ranks_per_pass] = {};
        for (std::uint32_t j = lane; j < rows; j += 32) {
          const T xj = x_row[j];
#pragma unroll
          for (int t = 0; t < ranks_per_pass; ++t)
            if (k0 + t < r) partial[t] += xj * a[j * pitch + k0 + t];
        }
#pragma unroll
        for (int t = 0; t < ranks_per_pass; ++t) partial[t] = warp_sum(partial[t]);
        // Warp `warp` owns unit u in every chunk, so its lane 0 alone reads and writes these.
        T* p_row = pq + std::uint64_t{row} * r + k0;
#pragma unroll
        for (int t = 0; t < ranks_per_pass; ++t) {
          if (lane != 0 || k0 + t >= r) continue;
          const T sum = (j0 == 0 ? T(0) : p_row[t]) + partial[t];
          p_row[t] = last_chunk ? sum * scale : sum;
        }
      }
    }
  }
}

/// Kernel 2: out[q][row][col] = xw_q[row][col] + Σ_k p[q][row][k] B_q[col][k] for tiles of
/// tile_columns columns (vectors = tile_columns / Vec threads per row group, a power of two
/// dividing blockDim.x). B's tile lives transposed in shared memory: bt[k tile_columns + c].
/// xw may be out itself (per-member inputs): each element is read, then written, by one thread.
template <float_or_double T, int Vec>
__global__ void __launch_bounds__(forward_threads, 4)
    expand_kernel(const T* xw, std::uint64_t xw_stride, const T* p, forward_shape shape, member_streams<T> noise,
                  std::uint32_t tile_columns, T* out) {
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  T* bt = reinterpret_cast<T*>(shared_bytes);
  using vec = packet<T, Vec>;
  const std::uint32_t b = shape.b, n = shape.n, r = shape.r;
  const std::uint32_t tiles = (n + tile_columns - 1) / tile_columns;
  const std::uint32_t vectors = tile_columns / Vec;
  const std::uint32_t c = (threadIdx.x % vectors) * Vec;  // this thread's first column in the tile
  const std::uint32_t group = threadIdx.x / vectors, groups = blockDim.x / vectors;
  const std::uint64_t items = shape.count * tiles;
  for (std::uint64_t item = blockIdx.x; item < items; item += gridDim.x) {
    const std::uint64_t q = item / tiles;
    const std::uint32_t c0 = static_cast<std::uint32_t>(item % tiles) * tile_columns;
    const std::uint32_t columns = min(tile_columns, n - c0);
    __syncthreads();  // every thread is done with the previous tile
    generate_normal_range<T>(noise.stream(q), (std::uint64_t{shape.m} + c0) * r, columns * r,
                             [=](std::uint32_t d, T z) { bt[(d % r) * tile_columns + d / r] = z; });
    __syncthreads();
    if (c >= columns) continue;  // a narrow last tile (n is a multiple of Vec for Vec > 1)
    const T* pq = p + q * b * r;
    const T* xw_tile = xw + q * xw_stride + c0 + c;
    T* out_tile = out + q * b * n + c0 + c;
    // Rows group, group + groups, ...: rows_in_registers of them per pass.
    for (std::uint32_t first_row = group; first_row < b; first_row += groups * rows_in_registers) {
      vec y[rows_in_registers];
#pragma unroll
      for (int i = 0; i < rows_in_registers; ++i) {
        const std::uint32_t row = first_row + i * groups;
        y[i] = row < b ? *reinterpret_cast<const vec*>(xw_tile + std::uint64_t{row} * n) : vec{};
      }
      for (std::uint32_t k = 0; k < r; ++k) {
        const vec bk = *reinterpret_cast<const vec*>(bt + k * tile_columns + c);
#pragma unroll
        for (int i = 0; i < rows_in_registers; ++i) {
          const std::uint32_t row = first_row + i * groups;
          const T pk = row < b ? pq[std::uint64_t{row} * r + k] : T(0);
#pragma unroll
          for (int e = 0; e < Vec; ++e) y[i].value[e] += pk * bk.value[e];
        }
      }
#pragma unroll
      for (int i = 0; i < rows_in_registers; ++i) {
        const std::uint32_t row = first_row + i * groups;
        if (row < b) store_streaming(out_tile + std::uint64_t{row} * n, y[i]);
      }
    }
  }
}

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

/// Whether p is 16-byte aligned (the vector accesses of the expand kernel need it).
template <class T>
bool aligned_16(const T* p) {
  return std::bit_cast<std::uintptr_t>(p) % 16 == 0;
}

/// What the launchers share after validation.
template <float_or_double T>
struct forward_call {
  exec::cuda policy;
  cublasHandle_t handle;
  matrix_view<const T> x;
  member_inputs inputs;
  matrix_view<const T> w;
  std::size_t b;
  std::size_t count;
  member_streams<T> noise;
  T* out;
};

/// The shape of the call as the kernels take it (dimensions checked <= 2^31 − 1).
template <float_or_double T>
forward_shape shape_of(const forward_call<T>& call, std::size_t r) {
  return {static_cast<std::uint32_t>(call.b), static_cast<std::uint32_t>(call.w.rows),
          static_cast<std::uint32_t>(call.w.cols), static_cast<std::uint32_t>(r), call.count};
}

/// Kernel 1: P = (σ_i/√r) X_i A_i into p (count b r values).
template <float_or_double T>
void launch_project(const forward_call<T>& call, std::size_t r, T* p, const char* where) {
  const forward_shape shape = shape_of(call, r);
  const std::size_t pitch = r | 1u;
  const std::size_t chunk_rows = std::min<std::size_t>(shape.m, factor_tile_bytes / (pitch * sizeof(T)));
  const std::uint64_t x_stride = call.inputs == member_inputs::shared ? 0 : call.b * shape.m;
  project_kernel<T><<<grid_blocks(call.count), forward_threads, chunk_rows * pitch * sizeof(T), call.policy.stream>>>(
      call.x.data, x_stride, shape, call.noise, static_cast<std::uint32_t>(chunk_rows), p);
  check_launch(where);
}

/// Kernel 2: out = X W + P Bᵀ, X W read from xw (member q's rows at xw + q xw_stride).
template <float_or_double T>
void launch_expand(const forward_call<T>& call, std::size_t r, const T* xw, std::uint64_t xw_stride, const T* p,
                   const char* where) {
  const forward_shape shape = shape_of(call, r);
  const bool vectorized = shape.n % vector_width<T> == 0 && aligned_16(xw) && aligned_16(call.out);
  const std::size_t vec = vectorized ? vector_width<T> : 1;
  // As many column vectors per row group as the shared memory, the block and the row allow.
  std::size_t vectors = std::min<std::size_t>(forward_threads, std::bit_ceil((shape.n + vec - 1) / vec));
  while (vectors > 1 && vectors * vec * r * sizeof(T) > factor_tile_bytes) vectors /= 2;
  const std::size_t tile_columns = vectors * vec;
  const std::uint64_t tiles = (shape.n + tile_columns - 1) / tile_columns;
  const unsigned grid = grid_blocks(call.count * tiles);
  const std::size_t shared = tile_columns * r * sizeof(T);
  const auto columns = static_cast<std::uint32_t>(tile_columns);
  const cudaStream_t stream = call.policy.stream;
  if (vectorized)
    expand_kernel<T, vector_width<T>>
        <<<grid, forward_threads, shared, stream>>>(xw, xw_stride, p, shape, call.noise, columns, call.out);
  else
    expand_kernel<T, 1><<<grid, forward_threads, shared, stream>>>(xw, xw_stride, p, shape, call.noise, columns,
                                                                   call.out);
  check_launch(where);
}

/// EGGROLL's forward: kernel 1, X W by cuBLAS, kernel 2. Kernel 1 needs no X W, so it goes
/// first: the device starts on it while the host is still enqueueing the GEMM.
template <float_or_double T>
void forward_low_rank(const forward_call<T>& call, std::size_t r, const char* where) {
  const std::size_t m = call.w.rows, n = call.w.cols;
  const bool shared = call.inputs == member_inputs::shared;
  const tessera::detail::stream_buffer<T> p(call.count * call.b * r, call.policy.stream, where);
  // Shared: X W once into scratch, read by every member from L2. Per member: straight into out.
  const tessera::detail::stream_buffer<T> shared_xw(shared ? call.b * n : 0, call.policy.stream, where);
  T* xw = shared ? shared_xw.data() : call.out;
  launch_project(call, r, p.data(), where);
  gemm(call.handle, CUBLAS_OP_N, CUBLAS_OP_N, n, shared ? call.b : call.count * call.b, m, T(1), call.w.data, n,
       call.x.data, m, T(0), xw, n, where);
  launch_expand(call, r, xw, shared ? 0 : call.b * n, p.data(), where);
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
                                          first, population.antithetic, scale};
  const detail::forward_call<T> call{policy, handle, x, inputs, w, b, count, streams, out.data()};
  if constexpr (std::same_as<Noise, low_rank>)
    detail::forward_low_rank(call, noise.rank, where);
  else
    detail::forward_full_rank(call, scratch_bytes, where);
}

}  // namespace tessera::es
