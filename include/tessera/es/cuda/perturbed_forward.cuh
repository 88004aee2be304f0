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
// as kernel 2 does. No P in global memory, and
// the blocks drift apart, so that the projection (issue-bound) of some hides under the writes
// (memory-bound) of others; kernel 1 beside X W hid little of it (its single wave of long blocks
// left no room beside X W's).
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
#include "tessera/core/detail/fast_divisor.hpp"
#include "tessera/core/exec.hpp"
#include "tessera/core/matrix_view.hpp"
#include "tessera/core/random.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/es/cuda/detail/blas.cuh"
#include "tessera/es/cuda/detail/packet.cuh"
#include "tessera/es/cuda/detail/partial_sums.cuh"
#include "tessera/es/cuda/detail/skinny_product.cuh"
#include "tessera/es/cuda/detail/stream_fork.cuh"
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

/// Shared memory a chunk of A's rows (with X's) or a tile of B's rows may take.
inline constexpr std::size_t factor_tile_bytes = 32 * 1024;

/// Output rows an expand thread holds in registers at once: with a pair's two members each row
/// is two 16-byte stores, and 4 rows would exceed the 64 registers of four blocks per SM (spills).
inline constexpr int rows_in_registers = 2;

/// (projection, rank) columns and rows of X a project warp accumulates at once: each value of A
/// read from shared memory serves task_rows rows and each value of X columns_per_task columns.
inline constexpr int columns_per_task = 4;
inline constexpr int task_rows = 4;

/// The most rows of X a project block stages; a larger b takes several row tiles, each drawing
/// the tile's A again (then the b n outputs per member dominate the cost anyway).
inline constexpr std::uint32_t project_tile_rows = 32;

/// The most projections a project block takes at once: a power of two dividing forward_threads,
/// so that each thread generates the A of one projection, forward_threads / per_tile threads each.
inline constexpr std::uint32_t project_tile_projections = 32;

/// The (row, four columns) pairs a project block aims at: sixteen, in tasks of task_rows rows.
/// Projections are added to a tile (sharing its staged X) until the tile has this many.
inline constexpr std::uint32_t project_block_tasks = 2 * forward_threads / 32;

/// Work items the project kernel aims at: about eight waves of its blocks (four resident per SM
/// at its 64 registers, on the 132 SMs of an H100: 528 a wave), so that the last, partial wave
/// idles a small part of the device. Ranges of A's rows (split-K) make them when projections are
/// few. At 1024 (one and a half waves for 8192 units at the former five blocks per SM) the last
/// half wave left a third of the SMs idle for a third of the kernel (Nsight Compute).
inline constexpr std::uint64_t project_target_blocks = 4096;

/// The most partial sums (splits × projections × b × r) the split project kernel keeps.
inline constexpr std::uint64_t project_partial_values = std::uint64_t{1} << 22;

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

/// The shape of one low-rank forward: count members of b rows, W m × n, rank r, how X is read.
/// by_rank divides by r: the kernels split flat draw indices into (row, rank) for every draw.
struct forward_shape {
  std::uint32_t b;
  std::uint32_t m;
  std::uint32_t n;
  std::uint32_t r;
  std::uint64_t count;
  member_inputs inputs;
  tessera::detail::fast_divisor by_rank;
};

/// One work item of the project kernel: projections [first_projection, + live), rows [row0,
/// row0 + rows) of X, A's rows [j_begin, j_end) (range `split`).
struct project_item {
  std::uint64_t first_projection;
  std::uint32_t live;
  std::uint32_t row0;
  std::uint32_t rows;
  std::uint32_t split;
  std::uint32_t j_begin;
  std::uint32_t j_end;
};

/// How the project kernel divides its work: `projections` products P_p (b × r), in tiles of
/// per_tile projections (1 with per-member inputs) × tiles of tile_rows rows of X × `splits`
/// ranges of split_rows rows of A, each range walked chunk_rows rows at a time.
struct project_tiling {
  std::uint64_t projections;
  std::uint32_t per_tile;
  std::uint32_t tile_rows;
  std::uint32_t chunk_rows;
  std::uint32_t split_rows;
  std::uint32_t splits;
  tessera::detail::fast_divisor by_splits;     ///< divides by splits (set by plan_project)
  tessera::detail::fast_divisor by_row_tiles;  ///< divides by row_tiles(b) (set by plan_project)

