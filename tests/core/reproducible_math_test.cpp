// The reproducible log and sin/cos against long double references: they must be accurate (the
// normals built on them are exact in distribution only if they are), and their special points
// exact.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <tessera/core/detail/reproducible_math.hpp>

using tessera::detail::reproducible_log;
using tessera::detail::reproducible_sincos_turns;

namespace {

// Error of `value` against `reference` in units of value's type's epsilon times |reference|
// (relative ulps), with a floor at the smallest normal to keep it finite near zero.
template <class T>
double relative_ulps(T value, long double reference) {
  const long double scale = std::max<long double>(std::fabs(reference), std::numeric_limits<T>::min());
  return static_cast<double>(std::fabs(static_cast<long double>(value) - reference) / scale /
                             std::numeric_limits<T>::epsilon());
}

// A simple deterministic sequence covering the domain (SplitMix64).
std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

TEST_CASE("reproducible_log is within 2 ulp over (2^-60, 2^10)") {
  std::uint64_t state = 1;
  double worst_double = 0, worst_float = 0;
  for (int i = 0; i < 200000; ++i) {
    const double exponent = -60.0 + 70.0 * static_cast<double>(splitmix(state) >> 11) * 0x1p-53;
    const double x = std::exp2(exponent);
    worst_double = std::max(worst_double, relative_ulps(reproducible_log(x), std::log(static_cast<long double>(x))));
    const float xf = static_cast<float>(x);
    worst_float = std::max(worst_float, relative_ulps(reproducible_log(xf), std::log(static_cast<long double>(xf))));
  }
  CHECK(worst_double <= 2.0);
  CHECK(worst_float <= 2.0);
  CHECK(reproducible_log(1.0) == 0.0);
  CHECK(reproducible_log(1.0f) == 0.0f);
  CHECK(reproducible_log(0.5) == -0.69314718055994530942);
}

TEST_CASE("reproducible_sincos_turns is within 2 epsilon absolute, and exact at quarter turns") {
  std::uint64_t state = 7;
  long double worst_double = 0, worst_float = 0;
  constexpr long double two_pi = 6.283185307179586476925286766559L;
  for (int i = 0; i < 200000; ++i) {
    const std::uint64_t jd = splitmix(state) >> 11;  // 53 bits
    double sd, cd;
    reproducible_sincos_turns<double, 53>(jd, sd, cd);
    const long double td = two_pi * static_cast<long double>(jd) / 0x1p53L;
    worst_double = std::max({worst_double, std::fabs(sd - std::sin(td)), std::fabs(cd - std::cos(td))});
    const std::uint64_t jf = splitmix(state) >> 40;  // 24 bits
    float sf, cf;
    reproducible_sincos_turns<float, 24>(jf, sf, cf);
    const long double tf = two_pi * static_cast<long double>(jf) / 0x1p24L;
    worst_float = std::max({worst_float, std::fabs(sf - std::sin(tf)), std::fabs(cf - std::cos(tf))});
  }
  CHECK(worst_double <= 2 * std::numeric_limits<double>::epsilon());
  CHECK(worst_float <= 2 * std::numeric_limits<float>::epsilon());
}

TEST_CASE("reproducible_sincos_turns keeps relative accuracy for small angles") {
  constexpr long double two_pi = 6.283185307179586476925286766559L;
  double worst = 0;
  for (std::uint64_t j = 1; j < (std::uint64_t{1} << 40); j = j * 3 + 1) {
    double s, c;
    reproducible_sincos_turns<double, 53>(j, s, c);
    worst = std::max(worst, relative_ulps(s, std::sin(two_pi * static_cast<long double>(j) / 0x1p53L)));
  }
  CHECK(worst <= 2.0);
}

TEST_CASE("quarter turns are exact") {
  double s, c;
  reproducible_sincos_turns<double, 53>(0, s, c);
  CHECK((s == 0.0 && c == 1.0));
  reproducible_sincos_turns<double, 53>(std::uint64_t{1} << 51, s, c);
  CHECK((s == 1.0 && c == 0.0));
  reproducible_sincos_turns<double, 53>(std::uint64_t{1} << 52, s, c);
  CHECK((s == 0.0 && c == -1.0));
  reproducible_sincos_turns<double, 53>(3 * (std::uint64_t{1} << 51), s, c);
  CHECK((s == -1.0 && c == 0.0));
  float sf, cf;
  reproducible_sincos_turns<float, 24>(std::uint64_t{1} << 22, sf, cf);
  CHECK((sf == 1.0f && cf == 0.0f));
}
