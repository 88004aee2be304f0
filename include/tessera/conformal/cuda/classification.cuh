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
//    finds where the prefix ends without sorting the row (detail/ranked_set_end.cuh): bisection
//    over the ranking keys (the probabilities' leading 32 bits, then for double the low word,
//    then the label index) keeps the labels that can still hold the end; a step counts the labels
//    above the pivot and sums their mass in one pass over the row and scores the first label
//    below it (its rank and the mass before it are known), which tells which side holds the end.
//    When at most 32 labels remain, one per lane, they are sorted by a bitonic network and
//    scored. A step reads the row from registers once, with four and a half instructions per
//    label for float and six for double, and needs no shared memory; rows of softmax outputs take
//    about five steps (two to eight). The kernel is bound by the integer pipe, not by memory:
//    every instruction per label counts.
//
// Agreement with the host. LAC and Top-K scores and sets are the host's bit for bit (ranks are
// exact counts). APS and RAPS masses are sums of the same probabilities in another order (and
// the device always fuses m + u p into one fma, a host only with FMA), so a score differs from
// the host's by at most K eps (1 + s): a calibration score by that much, and a set only in labels
// whose host score is within K eps (1 + q) of q. Rows of dyadic probabilities (exact sums) give
// the host's sets exactly for deterministic APS.
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
#include "tessera/conformal/cuda/detail/ranked_set_end.cuh"
#include "tessera/conformal/cuda/detail/stream_memory.cuh"
#include "tessera/conformal/cuda/detail/warp.cuh"
#include "tessera/conformal/cuda/detail/warp_row.cuh"
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
  for (std::size_t j = 0; j < row.size(); ++j)
    require(std::isfinite(row[j]) && row[j] >= 0, where,
            "probabilities(" + row_text + ", " + tessera::detail::to_text(j) + ")", row[j], "a finite number >= 0");
  // A sum fault: the device's sum was off 1 by more than 1e-6; the message quotes the host's sum.
  bool valid = true;
  require(false, where, "the sum of probabilities row " + row_text, row_sum_and_validity<T>(row, valid),
          "1 within 1e-6");
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

/// How a kernel's warps split rows among groups of `group` lanes (group divides 32): group g of a
/// warp takes row first + g, and the warps stride over the rows together.
struct lane_groups {
  unsigned group;               ///< lanes per row
  unsigned member;              ///< this lane's index within its group
  std::uint64_t first;          ///< the first row of this warp's first pass
  std::uint64_t stride;         ///< rows covered by all warps in one pass

  __device__ explicit lane_groups(unsigned lanes_per_row)
      : group(lanes_per_row),
        member(threadIdx.x % 32 % lanes_per_row),
        first((blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x) / 32 * (32 / lanes_per_row)),
        stride(std::uint64_t{gridDim.x} * blockDim.x / 32 * (32 / lanes_per_row)) {}

  /// The row this lane's group takes in the pass that starts at `pass_first`.
  __device__ std::uint64_t row(std::uint64_t pass_first) const { return pass_first + threadIdx.x % 32 / group; }
};

