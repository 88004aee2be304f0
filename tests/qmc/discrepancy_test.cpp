// L2-star, centered and wrap-around discrepancies: SciPy's numbers on fixed point sets, exact
// rational values where SciPy's own rounding is too coarse, invariances, and bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <tessera/qmc/discrepancy.hpp>
#include "support/test_support.hpp"

using tessera::test::message_of;

using tessera::exec::host;
using tessera::qmc::centered_discrepancy_squared;
using tessera::qmc::l2_star_discrepancy;
using tessera::qmc::point_array;
using tessera::qmc::wrap_around_discrepancy_squared;

namespace {

// The point sets, built exactly as the Python below builds them (every coordinate is one
// correctly rounded operation, so C++ and NumPy hold the same doubles).
//
// Reference values: SciPy 1.17.1 (NumPy 2.4.6), Python 3.11:
//   import numpy as np
//   from scipy.stats import qmc
//   def lattice():  # n = 64, d = 5
//       n, z = 64, [1, 19, 27, 11, 5]
//       return np.array([[((i * zj) % n + 0.5) / n for zj in z] for i in range(n)])
//   def grid_with_ends():  # n = 37, d = 3, coordinates k/36 including 0 and 1
//       return np.array([[((i * (j + 1) * 7 + 3 * j) % 37) / 36 for j in range(3)]
//                        for i in range(37)])
//   def golden():  # n = 100, d = 2
//       g = 0.6180339887498949
//       return np.array([[(i + 0.5) / 100, i * g - np.floor(i * g)] for i in range(100)])
//   def docs_example():  # the example of SciPy's discrepancy docstring
//       space = np.array([[1, 3], [2, 6], [3, 2], [4, 5], [5, 1], [6, 4]])
//       return qmc.scale(space, [0.5, 0.5], [6.5, 6.5], reverse=True)
//   for x in (lattice(), grid_with_ends(), golden(), docs_example()):
//       print(["%.17g" % qmc.discrepancy(x, method=m) for m in ("L2-star", "CD", "WD")])
// The exact values: the same three formulas evaluated in Python's fractions.Fraction on the
// same doubles (the L2-star square root taken with decimal at 40 digits).

point_array<double> lattice() {
  const int z[] = {1, 19, 27, 11, 5};
  point_array<double> x = point_array<double>::from_shape({64, 5});
  for (int i = 0; i < 64; ++i)
    for (int j = 0; j < 5; ++j) x(i, j) = ((i * z[j]) % 64 + 0.5) / 64;
  return x;
}

point_array<double> grid_with_ends() {
  point_array<double> x = point_array<double>::from_shape({37, 3});
  for (int i = 0; i < 37; ++i)
    for (int j = 0; j < 3; ++j) x(i, j) = static_cast<double>((i * (j + 1) * 7 + 3 * j) % 37) / 36;
  return x;
}

point_array<double> golden() {
  const double g = 0.6180339887498949;
  point_array<double> x = point_array<double>::from_shape({100, 2});
  for (int i = 0; i < 100; ++i) {
    x(i, 0) = (i + 0.5) / 100;
    x(i, 1) = i * g - std::floor(i * g);
  }
  return x;
}

point_array<double> docs_example() {
  // qmc.scale(space, 0.5, 6.5, reverse=True) = (space - 0.5) / 6.
  const int space[6][2] = {{1, 3}, {2, 6}, {3, 2}, {4, 5}, {5, 1}, {6, 4}};
  point_array<double> x = point_array<double>::from_shape({6, 2});
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 2; ++j) x(i, j) = (space[i][j] - 0.5) / 6;
  return x;
}

struct three {
  double l2_star, cd, wd;
};

three ours(const point_array<double>& x) {
  return {l2_star_discrepancy(host, x), centered_discrepancy_squared(host, x),
          wrap_around_discrepancy_squared(host, x)};
}

}  // namespace

