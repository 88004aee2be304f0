#pragma once
// Digits in base p and their randomizations: the building blocks of tessera::qmc::halton_sequence.
//
// Coordinate j of a Halton point keeps D digits in its prime base p, D the largest integer with
// p^D <= 2^53. A point's coordinate is the integer numerator N = sum_k y_k p^(D-1-k) over the
// scale P = p^D, where y_0 (the most significant output digit) comes from a_0 = i mod p, the
// least significant digit of the index i. Everything here is integer arithmetic, so the host and
// the device compute the same N; the one floating-point step, N / P, is a single IEEE division of
// two integers below 2^53 (both exact in double), hence correctly rounded on every machine.
//
// Random draws. Every random integer in [0, m) is floor(u m / 2^64) for a 64-bit word u of a
// Philox block (Lemire, "Fast random integer generation in an interval", ACM TOMACS 2019, the
// multiply-shift map without rejection): each value has probability within 2^-64 of 1/m.
//
// The keyed digit permutation used by the digit permutation and nested uniform scrambles is
//     sigma(a) = (h F(a) + g) mod p,   g uniform on {0..p-1}, h uniform on {1..p-1},
// F a 4-round Feistel network on the b-bit values, 2^(b-1) < p <= 2^b, restricted to {0..p-1} by
// cycle walking (Black and Rogaway, "Ciphers with arbitrary finite domains", CT-RSA 2002); F is
// the identity for p <= 3, where the p (p - 1) affine maps already are all p! permutations. F is a
// bijection of {0..p-1} whatever its round keys; the affine map over GF(p) is independent of F.
// Because the affine maps of GF(p) act sharply 2-transitively, sigma(a) is uniform for each a and
// (sigma(a), sigma(b)) is uniform over the ordered pairs of distinct digits for each a != b:
// exactly the one- and two-point laws of a uniformly random permutation; F adds mixing beyond
// the affine maps for p >= 5. The mean and the variance of a scrambled-point estimate depend on
// the scramble only through the joint law of one point and of two points, and these laws are
// those of scrambles with uniformly random permutations (cf. Owen, "Variance with alternative
// scramblings of digital nets", ACM TOMACS 2003), so the mean and variance are theirs too. The
// joint law of three or more points is not (F is keyed per digit position, not per tree node).

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "tessera/core/config.hpp"
#include "tessera/core/random.hpp"

