#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <tessera/conformal/quantile.hpp>
#include <tessera/core/random.hpp>
#include <vector>

#include "support/test_support.hpp"

namespace cf = tessera::conformal;
using tessera::test::message_of;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

std::vector<double> one_to(int n) {
  std::vector<double> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 1.0);
  return v;
}

// A reproducible shuffled sample of n uniform scores.
std::vector<double> uniform_scores(std::size_t n, std::uint64_t seed) {
  std::vector<double> v(n);
  tessera::fill_uniform<double>(tessera::exec::host, tessera::random_stream(seed), std::span<double>(v));
  return v;
}

}  // namespace

TEST_CASE("the rank is ceil((n + 1)(1 - alpha)), exact for the double alpha") {
  CHECK(cf::upper_rank(10, 0.1) == 10);  // ceil(9.9)
  CHECK(cf::upper_rank(10, 0.2) == 9);   // ceil(8.8)
  CHECK(cf::upper_rank(10, 0.05) == 11); // ceil(10.45) > n: the quantile is +inf
  CHECK(cf::upper_rank(99, 0.1) == 90);  // the double 0.1 exceeds 1/10: 100 alpha = 10 + 5e-16
  // The double 0.3 is 0.29999999999999998889...: 10 * 0.3 rounds to 3.0 exactly, yet the real
  // product is below 3, so floor((n + 1) alpha) = 2 and k = 8. A naive floor(10 * 0.3) says 7.
  CHECK(cf::lower_rank(9, 0.3) == 2);
  CHECK(cf::upper_rank(9, 0.3) == 8);
  CHECK(cf::lower_rank(19, 0.1) == 2);
  CHECK(cf::lower_rank(8, 0.1) == 0);  // floor(0.9): the jackknife+ lower bound is -inf
}

TEST_CASE("the quantile is MAPIE's np.quantile(scores, k / n, method='lower')") {
  // Values from numpy 2.4: np.quantile(np.arange(1, 11), np.ceil(11 * 0.9) / 10, method="lower")
  // = 10, and at alpha = 0.2: 9; at alpha = 0.05 the level 11/10 exceeds 1: +inf.
  const auto scores = one_to(10);
  CHECK(cf::conformal_quantile<double>(scores, 0.1) == 10);
  CHECK(cf::conformal_quantile<double>(scores, 0.2) == 9);
  CHECK(cf::conformal_quantile<double>(scores, 0.05) == inf);
  CHECK(cf::conformal_quantile<double>(std::vector<double>{2.5}, 0.5) == 2.5);  // k = 1
}

TEST_CASE("selection does not depend on the input order and leaves the const input unchanged") {
  auto scores = uniform_scores(1001, 7);
  const auto original = scores;
  const double q = cf::conformal_quantile<double>(scores, 0.1);
  CHECK(scores == original);
  auto sorted = scores;
  std::sort(sorted.begin(), sorted.end());
  CHECK(q == sorted[cf::upper_rank(1001, 0.1) - 1]);
  CHECK(cf::conformal_quantile_in_place(std::span<double>(scores), 0.1) == q);
}

TEST_CASE("coverage of the quantile lies in [1 - alpha, 1 - alpha + 1/(n + 1)] over many splits") {
  // For continuous scores, P(S_test <= q) = k / (n + 1) exactly; averaged over 4000 draws of
  // (calibration, test) its estimate has standard error <= 0.0048, so 4 sigma is 0.019.
  const std::size_t n = 99;
  const double alpha = 0.1;
  int covered = 0;
  const int trials = 4000;
  for (int t = 0; t < trials; ++t) {
    const auto draw = uniform_scores(n + 1, 1000 + static_cast<std::uint64_t>(t));
    const double q = cf::conformal_quantile<double>(std::span<const double>(draw).first(n), alpha);
    covered += draw[n] <= q;
  }
  const double coverage = static_cast<double>(covered) / trials;
  CHECK(coverage >= 1 - alpha - 0.019);
  CHECK(coverage <= 1 - alpha + 1.0 / (n + 1) + 0.019);
}

