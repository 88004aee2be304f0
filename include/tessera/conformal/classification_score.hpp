#pragma once
// Conformity scores of classification: how unusual label y is for a row of K predicted
// probabilities, and the prediction set {y : score(y) <= q} that a threshold q gives.
//
//   LAC   (Sadinle, Lei, Wasserman 2019)             s = 1 - p_y
//   APS   (Romano, Sesia, Candès 2020)               s = m_y + u p_y
//   RAPS  (Angelopoulos, Bates, Malik, Jordan 2021)  s = m_y + u p_y + lambda max(0, r_y - k_reg)
//   Top-K (Angelopoulos et al. 2021)                 s = r_y
//
// where r_y is the rank of y (1 = most probable) and m_y the mass of the labels ranked before y.
// Labels are ranked by descending probability, ties broken by the smaller label index, so ranks
// are a permutation of 1..K. u is U[0, 1) for a randomized score (one draw per row, shared by
// all its labels) and 1 for a deterministic one.
//
// Every score is a function of (p_y, r_y, m_y, u) that never decreases along the ranking (APS:
// m_r + u p_r <= m_r + p_r = m_{r+1}; rounding is monotone, so this holds in floating point too).
// The set {y : s(y) <= q} is therefore the first labels of the ranking, grown from the most
// probable one until a score exceeds q. With one u per row this is Romano et al.'s randomized rule
// (and Angelopoulos et al.'s for RAPS): the last label is kept with probability
// (q - m - penalty) / p. With u = 1 the set holds the labels whose cumulative (regularized) mass
// is <= q, so it never holds the label whose mass crosses q (MAPIE's include_last_label=False,
// less its rule that a set is never empty).
//
// m_y is summed in T in rank order, the most probable label first, both when one label is scored
// and when a set is built, so "y is in the set" and "score(y) <= q" agree bit for bit: the
// coverage that calibration promises is the coverage of the sets built.
//
// A set is built without ranking the row. For APS, RAPS and Top-K (scores that never decrease in
// m_y: mass_monotone_score) a search narrows down where the set ends by passes that count and sum
// the labels above a pivot, summed in another order than the rank order but with a bound on the
// difference that certifies every decision (detail/set_end_search.hpp): O(K) per pass, about seven
// passes for softmax rows. A decision too close to call (within about K ulps of q) and other
// scores take the exact path: an incremental quicksort hands out the labels in rank order,
// sorting only the blocks it reaches (expected O(K + m log m) for a set of m labels), and the set
// grows along them until a score exceeds q. Both give the same sets, bit for bit.
//
// The per-row functions allocate nothing and throw nothing, so a device backend can call them:
// ranking uses std::sort and a partition of its own on a caller-given scratch of K label indices
// (constexpr since C++20, callable from device code under nvcc's --expt-relaxed-constexpr, which
// tessera's CUDA targets use).

#include <algorithm>
#include <bit>
#include <concepts>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include "tessera/conformal/detail/set_end_search.hpp"
#include "tessera/core/concepts.hpp"
#include "tessera/core/detail/multiply_add.hpp"
#include "tessera/core/config.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::conformal {

/// Where a label stands in its row: rank 1 is the most probable label, mass_above the sum of the
/// probabilities of the labels ranked before it (0 for rank 1).
template <float_or_double T>
struct label_standing {
  std::int32_t rank;
  T mass_above;
};

/// A classification conformity score: s.value(p_y, standing, u) in O(1), non-decreasing along the
/// ranking of a row. S::uses_rank = false says the value depends on p_y alone (the row is then
/// never ranked and value receives standing {0, 0}).
template <class S, class T>
concept classification_score =
    float_or_double<T> && std::copyable<S> &&
    requires(const S& s, T probability, label_standing<T> standing, T u) {
      { s.value(probability, standing, u) } -> std::same_as<T>;
      { std::bool_constant<S::uses_rank>{} };
    };

/// A ranked score whose value never decreases as mass_above grows (probability, rank and u
/// fixed), in floating point as in real numbers: S::monotone_in_mass is true. Sets of such scores
/// are found by a certified search (detail/set_end_search.hpp) instead of ranking the row.
template <class S, class T>
concept mass_monotone_score = classification_score<S, T> && S::uses_rank && requires {
  requires S::monotone_in_mass;
};

