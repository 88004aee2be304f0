#pragma once
// Niederreiter's base-2 digital sequence, as implemented by Bratley, Fox and Niederreiter.
//
// Coordinate i uses p_i, the i-th irreducible polynomial over GF(2) ordered by degree, then by
// value as an integer (x, x + 1, x^2 + x + 1, x^3 + x + 1, x^3 + x^2 + 1, ...), of degree e_i.
// Row j >= 1 of its generating matrix (the j-th binary digit of the coordinate), with
// j - 1 = Q e_i + u and 0 <= u < e_i, is read from the linear recurring sequence (v_r)_{r>=0}
// over GF(2) with characteristic polynomial B = p_i^{Q+1} (degree e_i (Q + 1)):
//   v_r = 0 for r < e_i Q,   v_r = 1 for e_i Q <= r < e_i (Q + 1),
//   v_{r+D} = sum_{k<D} b_k v_{r+k}  for B = x^D + sum_{k<D} b_k x^k,
//   c_{jr} = v_{r+u}   (column r = binary digit r of the point index, r >= 0).
// Equivalently, sum_r v_r x^{-r-1} = g_Q(x) / p_i(x)^{Q+1} for the unique g_Q of degree < e_i
// that makes the leading coefficients those above, and c_{jr} is the coefficient of x^{-r-1} in
// the Laurent expansion of x^u g_Q(x) / p_i(x)^{Q+1}. This is Niederreiter's general
// construction with the free choices of Bratley, Fox and Niederreiter (sections 2.3 and 3.3 of
// their paper: each K_q = e q, every unrestricted v set to 1): the sequence of ACM TOMS
// algorithm 738, of GSL's gsl_qrng_niederreiter_2 (Gray-code order from index 0, 31 digits) and
// of Boost.Random's niederreiter_base2_engine (Gray-code order from index 1).
//
// Theory (Niederreiter 1988): coordinates 1..s form a digital (T_s, s)-sequence in base 2 with
// T_s = sum_{i<=s} (e_i - 1), so every block of 2^m points [k 2^m, (k + 1) 2^m) is a
// (T_s, m, s)-net; coordinates 1 and 2 (x and x + 1) form a (0, 2)-sequence. A single coordinate
// is an (e_i - 1, 1)-sequence: the leading m x m block of C_i is singular for some m once e_i >= 3.
//
// References: H. Niederreiter, "Low-discrepancy and low-dispersion sequences", J. Number Theory
// 30 (1988) 51-70; P. Bratley, B. L. Fox and H. Niederreiter, "Implementation and tests of
// low-discrepancy sequences", ACM TOMACS 2 (1992) 195-213, and ACM TOMS 20 (1994) 494-495.

#include <bit>
#include <cstdint>
#include <utility>
#include <vector>

#include "tessera/core/validate.hpp"
#include "tessera/qmc/digital_net.hpp"
#include "tessera/qmc/generating_matrices.hpp"

