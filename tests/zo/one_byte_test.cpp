// The one-byte quantizer: its levels, the paper code's log rounding, round-trip error bounds,
// clipping, unbiased stochastic rounding, and the errors.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <tessera/core/random.hpp>
#include <tessera/zo/one_byte.hpp>
#include <vector>

#include "support/test_support.hpp"

namespace zo = tessera::zo;
using tessera::test::message_of;

namespace {

/// g = ±e^x for x on a fine grid over [lo, hi].
std::vector<double> log_grid(double lo, double hi, int points) {
  std::vector<double> g;
  for (int i = 0; i <= points; ++i) {
    const double value = std::exp(lo + (hi - lo) * i / points);
    g.push_back(value);
    g.push_back(-value);
  }
  return g;
}

/// e^(1/32) − 1: the largest relative error of nearest rounding in the log domain.
const double half_step = std::expm1(1.0 / 32);

}  // namespace

TEMPLATE_TEST_CASE("levels are ±c e^((k − 64) / 16) and 0, symmetric, to the last few bits", "", float, double) {
  for (const TestType scale : {TestType(1), TestType(0.37), TestType(250)}) {
    const zo::one_byte_options<TestType> options{scale, zo::byte_rounding::nearest};
    CHECK(zo::one_byte_decode(std::int8_t{0}, options) == 0);
    CHECK(zo::one_byte_decode(std::int8_t{64}, options) == scale);
    for (int k = 1; k <= 127; ++k) {
      const long double exact = static_cast<long double>(scale) * std::exp((k - 64) / 16.0L);
      const TestType level = zo::one_byte_decode(static_cast<std::int8_t>(k), options);
      INFO("scale " << scale << ", code " << k);
      CHECK(std::abs(static_cast<long double>(level) - exact) <=
            4 * std::numeric_limits<TestType>::epsilon() * exact);
      CHECK(zo::one_byte_decode(static_cast<std::int8_t>(-k), options) == -level);
    }
    CHECK(zo::one_byte_max(options) == zo::one_byte_decode(std::int8_t{127}, options));
    CHECK(zo::one_byte_min(options) == zo::one_byte_decode(std::int8_t{1}, options));
  }
}