/// A ranked score whose value never decreases as the probability grows (rank, mass_above and u
/// fixed), in floating point as in real numbers: S::monotone_in_probability is true. The device
/// backend then bounds a label's score by the scores at the ends of a probability interval
/// (cuda/detail/ranked_set_end.cuh) instead of finding the label first.
template <class S, class T>
concept probability_monotone_score = classification_score<S, T> && S::uses_rank && requires {
  requires S::monotone_in_probability;
};

/// LAC, "least ambiguous set-valued classifier" (Sadinle et al. 2019): s = 1 - p_y.
/// Its sets are the smallest on average among sets with the same coverage.
struct lac_score {
  static constexpr bool uses_rank = false;

  template <float_or_double T>
  TESSERA_HOST_DEVICE constexpr T value(T probability, label_standing<T>, T) const {
    return T(1) - probability;
  }
};

/// APS, adaptive prediction sets (Romano et al. 2020): s = m_y + u p_y, with u ~ U[0, 1) when
/// randomized (exact coverage 1 - alpha in expectation) and u = 1 otherwise.
struct aps_score {
  static constexpr bool uses_rank = true;
  static constexpr bool monotone_in_mass = true;
  static constexpr bool monotone_in_probability = true;
  bool randomized = true;

  template <float_or_double T>
  TESSERA_HOST_DEVICE T value(T probability, label_standing<T> standing, T u) const {
    return tessera::detail::multiply_add(randomized ? u : T(1), probability, standing.mass_above);
  }
};

/// RAPS, regularized APS (Angelopoulos et al. 2021): the APS score plus
/// lambda max(0, rank - k_reg), which penalizes the unlikely labels deep in the ranking and so
/// shrinks sets. The paper's defaults; select_raps_score picks both on a holdout as it does.
struct raps_score {
  static constexpr bool uses_rank = true;
  static constexpr bool monotone_in_mass = true;
  static constexpr bool monotone_in_probability = true;
  std::int32_t k_reg = 1;
  double lambda = 0.01;
  bool randomized = true;

  template <float_or_double T>
  TESSERA_HOST_DEVICE T value(T probability, label_standing<T> standing, T u) const {
    const std::int32_t excess = standing.rank > k_reg ? standing.rank - k_reg : 0;
    const T aps = tessera::detail::multiply_add(randomized ? u : T(1), probability, standing.mass_above);
    return tessera::detail::multiply_add(static_cast<T>(lambda), static_cast<T>(excess), aps);
  }

  /// Throws invalid_argument "<where>: k_reg = -1; expected >= 0" (and for lambda < 0 or NaN).
  void require_valid(std::string_view where) const {
    require(k_reg >= 0, where, "k_reg", k_reg, ">= 0");
    require(std::isfinite(lambda) && lambda >= 0, where, "lambda", lambda, "a finite number >= 0");
  }
};

/// Top-K (Angelopoulos et al. 2021): s = rank of y, so a set is the q most probable labels.
struct top_k_score {
  static constexpr bool uses_rank = true;
  static constexpr bool monotone_in_mass = true;
  static constexpr bool monotone_in_probability = true;

  template <float_or_double T>
  TESSERA_HOST_DEVICE constexpr T value(T, label_standing<T> standing, T) const {
    return static_cast<T>(standing.rank);
  }
};

