#pragma once
// The CUDA backend of split conformal classification (classification_score.hpp,
// split_classifier.hpp): calibration scores and prediction sets of n x K row-major probability
// matrices in device memory, on exec::cuda. The thresholds come from quantile.cuh.
//
// Same scores, same ranking (descending probability, ties to the lower label index) and the same
// draws as the host: calibration row i uses u_i = uniform<T>(random_stream(seed, 0), i), test row
// j uses uniform<T>(random_stream(seed, 1), first_row + j).
//
// Method.
//  * Calibration scores: a group of G lanes (G = 1..32, from K) reads row i. The rank of the true
//    label y is 1 + the number of labels that rank before it and m_y the sum of their
//    probabilities, one pass, no sort.
//  * Sets of a score without rank (LAC): elementwise, s(y) <= q, or <= q_y with one threshold per
//    label (class-conditional).
//  * Sets of a ranked score (APS, RAPS, Top-K): the set is the prefix of the ranking that ends
//    before the first label whose score exceeds q (the scores never decrease along the ranking).
//    One warp per row, the row in registers (K <= 1024; longer rows are re-read from the cache),
//    finds where the prefix ends by a radix selection over the ranking keys (probability bits,
//    then label index) without sorting the row: each round splits the labels that can still hold
//    the end into 32 buckets of keys, counts every bucket's labels and mass and finds its
//    first-ranked label; the first label of each bucket is scored exactly (its rank and the mass
//    before it are known), which tells in which bucket the prefix ends. When at most 32 labels
//    remain, one per lane, they are sorted by a bitonic network and scored. A round reads the row
//    from registers once; rows of softmax outputs typically take one or two rounds.
//
// Agreement with the host. LAC and Top-K scores and sets are the host's bit for bit (ranks are
// exact counts). APS and RAPS masses are sums of the same probabilities in another order (and
// nvcc may fuse m + u p into one fma), so a score differs from the host's by at most
// K eps (1 + s): a calibration score by that much, and a set only in labels whose host score is
// within K eps (1 + q) of q. Rows of dyadic probabilities (exact sums) give the host's sets
// exactly for deterministic APS.
//
// Input checks run inside the kernels that read the data (see detail/stream_memory.cuh): entries
// finite and >= 0, rows summing to 1 within 1e-6, labels in [0, K). Each call then reads one word
// back, so it returns after its kernels have run. There is no renormalizing option on the device:
// divide the rows before the call.

