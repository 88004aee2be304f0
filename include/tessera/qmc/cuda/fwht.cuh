#pragma once
// The fast Walsh-Hadamard transform on a CUDA device: the same transform as fwht.hpp,
// y_k = sum_i (-1)^{popcount(i & k)} x_i on n = 2^m values in place (unnormalized).
//
// Method. The m butterfly stages commute, so they are grouped by bit into passes over global
// memory, each pass reading and writing every value once:
//   * pass 1 transforms the low K = min(m, 15) bits (float; 14 for double) of contiguous tiles of
//     2^K values: 128 KiB, one tile per thread block;
//   * each further pass transforms up to K - 4 higher bits on tiles of 2^(K - w) rows spaced
//     2^lo apart times 2^w consecutive columns (w >= 4: 64-byte or wider coalesced segments).
// So n = 2^m takes 1 pass for m <= 15 and 2 passes for m <= 26 (float; 1 for m <= 14 and 2 for
// m <= 24 in double), which is what makes the transform run near the copy bandwidth.
// Inside a tile each of the 2^(K-5) threads holds 32 values in registers; the tile bits are
// visited in layouts that put 5 of them in the register index ("rounds"): a round does its
// butterflies in registers, and the values move between rounds through shared memory, XOR-
// swizzled (position u ^ ((u >> 5) & 31)) so that every access of a warp hits 32 distinct banks.
// Loads and stores use layouts whose lanes run over consecutive addresses; a bit left on a lane
// in the strided pass of 11 bits is done with one warp shuffle. Rows shorter than 2^10 values
// (the batched form) use a plain shared-memory kernel.
//
// Rounding: the stages run in another order than on the host, so float results differ from the
// host's by rounding; both satisfy the bound of fwht.hpp, ||fl(y) - y|| <= ((1+u)^m - 1) ||y||.
// Integer-valued data whose partial sums stay below 2^24 (float) / 2^53 (double) give identical
// results. Non-finite values propagate as on the host.

#include <cuda_runtime_api.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

