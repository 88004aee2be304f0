#pragma once
// Internals of the regression headers: intervals written into the caller's memory over OpenMP's
// threads, with the inputs they are formed from checked on the way.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "tessera/conformal/interval.hpp"

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
  const auto count = static_cast<std::int64_t>(out.size());
  bool valid = true;
#if defined(_OPENMP)
#pragma omp parallel if (out.size() >= parallel_interval_minimum) reduction(&& : valid)
#endif
  {
    Maker own = make;
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
    for (std::int64_t i = 0; i < count; ++i) out[static_cast<std::size_t>(i)] = form(own, static_cast<std::size_t>(i));
    valid = own.valid();
  }
  if (!valid) make.require_all_valid(where);
}

}  // namespace tessera::conformal::detail
