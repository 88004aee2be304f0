// The Halton sequence: SciPy's unrandomized points, exact radical inverses, index-range slices,
// and for every randomization: uniform marginals, the van der Corput stratification, the pair laws
// of random permutations, the variance rates, reproducible replications, and bad input.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <tessera/qmc/halton.hpp>
#include <vector>
#include "support/test_support.hpp"

using tessera::test::ks_critical;
using tessera::test::ks_uniform;

using tessera::qmc::halton_options;
using tessera::qmc::halton_randomization;
using tessera::qmc::halton_sequence;
using tessera::qmc::index_range;

namespace {

constexpr auto host = tessera::exec::host;

constexpr halton_randomization all_randomizations[] = {
    halton_randomization::none,          halton_randomization::digital_shift,
    halton_randomization::permutation,   halton_randomization::lms,
    halton_randomization::lms_digital_shift, halton_randomization::lms_permutation,
    halton_randomization::nus};

// The randomizations whose every point is uniform on [0, 1)^d (LMS alone keeps point 0 at the
// origin and never sets a leading digit of point 1 to 0).
constexpr halton_randomization uniform_randomizations[] = {
    halton_randomization::digital_shift, halton_randomization::permutation,
    halton_randomization::lms_digital_shift, halton_randomization::lms_permutation,
    halton_randomization::nus};

// SciPy 1.17.1 (Python 3.11.7, NumPy 2.4.6):
//   scipy.stats.qmc.Halton(d=5, scramble=False).random(16)
// SciPy, like tessera, starts at index 0, so its first point is the origin.
constexpr double scipy_halton_5d[16][5] = {
    {0.0, 0.0, 0.0, 0.0, 0.0},
    {0.5, 0.3333333333333333, 0.2, 0.14285714285714285, 0.09090909090909091},
    {0.25, 0.6666666666666666, 0.4, 0.2857142857142857, 0.18181818181818182},
    {0.75, 0.1111111111111111, 0.6000000000000001, 0.42857142857142855, 0.2727272727272727},
    {0.125, 0.4444444444444444, 0.8, 0.5714285714285714, 0.36363636363636365},
    {0.625, 0.7777777777777777, 0.04, 0.7142857142857142, 0.4545454545454546},
    {0.375, 0.2222222222222222, 0.24000000000000002, 0.8571428571428571, 0.5454545454545454},
    {0.875, 0.5555555555555556, 0.44, 0.02040816326530612, 0.6363636363636364},
    {0.0625, 0.8888888888888888, 0.6400000000000001, 0.16326530612244897, 0.7272727272727273},
    {0.5625, 0.037037037037037035, 0.8400000000000001, 0.30612244897959184, 0.8181818181818182},
    {0.3125, 0.37037037037037035, 0.08, 0.4489795918367347, 0.9090909090909092},
    {0.8125, 0.7037037037037037, 0.28, 0.5918367346938775, 0.008264462809917356},
    {0.1875, 0.14814814814814814, 0.48000000000000004, 0.7346938775510203, 0.09917355371900827},
    {0.6875, 0.48148148148148145, 0.68, 0.8775510204081632, 0.19008264462809918},
    {0.4375, 0.8148148148148147, 0.88, 0.04081632653061224, 0.28099173553719003},
    {0.9375, 0.25925925925925924, 0.12, 0.18367346938775508, 0.371900826446281}};

// The radical inverse of i in base p correctly rounded to double, computed independently of the
// library: numerator and denominator p^(digits of i) are exact integers below 2^53 here.
double exact_radical_inverse(std::uint64_t i, std::uint64_t p) {
  std::uint64_t numerator = 0;
  std::uint64_t denominator = 1;
  for (; i != 0; i /= p) {
    numerator = numerator * p + i % p;
    denominator *= p;
  }
  return static_cast<double>(numerator) / static_cast<double>(denominator);
}

// The stratum c with c/q <= x < (c+1)/q, the boundaries rounded as the generator rounds (an IEEE
// division of integers), so the test is exact for doubles.
std::uint64_t stratum(double x, std::uint64_t q) {
  auto c = static_cast<std::uint64_t>(x * static_cast<double>(q));
  while (c > 0 && static_cast<double>(c) / static_cast<double>(q) > x) --c;
  while (static_cast<double>(c + 1) / static_cast<double>(q) <= x) ++c;
  return c;
}

// Pearson's chi-square statistic of counts against equal expected counts over `cells` cells.
double chi_square(const std::vector<int>& counts, int cells, int total) {
  const double expected = static_cast<double>(total) / cells;
  double statistic = 0;
  for (const int c : counts) statistic += (c - expected) * (c - expected) / expected;
  return statistic;
}

std::string name_of(halton_randomization r) { return std::string(tessera::qmc::to_string(r)); }

int replications_for(halton_randomization r, int wanted) {
  return r == halton_randomization::none ? 1 : wanted;
}

}  // namespace

