#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>
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

TEMPLATE_TEST_CASE("span checks find every non-finite or NaN entry, whatever its sign and place", "", float,
                   double) {
  using T = TestType;
  using limits = std::numeric_limits<T>;
  const T negative_nan = -limits::quiet_NaN();
  const std::vector<T> fine{T(0), -T(0), limits::max(), -limits::max(), limits::denorm_min(), limits::min(),
                            T(-1.5), T(1e30)};
  CHECK_NOTHROW(tessera::require_all_finite<T>("f", "v", fine));
  CHECK_NOTHROW(tessera::require_no_nan<T>("f", "v", fine));
  for (const T bad : {limits::infinity(), -limits::infinity(), limits::quiet_NaN(), negative_nan,
                      limits::signaling_NaN()}) {
    for (const std::size_t at : {std::size_t{0}, std::size_t{5}, std::size_t{1000}}) {
      std::vector<T> values(1001, T(0.25));
      values[at] = bad;
      CAPTURE(bad, at);
      const std::string index = "v[" + std::to_string(at) + "] = ";
      const std::string finite = message_of([&] { tessera::require_all_finite<T>("f", "v", values); });
      CHECK(finite.rfind("f: " + index, 0) == 0);
      CHECK(finite.find("expected a finite number") != std::string::npos);
      const std::string no_nan = message_of([&] { tessera::require_no_nan<T>("f", "v", values); });
      if (std::isnan(bad))
        CHECK(no_nan.rfind("f: " + index, 0) == 0);
      else
        CHECK(no_nan == "(no exception)");  // infinities are numbers
    }
  }
}