TEST_CASE("discrepancies equal SciPy's where SciPy's own rounding is below 1e-12") {
  // On these sets SciPy 1.17.1 is within 6e-13 of the exact rational value (checked).
  const three docs = ours(docs_example());
  CHECK(docs.l2_star == Approx(0.06833606212558091).epsilon(1e-12));
  CHECK(docs.cd == Approx(0.0081420396090534641).epsilon(1e-12));  // SciPy's docstring number
  CHECK(docs.wd == Approx(0.016846707818928941).epsilon(1e-12));

  const three grid = ours(grid_with_ends());
  CHECK(grid.l2_star == Approx(0.036542319004516266).epsilon(1e-12));
  CHECK(grid.cd == Approx(0.0039022734103932866).epsilon(1e-12));
  CHECK(grid.wd == Approx(0.0049781779341593335).epsilon(1e-12));

  const three lat = ours(lattice());
  CHECK(lat.l2_star == Approx(0.015997640081833648).epsilon(1e-12));
  CHECK(lat.cd == Approx(0.0033973145972479024).epsilon(1e-12));
}

TEST_CASE("discrepancies equal the exact values where SciPy's rounding exceeds 1e-12") {
  // SciPy sums n^2 terms of size ~1 naively before subtracting; its relative errors against the
  // exact rational values are 9.8e-12 (lattice WD) and 2e-12, 1.5e-11, 4.6e-10 (golden L2-star,
  // CD, WD). Ours keep to 1e-12 of the exact value except where the final subtraction itself
  // loses the digits: golden's CD^2 and WD^2 are 1.2e-4 against terms of 1.2 and 1.8, so one
  // rounding of those (2e-16 relative) is 3e-12 of the result.
  const three lat = ours(lattice());
  CHECK(lat.wd == Approx(0.0054740039657021474).epsilon(1e-12));
  CHECK(lat.wd == Approx(0.0054740039656486772).epsilon(2e-11));  // SciPy, to its accuracy

  const three gold = ours(golden());
  CHECK(gold.l2_star == Approx(0.0069688608980441437).epsilon(1e-12));
  CHECK(gold.cd == Approx(0.00012625974890947267).epsilon(1e-11));
  CHECK(gold.wd == Approx(0.000121132130239245).epsilon(1e-11));
  CHECK(gold.l2_star == Approx(0.0069688608980578073).epsilon(4e-12));  // SciPy's numbers
  CHECK(gold.cd == Approx(0.00012625974890756453).epsilon(3e-11));
  CHECK(gold.wd == Approx(0.00012113213029496528).epsilon(1e-9));
}

TEST_CASE("float points give the discrepancy of their double values") {
  // The lattice's coordinates are multiples of 2^-7, exact in float.
  const point_array<double> x = lattice();
  const point_array<float> xf = tessera::qmc::point_array<float>(xt::cast<float>(x));
  CHECK(l2_star_discrepancy(host, xf) == Approx(0.015997640081833648).epsilon(1e-12));
  CHECK(centered_discrepancy_squared(host, xf) == Approx(0.0033973145972479024).epsilon(1e-12));
  CHECK(wrap_around_discrepancy_squared(host, xf) == Approx(0.0054740039657021474).epsilon(1e-12));
}