TEST_CASE("the first primes, the digits kept and the capacity") {
  using tessera::qmc::detail::base_p::first_primes;
  CHECK(first_primes(10) == std::vector<std::uint32_t>{2, 3, 5, 7, 11, 13, 17, 19, 23, 29});
  CHECK(first_primes(1) == std::vector<std::uint32_t>{2});
  // p_1000 = 7919 (QMCPy 2.4's Halton table ends there) and p_100000 = 1299709 (OEIS A000040).
  CHECK(first_primes(1000).back() == 7919u);
  CHECK(first_primes(100000).back() == 1299709u);

  const halton_sequence s({1000, halton_randomization::none, 0, 1});
  CHECK(s.base(0) == 2u);
  CHECK(s.base(999) == 7919u);
  CHECK(s.digits(0) == 53);   // 2^53
  CHECK(s.digits(1) == 33);   // 3^33 = 5.6e15 <= 2^53 < 3^34
  CHECK(s.digits(999) == 4);  // 7919^4 = 3.9e15
  // d = 5: min(2^53, 3^33, 5^22, 7^18, 11^15) = 7^18.
  CHECK(halton_sequence({5, halton_randomization::none, 0, 1}).capacity() == 1628413597910449ull);
  CHECK(halton_sequence({1, halton_randomization::nus, 0, 1}).capacity() == (1ull << 53));
  CHECK(halton_sequence({halton_sequence::max_dimension, halton_randomization::none, 0, 1})
            .capacity() > (1ull << 32));
}

TEST_CASE("unrandomized points match SciPy's Halton and the exact radical inverse") {
  const halton_sequence s({5, halton_randomization::none, 0, 1});
  const auto x = generate<double>(host, s, {0, 16});
  REQUIRE(x.shape(0) == 16);
  REQUIRE(x.shape(1) == 5);
  const std::uint64_t primes[] = {2, 3, 5, 7, 11};
  int differ_in_last_place = 0;
  for (std::size_t i = 0; i < 16; ++i) {
    for (std::size_t j = 0; j < 5; ++j) {
      // tessera returns the correctly rounded radical inverse ...
      CHECK(x(i, j) == exact_radical_inverse(i, primes[j]));
      // ... SciPy sums rounded terms: equal, or one unit in the last place apart.
      const double scipy = scipy_halton_5d[i][j];
      const bool same = x(i, j) == scipy;
      const bool adjacent = x(i, j) == std::nextafter(scipy, 0.0) || x(i, j) == std::nextafter(scipy, 1.0);
      CHECK((same || adjacent));
      if (!same) ++differ_in_last_place;
    }
  }
  // 13 of SciPy's 80 values are not correctly rounded (checked in Python with fractions).
  CHECK(differ_in_last_place == 13);
}

TEST_CASE("unrandomized points far into the sequence are the exact radical inverse") {
  const halton_sequence s({5, halton_randomization::none, 0, 1});
  const std::uint64_t primes[] = {2, 3, 5, 7, 11};
  const std::uint64_t indices[] = {(std::uint64_t{1} << 32) + 7, (std::uint64_t{1} << 40) + 12345,
                                   s.capacity() - 1};
  for (const std::uint64_t i : indices) {
    const auto x = generate<double>(host, s, {i, i + 1});
    for (std::size_t j = 0; j < 5; ++j) CHECK(x(0, j) == exact_radical_inverse(i, primes[j]));
  }
}

TEST_CASE("index-range slices equal the rows of a full generation") {
  for (const auto r : all_randomizations) {
    INFO(name_of(r));
    const halton_sequence s({7, r, 42, replications_for(r, 2)});
    const auto full = generate_replications<double>(host, s, {0, 500});
    const index_range slices[] = {{0, 1}, {1, 2}, {123, 377}, {499, 500}, {250, 250}};
    for (const index_range range : slices) {
      const auto part = generate_replications<double>(host, s, range);
      REQUIRE(part.shape(1) == range.size());
      for (std::size_t rep = 0; rep < part.shape(0); ++rep) {
        for (std::size_t i = 0; i < range.size(); ++i) {
          for (std::size_t j = 0; j < 7; ++j) REQUIRE(part(rep, i, j) == full(rep, range.begin + i, j));
        }
      }
    }
    // generate() is replication 0; the span form writes the same R x n x d array.
    const auto first = generate<double>(host, s, {0, 500});
    std::vector<double> flat(full.size());
    tessera::qmc::generate_into(host, s, {0, 500}, std::span<double>(flat));
    for (std::size_t i = 0; i < 500; ++i) {
      for (std::size_t j = 0; j < 7; ++j) REQUIRE(first(i, j) == full(0, i, j));
    }
    CHECK(std::equal(flat.begin(), flat.end(), full.begin()));
  }
}

