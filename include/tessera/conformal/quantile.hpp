#pragma once
// The conformal quantile: the finite-sample order statistic every split method calibrates with.
//
// For n calibration scores and miscoverage alpha, q = the k-th smallest score with
// k = ceil((n + 1)(1 - alpha)), and q = +inf when k > n (the set is then every label, the interval
// the whole line). With exchangeable data P(score_test <= q) >= 1 - alpha, and <= 1 - alpha +
// 1/(n + 1) when the scores have no ties (Vovk et al. 2005; Lei et al. 2018). This is MAPIE's
// np.quantile(scores, k / n, method="lower").
//
// The ranks are computed exactly for the double alpha given: (n + 1) alpha is formed with its
// rounding error (fma), so k never moves by one because (n + 1)(1 - alpha) rounded up to an
// integer. Scores are selected in O(n), never sorted: nth_element for few, a sampled bracket and
// one pass for many (detail::kth_smallest), the pass split over OpenMP's threads when long.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "tessera/conformal/detail/vector_lanes.hpp"
#include "tessera/core/concepts.hpp"
#include "tessera/core/detail/generated_vector.hpp"
#include "tessera/core/validate.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace tessera::conformal {

/// floor(n_plus_1 * alpha) computed exactly for the double alpha (n_plus_1 < 2^53). O(1).
inline std::uint64_t floor_of_scaled_level(std::uint64_t n_plus_1, double alpha) {
  const double n = static_cast<double>(n_plus_1);
  const double product = n * alpha;
  const double rounding_error = std::fma(n, alpha, -product);  // n * alpha = product + error
  double whole = std::floor(product);
  if (whole == product && rounding_error < 0) whole -= 1;  // product was rounded up onto an integer
  return static_cast<std::uint64_t>(whole);
}

/// k = ceil((n + 1)(1 - alpha)): the rank of the conformal quantile among n scores, exact for the
/// double alpha. k > n means the quantile is +inf. Throws invalid_argument unless 0 < alpha < 1.
inline std::uint64_t upper_rank(std::uint64_t n, double alpha) {
  require_open_unit_interval("tessera::conformal::upper_rank", "alpha", alpha);
  return (n + 1) - floor_of_scaled_level(n + 1, alpha);
}

/// k = floor((n + 1) alpha): the rank of the lower jackknife+/CV+ bound among n values, exact
/// for the double alpha. k = 0 means the bound is -inf. Throws unless 0 < alpha < 1.
inline std::uint64_t lower_rank(std::uint64_t n, double alpha) {
  require_open_unit_interval("tessera::conformal::lower_rank", "alpha", alpha);
  return floor_of_scaled_level(n + 1, alpha);
}

