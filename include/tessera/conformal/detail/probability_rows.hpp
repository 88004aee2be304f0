#pragma once
// Internals of the classification headers: the checks of an n x K probability matrix and its
// labels at the public boundary, and a loop over rows that gives each thread its own scratch.

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "tessera/conformal/detail/vector_lanes.hpp"
#include "tessera/core/concepts.hpp"
#include "tessera/core/matrix_view.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::conformal::detail {

/// The element type of a matrix container.
template <class M>
using element_of = std::remove_cvref_t<typename std::remove_cvref_t<M>::value_type>;

/// A row-major float or double matrix: what the classification functions take and deduce T from.
template <class M>
concept real_matrix = float_or_double<element_of<M>> && row_major_matrix_of<M, element_of<M>>;

/// How far a row sum may be from 1 before it is refused (the spec's 1e-6; MAPIE allows 1e-5).
inline constexpr double row_sum_tolerance = 1e-6;

/// The sum of a probability row in double, and whether every entry is finite and >= 0, in one
/// branch-free pass. Double: a float row of K = 1000 summed in float could drift past the
/// tolerance. Four interleaved partial sums, ((p0 + p1) + (p2 + p3)), lane l summing entries
/// l, l + 4, ... in order: one running sum is a chain of dependent additions (4 cycles each), which
/// made the check cost more than building the sets. The lanes are one vector of four doubles
/// (detail/vector_lanes.hpp; plain loops kept a branch per compare: 1.0 us per row of 1000). The
/// host's checks and the device's error messages both sum this way, so they quote the same
/// number. next_row: the row the caller reads after this one, or null; its cache lines are
/// requested during the pass (one prefetch per 64 bytes), so that the work on this row hides
/// their latency. The check is a row's first pass, and hardware prefetchers stop at the end of a
/// row that is then read again from cache: with next_row, LAC sets took 0.86 -> 0.66 us per row
/// of 1000 doubles and APS sets 2.17 -> 1.84-1.94 (AMD EPYC, 50 000 rows). O(K).
template <float_or_double T>
double row_sum_and_validity(std::span<const T> row, bool& valid, const T* next_row = nullptr) {
  // The four partial sums as registers of doubles (one of 4 with AVX or AVX-512, two of 2
  // without; never more, as the device sums in the same four), the entries loaded as as many T
  // and widened; no function takes or returns a vector (their ABI would depend on the target's
  // vector extensions).
  constexpr std::size_t lanes = vector_bytes >= 32 ? 4 : 2, registers = 4 / lanes;
  using wide = typename fixed_vector<double, lanes>::type;
  using narrow = typename fixed_vector<T, lanes>::type;
  wide sums[registers] = {};
  auto fine = narrow{} == narrow{};  // all lanes true
  const std::size_t whole = row.size() - row.size() % 4;
  constexpr std::size_t per_line = 64 / sizeof(T);  // a multiple of 4
  for (std::size_t j = 0; j < whole; j += 4) {
    if (next_row != nullptr && j % per_line == 0) __builtin_prefetch(next_row + j);
    for (std::size_t r = 0; r < registers; ++r) {
      narrow p;
      std::memcpy(&p, row.data() + j + r * lanes, sizeof p);
      fine &= (p >= T(0)) & (p - p == T(0));  // >= 0 and finite (NaN fails both)
      sums[r] += __builtin_convertvector(p, wide);
    }
  }
  double partial[4];
  for (std::size_t i = 0; i < 4; ++i) partial[i] = sums[i / lanes][i % lanes];
  for (std::size_t l = 0; l < lanes; ++l) valid &= fine[l] != 0;
  for (std::size_t j = whole; j < row.size(); ++j) {
    valid &= row[j] >= T(0) && row[j] - row[j] == T(0);
    partial[j % 4] += static_cast<double>(row[j]);
  }
  return (partial[0] + partial[1]) + (partial[2] + partial[3]);
}