#include "tessera/core/concepts.hpp"
#include "tessera/core/cuda/check.cuh"
#include "tessera/core/exec.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::qmc {
namespace detail {

/// log2 of the largest tile: 2^15 floats or 2^14 doubles, 128 KiB of shared memory.
template <class T>
inline constexpr int fwht_device_tile_bits = sizeof(T) == 4 ? 15 : 14;

/// Rows below 2^10 values go to the shared-memory kernel (a 2^10 tile has one full warp of
/// 32-value threads).
inline constexpr int fwht_device_small_bits = 10;

/// The layouts of one tiled pass, fixed at compile time by the tile bits B and the column bits W
/// (W = B: contiguous tiles). Tile index u (B bits): bits [0, W) are consecutive values, bits
/// [W, B) step 2^lo through memory. Round r holds tile bits [start(r), start(r) + 5) in the
/// register index and transforms round_bits(r) of them.
template <int B, int W>
struct fwht_plan {
  static constexpr bool contiguous = W == B;
  static constexpr int rounds = contiguous ? 3 : (B - W > 5 ? 2 : 1);
  static constexpr std::uint32_t all_bits = (1u << B) - (1u << (contiguous ? 0 : W));  // bits to transform
  // Contiguous: the top 5 bits (loads with consecutive lanes), bits 0..4, then bits 5..9 (stores
  // with consecutive lanes). Strided: the top 5 bits, then the 5 bits from W.
  static constexpr int start(int r) { return r == 0 ? B - 5 : (contiguous ? (r == 1 ? 0 : 5) : W); }
  static constexpr std::uint32_t done_before(int r) {
    std::uint32_t done = 0;
    for (int q = 0; q < r; ++q) done |= all_bits & (31u << start(q));
    return done;
  }
  static constexpr std::uint32_t round_bits(int r) { return all_bits & (31u << start(r)) & ~done_before(r); }
  // A strided pass of 11 rows (W = 4, B = 15) leaves tile bit 9: in the last layout (start W)
  // tile bit q >= W + 5 is thread bit q - 5, here lane bit 4, done with a warp shuffle.
  static constexpr std::uint32_t lane_bits = (all_bits & ~done_before(rounds)) >> 5;
  static_assert(B >= 10 && W >= 4 && W <= B && lane_bits < 32, "layouts outside the documented range");
};

/// The tile index u held by `thread` in register e when the registers hold bits [P, P + 5).
template <int P>
__device__ __forceinline__ std::uint32_t fwht_tile_index(std::uint32_t thread, std::uint32_t e) {
  return (thread & ((1u << P) - 1u)) | (e << P) | ((thread >> P) << (P + 5));
}

/// Shared-memory position of tile index u: XOR-swizzles the bank bits with bits 5..9, so that
/// every layout's warp accesses hit 32 distinct banks.
__device__ __forceinline__ std::uint32_t fwht_swizzle(std::uint32_t u) { return u ^ ((u >> 5) & 31u); }

/// Radix-2 butterflies over the register-index bits set in Bits (5 bits).
template <std::uint32_t Bits, class T>
__device__ __forceinline__ void fwht_register_stages(T (&v)[32]) {
#pragma unroll
  for (int j = 0; j < 5; ++j) {
    if (((Bits >> j) & 1u) == 0) continue;
#pragma unroll
    for (int e = 0; e < 32; ++e) {
      if ((e >> j) & 1) continue;
      const T a = v[e];
      const T b = v[e | (1 << j)];
      v[e] = a + b;
      v[e | (1 << j)] = a - b;
    }
  }
}

/// Moves the tile's 32 values of this thread between global memory and registers in the layout
/// whose registers hold tile bits [P, P + 5).
template <bool Store, int W, int P, class T>
__device__ __forceinline__ void fwht_global_access(T* base, T (&v)[32], std::uint32_t thread, int lo) {
#pragma unroll
  for (std::uint32_t e = 0; e < 32; ++e) {
    const std::uint32_t u = fwht_tile_index<P>(thread, e);
    T& value = base[(u & ((1u << W) - 1u)) + (static_cast<std::uint64_t>(u >> W) << lo)];
    if constexpr (Store) value = v[e];
    else v[e] = value;
  }
}

/// Moves the values from the layout at P to the layout at Q through shared memory.
template <int P, int Q, class T>
__device__ __forceinline__ void fwht_exchange(T* shared, T (&v)[32], std::uint32_t thread) {
#pragma unroll
  for (std::uint32_t e = 0; e < 32; ++e) shared[fwht_swizzle(fwht_tile_index<P>(thread, e))] = v[e];
  __syncthreads();
#pragma unroll
  for (std::uint32_t e = 0; e < 32; ++e) v[e] = shared[fwht_swizzle(fwht_tile_index<Q>(thread, e))];
}

/// One tiled pass (see the top of this header): block b transforms tile b; 2^(B-5) threads of
/// 32 values, 2^B values of shared memory; lo is the row stride's log2 (unused when W = B).
template <class T, int B, int W>
__global__ void __launch_bounds__(1 << (B - 5)) fwht_tile_kernel(T* __restrict__ data, int lo) {
  using plan = fwht_plan<B, W>;
  extern __shared__ __align__(16) unsigned char fwht_shared_bytes[];
  T* shared = reinterpret_cast<T*>(fwht_shared_bytes);
  const std::uint32_t thread = threadIdx.x;
  if constexpr (plan::contiguous) lo = B;
  // Tile = column block (index bits [W, lo)) and the index bits above the tile's rows.
  const std::uint64_t tile = blockIdx.x;
  const std::uint64_t column_block = tile & ((std::uint64_t{1} << (lo - W)) - 1);
  const std::uint64_t outer = tile >> (lo - W);
  T* base = data + (column_block << W) + (outer << (lo + B - W));

  T v[32];
  fwht_global_access<false, W, plan::start(0)>(base, v, thread, lo);
  fwht_register_stages<(plan::round_bits(0) >> plan::start(0))>(v);
  if constexpr (plan::rounds >= 2) {
    fwht_exchange<plan::start(0), plan::start(1)>(shared, v, thread);
    fwht_register_stages<(plan::round_bits(1) >> plan::start(1))>(v);
  }
  if constexpr (plan::rounds >= 3) {
    __syncthreads();  // round 1's readers are done with shared memory
    fwht_exchange<plan::start(1), plan::start(2)>(shared, v, thread);
    fwht_register_stages<(plan::round_bits(2) >> plan::start(2))>(v);
  }
  if constexpr (plan::lane_bits != 0) {
    const std::uint32_t lane = thread & 31u;
#pragma unroll
    for (int l = 0; l < 5; ++l) {
      if (((plan::lane_bits >> l) & 1u) == 0) continue;
      const bool upper = ((lane >> l) & 1u) != 0;
#pragma unroll
      for (int e = 0; e < 32; ++e) {
        const T partner = __shfl_xor_sync(0xffffffffu, v[e], 1u << l);
        v[e] = upper ? partner - v[e] : v[e] + partner;
      }
    }
  }
  // Single-round passes store to the addresses they loaded from; recomputing them from an
  // opaque copy of lo keeps the compiler from holding 32 addresses live across the butterflies
  // (which spills at 64 registers per thread).
  int store_lo = lo;
  asm volatile("mov.b32 %0, %0;" : "+r"(store_lo));
  fwht_global_access<true, W, plan::start(plan::rounds - 1)>(base, v, thread, store_lo);
}

/// Rows of 2^m < 2^10 values: 1024-value chunks (whole rows) in shared memory, one stage per
/// barrier, 512 threads each doing one butterfly per stage.
template <class T>
__global__ void __launch_bounds__(512) fwht_small_kernel(T* __restrict__ data, std::uint64_t count, int m) {
  __shared__ T chunk[1024];
  for (std::uint64_t start = std::uint64_t{blockIdx.x} * 1024; start < count; start += std::uint64_t{gridDim.x} * 1024) {
    const std::uint64_t size = count - start < 1024 ? count - start : 1024;
    __syncthreads();
    for (std::uint32_t i = threadIdx.x; i < size; i += blockDim.x) chunk[i] = data[start + i];
    for (int s = 0; s < m; ++s) {
      __syncthreads();
      const std::uint32_t t = threadIdx.x;
      const std::uint32_t i = ((t >> s) << (s + 1)) | (t & ((1u << s) - 1u));
      const std::uint32_t j = i | (1u << s);
      if (j < size) {
        const T a = chunk[i];
        const T b = chunk[j];
        chunk[i] = a + b;
        chunk[j] = a - b;
      }
    }
    __syncthreads();
    for (std::uint32_t i = threadIdx.x; i < size; i += blockDim.x) data[start + i] = chunk[i];
  }
}

/// Enqueues one tiled pass: one block per tile, 2^B values of shared memory each.
template <class T, int B, int W>
void launch_fwht_pass(cudaStream_t stream, T* data, std::uint64_t count, int lo, const char* what) {
  constexpr int threads = 1 << (B - 5);
  constexpr int shared_bytes = static_cast<int>(sizeof(T)) << B;
  check_cuda(cudaFuncSetAttribute(fwht_tile_kernel<T, B, W>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  shared_bytes),
             what);
  fwht_tile_kernel<T, B, W><<<static_cast<unsigned>(count >> B), threads, shared_bytes, stream>>>(data, lo);
  check_launch(what);
}

/// The contiguous pass over the low `bits` bits of every index (bits in [10, K]).
template <class T, int B = fwht_device_tile_bits<T>>
void enqueue_contiguous_pass(cudaStream_t stream, T* data, std::uint64_t count, int bits, const char* what) {
  if constexpr (B > fwht_device_small_bits) {
    if (bits < B) return enqueue_contiguous_pass<T, B - 1>(stream, data, count, bits, what);
  }
  launch_fwht_pass<T, B, B>(stream, data, count, B, what);
}

/// Strided passes take K - 9 to K - 4 row bits (columns W = 4..9): with fewer rows a single
/// round both loads and stores, and ptxas keeps its 32 addresses beside the 32 values and spills
/// (seen with nvcc 13.0 for sm_90 at W >= 10).
template <class T>
inline constexpr int fwht_device_min_rows = fwht_device_tile_bits<T> - 9;

/// The strided pass over index bits [lo, lo + rows) (K - 9 <= rows <= K - 4, lo >= 10): tiles of
/// 2^rows rows times 2^(K - rows) consecutive columns.
template <class T, int W = 4>
void enqueue_strided_pass(cudaStream_t stream, T* data, std::uint64_t count, int lo, int rows, const char* what) {
  constexpr int K = fwht_device_tile_bits<T>;
  if constexpr (W < K - fwht_device_min_rows<T>) {
    if (K - rows > W) return enqueue_strided_pass<T, W + 1>(stream, data, count, lo, rows, what);
  }
  launch_fwht_pass<T, K, W>(stream, data, count, lo, what);
}

/// The whole transform of count / 2^m rows of 2^m values at data (validated by the caller).
template <class T>
void enqueue_fwht(cudaStream_t stream, T* data, std::uint64_t count, int m, const char* what) {
  if (m == 0) return;
  if (m < fwht_device_small_bits) {
    const std::uint64_t chunks = (count + 1023) / 1024;
    const auto grid = static_cast<unsigned>(chunks < 65535u * 32u ? chunks : 65535u * 32u);
    fwht_small_kernel<T><<<grid, 512, 0, stream>>>(data, count, m);
    check_launch(what);
    return;
  }
  constexpr int K = fwht_device_tile_bits<T>;
  // The contiguous pass takes K bits, or fewer (at least 10) so that a strided pass gets at least
  // its minimum; the strided passes split the rest evenly, at most K - 4 bits each.
  int first = m < K ? m : K;
  if (m > K && m - K < fwht_device_min_rows<T>) first = m - fwht_device_min_rows<T>;
  enqueue_contiguous_pass(stream, data, count, first, what);
  const int remaining = m - first;
  if (remaining == 0) return;
  const int passes = (remaining + (K - 4) - 1) / (K - 4);
  int lo = first;
  for (int p = 0; p < passes; ++p) {
    const int bits = (remaining - (lo - first) + (passes - p) - 1) / (passes - p);  // spread evenly
    enqueue_strided_pass(stream, data, count, lo, bits, what);
    lo += bits;
  }
}

}  // namespace detail