#include <cuda_runtime_api.h>

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "tessera/conformal/classification_score.hpp"
#include "tessera/conformal/cuda/detail/stream_memory.cuh"
#include "tessera/conformal/cuda/detail/warp.cuh"
#include "tessera/conformal/detail/probability_rows.hpp"
#include "tessera/core/concepts.hpp"
#include "tessera/core/cuda/check.cuh"
#include "tessera/core/exec.hpp"
#include "tessera/core/matrix_view.hpp"
#include "tessera/core/random.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::conformal {
namespace detail {

/// What a kernel found wrong with a row, in the order the host checks: every entry of every row
/// first, then the row sums, then the labels. The violation code is kind * n + row.
enum class row_fault : unsigned long long { entry = 0, sum = 1, label = 2 };

__device__ inline unsigned long long fault_code(row_fault kind, std::uint64_t row, std::uint64_t rows) {
  return static_cast<unsigned long long>(kind) * rows + row;
}

template <float_or_double T>
__device__ bool is_probability(T p) {
  return isfinite(p) && p >= 0;
}

__device__ inline bool sums_to_one(double sum) { return fabs(sum - 1.0) <= row_sum_tolerance; }

/// Throws the host's invalid_argument for the fault `code` reported on `probabilities` (and
/// `labels`, when given): the row's values are copied back and the message formed from them.
/// Always throws.
template <float_or_double T>
void throw_row_fault(std::string_view where, unsigned long long code, matrix_view<const T> probabilities,
                     const std::int32_t* labels, cudaStream_t stream) {
  const std::uint64_t rows = probabilities.rows;
  const auto kind = static_cast<row_fault>(code / rows);
  const std::uint64_t i = code % rows;
  const std::string row_text = tessera::detail::to_text(i);
  if (kind == row_fault::label) {
    const std::int32_t label = copy_to_host(labels + i, 1, stream, where).front();
    require_in_range(where, "labels[" + row_text + "]", label, std::int32_t{0},
                     static_cast<std::int32_t>(probabilities.cols - 1));
  }
  const std::vector<T> row = copy_to_host(probabilities.data + i * probabilities.cols, probabilities.cols,
                                          stream, where);
  double sum = 0;
  for (std::size_t j = 0; j < row.size(); ++j) {
    require(std::isfinite(row[j]) && row[j] >= 0, where,
            "probabilities(" + row_text + ", " + tessera::detail::to_text(j) + ")", row[j], "a finite number >= 0");
    sum += static_cast<double>(row[j]);
  }
  // A sum fault: the device's sum (in another order) was off 1 by more than 1e-6.
  require(false, where, "the sum of probabilities row " + row_text, sum, "1 within 1e-6");
}

/// Requires an n x K view with K in [1, 2^31 - 1] (labels are 32-bit) and a non-null pointer when
/// n > 0.
template <class T>
void require_device_matrix(std::string_view where, std::string_view name, const matrix_view<T>& m) {
  const std::string label(name);
  require_in_range<std::size_t>(where, label + ".cols", m.cols, 1, std::numeric_limits<std::int32_t>::max());
  require(m.rows == 0 || m.data != nullptr, where, label + ".data", "null", "device memory for the rows");
}

/// Lanes per row for the row-group kernels: about two labels per lane, a power of two <= 32.
inline unsigned lanes_per_row(std::size_t classes) {
  const std::size_t half = (classes + 1) / 2;
  return half >= 32 ? 32u : static_cast<unsigned>(std::bit_floor(half == 0 ? std::size_t{1} : half));
}

/// Groups of `group` lanes score rows: group g of the warp takes row first + g. Loops stay
/// warp-uniform (the group sums are warp collectives); lanes past the last row add zeros.
template <float_or_double T, class S>
__global__ void calibration_scores_kernel(S score, matrix_view<const T> probabilities, const std::int32_t* labels,
                                          random_stream draws, unsigned group, T* scores,
                                          unsigned long long* violation) {
  const std::uint64_t n = probabilities.rows;
  const auto classes = static_cast<std::int32_t>(probabilities.cols);
  const unsigned lane = threadIdx.x % 32;
  const unsigned member = lane % group;
  const std::uint64_t rows_per_warp = 32 / group;
  const std::uint64_t warp = (blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x) / 32;
  const std::uint64_t warps = std::uint64_t{gridDim.x} * blockDim.x / 32;
  for (std::uint64_t first = warp * rows_per_warp; first < n; first += warps * rows_per_warp) {
    const std::uint64_t i = first + lane / group;
    const bool active = i < n;
    const std::int32_t label = active ? labels[i] : 0;
    const bool label_ok = label >= 0 && label < classes;
    const T* row = probabilities.data + (active ? i : 0) * probabilities.cols;
    const T p_label = active && label_ok ? row[label] : T(0);
    double sum = 0;
    int bad_entries = 0;
    std::int32_t ahead = 0;
    T mass = 0;
    const auto stride = static_cast<std::int32_t>(group);
#pragma unroll 4
    for (std::int32_t j = static_cast<std::int32_t>(member); active && j < classes; j += stride) {
      const T p = row[j];
      bad_entries += is_probability(p) ? 0 : 1;
      sum += static_cast<double>(p);
      if constexpr (S::uses_rank) {
        if (label_ok && (p > p_label || (p == p_label && j < label))) {
          ++ahead;
          mass += p;
        }
      }
    }
    sum = group_sum(sum, group);
    bad_entries = group_sum(bad_entries, group);
    ahead = group_sum(ahead, group);
    mass = group_sum(mass, group);
    if (!active || member != 0) continue;
    if (bad_entries != 0)
      report_violation(violation, fault_code(row_fault::entry, i, n));
    else if (!sums_to_one(sum))
      report_violation(violation, fault_code(row_fault::sum, i, n));
    else if (!label_ok)
      report_violation(violation, fault_code(row_fault::label, i, n));
    else
      scores[i] = score.value(p_label, label_standing<T>{ahead + 1, mass}, uniform<T>(draws, i));
  }
}

/// in_set(i, j) = score(p_ij) <= q_j (label_thresholds) or q; groups of lanes per row as above.
template <float_or_double T, class S>
__global__ void elementwise_sets_kernel(S score, matrix_view<const T> probabilities, T threshold,
                                        const T* label_thresholds, random_stream draws, std::uint64_t first_row,
                                        unsigned group, matrix_view<std::uint8_t> sets,
                                        unsigned long long* violation) {
  const std::uint64_t n = probabilities.rows;
  const auto classes = static_cast<std::int32_t>(probabilities.cols);
  const unsigned lane = threadIdx.x % 32;
  const unsigned member = lane % group;
  const std::uint64_t rows_per_warp = 32 / group;
  const std::uint64_t warp = (blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x) / 32;
  const std::uint64_t warps = std::uint64_t{gridDim.x} * blockDim.x / 32;
  for (std::uint64_t first = warp * rows_per_warp; first < n; first += warps * rows_per_warp) {
    const std::uint64_t i = first + lane / group;
    const bool active = i < n;
    const T* row = probabilities.data + (active ? i : 0) * probabilities.cols;
    std::uint8_t* out = sets.data + (active ? i : 0) * sets.cols;
    const T u = active ? uniform<T>(draws, first_row + i) : T(0);
    double sum = 0;
    int bad_entries = 0;
    const auto stride = static_cast<std::int32_t>(group);
    // Unrolled so that each lane has several loads in flight: the kernel is bound by memory.
#pragma unroll 4
    for (std::int32_t j = static_cast<std::int32_t>(member); active && j < classes; j += stride) {
      const T p = row[j];
      bad_entries += is_probability(p) ? 0 : 1;
      sum += static_cast<double>(p);
      const T q = label_thresholds != nullptr ? label_thresholds[j] : threshold;
      out[j] = score.value(p, label_standing<T>{0, T(0)}, u) <= q ? 1 : 0;
    }
    sum = group_sum(sum, group);
    bad_entries = group_sum(bad_entries, group);
    if (!active || member != 0) continue;
    if (bad_entries != 0)
      report_violation(violation, fault_code(row_fault::entry, i, n));
    else if (!sums_to_one(sum))
      report_violation(violation, fault_code(row_fault::sum, i, n));
  }
}

/// A label and its probability, compared as the ranking compares them.
template <float_or_double T>
struct ranked_label {
  T probability;
  std::int32_t label;
};

/// Whether a ranks before b: higher probability first, then the lower label index (the host's
/// detail::ranks_before).
template <float_or_double T>
__device__ bool ranks_before(const ranked_label<T>& a, const ranked_label<T>& b) {
  return a.probability > b.probability || (a.probability == b.probability && a.label < b.label);
}

/// The unsigned integer as wide as T.
template <float_or_double T>
using probability_bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;

/// The bits of a probability p >= 0, which order as the values do (-0 is first turned into +0).
template <float_or_double T>
__device__ probability_bits<T> bits_of(T p) {
  return std::bit_cast<probability_bits<T>>(p + T(0));
}

/// The number of bits needed for `value` (0 for 0).
__device__ inline int bit_width_of(std::uint32_t value) { return 32 - __clz(static_cast<int>(value)); }
__device__ inline int bit_width_of(std::uint64_t value) {
  return 64 - __clzll(static_cast<long long>(value));
}

/// A row held in registers: lane l holds labels l, l + 32, ..., l + 32 (V - 1). For K <= 32 V.
template <float_or_double T, int V>
class register_row {
 public:
  __device__ register_row(const T* row, std::int32_t classes, unsigned lane)
      : classes_(classes), lane_(static_cast<std::int32_t>(lane)) {
#pragma unroll
    for (int v = 0; v < V; ++v) {
      const std::int32_t j = label_at(v);
      values_[v] = j < classes ? row[j] : T(0);
    }
  }

