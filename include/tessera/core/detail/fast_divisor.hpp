#pragma once
// Division by a divisor fixed for many numerators, without a division instruction: a GPU has
// none for integers (nvcc emits a ~20-instruction sequence for each / or %), and kernels that
// index a row-major r-wide tile by a flat draw index would pay it for every draw.
//
// The round-up method of Granlund & Montgomery, "Division by invariant integers using
// multiplication" (PLDI 1994), Theorem 4.2 with N = 32: for 1 <= d < 2^31, l = ceil(log2 d) and
// m = floor(2^32 (2^l − d) / d) + 1 (< 2^32), floor(n / d) = (mulhi(m, n) + n) >> l for every
// n < 2^32. The sum mulhi(m, n) + n would need 33 bits for n >= 2^31, so numerators are kept
// below 2^31 (the sum then fits 32 bits).

#include <cstdint>

#include "tessera/core/config.hpp"

namespace tessera::detail {

/// n / d and n % d for numerators n < 2^31 and a divisor 1 <= d < 2^31 set once.
class fast_divisor {
 public:
  /// Division by 1.
  constexpr fast_divisor() = default;

  /// Precomputes the multiplier and shift for d. O(log d). d must lie in [1, 2^31): the caller
  /// checks (a zero d is treated as 1).
  TESSERA_HOST_DEVICE constexpr explicit fast_divisor(std::uint32_t d) : divisor_(d == 0 ? 1 : d) {
    while ((std::uint64_t{1} << shift_) < divisor_) ++shift_;
    const std::uint64_t excess = (std::uint64_t{1} << shift_) - divisor_;  // 2^l − d < d
    multiplier_ = static_cast<std::uint32_t>((excess << 32) / divisor_ + 1);
  }

  TESSERA_HOST_DEVICE constexpr std::uint32_t divisor() const { return divisor_; }

  /// floor(n / d) for n < 2^31. O(1): a multiply-high, an add and a shift.
  TESSERA_HOST_DEVICE constexpr std::uint32_t quotient(std::uint32_t n) const {
    const auto high = static_cast<std::uint32_t>((std::uint64_t{n} * multiplier_) >> 32);
    return (high + n) >> shift_;
  }

  /// n mod d for n < 2^31, given q = quotient(n).
  TESSERA_HOST_DEVICE constexpr std::uint32_t remainder(std::uint32_t n, std::uint32_t q) const {
    return n - q * divisor_;
  }

  /// floor(n / d) for any 64-bit n: quotient() below 2^31, a 64-bit division above (work-item
  /// indices, which are small in practice but not bounded).
  TESSERA_HOST_DEVICE constexpr std::uint64_t wide_quotient(std::uint64_t n) const {
    return n < fast_limit ? quotient(static_cast<std::uint32_t>(n)) : n / divisor_;
  }

  /// Numerators below this take the multiply-high path.
  static constexpr std::uint64_t fast_limit = std::uint64_t{1} << 31;

 private:
  std::uint32_t divisor_ = 1;
  std::uint32_t multiplier_ = 1;
  std::uint32_t shift_ = 0;
};

}  // namespace tessera::detail
