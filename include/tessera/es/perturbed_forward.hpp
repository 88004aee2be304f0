#pragma once
// The batched perturbed forward of one layer for a whole population sharing its inputs: the
// operation EGGROLL makes cheap.
//
//   Y_i = X (W + σ E_i),  i in [first, first + count),  X: b × m shared,  W: m × n.
//
// Low-rank: Y_i = X W + (σ/√r) (X A_i) B_iᵀ. X W is one GEMM for all members; each member adds
// O(b r (m + n)) work and draws r (m + n) numbers. Full-rank (the naive baseline): W + σ E_i is
// formed per member, O(m n) draws and a b × m × n product each.
// Members' noise and signs are those of es/noise.hpp, so Y_i equals what
// perturbed_parameters::linear returns for member i (the same draws, the same sums).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include <Eigen/Core>

#include "tessera/core/exec.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/es/noise.hpp"
#include "tessera/es/perturbed_parameters.hpp"

namespace tessera::es {

/// Which noise a population draws: the streams' seed and generation, antithetic pairs or not.
struct population_noise {
  std::uint64_t seed = 0;
  std::uint32_t generation = 0;
  bool antithetic = true;
};

/// Writes Y_i for members [first, first + count) into `out`, member after member, each b × n
/// row-major (see the top of this header). `layer` selects the streams (the block index of W).
/// Complexity: low-rank O(b m n + count (b r (m + n) + r (m + n))); full-rank O(count (m n + b m n)).
/// OpenMP-parallel over members where enabled.
/// Throws invalid_argument on mismatched shapes, out.size() != count b n, σ <= 0, or a rank outside
/// [1, min(m, n)].
template <float_or_double T, noise_kind Noise>
void perturbed_forward(exec::host_policy, const matrix<T>& x, const matrix<T>& w, std::size_t layer, Noise noise,
                       T sigma, population_noise population, std::size_t first, std::size_t count,
                       std::span<T> out) {
  constexpr auto where = "tessera::es::perturbed_forward";
  const auto b = static_cast<std::size_t>(x.rows());
  const auto m = static_cast<std::size_t>(w.rows()), n = static_cast<std::size_t>(w.cols());
  require(static_cast<std::size_t>(x.cols()) == m, where, "x.cols()", x.cols(), "w.rows() = " + std::to_string(m));
  require_same_size(where, "out", out.size(), "count * x.rows() * w.cols()", count * b * n);
  require_positive(where, "sigma", sigma);
  parameter_layout shape;
  shape.add_matrix(m, n);
  require_rank_fits(shape, noise);
  const matrix<T> shared = x * w;  // X W, once for the population
  const auto members = static_cast<std::int64_t>(count);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static)
#endif
  for (std::int64_t q = 0; q < members; ++q) {
    const member_noise who = member_noise::of(first + static_cast<std::size_t>(q), population.antithetic);
    const random_stream s = noise_stream(population.seed, layer, population.generation, who.index);
    const T signed_sigma = who.negated ? -sigma : sigma;
    Eigen::Map<matrix<T>> y(out.data() + static_cast<std::size_t>(q) * b * n, static_cast<Eigen::Index>(b),
                            static_cast<Eigen::Index>(n));
    if constexpr (std::same_as<Noise, low_rank>) {
      const std::size_t r = noise.rank;
      matrix<T> a(m, r), bt(n, r);
      fill_low_rank_factors<T>(s, m, n, r, std::span<T>(a.data(), a.size()), std::span<T>(bt.data(), bt.size()));
      const T scale = signed_sigma / std::sqrt(static_cast<T>(r));
      y = shared;
      y.noalias() += ((scale * x) * a) * bt.transpose();
    } else {
      matrix<T> e(m, n);
      fill_dense_noise<T>(s, std::span<T>(e.data(), e.size()));
      y.noalias() = x * (w + signed_sigma * e);
    }
  }
}

}  // namespace tessera::es
