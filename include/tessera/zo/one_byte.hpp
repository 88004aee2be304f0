#pragma once
// One byte per projected gradient: the quantizer of decentralized SPSA.
//
// Zelikman, Huang, Liang, Haber, Goodman, "Just One Byte (per gradient): A Note on
// Low-Bandwidth Decentralized Language Model Finetuning Using Shared Randomness" (2023,
// arXiv 2306.10015) exchange each projected gradient g as a single byte. Their code
// (github.com/ezelikman/justonebyte, app.py, `one_byte`) quantizes the logarithm of |g|:
//
//     power = clamp(round(16 ln|g|), -127, 127),   restored = sign(g) exp(power / 16),
//
// i.e. 16 levels per factor e, nearest in the log domain, a relative error of at most
// e^(1/32) - 1 = 3.2 %. That code keeps the sign apart from the 255 powers, which is nine bits;
// here the sign shares the byte, so the powers are halved to 127 around a scale c shared by all
// workers (the code's is c = 1):
//
//     code q in [-127, 127] (std::int8_t; -128 is not a code),
//     q = 0          <-> 0,
//     q = ±k, k >= 1 <-> ±c exp((k - 64) / 16),   magnitudes c e^(-63/16) = 0.0195 c .. c e^(63/16) = 51.3 c.
//
// Rounding (byte_rounding):
//   nearest     the paper code's: the nearest level in the log domain; |g| above the largest
//               level clips to it; below the smallest level L_1, to the nearer of 0 and L_1.
//               |decode(encode(g)) - g| <= max(0.0318 |g|, L_1 / 2) for |g| <= c e^(63/16).
//   stochastic  (not in the paper; offered for unbiased updates) one of the two levels around
//               |g| (0 and L_1 below L_1), the upper with probability (|g| - lo) / (hi - lo), so
//               E[decode] = g for |g| <= c e^(63/16); the uniform draw is the caller's.
//
// The levels are constants computed at compile time with + * / only, and decoding is one
// multiplication by c, so every replica decodes a byte to the same bits on every IEEE machine.

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>

#include "tessera/core/concepts.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::zo {

/// How a projected gradient is rounded to one of the byte's levels.
enum class byte_rounding {
  nearest,     ///< the nearest level in the log domain (the paper's code); deterministic
  stochastic,  ///< one of the two neighbouring levels, unbiased within the range
};

/// The one-byte quantizer's parameters; every worker of a run must use the same.
template <float_or_double T>
struct one_byte_options {
  T scale = T(1);  ///< c: the magnitude of code 64, the centre of the log range (> 0)
  byte_rounding rounding = byte_rounding::nearest;
};