namespace detail {

/// Validates the parameters of a score that has any (RAPS); the others have none to check.
template <class S>
void require_valid_score(const S& score, std::string_view where) {
  if constexpr (requires { score.require_valid(where); }) score.require_valid(where);
}

/// The sum of the probabilities of `labels`, in their order.
template <float_or_double T>
TESSERA_HOST_DEVICE constexpr T sum_of(std::span<const T> probabilities,
                                       std::span<const std::int32_t> labels) {
  T mass = 0;
  for (const std::int32_t label : labels) mass += probabilities[label];
  return mass;
}

/// The position in `order` of the median, in ranking order, of the labels at positions a, b, c.
template <float_or_double T>
TESSERA_HOST_DEVICE constexpr std::size_t median_of_three(std::span<const T> probabilities,
                                                          std::span<const std::int32_t> order, std::size_t a,
                                                          std::size_t b, std::size_t c) {
  const auto before = ranking_order(probabilities);
  if (before(order[a], order[b])) {
    if (before(order[b], order[c])) return b;
    return before(order[a], order[c]) ? c : a;
  }
  if (before(order[a], order[c])) return a;
  return before(order[b], order[c]) ? c : b;
}

/// Partitions order[first, last) around the label at position `pivot`: the labels that rank
/// before it, then it, then the others. Returns its new position. Branch-free (Lomuto's scheme
/// with an unconditional swap), since comparisons of a row's probabilities are unpredictable and a
/// mispredicted branch costs more than the swap. O(last - first).
template <float_or_double T>
TESSERA_HOST_DEVICE constexpr std::size_t partition_around(std::span<const T> probabilities,
                                                           std::span<std::int32_t> order, std::size_t first,
                                                           std::size_t last, std::size_t pivot) {
  std::swap(order[pivot], order[last - 1]);
  const std::int32_t label = order[last - 1];
  const T p = probabilities[label];
  // order[first, store) ranks before the pivot's label, order[store, read) after it.
  std::size_t store = first;
  for (std::size_t read = first; read + 1 < last; ++read) {
    const std::int32_t y = order[read];
    const T q = probabilities[y];
    const int before = static_cast<int>(q > p) | (static_cast<int>(q == p) & static_cast<int>(y < label));
    order[read] = order[store];
    order[store] = y;
    store += static_cast<std::size_t>(before);
  }
  std::swap(order[store], order[last - 1]);
  return store;
}

/// The labels of a row in ranking order, sorted only as far as they are asked for: an incremental
/// quicksort (Paredes and Navarro, "Optimal incremental sorting", ALENEX 2006). The block of
/// unsorted labels that holds the next position asked for is split by pivots (median of three)
/// until at most 16 labels are left before the nearest pivot, and those are sorted; the pivots,
/// each at its final position, bound the blocks still unsorted. Expected O(K + m log m) for the
/// first m positions; a block 2 log2 K partitions deep (unlucky pivots) is sorted outright, so
/// O(K log K) at worst. Allocates nothing: the state is the caller's order and at most 64 pivots.
template <float_or_double T>
class incremental_ranking {
 public:
  /// order: a permutation of the K labels, rearranged as positions are asked for.
  TESSERA_HOST_DEVICE constexpr incremental_ranking(std::span<const T> probabilities, std::span<std::int32_t> order)
      : probabilities_(probabilities),
        order_(order),
        deepest_(std::min(2 * static_cast<std::size_t>(std::bit_width(order.size())), std::size_t{most_pivots})) {}

  /// The label of rank position + 1. Positions are asked for in increasing order from 0, each
  /// after those before it; position < K.
  TESSERA_HOST_DEVICE constexpr std::int32_t at(std::size_t position) {
    if (position == sorted_) sort_next_block();
    return order_[position];
  }

 private:
  /// A label at its final position, placed by a partition of a block `level` partitions deep.
  struct pivot {
    std::size_t position;
    std::size_t level;
  };

  static constexpr std::size_t few = 16;
  static constexpr std::size_t most_pivots = 64;

  /// Sorts the block that starts at sorted_, up to the nearest pivot (or the row's end), after
  /// splitting off its tail by pivots until it is small; then passes the pivot that ends it.
  TESSERA_HOST_DEVICE constexpr void sort_next_block() {
    std::size_t end = pending_ > 0 ? pivots_[pending_ - 1].position : order_.size();
    while (end - sorted_ > few && level_ < deepest_) {
      const std::size_t middle = sorted_ + (end - sorted_) / 2;
      end = partition_around(probabilities_, order_, sorted_, end,
                             median_of_three(probabilities_, {order_}, sorted_, middle, end - 1));
      pivots_[pending_++] = {end, level_++};
    }
    const auto iterator_at = [&](std::size_t position) {
      return order_.begin() + static_cast<std::ptrdiff_t>(position);
    };
    std::sort(iterator_at(sorted_), iterator_at(end), ranking_order(probabilities_));
    sorted_ = end;
    if (pending_ > 0) {  // the pivot at `end` is in place; the block after it is one level below it
      const pivot next = pivots_[--pending_];
      sorted_ = next.position + 1;
      level_ = next.level + 1;
    }
  }