TEST_CASE("float points are the double points rounded to nearest, kept below 1") {
  for (const auto r : all_randomizations) {
    INFO(name_of(r));
    const halton_sequence s({9, r, 5, replications_for(r, 3)});
    const auto d = generate_replications<double>(host, s, {1000, 3000});
    const auto f = generate_replications<float>(host, s, {1000, 3000});
    REQUIRE(f.size() == d.size());
    for (std::size_t k = 0; k < d.size(); ++k) {
      const float rounded = static_cast<float>(d.data()[k]);
      REQUIRE(f.data()[k] == (rounded < 1.0f ? rounded : 0x1.fffffep-1f));
      REQUIRE(f.data()[k] < 1.0f);
      REQUIRE(d.data()[k] < 1.0);
      REQUIRE(d.data()[k] >= 0.0);
    }
  }
}

TEST_CASE("every randomized point is uniform on [0, 1) across replications (KS, level 0.001)") {
  // One sample per (point, coordinate): its value in 4096 independent replications, fixed seed.
  // Asymptotic KS critical value at level 0.001: 1.9495 / sqrt(4096) = 0.0305.
  constexpr int replications = 4096;
  const double critical = ks_critical(replications);
  for (const auto r : uniform_randomizations) {
    INFO(name_of(r));
    const halton_sequence s({10, r, 2024, replications});
    for (const std::uint64_t i : {0ull, 1ull, 4097ull, 1234567ull}) {
      const auto x = generate_replications<double>(host, s, {i, i + 1});
      for (const std::size_t j : {0u, 1u, 4u, 9u}) {  // bases 2, 3, 11, 29
        INFO("point " << i << ", coordinate " << j);
        std::vector<double> sample(replications);
        for (int rep = 0; rep < replications; ++rep) sample[rep] = x(rep, 0, j);
        CHECK(ks_uniform(sample) < critical);
      }
    }
  }
}

TEST_CASE("every randomization keeps the van der Corput stratification of each coordinate") {
  // n = p^k points, from index 0 and from the aligned block 3 p^k: coordinate j in base p puts
  // exactly one point in each [a / p^k, (a + 1) / p^k).
  const std::uint64_t counts[] = {4096, 2187, 3125, 2401, 1331, 2197};  // 2^12 3^7 5^5 7^4 11^3 13^3
  for (const auto r : all_randomizations) {
    INFO(name_of(r));
    const halton_sequence s({6, r, 99, replications_for(r, 2)});
    for (std::size_t j = 0; j < 6; ++j) {
      const std::uint64_t n = counts[j];
      for (const std::uint64_t begin : {std::uint64_t{0}, 3 * n}) {
        INFO("coordinate " << j << ", points from " << begin);
        const auto x = generate_replications<double>(host, s, {begin, begin + n});
        for (std::size_t rep = 0; rep < x.shape(0); ++rep) {
          std::vector<int> hits(n, 0);
          for (std::size_t i = 0; i < n; ++i) ++hits[stratum(x(rep, i, j), n)];
          CHECK(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; }));
        }
      }
    }
  }
}

TEST_CASE("digit permutations have the pair law of uniformly random permutations") {
  // Points 1 and 2 have leading digits 1 and 2 in base 5 (coordinate 2). Under a uniformly random
  // permutation their scrambled leading digits are uniform over the 20 ordered distinct pairs;
  // a digital shift reaches only the 5 pairs (g + 1, g + 2). Chi-square, 19 degrees of freedom,
  // level 0.001: 43.82.
  constexpr int replications = 4096;
  for (const auto r : {halton_randomization::permutation, halton_randomization::lms_permutation,
                       halton_randomization::nus, halton_randomization::digital_shift}) {
    INFO(name_of(r));
    const halton_sequence s({3, r, 7, replications});
    const auto x = generate_replications<double>(host, s, {1, 3});
    std::vector<int> pairs(25, 0);
    for (int rep = 0; rep < replications; ++rep) {
      const auto a = stratum(x(rep, 0, 2), 5);
      const auto b = stratum(x(rep, 1, 2), 5);
      ++pairs[a * 5 + b];
    }
    for (int a = 0; a < 5; ++a) CHECK(pairs[a * 5 + a] == 0);
    if (r == halton_randomization::digital_shift) {
      int reached = 0;
      for (int a = 0; a < 5; ++a) reached += pairs[a * 5 + (a + 1) % 5] > 0 ? 1 : 0;
      CHECK(reached == 5);
      CHECK(std::count(pairs.begin(), pairs.end(), 0) == 20);
    } else {
      std::vector<int> distinct;
      for (int k = 0; k < 25; ++k) {
        if (k / 5 != k % 5) distinct.push_back(pairs[k]);
      }
      CHECK(chi_square(distinct, 20, replications) < 43.82);
    }
  }
}