TEST_CASE("weighted quantile: equal weights reproduce the plain one; a heavy test weight gives +inf") {
  const auto scores = uniform_scores(200, 3);
  const std::vector<double> ones(scores.size(), 1.0);
  for (double alpha : {0.05, 0.1, 0.25, 0.5})
    CHECK(cf::weighted_conformal_quantile<double>(scores, ones, 1.0, alpha) ==
          cf::conformal_quantile<double>(scores, alpha));
  CHECK(cf::weighted_conformal_quantile<double>(scores, ones, 100.0, 0.1) == inf);
  // Weight only on the three smallest scores: the quantile is the smallest score whose
  // cumulative normalized weight reaches 0.9, here the third (weights 1, 1, 8 of total 10 + 0).
  const std::vector<double> s{5, 1, 3, 2};
  const std::vector<double> w{0, 1, 8, 1};
  CHECK(cf::weighted_conformal_quantile<double>(s, w, 0.0, 0.1) == 3);
}

TEST_CASE("streaming in chunks gives the same bits as one call") {
  const auto scores = uniform_scores(100000, 11);
  for (double alpha : {0.001, 0.1, 0.5}) {
    cf::streaming_quantile<double> stream(scores.size(), alpha);
    for (std::size_t begin = 0; begin < scores.size(); begin += 7919)
      stream.push(std::span<const double>(scores).subspan(begin, std::min<std::size_t>(7919, scores.size() - begin)));
    CHECK(stream.result() == cf::conformal_quantile<double>(scores, alpha));
  }
  cf::streaming_quantile<double> tiny(10, 0.05);  // rank 11 > 10
  tiny.push(one_to(10));
  CHECK(tiny.result() == inf);
}

TEST_CASE("class-conditional quantiles are each label's conformal quantile, +inf for a label with too few") {
  const auto scores = uniform_scores(3000, 12);
  std::vector<std::int32_t> labels(scores.size());
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int32_t>(i * 7 % 3);  // 0..2
  const auto q = cf::class_conditional_quantiles<double>(scores, labels, 4, 0.1);  // label 3 has no rows
  REQUIRE(q.size() == 4);
  for (std::int32_t y = 0; y < 3; ++y) {
    std::vector<double> own;
    for (std::size_t i = 0; i < scores.size(); ++i)
      if (labels[i] == y) own.push_back(scores[i]);
    CHECK(q[static_cast<std::size_t>(y)] == cf::conformal_quantile<double>(own, 0.1));
  }
  CHECK(q[3] == inf);
  const std::vector<std::int32_t> bad{0, 5, 1};
  CHECK(message_of([&] { cf::class_conditional_quantiles<double>(one_to(3), bad, 3, 0.1); }) ==
        "tessera::conformal::class_conditional_quantiles: labels[1] = 5; expected 0 <= labels[1] <= 2");
  CHECK(message_of([&] { cf::class_conditional_quantiles<double>(one_to(3), bad, 0, 0.1); }) ==
        "tessera::conformal::class_conditional_quantiles: classes = 0; expected >= 1");
}

