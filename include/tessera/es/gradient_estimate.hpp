#pragma once
// The ES gradient estimate from shaped fitness, regenerating every perturbation from its stream.
//
//   ĝ = 1/(N σ) Σ_i w_i ε_i                       (Salimans et al. 2017, N members, weights w)
//     = 1/(N σ) Σ_k c_k ε_k,  c_k = w_2k − w_2k+1 with antithetic pairs (member 2k+1 uses −ε_k),
//                             c_k = w_k without them.
// For a low-rank matrix block (EGGROLL), Σ_k c_k A_k B_kᵀ/√r is one GEMM Ã diag(c ⊗ 1_r) B̃ᵀ with
// Ã = [A_1 … A_K] (m × K r) and B̃ likewise (n × K r): tessera forms it in chunks of members so
// the factors held at once stay near `chunk_elements` numbers whatever K is. The sum has rank up to
// K r: the update is high-rank although each perturbation has rank r.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <Eigen/Core>

#include "tessera/core/concepts.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/es/noise.hpp"
#include "tessera/es/parameter_layout.hpp"
#include "tessera/es/perturbed_parameters.hpp"

namespace tessera::es {

/// The coefficient of each noise index: w_2k − w_2k+1 with antithetic pairs (N even), else w_k.
/// O(N). Throws invalid_argument when antithetic and N is odd.
template <float_or_double T>
std::vector<T> noise_coefficients(std::span<const T> weights, bool antithetic) {
  if (!antithetic) return {weights.begin(), weights.end()};
  require(weights.size() % 2 == 0, "tessera::es::noise_coefficients", "weights.size()", weights.size(),
          "an even population with antithetic pairs");
  std::vector<T> c(weights.size() / 2);
  for (std::size_t k = 0; k < c.size(); ++k) c[k] = weights[2 * k] - weights[2 * k + 1];
  return c;
}

namespace detail {

/// Numbers of factors held at once by the low-rank update (16 Mi: 64 MiB of floats).
inline constexpr std::size_t default_chunk_elements = std::size_t{1} << 24;

/// g += Σ_k c_k ε_k for a vector or full-rank matrix block (dense draws). O(K · size).
template <float_or_double T>
void accumulate_dense(const parameter_block& b, std::size_t layer, std::uint64_t seed,
                      std::uint32_t generation, std::span<const T> c, std::span<T> g) {
  std::vector<T> e(b.size());
  for (std::size_t k = 0; k < c.size(); ++k) {
    if (c[k] == T(0)) continue;  // tied pairs and zero weights contribute nothing
    fill_dense_noise<T>(noise_stream(seed, layer, generation, static_cast<std::uint32_t>(k)), e);
    for (std::size_t j = 0; j < e.size(); ++j) g[j] += c[k] * e[j];
  }
}

/// G += Σ_k c_k A_k B_kᵀ for a low-rank block, as GEMMs of m × C r by C r × n with C chosen so
/// the factors held at once number about `chunk_elements`. O(K r m n) arithmetic, O(K r (m + n))
/// draws.
template <float_or_double T>
void accumulate_low_rank(const parameter_block& b, std::size_t r, std::size_t layer, std::uint64_t seed,
                         std::uint32_t generation, std::span<const T> c, std::span<T> g,
                         std::size_t chunk_elements = default_chunk_elements) {
  const std::size_t m = b.rows, n = b.cols, k_count = c.size();
  const std::size_t chunk = std::clamp<std::size_t>(chunk_elements / ((m + n) * r), 1, k_count);
  Eigen::Map<matrix<T>> gradient(g.data(), static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(n));
  matrix<T> a_all(m, chunk * r), b_all(n, chunk * r);
  for (std::size_t first = 0; first < k_count; first += chunk) {
    const std::size_t count = std::min(chunk, k_count - first);
    const auto members = static_cast<std::int64_t>(count);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static)
#endif
    for (std::int64_t q = 0; q < members; ++q) {
      const std::size_t k = first + static_cast<std::size_t>(q);
      matrix<T> a(m, r), bk(n, r);
      fill_low_rank_factors<T>(noise_stream(seed, layer, generation, static_cast<std::uint32_t>(k)), m, n, r,
                               std::span<T>(a.data(), a.size()), std::span<T>(bk.data(), bk.size()));
      const auto column = static_cast<Eigen::Index>(static_cast<std::size_t>(q) * r);
      const auto width = static_cast<Eigen::Index>(r);
      a_all.middleCols(column, width) = c[k] * a;  // diag(c ⊗ 1_r) folded into Ã
      b_all.middleCols(column, width) = bk;
    }
    const auto used = static_cast<Eigen::Index>(count * r);
    gradient.noalias() += a_all.leftCols(used) * b_all.leftCols(used).transpose();
  }
}

}  // namespace detail

/// ĝ = 1/(N σ) Σ_k c_k ε_k for every block of the layout (see the top of this header).
///   noise: low_rank{r} or full_rank{}; sigma > 0; seed, generation: the streams;
///   coefficients: c_k from noise_coefficients; population: N; gradient: |θ| outputs.
/// Complexity: low-rank blocks O(K r m n) in GEMMs, full-rank and vector blocks O(K · size).
/// Throws invalid_argument when gradient.size() != layout.size().
template <float_or_double T, noise_kind Noise>
void estimate_gradient(const parameter_layout& layout, Noise noise, T sigma, std::uint64_t seed,
                       std::uint32_t generation, std::span<const T> coefficients, std::size_t population,
                       std::span<T> gradient) {
  require_same_size("tessera::es::estimate_gradient", "gradient", gradient.size(), "layout", layout.size());
  std::fill(gradient.begin(), gradient.end(), T(0));
  for (std::size_t l = 0; l < layout.block_count(); ++l) {
    const parameter_block& b = layout.block(l);
    const std::span<T> g = gradient.subspan(b.offset, b.size());
    if constexpr (std::same_as<Noise, low_rank>) {
      if (b.is_matrix()) {
        detail::accumulate_low_rank<T>(b, noise.rank, l, seed, generation, coefficients, g);
        const T root_r = std::sqrt(static_cast<T>(noise.rank));
        for (T& x : g) x /= root_r;
        continue;
      }
    }
    detail::accumulate_dense<T>(b, l, seed, generation, coefficients, g);
  }
  const T scale = T(1) / (static_cast<T>(population) * sigma);
  for (T& x : gradient) x *= scale;
}

}  // namespace tessera::es
