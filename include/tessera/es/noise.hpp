#pragma once
// Where every perturbation of an evolution strategy comes from: a pure function of
// (seed, layer l, generation t, member i, element index), DESIGN principle 3.
//
// Member i of generation t draws block l's noise from the stream
//     random_stream(seed, l, t, k),   k = i / 2 with antithetic pairs (sign + for even i, − for odd),
//                                     k = i without them,
// i.e. Philox keyed by (seed, l) with counter (t, k, index) as es.md asks. Within a stream:
//   low-rank matrix (EGGROLL), m × n, rank r:  A (m × r, row-major) = draws [0, m r),
//                                              B (n × r, row-major) = draws [m r, m r + n r),
//                                              E = A Bᵀ / √r  (each entry has variance 1);
//   full-rank matrix (OpenAI-ES):              E (m × n, row-major) = draws [0, m n);
//   vector of length n:                        ε = draws [0, n).
// Draws are tessera::normal<T>, so the host and the device produce the same bits.
//
// The 1/√r follows the EGGROLL paper (Sarkar et al. 2025, arXiv 2511.16652, which perturbs by
// A Bᵀ/√r): it keeps every entry of E at unit variance whatever the rank, so σ means the same for
// low-rank and full-rank noise.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "tessera/core/concepts.hpp"
#include "tessera/core/config.hpp"
#include "tessera/core/random.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/es/parameter_layout.hpp"

namespace tessera::es {

/// EGGROLL's perturbations: rank-r matrices E = A Bᵀ/√r.
struct low_rank {
  std::size_t rank = 1;
};

/// OpenAI-ES perturbations: dense Gaussian matrices (the baseline; O(m n) per member).
struct full_rank {};

/// The two kinds of matrix perturbation.
template <class N>
concept noise_kind = std::same_as<N, low_rank> || std::same_as<N, full_rank>;

/// Which noise a population member uses: its stream index and its sign (host and device).
struct member_noise {
  std::uint32_t index = 0;  ///< k: member / 2 with antithetic pairs, else member
  bool negated = false;     ///< the odd member of an antithetic pair

  /// Member `member` of a population with or without antithetic pairs. O(1).
  TESSERA_HOST_DEVICE static member_noise of(std::uint64_t member, bool antithetic) {
    return antithetic ? member_noise{static_cast<std::uint32_t>(member / 2), member % 2 == 1}
                      : member_noise{static_cast<std::uint32_t>(member), false};
  }
};

/// The stream of block `layer` for noise index k of generation t. O(1).
TESSERA_HOST_DEVICE inline random_stream noise_stream(std::uint64_t seed, std::size_t layer, std::uint32_t generation,
                                  std::uint32_t k) {
  return random_stream(seed, static_cast<std::uint32_t>(layer), generation, k);
}

/// Throws invalid_argument unless 1 <= r <= min(m, n) for every matrix block of the layout.
inline void require_rank_fits(const parameter_layout& layout, low_rank noise) {
  for (std::size_t l = 0; l < layout.block_count(); ++l) {
    const parameter_block& b = layout.block(l);
    if (!b.is_matrix()) continue;
    const std::size_t limit = std::min(b.rows, b.cols);
    require(noise.rank >= 1 && noise.rank <= limit, "tessera::es::low_rank", "rank", noise.rank,
            "1 <= rank <= min(m, n) = " + std::to_string(limit) + " (block " + std::to_string(l) + ")");
  }
}

/// Full-rank noise needs no check.
inline void require_rank_fits(const parameter_layout&, full_rank) {}

/// Fills EGGROLL's factors A (m × r) and B (n × r), row-major, unscaled. O(r (m + n)).
template <float_or_double T>
void fill_low_rank_factors(const random_stream& s, std::size_t m, std::size_t n, std::size_t r,
                           std::span<T> a, std::span<T> b) {
  fill_normal<T>(exec::host, s, a.first(m * r), 0);
  fill_normal<T>(exec::host, s, b.first(n * r), m * r);
}

/// Fills a dense m × n (or vector) perturbation, row-major. O(size).
template <float_or_double T>
void fill_dense_noise(const random_stream& s, std::span<T> e) {
  fill_normal<T>(exec::host, s, e, 0);
}

}  // namespace tessera::es
