#pragma once
// Bit manipulation used by the digital-net and lattice generators, identical on host and device.

#include <bit>
#include <cstdint>

#include "tessera/core/config.hpp"

namespace tessera::qmc::detail {

/// The bits of x in reverse order (bit 0 <-> bit 31).
TESSERA_HOST_DEVICE inline std::uint32_t reverse_bits(std::uint32_t x) {
#if defined(__CUDA_ARCH__)
  return __brev(x);
#else
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
  x = ((x >> 8) & 0x00ff00ffu) | ((x & 0x00ff00ffu) << 8);
  return (x >> 16) | (x << 16);
#endif
}

/// The bits of x in reverse order (bit 0 <-> bit 63).
TESSERA_HOST_DEVICE inline std::uint64_t reverse_bits(std::uint64_t x) {
#if defined(__CUDA_ARCH__)
  return __brevll(x);
#else
  return (static_cast<std::uint64_t>(reverse_bits(static_cast<std::uint32_t>(x))) << 32) |
         reverse_bits(static_cast<std::uint32_t>(x >> 32));
#endif
}

/// The index of the lowest set bit of x (x != 0).
TESSERA_HOST_DEVICE inline int lowest_set_bit(std::uint64_t x) {
#if defined(__CUDA_ARCH__)
  return __ffsll(static_cast<long long>(x)) - 1;
#else
  return std::countr_zero(x);
#endif
}

}  // namespace tessera::qmc::detail
