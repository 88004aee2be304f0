#pragma once
// Internals of the conformal CUDA backend: where the prediction set of a ranked score (APS, RAPS,
// Top-K) ends in one row, found by one warp without sorting the row.
//
// The set is the prefix of the ranking (descending probability, ties to the lower label index)
// that ends before the first label whose score exceeds q, the "end"; the scores never decrease
// along the ranking. The warp keeps an interval [low, high] of rank keys, the candidates, known
// to hold the end (or to be followed by it), and splits it:
//  * A step takes the middle key of [low, high] as the pivot. One pass over the row counts the
//    labels of keys >= the pivot, sums their mass and finds the highest key below it: three warp
//    reductions, no shared memory, and four and a half instructions per label, none a branch,
//    since the pass does not ask which labels are candidates: the labels of keys above `high`
//    are ranked before the candidates and belong to both tallies. The first label below the pivot
//    is scored exactly (the labels ranked before it are those counted, and their mass is the
//    sum). If it is admitted, so is every candidate above the pivot: the candidates shrink to the
//    keys below it. Otherwise the end is above the pivot or is that label: the candidates shrink
//    to the keys above, and that label is the end should every candidate be admitted.
//  * The keys are first the probabilities' leading bits (warp_row.cuh), which order as the values
//    do, so a step halves the range of bits still open; once every candidate has the same key,
//    the rest of a double's bits; once every candidate has the same probability, their labels.
//    A float's key is its whole pattern. A double's first key is its high word, compared in one
//    32-bit instruction instead of two, which halves the work per label of a double row; the
//    probability of the first label below the pivot is then known to lie between the smallest and
//    the largest double of its key, and scoring both ends decides the step (the scores of APS,
//    RAPS and Top-K never decrease as the probability grows) unless q falls between them, about
//    2^-20 of the label's u p, when one more pass finds that label.
//  * With at most 32 candidates left, they are gathered one per lane, sorted by a bitonic network,
//    their masses summed by a scan and scored: the set ends at the first that fails.
// Rows of softmax outputs take about five steps (two to eight). The only shared memory is the 32
// slots of the gather. Every decision is warp-uniform and the per-label work is branch-free.
//
// Every sum is over the same labels as the host's, in another order (butterflies and scans); see
// classification.cuh for the agreement with the host that this gives.

#include <bit>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "tessera/conformal/classification_score.hpp"
#include "tessera/conformal/cuda/detail/warp.cuh"
#include "tessera/conformal/cuda/detail/warp_row.cuh"
#include "tessera/core/concepts.hpp"

namespace tessera::conformal::detail {

/// A label and its probability, compared as the ranking compares them.
template <float_or_double T>
struct ranked_label {
  T probability;
  std::int32_t label;
};

/// Whether a ranks before b: higher probability first, then the lower label index (the host's
/// detail::ranks_before). Bitwise operators, not && and ||: no branch per label.
template <float_or_double T>
__device__ bool ranks_before(const ranked_label<T>& a, const ranked_label<T>& b) {
  return (a.probability > b.probability) | ((a.probability == b.probability) & (a.label < b.label));
}

/// The bits of a probability p >= 0, which order as the values do. p must not be -0: the rows
/// of warp_row.cuh hand out p + 0 (so that equal probabilities have equal bits), which spares an
/// addition here in every pass.
template <float_or_double T>
__device__ probability_bits<T> bits_of(T p) {
  return std::bit_cast<probability_bits<T>>(p);
}

/// The leading bits of +infinity: an entry p (with -0 turned into +0) is finite and >= 0 exactly
/// when its leading bits are below these, as negative values and NaNs have larger ones (the
/// trailing bits of +infinity are zero).
template <float_or_double T>
inline constexpr std::uint32_t infinity_leading_bits = static_cast<std::uint32_t>(
    std::bit_cast<probability_bits<T>>(std::numeric_limits<T>::infinity()) >> trailing_bit_count<T>);

/// Where the set of a row ends: it holds the labels ranked before `first_out`.
template <float_or_double T>
struct set_end {
  ranked_label<T> first_out;

