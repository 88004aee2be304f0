#pragma once
// Hash-based nested uniform (Owen) scrambling of base-2 digits.
//
// A nested scramble flips digit k of a coordinate by a random function of digits 0..k-1 (Owen
// 1995). Reversing the bits puts digit 0 at bit 0; then addition, multiplication by an odd number,
// and x ^= x * even all change bit k by a function of bits below k only, so any composition of
// them, between two reversals, is a nested scramble (Laine and Karras 2011; Burley, "Practical
// hash-based Owen scrambling", JCGT 9(4) 2020). The round constants are those N. Vegdahl tuned for
// avalanche ("Building a better LK hash", 2021). As every nested scramble does, it keeps each
// (t,m,s)-net a (t,m,s)-net; its flips are pseudo-random functions of the key rather than
// independent coins, which tests/qmc/digital_net_test.cpp checks in distribution (uniform
// points, O(n^-3) variance on a smooth integrand).
//
// 64-bit words: the upper 32 digits are scrambled with key_hi; the lower 32 with a key that mixes
// key_lo with all 32 upper digits (so every lower digit still depends on every digit above it).

#include <cstdint>

#include "tessera/core/config.hpp"
#include "tessera/qmc/detail/bits.hpp"

namespace tessera::qmc::detail {

/// The nested hash on bit-reversed digits (digit 0 at bit 0).
TESSERA_HOST_DEVICE inline std::uint32_t nested_hash(std::uint32_t x, std::uint32_t key) {
  x ^= x * 0x3d20adeau;
  x += key;
  x *= (key >> 16) | 1u;
  x ^= x * 0x05526c56u;
  x ^= x * 0x53a22864u;
  return x;
}

/// A full-avalanche 32-bit mixer (C. Wellons' "lowbias32", 2018) for deriving keys from digits.
TESSERA_HOST_DEVICE inline std::uint32_t mix32(std::uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

/// Owen-scrambles the 32 digits of x (digit 0 = bit 31) under key.
TESSERA_HOST_DEVICE inline std::uint32_t owen_scramble(std::uint32_t x, std::uint32_t key) {
  return reverse_bits(nested_hash(reverse_bits(x), key));
}

/// Owen-scrambles the 64 digits of x (digit 0 = bit 63) under key.
TESSERA_HOST_DEVICE inline std::uint64_t owen_scramble(std::uint64_t x, std::uint64_t key) {
  const auto high = static_cast<std::uint32_t>(x >> 32);
  const auto low = static_cast<std::uint32_t>(x);
  const std::uint32_t high_out = owen_scramble(high, static_cast<std::uint32_t>(key >> 32));
  const std::uint32_t low_key = static_cast<std::uint32_t>(key) ^ mix32(high ^ static_cast<std::uint32_t>(key >> 32));
  const std::uint32_t low_out = owen_scramble(low, low_key);
  return (static_cast<std::uint64_t>(high_out) << 32) | low_out;
}

}  // namespace tessera::qmc::detail
