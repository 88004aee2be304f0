#pragma once
// Internals of classification_score.hpp: where the prediction set of a ranked score ends in one
// row, found on the host without ranking the row, and certified to be where the rank-order sums
// put it.
//
// The set of a ranked score is the prefix of the ranking (descending probability, ties to the
// lower label index) that ends before the first label whose score exceeds q: the scores never
// decrease along the ranking. The search keeps the candidates, the labels of probability in
// [low, high], known to hold that end or to be followed by it:
//  * The labels above `high` are admitted; the first label below `low` (first_out) is refused.
//  * A step takes a pivot t in (low, high] and makes one pass over the row: the count and mass of
//    the labels >= t and the largest probability below t, b. The first label of probability b
//    ranks right after the counted ones, which are exactly those ranked before it, so its score
//    is known. Admitted: so is every label above it, and the candidates shrink to [low, b].
//    Refused: so is every label after it, and they shrink to [t, high], b the new first_out.
//  * With at most `gathered_candidates` left (or one probability left), they are gathered, sorted
//    by the ranking and scored in turn, their masses added to the mass above `high`.
// The pivot is the middle of the candidates' bit patterns (which order as the values do), except
// for the first two steps of a row when the previous rows of its batch ended close together:
// those bracket where they ended (detail/set_end_hint.hpp), which leaves rows alike with a few
// tens of candidates after two passes, where halving takes about seven. The pivots change how
// many passes a row takes, never the set. Each pass is a loop over vector registers
// (detail/vector_lanes.hpp), with no branch per label.
//
// The masses are summed in T in vector lanes, not in rank order as the scores are defined. Each
// decision is therefore certified: with O our sum of the n masses ranked before a label and R the
// rank-order sum, |R - O| <= B = 1.1 (n - 1 + d) u O (u the unit roundoff of T), where d bounds
// the additions a mass goes through in our sum (standard bounds for sums of non-negative terms,
// Higham, "Accuracy and Stability of Numerical Algorithms", 2002, section 4.2). The score is
// monotone in the mass (rounding is monotone), so score(O + 2B) <= q proves the label admitted and
// score(O - 2B) > q proves it refused (2B also covers the rounding of O +- 2B to T). Otherwise the
// search gives up and the caller ranks the row as before: rows whose end falls within about
// 2 (n + d) u of q, which continuous scores seldom do (dyadic rows and thresholds set to a score
// do, and tests/conformal/classification_score_test.cpp aims at them).

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>

#include "tessera/conformal/detail/set_end_hint.hpp"
#include "tessera/conformal/detail/vector_lanes.hpp"
#include "tessera/core/concepts.hpp"
#include "tessera/core/config.hpp"