  /// The end of a set that holds every label: a label ranked after all (probabilities are >= 0).
  __device__ static set_end whole_row() { return {{T(-1), std::numeric_limits<std::int32_t>::max()}}; }

  __device__ bool contains(const ranked_label<T>& e) const { return ranks_before(e, first_out); }
};

/// The mask byte of a label for a set that ends at `end`: 1 when the label ranks before it.
/// When no label of the end's probability ranks before it (its label is 0, or it is the end of
/// the whole row: by_probability()), the byte depends on the probability alone: above(p). For
/// float that is the sign of a 32-bit difference of bit patterns, a subtraction and a shift per
/// label (the integer pipe bounds the set kernel); for double one compare. Otherwise the
/// ranking's full order: for float the sign of end key - key, the 64-bit key being (probability
/// bits, complemented label); for double the comparison.
template <float_or_double T>
class set_membership {
 public:
  __device__ explicit set_membership(const set_end<T>& end)
      : end_(end),
        end_key_(sizeof(T) == 4 && end.first_out.probability >= 0 ? key_of(end.first_out) : 0),
        // +0 <= p <= +inf have bits up to 0x7f800000: end bits - bits is negative exactly when
        // p is above the end, and all ones puts every p above the end of the whole row.
        end_bits_(end.first_out.probability >= 0
                      ? std::bit_cast<std::uint32_t>(static_cast<float>(end.first_out.probability))
                      : ~std::uint32_t{0}) {}

  __device__ bool by_probability() const { return end_.first_out.label == 0 || end_.first_out.probability < 0; }

  /// The byte of a label of probability p when by_probability().
  __device__ std::uint8_t above(T p) const {
    if constexpr (sizeof(T) == 4)
      return static_cast<std::uint8_t>((end_bits_ - std::bit_cast<std::uint32_t>(p)) >> 31);
    else
      return p > end_.first_out.probability ? 1 : 0;
  }

  __device__ std::uint8_t operator()(T p, std::int32_t label) const {
    if constexpr (sizeof(T) == 4)
      return static_cast<std::uint8_t>((end_key_ - key_of(ranked_label<T>{p, label})) >> 63);
    else
      return end_.contains(ranked_label<T>{p, label}) ? 1 : 0;
  }

 private:
  /// Larger for labels ranked first; below 2^63, as probabilities are >= 0. The end of a whole
  /// row (probability -1) has key 0, below every label's.
  __device__ static std::uint64_t key_of(const ranked_label<T>& e) {
    return std::uint64_t{std::bit_cast<std::uint32_t>(static_cast<float>(e.probability))} << 32 |
           static_cast<std::uint32_t>(~e.label);
  }

  set_end<T> end_;          ///< what a double row compares with
  std::uint64_t end_key_;   ///< what a float row compares with in the full order
  std::uint32_t end_bits_;  ///< what a float row compares with by probability
};

/// The score rule of one row: whether the label of probability p, at `rank` with `mass_above`
/// before it, has a score <= the threshold.
template <float_or_double T, class S>
struct row_rule {
  S score;
  T threshold;
  T u;

  __device__ bool admits(T probability, std::int32_t rank, T mass_above) const {
    return score.value(probability, label_standing<T>{rank, mass_above}, u) <= threshold;
  }
};

// Rank keys: a larger key ranks first, and the eligible labels of one key rank together. Each
// kind says whether its keys are `exact` (the labels of a key share one probability), whether
// the labels of one probability are `candidates_together` (all candidates or none: equal
// probabilities have equal keys and are equally eligible), and gives first_of(k): for exact keys
// the first label of key k; otherwise a place in the ranking after every label of a higher key
// and no later than the first label of key k, whose probability is the largest of the key (and
// lowest_probability(k) the smallest).

/// Keys while the candidates span several probabilities: the leading bits (warp_row.cuh). Every
/// label is eligible. Exact for float; a double's key is its high word.
template <float_or_double T>
struct probability_keys {
  using key = std::uint32_t;
  static constexpr bool exact = trailing_bit_count<T> == 0;
  static constexpr bool candidates_together = true;

  __device__ key of(T p, std::int32_t) const { return leading_bits(p); }

