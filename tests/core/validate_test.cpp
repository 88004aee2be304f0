#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <tessera/core/validate.hpp>
#include "support/test_support.hpp"

using tessera::test::message_of;

using tessera::invalid_argument;

namespace {

}  // namespace

TEST_CASE("messages name the function, the parameter, the value and the accepted range") {
  CHECK(message_of([] { tessera::require_in_range("tessera::sobol", "dim", 30000, 1, 21201); }) ==
        "tessera::sobol: dim = 30000; expected 1 <= dim <= 21201");
  CHECK(message_of([] { tessera::require_positive("tessera::cubature", "abs_tol", -0.5); }) ==
        "tessera::cubature: abs_tol = -0.5; expected a finite number > 0");
  CHECK(message_of([] { tessera::require_open_unit_interval("tessera::split", "alpha", 1.0); }) ==
        "tessera::split: alpha = 1; expected 0 < value < 1");
  CHECK(message_of([] { tessera::require_power_of_two("tessera::fwht", "n", 12); }) ==
        "tessera::fwht: n = 12; expected a power of two");
}

TEST_CASE("exceptions derive from the standard ones") {
  CHECK_THROWS_AS(tessera::require_finite("f", "x", std::nan("")), std::invalid_argument);
  CHECK_THROWS_AS(tessera::require_in_range("f", "x", 3, 0, 2), std::logic_error);
}

TEST_CASE("valid values pass, boundaries included") {
  CHECK_NOTHROW(tessera::require_in_range("f", "d", 1, 1, 21201));
  CHECK_NOTHROW(tessera::require_in_range("f", "d", 21201, 1, 21201));
  CHECK_NOTHROW(tessera::require_positive("f", "t", 1e-300));
  CHECK_NOTHROW(tessera::require_power_of_two("f", "n", 1));
  CHECK_NOTHROW(tessera::require_power_of_two("f", "n", std::uint64_t{1} << 63));
}

TEST_CASE("NaN, infinity and zero are rejected where they are outside the domain") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(tessera::require_in_range("f", "x", nan, 0.0, 1.0), invalid_argument);
  CHECK_THROWS_AS(tessera::require_positive("f", "x", inf), invalid_argument);
  CHECK_THROWS_AS(tessera::require_positive("f", "x", 0.0), invalid_argument);
  CHECK_THROWS_AS(tessera::require_finite("f", "x", -inf), invalid_argument);
  CHECK_THROWS_AS(tessera::require_open_unit_interval("f", "a", nan), invalid_argument);
  CHECK_THROWS_AS(tessera::require_power_of_two("f", "n", 0), invalid_argument);
  CHECK_THROWS_AS(tessera::require_power_of_two("f", "n", -4), invalid_argument);
}