  __host__ __device__ std::uint64_t projection_tiles() const { return (projections + per_tile - 1) / per_tile; }
  __host__ __device__ std::uint32_t row_tiles(std::uint32_t b) const { return (b + tile_rows - 1) / tile_rows; }
  __host__ __device__ std::uint64_t items(std::uint32_t b) const { return projection_tiles() * row_tiles(b) * splits; }

  /// Shared-memory values per row of a chunk: a row of X's tile and one of A (pitch r | 1) for
  /// each projection of the tile.
  __host__ __device__ std::uint32_t values_per_row(std::uint32_t r) const { return tile_rows + per_tile * (r | 1u); }

  /// Item i: the range varies fastest, then the row tile, then the tile of projections.
  __device__ project_item item(std::uint64_t i, const forward_shape& shape) const {
    const std::uint64_t tile_and_row_tile = by_splits.wide_quotient(i);
    const std::uint64_t tile = by_row_tiles.wide_quotient(tile_and_row_tile);
    const auto split = static_cast<std::uint32_t>(i - tile_and_row_tile * splits);
    const auto row0 = static_cast<std::uint32_t>(tile_and_row_tile - tile * row_tiles(shape.b)) * tile_rows;
    const std::uint64_t first = tile * per_tile;
    const std::uint32_t j_begin = split * split_rows;
    return {first, static_cast<std::uint32_t>(min(std::uint64_t{per_tile}, projections - first)), row0,
            min(tile_rows, shape.b - row0), split, j_begin, min(shape.m, j_begin + split_rows)};
  }
};

/// A project task's sums: value i columns_per_task + t is row row0 + i, column c0 + t.
template <float_or_double T>
using task_sums = packet<T, task_rows * columns_per_task>;

/// The warp's sums over j < rows of xs[row0 + i][j] A[j][c] for the rows row0 + i below
/// row0 + live_rows (0 beyond) and the columns c = c0 + t below `columns` (0 beyond); column
/// c = u r + k is rank k of the tile's projection u, stored at a[(u chunk_rows + j) pitch + k],
/// and X's rows have pitch chunk_rows in xs. Every lane gets every sum. Lanes take j = lane,
/// lane + 32, ...
template <float_or_double T>
__device__ task_sums<T> chunk_sums(const T* xs, std::uint32_t row0, std::uint32_t live_rows, const T* a,
                                   std::uint32_t chunk_rows, std::uint32_t pitch,
                                   const tessera::detail::fast_divisor& by_rank, std::uint32_t columns,
                                   std::uint32_t c0, std::uint32_t rows, unsigned lane) {
  std::uint32_t offset[columns_per_task];
  bool live[columns_per_task];
#pragma unroll
  for (int t = 0; t < columns_per_task; ++t) {
    const std::uint32_t c = c0 + t, u = by_rank.quotient(c);
    live[t] = c < columns;
    offset[t] = live[t] ? u * chunk_rows * pitch + by_rank.remainder(c, u) : 0;
  }
  const T* const x_rows = xs + row0 * chunk_rows;
  task_sums<T> sum{};
  for (std::uint32_t j = lane; j < rows; j += 32) {
    T xj[task_rows];
#pragma unroll
    for (int i = 0; i < task_rows; ++i) xj[i] = i < static_cast<int>(live_rows) ? x_rows[i * chunk_rows + j] : T(0);
#pragma unroll
    for (int t = 0; t < columns_per_task; ++t) {
      if (!live[t]) continue;
      const T ajt = a[offset[t] + j * pitch];
#pragma unroll
      for (int i = 0; i < task_rows; ++i) sum.value[i * columns_per_task + t] += xj[i] * ajt;
    }
  }
#pragma unroll
  for (int v = 0; v < task_rows * columns_per_task; ++v) sum.value[v] = warp_sum(sum.value[v]);
  return sum;
}

/// sums.value[v] for a v known only at run time, without indexing the registers (which would
/// put them in local memory).
template <float_or_double T>
__device__ T task_sum_at(const task_sums<T>& sums, unsigned v) {
  T value = T(0);
#pragma unroll
  for (int w = 0; w < task_rows * columns_per_task; ++w)
    if (v == static_cast<unsigned>(w)) value = sums.value[w];
  return value;
}

