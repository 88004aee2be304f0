#pragma once
// Internals of the es device backend: Y = X W for a few rows of X (b <= skinny_max_rows), the
// X W of the shared-input forward, where W (m × n) is read once and X is small.
//
// Such a product is bound by reading W. cuBLAS's kernel for 8 × 4096 × 4096 in float read W at
// 42% of the memory's bandwidth (Nsight Compute: 50 µs, plus 4.4 µs of split-K reduction), and it
// was on the forward's critical path. Here a block takes a tile of columns (one 16-byte vector
// of W's row per thread and row) and a range of W's rows (split-K), with the range's columns of
// X staged in shared memory; its threads form skinny_groups groups, group g walking rows
// g, g + skinny_groups, ... of the range with the b rows of sums in registers, in batches of
// skinny_batch rows: the next batch's loads are issued before the current batch is used, so that
// a thread always has loads in flight (a first version that loaded one row at a time read W at
// 21% of the bandwidth; one that loaded a batch of 8 and then used it, at 51%). The groups' sums
// are added in group order through shared memory, then the ranges' in range order by a second
// kernel: no atomics, the same bits every run.
//
// The ranges are sized so that the blocks are one wave of the device (as many as its SMs hold at
// once): the kernel is bound by the latency of its loads, and a second, partial wave leaves SMs
// idle while it drains. On an H100 at m = n = 4096, b = 8 (2 blocks of 97 registers per SM):
// one wave of 256 blocks took 35.5 µs against 39.3 µs for two waves and 50.5 µs for cublasSgemm;
// the version that loaded a batch of 8, then used it, took 39.7 µs in one wave and 51.9 in 1.5.
//
// Each output is a sum of m products in a fixed order, so it lies within (m − 1) u Σ_j |x_j||w_j|
// of the exact value, as any order of summation does (Higham 2002, (3.5)).

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "tessera/core/concepts.hpp"
#include "tessera/core/cuda/check.cuh"
#include "tessera/core/cuda/detail/device_attribute.cuh"
#include "tessera/es/cuda/detail/packet.cuh"
#include "tessera/es/cuda/detail/partial_sums.cuh"

namespace tessera::es::detail {

/// The most rows of X the skinny product takes (b rows of sums per thread live in registers).
inline constexpr std::uint32_t skinny_max_rows = 8;

/// Threads per block of the skinny product, in skinny_groups groups of skinny_lanes.
inline constexpr unsigned skinny_threads = 256;
inline constexpr unsigned skinny_groups = 4;
inline constexpr unsigned skinny_lanes = skinny_threads / skinny_groups;

/// Rows of W a thread has in flight: a batch being used, the next one loading (so twice as many
/// 16-byte registers; 8 rows a batch took 120 registers and was slower).
inline constexpr int skinny_batch = 4;

/// Values of X a block stages in shared memory (16 KiB): b rows of its range of columns.
template <float_or_double T>
inline constexpr std::uint32_t skinny_stage_values = 16384 / sizeof(T);

/// Rows of W each thread of a group walks at least: fewer would make the partial sums (ranges
/// b n values) as large as W itself.
inline constexpr std::uint32_t skinny_rows_per_thread = 8;

/// How the skinny product divides Y = X W (X: b × m, W: m × n): tiles of skinny_lanes Vec columns
/// × `ranges` ranges of range_rows rows of W.
struct skinny_plan {
  std::uint32_t b;
  std::uint32_t m;
  std::uint32_t n;
  std::uint32_t vector;  ///< Vec: vector_width<T>, or 1 when n or a pointer does not allow it
  std::uint32_t range_rows;
  std::uint32_t ranges;