namespace detail {

/// Below this many values a selection runs nth_element directly: sampling would not pay (with
/// the vectorized bracket pass the two cross between 2000 and 3000 values on an AMD EPYC).
inline constexpr std::size_t bracketed_selection_minimum = std::size_t{1} << 11;

/// The sample a bracketed selection ranks: about 4 sqrt(n) values, at most 8192.
inline std::size_t selection_sample_size(std::size_t n) {
  return std::min<std::size_t>(8192, 4 * static_cast<std::size_t>(std::sqrt(static_cast<double>(n))));
}

/// The values of an array as kth_smallest reads them: one type for the selections within a
/// selection, whatever the outer values' function.
template <float_or_double T>
struct stored_values {
  const T* data;
  T operator()(std::size_t i) const { return data[i]; }
};

/// The k-th smallest of some values, and the largest (which callers test for +inf to learn,
/// without a pass of their own, whether every value was finite).
template <float_or_double T>
struct selection {
  T kth;
  T largest;
};

/// What a pass over some values leaves of a bracket [low, high]: how many values lie below it,
/// those inside it (kept of them, in `inside`), and the largest value seen.
template <float_or_double T>
struct bracket_contents {
  std::uint64_t below = 0;
  std::size_t kept = 0;
  std::unique_ptr<T[]> inside;
  T largest = -std::numeric_limits<T>::infinity();
};

/// The pass of a bracketed selection over value(first), ..., value(last - 1): counts those below
/// [low, high], keeps those inside it and tracks the largest, a vector register at a time without
/// a branch (detail/vector_lanes.hpp; with AVX-512, split regression of 10^5 + 10^5 values took
/// 102-104 us against 164-167 a value at a time). The values are formed in blocks by a loop the
/// compiler vectorizes for simple value functions, then read back from the block. room: the
/// count expected inside (the buffer grows past it when needed). O(last - first).
template <float_or_double T, class Value>
bracket_contents<T> bracket_pass(std::size_t first, std::size_t last, T low, T high, std::size_t room,
                                 const Value& value) {
  using V = typename vector_of<T>::type;
  constexpr std::size_t block = 256, lanes = vector_of<T>::lanes;
  static_assert(block % lanes == 0);
  T values[block];
  room += block;  // compress_lanes stores a whole register whatever it keeps
  // Not zeroed first: every value is written before it is read.
  bracket_contents<T> bracket{0, 0, std::make_unique_for_overwrite<T[]>(room)};
  const V lower = V{} + low, upper = V{} + high;
  for (std::size_t begin = first; begin < last; begin += block) {
    const std::size_t count = std::min(block, last - begin);
    for (std::size_t j = 0; j < count; ++j) values[j] = value(begin + j);
    if (room < bracket.kept + count) {  // the values crowd the bracket more than the sample said
      room = 2 * (bracket.kept + count);
      auto larger = std::make_unique_for_overwrite<T[]>(room);
      std::copy_n(bracket.inside.get(), bracket.kept, larger.get());
      bracket.inside = std::move(larger);
    }
    T* const out = bracket.inside.get() + bracket.kept;
    std::size_t appended = 0, j = 0;
    // Per block, so that they stay in registers: across the block loop GCC kept them in memory.
    decltype(V{} < V{}) below_lanes{};
    V largest = V{} + bracket.largest;
    for (; j + lanes <= count; j += lanes) {  // compress_lanes stores `lanes` values: appended <= j
      const V v = load_vector(values + j);
      below_lanes -= v < lower;
      largest = v > largest ? v : largest;
      appended += compress_lanes<T>(bits_between<T>(v, lower, upper), v, out + appended);
    }
    for (std::size_t l = 0; l < lanes; ++l) {
      bracket.below += static_cast<std::uint64_t>(below_lanes[l]);
      bracket.largest = std::max(bracket.largest, largest[l]);
    }
    for (; j < count; ++j) {
      const T v = values[j];
      bracket.below += v < low ? 1 : 0;
      bracket.largest = std::max(bracket.largest, v);
      out[appended] = v;
      appended += ((v >= low) & (v <= high)) ? 1 : 0;
    }
    bracket.kept += appended;
  }
  return bracket;
}

/// Below this many values a bracket pass runs on one thread. 2^15 values take about 8 us on one
/// core of an AMD EPYC, where OpenMP's fork and join cost 0.4 us with its threads awake: split,
/// every thread's range still pays for the thread.
inline constexpr std::size_t parallel_bracket_minimum = std::size_t{1} << 15;

#if defined(_OPENMP)
/// bracket_pass over value(0), ..., value(n - 1) in `threads` contiguous ranges, one per OpenMP
/// thread, the ranges' contents joined in order. O(n) work; throws std::bad_alloc.
template <float_or_double T, class Value>
bracket_contents<T> bracket_pass_split(std::size_t n, T low, T high, std::size_t room, std::size_t threads,
                                       const Value& value) {
  std::vector<bracket_contents<T>> parts(threads);
  std::vector<std::exception_ptr> failures(threads);
#pragma omp parallel num_threads(static_cast<int>(threads))
  {
    const auto t = static_cast<std::size_t>(omp_get_thread_num()), used = static_cast<std::size_t>(omp_get_num_threads());
    try {
      parts[t] = bracket_pass(n * t / used, n * (t + 1) / used, low, high, room / used, value);
    } catch (...) {  // an exception may not leave the parallel region
      failures[t] = std::current_exception();
    }
  }
  for (const auto& failure : failures)
    if (failure) std::rethrow_exception(failure);
  bracket_contents<T> joined;
  for (const auto& part : parts) joined.kept += part.kept;
  joined.inside = std::make_unique_for_overwrite<T[]>(joined.kept);
  std::size_t at = 0;
  for (const auto& part : parts) {
    joined.below += part.below;
    joined.largest = std::max(joined.largest, part.largest);
    std::copy_n(part.inside.get(), part.kept, joined.inside.get() + at);
    at += part.kept;
  }
  return joined;
}
#endif

/// bracket_pass over value(0), ..., value(n - 1), split in contiguous ranges over OpenMP's threads
/// where tessera is built with it and n >= parallel_bracket_minimum (value is then called from
/// several threads at once). Same result whatever the thread count. O(n) work; throws
/// std::bad_alloc.
template <float_or_double T, class Value>
bracket_contents<T> bracket_pass(std::size_t n, T low, T high, std::size_t room, const Value& value) {
#if defined(_OPENMP)
  const auto threads = static_cast<std::size_t>(omp_get_max_threads());
  if (n >= parallel_bracket_minimum && threads > 1 && !omp_in_parallel())
    return bracket_pass_split(n, low, high, room, threads, value);
#endif
  return bracket_pass(0, n, low, high, room, value);
}

/// The k-th smallest (1 <= k <= n) of the values value(0), ..., value(n - 1), none NaN, and the
/// largest, without storing them all: a strided sample of them is ranked, two of its order
/// statistics around rank k s / n (4.5 standard deviations of a sample rank apart on either side)
/// bracket the answer, and one pass counts the values below the bracket and keeps those inside it
/// (a few percent of n), among which the answer is selected the same way, or by nth_element when
/// they are few (the scheme of Floyd and Rivest, "Expected time bounds for selection", CACM
/// 1975). Should the bracket miss (values ordered against the stride), every value is stored and
/// selected directly. value(i) must give the same value each time and be safe to call from
/// several threads at once (bracket_pass). O(n) expected, with one pass over the values and
/// O(sqrt n + bracket) memory.
template <float_or_double T, class Value>
selection<T> kth_smallest(std::size_t n, std::uint64_t k, const Value& value) {
  const auto select_all = [&] {
    std::vector<T> values = tessera::detail::generated_vector(n, [&](std::size_t i) { return value(i); });
    const auto kth = values.begin() + static_cast<std::ptrdiff_t>(k - 1);
    std::nth_element(values.begin(), kth, values.end());
    return selection<T>{*kth, *std::max_element(kth, values.end())};
  };
  if (n < bracketed_selection_minimum) return select_all();
  const std::size_t s = selection_sample_size(n), stride = n / s;
  std::vector<T> sample(s);
  for (std::size_t j = 0; j < s; ++j) sample[j] = value(j * stride + stride / 2);
  const double fraction = static_cast<double>(k) / static_cast<double>(n);
  const double centre = fraction * static_cast<double>(s);
  const double margin = 4.5 * std::sqrt(static_cast<double>(s) * fraction * (1 - fraction)) + 2;
  const bool open_below = centre - margin < 0, open_above = centre + margin > static_cast<double>(s - 1);
  // The sample's two order statistics by selection, the upper one among the values above the
  // lower: O(s), where sorting the sample took O(s log s) (6% of a selection from 10^5 values).
  const auto rank_of = [&](double rank) {
    return static_cast<std::ptrdiff_t>(std::clamp(rank, 0.0, static_cast<double>(s - 1)));
  };
  auto rest = sample.begin();
  T low = -std::numeric_limits<T>::infinity(), high = std::numeric_limits<T>::infinity();
  if (!open_below) {
    rest = sample.begin() + rank_of(centre - margin);
    std::nth_element(sample.begin(), rest, sample.end());
    low = *rest;
  }
  if (!open_above) {
    const auto upper = sample.begin() + rank_of(centre + margin);
    std::nth_element(rest, upper, sample.end());
    high = *upper;
  }
  // Room for twice the expected bracket.
  const auto room = static_cast<std::size_t>(4 * margin / static_cast<double>(s) * static_cast<double>(n));
  const auto [below, kept, inside, largest] = bracket_pass<T>(n, low, high, room, value);
  if (k <= below || k > below + kept) return select_all();
  // A bracket of many values is bracketed in turn: at n = 10^5 and rank 0.9 n the first keeps
  // about 7600 values, the second about 1100, and the pass over the 7600 costs less than
  // nth_element on them. Only while brackets shrink: values crowded into a few (ties) fill
  // every bracket, and nth_element takes them.
  if (kept >= bracketed_selection_minimum && kept <= n / 4)
    return {kth_smallest<T>(kept, k - below, stored_values<T>{inside.get()}).kth, largest};
  T* const kth = inside.get() + (k - below - 1);
  std::nth_element(inside.get(), kth, inside.get() + kept);
  return {*kth, largest};
}

}  // namespace detail