TEMPLATE_TEST_CASE("bracketed selection finds nth_element's value for every rank, whatever the order of the values",
                   "", float, double) {
  // Sizes past the direct-selection limit; patterns that a strided sample misjudges (sorted,
  // reversed, periodic with the stride, few distinct values, infinities) force the fallback.
  for (const std::size_t n : {cf::detail::bracketed_selection_minimum, std::size_t{3001}, std::size_t{1} << 14,
                               std::size_t{100'003}}) {
    const auto random = uniform_scores(n, 13);
    // The last pattern puts 0 exactly where the sample looks and larger values elsewhere: the
    // bracket around the sample's ranks then misses every rank but the smallest.
    const std::size_t stride = n / cf::detail::selection_sample_size(n);
    for (int pattern = 0; pattern < 7; ++pattern) {
      std::vector<TestType> values(n);
      for (std::size_t i = 0; i < n; ++i) {
        const double x = static_cast<double>(i);
        const double patterns[] = {random[i],
                                   x,
                                   -x,
                                   static_cast<double>(i % 509),
                                   std::floor(4 * random[i]),
                                   i % 1000 == 0 ? inf : random[i],
                                   i % stride == stride / 2 ? 0.0 : 1 + random[i]};
        values[i] = static_cast<TestType>(patterns[pattern]);
      }
      for (const std::uint64_t k : {std::uint64_t{1}, std::uint64_t{2}, std::uint64_t{n / 2}, std::uint64_t{9 * n / 10},
                                    std::uint64_t{n - 1}, std::uint64_t{n}}) {
        std::vector<TestType> sorted = values;
        std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(k - 1), sorted.end());
        CAPTURE(n, pattern, k);
        const auto selected = cf::detail::kth_smallest<TestType>(n, k, [&](std::size_t i) { return values[i]; });
        CHECK(selected.kth == sorted[k - 1]);
        CHECK(selected.largest == *std::max_element(values.begin(), values.end()));
        std::vector<TestType> copy = values;
        CHECK(cf::order_statistic_in_place(std::span<TestType>(copy), k) == sorted[k - 1]);
      }
    }
  }
}

TEMPLATE_TEST_CASE("the bracket pass keeps the same values in the same order on any number of threads", "", float,
                   double) {
  // n past parallel_bracket_minimum, cut into ranges unevenly (n prime, 3 threads) and into more
  // ranges than this machine may have cores; the serial pass over [0, n) is the reference.
  const std::size_t n = 100'003;
  REQUIRE(n >= cf::detail::parallel_bracket_minimum);
  const auto random = uniform_scores(n, 29);
  std::vector<TestType> values(n);
  for (std::size_t i = 0; i < n; ++i) values[i] = static_cast<TestType>(random[i]);
  const cf::detail::stored_values<TestType> value{values.data()};
  const TestType low = 0.4f, high = 0.45f;
  const auto reference = cf::detail::bracket_pass<TestType>(0, n, low, high, 100, value);
  REQUIRE(reference.kept > 4000);
  std::vector<TestType> sorted = values;
  std::nth_element(sorted.begin(), sorted.begin() + (9 * n / 10 - 1), sorted.end());
  const TestType ninth_decile = sorted[9 * n / 10 - 1];
  for (const int threads : tessera::test::thread_counts()) {
    CAPTURE(threads);
    tessera::test::with_threads(threads, [&] {
      const auto pass = cf::detail::bracket_pass<TestType>(n, low, high, 100, value);
      CHECK(pass.below == reference.below);
      CHECK(pass.largest == reference.largest);
      REQUIRE(pass.kept == reference.kept);
      CHECK(std::equal(pass.inside.get(), pass.inside.get() + pass.kept, reference.inside.get()));
      const auto selected = cf::detail::kth_smallest<TestType>(n, 9 * n / 10, value);
      CHECK(selected.kth == ninth_decile);
      CHECK(selected.largest == reference.largest);
    });
  }
}

TEST_CASE("bad input gets a message naming the parameter") {
  const std::vector<double> empty;
  const std::vector<double> with_nan{1.0, std::nan(""), 2.0};
  CHECK(message_of([&] { cf::conformal_quantile<double>(empty, 0.1); }) ==
        "tessera::conformal::conformal_quantile: scores.size() = 0; expected >= 1");
  CHECK(message_of([&] { cf::conformal_quantile<double>(with_nan, 0.1); }) ==
        "tessera::conformal::conformal_quantile: scores[1] = nan; expected a number (not NaN)");
  CHECK(message_of([&] { cf::conformal_quantile<double>(one_to(3), 1.0); }) ==
        "tessera::conformal::conformal_quantile: alpha = 1; expected 0 < value < 1");
  CHECK(message_of([&] { cf::weighted_conformal_quantile<double>(one_to(3), one_to(2), 1.0, 0.1); }) ==
        "tessera::conformal::weighted_conformal_quantile: weights.size() = 2; expected scores.size() = 3");
  cf::streaming_quantile<double> stream(3, 0.1);
  stream.push(one_to(2));
  CHECK_THROWS_AS(stream.result(), tessera::invalid_argument);
  CHECK_THROWS_AS(stream.push(one_to(2)), tessera::invalid_argument);
}
