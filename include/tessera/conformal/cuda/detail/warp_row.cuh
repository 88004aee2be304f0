#pragma once
// Internals of the conformal CUDA backend: one row of a matrix visited by the 32 lanes of a warp.
// Lane l holds labels l, l + 32, l + 64, ..., so each visit step reads 32 consecutive labels
// (coalesced). A short row is loaded into registers once; a long one is read from memory at every
// visit (the caches keep it between visits). Both hand out p + 0 for an entry p, which turns -0
// into +0 (and leaves every other value as it is), so that bit patterns of equal probabilities are
// equal; doing it once at the load spares it in every later pass.

#include <bit>
#include <cstdint>
#include <type_traits>

#include "tessera/core/concepts.hpp"

namespace tessera::conformal::detail {

/// The unsigned integer as wide as T.
template <float_or_double T>
using probability_bits = tessera::bits_of<T>;

/// Bits below the leading 32: none for float, the low word for double.
template <float_or_double T>
inline constexpr int trailing_bit_count = 8 * static_cast<int>(sizeof(T)) - 32;

/// The leading 32 bits of the pattern of p + 0: all of a float's, the high word of a double's.
/// For entries >= 0 they order as the values do (for double not strictly: the high word holds the
/// exponent and the leading 20 bits of the fraction); a negative entry or a NaN has larger leading
/// bits than +infinity. Comparing them costs one 32-bit instruction where a double's whole
/// pattern costs two.
template <float_or_double T>
__device__ std::uint32_t leading_bits(T p) {
  return static_cast<std::uint32_t>(std::bit_cast<probability_bits<T>>(p) >> trailing_bit_count<T>);
}

/// The largest and smallest leading bits among the entries p + 0 that one lane holds.
struct bit_range {
  std::uint32_t highest = 0;
  std::uint32_t lowest = ~std::uint32_t{0};

  template <float_or_double T>
  __device__ void add(T p) {
    const std::uint32_t bits = leading_bits(p);
    highest = max(bits, highest);
    lowest = min(bits, lowest);
  }
};

/// A row held in registers: V values per lane, for rows of K <= 32 V labels. The first
/// `AlwaysValid` slots of every lane hold labels (the caller launches it only for K >=
/// 32 AlwaysValid), so their validity is known when the code is compiled: the compare that
/// decides it is spent only on the remaining slots in every pass (for K = 1000 and V = 32, one
/// slot of 32 instead of all), though not when the load zeroes the padding.
template <float_or_double T, int V, int AlwaysValid = 0>
class register_row {
  static_assert(0 <= AlwaysValid && AlwaysValid <= V);

 public:
  /// The 32-bit registers the values take.
  static constexpr int registers = V * static_cast<int>(sizeof(T) / 4);

  /// The slots of each lane: for_each makes V calls.
  static constexpr int slots_per_lane = V;

  /// Loads labels lane, lane + 32, ... of the K = `classes` values at `row` (zero past K). Every
  /// slot loads (past the row's end, its last entry again) straight into its own register and
  /// the padding is zeroed afterwards, in place: a load predicated on j < K would need a
  /// register to fall back on, and the compiler then issues the V loads one after another.
  __device__ register_row(const T* row, std::int32_t classes, unsigned lane)
      : lane_(static_cast<std::int32_t>(lane)), valid_slots_(min(V, (max(classes - lane_, 0) + 31) / 32)) {
    // Byte offsets from this lane's first label, a min and a multiply-add per slot: on the
    // pointer itself, i K + lane + offset is re-associated into four 64-bit instructions per slot;
    // __ldg keeps the load global (not generic) after the round trip through an integer. Lanes
    // past a row shorter than 32 start at its last entry.
    const std::int32_t start = min(lane_, classes - 1);
    const auto first = reinterpret_cast<std::uintptr_t>(row + start);
    const auto room = static_cast<std::uint32_t>(classes - 1 - start);
#pragma unroll
    for (int v = 0; v < V; ++v)
      values_[v] = __ldg(reinterpret_cast<const T*>(first + sizeof(T) * min(32u * v, room)));
    // The range is taken before the padding is zeroed: the padding then repeats the row's last
    // entry, which changes neither end, and no slot needs a validity test.
#pragma unroll
    for (int v = 0; v < V; ++v) {
      values_[v] += T(0);
      bits_.add(values_[v]);
    }
    // Every slot compared, even those known to hold labels: told so here as well, ptxas spilled
    // 436 bytes in the float kernel for K = 1000 (24 bytes as it is).
#pragma unroll
    for (int v = 0; v < V; ++v) values_[v] = v < valid_slots_ ? values_[v] : T(0);
  }

  /// The leading-bit range of this lane's entries (none when the lane holds no label: a row
  /// shorter than 32 repeats its last entry there, which is harmless).
  __device__ bit_range bits() const { return bits_; }

  /// visit(p, label, valid) for this lane's slots in increasing label order; every lane makes
  /// the same number of calls (valid = false past the row's end), so visit may use warp
  /// collectives. V calls.
  template <class Visit>
  __device__ void for_each(Visit&& visit) const {
#pragma unroll
    for (int v = 0; v < V; ++v) visit(values_[v], lane_ + 32 * v, holds_label(v));
  }

 private:
  /// Whether slot v (a constant once unrolled) holds a label of the row.
  __device__ bool holds_label(int v) const { return v < AlwaysValid || v < valid_slots_; }

  T values_[V];
  bit_range bits_;
  std::int32_t lane_;
  /// The slots that hold labels of the row: validity is a compare with a constant, without
  /// forming the label, in every pass.
  std::int32_t valid_slots_;
};

/// A row too long for registers, read from memory at every visit; same visiting order and
/// contract as register_row. ceil(K / 32) calls per visit.
template <float_or_double T>
class memory_row {
 public:
  static constexpr int registers = 0;

  /// Not fixed when the code is compiled: ceil(K / 32).
  static constexpr int slots_per_lane = 0;

  __device__ memory_row(const T* row, std::int32_t classes, unsigned lane)
      : row_(row), classes_(classes), lane_(static_cast<std::int32_t>(lane)) {}

  /// The leading-bit range of this lane's entries: one pass over them.
  __device__ bit_range bits() const {
    bit_range range;
    for_each([&](T p, std::int32_t, bool valid) {
      if (valid) range.add(p);
    });
    return range;
  }

  template <class Visit>
  __device__ void for_each(Visit&& visit) const {
    const std::int32_t slots = (classes_ + 31) / 32;
    for (std::int32_t v = 0; v < slots; ++v) {
      const std::int32_t j = lane_ + 32 * v;
      const bool valid = j < classes_;
      visit(valid ? row_[j] + T(0) : T(0), j, valid);
    }
  }

 private:
  const T* row_;
  std::int32_t classes_;
  std::int32_t lane_;
};

}  // namespace tessera::conformal::detail