/// Kernel 1: partial[s][p][row][k] = output_scale Σ_{j in range s} X_p[row][j] A_p[j][k] for
/// the projections p of `tiling`: units with shared inputs (X_p = X, A_p from the unit's stream),
/// members with per-member inputs (X_p = x + p x_stride, per_tile = 1). Shared memory: the chunk
/// of X (tile_rows × chunk_rows), then per_tile chunks of A (chunk_rows × (r | 1) each). Lanes
/// 0..15 of the owner warp add each chunk's sums to the range's in place, chunk after chunk.
template <float_or_double T>
__global__ void __launch_bounds__(forward_threads)
    project_kernel(const T* x, std::uint64_t x_stride, forward_shape shape, member_streams<T> noise,
                   project_tiling tiling, T output_scale, T* partial) {
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  const std::uint32_t b = shape.b, m = shape.m, r = shape.r, pitch = r | 1u, chunk = tiling.chunk_rows;
  const tessera::detail::fast_divisor by_rank = shape.by_rank;
  T* const xs = reinterpret_cast<T*>(shared_bytes);
  T* const as = xs + tiling.tile_rows * chunk;
  // Thread t draws A for the tile's projection t / generators: consecutive threads share a
  // projection (whole warps for per_tile <= 8), so a warp's stream and branch are mostly uniform.
  const std::uint32_t generators = blockDim.x / tiling.per_tile;
  const std::uint32_t slot = threadIdx.x / generators, generator = threadIdx.x % generators;
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  const std::uint64_t items = tiling.items(b), split_size = tiling.projections * b * r;
  constexpr std::uint32_t vec = vector_width<T>;
  const bool vector_staging = aligned_16(x) && m % vec == 0 && chunk % vec == 0;
  for (std::uint64_t i = blockIdx.x; i < items; i += gridDim.x) {
    const project_item item = tiling.item(i, shape);
    const std::uint64_t own = item.first_projection + min(slot, item.live - 1);
    const random_stream stream =
        shape.inputs == member_inputs::per_member ? noise.stream(own) : noise.unit_stream(own);
    const T* x_tile = x + item.first_projection * x_stride + std::uint64_t{item.row0} * m;
    T* const out = partial + item.split * split_size + (item.first_projection * b + item.row0) * r;
    const std::uint32_t columns = item.live * r;
    const std::uint32_t groups = (columns + columns_per_task - 1) / columns_per_task;
    const std::uint32_t tasks = (item.rows + task_rows - 1) / task_rows * groups;
    for (std::uint32_t j0 = item.j_begin; j0 < item.j_end; j0 += chunk) {
      const std::uint32_t rows = min(chunk, item.j_end - j0);
      __syncthreads();  // every warp is done with the previous chunk
      stage_rows(x_tile + j0, m, item.rows, rows, xs, chunk, vector_staging);
      if (slot < item.live) {
        T* const a = as + slot * chunk * pitch;
        generate_normal_range<T>(stream, std::uint64_t{j0} * r, rows * r, generator, generators,
                                 [=](std::uint32_t d, T z) {
                                   const std::uint32_t j = by_rank.quotient(d);
                                   a[j * pitch + by_rank.remainder(d, j)] = z;
                                 });
      }
      __syncthreads();
      const bool first_chunk = j0 == item.j_begin, last_chunk = j0 + rows == item.j_end;
      for (std::uint32_t task = warp; task < tasks; task += warps) {  // warp-uniform: the shuffles see 32 lanes
        const std::uint32_t row0 = task / groups * task_rows, c0 = task % groups * columns_per_task;
        const std::uint32_t live_rows = min(std::uint32_t{task_rows}, item.rows - row0);
        const auto sums = chunk_sums<T>(xs, row0, live_rows, as, chunk, pitch, by_rank, columns, c0, rows, lane);
        // Warp `warp` owns this task in every chunk, so its lane v alone reads and writes sum v.
        const std::uint32_t row = row0 + lane / columns_per_task, c = c0 + lane % columns_per_task;
        const T sum_of_lane = task_sum_at(sums, lane);
        if (lane >= task_rows * columns_per_task || row >= item.rows || c >= columns) continue;
        const std::uint32_t u = by_rank.quotient(c);
        T& at = out[std::uint64_t{u} * b * r + row * r + by_rank.remainder(c, u)];
        const T sum = (first_chunk ? T(0) : at) + sum_of_lane;
        at = last_chunk ? sum * output_scale : sum;
      }
    }
  }
}

/// The rows an expand thread holds at once: first, first + step, ... (rows_in_registers of them),
/// those below b.
struct row_pass {
  std::uint32_t first;
  std::uint32_t step;
  std::uint32_t b;

