#pragma once
// The vocabulary shared by every QMC generator: index ranges and point arrays.
//
// Every generator makes points by index, so any slice [begin, end) of a sequence is made without
// the points before it, on any device. One replication is an n x d array; R independent
// randomizations of the same points are an R x n x d array (QMCPy's and SciPy's layout).

#include <cstdint>
#include <string_view>
#include <xtensor/xtensor.hpp>

#include "tessera/core/concepts.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::qmc {

/// The half-open range of point indices [begin, end).
struct index_range {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;

  /// The number of points, end - begin.
  constexpr std::uint64_t size() const noexcept { return end - begin; }
};

/// Requires begin <= end <= limit (limit: how many points the generator can make).
inline void require_index_range(std::string_view where, index_range range, std::uint64_t limit) {
  require(range.begin <= range.end, where, "range.begin", range.begin, "range.begin <= range.end");
  require(range.end <= limit, where, "range.end", range.end,
          "range.end <= " + tessera::detail::to_text(limit) + " (the generator's capacity)");
}

/// n points in d dimensions, row i = point i (row-major, contiguous).
template <float_or_double T>
using point_array = xt::xtensor<T, 2>;

/// R replications of n points in d dimensions: out(r, i, j) is coordinate j of point i of
/// randomization r.
template <float_or_double T>
using replicated_points = xt::xtensor<T, 3>;

}  // namespace tessera::qmc