namespace tessera::qmc {

/// The largest dimension niederreiter_matrices() accepts: the number of irreducible polynomials
/// over GF(2) of degree <= 15 (Boost.Random's niederreiter_base2 stops there too). The
/// construction itself has no limit; this one keeps the polynomial search (trial division of the
/// integers below 2^16, some 20 ms) and the matrices cheap. The net guarantee fades long before:
/// T_s = sum_{i<=s} (e_i - 1) is 65 at s = 19 (so it says nothing about 2^64 or fewer points)
/// and 60486 at s = 4720.
inline constexpr int niederreiter_max_dimension = 4720;

namespace detail {

/// The degree of a nonzero polynomial over GF(2) held as bits (bit k = coefficient of x^k).
constexpr int gf2_degree(std::uint64_t p) noexcept { return static_cast<int>(std::bit_width(p)) - 1; }

/// a mod b over GF(2), b != 0. O(deg a - deg b + 1).
constexpr std::uint64_t gf2_mod(std::uint64_t a, std::uint64_t b) noexcept {
  const int db = gf2_degree(b);
  while (a != 0 && gf2_degree(a) >= db) a ^= b << (gf2_degree(a) - db);
  return a;
}

/// The first `count` irreducible polynomials over GF(2) in increasing order of their integer
/// value (so by degree, then by value): 2 = x, 3 = x + 1, 7 = x^2 + x + 1, 11, 13, 19, ...
/// A polynomial of degree e is irreducible when no irreducible one of degree <= e / 2 divides
/// it; each candidate is trial-divided by those (most fall to x or x + 1 at once). Some 20 ms
/// for count = 4720 (candidates below 2^16).
inline std::vector<std::uint64_t> irreducible_polynomials_gf2(int count) {
  std::vector<std::uint64_t> found;
  found.reserve(static_cast<std::size_t>(count));
  for (std::uint64_t candidate = 2; static_cast<int>(found.size()) < count; ++candidate) {
    const int degree = gf2_degree(candidate);
    bool irreducible = true;
    for (std::uint64_t q : found) {
      if (2 * gf2_degree(q) > degree) break;
      if (gf2_mod(candidate, q) == 0) {
        irreducible = false;
        break;
      }
    }
    if (irreducible) found.push_back(candidate);
  }
  return found;
}

/// Writes the `columns` generating-matrix columns of the coordinate with irreducible polynomial
/// p (degree e) to out[0..columns), as `precision`-digit integers (row j at bit precision - j).
/// Follows the recurrence in the header comment, one power B = p^{Q+1} per block of e rows.
/// O((precision / e) (columns + e) w) with w <= deg B the number of nonzero terms of B.
inline void niederreiter_columns(std::uint64_t p, int precision, int columns, std::uint64_t* out) {
  const int e = gf2_degree(p);
  const auto length = static_cast<std::size_t>(columns + e - 1);  // v_0 .. v_{m+e-2} are read
  std::vector<std::uint8_t> power{1};  // B = p^{Q+1} once block Q starts; coefficient k at [k]
  std::vector<std::uint8_t> v(length);
  std::vector<std::size_t> taps;  // the k < D with b_k = 1
  for (int k = 0; k < columns; ++k) out[k] = 0;
  for (int q = 0; q * e < precision; ++q) {
    std::vector<std::uint8_t> next(power.size() + static_cast<std::size_t>(e), 0);
    for (std::size_t k = 0; k < power.size(); ++k)
      if (power[k] != 0)
        for (int l = 0; l <= e; ++l) next[k + static_cast<std::size_t>(l)] ^= static_cast<std::uint8_t>((p >> l) & 1u);
    power = std::move(next);
    const std::size_t degree = power.size() - 1;  // D = e (Q + 1)
    taps.clear();
    for (std::size_t k = 0; k < degree; ++k)
      if (power[k] != 0) taps.push_back(k);
    const std::size_t first_one = static_cast<std::size_t>(e) * static_cast<std::size_t>(q);
    for (std::size_t r = 0; r < length; ++r) {
      if (r < degree) {
        v[r] = r >= first_one ? 1 : 0;
        continue;
      }
      std::uint8_t sum = 0;
      for (std::size_t k : taps) sum ^= v[r - degree + k];
      v[r] = sum;
    }
    for (int u = 0; u < e && q * e + u < precision; ++u) {
      const std::uint64_t bit = std::uint64_t{1} << (precision - 1 - (q * e + u));
      for (int r = 0; r < columns; ++r)
        if (v[static_cast<std::size_t>(r + u)] != 0) out[r] |= bit;
    }
  }
}

}  // namespace detail

/// Generating matrices of the first `dimension` coordinates of Niederreiter's base-2 sequence
/// (Bratley-Fox-Niederreiter's implementation, see the header comment for c_{jr}) with
/// m = `columns` columns (2^m points; default m = precision) and t = `precision` digits.
/// The first 31 digits equal GSL's gsl_qrng_niederreiter_2 for dimension <= 12.
/// Throws invalid_argument for dimension outside [1, niederreiter_max_dimension], precision
/// outside [1, 64], columns outside [1, precision]. Cost O(d t (m + e) w / e) for the
/// polynomials' degrees e and weights w, plus the polynomial search.
inline generating_matrices niederreiter_matrices(int dimension, int precision = 32, int columns = -1) {
  constexpr const char* where = "tessera::qmc::niederreiter_matrices";
  require_in_range(where, "dimension", dimension, 1, niederreiter_max_dimension);
  require_in_range(where, "precision", precision, 1, 64);
  if (columns < 0) columns = precision;
  require_in_range(where, "columns", columns, 1, precision);

  const std::vector<std::uint64_t> polynomials = detail::irreducible_polynomials_gf2(dimension);
  std::vector<std::uint64_t> data(static_cast<std::size_t>(dimension) * static_cast<std::size_t>(columns));
  for (int j = 0; j < dimension; ++j)
    detail::niederreiter_columns(polynomials[static_cast<std::size_t>(j)], precision, columns,
                                 data.data() + static_cast<std::size_t>(j) * static_cast<std::size_t>(columns));
  return generating_matrices(dimension, columns, precision, std::move(data));
}

/// Niederreiter's base-2 sequence in `dimension` coordinates with `precision` digits (2^precision
/// points), ordered and randomized by `options` (GSL's gsl_qrng_niederreiter_2 is the Gray-code
/// order, unrandomized, from index 0). Throws invalid_argument as niederreiter_matrices.
inline digital_net niederreiter(int dimension, digital_net_options options = {}, int precision = 32) {
  return digital_net(niederreiter_matrices(dimension, precision), options);
}

}  // namespace tessera::qmc
