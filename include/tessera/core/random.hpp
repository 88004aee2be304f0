#pragma once
// Counter-based random streams: every draw is a pure function of (seed, stream ids, index).
//
// DESIGN principle 3. A stream is named by a 64-bit seed and up to three 32-bit ids (for example
// layer, generation and member of an evolution strategy). Its k-th block of 128 random bits is
//
//     block(k) = Philox4x32-10(counter = {k mod 2^32, k / 2^32, id1, id2}, key = K(seed, id0))
//     K(seed, id0) = the first two words of Philox4x32-10({id0, 0, 0, 0x7e55e7a0}, {seed_lo, seed_hi})
//
// (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11; the
// implementation is Random123's). Draws are cut from blocks as follows, T = float or double:
//
//   uniform<T>(s, i)     in [0, 1): float: (word >> 8) 2^-24, four per block;
//                        double: (64-bit pair >> 11) 2^-53, two per block (low word first).
//   normal<T>(s, i)      Box-Muller on a pair of uniforms: u1 = (2j + 1) 2^-(b+1) in (0, 1) with
//                        b = 23 (float) / 52 (double) bits, angle 2 pi j'/2^b' with b' = 24 / 53;
//                        z = sqrt(-2 log u1) (cos, sin) of the angle: even index cos, odd sin.
//                        float: four per block (words 0,1 then 2,3); double: two per block.
//   rademacher<T>(s, i)  +-1 from bit i mod 32 of word (i / 32) mod 4 of block i / 128.
//
// Box-Muller is exact in distribution; its log, sin and cos are tessera's reproducible ones, so
// host and device return the same bits (see detail/reproducible_math.hpp). The largest normal
// magnitude is sqrt(2 ln 2^24) = 5.77 for float and sqrt(2 ln 2^53) = 8.57 for double.

#include <Random123/philox.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include "tessera/core/concepts.hpp"
#include "tessera/core/config.hpp"
#include "tessera/core/detail/reproducible_math.hpp"
#include "tessera/core/exec.hpp"

namespace tessera {

/// 128 random bits: the four 32-bit words of one Philox block.
using philox_block = std::array<std::uint32_t, 4>;

/// A Philox key: 64 bits as two words.
using philox_key = std::array<std::uint32_t, 2>;

/// Philox4x32-10 applied to one counter under one key: exactly Random123's r123::Philox4x32.
/// O(1): ten rounds of two 32x32->64 multiplications.
TESSERA_HOST_DEVICE inline philox_block philox4x32_10(const philox_block& counter,
                                                       const philox_key& key) {
  const r123::Philox4x32::ctr_type c = {{counter[0], counter[1], counter[2], counter[3]}};
  const r123::Philox4x32::key_type k = {{key[0], key[1]}};
  const auto out = r123::Philox4x32{}(c, k);
  return {out[0], out[1], out[2], out[3]};
}

/// One reproducible random stream; see the top of this header for its definition.
/// A value type of 16 bytes, cheap to copy into a kernel.
class random_stream {
 public:
  /// seed: any 64-bit value; id0..id2: stream ids (e.g. layer, generation, member).
  /// Cost: one Philox evaluation, to derive the key.
  TESSERA_HOST_DEVICE explicit random_stream(std::uint64_t seed, std::uint32_t id0 = 0,
                                             std::uint32_t id1 = 0, std::uint32_t id2 = 0)
      : key_(derive_key(seed, id0)), id1_(id1), id2_(id2) {}

  /// Block k of the stream, k in [0, 2^64). O(1).
  TESSERA_HOST_DEVICE philox_block block(std::uint64_t k) const {
    return philox4x32_10({static_cast<std::uint32_t>(k), static_cast<std::uint32_t>(k >> 32),
                          id1_, id2_},
                         key_);
  }

  /// The derived Philox key (for tests and for users who drive Philox themselves).
  TESSERA_HOST_DEVICE const philox_key& key() const { return key_; }

 private:
  static constexpr std::uint32_t key_domain = 0x7e55e7a0;  // separates key derivation from draws

  TESSERA_HOST_DEVICE static philox_key derive_key(std::uint64_t seed, std::uint32_t id0) {
    const philox_block derived =
        philox4x32_10({id0, 0, 0, key_domain},
                      {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)});
    return {derived[0], derived[1]};
  }

  philox_key key_;
  std::uint32_t id1_;
  std::uint32_t id2_;
};

/// How many draws of type T one block yields for uniform and normal draws: 4 floats, 2 doubles.
template <float_or_double T>
inline constexpr int draws_per_block = static_cast<int>(16 / sizeof(T));

/// How many Rademacher signs one block yields.
inline constexpr int signs_per_block = 128;

