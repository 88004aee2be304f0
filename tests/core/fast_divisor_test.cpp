// detail::fast_divisor against the / and % operators: every divisor up to 4096 and divisors
// near powers of two up to 2^31 − 1, at numerators near 0, near multiples of d and near 2^31.

#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "tessera/core/detail/fast_divisor.hpp"

namespace {

using tessera::detail::fast_divisor;

constexpr std::uint32_t largest_numerator = (std::uint32_t{1} << 31) - 1;

// Numerators where a wrong multiplier or shift shows first: around 0, around the first multiples
// of d, and the top of the range with the multiples of d just below it.
std::vector<std::uint32_t> probe_numerators(std::uint32_t d) {
  std::vector<std::uint32_t> n;
  for (std::uint32_t i = 0; i < 64; ++i) n.push_back(i);
  for (std::uint64_t k = 1; k <= 4; ++k)
    for (std::int64_t delta = -2; delta <= 2; ++delta) {
      const std::int64_t value = static_cast<std::int64_t>(k * d) + delta;
      if (value >= 0 && value <= largest_numerator) n.push_back(static_cast<std::uint32_t>(value));
    }
  const std::uint32_t top_multiple = largest_numerator / d * d;
  for (std::uint32_t delta = 0; delta < 3 && delta <= top_multiple; ++delta) n.push_back(top_multiple - delta);
  for (std::uint32_t delta = 0; delta < 64; ++delta) n.push_back(largest_numerator - delta);
  return n;
}

bool divides_like_the_operators(std::uint32_t d) {
  const fast_divisor by(d);
  for (const std::uint32_t n : probe_numerators(d)) {
    const std::uint32_t q = by.quotient(n);
    if (q != n / d || by.remainder(n, q) != n % d) {
      UNSCOPED_INFO("d = " << d << ", n = " << n << ": " << q << " (expected " << n / d << ")");
      return false;
    }
  }
  return true;
}

}  // namespace

TEST_CASE("fast_divisor: every divisor up to 4096", "[core][fast_divisor]") {
  for (std::uint32_t d = 1; d <= 4096; ++d) REQUIRE(divides_like_the_operators(d));
}

TEST_CASE("fast_divisor: divisors around powers of two up to 2^31 - 1", "[core][fast_divisor]") {
  for (int bits = 12; bits <= 31; ++bits)
    for (std::int64_t delta = -3; delta <= 3; ++delta) {
      const std::int64_t d = (std::int64_t{1} << bits) + delta;
      if (d <= largest_numerator) REQUIRE(divides_like_the_operators(static_cast<std::uint32_t>(d)));
    }
  REQUIRE(divides_like_the_operators(3'000'017));  // a prime
}

TEST_CASE("fast_divisor: every numerator below 2^20 for small divisors", "[core][fast_divisor]") {
  for (const std::uint32_t d : {1u, 3u, 7u, 16u, 17u, 33u, 1000u}) {
    const fast_divisor by(d);
    bool exact = true;
    for (std::uint32_t n = 0; n < (1u << 20) && exact; ++n) exact = by.quotient(n) == n / d;
    CHECK(exact);
  }
}

TEST_CASE("fast_divisor: wide quotients on both sides of 2^31", "[core][fast_divisor]") {
  for (const std::uint32_t d : {1u, 3u, 7u, 1000u, 65537u, 2147483647u}) {
    const fast_divisor by(d);
    for (const std::uint64_t n : {std::uint64_t{0}, std::uint64_t{d} - 1, fast_divisor::fast_limit - 1,
                                  fast_divisor::fast_limit, fast_divisor::fast_limit + d, std::uint64_t{1} << 40,
                                  ~std::uint64_t{0}})
      CHECK(by.wide_quotient(n) == n / d);
  }
}

TEST_CASE("fast_divisor: usable in constant expressions", "[core][fast_divisor]") {
  constexpr fast_divisor by_seven(7);
  STATIC_REQUIRE(by_seven.quotient(50) == 7);
  STATIC_REQUIRE(by_seven.remainder(50, 7) == 1);
  STATIC_REQUIRE(fast_divisor(1).quotient(largest_numerator) == largest_numerator);
  STATIC_REQUIRE(fast_divisor().quotient(largest_numerator) == largest_numerator);
}
