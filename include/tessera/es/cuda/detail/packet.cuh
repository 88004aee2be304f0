#pragma once
// Internals of the es device backend: the 16-byte vector accesses its kernels share.

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
bool aligned_16(const T* p) {
  return std::bit_cast<std::uintptr_t>(p) % 16 == 0;
}

}  // namespace tessera::es::detail