  __host__ __device__ std::uint32_t tile_columns() const { return skinny_lanes * vector; }
  __host__ __device__ std::uint32_t tiles() const { return (n + tile_columns() - 1) / tile_columns(); }
  /// The partial sums the plan needs (none with one range: the kernel writes Y).
  std::uint64_t partial_values() const { return ranges > 1 ? std::uint64_t{ranges} * b * n : 0; }
};

/// Whether the product of W (m × n) at w runs on 16-byte vectors: n a multiple of the vector
/// width and w 16-byte aligned.
template <float_or_double T>
bool skinny_vectorized(std::uint32_t n, const T* w) {
  return n % vector_width<T> == 0 && aligned_16(w);
}

/// The plan for b × m times m × n (1 <= b <= skinny_max_rows), on 16-byte vectors when
/// `vectorized` (skinny_vectorized): as many blocks as `resident_blocks` (one wave of the device,
/// skinny_resident_blocks), each range of W's rows at least skinny_rows_per_thread rows per
/// thread and at most what the stage of X holds. O(1).
template <float_or_double T>
skinny_plan plan_skinny(std::uint32_t b, std::uint32_t m, std::uint32_t n, bool vectorized,
                        std::uint32_t resident_blocks) {
  skinny_plan plan{b, m, n, vectorized ? std::uint32_t{vector_width<T>} : 1u, m, 1};
  const std::uint64_t most_ranges = std::max<std::uint64_t>(1, m / (skinny_groups * skinny_rows_per_thread));
  const std::uint64_t wanted = std::max<std::uint64_t>(1, resident_blocks / plan.tiles());
  const std::uint64_t stage_capacity = skinny_stage_values<T> / b;  // ranges of at most this many rows fit the stage
  const std::uint64_t staged = (m + stage_capacity - 1) / stage_capacity;
  const std::uint64_t ranges = std::max(staged, std::min(wanted, most_ranges));
  plan.range_rows = static_cast<std::uint32_t>((m + ranges - 1) / ranges);
  plan.ranges = (m + plan.range_rows - 1) / plan.range_rows;
  return plan;
}

/// Loads rows j0, j0 + skinny_groups, ... (skinny_batch of them) of the thread's column vector
/// (w_column: row 0 of it, rows of pitch n) into `batch`, zeros for rows at or past `rows`.
template <float_or_double T, int Vec>
__device__ void load_batch(const T* w_column, std::uint32_t n, std::uint32_t j0, std::uint32_t rows,
                           packet<T, Vec> (&batch)[skinny_batch]) {
#pragma unroll
  for (int u = 0; u < skinny_batch; ++u) {
    const std::uint32_t j = j0 + u * skinny_groups;
    batch[u] = j < rows ? *reinterpret_cast<const packet<T, Vec>*>(w_column + std::uint64_t{j} * n) : packet<T, Vec>{};
  }
}

/// out[range][row][column] = Σ_{j in range} x[row][j] w[j][column] for the block's range and
/// tile of columns, rows < b (all of Y when there is one range).
template <float_or_double T, int Vec>
__global__ void __launch_bounds__(skinny_threads)
    skinny_product_kernel(const T* x, const T* w, skinny_plan plan, T* out) {
  __shared__ T xs[skinny_stage_values<T>];  // xs[row rows + j]: X's row `row`, column j_begin + j
  __shared__ packet<T, Vec> group_sums[skinny_groups - 1][skinny_max_rows][skinny_lanes];
  const unsigned group = threadIdx.x / skinny_lanes, lane = threadIdx.x % skinny_lanes;
  const std::uint32_t tiles = plan.tiles(), b = plan.b, m = plan.m, n = plan.n;
  const std::uint32_t range = blockIdx.x / tiles;
  const std::uint32_t column = (blockIdx.x % tiles * skinny_lanes + lane) * Vec;
  const bool live = column < n;  // n is a multiple of Vec
  const std::uint32_t j_begin = range * plan.range_rows, rows = min(m, j_begin + plan.range_rows) - j_begin;
  stage_rows(x + j_begin, m, b, rows, xs, rows, false);  // a range need not start or end on a vector
  __syncthreads();
  const T* const w_tile = w + std::uint64_t{j_begin} * n + column;
  constexpr std::uint32_t batch_rows = skinny_groups * skinny_batch;
  packet<T, Vec> sum[skinny_max_rows] = {};
  packet<T, Vec> wj[skinny_batch], next[skinny_batch];
  if (live) load_batch<T, Vec>(w_tile, n, group, rows, wj);
  for (std::uint32_t j0 = group; live && j0 < rows; j0 += batch_rows) {
    load_batch<T, Vec>(w_tile, n, j0 + batch_rows, rows, next);  // in flight while wj is used
#pragma unroll
    for (int u = 0; u < skinny_batch; ++u) {
      const std::uint32_t j = j0 + u * skinny_groups;
      if (j >= rows) break;
#pragma unroll
      for (std::uint32_t row = 0; row < skinny_max_rows; ++row) {
        if (row >= b) break;
        const T xj = xs[row * rows + j];  // the same for the whole group: a broadcast
#pragma unroll
        for (int e = 0; e < Vec; ++e) sum[row].value[e] = fma(xj, wj[u].value[e], sum[row].value[e]);
      }
    }
#pragma unroll
    for (int u = 0; u < skinny_batch; ++u) wj[u] = next[u];
  }
  if (group > 0)
    for (std::uint32_t row = 0; row < b; ++row) group_sums[group - 1][row][lane] = sum[row];
  __syncthreads();
  if (group > 0 || !live) return;
  T* const range_out = out + std::uint64_t{range} * b * n + column;
  for (std::uint32_t row = 0; row < b; ++row) {
    packet<T, Vec> total = sum[row];
    for (unsigned g = 0; g + 1 < skinny_groups; ++g)
#pragma unroll
      for (int e = 0; e < Vec; ++e) total.value[e] += group_sums[g][row][lane].value[e];
    *reinterpret_cast<packet<T, Vec>*>(range_out + std::uint64_t{row} * n) = total;
  }
}

/// The skinny kernel's blocks that the current device holds at once: its SMs times the blocks
/// of skinny_threads that fit one SM (registers and shared memory). O(1) runtime queries.
/// Throws cuda_error when a query fails.
template <float_or_double T>
std::uint32_t skinny_resident_blocks(bool vectorized, const char* where) {
  const int sms = tessera::detail::current_device_attribute(cudaDevAttrMultiProcessorCount, where);
  int per_sm = 0;
  const auto kernel = vectorized ? skinny_product_kernel<T, vector_width<T>> : skinny_product_kernel<T, 1>;
  check_cuda(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, skinny_threads, 0), where);
  return static_cast<std::uint32_t>(std::max(1, sms * per_sm));
}

/// Y = X W on `stream` (X: plan.b × plan.m, W: plan.m × plan.n, Y: plan.b × plan.n, row-major,
/// device memory; 16-byte aligned when plan.vector > 1), by way of `partial`
/// (plan.partial_values() values) when W's rows are split. O(b m n) work, W read once.
/// Throws cuda_error on a failed launch.
template <float_or_double T>
void skinny_product(const T* x, const T* w, const skinny_plan& plan, T* partial, T* y, cudaStream_t stream,
                    const char* where) {
  const unsigned blocks = plan.tiles() * plan.ranges;
  T* const out = plan.ranges > 1 ? partial : y;
  if (plan.vector > 1)
    skinny_product_kernel<T, vector_width<T>><<<blocks, skinny_threads, 0, stream>>>(x, w, plan, out);
  else
    skinny_product_kernel<T, 1><<<blocks, skinny_threads, 0, stream>>>(x, w, plan, out);
  check_launch(where);
  if (plan.ranges == 1) return;
  launch_sum_partials(partial, plan.ranges, std::uint64_t{plan.b} * plan.n, T(1), y, stream, where);
}

}  // namespace tessera::es::detail
