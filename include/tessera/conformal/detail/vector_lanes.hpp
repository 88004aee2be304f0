#pragma once
// Internals of the classification headers: registers of several values as GCC/Clang vector types,
// for the host passes over probability rows (checks, the set search). Their compares become masks
// and their selections blends; plain loops do not vectorize there, as GCC keeps a branch per
// floating-point compare (it may trap), and branches on a row's probabilities are mispredicted
// about half the time. Host code only.

#include <cstddef>
#include <cstring>

#include "tessera/core/concepts.hpp"

namespace tessera::conformal::detail {

/// N values of T in one vector type (N sizeof(T) bytes; the compiler splits it into registers).
template <class T, std::size_t N>
struct fixed_vector {
  typedef T type __attribute__((vector_size(N * sizeof(T))));
};

/// The bytes of one vector register the passes work in: AVX's 32 where the target has it, else
/// SSE2's (or NEON's) 16.
#if defined(__AVX__)
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

}  // namespace tessera::conformal::detail