  __device__ bool has(int i) const { return first + static_cast<std::uint32_t>(i) * step < b; }
  __device__ std::uint64_t row(int i) const { return first + std::uint64_t{static_cast<std::uint32_t>(i)} * step; }
};

template <class T, int Vec>
using row_values = packet<T, Vec>[rows_in_registers];

/// s_i = Σ_k P[row_i][k] B[c + e][k] for this thread's Vec columns c + e: p is the projection's P
/// (b × r), bt its unit's tile of B transposed (bt[k tile_columns + c], pointing at column c).
template <float_or_double T, int Vec>
__device__ void low_rank_rows(const T* p, std::uint32_t r, const T* bt, std::uint32_t tile_columns, row_pass pass,
                              row_values<T, Vec>& s) {
#pragma unroll
  for (int i = 0; i < rows_in_registers; ++i) s[i] = packet<T, Vec>{};
  for (std::uint32_t k = 0; k < r; ++k) {
    const auto bk = *reinterpret_cast<const packet<T, Vec>*>(bt + k * tile_columns);
#pragma unroll
    for (int i = 0; i < rows_in_registers; ++i) {
      const T pk = pass.has(i) ? p[pass.row(i) * r + k] : T(0);
#pragma unroll
      for (int e = 0; e < Vec; ++e) s[i].value[e] += pk * bk.value[e];
    }
  }
}

/// For each row of the pass: x = the row at xw (Vec values; rows of pitch n), then x + s_i to
/// the row at plus and x − s_i to the row at minus, skipping a null one (a member outside the
/// range, or the other sign's member with per-member inputs). One row's x is live at a time.
template <float_or_double T, int Vec>
__device__ void write_rows(const T* xw, std::uint32_t n, row_pass pass, const row_values<T, Vec>& s, T* plus,
                           T* minus) {
#pragma unroll
  for (int i = 0; i < rows_in_registers; ++i) {
    if (!pass.has(i)) continue;
    const std::uint64_t offset = pass.row(i) * n;
    const auto x = *reinterpret_cast<const packet<T, Vec>*>(xw + offset);
    packet<T, Vec> y;
    if (plus != nullptr) {
#pragma unroll
      for (int e = 0; e < Vec; ++e) y.value[e] = x.value[e] + s[i].value[e];
      store_streaming(plus + offset, y);
    }
    if (minus != nullptr) {
#pragma unroll
      for (int e = 0; e < Vec; ++e) y.value[e] = x.value[e] - s[i].value[e];
      store_streaming(minus + offset, y);
    }
  }
}

/// Kernel 2's work on one tile: out[q][row][col] = xw_q[row][col] ± Σ_k P[row][k] B_u[col][k]
/// for the members q of unit u (+ for the even member of a pair) and the columns [c0, c0 +
/// tile_columns) ∩ [0, n), rows in passes of the block's row groups (vectors = tile_columns / Vec
/// threads per group, a power of two dividing blockDim.x). With shared inputs p is the unit's P
/// (b × r) and one sum and one read of X W serve both members; per member p holds every
/// member's P and xw every member's X W (member q's at xw + q xw_stride). The tile of B lives
/// transposed in bt (tile_columns × r values of shared memory): bt[k tile_columns + c]. Starts and
/// ends with every thread of the block past a barrier.
template <float_or_double T, int Vec>
__device__ void expand_tile(const T* xw, std::uint64_t xw_stride, const T* p, const forward_shape& shape,
                            const member_streams<T>& noise, std::uint64_t u, std::uint32_t c0,
                            std::uint32_t tile_columns, T* bt, T* out) {
  const std::uint32_t b = shape.b, n = shape.n, r = shape.r;
  const tessera::detail::fast_divisor by_rank = shape.by_rank;
  const std::uint32_t vectors = tile_columns / Vec;
  const std::uint32_t c = (threadIdx.x % vectors) * Vec;  // this thread's first column in the tile
  const std::uint32_t group = threadIdx.x / vectors, groups = blockDim.x / vectors;
  const std::uint32_t columns = min(tile_columns, n - c0);
  __syncthreads();  // every thread is done with the previous tile
  generate_normal_range<T>(noise.unit_stream(u), (std::uint64_t{shape.m} + c0) * r, columns * r,
                           [=](std::uint32_t d, T z) {
                             const std::uint32_t column = by_rank.quotient(d);
                             bt[by_rank.remainder(d, column) * tile_columns + column] = z;
                           });
  __syncthreads();
  if (c >= columns) return;  // a narrow last tile (n is a multiple of Vec for Vec > 1)
  const std::uint64_t plus = noise.member_of_unit(u, false), minus = noise.member_of_unit(u, true);
  const std::uint64_t column = c0 + c;
  const auto out_of = [&](std::uint64_t q) { return q == no_member ? nullptr : out + q * b * n + column; };
  // Rows group, group + groups, ...: rows_in_registers of them per pass.
  for (std::uint32_t first_row = group; first_row < b; first_row += groups * rows_in_registers) {
    const row_pass pass{first_row, groups, b};
    row_values<T, Vec> s;
    if (shape.inputs == member_inputs::per_member) {  // each member its own P and X W
      for (int negated = 0; negated < 2; ++negated) {
        const std::uint64_t q = negated == 1 ? minus : plus;
        if (q == no_member) continue;
        low_rank_rows<T, Vec>(p + q * b * r, r, bt + c, tile_columns, pass, s);
        write_rows<T, Vec>(xw + q * xw_stride + column, n, pass, s, negated == 1 ? nullptr : out_of(q),
                           negated == 1 ? out_of(q) : nullptr);
      }
    } else {  // one sum and one read of X W for both members
      low_rank_rows<T, Vec>(p, r, bt + c, tile_columns, pass, s);
      write_rows<T, Vec>(xw + column, n, pass, s, out_of(plus), out_of(minus));
    }
  }
}

