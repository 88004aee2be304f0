#pragma once
// Internals of the regression headers: intervals written over OpenMP's threads, into fresh memory
// or the caller's, with the inputs they are formed from checked on the way.

#include <concepts>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "tessera/conformal/interval.hpp"
#include "tessera/core/detail/huge_pages.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace tessera::conformal::detail {

/// Makers of interval i from the inputs at index i (form(maker, i)) that watch those inputs as
/// they read them: valid() says whether every input read was good, require_all_valid(where)
/// throws invalid_argument naming the first bad input of all. Copies watch on their own.
template <class Maker>
concept checked_interval_maker = std::copyable<Maker> && requires(const Maker& make, std::string_view where) {
  { make.valid() } -> std::same_as<bool>;
  make.require_all_valid(where);
};

/// Below this many intervals write_intervals runs on one thread: a thread's range then takes a
/// few microseconds, against OpenMP's 0.4 us fork and join.
inline constexpr std::size_t parallel_interval_minimum = std::size_t{1} << 15;

/// out[i] = form(maker, i) for every i < out.size(), then make's checks: over OpenMP's threads
/// where tessera is built with it and out holds at least parallel_interval_minimum intervals,
/// each thread with its own copy of `make`. Throws invalid_argument naming the first bad input,
/// if any was read; out is written whole first. O(m).
template <float_or_double T, checked_interval_maker Maker, class Form>
  requires std::invocable<Form&, Maker&, std::size_t>
void write_intervals(std::string_view where, const Maker& make, std::span<interval<T>> out, Form form) {
  // Each thread writes a contiguous range with a copy of its own; one thread makes no team (a
  // team of one cost 10^4 intervals 17-30% more).
  const auto write_range = [&](std::size_t first, std::size_t last) {
    Maker own = make;
    for (std::size_t i = first; i < last; ++i) out[i] = form(own, i);
    return own.valid();
  };
#if defined(_OPENMP)
  const auto threads = static_cast<std::size_t>(omp_get_max_threads());
  if (out.size() >= parallel_interval_minimum && threads > 1 && !omp_in_parallel()) {
    bool valid = true;
#pragma omp parallel num_threads(static_cast<int>(threads)) reduction(&& : valid)
    {
      const auto t = static_cast<std::size_t>(omp_get_thread_num()), used = static_cast<std::size_t>(omp_get_num_threads());
      valid = write_range(out.size() * t / used, out.size() * (t + 1) / used);
    }
    if (!valid) make.require_all_valid(where);
    return;
  }
#endif
  if (!write_range(0, out.size())) make.require_all_valid(where);
}

/// n intervals left indeterminate (interval's default constructor writes nothing), in memory
/// advised to huge pages when large (core/detail/huge_pages.hpp): a fresh output for
/// write_intervals, whose threads then make its first writes, page faults included. O(1) besides
/// the allocation; throws std::bad_alloc.
template <float_or_double T>
std::vector<interval<T>> fresh_intervals(std::size_t n) {
  std::vector<interval<T>> intervals(n);
  tessera::detail::advise_huge_pages(intervals.data(), n * sizeof(interval<T>));
  return intervals;
}

}  // namespace tessera::conformal::detail
