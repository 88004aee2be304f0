// Fitness shaping: centered ranks (Salimans et al. 2017), z-scores, raw, and the non-finite rules.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "support/test_support.hpp"
#include "tessera/es/fitness_shaping.hpp"

namespace es = tessera::es;

namespace {
std::vector<double> shaped(const std::vector<double>& f, es::fitness_shaping s,
                           es::nonfinite_fitness rule = es::nonfinite_fitness::reject) {
  std::vector<double> w(f.size());
  es::shape_fitness<double>(f, w, s, rule);
  return w;
}
}  // namespace

TEST_CASE("centered ranks are rank / (N - 1) - 1/2 with ties sharing their mean rank") {
  // ranks of {3, -1, 7, 0, 5}: 2, 0, 4, 1, 3 -> /4 - 1/2
  CHECK(shaped({3, -1, 7, 0, 5}, es::fitness_shaping::centered_ranks) ==
        std::vector<double>{0.0, -0.5, 0.5, -0.25, 0.25});
  // {1, 2, 2, 3}: the tied pair holds ranks 1 and 2, mean 1.5 -> 1.5/3 - 1/2 = 0
  CHECK(shaped({1, 2, 2, 3}, es::fitness_shaping::centered_ranks) == std::vector<double>{-0.5, 0.0, 0.0, 0.5});
  CHECK(shaped({4, 4, 4}, es::fitness_shaping::centered_ranks) == std::vector<double>{0, 0, 0});
  CHECK(shaped({42}, es::fitness_shaping::centered_ranks) == std::vector<double>{0});
}

TEST_CASE("z-scores have mean 0 and population deviation 1; raw passes values through") {
  const auto z = shaped({1, 2, 3, 4}, es::fitness_shaping::z_scores);
  const double sd = std::sqrt(1.25);  // population variance of {1, 2, 3, 4}
  REQUIRE(z.size() == 4);
  for (int i = 0; i < 4; ++i) CHECK(z[i] == Approx((i + 1 - 2.5) / sd).epsilon(1e-15));
  CHECK(shaped({5, 5}, es::fitness_shaping::z_scores) == std::vector<double>{0, 0});
  CHECK(shaped({1.5, -2}, es::fitness_shaping::raw) == std::vector<double>{1.5, -2});
}

TEST_CASE("non-finite fitness is an error naming the member, or the worst under the option") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  try {
    shaped({1, nan, 3}, es::fitness_shaping::centered_ranks);
    FAIL("no exception");
  } catch (const tessera::domain_error& e) {
    CHECK(std::string(e.what()).find("fitness[1] = nan") != std::string::npos);
  }
  // worst: NaN and +inf both rank below every finite value (sharing ranks 0 and 1)
  const auto worst = shaped({2, nan, 1, inf}, es::fitness_shaping::centered_ranks, es::nonfinite_fitness::worst);
  const std::vector<double> expected{0.5, -1.0 / 3, 1.0 / 6, -1.0 / 3};  // ranks 3, 0.5, 2, 0.5 of N - 1 = 3
  for (int i = 0; i < 4; ++i) CHECK(worst[i] == Approx(expected[i]).epsilon(1e-15));
  // raw / z-scores: the lowest finite value stands in
  CHECK(shaped({2, nan, 1}, es::fitness_shaping::raw, es::nonfinite_fitness::worst) == std::vector<double>{2, 1, 1});
  CHECK_THROWS_AS(shaped({nan, nan}, es::fitness_shaping::raw, es::nonfinite_fitness::worst), tessera::domain_error);
}

TEST_CASE("shape_fitness rejects empty and mismatched inputs") {
  std::vector<double> f{1, 2}, w(3), none;
  CHECK(tessera::test::message_of([&] { es::shape_fitness<double>(f, w, es::fitness_shaping::raw); }) ==
        "tessera::es::shape_fitness: weights.size() = 3; expected fitness.size() = 2");
  CHECK_THROWS_AS(es::shape_fitness<double>(none, none, es::fitness_shaping::raw), tessera::invalid_argument);
}