/// The k-th smallest of values (k from 1), which must hold no NaN; -inf for k = 0, +inf for
/// k > values.size(). The values may be reordered. O(n) expected (detail::kth_smallest).
template <float_or_double T>
T order_statistic_in_place(std::span<T> values, std::uint64_t k) {
  if (k == 0) return -std::numeric_limits<T>::infinity();
  if (k > values.size()) return std::numeric_limits<T>::infinity();
  if (values.size() < detail::bracketed_selection_minimum) {
    const auto kth = values.begin() + static_cast<std::ptrdiff_t>(k - 1);
    std::nth_element(values.begin(), kth, values.end());
    return *kth;
  }
  return detail::kth_smallest<T>(values.size(), k, detail::stored_values<T>{values.data()}).kth;
}

namespace detail {

template <float_or_double T>
void require_calibration_scores(std::string_view where, std::span<const T> scores) {
  require_nonempty(where, "scores", scores.size());
  require_no_nan(where, "scores", scores);
}

}  // namespace detail

/// The conformal quantile of scores at miscoverage alpha, reordering scores (no copy).
/// scores: n >= 1 values, +inf allowed, NaN not; alpha in (0, 1).
/// Returns the ceil((n + 1)(1 - alpha))-th smallest score, or +inf when that rank exceeds n.
/// O(n) expected. Throws invalid_argument on an empty or NaN-holding input or a bad alpha.
template <float_or_double T>
T conformal_quantile_in_place(std::span<T> scores, double alpha) {
  constexpr std::string_view where = "tessera::conformal::conformal_quantile";
  require_open_unit_interval(where, "alpha", alpha);
  detail::require_calibration_scores(where, std::span<const T>(scores));
  return order_statistic_in_place(scores, upper_rank(scores.size(), alpha));
}

