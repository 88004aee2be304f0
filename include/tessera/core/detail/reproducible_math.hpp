#pragma once
// Elementary functions that return the same bits on every IEEE-754 machine, host or GPU.
//
// The C library's log/sin/cos and CUDA's are each accurate to an ulp or two, but not the same
// ulp, so normals drawn with them would differ between host and device. These versions use only
// operations that IEEE-754 rounds correctly (+, -, *, /, sqrt and fused multiply-add). Every
// product that meets a sum is written as an explicit fma, so no compiler's contraction setting
// (-ffp-contract, nvcc --fmad) can change a result. Fast-math modes (-ffast-math,
// -use_fast_math) relax those guarantees and are not supported for these paths.
//
// Accuracy: within 2 ulp of the true value over the documented domain (checked in
// tests/core/reproducible_math_test.cpp against long double).

#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "tessera/core/config.hpp"

namespace tessera::detail {

TESSERA_HOST_DEVICE inline double fused_multiply_add(double a, double b, double c) {
  return ::fma(a, b, c);
}
TESSERA_HOST_DEVICE inline float fused_multiply_add(float a, float b, float c) {
  return ::fmaf(a, b, c);
}

// The functions below are branch-free and their polynomials unrolled, with coefficient tables
// in static storage, so that a host loop over many arguments vectorizes (tessera::fill_normal);
// every variant computes the same operations in the same order, hence the same bits.

/// Horner evaluation of c[K] + c[K+1] z + ... + c[N-1] z^(N-1-K) with one fma per step,
/// unrolled by the recursion.
template <int K = 0, class T, int N>
TESSERA_HOST_DEVICE T horner(T z, const T (&c)[N]) {
  if constexpr (K == N - 1)
    return c[K];
  else
    return fused_multiply_add(horner<K + 1>(z, c), z, c[K]);
}

/// Splits a positive normal x into 2^e * f with f in [sqrt(1/2), sqrt(2)), exactly (the halving
/// is a multiplication by 1 or 1/2).
template <class T, class Bits, int MantissaBits, int Bias>
TESSERA_HOST_DEVICE T split_exponent(T x, int& exponent) {
  const Bits bits = std::bit_cast<Bits>(x);
  const Bits mantissa_mask = (Bits{1} << MantissaBits) - 1;
  const T f = std::bit_cast<T>((bits & mantissa_mask) | (static_cast<Bits>(Bias) << MantissaBits));
  const int halve = f > T(1.41421356237309504880) ? 1 : 0;
  exponent = static_cast<int>(bits >> MantissaBits) - Bias + halve;
  return f * (T(1) - T(0.5) * static_cast<T>(halve));
}

/// log(x) for a positive normal double x (not 0, subnormal, inf or NaN: callers guarantee it).
/// Method: x = 2^e f, log f = 2 atanh(s) with s = (f-1)/(f+1), |s| <= 0.1716, series to s^21.
TESSERA_HOST_DEVICE inline double reproducible_log(double x) {
  int exponent = 0;
  const double f = split_exponent<double, std::uint64_t, 52, 1023>(x, exponent);
  const double s = (f - 1.0) / (f + 1.0);  // f - 1 is exact (Sterbenz)
  const double z = s * s;
  static constexpr double atanh_series[] = {1.0 / 3,  1.0 / 5,  1.0 / 7,  1.0 / 9,  1.0 / 11,
                                     1.0 / 13, 1.0 / 15, 1.0 / 17, 1.0 / 19, 1.0 / 21};
  const double log_f = 2.0 * fused_multiply_add(s * z, horner(z, atanh_series), s);
  return fused_multiply_add(static_cast<double>(exponent), 0.69314718055994530942, log_f);
}

/// log(x) for a positive normal float x; series to s^11 (|s| <= 0.1716 gives < 2^-25 truncation).
TESSERA_HOST_DEVICE inline float reproducible_log(float x) {
  int exponent = 0;
  const float f = split_exponent<float, std::uint32_t, 23, 127>(x, exponent);
  const float s = (f - 1.0f) / (f + 1.0f);
  const float z = s * s;
  static constexpr float atanh_series[] = {1.0f / 3, 1.0f / 5, 1.0f / 7, 1.0f / 9, 1.0f / 11};
  const float log_f = 2.0f * fused_multiply_add(s * z, horner(z, atanh_series), s);
  return fused_multiply_add(static_cast<float>(exponent), 0.693147180559945309f, log_f);
}

/// sin and cos of (pi/2) r for |r| <= 1/2, by Taylor series in r^2 whose coefficients
/// (-1)^k (pi/2)^(2k+1) / (2k+1)! and (-1)^k (pi/2)^(2k) / (2k)! were evaluated to 40 digits
/// (mpmath) and rounded; truncation after these terms is below 2^-60 (double) / 2^-27 (float).
TESSERA_HOST_DEVICE inline void quarter_turn_sincos(double r, double& sin_out, double& cos_out) {
  static constexpr double sin_series[] = {
      1.57079632679489661923,      -0.645964097506246253656,    0.0796926262461670451205,
      -0.00468175413531868810069,  0.000160441184787359821873,  -3.59884323521208534046e-6,
      5.69217292196792681178e-8,   -6.68803510981146723248e-10, 6.0669357311061956671e-12,
      -4.37706546731374227718e-14};
  static constexpr double cos_series[] = {
      1.0,                        -1.23370055013616982735,    0.253669507901048013637,
      -0.0208634807633529608731,  0.000919260274839426580242, -2.52020423730606054811e-5,
      4.71087477881817150367e-7,  -6.38660308379185224109e-9, 6.56596311497947236221e-11,
      -5.29440020073462376193e-13};
  const double r2 = r * r;
  sin_out = r * horner(r2, sin_series);
  cos_out = horner(r2, cos_series);
}

TESSERA_HOST_DEVICE inline void quarter_turn_sincos(float r, float& sin_out, float& cos_out) {
  static constexpr float sin_series[] = {1.57079632679489661923f,    -0.645964097506246253656f,
                                  0.0796926262461670451205f,  -0.00468175413531868810069f,
                                  0.000160441184787359821873f, -3.59884323521208534046e-6f};
  static constexpr float cos_series[] = {1.0f,
                                  -1.23370055013616982735f,
                                  0.253669507901048013637f,
                                  -0.0208634807633529608731f,
                                  0.000919260274839426580242f,
                                  -2.52020423730606054811e-5f,
                                  4.71087477881817150367e-7f};
  const float r2 = r * r;
  sin_out = r * horner(r2, sin_series);
  cos_out = horner(r2, cos_series);
}

/// sin(2 pi t) and cos(2 pi t) for the fraction of a turn t = j / 2^Bits, 0 <= j < 2^Bits.
/// The quadrant and the remainder are taken from the integer j, so the reduction is exact;
/// Bits must leave the remainder representable: Bits <= 26 for float, <= 55 for double.
template <class T, int Bits>
TESSERA_HOST_DEVICE void reproducible_sincos_turns(std::uint64_t j, T& sin_out, T& cos_out) {
  static_assert(Bits >= 3 && Bits <= (sizeof(T) == 4 ? 26 : 55));
  // 32-bit integers where they hold j (float): the same values, in a width vector units convert.
  using word = std::conditional_t<(Bits < 31), std::uint32_t, std::uint64_t>;
  using signed_word = std::make_signed_t<word>;
  constexpr int quarter_shift = Bits - 2;  // j >> quarter_shift counts quarter turns
  const auto jw = static_cast<word>(j);
  const word quadrant = (jw + (word{1} << (quarter_shift - 1))) >> quarter_shift;
  const auto remainder = static_cast<signed_word>(jw) - static_cast<signed_word>(quadrant << quarter_shift);
  // r = remainder / 2^quarter_shift in [-1/2, 1/2): both conversion and scaling are exact.
  const T r = static_cast<T>(remainder) / static_cast<T>(word{1} << quarter_shift);
  T s, c;
  quarter_turn_sincos(r, s, c);
  // Quadrant q: (sin, cos) = (s, c), (c, -s), (-s, -c), (-c, s): an odd q swaps the pair, sin is
  // negated for q >= 2 and cos for q = 1, 2; as bit operations on the sign bits.
  using bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  constexpr int sign_shift = 8 * sizeof(T) - 1;
  const auto q = static_cast<bits>(quadrant & 3);
  const bits s_bits = std::bit_cast<bits>(s), c_bits = std::bit_cast<bits>(c);
  const bits swap = bits{0} - (q & 1);  // all ones for an odd q
  const bits first = s_bits ^ ((s_bits ^ c_bits) & swap), second = c_bits ^ ((s_bits ^ c_bits) & swap);
  sin_out = std::bit_cast<T>(first ^ ((q >> 1) << sign_shift));
  cos_out = std::bit_cast<T>(second ^ ((((q + 1) >> 1) & 1) << sign_shift));
}

}  // namespace tessera::detail