/// In-place unnormalized FWHT of device memory `values` (length n = 2^m) on policy.stream: the
/// transform of fwht.hpp. O(m 2^m) additions in ceil((m - 15) / 11) + 1 passes over memory
/// (float; double: ceil((m - 14) / 10) + 1). Enqueued; returns before the work is done.
/// Throws invalid_argument when the length is not a power of two (0 included), cuda_error when
/// a launch fails.
template <float_or_double T>
void fwht(exec::cuda policy, std::span<T> values) {
  constexpr const char* where = "tessera::qmc::fwht";
  require_power_of_two(where, "values.size()", values.size());
  detail::enqueue_fwht(policy.stream, values.data(), values.size(), std::countr_zero(values.size()), where);
}

/// Batched in-place FWHT of device memory: each of the values.size() / row_length contiguous
/// rows of `row_length` = 2^m values is transformed, as fwht_rows of fwht.hpp. Enqueued on
/// policy.stream. Throws invalid_argument when row_length is not a power of two or does not
/// divide values.size(), or values is empty; cuda_error when a launch fails.
template <float_or_double T>
void fwht_rows(exec::cuda policy, std::span<T> values, std::size_t row_length) {
  constexpr const char* where = "tessera::qmc::fwht_rows";
  require_power_of_two(where, "row_length", row_length);
  require(!values.empty() && values.size() % row_length == 0, where, "values.size()", values.size(),
          "a positive multiple of row_length = " + tessera::detail::to_text(row_length));
  detail::enqueue_fwht(policy.stream, values.data(), values.size(), std::countr_zero(row_length), where);
}

}  // namespace tessera::qmc
