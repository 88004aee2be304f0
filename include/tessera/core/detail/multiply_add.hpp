#pragma once
// Internals of tessera: a multiply-add that rounds the same way in every copy of the code that
// calls it, whatever floating-point contraction the compiler is allowed.

#include <cmath>
#include <type_traits>

#include "tessera/core/concepts.hpp"
#include "tessera/core/config.hpp"

namespace tessera::detail {

/// Whether the host target has a fast fused multiply-add for T (<cmath>'s FP_FAST_FMA and
/// FP_FAST_FMAF: x86 built with -mfma or -march=native on a machine with FMA, AArch64, ...).
template <float_or_double T>
inline constexpr bool host_has_fast_fma =
#if defined(FP_FAST_FMA)
    std::is_same_v<T, double> ||
#endif
#if defined(FP_FAST_FMAF)
    std::is_same_v<T, float> ||
#endif
    false;

/// a b + c, rounded once where the target has a fast fused multiply-add (every CUDA device; a
/// host per host_has_fast_fma), twice elsewhere: every copy of an expression built on it then
/// rounds alike, whatever contraction the compiler may do. (GCC's default, -ffp-contract=fast,
/// fuses a b + c in some inlined copies and not in others once FMA is available, so a value
/// computed twice could differ by a rounding.) O(1), no errors.
template <float_or_double T>
TESSERA_HOST_DEVICE T multiply_add(T a, T b, T c) {
#if defined(__CUDA_ARCH__)
  return fma(a, b, c);
#else
  if constexpr (host_has_fast_fma<T>)
    return std::fma(a, b, c);
  else
    return a * b + c;
#endif
}

}  // namespace tessera::detail