TEST_CASE("discrepancies have the invariances of their definitions") {
  const point_array<double> x = grid_with_ends();
  const three base = ours(x);
  SECTION("every discrepancy is invariant under reordering the points") {
    point_array<double> reversed = x;
    for (std::size_t i = 0; i < 37; ++i)
      for (std::size_t j = 0; j < 3; ++j) reversed(i, j) = x(36 - i, j);
    const three r = ours(reversed);
    CHECK(r.l2_star == Approx(base.l2_star).epsilon(1e-14));
    CHECK(r.cd == Approx(base.cd).epsilon(1e-13));
    CHECK(r.wd == Approx(base.wd).epsilon(1e-13));
  }
  SECTION("CD is invariant under the reflection x -> 1 - x of a coordinate") {
    point_array<double> reflected = x;
    for (std::size_t i = 0; i < 37; ++i) reflected(i, 1) = 1 - x(i, 1);
    CHECK(centered_discrepancy_squared(host, reflected) == Approx(base.cd).epsilon(1e-13));
  }
  SECTION("WD is invariant under a shift modulo one, L2-star is not") {
    // Lattice coordinates are (k + 1/2)/64; adding 1/4 mod 1 is exact.
    const point_array<double> lat = lattice();
    point_array<double> shifted = lat;
    for (double& v : shifted) v = v + 0.25 >= 1 ? v - 0.75 : v + 0.25;
    CHECK(wrap_around_discrepancy_squared(host, shifted) ==
          Approx(wrap_around_discrepancy_squared(host, lat)).epsilon(1e-13));
    CHECK(std::abs(l2_star_discrepancy(host, shifted) - l2_star_discrepancy(host, lat)) > 1e-4);
  }
}

TEST_CASE("a single point at the centre has the closed-form discrepancies") {
  // n = 1, x = (1/2, ..., 1/2) in d = 3: L2*^2 = 3^-3 - 2^-2 (3/4)^3 + (1/2)^3,
  // CD^2 = (13/12)^3 - 2 + 1, WD^2 = (3/2)^3 - (4/3)^3.
  point_array<double> x = point_array<double>::from_shape({1, 3});
  x.fill(0.5);
  CHECK(l2_star_discrepancy(host, x) ==
        Approx(std::sqrt(1.0 / 27 - 0.25 * 27.0 / 64 + 0.125)).epsilon(1e-15));
  CHECK(centered_discrepancy_squared(host, x) == Approx(std::pow(13.0 / 12, 3) - 1).epsilon(1e-15));
  CHECK(wrap_around_discrepancy_squared(host, x) ==
        Approx(3.375 - std::pow(4.0 / 3, 3)).epsilon(1e-15));
}

TEST_CASE("discrepancies reject empty sets and points outside the unit cube") {
  SECTION("no points or no coordinates") {
    const point_array<double> none = point_array<double>::from_shape({0, 3});
    CHECK_THROWS_AS(l2_star_discrepancy(host, none), tessera::invalid_argument);
    CHECK(message_of([&] { centered_discrepancy_squared(host, none); }) ==
          "tessera::qmc::centered_discrepancy_squared: points.shape(0) = 0; expected >= 1 point");
    const point_array<double> flat = point_array<double>::from_shape({4, 0});
    CHECK(message_of([&] { wrap_around_discrepancy_squared(host, flat); }) ==
          "tessera::qmc::wrap_around_discrepancy_squared: points.shape(1) = 0; expected >= 1 "
          "dimension");
  }
  SECTION("the first offending row and column are named") {
    point_array<double> x = lattice();
    x(3, 1) = 1.5;
    x(5, 0) = -0.25;
    CHECK(message_of([&] { l2_star_discrepancy(host, x); }) ==
          "tessera::qmc::l2_star_discrepancy: points(3, 1) = 1.5; expected 0 <= points(3, 1) <= 1");
    x(3, 1) = 0.5;
    CHECK(message_of([&] { centered_discrepancy_squared(host, x); }) ==
          "tessera::qmc::centered_discrepancy_squared: points(5, 0) = -0.25; expected 0 <= "
          "points(5, 0) <= 1");
    x(5, 0) = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_WITH(wrap_around_discrepancy_squared(host, x),
                      Catch::Contains("points(5, 0) = nan"));
    point_array<float> xf = point_array<float>::from_shape({2, 2});
    xf.fill(0.5f);
    xf(1, 1) = std::numeric_limits<float>::infinity();
    CHECK_THROWS_WITH(l2_star_discrepancy(host, xf), Catch::Contains("points(1, 1) = inf"));
  }
}