  std::span<const T> probabilities_;
  std::span<std::int32_t> order_;
  std::size_t deepest_;
  std::size_t sorted_ = 0;  // order_[0, sorted_) is in ranking order
  std::size_t level_ = 0;   // the partitions above the block that starts at sorted_
  // Pivots still ahead, the nearest last: their levels increase, so there are at most deepest_.
  pivot pivots_[most_pivots] = {};
  std::size_t pending_ = 0;
};

}  // namespace detail

/// The score of `label` in a row of K probabilities, with uniform u (ignored by deterministic
/// scores). scratch: at least K label indices, overwritten. Cost O(K + r log r), r the rank of
/// the label. Throws nothing; label in [0, K) and the scratch size are the caller's duty.
template <float_or_double T, classification_score<T> S>
TESSERA_HOST_DEVICE T score_of(const S& score, std::span<const T> probabilities, std::int32_t label,
                               T u, std::span<std::int32_t> scratch) {
  const T probability = probabilities[label];
  if constexpr (!S::uses_rank) {
    return score.value(probability, label_standing<T>{0, T(0)}, u);
  } else {
    // The labels ranked before `label`, summed from the most probable down as a set is built.
    std::size_t before = 0;
    const auto classes = static_cast<std::int32_t>(probabilities.size());
    for (std::int32_t j = 0; j < classes; ++j)
      if (detail::ranks_before(probabilities, j, label)) scratch[before++] = j;
    const auto ahead = scratch.first(before);
    std::sort(ahead.begin(), ahead.end(), detail::ranking_order(probabilities));
    const label_standing<T> standing{static_cast<std::int32_t>(before + 1),
                                     detail::sum_of(probabilities, std::span<const std::int32_t>(ahead))};
    return score.value(probability, standing, u);
  }
}

namespace detail {

/// An interval sure to hold a score.
template <float_or_double T>
struct score_interval {
  T low;
  T high;
};

/// An interval sure to hold score_of(score, probabilities, label, u), from one pass over the row
/// and no ranking: the labels ranked before `label` are counted and summed in another order than
/// the rank order, and rank_order_masses bounds the difference (detail/set_end_search.hpp). It is
/// a few ulps wide, and the exact score is wanted only where the interval cannot decide. O(K).
template <float_or_double T, mass_monotone_score<T> S>
score_interval<T> score_bounds(const S& score, std::span<const T> probabilities, std::int32_t label, T u) {
  const T p = probabilities[label];
  const tally<T> above = tally_at(probabilities, std::nextafter(p, std::numeric_limits<T>::infinity()));
  std::size_t ties = 0;  // equal probabilities of lower index rank before the label
  for (std::int32_t j = 0; j < label; ++j) ties += probabilities[j] == p ? 1 : 0;
  const std::size_t rank = above.count + ties + 1;
  const mass_interval<T> masses =
      rank_order_masses(rank, above.mass + static_cast<T>(ties) * p, tally_depth<T>(probabilities.size()) + 2);
  const auto rank_int = static_cast<std::int32_t>(rank);
  return {score.value(p, label_standing<T>{rank_int, masses.low}, u),
          score.value(p, label_standing<T>{rank_int, masses.high}, u)};
}

}  // namespace detail