  /// Every label, and the padding slots past the row's end too: they hold +0, whose key 0 is
  /// below every pivot (pivots exceed `low` >= 0) and no higher than any real key, so they
  /// change no tally.
  __device__ bool eligible(T, bool) const { return true; }

  /// The largest probability of key k and label 0: no label of key k ranks before it.
  __device__ ranked_label<T> first_of(key k) const {
    constexpr probability_bits<T> trailing = (probability_bits<T>{1} << trailing_bit_count<T>) - 1;
    return {std::bit_cast<T>(probability_bits<T>{k} << trailing_bit_count<T> | trailing), 0};
  }

  __device__ T lowest_probability(key k) const {
    return std::bit_cast<T>(probability_bits<T>{k} << trailing_bit_count<T>);
  }
};

/// Keys once the candidates of a double row share one high word `leading`: the low word. Only the
/// labels of that high word are eligible.
struct trailing_word_keys {
  using key = std::uint32_t;
  static constexpr bool exact = true;
  static constexpr bool candidates_together = true;
  std::uint32_t leading;

  __device__ key of(double p, std::int32_t) const { return static_cast<key>(bits_of(p)); }
  __device__ bool eligible(double p, bool valid) const { return valid & (leading_bits(p) == leading); }
  __device__ ranked_label<double> first_of(key k) const {
    return {std::bit_cast<double>(std::uint64_t{leading} << 32 | k), 0};
  }
};

/// Keys once the candidates share one probability (bits `tie`): the complemented labels, so that
/// the lower label has the larger key. Only the labels of that probability are eligible.
template <float_or_double T>
struct tied_label_keys {
  using key = std::uint32_t;
  static constexpr bool exact = true;
  /// A range of labels may start inside a run of equal probabilities.
  static constexpr bool candidates_together = false;
  probability_bits<T> tie;

  __device__ key of(T, std::int32_t label) const { return ~static_cast<key>(label); }
  __device__ bool eligible(T p, bool valid) const { return valid & (bits_of(p) == tie); }
  __device__ ranked_label<T> first_of(key k) const {
    return {std::bit_cast<T>(tie), static_cast<std::int32_t>(~k)};
  }
};

/// The labels that may still hold the end of the set: the eligible labels with keys in
/// [low, high], `count` of them. The `rank_offset` labels of mass `mass_offset` ranked before
/// them are in the set, and so are the `base_rank` labels of mass `base_mass` ranked before every
/// eligible label; `end` is the label that follows the candidates, where the set ends should every
/// candidate be admitted. While count > 0, low <= high.
template <float_or_double T, class Keys>
struct candidate_range {
  Keys keys;
  typename Keys::key low;
  typename Keys::key high;
  std::int32_t count;
  std::int32_t rank_offset;
  T mass_offset;
  std::int32_t base_rank;
  T base_mass;
  set_end<T> end;

