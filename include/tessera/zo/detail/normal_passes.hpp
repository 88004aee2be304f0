#pragma once
// Passes over θ that combine it with Gaussian directions regenerated from their streams, in
// chunks, so that no direction is ever stored whole: extra memory is one chunk per thread.
//
// Each element is updated by the same operations in the same order whatever the chunking or
// the number of OpenMP threads, so every pass is bit-reproducible.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "tessera/core/concepts.hpp"
#include "tessera/core/exec.hpp"
#include "tessera/core/random.hpp"

namespace tessera::zo::detail {

/// Elements per chunk: 16 KiB of floats, small enough for L1/L2, large enough that Philox's
/// setup and the OpenMP scheduling are amortized.
inline constexpr std::size_t chunk_elements = 4096;

/// Calls body(c) for every chunk c < chunks: on OpenMP threads where enabled and there are
/// several chunks, else in order on the calling thread (an OpenMP region costs about 0.5 us even
/// when its `if` clause is false, which small θ would pay on every pass).
template <class Body>
void for_each_chunk(std::size_t n, Body body) {
  const auto chunks = static_cast<std::int64_t>((n + chunk_elements - 1) / chunk_elements);
  if (chunks <= 1) {
    if (chunks == 1) body(std::int64_t{0});
    return;
  }
#if defined(_OPENMP)
#pragma omp parallel for schedule(static)
#endif
  for (std::int64_t c = 0; c < chunks; ++c) body(c);
}

/// The first index of chunk c, and its length within [0, n).
inline std::size_t chunk_begin(std::int64_t c) { return static_cast<std::size_t>(c) * chunk_elements; }
inline std::size_t chunk_length(std::int64_t c, std::size_t n) {
  return std::min(chunk_elements, n - chunk_begin(c));
}

/// Calls visit(begin, z) for consecutive chunks of [0, n), z holding normal<T>(stream, i) for the
/// chunk's indices i. O(n).
template <float_or_double T, class Visit>
void for_each_normal_chunk(const random_stream& stream, std::size_t n, Visit visit) {
  for_each_chunk(n, [&](std::int64_t c) {
    std::array<T, chunk_elements> buffer;
    const std::span<T> z(buffer.data(), chunk_length(c, n));
    fill_normal<T>(exec::host, stream, z, chunk_begin(c));
    visit(chunk_begin(c), std::span<const T>(z));
  });
}

/// θ_i += a z_i for the direction z of `stream`. O(|θ|).
template <float_or_double T>
void add_scaled_normal(std::span<T> theta, const random_stream& stream, T a) {
  for_each_normal_chunk<T>(stream, theta.size(), [&](std::size_t begin, std::span<const T> z) {
    for (std::size_t i = 0; i < z.size(); ++i) theta[begin + i] += a * z[i];
  });
}

/// θ_i = base_i + a z_i for the direction z of `stream`. O(|θ|).
template <float_or_double T>
void assign_shifted(std::span<T> theta, std::span<const T> base, const random_stream& stream, T a) {
  for_each_normal_chunk<T>(stream, theta.size(), [&](std::size_t begin, std::span<const T> z) {
    for (std::size_t i = 0; i < z.size(); ++i) theta[begin + i] = base[begin + i] + a * z[i];
  });
}

/// One term of an update: the direction's stream and the coefficient it is subtracted with.
template <float_or_double T>
struct update_term {
  random_stream stream;
  T coefficient;
};

/// θ_i -= Σ_t c_t z_t,i with the terms subtracted one after another in their order. Reads θ once
/// for all terms (chunk by chunk). O(|θ| · terms).
template <float_or_double T>
void subtract_directions(std::span<T> theta, std::span<const update_term<T>> terms) {
  if (terms.empty()) return;
  for_each_chunk(theta.size(), [&](std::int64_t c) {
    const std::span<T> part = theta.subspan(chunk_begin(c), chunk_length(c, theta.size()));
    std::array<T, chunk_elements> buffer;
    const std::span<T> z(buffer.data(), part.size());
    for (const update_term<T>& term : terms) {
      fill_normal<T>(exec::host, term.stream, z, chunk_begin(c));
      for (std::size_t i = 0; i < part.size(); ++i) part[i] -= term.coefficient * z[i];
    }
  });
}

}  // namespace tessera::zo::detail