namespace detail {

TESSERA_HOST_DEVICE inline std::uint64_t join_words(std::uint32_t low, std::uint32_t high) {
  return (static_cast<std::uint64_t>(high) << 32) | low;
}

/// Box-Muller from two integers: the radius from j1 (open-interval uniform), the angle from j2.
template <float_or_double T, int RadiusBits, int AngleBits>
TESSERA_HOST_DEVICE void box_muller(std::uint64_t j1, std::uint64_t j2, T& z_cos, T& z_sin) {
  // u1 = (2 j1 + 1) / 2^(RadiusBits + 1): exact, in (0, 1), so the log is finite. Converted from
  // a signed 32-bit integer where it fits (float): the same value, in a width vector units take.
  using word = std::conditional_t<(RadiusBits < 30), std::int32_t, std::uint64_t>;
  const T u1 = static_cast<T>(static_cast<word>(2 * j1 + 1)) / static_cast<T>(std::uint64_t{1} << (RadiusBits + 1));
  const T radius = std::sqrt(T(-2) * reproducible_log(u1));
  T s, c;
  reproducible_sincos_turns<T, AngleBits>(j2, s, c);
  z_cos = radius * c;
  z_sin = radius * s;
}

}  // namespace detail

/// The uniform draws in [0, 1) of block k. O(1).
template <float_or_double T>
TESSERA_HOST_DEVICE std::array<T, draws_per_block<T>> uniform_block(const random_stream& s,
                                                                     std::uint64_t k) {
  const philox_block w = s.block(k);
  if constexpr (sizeof(T) == 4) {
    constexpr float scale = 0x1p-24f;
    return {static_cast<float>(w[0] >> 8) * scale, static_cast<float>(w[1] >> 8) * scale,
            static_cast<float>(w[2] >> 8) * scale, static_cast<float>(w[3] >> 8) * scale};
  } else {
    constexpr double scale = 0x1p-53;
    return {static_cast<double>(detail::join_words(w[0], w[1]) >> 11) * scale,
            static_cast<double>(detail::join_words(w[2], w[3]) >> 11) * scale};
  }
}

/// The standard normal draws of block k. O(1).
template <float_or_double T>
TESSERA_HOST_DEVICE std::array<T, draws_per_block<T>> normal_block(const random_stream& s,
                                                                    std::uint64_t k) {
  const philox_block w = s.block(k);
  std::array<T, draws_per_block<T>> z{};
  if constexpr (sizeof(T) == 4) {
    detail::box_muller<float, 23, 24>(w[0] >> 9, w[1] >> 8, z[0], z[1]);
    detail::box_muller<float, 23, 24>(w[2] >> 9, w[3] >> 8, z[2], z[3]);
  } else {
    detail::box_muller<double, 52, 53>(detail::join_words(w[0], w[1]) >> 12,
                                       detail::join_words(w[2], w[3]) >> 11, z[0], z[1]);
  }
  return z;
}

/// Draw i of the stream, uniform on [0, 1). O(1): one Philox block.
template <float_or_double T>
TESSERA_HOST_DEVICE T uniform(const random_stream& s, std::uint64_t i) {
  return uniform_block<T>(s, i / draws_per_block<T>)[i % draws_per_block<T>];
}

/// Draw i of the stream, standard normal. O(1): one Philox block and one Box-Muller pair.
template <float_or_double T>
TESSERA_HOST_DEVICE T normal(const random_stream& s, std::uint64_t i) {
  return normal_block<T>(s, i / draws_per_block<T>)[i % draws_per_block<T>];
}

/// Sign i of the stream: +1 or -1 with probability 1/2 each. O(1).
template <float_or_double T>
TESSERA_HOST_DEVICE T rademacher(const random_stream& s, std::uint64_t i) {
  const std::uint32_t word = s.block(i / signs_per_block)[(i / 32) % 4];
  return ((word >> (i % 32)) & 1u) != 0 ? T(1) : T(-1);
}