TEST_CASE("nested scrambling permutes a digit by a permutation that depends on the digits above") {
  // Points 5 and 6 in base 5 have digits (0, 1) and (1, 1). With one permutation per digit
  // position their second scrambled digits are always equal; with nested scrambling they go
  // through the independent permutations of two tree nodes: uniform over all 25 pairs
  // (chi-square, 24 degrees of freedom, level 0.001: 51.18).
  constexpr int replications = 4096;
  const auto second_digits = [&](halton_randomization r) {
    const halton_sequence s({3, r, 11, replications});
    const auto x = generate_replications<double>(host, s, {5, 7});
    std::vector<int> pairs(25, 0);
    for (int rep = 0; rep < replications; ++rep) {
      const auto a = stratum(x(rep, 0, 2), 25) % 5;
      const auto b = stratum(x(rep, 1, 2), 25) % 5;
      ++pairs[a * 5 + b];
    }
    return pairs;
  };
  const auto nested = second_digits(halton_randomization::nus);
  CHECK(chi_square(nested, 25, replications) < 51.18);
  const auto positional = second_digits(halton_randomization::permutation);
  int equal = 0;
  for (int a = 0; a < 5; ++a) equal += positional[a * 5 + a];
  CHECK(equal == replications);
}

TEST_CASE("variance rates: n^-3 for nested scrambling, n^-2 for digit-wise maps") {
  // Mean squared error of the mean of exp(x) over n = p^m points of one coordinate, over 64
  // replications; the least-squares slope of log MSE against log n. Owen (1997): nested uniform
  // scrambling of a (0, m, 1)-net has variance O(n^-3) for smooth f; a digital shift or one
  // permutation per digit keeps the same offset in every stratum, O(n^-2). Measured with this
  // seed: nus -3.04 (base 2, n = 2^4..2^12) and -3.00 (base 3, n = 3^3..3^7), digital shift
  // -1.99 (base 2), permutation -1.92 (base 3).
  // (The LMS scrambles share NUS's variance but their squared errors are heavy tailed: most
  // replications are far more accurate, so 64 of them do not estimate it.)
  constexpr int replications = 64;
  const double integral = std::exp(1.0) - 1.0;
  const auto slope = [&](halton_randomization r, std::size_t j, std::uint64_t p, int m_lo, int m_hi) {
    const halton_sequence s({static_cast<int>(j) + 1, r, 2024, replications});
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int count = 0;
    std::uint64_t n = 1;
    for (int m = 0; m < m_lo; ++m) n *= p;
    for (int m = m_lo; m <= m_hi; ++m, n *= p) {
      const auto x = generate_replications<double>(host, s, {0, n});
      double mse = 0;
      for (int rep = 0; rep < replications; ++rep) {
        double sum = 0;
        for (std::uint64_t i = 0; i < n; ++i) sum += std::exp(x(rep, i, j));
        const double error = sum / static_cast<double>(n) - integral;
        mse += error * error / replications;
      }
      const double lx = std::log(static_cast<double>(n));
      const double ly = std::log(mse);
      sx += lx;
      sy += ly;
      sxx += lx * lx;
      sxy += lx * ly;
      ++count;
    }
    return (count * sxy - sx * sy) / (count * sxx - sx * sx);
  };
  CHECK(slope(halton_randomization::nus, 0, 2, 4, 12) == Approx(-3.0).margin(0.25));
  CHECK(slope(halton_randomization::nus, 1, 3, 3, 7) == Approx(-3.0).margin(0.25));
  CHECK(slope(halton_randomization::digital_shift, 0, 2, 4, 12) == Approx(-2.0).margin(0.25));
  CHECK(slope(halton_randomization::permutation, 1, 3, 3, 7) == Approx(-2.0).margin(0.25));
}

