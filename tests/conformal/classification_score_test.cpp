#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <span>
#include <tessera/conformal/classification_score.hpp>
#include <tessera/core/random.hpp>
#include <vector>

#include "conformal/oracles/classification_score_oracles.hpp"

namespace cf = tessera::conformal;
namespace oracle = tessera::test::classification_score_oracles;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

std::span<const double> oracle_row(std::size_t i) {
  return std::span<const double>(oracle::probabilities).subspan(i * oracle::classes, oracle::classes);
}

// MAPIE's set of row i for threshold number t of a flattened [threshold][row][label] table.
template <std::size_t N>
std::vector<bool> oracle_set(const std::array<bool, N>& sets, std::size_t t, std::size_t i) {
  const auto first = sets.begin() + static_cast<std::ptrdiff_t>((t * oracle::rows + i) * oracle::classes);
  return std::vector<bool>(first, first + static_cast<std::ptrdiff_t>(oracle::classes));
}

// The set of a row as a vector<bool>, for comparison with MAPIE's.
template <class Score, class T>
std::vector<bool> set_of(const Score& score, std::span<const T> row, T threshold, T u) {
  std::vector<std::int32_t> scratch(row.size());
  auto in_set = std::make_unique<bool[]>(row.size());
  cf::fill_prediction_set(score, row, threshold, u, std::span<std::int32_t>(scratch),
                          std::span<bool>(in_set.get(), row.size()));
  return std::vector<bool>(in_set.get(), in_set.get() + row.size());
}

template <class Score, class T>
T score_of(const Score& score, std::span<const T> row, std::int32_t label, T u) {
  std::vector<std::int32_t> scratch(row.size());
  return cf::score_of(score, row, label, u, std::span<std::int32_t>(scratch));
}