namespace detail {

/// out[j] = draw(first + j) for a draw that comes PerBlock to a block: whole blocks are
/// generated once each, in parallel where OpenMP is on. O(n).
template <int PerBlock, class T, class BlockFn>
void fill_block_range(std::span<T> out, std::uint64_t first, std::uint64_t k, BlockFn& block_of) {
  const auto values = block_of(k);
  const std::uint64_t block_begin = k * PerBlock;
  const std::uint64_t lo = block_begin < first ? first - block_begin : 0;
  const std::uint64_t hi = block_begin + PerBlock > first + out.size() ? first + out.size() - block_begin : PerBlock;
  for (std::uint64_t r = lo; r < hi; ++r) out[block_begin + r - first] = values[r];
}

/// out[j] = draw(first + j) for a draw that comes PerBlock to a block: whole blocks are
/// generated once each, in parallel where OpenMP is on and the range holds more than
/// ParallelFrom blocks. O(n).
template <int PerBlock, std::int64_t ParallelFrom = 4096, class T, class BlockFn>
void fill_by_blocks(std::span<T> out, std::uint64_t first, BlockFn block_of) {
  const std::uint64_t n = out.size();
  if (n == 0) return;
  const std::uint64_t first_block = first / PerBlock;
  const std::uint64_t last_block = (first + n - 1) / PerBlock;
  const auto blocks = static_cast<std::int64_t>(last_block - first_block + 1);
  // Short ranges stay out of the OpenMP region: entering one costs about 0.5 us even when its
  // `if` clause is false, which dominated callers drawing a few values at a time.
  if (blocks <= ParallelFrom) {
    for (std::int64_t b = 0; b < blocks; ++b)
      fill_block_range<PerBlock>(out, first, first_block + static_cast<std::uint64_t>(b), block_of);
    return;
  }
#if defined(_OPENMP)
#pragma omp parallel for schedule(static)
#endif
  for (std::int64_t b = 0; b < blocks; ++b)
    fill_block_range<PerBlock>(out, first, first_block + static_cast<std::uint64_t>(b), block_of);
}

/// Blocks the host's normal fill transforms at once (normal_batch).
inline constexpr std::uint64_t normal_batch_blocks = 16;

/// normal_block<T>(s, k) for the normal_batch_blocks blocks from k0, in order, into out: the
/// Philox blocks first, then the Box-Muller transforms as loops over the batch (structure of
/// arrays). The same functions, hence the same bits; the batch alone is ~1.5x faster than block
/// by block, and compilers vectorize its loops where sqrt need not set errno
/// (-fno-math-errno: ~5x more on an AVX-512 host; docs/benchmarks.md).
template <float_or_double T>
[[gnu::flatten]] void normal_batch(const random_stream& s, std::uint64_t k0, T* out) {  // flatten: loops of calls do not vectorize
  constexpr int batch = normal_batch_blocks;
  std::uint32_t w[4][batch];
  for (int i = 0; i < batch; ++i) {
    const philox_block block = s.block(k0 + static_cast<std::uint64_t>(i));
    for (int j = 0; j < 4; ++j) w[j][i] = block[j];
  }
  if constexpr (sizeof(T) == 4) {
    float z[4][batch];
    for (int i = 0; i < batch; ++i) box_muller<float, 23, 24>(w[0][i] >> 9, w[1][i] >> 8, z[0][i], z[1][i]);
    for (int i = 0; i < batch; ++i) box_muller<float, 23, 24>(w[2][i] >> 9, w[3][i] >> 8, z[2][i], z[3][i]);
    for (int i = 0; i < batch; ++i)
      for (int j = 0; j < 4; ++j) out[4 * i + j] = z[j][i];
  } else {
    double z[2][batch];
    for (int i = 0; i < batch; ++i)
      box_muller<double, 52, 53>(join_words(w[0][i], w[1][i]) >> 12, join_words(w[2][i], w[3][i]) >> 11, z[0][i],
                                 z[1][i]);
    for (int i = 0; i < batch; ++i) {
      out[2 * i] = z[0][i];
      out[2 * i + 1] = z[1][i];
    }
  }
}

}  // namespace detail

/// out[j] = uniform<T>(s, first + j) for j < out.size(). O(n); OpenMP-parallel where enabled.
template <float_or_double T>
void fill_uniform(exec::host_policy, const random_stream& s, std::span<T> out,
                  std::uint64_t first = 0) {
  detail::fill_by_blocks<draws_per_block<T>>(out, first,
                                             [&](std::uint64_t k) { return uniform_block<T>(s, k); });
}

/// out[j] = normal<T>(s, first + j) for j < out.size(). O(n); OpenMP-parallel where enabled.
template <float_or_double T>
void fill_normal(exec::host_policy, const random_stream& s, std::span<T> out,
                 std::uint64_t first = 0) {
  // Batches of normal_batch_blocks blocks as the unit of the fill; 256 of them make about as
  // much work as fill_by_blocks' default 4096 uniform blocks before going parallel.
  constexpr int per_batch = static_cast<int>(detail::normal_batch_blocks) * draws_per_block<T>;
  detail::fill_by_blocks<per_batch, 256>(out, first, [&](std::uint64_t b) {
    std::array<T, per_batch> batch;
    detail::normal_batch<T>(s, b * detail::normal_batch_blocks, batch.data());
    return batch;
  });
}

/// out[j] = rademacher<T>(s, first + j) for j < out.size(). O(n); OpenMP-parallel where enabled.
template <float_or_double T>
void fill_rademacher(exec::host_policy, const random_stream& s, std::span<T> out,
                     std::uint64_t first = 0) {
  detail::fill_by_blocks<signs_per_block>(out, first, [&](std::uint64_t k) {
    const philox_block w = s.block(k);
    std::array<T, signs_per_block> signs;
    for (int b = 0; b < signs_per_block; ++b)
      signs[b] = ((w[b / 32] >> (b % 32)) & 1u) != 0 ? T(1) : T(-1);
    return signs;
  });
}

}  // namespace tessera
