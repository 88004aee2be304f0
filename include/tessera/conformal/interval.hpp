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

  /// Whether y lies in [lower, upper].
  constexpr bool contains(T y) const noexcept { return lower <= y && y <= upper; }

  /// upper - lower (+inf for an unbounded interval).
  constexpr T width() const noexcept { return upper - lower; }

  friend constexpr bool operator==(const interval&, const interval&) = default;
};

}  // namespace tessera::conformal
