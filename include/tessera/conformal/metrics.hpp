#pragma once
// How conformal predictions did on labelled test data: coverage, size, and coverage conditional
// on size or on label, for intervals (regression) and label sets (classification).
//
// Size-stratified coverage (SSC) is the check of Angelopoulos and Bates, "A gentle introduction
// to conformal prediction" (2021, section 3): a method that covers 1 - alpha on average by
// over-covering large sets and under-covering small ones shows it here. The functions follow the
// definitions of MAPIE's mapie.metrics (classification_coverage_score,
// classification_mean_width_score, classification_ssc, regression_coverage_score,
// regression_mean_width_score, regression_ssc); an empty stratum has coverage NaN, as there.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <string_view>
#include <vector>

#include "tessera/conformal/detail/probability_rows.hpp"
#include "tessera/conformal/interval.hpp"
#include "tessera/core/concepts.hpp"
#include "tessera/core/matrix_view.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::conformal {

/// The mean and median of a set of widths or sizes.
struct size_summary {
  double mean;
  double median;  ///< the middle value, or the mean of the two middle values for an even count
};

/// Set sizes: their mean and median, and the fractions of empty sets and of sets of all K labels.
struct set_size_summary {
  double mean;
  double median;
  double empty_fraction;
  double full_fraction;
};

/// The test points of one stratum (a set size, a label, a width bin) and the fraction covered
/// (NaN when count = 0).
struct stratum_coverage {
  std::size_t count;
  double coverage;
};

namespace detail {

/// The median of values (reordered). O(n) expected.
inline double median_in_place(std::span<double> values) {
  const std::size_t middle = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(middle), values.end());
  const double upper = values[middle];
  if (values.size() % 2 == 1) return upper;
  const double lower = *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(middle));
  return (lower + upper) / 2;
}

inline double mean_of(std::span<const double> values) {
  return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

/// The count and covered fraction of each stratum: point i is in stratum strata[i] and covered
/// when covered(i). O(n + strata).
template <class Covered>
std::vector<stratum_coverage> coverage_by_stratum(std::span<const std::size_t> strata,
                                                  Covered covered, std::size_t stratum_count) {
  std::vector<stratum_coverage> result(stratum_count, stratum_coverage{0, 0.0});
  std::vector<std::size_t> hits(stratum_count, 0);
  for (std::size_t i = 0; i < strata.size(); ++i) {
    ++result[strata[i]].count;
    hits[strata[i]] += covered(i) ? 1 : 0;
  }
  for (std::size_t s = 0; s < stratum_count; ++s)
    result[s].coverage = result[s].count == 0
                             ? std::numeric_limits<double>::quiet_NaN()
                             : static_cast<double>(hits[s]) / static_cast<double>(result[s].count);
  return result;
}

template <float_or_double T>
void require_intervals_and_targets(std::string_view where, std::span<const interval<T>> intervals,
                                   std::span<const T> y) {
  require_nonempty(where, "intervals", intervals.size());
  require_same_size(where, "y", y.size(), "intervals", intervals.size());
  require_no_nan(where, "y", y);
}

/// Requires a two-dimensional set matrix with >= 1 row and >= 1 label. Returns its view.
template <row_major_matrix_of<bool> M>
matrix_view<const bool> checked_sets(std::string_view where, const M& sets) {
  require(sets.dimension() == 2, where, "sets.dimension()", sets.dimension(), "2");
  const matrix_view<const bool> view = view_of<bool>(sets);
  require(view.rows >= 1, where, "sets.shape()[0]", view.rows, ">= 1");
  require(view.cols >= 1, where, "sets.shape()[1]", view.cols, ">= 1");
  return view;
}

/// As above, and one label per row in [0, K).
template <row_major_matrix_of<bool> M>
matrix_view<const bool> checked_sets(std::string_view where, const M& sets,
                                     std::span<const std::int32_t> labels) {
  const matrix_view<const bool> view = checked_sets(where, sets);
  require_labels(where, labels, "sets", view.rows, view.cols);
  return view;
}

inline std::size_t set_size(const matrix_view<const bool>& sets, std::size_t i) {
  const std::span<const bool> row = sets.row(i);
  return static_cast<std::size_t>(std::count(row.begin(), row.end(), true));
}

}  // namespace detail

/// The fraction of points with lower_i <= y_i <= upper_i (MAPIE's regression_coverage_score).
/// O(n). Throws invalid_argument on empty input, a size mismatch or a NaN y.
template <float_or_double T>
double interval_coverage(std::span<const interval<T>> intervals, std::span<const T> y) {
  detail::require_intervals_and_targets("tessera::conformal::interval_coverage", intervals, y);
  std::size_t covered = 0;
  for (std::size_t i = 0; i < y.size(); ++i) covered += intervals[i].contains(y[i]) ? 1 : 0;
  return static_cast<double>(covered) / static_cast<double>(y.size());
}

