#pragma once
// Internals of es/cuda/perturbed_forward.cuh: kernel 2 of the low-rank forward, out = X W ± P Bᵀ
// tile by tile with B drawn into shared memory (expand_tile, which the fused kernel shares), and
// its launcher. How it works: the top of perturbed_forward.cuh.

#include <cuda_runtime_api.h>

#include <algorithm>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>

#include "tessera/core/concepts.hpp"
#include "tessera/core/cuda/check.cuh"
#include "tessera/core/detail/fast_divisor.hpp"
#include "tessera/es/cuda/detail/forward_call.cuh"
#include "tessera/es/cuda/detail/packet.cuh"
#include "tessera/es/cuda/noise.cuh"

namespace tessera::es::detail {

/// Output rows an expand thread holds in registers at once: with a pair's two members each row
/// is two 16-byte stores, and 4 rows would exceed the 64 registers of four blocks per SM (spills).
inline constexpr int rows_in_registers = 2;

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

}  // namespace tessera::es::detail