  /// visit(p, label, valid) for this lane's slots in increasing label order; every lane makes
  /// the same number of calls, so visit may use warp collectives.
  template <class Visit>
  __device__ void for_each(Visit&& visit) const {
#pragma unroll
    for (int v = 0; v < V; ++v) {
      const std::int32_t j = label_at(v);
      visit(values_[v], j, j < classes_);
    }
  }

 private:
  __device__ std::int32_t label_at(int v) const { return lane_ + 32 * v; }

  T values_[V];
  std::int32_t classes_;
  std::int32_t lane_;
};

/// A row too long for registers, read from memory at every visit (it stays in L1/L2 between
/// visits); same visiting order as register_row.
template <float_or_double T>
class memory_row {
 public:
  __device__ memory_row(const T* row, std::int32_t classes, unsigned lane)
      : row_(row), classes_(classes), lane_(static_cast<std::int32_t>(lane)) {}

  template <class Visit>
  __device__ void for_each(Visit&& visit) const {
    const std::int32_t slots = (classes_ + 31) / 32;
    for (std::int32_t v = 0; v < slots; ++v) {
      const std::int32_t j = lane_ + 32 * v;
      const bool valid = j < classes_;
      visit(valid ? row_[j] : T(0), j, valid);
    }
  }

 private:
  const T* row_;
  std::int32_t classes_;
  std::int32_t lane_;
};

/// The per-warp shared memory of one round: for each bucket b and lane l, the number and mass of
/// the labels of bucket b that lane l holds, and the first-ranked of them. A lane writes only its
/// own column, so the updates need no atomics and hit 32 distinct banks.
template <float_or_double T>
struct bucket_counts {
  std::uint32_t count[32][32];
  T mass[32][32];
  T first_probability[32][32];
  std::int32_t first_label[32][32];
};

/// The last <= 32 candidates, one per lane.
template <float_or_double T>
struct candidate_slots {
  T probability[32];
  std::int32_t label[32];
};

/// The shared memory of one warp: rounds use the buckets, the last step the slots.
template <float_or_double T>
union ranking_workspace {
  bucket_counts<T> buckets;
  candidate_slots<T> slots;
};

/// Where the set of a row ends: it holds the labels ranked before `label`, and `label` itself
/// when inclusive.
template <float_or_double T>
struct set_end {
  ranked_label<T> label;
  bool inclusive;