/// The conformal quantile of scores at miscoverage alpha, leaving scores as they are (one copy).
/// Same contract and errors as conformal_quantile_in_place. O(n) time, O(n) memory.
template <float_or_double T>
T conformal_quantile(std::span<const T> scores, double alpha) {
  std::vector<T> copy(scores.begin(), scores.end());
  return conformal_quantile_in_place(std::span<T>(copy), alpha);
}

/// Class-conditional (Mondrian) thresholds of scores: q_y = the ceil((n_y + 1)(1 - alpha))-th
/// smallest of the n_y scores whose label is y, +inf when that rank exceeds n_y (a label with too
/// few rows, none included), for y < classes; the host counterpart of the device's
/// class_conditional_quantiles (conformal/cuda/quantile.cuh), bit for bit.
/// scores, labels: n >= 1 values each, labels in [0, classes); classes >= 1; alpha in (0, 1).
/// O(n) expected time, O(n) memory. Throws invalid_argument on a bad alpha or classes, empty or
/// mismatched spans, a label out of range or a NaN score.
template <float_or_double T>
std::vector<T> class_conditional_quantiles(std::span<const T> scores, std::span<const std::int32_t> labels,
                                           std::size_t classes, double alpha) {
  constexpr std::string_view where = "tessera::conformal::class_conditional_quantiles";
  require_open_unit_interval(where, "alpha", alpha);
  require(classes >= 1, where, "classes", classes, ">= 1");
  detail::require_calibration_scores(where, scores);
  require_same_size(where, "labels", labels.size(), "scores", scores.size());
  std::vector<std::vector<T>> by_label(classes);
  const auto last = static_cast<std::int32_t>(classes - 1);
  for (std::size_t i = 0; i < scores.size(); ++i) {
    if (labels[i] < 0 || labels[i] > last)  // the name is formatted only on failure
      require_in_range(where, "labels[" + tessera::detail::to_text(i) + "]", labels[i], std::int32_t{0}, last);
    by_label[static_cast<std::size_t>(labels[i])].push_back(scores[i]);
  }
  std::vector<T> thresholds(classes);
  for (std::size_t y = 0; y < classes; ++y)
    thresholds[y] = order_statistic_in_place(std::span<T>(by_label[y]), upper_rank(by_label[y].size(), alpha));
  return thresholds;
}