namespace tessera::conformal::detail {

/// Whether label a ranks before label b in the row: higher probability first, then lower index.
template <float_or_double T>
TESSERA_HOST_DEVICE constexpr bool ranks_before(std::span<const T> probabilities, std::int32_t a,
                                                std::int32_t b) {
  return probabilities[a] > probabilities[b] || (probabilities[a] == probabilities[b] && a < b);
}

/// ranks_before as a comparator for std::sort: the most probable label first.
template <float_or_double T>
TESSERA_HOST_DEVICE constexpr auto ranking_order(std::span<const T> probabilities) {
  return [probabilities](std::int32_t a, std::int32_t b) { return ranks_before(probabilities, a, b); };
}

/// Where a set ends: it holds the `size` labels ranked before (probability, label); label = -1
/// stands for the first label of that probability, and probability -1 for the end of the row.
/// certified = false: the search gave up, the other fields mean nothing.
template <float_or_double T>
struct certified_set_end {
  bool certified;
  std::size_t size;
  T probability;
  std::int32_t label;
};

/// What the search decides about one label.
enum class label_verdict { admitted, refused, undecided };

/// The additions our sums take each mass through, at most, for a row of K labels: a lane of one
/// of two interleaved vector accumulators, the tail, and the reduction of the lanes.
template <float_or_double T>
constexpr std::size_t tally_depth(std::size_t classes) {
  return classes / (2 * vector_of<T>::lanes) + 4 * vector_of<T>::lanes + 8;
}

/// An interval of masses sure to hold the rank-order sum in T of a label's predecessors.
template <float_or_double T>
struct mass_interval {
  T low;
  T high;
};

/// The masses a label of rank `rank` (from 1) may have above it in rank order, given `mass`, our
/// sum in T of the same labels, which took each through at most `depth` additions: mass -+ 2B
/// (top of this header). O(1).
template <float_or_double T>
mass_interval<T> rank_order_masses(std::size_t rank, T mass, std::size_t depth) {
  constexpr T unit = std::numeric_limits<T>::epsilon() / 2;
  const std::size_t predecessors = rank - 1;
  const T additions = static_cast<T>(std::max<std::size_t>(predecessors, 1) - 1 + depth);
  const T bound = T(1.1) * additions * unit * mass;
  return {std::max(mass - 2 * bound, T(0)), mass + 2 * bound};
}

/// The verdict on a label of probability p and rank `rank` whose predecessors have mass `mass` by
/// our sum (see rank_order_masses). score_at(p, rank, m) is the score with mass above m. O(1).
template <float_or_double T, class ScoreAt>
label_verdict certify(const ScoreAt& score_at, T p, std::size_t rank, T mass, std::size_t depth, T q) {
  const mass_interval<T> masses = rank_order_masses(rank, mass, depth);
  const auto rank_int = static_cast<std::int32_t>(rank);
  if (score_at(p, rank_int, masses.high) <= q) return label_verdict::admitted;
  if (!(score_at(p, rank_int, masses.low) <= q)) return label_verdict::refused;
  return label_verdict::undecided;
}

/// One pass over a row at a pivot t: the count and mass of the labels of probability >= t, and
/// the largest probability below t (-1 when there is none).
template <float_or_double T>
struct tally {
  std::size_t count;
  T mass;
  T largest_below;
};

/// The tally of `row` (finite values >= 0) at t > 0, in two interleaved vector accumulators.
/// O(K), branch-free.
template <float_or_double T>
tally<T> tally_at(std::span<const T> row, T t) {
  using V = typename vector_of<T>::type;
  constexpr std::size_t lanes = vector_of<T>::lanes;
  const V pivot = V{} + t;
  V mass[2] = {}, count[2] = {}, below[2] = {V{} - 1, V{} - 1};
  const std::size_t whole = row.size() - row.size() % (2 * lanes);
  for (std::size_t j = 0; j < whole; j += 2 * lanes)
    for (std::size_t h = 0; h < 2; ++h) {
      const V p = load_vector(row.data() + j + h * lanes);
      const auto kept = p >= pivot;
      mass[h] += kept ? p : V{};
      count[h] += kept ? V{} + 1 : V{};
      const V candidate = kept ? below[h] : p;
      below[h] = below[h] > candidate ? below[h] : candidate;
    }
  tally<T> result{0, T(0), T(-1)};
  const V masses = mass[0] + mass[1], counts = count[0] + count[1];
  for (std::size_t l = 0; l < lanes; ++l) {
    result.mass += masses[l];
    result.count += static_cast<std::size_t>(counts[l]);
    result.largest_below = std::max({result.largest_below, below[0][l], below[1][l]});
  }
  for (std::size_t j = whole; j < row.size(); ++j) {
    const T p = row[j];
    if (p >= t) {
      result.mass += p;
      ++result.count;
    } else {
      result.largest_below = std::max(result.largest_below, p);
    }
  }
  return result;
}

/// The smallest and largest probability of a row (+0 for -0), and whether every entry is finite
/// and >= 0.
template <float_or_double T>
struct probability_range {
  T lowest;
  T highest;
  bool valid;
};

/// range_of(row) in one branch-free pass. O(K).
template <float_or_double T>
probability_range<T> range_of(std::span<const T> row) {
  using V = typename vector_of<T>::type;
  constexpr std::size_t lanes = vector_of<T>::lanes;
  constexpr T largest = std::numeric_limits<T>::max();
  V lowest = V{} + largest, highest = V{};
  auto valid = V{} == V{};  // all lanes true
  const std::size_t whole = row.size() - row.size() % lanes;
  for (std::size_t j = 0; j < whole; j += lanes) {
    const V p = load_vector(row.data() + j) + T(0);  // + 0 turns -0 into +0 for the bit patterns
    valid &= (p >= T(0)) & (p <= largest);         // NaN fails both
    lowest = p < lowest ? p : lowest;
    highest = p > highest ? p : highest;
  }
  probability_range<T> range{largest, T(0), true};
  for (std::size_t l = 0; l < lanes; ++l) {
    range.lowest = std::min(range.lowest, lowest[l]);
    range.highest = std::max(range.highest, highest[l]);
    range.valid &= valid[l] != 0;
  }
  for (std::size_t j = whole; j < row.size(); ++j) {
    const T p = row[j] + T(0);
    range.valid &= p >= T(0) && p <= largest;
    range.lowest = std::min(range.lowest, p);
    range.highest = std::max(range.highest, p);
  }
  return range;
}

/// in_set[j] for every label j: whether it ranks before the end (p_j > end.probability, or equal
/// and j < end.label). One compare per label (a loop compilers vectorize), then the labels tied
/// with the end's probability, when some rank before it. O(K).
template <float_or_double T>
void mark_set(std::span<const T> row, const certified_set_end<T>& end, std::span<bool> in_set) {
  for (std::size_t j = 0; j < row.size(); ++j) in_set[j] = row[j] > end.probability;
  for (std::int32_t y = 0; y < end.label; ++y) in_set[y] = in_set[y] || row[y] == end.probability;
}

/// Writes the labels of probability in [low, high] to `labels` in index order; returns their
/// number. Per 16 labels (one register of floats, two of doubles with AVX-512) the compares, their
/// lane mask and one branch-free compaction of 16 indices (a block holding a candidate is too rare
/// to predict, and branching on it cost three times a tally pass; compacting a register of
/// doubles at a time cost 1.3 times a tally pass). O(K).
template <float_or_double T>
std::size_t gather_between(std::span<const T> row, T low, T high, std::span<std::int32_t> labels) {
  using V = typename vector_of<T>::type;
  constexpr std::size_t lanes = vector_of<T>::lanes, step = lanes > 16 ? lanes : 16;
  const V lower = V{} + low, upper = V{} + high;
  std::size_t gathered = 0;
  // compress_lane_indices stores `step` values at labels[gathered], and gathered <= j: the steps
  // that end at least that far before the row's end stay within its K slots.
  std::size_t j = 0;
  for (; j + step <= row.size(); j += step) {
    unsigned inside = 0;
    for (std::size_t r = 0; r < step / lanes; ++r)
      inside |= bits_between<T>(load_vector(row.data() + j + r * lanes), lower, upper) << (r * lanes);
    gathered += compress_lane_indices<step>(inside, static_cast<std::int32_t>(j), labels.data() + gathered);
  }
  for (; j < row.size(); ++j) {
    labels[gathered] = static_cast<std::int32_t>(j);
    gathered += row[j] >= low && row[j] <= high ? 1 : 0;
  }
  return gathered;
}

/// A probability strictly above low and at most high (low < high, both >= 0, not -0): the middle
/// of their bit patterns (which order as the values do), halving the patterns still open.
template <float_or_double T>
T pivot_between(T low, T high) {
  using bits = tessera::bits_of<T>;
  const bits a = std::bit_cast<bits>(low), b = std::bit_cast<bits>(high);
  return std::bit_cast<T>(static_cast<bits>(a + (b - a + 1) / 2));
}

/// The most candidates gathered and sorted at the end of the search.
inline constexpr std::size_t gathered_candidates = 32;

/// Puts the c <= gathered_candidates labels of `labels`, given in index order, into ranking
/// order: each label's place is the number of labels ranked before it (of higher probability,
/// or of equal probability and earlier in the input), counted against all slots a vector
/// register at a time. No comparison branches, where std::sort's mispredicted ones cost about a
/// tenth of an APS row. O(c gathered_candidates / lanes).
template <float_or_double T>
void rank_gathered(std::span<const T> row, std::span<std::int32_t> labels) {
  using V = typename vector_of<T>::type;
  constexpr std::size_t lanes = vector_of<T>::lanes;
  static_assert(gathered_candidates % lanes == 0 && lanes < 32);
  T probability[gathered_candidates];  // empty slots hold -1, which ranks after every p >= 0
  for (std::size_t i = 0; i < gathered_candidates; ++i) probability[i] = i < labels.size() ? row[labels[i]] : T(-1);
  std::int32_t ranked[gathered_candidates];
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const V p = V{} + probability[i];
    std::size_t before = 0;
    for (std::size_t j = 0; j < gathered_candidates; j += lanes) {
      const V other = load_vector(probability + j);
      // Lanes of slots before i, for the ties: all when the register ends before i.
      const unsigned earlier = i >= j + lanes ? (1u << lanes) - 1 : i > j ? (1u << (i - j)) - 1 : 0u;
      before += static_cast<std::size_t>(std::popcount(lane_bits<T>(other > p)) +
                                         std::popcount(lane_bits<T>(other == p) & earlier));
    }
    ranked[before] = labels[i];
  }
  std::copy_n(ranked, labels.size(), labels.begin());
}

