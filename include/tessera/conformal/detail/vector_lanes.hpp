#pragma once
// Internals of the classification headers: registers of several values as GCC/Clang vector types,
// for the host passes over probability rows (checks, the set search). Their compares become masks
// and their selections blends; plain loops do not vectorize there, as GCC keeps a branch per
// floating-point compare (it may trap), and branches on a row's probabilities are mispredicted
// about half the time. Host code only.

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "tessera/core/concepts.hpp"

namespace tessera::conformal::detail {

/// N values of T in one vector type (N sizeof(T) bytes; the compiler splits it into registers).
template <class T, std::size_t N>
struct fixed_vector {
  typedef T type __attribute__((vector_size(N * sizeof(T))));
};

/// The bytes of one vector register the passes work in: AVX-512's 64 where the target has it
/// (half the instructions per pass: the set search took 1.84 -> 1.44 us per row of 1000 doubles
/// on an AMD EPYC), AVX's 32, else SSE2's (or NEON's) 16.
#if defined(__AVX512F__)
inline constexpr std::size_t vector_bytes = 64;
#elif defined(__AVX__)
inline constexpr std::size_t vector_bytes = 32;
#else
inline constexpr std::size_t vector_bytes = 16;
#endif

/// One register of T values.
template <float_or_double T>
struct vector_of {
  static constexpr std::size_t lanes = vector_bytes / sizeof(T);
  using type = typename fixed_vector<T, lanes>::type;
};

/// One register of consecutive values of `at` (any alignment).
template <float_or_double T>
typename vector_of<T>::type load_vector(const T* at) {
  typename vector_of<T>::type v;
  std::memcpy(&v, at, sizeof v);
  return v;
}

/// Bit l set for each lane l of `mask` (a compare of vector_of<T> registers) that is true. One
/// movemask instruction per 32 bytes with AVX (not under nvcc, whose front end does not know the
/// builtins); a loop over the lanes elsewhere.
template <float_or_double T, class Mask>
unsigned lane_bits(const Mask& mask) {
#if defined(__AVX__) && !defined(__CUDACC__)
  typedef T movemask_operand __attribute__((vector_size(32)));  // 32 bytes: what one movemask reads
  constexpr std::size_t parts = vector_bytes / 32, lanes_per_part = 32 / sizeof(T);
  movemask_operand part[parts];
  std::memcpy(part, &mask, sizeof part);
  unsigned bits = 0;
  for (std::size_t i = 0; i < parts; ++i) {
    if constexpr (sizeof(T) == 8)
      bits |= static_cast<unsigned>(__builtin_ia32_movmskpd256(part[i])) << (i * lanes_per_part);
    else
      bits |= static_cast<unsigned>(__builtin_ia32_movmskps256(part[i])) << (i * lanes_per_part);
  }
  return bits;
#else
  unsigned bits = 0;
  for (std::size_t l = 0; l < vector_of<T>::lanes; ++l) bits |= (mask[l] != 0 ? 1u : 0u) << l;
  return bits;
#endif
}

/// For each 4-bit lane mask m, the positions of its set bits in increasing order (then zeros).
inline constexpr auto set_lane_positions = [] {
  std::array<std::array<std::int32_t, 4>, 16> positions{};
  for (unsigned m = 0; m < 16; ++m)
    for (std::int32_t l = 0, k = 0; l < 4; ++l)
      if ((m >> l) & 1u) positions[m][k++] = l;
  return positions;
}();

/// Writes first + l for each set bit l of `bits` (below 2^lanes) to out, in increasing order,
/// and returns how many: four values are stored per group of four lanes, whatever the bits, so
/// out must have room for max(lanes, 4) values. Branch-free: a table lookup, a store and a
/// population count per group.
template <std::size_t Lanes>
std::size_t compress_lane_indices(unsigned bits, std::int32_t first, std::int32_t* out) {
  typedef std::int32_t group __attribute__((vector_size(16)));
  std::size_t written = 0;
  for (std::size_t g = 0; g < (Lanes + 3) / 4; ++g) {
    const unsigned m = (bits >> (4 * g)) & 15u;
    group indices;
    std::memcpy(&indices, set_lane_positions[m].data(), sizeof indices);
    indices += first + static_cast<std::int32_t>(4 * g);
    std::memcpy(out + written, &indices, sizeof indices);
    written += static_cast<std::size_t>(std::popcount(m));
  }
  return written;
}

}  // namespace tessera::conformal::detail
