#pragma once
// The device side of es/noise.hpp: members' streams and EGGROLL's factors generated on the GPU
// with the host's bits.
//
// Kernels generate a member's factors where they use them (in registers or shared memory, never
// stored in global memory): the threads of a block share out the Philox blocks of a contiguous
// range of draws, each thread computing whole blocks (four floats or two doubles per Philox call,
// core/random.hpp) and handing every draw in the range to a store function; the blocks at the two
// ends of a range that does not start or end on a block boundary are cut. fill_low_rank_factors
// below runs the same routine into device memory, so comparing it with the host's fill (tests/es/
// noise_gpu_test.cu) checks the kernels' generation too.

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "tessera/core/concepts.hpp"
#include "tessera/core/cuda/check.cuh"
#include "tessera/core/exec.hpp"
#include "tessera/core/random.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/es/noise.hpp"

namespace tessera::es {
namespace detail {

/// Calls store(d − first, z_d) for every draw d in [first, first + count) of the stream, z_d =
/// normal<T>(stream, d), shared among `workers` threads (no synchronization inside): worker w
/// computes the Philox blocks w, w + workers, ... of the range, each once.
template <float_or_double T, class Store>
__device__ void generate_normal_range(const random_stream& stream, std::uint64_t first, std::uint32_t count,
                                      std::uint32_t worker, std::uint32_t workers, Store&& store) {
  if (count == 0) return;
  constexpr std::uint64_t per_block = draws_per_block<T>;
  const std::uint64_t end = first + count;
  const std::uint64_t first_block = first / per_block;
  const std::uint64_t blocks = (end - 1) / per_block - first_block + 1;
  for (std::uint64_t t = worker; t < blocks; t += workers) {
    const std::uint64_t block = first_block + t;
    const auto z = normal_block<T>(stream, block);
    const std::uint64_t d0 = block * per_block;
    const bool whole = d0 >= first && d0 + per_block <= end;  // all but the range's two end blocks
#pragma unroll
    for (std::uint64_t e = 0; e < per_block; ++e) {
      const std::uint64_t d = d0 + e;
      if (whole || (d >= first && d < end)) store(static_cast<std::uint32_t>(d - first), z[e]);
    }
  }
}

/// The same range shared among all threads of the block.
template <float_or_double T, class Store>
__device__ void generate_normal_range(const random_stream& stream, std::uint64_t first, std::uint32_t count,
                                      Store&& store) {
  generate_normal_range<T>(stream, first, count, threadIdx.x, blockDim.x, store);
}

/// member_streams::member_of_unit for a sign whose member lies outside [first, first + count).
inline constexpr std::uint64_t no_member = ~std::uint64_t{0};

/// Members [first, first + count) of a population as kernels see them: member first + q draws
/// from noise_stream(seed, layer, generation, k) with k and the sign of member_noise::of (k = i/2
/// and − for odd i with antithetic pairs), and its perturbation is scaled by ±scale.
/// Unit u is the set of members that draw noise index first_index() + u: an antithetic pair
/// (either member cut off where the pair straddles an end of the range) or, without pairs, one
/// member. The forward draws a unit's factors once for all its members.
template <float_or_double T>
struct member_streams {
  std::uint64_t seed;
  std::uint32_t layer;
  std::uint32_t generation;
  std::uint64_t first;
  std::uint64_t count;
  bool antithetic;
  T scale;  ///< σ/√r for low-rank noise, σ for full-rank noise

  /// The stream of member first + q.
  __device__ random_stream stream(std::uint64_t q) const {
    return noise_stream(seed, layer, generation, member_noise::of(first + q, antithetic).index);
  }

  /// −scale for the odd member of an antithetic pair, else scale.
  __device__ T signed_scale(std::uint64_t q) const {
    return member_noise::of(first + q, antithetic).negated ? -scale : scale;
  }