TEST_CASE("nearest rounding is the paper code's: code 64 + round(16 ln|g|) with the sign") {
  // justonebyte's app.py: power = round(16 ln|g|), restored = sign(g) e^(power / 16). With
  // c = 1 our code magnitude is power + 64 wherever the power fits in [-63, 63].
  const zo::one_byte_options<double> options;
  int compared = 0;
  for (const double g : log_grid(-63.4 / 16, 63.4 / 16, 20'000)) {
    const double power = 16 * std::log(std::abs(g));
    if (std::abs(power - std::floor(power) - 0.5) < 1e-9) continue;  // a tie: either side is nearest
    const int expected = (g < 0 ? -1 : 1) * (64 + static_cast<int>(std::lround(power)));
    CHECK(zo::one_byte_encode(g, options) == expected);
    ++compared;
  }
  CHECK(compared > 40'000);
}

TEMPLATE_TEST_CASE("nearest round trip: relative error <= e^(1/32) − 1 in range, <= L_1 / 2 below", "", float, double) {
  const zo::one_byte_options<TestType> options{TestType(0.8), zo::byte_rounding::nearest};
  const double smallest = zo::one_byte_min(options);
  const double largest = zo::one_byte_max(options);
  const double slack = 8 * std::numeric_limits<TestType>::epsilon();
  double worst_relative = 0;
  for (const double x : log_grid(std::log(smallest), std::log(largest), 20'000)) {
    const auto g = static_cast<TestType>(x);
    const double restored = zo::one_byte_decode(zo::one_byte_encode(g, options), options);
    worst_relative = std::max(worst_relative, std::abs(restored - g) / std::abs(g));
    CHECK(std::signbit(restored) == std::signbit(g));
  }
  INFO("worst relative error " << worst_relative << ", bound " << half_step);
  CHECK(worst_relative <= half_step + slack);
  CHECK(worst_relative >= 0.99 * half_step);  // the bound is attained: it is the right one
  for (const double x : log_grid(std::log(smallest) - 6, std::log(smallest), 2'000)) {
    const auto g = static_cast<TestType>(x);
    const double restored = zo::one_byte_decode(zo::one_byte_encode(g, options), options);
    CHECK(std::abs(restored - g) <= smallest / 2 * (1 + slack));
  }
}

TEMPLATE_TEST_CASE("zero, clipping, monotonicity and levels that round to themselves", "", float, double) {
  for (const auto rounding : {zo::byte_rounding::nearest, zo::byte_rounding::stochastic}) {
    const zo::one_byte_options<TestType> options{TestType(2), rounding};
    CHECK(zo::one_byte_encode(TestType(0), options, TestType(0.99)) == 0);
    CHECK(zo::one_byte_encode(TestType(1e6), options, TestType(0.5)) == 127);
    CHECK(zo::one_byte_encode(TestType(-1e6), options, TestType(0.5)) == -127);
    CHECK(zo::one_byte_decode(std::int8_t{-127}, options) == -zo::one_byte_max(options));
    for (int q = -127; q <= 127; ++q) {
      const TestType level = zo::one_byte_decode(static_cast<std::int8_t>(q), options);
      CHECK(zo::one_byte_encode(level, options, TestType(0.999)) == q);
    }
  }
  const zo::one_byte_options<TestType> nearest{TestType(2), zo::byte_rounding::nearest};
  int previous = -127, decreases = 0;
  for (int i = -40'000; i <= 40'000; ++i) {
    const int code = zo::one_byte_encode(TestType(i) / TestType(300), nearest);
    decreases += code < previous;
    previous = code;
  }
  CHECK(decreases == 0);
}

TEST_CASE("stochastic rounding is unbiased within 4 standard errors and picks a neighbouring level") {
  // 40 000 fixed draws per value; E[decode] = g holds exactly in range (below L_1 too).
  const zo::one_byte_options<double> options{1.5, zo::byte_rounding::stochastic};
  const tessera::random_stream draws(2023, 7);
  constexpr int trials = 40'000;
  for (const double g : {0.3 * zo::one_byte_min(options), 0.7, 1.37, -5.5, 40.0, -70.0}) {
    const int nearest_code = zo::one_byte_encode(g, {1.5, zo::byte_rounding::nearest});
    std::vector<double> restored(trials);
    int far = 0;
    for (int i = 0; i < trials; ++i) {
      const std::int8_t code = zo::one_byte_encode(g, options, tessera::uniform<double>(draws, std::uint64_t(i)));
      restored[std::size_t(i)] = zo::one_byte_decode(code, options);
      far += std::abs(code - nearest_code) > 1;
    }
    const auto estimate = tessera::test::mean_and_standard_error(restored);
    INFO("g " << g << ": mean " << estimate.mean << " ± " << estimate.standard_error);
    CHECK(std::abs(estimate.mean - g) <= 4 * estimate.standard_error);
    CHECK(estimate.standard_error > 0);
    CHECK(far == 0);
  }
}

TEST_CASE("one-byte errors name the parameter") {
  const zo::one_byte_options<double> options;
  CHECK(message_of([&] { zo::one_byte_encode(std::nan(""), options); }) ==
        "tessera::zo::one_byte_encode: g = nan; expected a finite number");
  CHECK(message_of([&] { zo::one_byte_encode(1.0, {0.0, zo::byte_rounding::nearest}); }) ==
        "tessera::zo::one_byte_encode: scale = 0; expected a finite number > 0");
  CHECK(message_of([&] { zo::one_byte_encode(1.0, options, 1.0); }) ==
        "tessera::zo::one_byte_encode: uniform = 1; expected 0 <= uniform < 1");
  CHECK(message_of([&] { zo::one_byte_encode(1.0, {1.0, zo::byte_rounding::stochastic}); }) ==
        "tessera::zo::one_byte_encode: rounding = stochastic; expected nearest, or a uniform draw passed for "
        "stochastic rounding");
  CHECK(message_of([&] { zo::one_byte_decode(std::int8_t{-128}, options); }) ==
        "tessera::zo::one_byte_decode: code = -128; expected -127 <= code <= 127");
  CHECK(message_of([&] { zo::one_byte_decode(std::int8_t{3}, zo::one_byte_options<float>{1e37f}); }) ==
        "tessera::zo::one_byte_decode: scale = 1e+37; expected a scale whose levels scale * e^(+-63/16) "
        "are normal numbers");
}