std::int32_t top_label(std::span<const double> row) {
  return static_cast<std::int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

// MAPIE's include_last_label=False never returns an empty set: where tessera's deterministic set
// is empty (the top label alone already scores above q), MAPIE keeps the top label. Otherwise
// the two agree.
template <class Score, std::size_t N>
void check_against_last_excluded(const Score& score, const std::array<bool, N>& mapie,
                                 std::span<const double> thresholds, int& empty_rows) {
  for (std::size_t t = 0; t < thresholds.size(); ++t)
    for (std::size_t i = 0; i < oracle::rows; ++i) {
      const auto ours = set_of(score, oracle_row(i), thresholds[t], 0.5);
      const auto theirs = oracle_set(mapie, t, i);
      if (std::count(ours.begin(), ours.end(), true) > 0) {
        CHECK(ours == theirs);
        continue;
      }
      ++empty_rows;
      const std::int32_t top = top_label(oracle_row(i));
      CHECK(std::count(theirs.begin(), theirs.end(), true) == 1);
      CHECK(theirs[static_cast<std::size_t>(top)]);
      CHECK(score_of(score, oracle_row(i), top, 0.5) > thresholds[t]);
    }
}

// Rows with many ties: probabilities j / 20 for random j, normalized (K = 7).
std::vector<double> tied_rows(std::size_t rows, std::size_t classes, std::uint64_t seed) {
  const tessera::random_stream stream(seed);
  std::vector<double> table(rows * classes);
  for (std::size_t i = 0; i < rows; ++i) {
    double sum = 0;
    for (std::size_t j = 0; j < classes; ++j) {
      const double draw = tessera::uniform<double>(stream, i * classes + j);
      table[i * classes + j] = std::floor(draw * 4) + 1;
      sum += table[i * classes + j];
    }
    for (std::size_t j = 0; j < classes; ++j) table[i * classes + j] /= sum;
  }
  return table;
}

// The set by brute force, the oracle of fill_prediction_set's partial ranking: every label ranked
// by a full sort, the mass summed in rank order, the set grown until a score exceeds q.
template <class Score, class T>
std::vector<bool> full_sort_set(const Score& score, std::span<const T> row, T q, T u) {
  std::vector<std::int32_t> order(row.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](std::int32_t a, std::int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
  std::vector<bool> in_set(row.size(), false);
  T mass = 0;
  for (std::size_t r = 0; r < order.size(); ++r) {
    const std::int32_t y = order[r];
    if (!(score.value(row[y], cf::label_standing<T>{static_cast<std::int32_t>(r + 1), mass}, u) <= q)) break;
    in_set[static_cast<std::size_t>(y)] = true;
    mass += row[y];
  }
  return in_set;
}

// A row of K probabilities of one of three kinds by id % 3: continuous (softmax of Gaussian
// logits, temperature 0 to 4), coarse ties (integers 1..4, normalized), or dyadic counts of 256
// skewed draws (many zeros and ties).
template <class T>
std::vector<T> random_row(std::size_t classes, std::uint64_t id) {
  const tessera::random_stream stream(41, static_cast<std::uint32_t>(id));
  std::vector<double> row(classes, 0.0);
  const auto k = static_cast<double>(classes);
  if (id % 3 == 0) {
    const double temperature = 4 * tessera::uniform<double>(stream, 0);
    for (std::size_t j = 0; j < classes; ++j) row[j] = std::exp(temperature * tessera::normal<double>(stream, j + 1));
  } else if (id % 3 == 1) {
    for (std::size_t j = 0; j < classes; ++j) row[j] = std::floor(4 * tessera::uniform<double>(stream, j)) + 1;
  } else {
    for (std::size_t draw = 0; draw < 256; ++draw)
      row[static_cast<std::size_t>(k * std::pow(tessera::uniform<double>(stream, draw), 3))] += 1;
  }
  const double sum = std::accumulate(row.begin(), row.end(), 0.0);
  std::vector<T> typed(classes);
  for (std::size_t j = 0; j < classes; ++j) typed[j] = static_cast<T>(row[j] / sum);
  return typed;
}

}  // namespace

TEST_CASE("scores equal those of MAPIE's LAC, APS, RAPS and Top-K classes") {
  for (std::size_t i = 0; i < oracle::rows; ++i) {
    const auto row = oracle_row(i);
    const std::int32_t y = oracle::labels[i];
    CAPTURE(i);
    CHECK(score_of(cf::lac_score{}, row, y, 0.5) == oracle::lac_scores[i]);
    // The cumulative mass through y is summed in the same order as numpy's cumsum: same bits.
    CHECK(score_of(cf::aps_score{false}, row, y, 0.5) == oracle::aps_deterministic_scores[i]);
    CHECK(score_of(cf::top_k_score{}, row, y, 0.5) == oracle::top_k_positions[i] + 1);
    CHECK(score_of(cf::top_k_score{}, row, y, 0.5) == oracle::true_label_ranks[i]);
    const cf::raps_score raps{oracle::k_reg, oracle::lambda, false};
    CHECK(score_of(raps, row, y, 0.5) == oracle::raps_deterministic_scores[i]);
    // MAPIE's randomized score is m + p - u p; tessera's m + U p with U = 1 - u. Both sides
    // round at most three times on values <= 1: they agree within 3 * 2^-53 < 4e-16.
    const double u = 1 - oracle::score_u[i];
    CHECK(score_of(cf::aps_score{true}, row, y, u) ==
          Approx(oracle::aps_randomized_scores[i]).margin(4e-16));
  }
}

TEST_CASE("LAC and Top-K sets equal MAPIE's for given thresholds") {
  for (std::size_t t = 0; t < oracle::thresholds.size(); ++t)
    for (std::size_t i = 0; i < oracle::rows; ++i)
      CHECK(set_of(cf::lac_score{}, oracle_row(i), oracle::thresholds[t], 0.5) ==
            oracle_set(oracle::lac_sets, t, i));
  for (std::size_t t = 0; t < oracle::top_k_positions_kept.size(); ++t)
    for (std::size_t i = 0; i < oracle::rows; ++i)
      CHECK(set_of(cf::top_k_score{}, oracle_row(i), oracle::top_k_positions_kept[t] + 1.0, 0.5) ==
            oracle_set(oracle::top_k_sets, t, i));
}

TEST_CASE("APS sets equal MAPIE's with the last label included, excluded and randomized") {
  for (std::size_t t = 0; t < oracle::thresholds.size(); ++t)
    for (std::size_t i = 0; i < oracle::rows; ++i) {
      CAPTURE(t, i);
      const double q = oracle::thresholds[t];
      // include_last_label=True keeps every label whose preceding mass is below q: u = 0.
      CHECK(set_of(cf::aps_score{true}, oracle_row(i), q, 0.0) ==
            oracle_set(oracle::aps_sets_last_included, t, i));
      // "randomized" keeps the crossing label when u >= (C_L - q) / p_L, i.e. U = 1 - u.
      CHECK(set_of(cf::aps_score{true}, oracle_row(i), q, 1 - oracle::set_u[i]) ==
            oracle_set(oracle::aps_sets_randomized, t, i));
    }
  int empty_rows = 0;
  check_against_last_excluded(cf::aps_score{false}, oracle::aps_sets_last_excluded,
                              oracle::thresholds, empty_rows);
  CHECK(empty_rows > 0);  // the data exercise the one documented difference
}

TEST_CASE("RAPS sets equal MAPIE's deterministic ones and the paper's randomized rule") {
  int empty_rows = 0;
  const cf::raps_score deterministic{oracle::k_reg, oracle::lambda, false};
  check_against_last_excluded(deterministic, oracle::raps_sets_last_excluded,
                              oracle::raps_thresholds, empty_rows);
  const cf::raps_score randomized{oracle::k_reg, oracle::lambda, true};
  for (std::size_t t = 0; t < oracle::raps_thresholds.size(); ++t)
    for (std::size_t i = 0; i < oracle::rows; ++i)
      CHECK(set_of(randomized, oracle_row(i), oracle::raps_thresholds[t], oracle::set_u[i]) ==
            oracle_set(oracle::raps_sets_randomized_paper, t, i));
}

TEST_CASE("ties in probability are broken by the lower label index") {
  const std::array<double, 4> row{0.25, 0.125, 0.5, 0.125};
  const std::span<const double> p(row);
  // Ranking: label 2 (0.5), label 0 (0.25), label 1 (0.125, lower index), label 3.
  CHECK(score_of(cf::top_k_score{}, p, 2, 0.0) == 1);
  CHECK(score_of(cf::top_k_score{}, p, 0, 0.0) == 2);
  CHECK(score_of(cf::top_k_score{}, p, 1, 0.0) == 3);
  CHECK(score_of(cf::top_k_score{}, p, 3, 0.0) == 4);
  CHECK(score_of(cf::aps_score{false}, p, 1, 0.0) == 0.875);
  CHECK(score_of(cf::aps_score{false}, p, 3, 0.0) == 1.0);
  CHECK(set_of(cf::top_k_score{}, p, 3.0, 0.0) == std::vector<bool>{true, true, true, false});
}

TEST_CASE("the randomized APS and RAPS sets keep the crossing label with probability (q - m - penalty) / p") {
  const std::array<double, 3> row{0.5, 0.3, 0.2};
  const std::span<const double> p(row);
  // q = 0.65: label 1 crosses (m = 0.5, p = 0.3): kept when 0.5 + 0.3 U <= 0.65, U <= 0.5.
  CHECK(set_of(cf::aps_score{true}, p, 0.65, 0.49) == std::vector<bool>{true, true, false});
  CHECK(set_of(cf::aps_score{true}, p, 0.65, 0.51) == std::vector<bool>{true, false, false});
  // Label 0 alone: 0.5 U <= 0.2 holds for U <= 0.4; above, the set is empty (Romano et al.
  // allow empty sets; they are what makes the coverage exact).
  CHECK(set_of(cf::aps_score{true}, p, 0.2, 0.39) == std::vector<bool>{true, false, false});
  CHECK(set_of(cf::aps_score{true}, p, 0.2, 0.41) == std::vector<bool>{false, false, false});
  // RAPS k_reg = 1, lambda = 0.25: label 1 pays 0.25, kept when 0.5 + 0.3 U + 0.25 <= 0.9.
  const cf::raps_score raps{1, 0.25, true};
  CHECK(set_of(raps, p, 0.9, 0.49) == std::vector<bool>{true, true, false});
  CHECK(set_of(raps, p, 0.9, 0.51) == std::vector<bool>{true, false, false});
  // The deterministic APS set holds the labels whose cumulative mass is <= q.
  CHECK(set_of(cf::aps_score{false}, p, 0.8, 0.0) == std::vector<bool>{true, true, false});
  CHECK(set_of(cf::aps_score{false}, p, 0.79, 0.0) == std::vector<bool>{true, false, false});
  CHECK(set_of(cf::lac_score{}, p, inf, 0.0) == std::vector<bool>{true, true, true});
  CHECK(set_of(cf::raps_score{0, 0.5, false}, p, inf, 0.0) == std::vector<bool>{true, true, true});
}

TEMPLATE_TEST_CASE("a label is in the set exactly when its score is <= q, also at q = its score",
                   "", float, double) {
  // Rows full of ties, every label's own score as threshold: the boundary where a different
  // summation order between scoring and set building would show.
  const std::size_t rows = 300, classes = 7;
  const auto table = tied_rows(rows, classes, 5);
  const std::vector<TestType> typed(table.begin(), table.end());
  const tessera::random_stream stream(6);
  std::vector<std::int32_t> scratch(classes);
  std::vector<TestType> all_scores(classes);
  const auto check_score = [&](const auto& score) {
    for (std::size_t i = 0; i < rows; ++i) {
      const std::span<const TestType> row(typed.data() + i * classes, classes);
      const TestType u = tessera::uniform<TestType>(stream, i);
      cf::fill_scores(score, row, u, std::span<std::int32_t>(scratch), std::span<TestType>(all_scores));
      for (std::size_t y = 0; y < classes; ++y) {
        const auto label = static_cast<std::int32_t>(y);
        REQUIRE(all_scores[y] == score_of(score, row, label, u));
        const TestType q = all_scores[y];
        const auto in_set = set_of(score, row, q, u);
        for (std::size_t z = 0; z < classes; ++z) REQUIRE(in_set[z] == (all_scores[z] <= q));
      }
    }
  };
  check_score(cf::lac_score{});
  check_score(cf::aps_score{true});
  check_score(cf::aps_score{false});
  check_score(cf::raps_score{2, 0.05, true});
  check_score(cf::raps_score{0, 0.3, false});
  check_score(cf::top_k_score{});
}

TEMPLATE_TEST_CASE("sets built on a partial ranking equal the full-sort sets, ties and q = a score included",
                   "", float, double) {
  using T = TestType;
  const tessera::random_stream draws(42);
  std::uint64_t id = 0;
  const auto check_score = [&](const auto& score) {
    for (const std::size_t classes : {1, 2, 3, 5, 17, 64, 300, 1000}) {
      const std::size_t rows = classes < 1000 ? 30 : 6;
      std::vector<std::int32_t> scratch(classes);
      std::vector<T> scores(classes);
      auto in_set = std::make_unique<bool[]>(classes);
      for (std::size_t i = 0; i < rows; ++i, ++id) {
        const std::vector<T> values = random_row<T>(classes, id);
        const std::span<const T> row(values);
        const T u = tessera::uniform<T>(draws, id);
        cf::fill_scores(score, row, u, std::span<std::int32_t>(scratch), std::span<T>(scores));
        // Thresholds at labels' scores and their neighbours (where a mass summed in another order
        // than the rank order would decide otherwise), and across the range.
        std::vector<T> thresholds{T(0), T(0.5), T(0.9), T(1), std::numeric_limits<T>::infinity()};
        for (std::size_t t = 0; t < 6; ++t) {
          const T s = scores[static_cast<std::size_t>(tessera::uniform<double>(draws, 1'000'000 + id * 6 + t) *
                                                      static_cast<double>(classes))];
          thresholds.insert(thresholds.end(), {s, std::nextafter(s, T(-1)), std::nextafter(s, T(2))});
        }
        for (const T q : thresholds) {
          CAPTURE(classes, i, q);
          const std::size_t size = cf::fill_prediction_set(score, row, q, u, std::span<std::int32_t>(scratch),
                                                           std::span<bool>(in_set.get(), classes));
          const std::vector<bool> expected = full_sort_set(score, row, q, u);
          REQUIRE(std::vector<bool>(in_set.get(), in_set.get() + classes) == expected);
          REQUIRE(size == static_cast<std::size_t>(std::count(expected.begin(), expected.end(), true)));
        }
      }
    }
  };
  check_score(cf::aps_score{true});
  check_score(cf::aps_score{false});
  check_score(cf::raps_score{2, 0.01, true});
  check_score(cf::raps_score{0, 0.3, false});
  check_score(cf::top_k_score{});
}

TEMPLATE_TEST_CASE("a set-end hint changes where the search looks, never the set", "", float, double) {
  // Hints at the set's own end, at its neighbours (ties included), at the row's extremes and beyond
  // them, and carried from row to row: the first two pivots move, the sets must stay the full
  // sort's.
  using T = TestType;
  const tessera::random_stream draws(45);
  std::uint64_t id = 9000;
  const auto check_score = [&](const auto& score) {
    for (const std::size_t classes : {2, 17, 300, 1000}) {
      std::vector<std::int32_t> scratch(classes);
      std::vector<T> scores(classes);
      auto in_set = std::make_unique<bool[]>(classes);
      cf::set_end_hint<T> carried;
      for (std::size_t i = 0; i < 12; ++i, ++id) {
        const std::vector<T> values = random_row<T>(classes, id);
        const std::span<const T> row(values);
        const T u = tessera::uniform<T>(draws, id);
        cf::fill_scores(score, row, u, std::span<std::int32_t>(scratch), std::span<T>(scores));
        const T s = scores[static_cast<std::size_t>(tessera::uniform<double>(draws, 2'000'000 + id) *
                                                    static_cast<double>(classes))];
        for (const T q : {T(0.9), s, std::nextafter(s, T(-1)), std::nextafter(s, T(2))}) {
          const std::vector<bool> expected = full_sort_set(score, row, q, u);
          // The probabilities on both sides of the set's end, and far from it.
          std::vector<T> hints{std::numeric_limits<T>::denorm_min(), T(1e-30), T(1), T(2)};
          for (std::size_t y = 0; y < classes; ++y)
            if (y == 0 || expected[y] != expected[y - 1] || (y + 1 < classes && expected[y] != expected[y + 1]))
              hints.insert(hints.end(), {row[y], std::nextafter(row[y], T(0)), std::nextafter(row[y], T(1))});
          hints.push_back(*std::min_element(row.begin(), row.end()));
          hints.push_back(*std::max_element(row.begin(), row.end()));
          CAPTURE(classes, i, q);
          for (const T at : hints)
            for (const int records : {1, 40}) {  // the widest bracket and the narrowest
              cf::set_end_hint<T> hint;
              for (int r = 0; r < records; ++r) hint.record(at);
              CAPTURE(at, records);
              cf::fill_prediction_set(score, row, q, u, std::span<std::int32_t>(scratch),
                                      std::span<bool>(in_set.get(), classes), hint);
              REQUIRE(std::vector<bool>(in_set.get(), in_set.get() + classes) == expected);
            }
          const std::size_t size = cf::fill_prediction_set(score, row, q, u, std::span<std::int32_t>(scratch),
                                                           std::span<bool>(in_set.get(), classes), carried);
          REQUIRE(std::vector<bool>(in_set.get(), in_set.get() + classes) == expected);
          REQUIRE(size == static_cast<std::size_t>(std::count(expected.begin(), expected.end(), true)));
        }
      }
    }
  };
  check_score(cf::aps_score{true});
  check_score(cf::aps_score{false});
  check_score(cf::raps_score{2, 0.01, true});
  check_score(cf::top_k_score{});
}

TEMPLATE_TEST_CASE("a set-end hint brackets the mean end by twice the ends' spread, or stands aside",
                   "", float, double) {
  // 0.01 is 1.28 x 2^-7: a quarter of its binade's bit patterns is 2^-9, a 64th 2^-13, and adding
  // either to 0.01 or taking it away is exact (same binade, a multiple of its ulp).
  using T = TestType;
  const T low = T(1e-6), high = T(0.5), end = T(0.01);
  cf::set_end_hint<T> hint;
  CHECK_FALSE(hint.bracket(low, high).usable);  // no rows yet
  hint.record(end);
  // One row: the spread is its prior, an eighth of a binade; the reach twice that.
  auto bracket = hint.bracket(low, high);
  REQUIRE(bracket.usable);
  CHECK(bracket.center == end);
  CHECK(bracket.below == end - std::exp2(T(-9)));
  CHECK(bracket.above == end + std::exp2(T(-9)));
  // The mean outside the row's range, or a reach wider than a 16th of it: no bracket.
  CHECK_FALSE(hint.bracket(end, high).usable);
  CHECK_FALSE(hint.bracket(low, T(0.005)).usable);
  CHECK_FALSE(hint.bracket(T(0.008), T(0.0125)).usable);
  // The end of a row (-1) and 0 teach nothing.
  hint.record(T(-1));
  hint.record(T(0));
  CHECK(hint.bracket(low, high).below == end - std::exp2(T(-9)));
  // Rows ending at one probability shrink the spread to nothing: the reach is then its least, a
  // 64th of a binade.
  for (int r = 0; r < 200; ++r) hint.record(end);
  bracket = hint.bracket(low, high);
  REQUIRE(bracket.usable);
  CHECK(bracket.center == end);
  CHECK(bracket.below == end - std::exp2(T(-13)));
  CHECK(bracket.above == end + std::exp2(T(-13)));
  // Rows ending binades apart widen it until the hint stands aside (here 1e-4 and 1e-2, about
  // 6.6 binades apart, against a row spanning 19).
  for (int r = 0; r < 20; ++r) hint.record(r % 2 == 0 ? T(1e-4) : T(1e-2));
  CHECK_FALSE(hint.bracket(low, high).usable);
}

TEST_CASE("the incremental ranking hands out every label in ranking order, whatever the row's pattern") {
  // Patterns that defeat naive pivots (sorted, reversed, organ pipe, all tied, few values) and
  // random rows with ties: the full ranking must be the full sort's.
  const tessera::random_stream draws(43);
  for (const std::size_t classes : {1, 2, 17, 18, 100, 1000, 4099}) {
    for (int pattern = 0; pattern < 6; ++pattern) {
      std::vector<double> row(classes);
      for (std::size_t j = 0; j < classes; ++j) {
        const double x = static_cast<double>(j);
        const double mirrored = static_cast<double>(std::min(j, classes - 1 - j));
        const auto index = classes * 10 + static_cast<std::size_t>(pattern) * 5000 + j;
        const double draw = tessera::uniform<double>(draws, index);
        const double values[] = {x, -x, mirrored, 1.0, std::floor(3 * draw), draw};
        row[j] = values[pattern] + static_cast<double>(classes);  // positive
      }
      std::vector<std::int32_t> expected(classes), order(classes);
      std::iota(expected.begin(), expected.end(), 0);
      std::sort(expected.begin(), expected.end(), [&](std::int32_t a, std::int32_t b) {
        return row[static_cast<std::size_t>(a)] > row[static_cast<std::size_t>(b)] ||
               (row[static_cast<std::size_t>(a)] == row[static_cast<std::size_t>(b)] && a < b);
      });
      std::iota(order.begin(), order.end(), 0);
      cf::detail::incremental_ranking<double> ranking{std::span<const double>(row), std::span<std::int32_t>(order)};
      std::vector<std::int32_t> got(classes);
      for (std::size_t r = 0; r < classes; ++r) got[r] = ranking.at(r);
      CAPTURE(classes, pattern);
      CHECK(got == expected);
    }
  }
}

TEMPLATE_TEST_CASE("the certified search decides almost every continuous row, and its decisions are the full sort's",
                   "", float, double) {
  // Softmax rows of Gaussian logits at thresholds across (0, 1): a decision within the certified
  // bound of q is rare for continuous scores, so nearly every row must be decided by the search
  // (a search that always gave up would pass the set tests above through the ranking path).
  using T = TestType;
  const tessera::random_stream draws(44);
  const double least_decided = std::same_as<T, double> ? 0.999 : 0.97;
  const auto check_score = [&](const auto& score) {
    std::size_t rows = 0, decided = 0;
    for (const std::size_t classes : {10, 100, 1000}) {
      std::vector<std::int32_t> scratch(classes);
      auto in_set = std::make_unique<bool[]>(classes);
      for (std::uint64_t i = 0; i < 300; ++i, ++rows) {
        std::vector<double> logits(classes);
        double sum = 0;
        for (std::size_t j = 0; j < classes; ++j)
          sum += logits[j] = std::exp(2 * tessera::normal<double>(draws, (classes * 1000 + i) * 1000 + j));
        std::vector<T> values(classes);
        for (std::size_t j = 0; j < classes; ++j) values[j] = static_cast<T>(logits[j] / sum);
        const std::span<const T> row(values);
        const T u = tessera::uniform<T>(draws, 7'000'000 + rows), q = tessera::uniform<T>(draws, 8'000'000 + rows);
        const auto score_at = [&](T p, std::int32_t rank, T mass) {
          return score.value(p, cf::label_standing<T>{rank, mass}, u);
        };
        cf::set_end_hint<T> no_hint;
        const auto end = cf::detail::search_set_end(score_at, row, q, std::span<std::int32_t>(scratch), no_hint);
        if (!end.certified) continue;
        ++decided;
        cf::detail::mark_set(row, end, std::span<bool>(in_set.get(), classes));
        const std::vector<bool> expected = full_sort_set(score, row, q, u);
        CAPTURE(classes, i, q);
        REQUIRE(std::vector<bool>(in_set.get(), in_set.get() + classes) == expected);
        REQUIRE(end.size == static_cast<std::size_t>(std::count(expected.begin(), expected.end(), true)));
      }
    }
    CHECK(static_cast<double>(decided) >= least_decided * static_cast<double>(rows));
  };
  check_score(cf::aps_score{true});
  check_score(cf::aps_score{false});
  check_score(cf::raps_score{3, 0.001, true});
  check_score(cf::top_k_score{});
}

TEMPLATE_TEST_CASE("score bounds from one pass hold the rank-order score and are a few ulps wide", "", float,
                   double) {
  using T = TestType;
  const tessera::random_stream draws(45);
  std::uint64_t id = 0;
  const auto check_score = [&](const auto& score) {
    for (const std::size_t classes : {1, 2, 17, 300, 1000}) {
      std::vector<std::int32_t> scratch(classes);
      for (std::size_t i = 0; i < 20; ++i, ++id) {
        const std::vector<T> values = random_row<T>(classes, id);  // continuous, coarse ties, dyadic
        const std::span<const T> row(values);
        const T u = tessera::uniform<T>(draws, id);
        for (std::size_t y = 0; y < classes; y += std::max<std::size_t>(1, classes / 25)) {
          const auto label = static_cast<std::int32_t>(y);
          const T exact = cf::score_of(score, row, label, u, std::span<std::int32_t>(scratch));
          const auto bounds = cf::detail::score_bounds(score, row, label, u);
          CAPTURE(classes, i, y);
          REQUIRE(bounds.low <= exact);
          REQUIRE(exact <= bounds.high);
          // Width: the certified rank-order error, about 2.2 (rank + depth) u times the mass.
          const T rank_error = T(4 * (classes + 64)) * std::numeric_limits<T>::epsilon();
          REQUIRE(bounds.high - bounds.low <= rank_error * (T(1) + std::abs(exact)));
        }
      }
    }
  };
  check_score(cf::aps_score{true});
  check_score(cf::aps_score{false});
  check_score(cf::raps_score{2, 0.01, true});
  check_score(cf::top_k_score{});
}