TEST_CASE("replications are independent and reproducible from (seed, r)") {
  for (const auto r : all_randomizations) {
    if (r == halton_randomization::none) continue;
    INFO(name_of(r));
    const index_range range{100, 400};
    const auto four = generate_replications<double>(host, halton_sequence({8, r, 31, 4}), range);
    const auto again = generate_replications<double>(host, halton_sequence({8, r, 31, 4}), range);
    const auto eight = generate_replications<double>(host, halton_sequence({8, r, 31, 8}), range);
    const auto other = generate_replications<double>(host, halton_sequence({8, r, 32, 4}), range);
    CHECK(std::equal(four.begin(), four.end(), again.begin()));
    // Replication r depends on (seed, r) only, not on how many replications there are.
    CHECK(std::equal(four.begin(), four.end(), eight.begin()));
    std::size_t same_as_other_seed = 0;
    for (std::size_t k = 0; k < four.size(); ++k) same_as_other_seed += four.data()[k] == other.data()[k];
    CHECK(same_as_other_seed == 0);
    // Every pair of replications differs in every coordinate of every point.
    for (std::size_t a = 0; a < 8; ++a) {
      for (std::size_t b = a + 1; b < 8; ++b) {
        std::size_t same = 0;
        for (std::size_t i = 0; i < range.size(); ++i) {
          for (std::size_t j = 0; j < 8; ++j) same += eight(a, i, j) == eight(b, i, j);
        }
        CHECK(same == 0);
      }
    }
  }
}

TEST_CASE("randomization names: the enumerators and QMCPy's strings") {
  using tessera::qmc::parse_halton_randomization;
  CHECK(parse_halton_randomization("LMS DP") == halton_randomization::lms_permutation);
  CHECK(parse_halton_randomization("lms_perm") == halton_randomization::lms_permutation);
  CHECK(parse_halton_randomization(" True ") == halton_randomization::lms_permutation);
  CHECK(parse_halton_randomization("LMS DS") == halton_randomization::lms_digital_shift);
  CHECK(parse_halton_randomization("LMS") == halton_randomization::lms);
  CHECK(parse_halton_randomization("DP") == halton_randomization::permutation);
  CHECK(parse_halton_randomization("ds") == halton_randomization::digital_shift);
  CHECK(parse_halton_randomization("Owen") == halton_randomization::nus);
  CHECK(parse_halton_randomization("FALSE") == halton_randomization::none);
  for (const auto r : all_randomizations) {
    CHECK(parse_halton_randomization(tessera::qmc::to_string(r)) == r);
  }
  for (const char* bad : {"LMS NUS", "QRNG", "", "DS DP"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_halton_randomization(bad), tessera::invalid_argument);
    CHECK_THROWS_WITH(parse_halton_randomization(bad), Catch::Contains("randomization"));
  }
}

TEST_CASE("bad input throws invalid_argument naming the parameter") {
  using Catch::Contains;
  using tessera::invalid_argument;
  const auto make = [](int d, halton_randomization r, int replications) {
    return halton_sequence({d, r, 0, replications});
  };
  CHECK_THROWS_AS(make(0, halton_randomization::nus, 1), invalid_argument);
  CHECK_THROWS_WITH(make(0, halton_randomization::nus, 1), Contains("options.dimension = 0"));
  CHECK_THROWS_WITH(make(100001, halton_randomization::nus, 1),
                    Contains("options.dimension = 100001"));
  CHECK_THROWS_WITH(make(3, halton_randomization::nus, 0), Contains("options.replications = 0"));
  CHECK_THROWS_WITH(make(3, halton_randomization::none, 2), Contains("options.replications = 2"));
  CHECK_THROWS_WITH(make(3, static_cast<halton_randomization>(42), 1),
                    Contains("options.randomization = 42"));

  const halton_sequence s({5, halton_randomization::lms_permutation, 1, 2});
  const std::uint64_t cap = s.capacity();
  CHECK_THROWS_AS(generate<double>(host, s, {cap, cap + 1}), invalid_argument);
  CHECK_THROWS_WITH(generate<double>(host, s, {cap, cap + 1}), Contains("range.end"));
  CHECK_THROWS_WITH(generate_replications<float>(host, s, {0, cap + 1}), Contains("range.end"));
  CHECK_THROWS_WITH(generate<double>(host, s, {10, 5}), Contains("range.begin"));
  CHECK_NOTHROW(generate<double>(host, s, {cap - 1, cap}));
  std::vector<double> wrong(2 * 10 * 5 - 1);
  CHECK_THROWS_WITH(tessera::qmc::generate_into(host, s, {0, 10}, std::span<double>(wrong)),
                    Contains("out.size()"));
  CHECK_THROWS_AS(s.base(5), std::out_of_range);
}