  /// Whether the label of probability p and key k is a candidate (never a padding slot).
  __device__ bool holds(typename Keys::key k, T p, bool valid) const {
    return valid & keys.eligible(p, valid) & (k - low <= high - low);
  }
};

/// The tallies of the eligible labels split at a pivot key: the count and mass of those with
/// keys >= the pivot, and the highest key below the pivot (0 when none).
template <float_or_double T, class Key>
struct split_tally {
  std::int32_t upper_count;
  T upper_mass;
  Key lower_highest;
};

/// mass + p when `add`, else mass, bit for bit. For float a predicated add. For double a fused
/// multiply-add by 1 or 0: the select then sets the high word of that factor alone (its low word
/// is 0 either way), one instruction where nvcc selects both words of a sum computed anyway.
template <float_or_double T>
__device__ T add_if(bool add, T mass, T p) {
  if constexpr (sizeof(T) == 8) {
    return fma(p, add ? 1.0 : 0.0, mass);
  } else {
    return add ? mass + p : mass;
  }
}

/// One pass over the row: the tallies of the split at `pivot`, the same on all lanes. Written so
/// that the compiler emits a compare, two predicated float adds, a select and half a three-input
/// max per label: the integer pipe, which bounds the kernel, sees two and a half of them (for
/// double, add_if's select and fma and a register move every other label besides: six in all).
template <float_or_double T, class Keys, class Row>
__device__ split_tally<T, typename Keys::key> tally_split(const Row& row, const Keys& keys,
                                                          typename Keys::key pivot) {
  using key = typename Keys::key;
  float count = 0;  // exact below 2^24; a predicated float add, where an integer one takes two
  T mass = 0;
  key lower_highest = 0;
  row.for_each([&](T p, std::int32_t j, bool valid) {
    const key k = keys.of(p, j);
    if (!keys.eligible(p, valid)) return;
    const bool upper = k >= pivot;
    if (upper) count += 1;
    mass = add_if(upper, mass, p);
    lower_highest = max(lower_highest, upper ? key(0) : k);  // three-input max over label pairs
  });
  return {warp_sum(static_cast<std::int32_t>(count)), group_sum(mass, 32), warp_max(lower_highest)};
}

/// The largest probability among the eligible labels of key k (one pass; the labels' largest
/// bits, 0 when none).
template <float_or_double T, class Keys, class Row>
__device__ T largest_probability_of_key(const Row& row, const Keys& keys, typename Keys::key k) {
  probability_bits<T> largest = 0;
  row.for_each([&](T p, std::int32_t j, bool valid) {
    const bool of_key = keys.eligible(p, valid) & (keys.of(p, j) == k);
    largest = max(largest, of_key ? bits_of(p) : probability_bits<T>{0});
  });
  return std::bit_cast<T>(warp_max(largest));
}

/// Whether the first label of key k, at `rank` after labels of mass `mass`, is admitted. Exact
/// keys know its probability. Otherwise it lies between the key's smallest and largest
/// probability: a score that never decreases as the probability grows is decided by those two
/// ends unless they disagree, and then (or for other scores) one more pass finds the label.
template <float_or_double T, class S, class Keys, class Row>
__device__ bool admits_first_of_key(const row_rule<T, S>& rule, const Row& row, const Keys& keys,
                                    typename Keys::key k, std::int32_t rank, T mass) {
  const T largest = keys.first_of(k).probability;
  if constexpr (Keys::exact) {
    return rule.admits(largest, rank, mass);
  } else {
    if constexpr (probability_monotone_score<S, T>) {
      if (rule.admits(largest, rank, mass)) return true;
      if (!rule.admits(keys.lowest_probability(k), rank, mass)) return false;
    }
    return rule.admits(largest_probability_of_key<T>(row, keys, k), rank, mass);
  }
}

/// One step (count > 0 and low < high): splits the candidates at their middle key and keeps the
/// part that holds the end; a part found empty only narrows [low, high]. The upper part keeps the
/// pivot as its low end, which need not be a key of a label (finding the lowest key there would
/// cost an instruction per label, and saved no steps on softmax rows). Warp-uniform: every lane
/// takes the same decisions.
template <float_or_double T, class S, class Keys, class Row>
__device__ void split(const row_rule<T, S>& rule, const Row& row, candidate_range<T, Keys>& range) {
  // low + ceil((high - low) / 2), in (low, high], without overflow when the range spans every key.
  const typename Keys::key pivot = range.high - (range.high - range.low) / 2;
  const auto tally = tally_split<T>(row, range.keys, pivot);
  // Candidates at or above the pivot: the tally also counts every label ranked before them.
  const std::int32_t upper = range.base_rank + tally.upper_count - range.rank_offset;
  if (upper == 0) {
    range.high = tally.lower_highest;
    return;
  }
  if (upper == range.count) {
    range.low = pivot;
    return;
  }
  const std::int32_t rank = range.base_rank + tally.upper_count + 1;
  const T mass = range.base_mass + tally.upper_mass;
  if (admits_first_of_key(rule, row, range.keys, tally.lower_highest, rank, mass)) {
    range.high = tally.lower_highest;
    range.count -= upper;
    range.rank_offset = rank - 1;
    range.mass_offset = mass;
  } else {
    range.low = pivot;
    range.count = upper;
    range.end = set_end<T>{range.keys.first_of(tally.lower_highest)};
  }
}

/// The last <= 32 candidates, one per lane.
template <float_or_double T>
struct candidate_slots {
  ranked_label<T> label[32];
};

/// Sorts 32 labels, one per lane, into ranking order (lane 0 first) with a bitonic network.
template <float_or_double T>
__device__ ranked_label<T> warp_sort_by_rank(ranked_label<T> mine, unsigned lane) {
  for (unsigned size = 2; size <= 32; size *= 2) {
    for (unsigned stride = size / 2; stride > 0; stride /= 2) {
      const ranked_label<T> other{__shfl_xor_sync(full_warp, mine.probability, stride),
                                  __shfl_xor_sync(full_warp, mine.label, stride)};
      const bool ascending = (lane & size) == 0;
      const bool keeps_first = ((lane & stride) == 0) == ascending;
      mine = keeps_first == ranks_before(other, mine) ? other : mine;
    }
  }
  return mine;
}

/// Writes the <= 32 candidates of `range` to slots.label[0, count), in no particular order (the
/// last round sorts them). A row of at most 32 slots per lane marks its candidates in a word, bit
/// v for slot v, scans the lanes' counts into offsets, and stores each lane's candidates from its
/// offset on: per slot a compare and a bit, then a bit test and a predicated store. A ballot and
/// a branch per slot, the way of longer rows, took ~8 instructions per slot and ~18 per slot
/// holding a candidate.
template <float_or_double T, class Keys, class Row>
__device__ void gather_candidates(const Row& row, const candidate_range<T, Keys>& range, candidate_slots<T>& slots,
                                  unsigned lane) {
  if constexpr (Row::slots_per_lane > 0 && Row::slots_per_lane <= 32) {
    std::uint32_t mine = 0;
    int slot = 0;
    row.for_each([&](T p, std::int32_t j, bool valid) {
      mine |= range.holds(range.keys.of(p, j), p, valid) ? 1u << slot : 0u;
      ++slot;
    });
    ranked_label<T>* out = slots.label + warp_exclusive_sum(__popc(mine), lane);
    slot = 0;
    row.for_each([&](T p, std::int32_t j, bool) {
      if ((mine >> slot) & 1u) *out++ = ranked_label<T>{p, j};
      ++slot;
    });
  } else {
    std::int32_t filled = 0;
    row.for_each([&](T p, std::int32_t j, bool valid) {
      const bool candidate = range.holds(range.keys.of(p, j), p, valid);
      const unsigned mask = __ballot_sync(full_warp, candidate);
      if (mask == 0) return;  // warp-uniform, and the common case: at most 32 slots hold candidates
      if (candidate) slots.label[filled + __popc(mask & lanes_below(lane))] = ranked_label<T>{p, j};
      filled += __popc(mask);
    });
  }
}

/// The end of the set among at most 32 candidates: gathered one per lane through `slots`,
/// sorted, their masses summed by a scan, scored; the set ends at the first that fails (named
/// with label 0 when no label of its probability ranks before it), or at range.end when none
/// does.
template <float_or_double T, class S, class Keys, class Row>
__device__ set_end<T> last_round(const row_rule<T, S>& rule, const Row& row, const candidate_range<T, Keys>& range,
                                 candidate_slots<T>& slots, unsigned lane) {
  if (range.count == 0) return range.end;
  gather_candidates(row, range, slots, lane);
  __syncwarp();
  const bool holds = static_cast<std::int32_t>(lane) < range.count;
  // Empty lanes hold a label that ranks after every real one, so they sort last.
  ranked_label<T> candidate = holds ? slots.label[lane] : set_end<T>::whole_row().first_out;
  __syncwarp();  // the slots are free again
  candidate = warp_sort_by_rank(candidate, lane);
  const T mass_before = range.mass_offset + warp_exclusive_sum(holds ? candidate.probability : T(0), lane);
  const bool fails = holds && !rule.admits(candidate.probability,
                                           range.rank_offset + static_cast<std::int32_t>(lane) + 1, mass_before);
  const unsigned failing = __ballot_sync(full_warp, fails);
  if (failing == 0) return range.end;
  const int first = __ffs(static_cast<int>(failing)) - 1;
  const T probability = __shfl_sync(full_warp, candidate.probability, first);
  const std::int32_t label = __shfl_sync(full_warp, candidate.label, first);
  // When the labels of one probability are candidates together, a label of the end's
  // probability ranks before it only as the candidate just before it; with none there, label 0
  // names the same set and lets the mask compare probabilities alone.
  if constexpr (Keys::candidates_together) {
    const T before = __shfl_sync(full_warp, candidate.probability, max(first - 1, 0));
    if (first == 0 || before != probability) return {{probability, 0}};
  }
  return {{probability, label}};
}

/// The smallest and largest of some keys.
template <class Key>
struct key_span {
  Key lowest;
  Key highest;
};

/// The span of the eligible labels' keys (one pass; {~0, 0} when none).
template <float_or_double T, class Keys, class Row>
__device__ key_span<typename Keys::key> eligible_key_span(const Row& row, const Keys& keys) {
  using key = typename Keys::key;
  key lowest = ~key{0};
  key highest = 0;
  row.for_each([&](T p, std::int32_t j, bool valid) {
    const bool eligible = keys.eligible(p, valid);
    const key k = keys.of(p, j);
    lowest = min(lowest, eligible ? k : ~key{0});
    highest = max(highest, eligible ? k : key{0});
  });
  return {warp_min(lowest), warp_max(highest)};
}

/// The candidates of `from` (which share one key) under finer keys spanning [low, high]: the
/// labels ranked before them are now ranked before every eligible label.
template <class Keys, float_or_double T, class From>
__device__ candidate_range<T, Keys> refined(const candidate_range<T, From>& from, Keys keys,
                                            typename Keys::key low, typename Keys::key high) {
  return {keys, low, high, from.count, from.rank_offset, from.mass_offset, from.rank_offset, from.mass_offset,
          from.end};
}

/// Splits until at most 32 candidates are left or they share one key.
template <float_or_double T, class S, class Keys, class Row>
__device__ void narrow(const row_rule<T, S>& rule, const Row& row, candidate_range<T, Keys>& range) {
  while (range.count > 32 && range.low != range.high) split(rule, row, range);
}

/// Where the set of a row of `classes` labels ends, for the row's largest and smallest leading
/// bits `highest` and `lowest`: steps by leading bits, then (for double, when more than 32 labels
/// share the high word left) by the low word, then (when more than 32 labels share the
/// probability left) by label, then a last round. Warp-uniform.
template <float_or_double T, class S, class Row>
__device__ set_end<T> find_set_end(const row_rule<T, S>& rule, const Row& row, std::int32_t classes,
                                   std::uint32_t highest, std::uint32_t lowest, candidate_slots<T>& slots,
                                   unsigned lane) {
  candidate_range<T, probability_keys<T>> by_leading_bits{
      {}, lowest, highest, classes, 0, T(0), 0, T(0), set_end<T>::whole_row()};
  narrow(rule, row, by_leading_bits);
  if (by_leading_bits.count <= 32) return last_round(rule, row, by_leading_bits, slots, lane);

  const auto by_label = [&](const auto& tied) {
    const probability_bits<T> tie = bits_of(tied.keys.first_of(tied.high).probability);
    auto range = refined(tied, tied_label_keys<T>{tie}, ~static_cast<std::uint32_t>(classes - 1), ~std::uint32_t{0});
    while (range.count > 32) split(rule, row, range);
    return last_round(rule, row, range, slots, lane);
  };
  if constexpr (probability_keys<T>::exact) {
    return by_label(by_leading_bits);
  } else {
    // Rare on softmax rows: more than 32 labels within 2^-20 of one another (or equal).
    const trailing_word_keys keys{by_leading_bits.high};
    const key_span<std::uint32_t> span = eligible_key_span<T>(row, keys);
    auto by_trailing_word = refined(by_leading_bits, keys, span.lowest, span.highest);
    narrow(rule, row, by_trailing_word);
    if (by_trailing_word.count <= 32) return last_round(rule, row, by_trailing_word, slots, lane);
    return by_label(by_trailing_word);
  }
}

}  // namespace tessera::conformal::detail