/// Groups of `group` lanes score rows: group g of the warp takes row first + g. Loops stay
/// warp-uniform (the group sums are warp collectives); lanes past the last row add zeros.
template <float_or_double T, class S>
__global__ void calibration_scores_kernel(S score, matrix_view<const T> probabilities, const std::int32_t* labels,
                                          random_stream draws, unsigned group, T* scores,
                                          unsigned long long* violation) {
  const std::uint64_t n = probabilities.rows;
  const auto classes = static_cast<std::int32_t>(probabilities.cols);
  const lane_groups groups(group);
  const unsigned member = groups.member;
  for (std::uint64_t first = groups.first; first < n; first += groups.stride) {
    const std::uint64_t i = groups.row(first);
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
  const lane_groups groups(group);
  const unsigned member = groups.member;
  for (std::uint64_t first = groups.first; first < n; first += groups.stride) {
    const std::uint64_t i = groups.row(first);
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

/// What one pass over a row finds: whether every entry is a probability, the row sum (in
/// double), and the largest and smallest leading bits (warp_row.cuh).
struct row_summary {
  bool entries_ok;
  double sum;
  std::uint32_t highest;
  std::uint32_t lowest;
};

/// The summary of a row, the same on all lanes: the row's leading-bit range (see warp_row.cuh)
/// and a pass for the sum, to which the padding slots past the row's end add +0. An entry is a
/// probability exactly when its leading bits are below those of +infinity (ranked_set_end.cuh),
/// so the largest check them all.
template <float_or_double T, class Row>
__device__ row_summary summarize(const Row& row) {
  double sum = 0;
  row.for_each([&](T p, std::int32_t, bool) { sum += static_cast<double>(p); });
  const bit_range bits = row.bits();
  const std::uint32_t highest = warp_max(bits.highest);
  return {highest < infinity_leading_bits<T>, group_sum(sum, 32), highest, warp_min(bits.lowest)};
}

/// Threads per block of ranked_sets_kernel: one row per warp.
inline constexpr unsigned ranked_sets_threads = 256;

/// Blocks of ranked_sets_kernel per multiprocessor that the registers must allow: 3, i.e. 24
/// warps in at most 80 registers per thread, unless the row alone takes more than 32 (32 doubles
/// per lane: 128 registers): 2. At 64 registers (32 warps) the row's loads were issued one after
/// another for want of registers, and the kernel waited on memory instead of computing (Nsight
/// Compute on the H100: 391 us against 217 us at 80).
template <class Row>
inline constexpr int ranked_sets_min_blocks = Row::registers <= 32 ? 3 : 2;

/// One warp per row: checks the row, finds where its set ends (ranked_set_end.cuh), writes the
/// mask.
template <float_or_double T, class S, class Row>
__global__ void __launch_bounds__(ranked_sets_threads, ranked_sets_min_blocks<Row>)
    ranked_sets_kernel(S score, matrix_view<const T> probabilities, T threshold, random_stream draws,
                       std::uint64_t first_row, matrix_view<std::uint8_t> sets, unsigned long long* violation) {
  __shared__ candidate_slots<T> slots[ranked_sets_threads / 32];
  const std::uint64_t n = probabilities.rows;
  const auto classes = static_cast<std::int32_t>(probabilities.cols);
  const unsigned lane = threadIdx.x % 32;
  const std::uint64_t warp = (blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x) / 32;
  const std::uint64_t warps = std::uint64_t{gridDim.x} * blockDim.x / 32;
  for (std::uint64_t i = warp; i < n; i += warps) {
    const Row row(probabilities.data + i * probabilities.cols, classes, lane);
    const row_summary summary = summarize<T>(row);
    if (!summary.entries_ok || !sums_to_one(summary.sum)) {
      if (lane == 0)
        report_violation(violation, fault_code(summary.entries_ok ? row_fault::sum : row_fault::entry, i, n));
      continue;
    }
    const row_rule<T, S> rule{score, threshold, uniform<T>(draws, first_row + i)};
    const set_end<T> end =
        find_set_end(rule, row, classes, summary.highest, summary.lowest, slots[threadIdx.x / 32], lane);
    std::uint8_t* out = sets.data + i * sets.cols;
    const set_membership<T> membership(end);
    if (membership.by_probability())
      row.for_each([&](T p, std::int32_t j, bool valid) {
        if (valid) out[j] = membership.above(p);
      });
    else
      row.for_each([&](T p, std::int32_t j, bool valid) {
        if (valid) out[j] = membership(p, j);
      });
  }
}

/// Launches ranked_sets_kernel with the row in registers when it fits (1, 8 or 32 labels per
/// lane; with 32, told how many slots of every lane hold labels), else read from memory.
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
    launch(ranked_sets_kernel<T, S, register_row<T, 1>>);
  else if (classes <= 256)
    launch(ranked_sets_kernel<T, S, register_row<T, 8>>);
  else if (classes < 992)
    launch(ranked_sets_kernel<T, S, register_row<T, 32, 8>>);  // K > 256: slots 0..7 of every lane hold labels
  else if (classes <= 1024)
    launch(ranked_sets_kernel<T, S, register_row<T, 32, 31>>);  // ImageNet's K = 1000 among them
  else
    launch(ranked_sets_kernel<T, S, memory_row<T>>);
}

/// Requires `size` == the matrix's rows (or columns): "<name>.size() = 3; expected probabilities.rows = 4".
inline void require_size(std::string_view where, std::string_view name, std::size_t size,
                         std::string_view dimension, std::size_t expected) {
  require(size == expected, where, std::string(name) + ".size()", size,
          "probabilities." + std::string(dimension) + " = " + tessera::detail::to_text(expected));
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
  detail::require_mask_shape(where, probabilities.rows, probabilities.cols, sets, "device memory for the mask");
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
  detail::require_mask_shape(where, probabilities.rows, probabilities.cols, sets, "device memory for the mask");
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