/// Kernel 2: expand_tile for every (unit, tile of tile_columns columns), P from kernel 1 (the
/// unit's at p + u b r with shared inputs). xw may be out itself (per-member inputs): each element
/// is read, then written, by one thread.
template <float_or_double T, int Vec>
__global__ void __launch_bounds__(forward_threads, 4)
    expand_kernel(const T* xw, std::uint64_t xw_stride, const T* p, forward_shape shape, member_streams<T> noise,
                  std::uint32_t tile_columns, T* out) {
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  T* const bt = reinterpret_cast<T*>(shared_bytes);
  const std::uint32_t tiles = (shape.n + tile_columns - 1) / tile_columns;
  const bool per_member = shape.inputs == member_inputs::per_member;
  const tessera::detail::fast_divisor by_tiles(tiles);
  const std::uint64_t items = noise.units() * tiles;
  for (std::uint64_t item = blockIdx.x; item < items; item += gridDim.x) {
    const std::uint64_t u = by_tiles.wide_quotient(item);
    const std::uint32_t c0 = static_cast<std::uint32_t>(item - u * tiles) * tile_columns;
    expand_tile<T, Vec>(xw, xw_stride, per_member ? p : p + u * shape.b * shape.r, shape, noise, u, c0, tile_columns,
                        bt, out);
  }
}

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
      const T total = warp_sum(sums[row][k]);
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
  const auto rank = static_cast<std::uint32_t>(r);
  return {static_cast<std::uint32_t>(call.b), static_cast<std::uint32_t>(call.w.rows),
          static_cast<std::uint32_t>(call.w.cols), rank, call.count, call.inputs, tessera::detail::fast_divisor(rank)};
}

/// The project kernel's tiling for `projections` products of shape (see project_tiling).
template <float_or_double T>
project_tiling plan_project(const forward_shape& shape, std::uint64_t projections) {
  project_tiling tiling{};
  tiling.projections = projections;
  tiling.tile_rows = std::min(shape.b, project_tile_rows);
  tiling.per_tile = 1;
  const auto tasks_with = [&](std::uint32_t per_tile) {
    return tiling.tile_rows * ((per_tile * shape.r + columns_per_task - 1) / columns_per_task);
  };
  if (shape.inputs == member_inputs::shared)  // per member, each projection has its own X
    while (tiling.per_tile < project_tile_projections && tiling.per_tile < projections &&
           tasks_with(2 * tiling.per_tile) <= project_block_tasks)
      tiling.per_tile *= 2;
  // The chunk: as many rows of A (and X) as factor_tile_bytes hold, a multiple of the warp's 32 lanes.
  std::size_t chunk = std::max<std::size_t>(1, factor_tile_bytes / sizeof(T) / tiling.values_per_row(shape.r));
  if (chunk >= 32) chunk -= chunk % 32;
  tiling.chunk_rows = static_cast<std::uint32_t>(std::min<std::size_t>(chunk, shape.m));
  // Split A's rows until the blocks fill the device, within the scratch of partial sums.
  const std::uint64_t chunks = (shape.m + tiling.chunk_rows - 1) / tiling.chunk_rows;
  const std::uint64_t tiles = tiling.projection_tiles() * tiling.row_tiles(shape.b);
  const std::uint64_t sums_per_split = projections * shape.b * shape.r;
  std::uint64_t splits = std::clamp<std::uint64_t>((project_target_blocks + tiles - 1) / tiles, 1, chunks);
  splits = std::min(splits, std::max<std::uint64_t>(1, project_partial_values / sums_per_split));
  const std::uint64_t chunks_per_split = (chunks + splits - 1) / splits;
  tiling.split_rows = static_cast<std::uint32_t>(chunks_per_split * tiling.chunk_rows);
  tiling.splits = static_cast<std::uint32_t>((chunks + chunks_per_split - 1) / chunks_per_split);
  tiling.by_splits = tessera::detail::fast_divisor(tiling.splits);
  tiling.by_row_tiles = tessera::detail::fast_divisor(tiling.row_tiles(shape.b));
  return tiling;
}

