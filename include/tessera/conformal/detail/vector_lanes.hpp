#pragma once
// Internals of the conformal headers: registers of several values as GCC/Clang vector types, for
// the host passes over probability rows (checks, the set search) and over scores (the bracketed
// selection). Their compares become masks and their selections blends; plain loops do not
// vectorize there, as GCC keeps a branch per floating-point compare (it may trap), and branches on
// a row's probabilities are mispredicted about half the time. Where the target has AVX-512, masks
// and compressions use its intrinsics. Host code only.

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "tessera/core/concepts.hpp"

#if defined(__AVX512F__) && !defined(__CUDACC__)
#include <immintrin.h>
#endif

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
/// test-into-mask instruction with AVX-512, one movemask with AVX (neither under nvcc, whose
/// front end does not know them); a loop over the lanes elsewhere.
template <float_or_double T, class Mask>
unsigned lane_bits(const Mask& mask) {
#if defined(__AVX512F__) && !defined(__CUDACC__)
  __m512i lanes;
  std::memcpy(&lanes, &mask, sizeof lanes);
  if constexpr (sizeof(T) == 8)
    return _mm512_test_epi64_mask(lanes, lanes);
  else
    return _mm512_test_epi32_mask(lanes, lanes);
#elif defined(__AVX__) && !defined(__CUDACC__)
  typename vector_of<T>::type as_values;
  std::memcpy(&as_values, &mask, sizeof mask);
  if constexpr (sizeof(T) == 8)
    return static_cast<unsigned>(__builtin_ia32_movmskpd256(as_values));
  else
    return static_cast<unsigned>(__builtin_ia32_movmskps256(as_values));
#else
  unsigned bits = 0;
  for (std::size_t l = 0; l < vector_of<T>::lanes; ++l) bits |= (mask[l] != 0 ? 1u : 0u) << l;
  return bits;
#endif
}

/// Bit l set for each lane l with low[l] <= v[l] <= high[l] (never for a NaN): lane_bits of the
/// two compares, except that with AVX-512 they go straight into a mask register. GCC's vector
/// compares there are formed in mask registers, widened into a vector of lanes and tested back
/// into a mask: two instructions more per register, on the path of a gather whose lanes are then
/// compressed (APS sets of 50 000 x 1000 doubles: 76-79 -> 73-75 ms with these on an AMD EPYC).
template <float_or_double T>
unsigned bits_between(const typename vector_of<T>::type& v, const typename vector_of<T>::type& low,
                      const typename vector_of<T>::type& high) {
#if defined(__AVX512F__) && !defined(__CUDACC__)
  if constexpr (sizeof(T) == 8) {
    const auto [x, a, b] = std::array{std::bit_cast<__m512d>(v), std::bit_cast<__m512d>(low), std::bit_cast<__m512d>(high)};
    return _mm512_mask_cmp_pd_mask(_mm512_cmp_pd_mask(x, a, _CMP_GE_OQ), x, b, _CMP_LE_OQ);
  } else {
    const auto [x, a, b] = std::array{std::bit_cast<__m512>(v), std::bit_cast<__m512>(low), std::bit_cast<__m512>(high)};
    return _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(x, a, _CMP_GE_OQ), x, b, _CMP_LE_OQ);
  }
#else
  return lane_bits<T>((v >= low) & (v <= high));
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

/// Writes first + l for each set bit l of `bits` (below 2^Lanes) to out, in increasing order,
/// and returns how many. max(Lanes, 4) values are stored whatever the bits, so out must have room
/// for them. Branch-free: with AVX-512 (and its 256-bit forms) one compress into a register and
/// one store; elsewhere, per group of four lanes, a table lookup, a store and a population count.
template <std::size_t Lanes>
std::size_t compress_lane_indices(unsigned bits, std::int32_t first, std::int32_t* out) {
#if defined(__AVX512F__) && defined(__AVX512VL__) && !defined(__CUDACC__)
  // Compressed into a register, not straight to memory: a compressing store is microcoded and
  // slow on some of these cores.
  if constexpr (Lanes == 8) {
    const __m256i indices = _mm256_add_epi32(_mm256_set1_epi32(first), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                        _mm256_maskz_compress_epi32(static_cast<__mmask8>(bits), indices));
    return static_cast<std::size_t>(std::popcount(bits));
  } else if constexpr (Lanes == 16) {
    const __m512i indices = _mm512_add_epi32(
        _mm512_set1_epi32(first), _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    _mm512_storeu_si512(out, _mm512_maskz_compress_epi32(static_cast<__mmask16>(bits), indices));
    return static_cast<std::size_t>(std::popcount(bits));
  }
#endif
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

/// Writes the lanes of `values` whose bit is set in `bits` to out, in lane order, and returns how
/// many. All lanes are stored whatever the bits, so out must have room for vector_of<T>::lanes
/// values. Branch-free: with AVX-512 one compress into a register and one store; elsewhere a store
/// per lane that the next overwrites unless its bit is set.
template <float_or_double T>
std::size_t compress_lanes(unsigned bits, const typename vector_of<T>::type& values, T* out) {
#if defined(__AVX512F__) && !defined(__CUDACC__)
  if constexpr (sizeof(T) == 8) {
    __m512d lanes;
    std::memcpy(&lanes, &values, sizeof lanes);
    _mm512_storeu_pd(out, _mm512_maskz_compress_pd(static_cast<__mmask8>(bits), lanes));
  } else {
    __m512 lanes;
    std::memcpy(&lanes, &values, sizeof lanes);
    _mm512_storeu_ps(out, _mm512_maskz_compress_ps(static_cast<__mmask16>(bits), lanes));
  }
  return static_cast<std::size_t>(std::popcount(bits));
#else
  std::size_t written = 0;
  for (std::size_t l = 0; l < vector_of<T>::lanes; ++l) {
    out[written] = values[l];
    written += (bits >> l) & 1u;
  }
  return written;
#endif
}

}  // namespace tessera::conformal::detail