namespace tessera::qmc::detail::base_p {

/// The most digits a coordinate keeps: 53, for base 2 (2^53 is the largest scale).
inline constexpr std::uint32_t max_digits = 53;

/// The largest scale P = p^D: every numerator below it is exact in double.
inline constexpr std::uint64_t max_scale = std::uint64_t{1} << 53;

/// Philox stream id0 of each kind of random draw (the stream's id1 is the replication r and its
/// id2 the dimension j): "HAL" followed by the purpose.
inline constexpr std::uint32_t stream_digital_shift = 0x48414c01;     // block k: shift of digit k
inline constexpr std::uint32_t stream_permutation = 0x48414c02;       // blocks 2k, 2k+1: digit k
inline constexpr std::uint32_t stream_linear_scramble = 0x48414c03;   // two matrix entries/block
inline constexpr std::uint32_t stream_nested_feistel = 0x48414c04;    // block k: F of depth k
inline constexpr std::uint32_t stream_nested_nodes = 0x48414c05;      // block v: tree node v

/// x y / 2^64 rounded down: the high word of the 128-bit product.
TESSERA_HOST_DEVICE inline std::uint64_t mul_high(std::uint64_t x, std::uint64_t y) {
#if defined(__CUDA_ARCH__)
  return __umul64hi(x, y);
#else
  __extension__ typedef unsigned __int128 wide;  // GCC/Clang's 128-bit integer
  return static_cast<std::uint64_t>((static_cast<wide>(x) * y) >> 64);
#endif
}

/// A uniform integer in [0, m) from the 64-bit word u: floor(u m / 2^64).
TESSERA_HOST_DEVICE inline std::uint32_t draw_below(std::uint64_t u, std::uint32_t m) {
  return static_cast<std::uint32_t>(mul_high(u, m));
}

/// The 64-bit words (w0, w1) and (w2, w3) of a Philox block, low word first.
TESSERA_HOST_DEVICE inline std::uint64_t low_pair(const philox_block& w) {
  return (static_cast<std::uint64_t>(w[1]) << 32) | w[0];
}
TESSERA_HOST_DEVICE inline std::uint64_t high_pair(const philox_block& w) {
  return (static_cast<std::uint64_t>(w[3]) << 32) | w[2];
}

/// One coordinate's base and digit layout, and where its entries sit in the shared tables.
struct base_layout {
  std::uint64_t scale;          // P = p^D <= 2^53
  std::uint64_t reciprocal;     // floor((2^64 - 1) / p), for division by p without a divide
  std::uint32_t base;           // p, a prime
  std::uint32_t digits;         // D
  std::uint32_t high_bits;      // the Feistel network permutes (high, low)-bit values,
  std::uint32_t low_bits;       //   2^(high + low - 1) < p <= 2^(high + low)
  std::uint32_t digit_offset;   // first of this coordinate's D per-digit entries
  std::uint32_t power_offset;   // first of its D + 1 entries p^0..p^D (and tails)
  std::uint32_t matrix_offset;  // first of its D (D + 1) / 2 linear-scramble entries
};

/// The layout of base p with the given table offsets. O(log p).
inline base_layout make_base_layout(std::uint32_t p, std::uint32_t digit_offset,
                                    std::uint32_t power_offset, std::uint32_t matrix_offset) {
  base_layout b{};
  b.base = p;
  b.scale = 1;
  while (b.scale <= max_scale / p) {
    b.scale *= p;
    ++b.digits;
  }
  b.reciprocal = ~std::uint64_t{0} / p;
  std::uint32_t bits = 0;
  while ((std::uint64_t{1} << bits) < p) ++bits;
  b.low_bits = bits / 2;
  b.high_bits = bits - b.low_bits;
  b.digit_offset = digit_offset;
  b.power_offset = power_offset;
  b.matrix_offset = matrix_offset;
  return b;
}

/// x = quotient p + remainder.
struct quotient_remainder {
  std::uint64_t quotient;
  std::uint32_t remainder;
};

/// Division by the base with one high multiplication (Barrett): the estimate floor(x m / 2^64),
/// m = floor((2^64 - 1) / p), is the quotient or one less, so one correction is exact.
TESSERA_HOST_DEVICE inline quotient_remainder divide(std::uint64_t x, const base_layout& b) {
  std::uint64_t q = mul_high(x, b.reciprocal);
  std::uint64_t r = x - q * b.base;
  if (r >= b.base) {
    r -= b.base;
    ++q;
  }
  return {q, static_cast<std::uint32_t>(r)};
}

/// x = quotient divisor + remainder for any divisor >= 1 given its reciprocal
/// floor((2^64 - 1) / divisor), by the same one-correction estimate as divide.
struct wide_quotient_remainder {
  std::uint64_t quotient;
  std::uint64_t remainder;
};
TESSERA_HOST_DEVICE inline wide_quotient_remainder divide_wide(std::uint64_t x,
                                                              std::uint64_t divisor,
                                                              std::uint64_t reciprocal) {
  std::uint64_t q = mul_high(x, reciprocal);
  std::uint64_t r = x - q * divisor;
  if (r >= divisor) {
    r -= divisor;
    ++q;
  }
  return {q, r};
}

/// The parameters of one keyed digit permutation sigma(a) = (multiplier F(a) + shift) mod p;
/// a digital shift uses `shift` alone, the nested scramble's depth maps use `round_keys` alone.
struct digit_permutation {
  std::uint32_t shift;
  std::uint32_t multiplier;
  std::uint32_t round_keys[4];
};

/// The Feistel round function: Knuth's multiplicative hash of (half xor key) to `bits` bits, the
/// top bits of its product with the golden-ratio constant 0x9e3779b1 (bits >= 1).
TESSERA_HOST_DEVICE inline std::uint32_t feistel_round(std::uint32_t half, std::uint32_t key,
                                                       std::uint32_t bits) {
  return ((half ^ key) * 0x9e3779b1u) >> (32 - bits);
}

/// F(a): four Feistel rounds on the value a = (high, low), each one xor-ing the round function of
/// one part into the other (high ^= f(low), low ^= f(high), twice: each step is its own inverse
/// given the other part, so F is a bijection of the b-bit values), repeated (cycle walking) until
/// the value falls in {0..p-1}: a bijection of {0..p-1}, in fewer than 2^b / p < 2 passes on
/// average. The identity for p <= 3.
TESSERA_HOST_DEVICE inline std::uint32_t feistel_permute(std::uint32_t a,
                                                         const std::uint32_t (&keys)[4],
                                                         const base_layout& b) {
  if (b.base <= 3) return a;
  const std::uint32_t low_mask = (1u << b.low_bits) - 1u;
  std::uint32_t y = a;
  do {
    std::uint32_t high = y >> b.low_bits;
    std::uint32_t low = y & low_mask;
    high ^= feistel_round(low, keys[0], b.high_bits);
    low ^= feistel_round(high, keys[1], b.low_bits);
    high ^= feistel_round(low, keys[2], b.high_bits);
    low ^= feistel_round(high, keys[3], b.low_bits);
    y = (high << b.low_bits) | low;
  } while (y >= b.base);
  return y;
}

/// (multiplier y + shift) mod p for y, shift < p and multiplier < p.
TESSERA_HOST_DEVICE inline std::uint32_t affine_digit(std::uint32_t y, std::uint32_t multiplier,
                                                      std::uint32_t shift, const base_layout& b) {
  return divide(static_cast<std::uint64_t>(multiplier) * y + shift, b).remainder;
}

/// (a + shift) mod p for a, shift < p.
TESSERA_HOST_DEVICE inline std::uint32_t shift_digit(std::uint32_t a, std::uint32_t shift,
                                                     const base_layout& b) {
  const std::uint32_t s = a + shift;
  return s >= b.base ? s - b.base : s;
}

/// sigma(a) = (multiplier F(a) + shift) mod p.
TESSERA_HOST_DEVICE inline std::uint32_t permute_digit(std::uint32_t a, const digit_permutation& s,
                                                       const base_layout& b) {
  return affine_digit(feistel_permute(a, s.round_keys, b), s.multiplier, s.shift, b);
}

/// How each output digit is mapped after the (optional) linear matrix scramble.
enum class digit_map : std::uint8_t {
  identity,     // y_k = a_k
  shift,        // y_k = (a_k + g_k) mod p: a digital shift in base p
  permutation,  // y_k = sigma_k(a_k): one keyed permutation per digit position k
  nested        // y_k = sigma_{k, a_0..a_(k-1)}(a_k): one keyed permutation per tree node
};

/// The unrandomized numerator: the digits of i reversed, N = sum_k a_k p^(D-1-k). O(log_p i).
TESSERA_HOST_DEVICE inline std::uint64_t radical_inverse_numerator(std::uint64_t i,
                                                                    const base_layout& b,
                                                                    const std::uint64_t* powers) {
  std::uint64_t n = 0;
  std::uint32_t length = 0;
  while (i != 0) {
    const quotient_remainder qr = divide(i, b);
    n = n * b.base + qr.remainder;
    i = qr.quotient;
    ++length;
  }
  return n * powers[b.digits - length];
}

/// The numerator with one map per digit position (digital shift or digit permutation). The
/// digits past the length L of i are zero, so their mapped contribution tail[L] =
/// sum_{k >= L} map_k(0) p^(D-1-k) is precomputed per replication. O(log_p i).
TESSERA_HOST_DEVICE inline std::uint64_t digitwise_numerator(std::uint64_t i, const base_layout& b,
                                                             const std::uint64_t* powers,
                                                             const digit_permutation* maps,
                                                             const std::uint64_t* tails,
                                                             digit_map map) {
  std::uint64_t n = 0;
  std::uint32_t k = 0;
  while (i != 0) {
    const quotient_remainder qr = divide(i, b);
    const std::uint32_t y = map == digit_map::shift ? shift_digit(qr.remainder, maps[k].shift, b)
                                                    : permute_digit(qr.remainder, maps[k], b);
    n += y * powers[b.digits - 1 - k];
    i = qr.quotient;
    ++k;
  }
  return n + tails[k];
}

/// The numerator after linear matrix scrambling y = L a over GF(p), L lower triangular with a
/// nonzero diagonal (row k of `matrix` at offset k (k + 1) / 2), followed by `map` (identity,
/// shift or permutation) on each output digit. O(D log_p i) multiply-adds and D reductions.
TESSERA_HOST_DEVICE inline std::uint64_t linear_scramble_numerator(
    std::uint64_t i, const base_layout& b, const std::uint32_t* matrix,
    const digit_permutation* maps, digit_map map) {
  std::uint32_t a[max_digits];
  std::uint32_t length = 0;
  while (i != 0) {
    const quotient_remainder qr = divide(i, b);
    a[length++] = qr.remainder;
    i = qr.quotient;
  }
  std::uint64_t n = 0;
  const std::uint32_t* row = matrix;
  for (std::uint32_t k = 0; k < b.digits; ++k) {
    // At most 53 products below 2^42 each (p < 2^21): the sum stays below 2^48.
    std::uint64_t sum = 0;
    const std::uint32_t last = k < length ? k + 1 : length;
    for (std::uint32_t c = 0; c < last; ++c) sum += static_cast<std::uint64_t>(row[c]) * a[c];
    row += k + 1;
    std::uint32_t y = divide(sum, b).remainder;
    if (map == digit_map::shift) y = shift_digit(y, maps[k].shift, b);
    if (map == digit_map::permutation) y = permute_digit(y, maps[k], b);
    n = n * b.base + y;
  }
  return n;
}

/// The numerator after nested uniform scrambling. The tree node of digit k is named by its depth
/// and the k digits above it: node(0) = 0, node(k + 1) = p node(k) + 1 + a_k, a one-to-one
/// numbering of the p-ary tree (breadth first) below (p^D - 1) / (p - 1) < 2^53. Node v at depth
/// k permutes its digit by sigma_v(a) = (h_v (F_k(a) - F_k(0)) + t_v) mod p, that is
/// (h_v F_k(a) + g_v) mod p with g_v = t_v - h_v F_k(0); F_k is the Feistel network of depth k
/// (`depth_maps[k].round_keys`, F_k(0) in `depth_maps[k].shift`), h_v in {1..p-1} comes from the
/// words (w2, w3) of Philox block v of `nodes` (h_v = 1 for p = 2), and t_v = sigma_v(0) is
/// uniform on {0..p-1}. Along a run of zero digits every node maps 0 to its t_v, so the t_v of a
/// run are drawn at once: a node s entered by a nonzero digit (or the root) starts a run, and the
/// node at depth depth(s) + m below it on the zero path takes digit m (most significant first) of
/// one integer uniform on [0, p^(D - depth(s))) drawn from the words (w0, w1) of block s. Each t_v
/// is a digit of its own run start's integer, so all (t_v, h_v) are independent and uniform and
/// every node's permutation has the law of a scramble drawing (g_v, h_v) afresh at each node, at
/// one Philox block per run start and per nonzero digit instead of D; the zeros above the last
/// digit of i end in the rest of their run's integer. O(log_p i) divisions and Philox blocks.
TESSERA_HOST_DEVICE inline std::uint64_t nested_numerator(std::uint64_t i, const base_layout& b,
                                                          const std::uint64_t* powers,
                                                          const std::uint64_t* power_reciprocals,
                                                          const digit_permutation* depth_maps,
                                                          const random_stream& nodes) {
  std::uint64_t n = 0;
  std::uint64_t node = 0;
  std::uint64_t run = 0;  // the current run's integer less its digits used: below p^(D - k)
  bool run_start = true;
  for (std::uint32_t k = 0; k < b.digits; ++k) {
    const quotient_remainder digit = divide(i, b);
    i = digit.quotient;
    philox_block w{};
    if (run_start || (digit.remainder != 0 && b.base > 2)) w = nodes.block(node);
    if (run_start) run = mul_high(low_pair(w), powers[b.digits - k]);
    if (digit.remainder == 0 && i == 0) return n * powers[b.digits - k] + run;
    const std::uint32_t rest = b.digits - 1 - k;
    const wide_quotient_remainder t = divide_wide(run, powers[rest], power_reciprocals[rest]);
    run = t.remainder;
    auto y = static_cast<std::uint32_t>(t.quotient);
    if (digit.remainder != 0) {
      const std::uint32_t h = 1 + draw_below(high_pair(w), b.base - 1);
      const std::uint32_t f = feistel_permute(digit.remainder, depth_maps[k].round_keys, b);
      const std::uint32_t f0 = depth_maps[k].shift;
      y = affine_digit(f >= f0 ? f - f0 : f + b.base - f0, h, y, b);
    }
    n = n * b.base + y;
    run_start = digit.remainder != 0;
    node = node * b.base + 1 + digit.remainder;
  }
  return n;
}

/// Everything the generation reads, as raw pointers into host or device memory.
struct scramble_view {
  const base_layout* bases;               // d entries
  const std::uint64_t* powers;            // p^0..p^D per coordinate
  const std::uint64_t* power_reciprocals; // floor((2^64 - 1) / p^m), same layout
  const digit_permutation* maps;          // R x (sum_j D_j), replication-major
  const std::uint64_t* tails;             // R x (sum_j (D_j + 1))
  const std::uint32_t* matrices;          // R x (sum_j D_j (D_j + 1) / 2)
  const random_stream* node_streams;      // R x d
  std::uint64_t digits_total;             // sum_j D_j
  std::uint64_t powers_total;             // sum_j (D_j + 1)
  std::uint64_t matrix_total;             // sum_j D_j (D_j + 1) / 2
  std::uint32_t dimension;
  bool linear_scramble;
  digit_map map;
};

/// The numerator of coordinate j of point i in replication r (its scale is bases[j].scale).
TESSERA_HOST_DEVICE inline std::uint64_t numerator(const scramble_view& v, std::uint32_t r,
                                                   std::uint64_t i, std::uint32_t j) {
  const base_layout& b = v.bases[j];
  // The per-digit maps exist for every map but the identity.
  const digit_permutation* maps =
      v.map == digit_map::identity ? nullptr : v.maps + r * v.digits_total + b.digit_offset;
  if (v.linear_scramble) {
    return linear_scramble_numerator(i, b, v.matrices + r * v.matrix_total + b.matrix_offset,
                                     maps, v.map);
  }
  const std::uint64_t* powers = v.powers + b.power_offset;
  switch (v.map) {
    case digit_map::shift:
    case digit_map::permutation:
      return digitwise_numerator(i, b, powers, maps,
                                 v.tails + r * v.powers_total + b.power_offset, v.map);
    case digit_map::nested:
      return nested_numerator(i, b, powers, v.power_reciprocals + b.power_offset, maps,
                              v.node_streams[r * v.dimension + j]);
    case digit_map::identity:
      break;
  }
  return radical_inverse_numerator(i, b, powers);
}

/// N / P as T in [0, 1): one correctly rounded double division (N and P are exact in double, and
/// (P - 1) / P <= 1 - 2^-53 rounds below 1). float rounds that double to nearest and keeps the
/// result below 1 by mapping 1.0f, reached from above 1 - 2^-25, to the largest float below 1.
template <class T>
TESSERA_HOST_DEVICE T to_unit_interval(std::uint64_t numerator, std::uint64_t scale) {
  const double x = static_cast<double>(numerator) / static_cast<double>(scale);
  if constexpr (sizeof(T) == sizeof(double)) {
    return x;
  } else {
    const float f = static_cast<float>(x);
    return f < 1.0f ? f : 0x1.fffffep-1f;
  }
}

/// The host tables of a Halton sequence with R replications (see halton.hpp for the streams).
struct scramble_tables {
  std::vector<base_layout> bases;
  std::vector<std::uint64_t> powers;
  std::vector<std::uint64_t> power_reciprocals;
  std::vector<digit_permutation> maps;
  std::vector<std::uint64_t> tails;
  std::vector<std::uint32_t> matrices;
  std::vector<random_stream> node_streams;
  std::uint64_t digits_total = 0;
  std::uint64_t powers_total = 0;
  std::uint64_t matrix_total = 0;
  bool linear_scramble = false;
  digit_map map = digit_map::identity;