/// Kernel 1 on `stream`: P = (σ/√r) X_p A_p into p (tiling.projections b r values), by way of
/// `partial` (tiling.splits times as many) when A's rows are split.
template <float_or_double T>
void launch_project(const forward_call<T>& call, const forward_shape& shape, const project_tiling& tiling,
                    cudaStream_t stream, T* partial, T* p, const char* where) {
  const std::uint64_t x_stride = shape.inputs == member_inputs::shared ? 0 : std::uint64_t{shape.b} * shape.m;
  const std::size_t shared_bytes = std::size_t{tiling.values_per_row(shape.r)} * tiling.chunk_rows * sizeof(T);
  const bool split = tiling.splits > 1;
  project_kernel<T><<<grid_blocks(tiling.items(shape.b)), forward_threads, shared_bytes, stream>>>(
      call.x.data, x_stride, shape, call.noise, tiling, split ? T(1) : call.noise.scale, split ? partial : p);
  check_launch(where);
  if (!split) return;
  launch_sum_partials(partial, tiling.splits, tiling.projections * shape.b * shape.r, call.noise.scale, p, stream,
                      where);
}

/// The columns of an expand tile: as many column vectors (of `vec` values) per row group as
/// the shared memory (factor_tile_bytes for the tile's r rows of B), the block and the row allow.
template <float_or_double T>
std::uint32_t expand_tile_columns(const forward_shape& shape, std::size_t vec) {
  std::size_t vectors = std::min<std::size_t>(forward_threads, std::bit_ceil((shape.n + vec - 1) / vec));
  while (vectors > 1 && vectors * vec * shape.r * sizeof(T) > factor_tile_bytes) vectors /= 2;
  return static_cast<std::uint32_t>(vectors * vec);
}

/// Whether the expand kernels may take 16-byte vectors: n a multiple of the vector width, X W
/// and the output 16-byte aligned.
template <float_or_double T>
bool expand_vectorized(const forward_shape& shape, const T* xw, const T* out) {
  return shape.n % vector_width<T> == 0 && aligned_16(xw) && aligned_16(out);
}

/// Kernel 2: out = X W ± P Bᵀ, X W read from xw (member q's rows at xw + q xw_stride).
template <float_or_double T>
void launch_expand(const forward_call<T>& call, const forward_shape& shape, const T* xw, std::uint64_t xw_stride,
                   const T* p, const char* where) {
  const bool vectorized = expand_vectorized(shape, xw, call.out);
  const std::uint32_t columns = expand_tile_columns<T>(shape, vectorized ? vector_width<T> : 1);
  const std::uint64_t tiles = (shape.n + columns - 1) / columns;
  const unsigned grid = grid_blocks(call.noise.units() * tiles);
  const std::size_t shared = std::size_t{columns} * shape.r * sizeof(T);
  const cudaStream_t stream = call.policy.stream;
  if (vectorized)
    expand_kernel<T, vector_width<T>>
        <<<grid, forward_threads, shared, stream>>>(xw, xw_stride, p, shape, call.noise, columns, call.out);
  else
    expand_kernel<T, 1><<<grid, forward_threads, shared, stream>>>(xw, xw_stride, p, shape, call.noise, columns,
                                                                   call.out);
  check_launch(where);
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

/// Scratch values that keep the next buffer 256-byte aligned after `values` of T.
template <float_or_double T>
std::size_t padded(std::size_t values) {
  constexpr std::size_t per_line = 256 / sizeof(T);
  return (values + per_line - 1) / per_line * per_line;
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
