#pragma once
// The fast Walsh-Hadamard transform (FWHT) on the host.
//
// For x of length n = 2^m the (unnormalized, natural- or "Hadamard"-ordered) transform is
//
//     y_k = sum_{i=0}^{n-1} (-1)^{popcount(i & k)} x_i,        k = 0..n-1,
//
// i.e. y = H_m x with H_m = H_1 (x) ... (x) H_1 (m Kronecker factors), H_1 = [[1, 1], [1, -1]].
// H_m H_m = n I, so the inverse is the same transform divided by n.
//
// QMCPy's `fwht` is the orthonormal version: qmcpy.fwht(x) = fwht(x) / sqrt(n). In the fast
// kernel methods (fast_gram.hpp) the Gram matrix of a digital net under a digitally shift
// invariant kernel is K = H diag(lambda) H / n with lambda = fwht(first column of K).
//
// Rounding: each of the m butterfly stages is sqrt(2) times an orthogonal map and rounds each
// output once, so the computed transform satisfies ||fl(y) - y||_2 <= ((1 + u)^m - 1) ||y||_2
// with u the unit roundoff of T. Integer-valued inputs whose partial sums stay below 2^24
// (float) / 2^53 (double) in magnitude are transformed exactly.
//
// Non-finite inputs are not rejected: IEEE arithmetic carries a NaN or infinity into every
// output (each output depends on every input).

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

#include "tessera/core/concepts.hpp"
#include "tessera/core/exec.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::qmc {
namespace detail {

/// log2 of the contiguous block that the first group of stages works on while it stays in the
/// L1 cache: 32 KiB of values.
template <float_or_double T>
inline constexpr int fwht_host_block_bits = sizeof(T) == 4 ? 13 : 12;

/// Transforms below this many values run on one thread: the OpenMP fork costs more.
inline constexpr std::size_t fwht_parallel_threshold = std::size_t{1} << 15;

/// All stages h = 1, 2, ..., 2^(bits-1) on the contiguous, cache-resident block x[0, 2^bits),
/// radix 2 (the inner loop runs over contiguous values and vectorizes for h >= 4).
template <class T>
void fwht_block(T* x, int bits) {
  const std::size_t n = std::size_t{1} << bits;
  for (std::size_t h = 1; h < n; h <<= 1) {
    for (std::size_t i = 0; i < n; i += 2 * h) {
      T* lo = x + i;
      T* hi = x + i + h;
      for (std::size_t j = 0; j < h; ++j) {
        const T a = lo[j];
        const T b = hi[j];
        lo[j] = a + b;
        hi[j] = a - b;
      }
    }
  }
}

/// Stages s .. s+R-1 (R <= 4) for the groups of 2^R values spaced 2^s apart that start at
/// base + j, j in [j0, j1): R stages in one pass over memory. The 2^R streams are copied in
/// slices of 64 values to a local buffer, where each butterfly is a loop over distinct
/// contiguous rows that the compiler vectorizes without alias checks.
template <int R, class T>
void fwht_radix_groups(T* base, std::size_t stride, std::size_t j0, std::size_t j1) {
  constexpr int width = 1 << R;
  constexpr std::size_t slice = 64;
  alignas(64) T buffer[width][slice];
  for (std::size_t start = j0; start < j1; start += slice) {
    const std::size_t count = j1 - start < slice ? j1 - start : slice;
    for (int k = 0; k < width; ++k) {
      const T* from = base + static_cast<std::size_t>(k) * stride + start;
      for (std::size_t j = 0; j < count; ++j) buffer[k][j] = from[j];
    }
    for (int bit = 1; bit < width; bit <<= 1) {
      for (int k = 0; k < width; ++k) {
        if ((k & bit) != 0) continue;
        T* a = buffer[k];
        T* b = buffer[k | bit];
        for (std::size_t j = 0; j < count; ++j) {
          const T u = a[j];
          const T v = b[j];
          a[j] = u + v;
          b[j] = u - v;
        }
      }
    }
    for (int k = 0; k < width; ++k) {
      T* to = base + static_cast<std::size_t>(k) * stride + start;
      for (std::size_t j = 0; j < count; ++j) to[j] = buffer[k][j];
    }
  }
}

/// Stages s .. s+R-1 over the whole array x[0, n); threads split the (group, chunk of j) work
/// items where `parallel`.
template <int R, class T>
void fwht_radix_pass(T* x, std::size_t n, int s, bool parallel) {
  const std::size_t stride = std::size_t{1} << s;
  const std::size_t group_length = stride << R;  // values touched by one group
  // Work items: (group, chunk of j) pairs, so that a few large groups still split across threads.
  const std::size_t chunk = stride < 1024 ? stride : 1024;
  const std::size_t chunks_per_group = stride / chunk;
  const auto items = static_cast<std::int64_t>((n / group_length) * chunks_per_group);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (parallel)
#endif
  for (std::int64_t item = 0; item < items; ++item) {
    const std::size_t group = static_cast<std::size_t>(item) / chunks_per_group;
    const std::size_t j0 = (static_cast<std::size_t>(item) % chunks_per_group) * chunk;
    fwht_radix_groups<R>(x + group * group_length, stride, j0, j0 + chunk);
  }
  (void)parallel;  // unused when OpenMP is off
}

/// The FWHT of x[0, 2^m): all stages of each L1-sized block first (blocks in parallel), then
/// the remaining stages over the whole array, four per pass.
template <class T>
void fwht_inplace(T* x, int m, bool parallel) {
  const int block_bits = m < fwht_host_block_bits<T> ? m : fwht_host_block_bits<T>;
  const std::size_t n = std::size_t{1} << m;
  const auto blocks = static_cast<std::int64_t>(n >> block_bits);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (parallel && blocks > 1)
#endif
  for (std::int64_t b = 0; b < blocks; ++b) fwht_block(x + (static_cast<std::size_t>(b) << block_bits), block_bits);
  int s = block_bits;
  while (s < m) {
    switch (m - s >= 4 ? 4 : m - s) {
      case 4: fwht_radix_pass<4>(x, n, s, parallel); s += 4; break;
      case 3: fwht_radix_pass<3>(x, n, s, parallel); s += 3; break;
      case 2: fwht_radix_pass<2>(x, n, s, parallel); s += 2; break;
      default: fwht_radix_pass<1>(x, n, s, parallel); s += 1; break;
    }
  }
}

template <class T>
void scale_values(std::span<T> values, T factor, bool parallel) {
  const auto n = static_cast<std::int64_t>(values.size());
  T* x = values.data();
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (parallel)
#endif
  for (std::int64_t i = 0; i < n; ++i) x[i] *= factor;
  (void)parallel;
}

/// log2 of a validated power of two.
inline int log2_exact(std::size_t n) { return std::countr_zero(n); }

}  // namespace detail