/// search_set_end without updating the hint.
template <float_or_double T, class ScoreAt>
certified_set_end<T> search_from_hint(const ScoreAt& score_at, std::span<const T> row, T q,
                                      std::span<std::int32_t> scratch, const set_end_hint<T>& hint) {
  constexpr certified_set_end<T> gave_up{false, 0, T(0), 0};
  const std::size_t classes = row.size();
  const probability_range<T> range = range_of(row);
  if (!range.valid) return gave_up;
  const std::size_t depth = tally_depth<T>(classes);
  // Candidates: probabilities in [low, high]; low_count labels are >= low, above_count > high.
  T low = range.lowest, high = range.highest;
  std::size_t low_count = classes, above_count = 0;
  T above_mass = 0;
  certified_set_end<T> first_out{true, 0, T(-1), -1};  // the end of the row
  const end_bracket<T> bracket = hint.bracket(low, high);
  for (unsigned step = 0; low_count - above_count > gathered_candidates && low < high; ++step) {
    T t = pivot_between(low, high);
    if (bracket.usable && step < 2) {
      const T guess = step == 0 ? bracket.center : high < bracket.center ? bracket.below : bracket.above;
      if (guess > low && guess <= high) t = guess;
    }
    const tally<T> at = tally_at(row, t);
    if (at.largest_below >= low) {  // a candidate is below t: score the first of its probability
      switch (certify(score_at, at.largest_below, at.count + 1, at.mass, depth, q)) {
        case label_verdict::admitted:
          high = at.largest_below;
          above_count = at.count;
          above_mass = at.mass;
          continue;
        case label_verdict::refused:
          first_out = {true, at.count, at.largest_below, -1};
          break;
        case label_verdict::undecided:
          return gave_up;
      }
    }
    low = t;  // no candidate in [low, t), or the first below t is refused
    low_count = at.count;
  }
  // Gather the candidates, rank them and score them in turn after the labels above high.
  const std::size_t gathered = gather_between(row, low, high, scratch);
  const auto candidates = scratch.first(gathered);
  // More than gathered_candidates only when they share one probability: index order is then
  // their ranking.
  if (gathered <= gathered_candidates) rank_gathered(row, candidates);
  T mass = above_mass;
  for (std::size_t i = 0; i < gathered; ++i) {
    const std::int32_t y = candidates[i];
    const T p = row[y];
    switch (certify(score_at, p, above_count + i + 1, mass, depth + i, q)) {
      case label_verdict::admitted:
        mass += p;
        break;
      case label_verdict::refused:  // -1 unless admitted candidates share its probability
        return {true, above_count + i, p, i > 0 && row[candidates[i - 1]] == p ? y : -1};
      case label_verdict::undecided:
        return gave_up;
    }
  }
  first_out.size = above_count + gathered;  // every candidate admitted: the end is first_out
  return first_out;
}

/// Where the set of `row` ends for a score that never decreases in the mass above a label (see
/// the top of this header): score_at(p, rank, mass_above) -> T, threshold q. scratch: at least K
/// label indices. hint: where the previous rows' sets ended; updated with this row's end.
/// certified = false when a decision was too close to call or the row is not made of finite
/// probabilities >= 0. O(K) per pass, at most two passes more than one per bit of the
/// probabilities (64); softmax rows take about seven by halving, two or three from a good hint;
/// then O(c log c) for the c <= 32 candidates left (more only when they all share one
/// probability).
template <float_or_double T, class ScoreAt>
certified_set_end<T> search_set_end(const ScoreAt& score_at, std::span<const T> row, T q,
                                    std::span<std::int32_t> scratch, set_end_hint<T>& hint) {
  const certified_set_end<T> end = search_from_hint(score_at, row, q, scratch, hint);
  if (end.certified) hint.record(end.probability);
  return end;
}

}  // namespace tessera::conformal::detail