  /// The noise index of unit 0 (member first's).
  __host__ __device__ std::uint64_t first_index() const { return member_noise::of(first, antithetic).index; }

  /// How many units the members span (0 for no members).
  __host__ __device__ std::uint64_t units() const {
    return count == 0 ? 0 : member_noise::of(first + count - 1, antithetic).index - first_index() + 1;
  }

  /// The stream of unit u (that of each of its members).
  __device__ random_stream unit_stream(std::uint64_t u) const {
    return noise_stream(seed, layer, generation, static_cast<std::uint32_t>(first_index() + u));
  }

  /// q of unit u's member of the given sign (negated: the odd member of a pair), or no_member.
  __device__ std::uint64_t member_of_unit(std::uint64_t u, bool negated) const {
    if (!antithetic) return negated ? no_member : u;
    const std::uint64_t member = 2 * (first_index() + u) + (negated ? 1 : 0);
    return member >= first && member - first < count ? member - first : no_member;
  }
};

/// Blocks for `items` work items, at most 2^20 (the kernels loop over the rest); at least 1.
inline unsigned grid_blocks(std::uint64_t items) {
  constexpr std::uint64_t most = std::uint64_t{1} << 20;
  return static_cast<unsigned>(items == 0 ? 1 : (items < most ? items : most));
}

/// Draws each block of the fill kernel generates.
inline constexpr std::uint32_t fill_tile_draws = 4096;

/// Block t < tiles_a writes draws [t D, t D + D) ∩ [0, m r) into a; the others the draws
/// m r + [u D, u D + D) ∩ [0, n r), u = t − tiles_a, into b (D = fill_tile_draws).
template <float_or_double T>
__global__ void fill_factors_kernel(random_stream stream, std::uint64_t a_size, std::uint64_t b_size,
                                    std::uint64_t tiles_a, std::uint64_t tiles, T* a, T* b) {
  for (std::uint64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const bool in_a = t < tiles_a;
    const std::uint64_t offset = (in_a ? t : t - tiles_a) * fill_tile_draws;
    const std::uint64_t size = in_a ? a_size : b_size;
    const auto count = static_cast<std::uint32_t>(size - offset < fill_tile_draws ? size - offset : fill_tile_draws);
    T* out = (in_a ? a : b) + offset;
    generate_normal_range<T>(stream, (in_a ? 0 : a_size) + offset, count,
                             [out](std::uint32_t i, T z) { out[i] = z; });
  }
}

}  // namespace detail

/// Device version of fill_low_rank_factors: A (m × r) into a.first(m r) and B (n × r) into
/// b.first(n r), row-major, unscaled, in device memory; the host's bits. Enqueued on
/// policy.stream. O(r (m + n)) work, one thread per Philox block.
/// Throws invalid_argument when a.size() < m r or b.size() < n r; cuda_error on a failed launch.
template <float_or_double T>
void fill_low_rank_factors(exec::cuda policy, const random_stream& s, std::size_t m, std::size_t n, std::size_t r,
                           std::span<T> a, std::span<T> b) {
  constexpr auto where = "tessera::es::fill_low_rank_factors";
  require(a.size() >= m * r, where, "a.size()", a.size(), ">= m r = " + std::to_string(m * r));
  require(b.size() >= n * r, where, "b.size()", b.size(), ">= n r = " + std::to_string(n * r));
  const std::uint64_t a_size = m * r, b_size = n * r;
  const std::uint64_t tiles_a = (a_size + detail::fill_tile_draws - 1) / detail::fill_tile_draws;
  const std::uint64_t tiles = tiles_a + (b_size + detail::fill_tile_draws - 1) / detail::fill_tile_draws;
  if (tiles == 0) return;
  detail::fill_factors_kernel<T><<<detail::grid_blocks(tiles), 256, 0, policy.stream>>>(s, a_size, b_size, tiles_a,
                                                                                         tiles, a.data(), b.data());
  check_launch(where);
}

}  // namespace tessera::es