/// The mean (MAPIE's regression_mean_width_score) and median of upper - lower; +inf when an
/// interval is unbounded. O(n). Throws invalid_argument on empty input or a NaN bound.
template <float_or_double T>
size_summary interval_widths(std::span<const interval<T>> intervals) {
  constexpr std::string_view where = "tessera::conformal::interval_widths";
  require_nonempty(where, "intervals", intervals.size());
  std::vector<double> widths(intervals.size());
  for (std::size_t i = 0; i < intervals.size(); ++i) {
    widths[i] = static_cast<double>(intervals[i].width());
    if (std::isnan(widths[i]))  // the name is formatted only on failure
      require(false, where, "intervals[" + tessera::detail::to_text(i) + "].width()", widths[i],
              "a number (not NaN)");
  }
  const double mean = detail::mean_of(widths);
  return {mean, detail::median_in_place(widths)};
}

/// Coverage within `bins` groups of intervals ranked by width (narrowest first, ties by index),
/// of sizes as equal as possible, the first n mod bins one larger (MAPIE's regression_ssc).
/// O(n log n). Throws invalid_argument on empty input, a size mismatch, a NaN, or bins outside
/// [1, n].
template <float_or_double T>
std::vector<stratum_coverage> interval_size_stratified_coverage(std::span<const interval<T>> intervals,
                                                                std::span<const T> y,
                                                                std::size_t bins) {
  constexpr std::string_view where = "tessera::conformal::interval_size_stratified_coverage";
  detail::require_intervals_and_targets(where, intervals, y);
  const std::size_t n = intervals.size();
  require_in_range(where, "bins", bins, std::size_t{1}, n);
  std::vector<std::size_t> by_width(n);
  std::iota(by_width.begin(), by_width.end(), std::size_t{0});
  std::stable_sort(by_width.begin(), by_width.end(), [&](std::size_t a, std::size_t b) {
    return intervals[a].width() < intervals[b].width();
  });
  // The first n mod bins bins hold one point more, as numpy's array_split makes them.
  std::vector<std::size_t> bin_of(n);
  std::size_t position = 0;
  for (std::size_t bin = 0; bin < bins; ++bin)
    for (std::size_t k = 0; k < n / bins + (bin < n % bins ? 1 : 0); ++k) bin_of[by_width[position++]] = bin;
  return detail::coverage_by_stratum(
      bin_of, [&](std::size_t i) { return intervals[i].contains(y[i]); }, bins);
}

/// The fraction of rows whose set holds their label (MAPIE's classification_coverage_score).
/// sets: n x K booleans (a split_classifier::predict result, or any row-major bool matrix).
/// O(n). Throws invalid_argument on an empty matrix, a label count mismatch or a bad label.
template <row_major_matrix_of<bool> M>
double set_coverage(const M& sets, std::span<const std::int32_t> labels) {
  const auto view = detail::checked_sets("tessera::conformal::set_coverage", sets, labels);
  std::size_t covered = 0;
  for (std::size_t i = 0; i < view.rows; ++i) covered += view(i, labels[i]) ? 1 : 0;
  return static_cast<double>(covered) / static_cast<double>(view.rows);
}

/// The mean (MAPIE's classification_mean_width_score) and median set size, and the fractions of
/// empty and of full (all K labels) sets. O(n K). Throws invalid_argument on an empty matrix.
template <row_major_matrix_of<bool> M>
set_size_summary set_sizes(const M& sets) {
  const auto view = detail::checked_sets("tessera::conformal::set_sizes", sets);
  std::vector<double> sizes(view.rows);
  std::size_t empty = 0, full = 0;
  for (std::size_t i = 0; i < view.rows; ++i) {
    const std::size_t size = detail::set_size(view, i);
    sizes[i] = static_cast<double>(size);
    empty += size == 0 ? 1 : 0;
    full += size == view.cols ? 1 : 0;
  }
  const double rows = static_cast<double>(view.rows);
  const double mean = detail::mean_of(sizes);
  return {mean, detail::median_in_place(sizes), static_cast<double>(empty) / rows,
          static_cast<double>(full) / rows};
}

/// Coverage per set size: element s for the sets of s labels, s = 0..K (MAPIE's
/// classification_ssc with num_bins=None). O(n K). Throws as set_coverage.
template <row_major_matrix_of<bool> M>
std::vector<stratum_coverage> size_stratified_coverage(const M& sets,
                                                       std::span<const std::int32_t> labels) {
  const auto view = detail::checked_sets("tessera::conformal::size_stratified_coverage", sets, labels);
  std::vector<std::size_t> sizes(view.rows);
  for (std::size_t i = 0; i < view.rows; ++i) sizes[i] = detail::set_size(view, i);
  return detail::coverage_by_stratum(
      sizes, [&](std::size_t i) { return view(i, labels[i]); }, view.cols + 1);
}

/// Coverage per true label: element y for the rows labelled y, y = 0..K-1. O(n).
/// Throws as set_coverage.
template <row_major_matrix_of<bool> M>
std::vector<stratum_coverage> class_conditional_coverage(const M& sets,
                                                         std::span<const std::int32_t> labels) {
  const auto view = detail::checked_sets("tessera::conformal::class_conditional_coverage", sets, labels);
  std::vector<std::size_t> strata(labels.begin(), labels.end());
  return detail::coverage_by_stratum(
      strata, [&](std::size_t i) { return view(i, labels[i]); }, view.cols);
}

}  // namespace tessera::conformal