/// The weighted conformal quantile for covariate shift (Tibshirani, Barber, Candès, Ramdas 2019):
/// with p_i = w_i / (sum_j w_j + w_test) and p_test = w_test / (...), the smallest score s with
/// sum_{i: s_i <= s} p_i >= 1 - alpha, where the test point's mass sits at +inf (so the result
/// is +inf when the calibration mass alone never reaches 1 - alpha).
/// weights: w_i >= 0 finite, one per score, e.g. the likelihood ratio dP_test/dP_train at x_i;
/// test_weight: w_test >= 0 at the test point. Equal weights give conformal_quantile's value.
/// O(n log n) (a sort: the weights make selection by rank impossible).
/// Throws invalid_argument on size mismatch, NaN scores, negative or non-finite weights, a zero
/// total weight, or a bad alpha.
template <float_or_double T>
T weighted_conformal_quantile(std::span<const T> scores, std::span<const T> weights,
                              T test_weight, double alpha) {
  constexpr std::string_view where = "tessera::conformal::weighted_conformal_quantile";
  require_open_unit_interval(where, "alpha", alpha);
  detail::require_calibration_scores(where, scores);
  require_same_size(where, "weights", weights.size(), "scores", scores.size());
  require_all_finite(where, "weights", weights);
  require(std::isfinite(test_weight) && test_weight >= 0, where, "test_weight", test_weight,
          "a finite number >= 0");
  double total = test_weight;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (!(weights[i] >= 0))  // the name is formatted only on failure
      require(false, where, "weights[" + tessera::detail::to_text(i) + "]", weights[i], ">= 0");
    total += weights[i];
  }
  require(total > 0, where, "the total weight", total, "> 0");

  std::vector<std::size_t> order(scores.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  // Compare the cumulative weight with (1 - alpha) * total rather than normalizing each weight:
  // equal weights then reproduce the unweighted rank up to the rounding of (1 - alpha)(n + 1).
  const double target = (1.0 - alpha) * total;
  double mass = 0;
  for (std::size_t i : order) {
    mass += weights[i];
    if (mass >= target) return scores[i];
  }
  return std::numeric_limits<T>::infinity();
}

/// The exact conformal quantile of a calibration set too large to hold, fed in chunks.
///
/// The total count n must be known up front (it fixes the rank k); the object keeps only the
/// n - k + 1 largest scores seen, about alpha * n of them, so 10^8 scores at alpha = 0.1 need 10^7
/// in memory. The result equals conformal_quantile over the concatenated chunks, bit for bit.
template <float_or_double T>
class streaming_quantile {
 public:
  /// total: the number of scores that will be pushed (>= 1); alpha in (0, 1).
  /// Throws invalid_argument on a bad total or alpha. O(1).
  streaming_quantile(std::uint64_t total, double alpha)
      : total_(total) {
    constexpr std::string_view where = "tessera::conformal::streaming_quantile";
    require(total >= 1, where, "total", total, ">= 1");
    require_open_unit_interval(where, "alpha", alpha);
    const std::uint64_t rank = upper_rank(total, alpha);
    kept_ = rank > total ? 0 : total - rank + 1;
  }

  /// Adds a chunk of scores. Amortized O(chunk size); memory O(kept + chunk).
  /// Throws invalid_argument on NaN scores or on more scores than announced.
  void push(std::span<const T> chunk) {
    constexpr std::string_view where = "tessera::conformal::streaming_quantile::push";
    require_no_nan(where, "chunk", chunk);
    require(seen_ + chunk.size() <= total_, where, "scores pushed", seen_ + chunk.size(),
            "<= total = " + tessera::detail::to_text(total_));
    seen_ += chunk.size();
    if (kept_ == 0) return;
    largest_.insert(largest_.end(), chunk.begin(), chunk.end());
    if (largest_.size() >= 2 * kept_ + 1024) keep_largest();
  }

  /// The number of scores pushed so far.
  std::uint64_t seen() const noexcept { return seen_; }

  /// The conformal quantile of all scores pushed: +inf when the rank exceeds the total.
  /// Throws invalid_argument unless exactly `total` scores were pushed. O(kept).
  T result() {
    require(seen_ == total_, "tessera::conformal::streaming_quantile::result", "scores pushed",
            seen_, "== total = " + tessera::detail::to_text(total_));
    if (kept_ == 0) return std::numeric_limits<T>::infinity();
    keep_largest();
    return *std::min_element(largest_.begin(), largest_.end());
  }

 private:
  // Keeps the kept_ largest values: the k-th smallest of all is the smallest of these.
  void keep_largest() {
    if (largest_.size() <= kept_) return;
    const auto cut = largest_.begin() + static_cast<std::ptrdiff_t>(kept_);
    std::nth_element(largest_.begin(), cut - 1, largest_.end(), std::greater<T>());
    largest_.erase(cut, largest_.end());
  }

  std::uint64_t total_;
  std::uint64_t kept_ = 0;  // the n - k + 1 largest scores determine the k-th smallest
  std::uint64_t seen_ = 0;
  std::vector<T> largest_;
};

}  // namespace tessera::conformal
