#pragma once
// Internals of the host's ranked-set search (detail/set_end_search.hpp): where the sets of the
// previous rows of a batch ended, and the first pivots that suggests for the next row.
//
// The search halves an interval of probabilities that holds the end of a row's set: about seven
// passes over a softmax row of 1000 labels. Rows alike end alike: softmax(2z) rows of 1000 labels
// at one threshold end at probabilities whose logarithm varies by about 0.06 from row to row, so
// a search that first tries a bracket around where the previous rows ended is left with a few
// tens of candidates after two passes. Rows that are not alike (a classifier sure of some inputs
// and unsure of others) end far apart, and a bracket would waste its two passes: the hint then
// stands aside. It keeps a running mean of the ends and of their distance from that mean, on the
// probabilities' bit patterns (they order as the values do, and each binade spans the same
// number of patterns, so a pattern is about an affine function of log2 of the value), and offers
// a bracket of twice that distance when it is narrow against the row's range.
//
// Pivots change how many passes a row takes, never its set: any pivot in (low, high] keeps the
// search's invariants.

#include <algorithm>
#include <bit>
#include <limits>

#include "tessera/core/concepts.hpp"

namespace tessera::conformal::detail {

/// The first pivots a row's search may try: `center`, then `below` when the end lay below it or
/// `above` when not. usable = false: halve from the start.
template <float_or_double T>
struct end_bracket {
  bool usable;
  T center;
  T below;
  T above;
};

/// Where the sets of the previous rows ended. One per thread of rows; the search reads it, and
/// its caller records each row's end.
template <float_or_double T>
class set_end_hint {
 public:
  /// Takes in the end of a row's set (a probability > 0; others, such as a set of the whole row,
  /// are ignored). Both means move a quarter of the way to the new values: the last few rows
  /// count, one unusual row does not lead the next astray. O(1).
  void record(T end_probability) {
    if (!(end_probability > T(0))) return;
    const auto end = std::bit_cast<bits>(end_probability);
    if (mean_ == 0) {
      mean_ = end;
      return;
    }
    const bits distance = end > mean_ ? end - mean_ : mean_ - end;
    spread_ = distance > spread_ ? spread_ + (distance - spread_) / 4 : spread_ - (spread_ - distance) / 4;
    mean_ = end > mean_ ? mean_ + (end - mean_) / 4 : mean_ - (mean_ - end) / 4;
  }

  /// The bracket for a row whose probabilities span [lowest, highest]: the mean end -+ twice the
  /// spread (at least a 64th of a binade), usable when the mean lies in (lowest, highest] and the
  /// reach is at most a 16th of the row's span (two passes then do better than halving). O(1).
  end_bracket<T> bracket(T lowest, T highest) const {
    const bits low = std::bit_cast<bits>(lowest), high = std::bit_cast<bits>(highest);
    const bits reach = std::max<bits>(2 * spread_, least_reach);
    const bool usable = mean_ > low && mean_ <= high && reach <= (high - low) / 16;
    if (!usable) return {false, T(0), T(0), T(0)};
    return {true, std::bit_cast<T>(mean_), std::bit_cast<T>(mean_ > reach ? mean_ - reach : bits{0}),
            std::bit_cast<T>(mean_ + reach)};
  }

 private:
  using bits = tessera::bits_of<T>;
  static constexpr int fraction_bits = std::numeric_limits<T>::digits - 1;
  static constexpr bits least_reach = bits{1} << (fraction_bits - 6);  // a 64th of a binade
  bits mean_ = 0;                                                      // 0: no row yet
  bits spread_ = bits{1} << (fraction_bits - 3);  // an eighth of a binade until rows tell
};

}  // namespace tessera::conformal::detail