/// Requires a two-dimensional matrix of K >= 1 columns, naming it `name`: the shape checks of
/// checked_probabilities, for callers that check the entries row by row later. O(1).
template <real_matrix M>
void require_probability_shape(const M& matrix, std::string_view where, std::string_view name) {
  require(matrix.dimension() == 2, where, std::string(name) + ".dimension()", matrix.dimension(), "2");
  require(matrix.shape()[1] >= 1, where, std::string(name) + ".shape()[1]", matrix.shape()[1], ">= 1 (a class)");
}

/// A probability matrix that passed the checks: a view of the caller's data, or of a copy whose
/// rows were divided by their sums. Neither copyable nor movable: it is a local of one call.
template <float_or_double T>
class checked_probabilities {
 public:
  /// Requires a two-dimensional matrix with K >= 1 columns of finite values >= 0, each row
  /// summing to 1 within row_sum_tolerance (renormalize = false) or to a positive number (true).
  /// Throws invalid_argument naming `name` and the offending entry or row. O(n K).
  template <row_major_matrix_of<T> M>
  checked_probabilities(const M& matrix, bool renormalize, std::string_view where,
                        std::string_view name) {
    const std::string label(name);
    require_probability_shape(matrix, where, name);
    view_ = view_of<T>(matrix);
    std::vector<double> sums(view_.rows);
    for (std::size_t i = 0; i < view_.rows; ++i) sums[i] = checked_row_sum(i, where, label);
    for (std::size_t i = 0; i < view_.rows; ++i) {
      const bool ok = renormalize ? sums[i] > 0 : std::abs(sums[i] - 1) <= row_sum_tolerance;
      if (ok) continue;  // the row's name is formatted only on failure
      const std::string row_name = "the sum of " + label + " row " + tessera::detail::to_text(i);
      require(false, where, row_name, sums[i],
              renormalize ? "> 0 to renormalize" : "1 within 1e-6 (or row_sums::renormalized)");
    }
    if (renormalize) divide_rows_by(sums);
  }

  checked_probabilities(const checked_probabilities&) = delete;
  checked_probabilities& operator=(const checked_probabilities&) = delete;

  /// The n x K probabilities to work on.
  const matrix_view<const T>& view() const noexcept { return view_; }

 private:
  double checked_row_sum(std::size_t i, std::string_view where, const std::string& label) const {
    bool valid = true;
    const double sum = row_sum_and_validity(view_.row(i), valid);
    if (!valid) require_entries(i, where, label);
    return sum;
  }

  // Names the first entry of row i that is negative or not finite, by throwing.
  void require_entries(std::size_t i, std::string_view where, const std::string& label) const {
    for (std::size_t j = 0; j < view_.cols; ++j) {
      const T p = view_(i, j);
      if (!(std::isfinite(p) && p >= 0))
        require(false, where,
                label + "(" + tessera::detail::to_text(i) + ", " + tessera::detail::to_text(j) + ")",
                p, "a finite number >= 0");
    }
  }

  void divide_rows_by(const std::vector<double>& sums) {
    renormalized_.resize(view_.rows * view_.cols);
    for (std::size_t i = 0; i < view_.rows; ++i)
      for (std::size_t j = 0; j < view_.cols; ++j)
        renormalized_[i * view_.cols + j] = static_cast<T>(static_cast<double>(view_(i, j)) / sums[i]);
    view_.data = renormalized_.data();
  }

  matrix_view<const T> view_;
  std::vector<T> renormalized_;
};

/// Whether a row passes checked_probabilities' checks as it is: entries finite and >= 0, the sum
/// 1 within row_sum_tolerance. next_row: as for row_sum_and_validity. O(K).
template <float_or_double T>
bool is_probability_row(std::span<const T> row, const T* next_row) {
  bool valid = true;
  const double sum = row_sum_and_validity(row, valid, next_row);
  return valid && std::abs(sum - 1) <= row_sum_tolerance;
}