/// The scores of all K labels of a row, with one uniform u for the row, into scores[0..K).
/// scratch: at least K label indices. Cost O(K log K) (O(K) for a score without rank).
/// Throws nothing; the sizes are the caller's duty.
template <float_or_double T, classification_score<T> S>
TESSERA_HOST_DEVICE void fill_scores(const S& score, std::span<const T> probabilities, T u,
                                     std::span<std::int32_t> scratch, std::span<T> scores) {
  const auto classes = static_cast<std::int32_t>(probabilities.size());
  if constexpr (!S::uses_rank) {
    for (std::int32_t y = 0; y < classes; ++y)
      scores[y] = score.value(probabilities[y], label_standing<T>{0, T(0)}, u);
  } else {
    const auto order = scratch.first(probabilities.size());
    for (std::int32_t y = 0; y < classes; ++y) order[y] = y;
    std::sort(order.begin(), order.end(), detail::ranking_order(probabilities));
    T mass = 0;
    for (std::int32_t r = 0; r < classes; ++r) {
      const std::int32_t y = order[r];
      scores[y] = score.value(probabilities[y], label_standing<T>{r + 1, mass}, u);
      mass += probabilities[y];
    }
  }
}

/// Where the previous rows' prediction sets ended, for fill_prediction_set: keep one per thread
/// across the rows of a batch (detail/set_end_hint.hpp).
using detail::set_end_hint;

/// The prediction set {y : score(y) <= threshold} of a row, with one uniform u for the row:
/// in_set[y] for y < K. Returns the set size. scratch: at least K label indices. hint: where the
/// previous rows' sets ended, updated with this one's; it speeds the search of rows that end
/// alike (those of one classifier) and never changes the set.
/// Cost O(K) per pass of the certified search, a few passes (mass-monotone scores); otherwise, or
/// when the search cannot decide, O(K + m log m) expected for a set of m labels: only the labels
/// up to the set's end are sorted (the top of this header); O(K log K) at worst; O(K) for a score
/// without rank. A threshold of +inf gives all labels. Throws nothing; the sizes are the caller's
/// duty.
template <float_or_double T, classification_score<T> S>
TESSERA_HOST_DEVICE std::size_t fill_prediction_set(const S& score, std::span<const T> probabilities,
                                                     T threshold, T u,
                                                     std::span<std::int32_t> scratch,
                                                     std::span<bool> in_set, set_end_hint<T>& hint) {
  const auto classes = static_cast<std::int32_t>(probabilities.size());
  std::size_t size = 0;
  if constexpr (!S::uses_rank) {
    for (std::int32_t y = 0; y < classes; ++y) {
      in_set[y] = score.value(probabilities[y], label_standing<T>{0, T(0)}, u) <= threshold;
      size += in_set[y] ? 1 : 0;
    }
    return size;
  } else {
#if !defined(__CUDA_ARCH__)  // the search is host code (vector extensions); devices have their own
    if constexpr (mass_monotone_score<S, T>) {
      const auto score_at = [&](T p, std::int32_t rank, T mass_above) {
        return score.value(p, label_standing<T>{rank, mass_above}, u);
      };
      const auto end = detail::search_set_end(score_at, probabilities, threshold, scratch, hint);
      if (end.certified) {
        detail::mark_set(probabilities, end, in_set);
        return end.size;
      }
    }
#endif
    for (std::int32_t y = 0; y < classes; ++y) in_set[y] = false;
    const auto order = scratch.first(probabilities.size());
    for (std::int32_t y = 0; y < classes; ++y) order[y] = y;
    detail::incremental_ranking<T> ranking(probabilities, order);
    T mass = 0;
    for (; size < order.size(); ++size) {
      const std::int32_t y = ranking.at(size);
      const label_standing<T> standing{static_cast<std::int32_t>(size + 1), mass};
      if (!(score.value(probabilities[y], standing, u) <= threshold)) break;
      in_set[y] = true;
      mass += probabilities[y];
    }
    return size;
  }
}

/// fill_prediction_set for one row, without a hint.
template <float_or_double T, classification_score<T> S>
TESSERA_HOST_DEVICE std::size_t fill_prediction_set(const S& score, std::span<const T> probabilities,
                                                     T threshold, T u,
                                                     std::span<std::int32_t> scratch,
                                                     std::span<bool> in_set) {
  set_end_hint<T> hint;
  return fill_prediction_set(score, probabilities, threshold, u, scratch, in_set, hint);
}

}  // namespace tessera::conformal