  __device__ bool contains(const ranked_label<T>& e) const {
    return ranks_before(e, label) || (inclusive && e.label == label.label);
  }
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

/// The labels that may still hold the end of the set: probability bits in [bottom, top] and
/// label index in [first_label, last_label]; `rank_offset` labels of mass `mass_offset` rank
/// before all of them. While top > bottom the rounds split by probability bits; once every
/// candidate has the same probability, by label index.
template <float_or_double T>
struct candidate_range {
  probability_bits<T> top;
  probability_bits<T> bottom;
  std::int32_t first_label;
  std::int32_t last_label;
  std::int32_t count;
  std::int32_t rank_offset;
  T mass_offset;

  __device__ bool contains(probability_bits<T> bits, std::int32_t label) const {
    return bits >= bottom && bits <= top && label >= first_label && label <= last_label;
  }

  __device__ bool by_probability() const { return top != bottom; }

  /// The bucket width 2^shift that splits the range into at most 32 buckets.
  __device__ int shift() const {
    if (by_probability()) {
      const probability_bits<T> width = top - bottom;
      return width < 32 ? 0 : bit_width_of(width) - 5;
    }
    const auto width = static_cast<std::uint32_t>(last_label - first_label);
    return width < 32 ? 0 : bit_width_of(width) - 5;
  }

  /// The bucket of a candidate: 0 holds the first-ranked keys.
  __device__ unsigned bucket(probability_bits<T> bits, std::int32_t label, int shift) const {
    return by_probability() ? static_cast<unsigned>((top - bits) >> shift)
                            : static_cast<unsigned>(label - first_label) >> shift;
  }

