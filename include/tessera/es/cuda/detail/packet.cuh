#pragma once
// Internals of the es device backend: the 16-byte vector accesses its kernels share, and the
// staging of rows of X into shared memory built on them.

#include <bit>
#include <cstdint>

#include "tessera/core/concepts.hpp"

namespace tessera::es::detail {

/// Vec values of T loaded or stored as one access (Vec sizeof(T) = 16 bytes: one vector access).
template <class T, int Vec>
struct alignas(sizeof(T) * Vec) packet {
  T value[Vec];
};

/// 16 bytes of T: 4 floats or 2 doubles.
template <float_or_double T>
inline constexpr int vector_width = 16 / static_cast<int>(sizeof(T));

/// Whether p is 16-byte aligned (vector accesses need it).
template <class T>
__host__ __device__ bool aligned_16(const T* p) {
  return std::bit_cast<std::uintptr_t>(p) % 16 == 0;
}

/// Copies `rows` rows of `columns` values from `from` (rows of pitch `from_pitch`) to `to` (rows
/// of pitch to_pitch), shared among the block's threads: 16-byte vectors when `vectors` (both
/// pointers 16-byte aligned, the pitches and `columns` multiples of the vector width). No
/// division per value: the threads run over a row's columns, row after row.
template <float_or_double T>
__device__ void stage_rows(const T* from, std::uint64_t from_pitch, std::uint32_t rows, std::uint32_t columns,
                           T* to, std::uint32_t to_pitch, bool vectors) {
  constexpr int vec = vector_width<T>;
  using vector = packet<T, vec>;
  if (vectors) {
    for (std::uint32_t row = 0; row < rows; ++row)
      for (std::uint32_t j = threadIdx.x * vec; j < columns; j += blockDim.x * vec)
        *reinterpret_cast<vector*>(to + row * to_pitch + j) =
            *reinterpret_cast<const vector*>(from + row * from_pitch + j);
  } else {
    for (std::uint32_t row = 0; row < rows; ++row)
      for (std::uint32_t j = threadIdx.x; j < columns; j += blockDim.x)
        to[row * to_pitch + j] = from[row * from_pitch + j];
  }
}

}  // namespace tessera::es::detail
