#pragma once
// Internals of es/cuda/perturbed_forward.cuh: kernel 1 of the low-rank forward, the projections
// P = (σ/√r) X_p A_p (b × r) of every unit (shared inputs) or member (per-member inputs), split
// over ranges of A's rows, and its launcher with the ordered sum of the ranges. How it works: the
// top of perturbed_forward.cuh.

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "tessera/core/concepts.hpp"
#include "tessera/core/cuda/check.cuh"
#include "tessera/core/cuda/detail/warp.cuh"
#include "tessera/core/detail/fast_divisor.hpp"
#include "tessera/core/random.hpp"
#include "tessera/es/cuda/detail/forward_call.cuh"
#include "tessera/es/cuda/detail/packet.cuh"
#include "tessera/es/cuda/detail/partial_sums.cuh"
#include "tessera/es/cuda/noise.cuh"

namespace tessera::es::detail {

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
  for (int v = 0; v < task_rows * columns_per_task; ++v)
    sum.value[v] = tessera::detail::group_sum(sum.value[v], 32);
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

}  // namespace tessera::es::detail