  /// The view of these tables in host memory.
  scramble_view view() const {
    return {bases.data(),
            powers.data(),
            power_reciprocals.data(),
            maps.data(),
            tails.data(),
            matrices.data(),
            node_streams.data(),
            digits_total,
            powers_total,
            matrix_total,
            static_cast<std::uint32_t>(bases.size()),
            linear_scramble,
            map};
  }
};

/// The tables for the given bases, R replications and seed: replication r, coordinate j draws
/// only from the streams random_stream(seed, stream_*, r, j), so it is the same whatever R.
/// O(R sum_j D_j^2) Philox blocks.
inline scramble_tables build_scramble_tables(std::span<const std::uint32_t> primes,
                                             std::uint32_t replications, std::uint64_t seed,
                                             bool linear_scramble, digit_map map) {
  scramble_tables t;
  t.linear_scramble = linear_scramble;
  t.map = map;
  for (const std::uint32_t p : primes) {
    const base_layout b =
        make_base_layout(p, static_cast<std::uint32_t>(t.digits_total),
                         static_cast<std::uint32_t>(t.powers_total),
                         static_cast<std::uint32_t>(t.matrix_total));
    t.bases.push_back(b);
    std::uint64_t power = 1;
    for (std::uint32_t k = 0; k <= b.digits; ++k, power *= p) {
      t.powers.push_back(power);
      t.power_reciprocals.push_back(~std::uint64_t{0} / power);
    }
    t.digits_total += b.digits;
    t.powers_total += b.digits + 1;
    t.matrix_total += std::uint64_t{b.digits} * (b.digits + 1) / 2;
  }
  const auto dimension = static_cast<std::uint32_t>(primes.size());
  if (map != digit_map::identity) t.maps.resize(replications * t.digits_total);
  if (map == digit_map::shift || map == digit_map::permutation) {
    t.tails.resize(replications * t.powers_total);
  }
  if (linear_scramble) t.matrices.resize(replications * t.matrix_total);
  for (std::uint32_t r = 0; r < replications; ++r) {
    for (std::uint32_t j = 0; j < dimension; ++j) {
      const base_layout& b = t.bases[j];
      digit_permutation* maps = map == digit_map::identity
                                    ? nullptr
                                    : t.maps.data() + r * t.digits_total + b.digit_offset;
      if (map == digit_map::shift) {
        const random_stream s(seed, stream_digital_shift, r, j);
        for (std::uint32_t k = 0; k < b.digits; ++k) {
          maps[k] = {draw_below(low_pair(s.block(k)), b.base), 1, {0, 0, 0, 0}};
        }
      } else if (map == digit_map::permutation) {
        const random_stream s(seed, stream_permutation, r, j);
        for (std::uint32_t k = 0; k < b.digits; ++k) {
          const philox_block affine = s.block(2 * std::uint64_t{k});
          const philox_block keys = s.block(2 * std::uint64_t{k} + 1);
          maps[k] = {draw_below(low_pair(affine), b.base),
                     1 + draw_below(high_pair(affine), b.base - 1),
                     {keys[0], keys[1], keys[2], keys[3]}};
        }
      } else if (map == digit_map::nested) {
        const random_stream s(seed, stream_nested_feistel, r, j);
        for (std::uint32_t k = 0; k < b.digits; ++k) {
          const philox_block keys = s.block(k);
          maps[k] = {0, 1, {keys[0], keys[1], keys[2], keys[3]}};
          maps[k].shift = feistel_permute(0, maps[k].round_keys, b);  // F_k(0)
        }
        t.node_streams.push_back(random_stream(seed, stream_nested_nodes, r, j));
      }
      if (!t.tails.empty()) {
        // tail[L] = sum_{k >= L} map_k(0) p^(D-1-k), built from the last digit up.
        std::uint64_t* tail = t.tails.data() + r * t.powers_total + b.power_offset;
        const std::uint64_t* powers = t.powers.data() + b.power_offset;
        tail[b.digits] = 0;
        for (std::uint32_t k = b.digits; k-- > 0;) {
          const std::uint32_t y = map == digit_map::shift ? maps[k].shift
                                                          : permute_digit(0, maps[k], b);
          tail[k] = tail[k + 1] + y * powers[b.digits - 1 - k];
        }
      }
      if (linear_scramble) {
        // Entry e = k (k + 1) / 2 + c of the packed lower triangle is half e mod 2 of block e / 2.
        const random_stream s(seed, stream_linear_scramble, r, j);
        std::uint32_t* matrix = t.matrices.data() + r * t.matrix_total + b.matrix_offset;
        std::uint64_t e = 0;
        for (std::uint32_t k = 0; k < b.digits; ++k) {
          for (std::uint32_t c = 0; c <= k; ++c, ++e) {
            const philox_block w = s.block(e / 2);
            const std::uint64_t u = e % 2 == 0 ? low_pair(w) : high_pair(w);
            matrix[e] = c == k ? 1 + draw_below(u, b.base - 1) : draw_below(u, b.base);
          }
        }
      }
    }
  }
  return t;
}

/// The first `count` primes, by a sieve of Eratosthenes up to the Rosser-Schoenfeld bound
/// p_n < n (ln n + ln ln n) for n >= 6. O(p_n log log p_n) time, O(p_n) bits.
inline std::vector<std::uint32_t> first_primes(std::uint32_t count) {
  std::vector<std::uint32_t> primes;
  const double n = count;
  const std::uint64_t bound =
      count < 6 ? 13 : static_cast<std::uint64_t>(n * (std::log(n) + std::log(std::log(n)))) + 1;
  std::vector<bool> composite(bound + 1, false);
  for (std::uint64_t p = 2; p <= bound && primes.size() < count; ++p) {
    if (composite[p]) continue;
    primes.push_back(static_cast<std::uint32_t>(p));
    for (std::uint64_t m = p * p; m <= bound; m += p) composite[m] = true;
  }
  return primes;
}

}  // namespace tessera::qmc::detail::base_p