/// Requires one label per row of the matrix called `matrix_name`, each in [0, classes). O(n).
inline void require_labels(std::string_view where, std::span<const std::int32_t> labels,
                           std::string_view matrix_name, std::size_t rows, std::size_t classes) {
  require(labels.size() == rows, where, "labels.size()", labels.size(),
          std::string(matrix_name) + ".shape()[0] = " + tessera::detail::to_text(rows));
  const auto last = static_cast<std::int32_t>(classes) - 1;
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || labels[i] > last)  // the name is formatted only on failure
      require_in_range(where, "labels[" + tessera::detail::to_text(i) + "]", labels[i], std::int32_t{0}, last);
}

/// Calls body(i, scratch) for every row i < rows, in parallel where OpenMP is on; each thread
/// makes its scratch once with make_scratch(). The bodies must not throw.
template <class MakeScratch, class Body>
void for_each_row(std::size_t rows, MakeScratch make_scratch, Body body) {
  const auto count = static_cast<std::int64_t>(rows);
#if defined(_OPENMP)
#pragma omp parallel if (count > 256)
#endif
  {
    auto scratch = make_scratch();
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
    for (std::int64_t i = 0; i < count; ++i) body(static_cast<std::size_t>(i), scratch);
  }
}

/// Requires `sets` to be a mask of the probabilities' shape, rows x cols, with `memory` (what the
/// message asks for: "memory for the mask", "device memory for the mask") unless it is empty.
/// The shapes are formatted only on failure. O(1).
template <class Mask>
void require_mask_shape(std::string_view where, std::size_t rows, std::size_t cols, const matrix_view<Mask>& sets,
                        std::string_view memory) {
  const auto shape = [](std::size_t r, std::size_t c) {
    return tessera::detail::to_text(r) + " x " + tessera::detail::to_text(c);
  };
  if (sets.rows != rows || sets.cols != cols)
    require(false, where, "sets shape", shape(sets.rows, sets.cols), "the probabilities' shape " + shape(rows, cols));
  require(sets.rows == 0 || sets.data != nullptr, where, "sets.data", "null", memory);
}

/// Calls body(i, row i, scratch) for every row i of `matrix` as for_each_row does, after the
/// checks of checked_probabilities: with renormalize, on the renormalized copy; otherwise each row
/// is checked just before its body runs, so that the matrix streams through memory once rather
/// than twice. When a row fails, the bodies of the rows after it may be skipped and
/// checked_probabilities throws its message (naming the same entry or row as it always does).
/// The bodies must not throw. O(n K) plus the bodies.
template <float_or_double T, row_major_matrix_of<T> M, class MakeScratch, class Body>
void for_each_checked_row(const M& matrix, bool renormalize, std::string_view where, std::string_view name,
                          MakeScratch make_scratch, Body body) {
  const matrix_view<const T> view = view_of<T>(matrix);
  if (renormalize || matrix.dimension() != 2 || view.cols == 0) {
    const checked_probabilities<T> checked(matrix, renormalize, where, name);
    for_each_row(checked.view().rows, make_scratch,
                 [&](std::size_t i, auto& scratch) { body(i, checked.view().row(i), scratch); });
    return;
  }
  std::atomic<bool> failed = false;
  for_each_row(view.rows, make_scratch, [&](std::size_t i, auto& scratch) {
    if (failed.load(std::memory_order_relaxed)) return;
    const T* const next_row = i + 1 < view.rows ? view.row(i + 1).data() : nullptr;
    if (is_probability_row(view.row(i), next_row))
      body(i, view.row(i), scratch);
    else
      failed.store(true, std::memory_order_relaxed);
  });
  if (failed) checked_probabilities<T>(matrix, false, where, name);  // throws: a row failed its checks
}

}  // namespace tessera::conformal::detail
