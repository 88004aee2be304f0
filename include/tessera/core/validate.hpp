#pragma once
// Argument checks for the public boundary of every algorithm (DESIGN principle 5).
//
// Each check throws tessera::invalid_argument with a one-line message of the form
//   "<where>: <name> = <value>; expected <accepted range>"
// so a user learns from the message alone which call, which parameter and what to change.
// The checks are meant for host code, before any kernel launch.

#include <bit>
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "tessera/core/concepts.hpp"
#include "tessera/core/errors.hpp"

namespace tessera {
namespace detail {

/// The shortest text that reads back as `value` (numbers), or the value itself (strings).
template <class T>
std::string to_text(const T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    return value ? "true" : "false";
  } else if constexpr (std::is_arithmetic_v<T>) {
    char buffer[64];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
    return std::string(buffer, result.ptr);
  } else {
    return std::string(std::string_view(value));
  }
}

}  // namespace detail

/// Throws invalid_argument "<where>: <name> = <value>; expected <expected>" unless `ok`.
/// Complexity O(1) when `ok`; formats the message only on failure.
template <class T>
void require(bool ok, std::string_view where, std::string_view name, const T& value,
             std::string_view expected) {
  if (ok) return;
  std::string message(where);
  message.append(": ").append(name).append(" = ").append(detail::to_text(value));
  message.append("; expected ").append(expected);
  throw invalid_argument(message);
}

/// Requires lo <= value <= hi. Throws invalid_argument otherwise (NaN included).
template <class T>
  requires std::is_arithmetic_v<T>
void require_in_range(std::string_view where, std::string_view name, T value, T lo, T hi) {
  const bool inside = lo <= value && value <= hi;
  if (inside) return;
  std::string expected = detail::to_text(lo);
  expected.append(" <= ").append(name).append(" <= ").append(detail::to_text(hi));
  require(false, where, name, value, expected);
}

/// Requires a finite value (no NaN or infinity).
template <std::floating_point T>
void require_finite(std::string_view where, std::string_view name, T value) {
  require(std::isfinite(value), where, name, value, "a finite number");
}

/// Requires a finite value strictly greater than zero.
template <class T>
  requires std::is_arithmetic_v<T>
void require_positive(std::string_view where, std::string_view name, T value) {
  bool ok = value > T{0};
  if constexpr (std::is_floating_point_v<T>) ok = ok && std::isfinite(value);
  require(ok, where, name, value, "a finite number > 0");
}

/// Requires 0 < value < 1 (a miscoverage level, a quantile level, a probability).
template <std::floating_point T>
void require_open_unit_interval(std::string_view where, std::string_view name, T value) {
  require(value > T{0} && value < T{1}, where, name, value, "0 < value < 1");
}

/// Requires a non-empty sequence: size >= 1.
inline void require_nonempty(std::string_view where, std::string_view name, std::size_t size) {
  require(size >= 1, where, std::string(name) + ".size()", size, ">= 1");
}

/// Requires two sequences of the same length ("<name>.size() = 7; expected <other>.size() = 9").
inline void require_same_size(std::string_view where, std::string_view name, std::size_t size,
                              std::string_view other, std::size_t other_size) {
  require(size == other_size, where, std::string(name) + ".size()", size,
          std::string(other) + ".size() = " + detail::to_text(other_size));
}

namespace detail {

/// The bit pattern of |v| (the sign bit cleared), which orders as |v| does, NaNs above +inf. O(1).
template <float_or_double T>
constexpr bits_of<T> magnitude_bits(T v) {
  return std::bit_cast<bits_of<T>>(v) & (~bits_of<T>{0} >> 1);
}

/// The largest bit pattern of |v| over the values (float or double), which orders as |v| does,
/// NaNs above +inf: "all finite" is largest < the bits of +inf, "no NaN" is largest <= them.
/// Integer maxima on the bits vectorize where floating-point compares would keep a branch (GCC,
/// as they may trap) and ran at 0.62 ns per double. O(n).
template <float_or_double T>
bits_of<T> largest_magnitude_bits(std::span<const T> values) {
  bits_of<T> largest = 0;
  for (const T v : values) {
    const bits_of<T> b = magnitude_bits(v);
    largest = largest > b ? largest : b;
  }
  return largest;
}

/// The bits of +inf in T's own width.
template <float_or_double T>
constexpr bits_of<T> infinity_bits() {
  return std::bit_cast<bits_of<T>>(std::numeric_limits<T>::infinity());
}

/// Whether every value a loop passed through see() was finite, known without a pass of its own:
/// see keeps the largest |v| bit pattern (an integer max, which vectorizes with the loop that
/// uses the values). A failed watch is followed by require_all_finite, for the message.
template <float_or_double T>
class finite_watch {
 public:
  /// Records v and returns it. O(1).
  T see(T v) {
    const bits_of<T> b = magnitude_bits(v);
    largest_ = largest_ > b ? largest_ : b;
    return v;
  }

  /// Whether every value seen was finite (true when none was seen).
  bool all_finite() const { return largest_ < infinity_bits<T>(); }

 private:
  bits_of<T> largest_ = 0;
};

}  // namespace detail

/// Requires every element to be finite; names the first offending index. O(n).
template <std::floating_point T>
void require_all_finite(std::string_view where, std::string_view name, std::span<const T> values) {
  // A branch-free pass first; the offending index is looked for only on failure.
  bool all_finite = true;
  if constexpr (float_or_double<T>)
    all_finite = detail::largest_magnitude_bits(values) < detail::infinity_bits<T>();
  else
    for (const T v : values) all_finite &= v - v == T(0);  // inf - inf and NaN - NaN are NaN
  if (all_finite) return;
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i]))
      require(false, where, std::string(name) + "[" + detail::to_text(i) + "]", values[i], "a finite number");
}

/// Requires no element to be NaN (infinities allowed: an unbounded score is legitimate). O(n).
template <std::floating_point T>
void require_no_nan(std::string_view where, std::string_view name, std::span<const T> values) {
  bool no_nan = true;  // branch-free first, as in require_all_finite
  if constexpr (float_or_double<T>)
    no_nan = detail::largest_magnitude_bits(values) <= detail::infinity_bits<T>();
  else
    for (const T v : values) no_nan &= v == v;
  if (no_nan) return;
  for (std::size_t i = 0; i < values.size(); ++i)
    if (std::isnan(values[i]))
      require(false, where, std::string(name) + "[" + detail::to_text(i) + "]", values[i], "a number (not NaN)");
}

/// True when value is 2^k for some k >= 0.
template <std::unsigned_integral T>
constexpr bool is_power_of_two(T value) noexcept {
  return value != 0 && (value & (value - 1)) == 0;
}

/// Requires value = 2^k for some k >= 0.
template <std::integral T>
void require_power_of_two(std::string_view where, std::string_view name, T value) {
  const bool ok = value > 0 && is_power_of_two(static_cast<std::make_unsigned_t<T>>(value));
  require(ok, where, name, value, "a power of two");
}

}  // namespace tessera
