#pragma once
// Internals of es/cuda/perturbed_forward.cuh: one low-rank forward as its launchers and kernels
// take it (the validated call, the shape with its divisor by r), and what they share: the block
// size, the shared memory a tile of factors may take, a warp sum, the scratch padding.

#include <cublas_v2.h>

#include <cstddef>
#include <cstdint>

#include "tessera/core/concepts.hpp"
#include "tessera/core/detail/fast_divisor.hpp"
#include "tessera/core/exec.hpp"
#include "tessera/core/matrix_view.hpp"
#include "tessera/es/cuda/member_inputs.cuh"
#include "tessera/es/cuda/noise.cuh"

namespace tessera::es::detail {

/// Threads per block of the forward kernels.
inline constexpr unsigned forward_threads = 256;

/// Shared memory a chunk of A's rows (with X's) or a tile of B's rows may take.
inline constexpr std::size_t factor_tile_bytes = 32 * 1024;

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

/// Scratch values that keep the next buffer 256-byte aligned after `values` of T.
template <float_or_double T>
std::size_t padded(std::size_t values) {
  constexpr std::size_t per_line = 256 / sizeof(T);
  return (values + per_line - 1) / per_line * per_line;
}

}  // namespace tessera::es::detail