namespace detail {

/// The largest code magnitude: codes are -127..127.
inline constexpr int largest_code = 127;

/// The code whose magnitude is the scale itself.
inline constexpr int centre_code = 64;

/// Levels per factor e (the paper code's 16).
inline constexpr double levels_per_e = 16;

/// e^x for 0 <= x <= 4.5 by its Taylor series (terms below 1e-24 beyond n = 40). constexpr.
constexpr double exp_series(double x) {
  double term = 1, sum = 1;
  for (int n = 1; n <= 40; ++n) {
    term *= x / n;
    sum += term;
  }
  return sum;
}

/// e^x for |x| <= 4.5, positive terms only (no cancellation). constexpr.
constexpr double exp_small(double x) { return x >= 0 ? exp_series(x) : 1 / exp_series(-x); }

/// Magnitudes of codes 0..127 in units of the scale: 0, then e^((k - 64) / 16).
template <float_or_double T>
constexpr std::array<T, largest_code + 1> make_levels() {
  std::array<T, largest_code + 1> levels{};
  for (int k = 1; k <= largest_code; ++k)
    levels[k] = static_cast<T>(exp_small((k - centre_code) / levels_per_e));
  return levels;
}

/// Boundary k (k = 0..126) between codes k and k + 1 for nearest rounding, in units of the
/// scale: L_1 / 2 below the first level (linear), the geometric mean of the levels above.
template <float_or_double T>
constexpr std::array<T, largest_code> make_boundaries() {
  std::array<T, largest_code> boundaries{};
  boundaries[0] = static_cast<T>(exp_small((1 - centre_code) / levels_per_e) / 2);
  for (int k = 1; k < largest_code; ++k)
    boundaries[k] = static_cast<T>(exp_small((k + 0.5 - centre_code) / levels_per_e));
  return boundaries;
}

template <float_or_double T>
inline constexpr std::array<T, largest_code + 1> byte_levels = make_levels<T>();

template <float_or_double T>
inline constexpr std::array<T, largest_code> byte_boundaries = make_boundaries<T>();

/// The number of entries e of `table` (ascending) with scale * e <= magnitude. O(log 128).
template <float_or_double T, std::size_t N>
int count_at_or_below(const std::array<T, N>& table, T scale, T magnitude) {
  int lo = 0, hi = static_cast<int>(N);
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (scale * table[static_cast<std::size_t>(mid)] <= magnitude)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/// The code magnitude k of |g| under stochastic rounding with the uniform draw u.
template <float_or_double T>
int stochastic_code(T magnitude, T scale, T u) {
  const auto& levels = byte_levels<T>;
  const int k = count_at_or_below(levels, scale, magnitude) - 1;  // levels[k] * c <= |g|
  if (k == largest_code) return k;                                  // clipped
  const T lo = scale * levels[static_cast<std::size_t>(k)];
  const T hi = scale * levels[static_cast<std::size_t>(k) + 1];
  return u < (magnitude - lo) / (hi - lo) ? k + 1 : k;
}

template <float_or_double T>
void require_one_byte_options(std::string_view where, const one_byte_options<T>& o) {
  require_positive(where, "scale", o.scale);
  const T smallest = o.scale * byte_levels<T>[1];
  const T largest = o.scale * byte_levels<T>[largest_code];
  require(smallest >= std::numeric_limits<T>::min() && largest <= std::numeric_limits<T>::max(), where,
          "scale", o.scale, "a scale whose levels scale * e^(+-63/16) are normal numbers");
}

}  // namespace detail

/// The largest magnitude a byte holds, c e^(63/16); larger projected gradients clip to it. O(1).
template <float_or_double T>
T one_byte_max(const one_byte_options<T>& options) {
  return options.scale * detail::byte_levels<T>[detail::largest_code];
}

/// The smallest non-zero magnitude a byte holds, c e^(-63/16). O(1).
template <float_or_double T>
T one_byte_min(const one_byte_options<T>& options) {
  return options.scale * detail::byte_levels<T>[1];
}

/// Encodes the projected gradient g as one byte (see the top of this header). `uniform` in
/// [0, 1) is the draw of stochastic rounding (a fresh one per call) and is ignored by nearest
/// rounding. O(log 128). Throws invalid_argument for a non-finite g, a scale out of range or a
/// uniform outside [0, 1).
template <float_or_double T>
std::int8_t one_byte_encode(T g, const one_byte_options<T>& options, T uniform) {
  constexpr std::string_view where = "tessera::zo::one_byte_encode";
  require_finite(where, "g", g);
  detail::require_one_byte_options(where, options);
  require(uniform >= T(0) && uniform < T(1), where, "uniform", uniform, "0 <= uniform < 1");
  const T magnitude = std::abs(g);
  const int k = options.rounding == byte_rounding::nearest
                    ? detail::count_at_or_below(detail::byte_boundaries<T>, options.scale, magnitude)
                    : detail::stochastic_code(magnitude, options.scale, uniform);
  return static_cast<std::int8_t>(g < T(0) ? -k : k);
}

/// Encodes g with nearest rounding, which needs no draw. O(log 128). Throws invalid_argument as
/// above, and when options.rounding is stochastic (that needs the three-argument form).
template <float_or_double T>
std::int8_t one_byte_encode(T g, const one_byte_options<T>& options) {
  require(options.rounding == byte_rounding::nearest, "tessera::zo::one_byte_encode", "rounding", "stochastic",
          "nearest, or a uniform draw passed for stochastic rounding");
  return one_byte_encode(g, options, T(0));
}

/// The projected gradient a byte stands for: 0 or ±c e^((|q| - 64) / 16), the same bits on every
/// machine. O(1). Throws invalid_argument for q = -128 (not a code) or a scale out of range.
template <float_or_double T>
T one_byte_decode(std::int8_t code, const one_byte_options<T>& options) {
  constexpr std::string_view where = "tessera::zo::one_byte_decode";
  require(code != std::numeric_limits<std::int8_t>::min(), where, "code", static_cast<int>(code),
          "-127 <= code <= 127");
  detail::require_one_byte_options(where, options);
  const int k = code < 0 ? -code : code;
  const T magnitude = options.scale * detail::byte_levels<T>[static_cast<std::size_t>(k)];
  return code < 0 ? -magnitude : magnitude;
}

}  // namespace tessera::zo