/// In-place unnormalized FWHT of `values` (length n = 2^m, m >= 0): values <- H_m values, see
/// the top of this header. O(m 2^m) additions; OpenMP threads for n >= 2^15 where enabled.
/// The first min(m, 13) (float) / min(m, 12) (double) stages run on L1-sized blocks, the
/// rest four stages per pass over memory.
/// Throws invalid_argument when the length is not a power of two (0 included).
template <float_or_double T>
void fwht(exec::host_policy, std::span<T> values) {
  require_power_of_two("tessera::qmc::fwht", "values.size()", values.size());
  detail::fwht_inplace(values.data(), detail::log2_exact(values.size()),
                       values.size() >= detail::fwht_parallel_threshold);
}

/// In-place inverse FWHT: values <- H_m values / n, so ifwht(fwht(x)) = x up to rounding.
/// O(m 2^m). Throws invalid_argument when the length is not a power of two.
template <float_or_double T>
void ifwht(exec::host_policy policy, std::span<T> values) {
  fwht(policy, values);
  detail::scale_values(values, T(1) / static_cast<T>(values.size()),
                       values.size() >= detail::fwht_parallel_threshold);
}

/// Batched in-place FWHT: `values` holds rows of `row_length` = 2^m contiguous values (a
/// row-major matrix with values.size() / row_length rows) and each row is transformed.
/// O(rows m 2^m); threads split the rows when rows are short, the stages when rows are long.
/// Throws invalid_argument when row_length is not a power of two or does not divide
/// values.size(), or when values is empty.
template <float_or_double T>
void fwht_rows(exec::host_policy, std::span<T> values, std::size_t row_length) {
  constexpr const char* where = "tessera::qmc::fwht_rows";
  require_power_of_two(where, "row_length", row_length);
  require(!values.empty() && values.size() % row_length == 0, where, "values.size()", values.size(),
          "a positive multiple of row_length = " + tessera::detail::to_text(row_length));
  const int m = detail::log2_exact(row_length);
  const auto rows = static_cast<std::int64_t>(values.size() / row_length);
  if (row_length >= detail::fwht_parallel_threshold) {
    for (std::int64_t r = 0; r < rows; ++r)
      detail::fwht_inplace(values.data() + static_cast<std::size_t>(r) * row_length, m, true);
    return;
  }
  T* x = values.data();
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (values.size() >= detail::fwht_parallel_threshold)
#endif
  for (std::int64_t r = 0; r < rows; ++r)
    detail::fwht_inplace(x + static_cast<std::size_t>(r) * row_length, m, false);
}

}  // namespace tessera::qmc
