#pragma once
// A prediction interval [lower, upper]: what every regression method returns, one per test point.

#include "tessera/core/concepts.hpp"

namespace tessera::conformal {

/// The closed interval [lower, upper]; either end may be infinite (an unbounded interval is the
/// honest answer when the calibration set is too small for the level asked).
template <float_or_double T>
struct interval {
  T lower;
  T upper;

  /// Leaves both ends indeterminate, as `double x;` does (so `interval<T>{}` is not [0, 0]): a
  /// std::vector of n intervals is then allocated without a pass that writes them, and its
  /// elements can be written by several threads (split regression through predict, 10^7 + 10^7
  /// rows on the 16 threads of a Xeon: 45-55 ms with the vector written by one thread, 7.6 ms).
  /// Assign an interval before reading it.
  interval() noexcept {}  // user-provided on purpose: value-initialization then writes nothing

  /// [low, high].
  constexpr interval(T low, T high) noexcept : lower(low), upper(high) {}

  /// Whether y lies in [lower, upper].
  constexpr bool contains(T y) const noexcept { return lower <= y && y <= upper; }

  /// upper - lower (+inf for an unbounded interval).
  constexpr T width() const noexcept { return upper - lower; }

  friend constexpr bool operator==(const interval&, const interval&) = default;
};

}  // namespace tessera::conformal
