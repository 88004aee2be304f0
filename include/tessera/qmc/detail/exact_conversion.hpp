#pragma once
// Exact integer-to-floating conversions that vectorize on x86 without AVX-512 (which alone has
// unsigned and 64-bit conversions): a value below 2^24 converts as a signed int; one below 2^53
// is split into two parts below 2^32, each converted by the exponent trick (the bits of 2^52 + x
// read as a double, minus 2^52), and recombined with one exact multiply-add. Device code uses the
// hardware conversions, which are exact for these ranges too, so host and device agree.

#include <bit>
#include <cstdint>

#include "tessera/core/config.hpp"

namespace tessera::qmc::detail {

/// x < 2^24, exactly.
TESSERA_HOST_DEVICE inline float exact_to_float(std::uint32_t x) {
  return static_cast<float>(static_cast<std::int32_t>(x));
}

/// x < 2^53, exactly.
TESSERA_HOST_DEVICE inline double exact_to_double(std::uint64_t x) {
#if defined(__CUDA_ARCH__)
  return static_cast<double>(x);
#else
  constexpr std::uint64_t two_52 = 0x4330000000000000ULL;
  const double high = std::bit_cast<double>(two_52 | (x >> 32)) - 0x1p52;
  const double low = std::bit_cast<double>(two_52 | (x & 0xffffffffULL)) - 0x1p52;
  return high * 0x1p32 + low;  // high 2^32 is exact and the sum is below 2^53: exact either way
#endif
}

}  // namespace tessera::qmc::detail