  /// The candidates of bucket b, given its first-ranked label, count, rank and mass offsets.
  __device__ candidate_range narrowed(unsigned b, int shift, const ranked_label<T>& first, std::int32_t size,
                                      std::int32_t ranks_before_bucket, T mass_before_bucket) const {
    candidate_range next{top, bottom, first_label, last_label, size, ranks_before_bucket, mass_before_bucket};
    if (by_probability()) {
      // Bucket b holds the bits in [top - ((b + 1) << shift) + 1, top - (b << shift)], cut at bottom.
      const probability_bits<T> reach = (static_cast<probability_bits<T>>(b + 1) << shift) - 1;
      next.bottom = top - bottom <= reach ? bottom : top - reach;
      next.top = bits_of(first.probability);
      if (next.top == next.bottom) next.first_label = first.label;  // ties: by label from here
    } else {
      const std::int64_t end = std::int64_t{first_label} + (std::int64_t{b + 1} << shift) - 1;
      next.first_label = first.label;
      next.last_label = end < last_label ? static_cast<std::int32_t>(end) : last_label;
    }
    return next;
  }
};

/// The candidate range of a whole row.
template <float_or_double T, class Row>
__device__ candidate_range<T> whole_row(const Row& row, std::int32_t classes) {
  probability_bits<T> top = 0;
  probability_bits<T> bottom = ~probability_bits<T>(0);
  row.for_each([&](T p, std::int32_t, bool valid) {
    if (!valid) return;
    const probability_bits<T> bits = bits_of(p);
    top = bits > top ? bits : top;
    bottom = bits < bottom ? bits : bottom;
  });
  return {warp_max(top), warp_min(bottom), 0, classes - 1, classes, 0, T(0)};
}

/// The outcome of one round: the set ends inside `range` (narrowed), or before its first label.
template <float_or_double T>
struct round_outcome {
  bool ends_before_range;
  ranked_label<T> range_first;
  candidate_range<T> range;
};

/// One round: counts the candidates of each of the 32 buckets, scores each bucket's first label
/// and keeps the last bucket before the first one whose first label fails.
template <float_or_double T, class S, class Row>
__device__ round_outcome<T> split_round(const row_rule<T, S>& rule, const Row& row, const candidate_range<T>& range,
                                        bucket_counts<T>& table, unsigned lane) {
  const int shift = range.shift();
  for (int b = 0; b < 32; ++b) table.count[b][lane] = 0;
  row.for_each([&](T p, std::int32_t j, bool valid) {
    const probability_bits<T> bits = bits_of(p);
    if (!valid || !range.contains(bits, j)) return;
    const unsigned b = range.bucket(bits, j, shift);
    const std::uint32_t seen = table.count[b][lane];
    table.count[b][lane] = seen + 1;
    table.mass[b][lane] = seen == 0 ? p : table.mass[b][lane] + p;
    // This lane visits labels in increasing order: a tie in probability keeps the first seen.
    if (seen == 0 || p > table.first_probability[b][lane]) {
      table.first_probability[b][lane] = p;
      table.first_label[b][lane] = j;
    }
  });
  __syncwarp();
  // Lane b totals bucket b; starting at column b puts the 32 lanes on 32 distinct banks.
  std::int32_t count = 0;
  T mass = 0;
  ranked_label<T> first{T(0), -1};
  for (unsigned step = 0; step < 32; ++step) {
    const unsigned column = (lane + step) % 32;
    const std::uint32_t seen = table.count[lane][column];
    if (seen == 0) continue;
    count += static_cast<std::int32_t>(seen);
    mass += table.mass[lane][column];
    const ranked_label<T> candidate{table.first_probability[lane][column], table.first_label[lane][column]};
    if (first.label < 0 || ranks_before(candidate, first)) first = candidate;
  }
  __syncwarp();  // the next round rewrites the table

  const std::int32_t ranks_before_bucket = range.rank_offset + warp_exclusive_sum(count, lane);
  const T mass_before_bucket = range.mass_offset + warp_exclusive_sum(mass, lane);
  const bool occupied = count > 0;
  const bool admitted = occupied && rule.admits(first.probability, ranks_before_bucket + 1, mass_before_bucket);
  const unsigned occupied_lanes = __ballot_sync(full_warp, occupied);
  const unsigned failing = __ballot_sync(full_warp, occupied && !admitted);
  const unsigned before_failure = failing == 0 ? full_warp : lanes_below(static_cast<unsigned>(__ffs(failing) - 1));
  const unsigned kept = occupied_lanes & before_failure;
  if (kept == 0) {
    const int source = __ffs(occupied_lanes) - 1;
    const ranked_label<T> range_first{__shfl_sync(full_warp, first.probability, source),
                                      __shfl_sync(full_warp, first.label, source)};
    return {true, range_first, range};
  }
  const int chosen = 31 - __clz(static_cast<int>(kept));
  const ranked_label<T> chosen_first{__shfl_sync(full_warp, first.probability, chosen),
                                     __shfl_sync(full_warp, first.label, chosen)};
  return {false, chosen_first,
          range.narrowed(static_cast<unsigned>(chosen), shift, chosen_first, __shfl_sync(full_warp, count, chosen),
                         __shfl_sync(full_warp, ranks_before_bucket, chosen),
                         __shfl_sync(full_warp, mass_before_bucket, chosen))};
}

/// Sorts 32 labels, one per lane, into ranking order (lane 0 first) with a bitonic network.
template <float_or_double T>
__device__ ranked_label<T> warp_sort_by_rank(ranked_label<T> mine, unsigned lane) {
  for (unsigned size = 2; size <= 32; size *= 2) {
    for (unsigned stride = size / 2; stride > 0; stride /= 2) {
      const ranked_label<T> other{__shfl_xor_sync(full_warp, mine.probability, stride),
                                  __shfl_xor_sync(full_warp, mine.label, stride)};
      const bool ascending = (lane & size) == 0;
      const bool keeps_first = ((lane & stride) == 0) == ascending;
      if (keeps_first == ranks_before(other, mine)) mine = other;
    }
  }
  return mine;
}

/// The end of the set among at most 32 candidates: gathered one per lane (in label order),
/// sorted, their masses summed by a scan, scored; the set ends before the first that fails.
template <float_or_double T, class S, class Row>
__device__ set_end<T> last_round(const row_rule<T, S>& rule, const Row& row, const candidate_range<T>& range,
                                 candidate_slots<T>& slots, unsigned lane) {
  std::int32_t filled = 0;
  row.for_each([&](T p, std::int32_t j, bool valid) {
    const bool candidate = valid && range.contains(bits_of(p), j);
    const unsigned mask = __ballot_sync(full_warp, candidate);
    if (candidate) {
      const int slot = filled + __popc(mask & lanes_below(lane));
      slots.probability[slot] = p;
      slots.label[slot] = j;
    }
    filled += __popc(mask);
  });
  __syncwarp();
  const bool holds = static_cast<std::int32_t>(lane) < range.count;
  // Empty lanes hold a label that ranks after every real one (probabilities are >= 0).
  ranked_label<T> mine = holds ? ranked_label<T>{slots.probability[lane], slots.label[lane]}
                               : ranked_label<T>{T(-1), std::numeric_limits<std::int32_t>::max()};
  __syncwarp();  // the slots are free again
  mine = warp_sort_by_rank(mine, lane);
  const T mass_before = range.mass_offset + warp_exclusive_sum(holds ? mine.probability : T(0), lane);
  const bool admitted = holds && rule.admits(mine.probability, range.rank_offset + static_cast<std::int32_t>(lane) + 1,
                                             mass_before);
  const unsigned failing = __ballot_sync(full_warp, !admitted);
  const int kept = failing == 0 ? 32 : __ffs(failing) - 1;
  const int source = kept == 0 ? 0 : kept - 1;
  const ranked_label<T> end{__shfl_sync(full_warp, mine.probability, source),
                            __shfl_sync(full_warp, mine.label, source)};
  return {end, kept != 0};
}

/// The range with its bottom raised to the smallest probability bits of its candidates. A bucket
/// holding a few distinct values far below its upper end (say 0 and 2^-10) would otherwise take
/// one round per 5 bits of the gap; first_label: the range's first-ranked label, which starts
/// the label range when a single probability remains.
template <float_or_double T, class Row>
__device__ candidate_range<T> with_tight_bottom(const Row& row, candidate_range<T> range, std::int32_t first_label) {
  probability_bits<T> bottom = range.top;
  row.for_each([&](T p, std::int32_t j, bool valid) {
    const probability_bits<T> bits = bits_of(p);
    if (valid && range.contains(bits, j) && bits < bottom) bottom = bits;
  });
  range.bottom = warp_min(bottom);
  if (range.bottom == range.top) range.first_label = first_label;
  return range;
}

/// Where the set of a row ends, found by rounds of split_round and a last_round.
template <float_or_double T, class S, class Row>
__device__ set_end<T> find_set_end(const row_rule<T, S>& rule, const Row& row, std::int32_t classes,
                                   ranking_workspace<T>& workspace, unsigned lane) {
  candidate_range<T> range = whole_row<T>(row, classes);
  while (range.count > 32) {
    const round_outcome<T> outcome = split_round(rule, row, range, workspace.buckets, lane);
    if (outcome.ends_before_range) return {outcome.range_first, false};
    range = outcome.range;
    if (range.count > 32 && range.by_probability()) range = with_tight_bottom<T>(row, range, outcome.range_first.label);
  }
  return last_round(rule, row, range, workspace.slots, lane);
}

/// The warp's workspace: rows of at most 32 labels never split, so they need only the slots.
template <float_or_double T, bool Splits>
using workspace_of = std::conditional_t<Splits, ranking_workspace<T>, candidate_slots<T>>;

/// Two warps per block: the double buckets of two warps fill the 48 KiB of static shared memory.
inline constexpr unsigned ranked_sets_threads = 64;

/// One warp per row: checks the row, finds where its set ends, writes the mask.
template <float_or_double T, class S, class Row, bool Splits>
__global__ void __launch_bounds__(ranked_sets_threads)
    ranked_sets_kernel(S score, matrix_view<const T> probabilities, T threshold, random_stream draws,
                       std::uint64_t first_row, matrix_view<std::uint8_t> sets, unsigned long long* violation) {
  __shared__ workspace_of<T, Splits> workspaces[ranked_sets_threads / 32];
  const std::uint64_t n = probabilities.rows;
  const auto classes = static_cast<std::int32_t>(probabilities.cols);
  const unsigned lane = threadIdx.x % 32;
  auto& workspace = workspaces[threadIdx.x / 32];
  const std::uint64_t warp = (blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x) / 32;
  const std::uint64_t warps = std::uint64_t{gridDim.x} * blockDim.x / 32;
  for (std::uint64_t i = warp; i < n; i += warps) {
    const Row row(probabilities.data + i * probabilities.cols, classes, lane);
    double sum = 0;
    bool entries_ok = true;
    row.for_each([&](T p, std::int32_t, bool valid) {
      if (!valid) return;
      entries_ok = entries_ok && is_probability(p);
      sum += static_cast<double>(p);
    });
    entries_ok = __all_sync(full_warp, entries_ok);
    sum = group_sum(sum, 32);
    if (!entries_ok || !sums_to_one(sum)) {
      if (lane == 0) report_violation(violation, fault_code(entries_ok ? row_fault::sum : row_fault::entry, i, n));
      continue;
    }
    const row_rule<T, S> rule{score, threshold, uniform<T>(draws, first_row + i)};
    set_end<T> end;
    if constexpr (Splits) {
      end = find_set_end(rule, row, classes, workspace, lane);
    } else {
      end = last_round(rule, row, candidate_range<T>{~probability_bits<T>(0), 0, 0, classes - 1, classes, 0, T(0)},
                       workspace, lane);
    }
    std::uint8_t* out = sets.data + i * sets.cols;
    row.for_each([&](T p, std::int32_t j, bool valid) {
      if (valid) out[j] = end.contains(ranked_label<T>{p, j}) ? 1 : 0;
    });
  }
}

/// Launches ranked_sets_kernel with the row in registers when it fits (8 or 32 per lane), else
/// read from memory.
template <float_or_double T, class S>
void launch_ranked_sets(exec::cuda policy, const S& score, matrix_view<const T> probabilities, T threshold,
                        random_stream draws, std::uint64_t first_row, matrix_view<std::uint8_t> sets,
                        unsigned long long* violation, std::string_view where) {
  const unsigned blocks = blocks_for_warps(probabilities.rows, ranked_sets_threads);
  const auto launch = [&](auto kernel) {
    kernel<<<blocks, ranked_sets_threads, 0, policy.stream>>>(score, probabilities, threshold, draws, first_row,
                                                              sets, violation);
    check_launch(where);
  };
  const std::size_t classes = probabilities.cols;
  if (classes <= 32)
    launch(ranked_sets_kernel<T, S, register_row<T, 1>, false>);
  else if (classes <= 256)
    launch(ranked_sets_kernel<T, S, register_row<T, 8>, true>);
  else if (classes <= 1024)
    launch(ranked_sets_kernel<T, S, register_row<T, 32>, true>);
  else
    launch(ranked_sets_kernel<T, S, memory_row<T>, true>);
}

/// Requires `size` == the matrix's rows (or columns): "<name>.size() = 3; expected probabilities.rows = 4".
inline void require_size(std::string_view where, std::string_view name, std::size_t size,
                         std::string_view dimension, std::size_t expected) {
  require(size == expected, where, std::string(name) + ".size()", size,
          "probabilities." + std::string(dimension) + " = " + tessera::detail::to_text(expected));
}

/// Requires a mask of the probabilities' shape.
template <class T>
void require_mask_shape(std::string_view where, const matrix_view<const T>& probabilities,
                        const matrix_view<std::uint8_t>& sets) {
  const std::string shape = tessera::detail::to_text(probabilities.rows) + " x " +
                            tessera::detail::to_text(probabilities.cols);
  require(sets.rows == probabilities.rows && sets.cols == probabilities.cols, where, "sets shape",
          tessera::detail::to_text(sets.rows) + " x " + tessera::detail::to_text(sets.cols),
          "the probabilities' shape " + shape);
  require(sets.rows == 0 || sets.data != nullptr, where, "sets.data", "null", "device memory for the mask");
}

/// Launches the elementwise kernel (scores without rank) and reports.
template <float_or_double T, class S>
void launch_elementwise_sets(exec::cuda policy, const S& score, matrix_view<const T> probabilities, T threshold,
                             const T* label_thresholds, random_stream draws, std::uint64_t first_row,
                             matrix_view<std::uint8_t> sets, unsigned long long* violation, std::string_view where) {
  const unsigned group = lanes_per_row(probabilities.cols);
  const std::uint64_t rows_per_warp = 32 / group;
  constexpr unsigned threads = 256;
  const unsigned blocks = blocks_for_warps((probabilities.rows + rows_per_warp - 1) / rows_per_warp, threads);
  elementwise_sets_kernel<<<blocks, threads, 0, policy.stream>>>(score, probabilities, threshold, label_thresholds,
                                                                 draws, first_row, group, sets, violation);
  check_launch(where);
}

}  // namespace detail

/// The calibration scores of n rows of K probabilities in device memory, on the device:
/// scores[i] = score(row i, labels[i], u_i) with u_i = uniform<T>(random_stream(seed, 0), i), the
/// host's calibration_scores (equal for LAC and Top-K; within K eps (1 + s) for APS and RAPS, whose
/// masses are summed in another order). probabilities: an n x K device matrix (K >= 1), rows of
/// finite values >= 0 summing to 1 within 1e-6; labels: n device labels in [0, K); scores: n
/// device values, written. O(n K) work, one read of the matrix, no extra memory.
/// Synchronizes policy.stream (it reads back the input check). Throws invalid_argument on bad
/// score parameters or sizes (before any launch), or on a bad entry, row sum or label (the host's
/// message for the first, in the host's order; scores are then unspecified); cuda_error when a
/// CUDA call fails.
template <float_or_double T, classification_score<T> S>
void calibration_scores(exec::cuda policy, const S& score, matrix_view<const T> probabilities,
                        std::span<const std::int32_t> labels, std::uint64_t seed, std::span<T> scores) {
  constexpr std::string_view where = "tessera::conformal::calibration_scores";
  detail::require_valid_score(score, where);
  detail::require_device_matrix(where, "probabilities", probabilities);
  detail::require_size(where, "labels", labels.size(), "rows", probabilities.rows);
  detail::require_size(where, "scores", scores.size(), "rows", probabilities.rows);
  if (probabilities.rows == 0) return;
  const detail::violation_slot violation(policy.stream, where);
  const unsigned group = detail::lanes_per_row(probabilities.cols);
  const std::uint64_t rows_per_warp = 32 / group;
  constexpr unsigned threads = 256;
  const unsigned blocks = detail::blocks_for_warps((probabilities.rows + rows_per_warp - 1) / rows_per_warp, threads);
  detail::calibration_scores_kernel<<<blocks, threads, 0, policy.stream>>>(
      score, probabilities, labels.data(), random_stream(seed, 0), group, scores.data(), violation.data());
  check_launch(where);
  if (const auto code = violation.read(where))
    detail::throw_row_fault(where, *code, probabilities, labels.data(), policy.stream);
}

/// The prediction sets of n test rows in device memory for one threshold q (from
/// conformal_quantile): sets(j, y) = 1 when label y is in row j's set {y : score(y) <= q}, else 0;
/// row j draws u = uniform<T>(random_stream(seed, 1), first_row + j), as split_classifier::predict.
/// Equal to the host's sets for LAC and Top-K; for APS and RAPS they differ only in labels whose
/// host score is within K eps (1 + q) of q. probabilities: an n x K device matrix, rows of finite
/// values >= 0 summing to 1 within 1e-6; threshold: not NaN (+inf: every label); sets: an n x K
/// device mask, written. Cost: O(n K) and one read of the matrix for LAC; for ranked scores
/// O(n K) per round of the selection (typically one or two), plus O(n (K + 32 log 32)).
/// Synchronizes policy.stream. Throws invalid_argument on a NaN threshold, bad score parameters
/// or shapes (before any launch), or on a bad entry or row sum (the host's message for the first;
/// sets are then unspecified); cuda_error when a CUDA call fails.
template <float_or_double T, classification_score<T> S>
void predict_sets(exec::cuda policy, const S& score, matrix_view<const T> probabilities,
                  std::type_identity_t<T> threshold, std::uint64_t seed, std::uint64_t first_row,
                  matrix_view<std::uint8_t> sets) {
  constexpr std::string_view where = "tessera::conformal::predict_sets";
  detail::require_valid_score(score, where);
  require(!std::isnan(threshold), where, "threshold", threshold, "a number (not NaN)");
  detail::require_device_matrix(where, "probabilities", probabilities);
  detail::require_mask_shape(where, probabilities, sets);
  if (probabilities.rows == 0) return;
  const detail::violation_slot violation(policy.stream, where);
  const random_stream draws(seed, 1);
  if constexpr (S::uses_rank)
    detail::launch_ranked_sets(policy, score, probabilities, threshold, draws, first_row, sets, violation.data(),
                               where);
  else
    detail::launch_elementwise_sets<T>(policy, score, probabilities, threshold, nullptr, draws, first_row, sets,
                                       violation.data(), where);
  if (const auto code = violation.read(where))
    detail::throw_row_fault(where, *code, probabilities, nullptr, policy.stream);
}

/// The prediction sets for one threshold per label (class-conditional, from
/// class_conditional_quantiles): sets(j, y) = 1 when score(p_jy) <= thresholds[y]. For scores
/// without rank (LAC), whose label scores do not depend on each other; a ranked score's
/// class-conditional sets need every label's rank and mass, which the host's split_classifier
/// computes. thresholds: K host values, none NaN. Otherwise as the single-threshold overload.
/// Throws invalid_argument for a ranked score, a thresholds size other than K or a NaN threshold,
/// and as the single-threshold overload.
template <float_or_double T, classification_score<T> S>
void predict_sets(exec::cuda policy, const S& score, matrix_view<const T> probabilities,
                  std::span<const std::type_identity_t<T>> thresholds, std::uint64_t seed, std::uint64_t first_row,
                  matrix_view<std::uint8_t> sets) {
  constexpr std::string_view where = "tessera::conformal::predict_sets";
  require(!S::uses_rank, where, "thresholds.size()", thresholds.size(),
          "1 for a ranked score (APS, RAPS, Top-K): per-label thresholds of ranked scores are host-only "
          "(split_classifier)");
  detail::require_valid_score(score, where);
  detail::require_device_matrix(where, "probabilities", probabilities);
  detail::require_size(where, "thresholds", thresholds.size(), "cols", probabilities.cols);
  require_no_nan(where, "thresholds", thresholds);
  detail::require_mask_shape(where, probabilities, sets);
  if (probabilities.rows == 0) return;
  const detail::violation_slot violation(policy.stream, where);
  const detail::stream_buffer<T> label_thresholds(thresholds.size(), policy.stream, where);
  detail::copy_to_device(thresholds, label_thresholds, policy.stream, where);
  detail::launch_elementwise_sets(policy, score, probabilities, T(0), label_thresholds.data(), random_stream(seed, 1),
                                  first_row, sets, violation.data(), where);
  if (const auto code = violation.read(where))
    detail::throw_row_fault(where, *code, probabilities, nullptr, policy.stream);
}

}  // namespace tessera::conformal
