#pragma once
// Higher-order digital nets by digit interlacing (J. Dick, "Walsh spaces containing smooth
// functions and quasi-Monte Carlo rules of arbitrary high order", SIAM J. Numer. Anal. 46 (2008)
// 1519-1553): interlacing alpha consecutive coordinates of a (d alpha)-dimensional net digit by
// digit gives a d-dimensional net of order alpha, whose QMC error decays like n^{-alpha} (up to
// log factors) for integrands with alpha square-integrable mixed derivatives.

#include <algorithm>
#include <cstdint>
#include <vector>

#include "tessera/core/validate.hpp"
#include "tessera/qmc/generating_matrices.hpp"

namespace tessera::qmc {

/// The interlaced matrices of order alpha: output digit k alpha + r (k = 0, 1, ...; r < alpha;
/// digit 0 the most significant) of coordinate j is digit k of coordinate j alpha + r of `base`.
/// The result has dimension base.dimension() / alpha, the same columns, and precision
/// min(64, alpha * base.precision()) (digits of the base beyond 64 / alpha are dropped).
/// Throws invalid_argument for alpha outside [1, 8], a base dimension not divisible by alpha, or
/// alpha * m > 64 (the interlaced coordinates must hold alpha m digits for the net to have order
/// alpha at 2^m points: build the base with columns <= 64 / alpha). O(d m t).
inline generating_matrices interlace(const generating_matrices& base, int alpha) {
  constexpr const char* where = "tessera::qmc::interlace";
  require_in_range(where, "alpha", alpha, 1, 8);
  require(base.dimension() % alpha == 0, where, "base.dimension()", base.dimension(),
          "a multiple of alpha = " + tessera::detail::to_text(alpha));
  require(alpha * base.columns() <= 64, where, "base.columns()", base.columns(),
          "base.columns() <= 64 / alpha = " + tessera::detail::to_text(64 / alpha));
  const int dimension = base.dimension() / alpha;
  const int precision = std::min(64, alpha * base.precision());
  const int base_digits = precision / alpha;  // digits kept from each base coordinate
  const int m = base.columns();
  std::vector<std::uint64_t> data(static_cast<std::size_t>(dimension) * static_cast<std::size_t>(m));
  for (int j = 0; j < dimension; ++j) {
    for (int c = 0; c < m; ++c) {
      std::uint64_t out = 0;
      for (int r = 0; r < alpha; ++r) {
        const std::uint64_t column = base.column(j * alpha + r, c);
        for (int k = 0; k < base_digits; ++k) {
          const std::uint64_t digit = (column >> (base.precision() - 1 - k)) & 1u;
          out |= digit << (precision - 1 - (k * alpha + r));
        }
      }
      data[static_cast<std::size_t>(j) * static_cast<std::size_t>(m) + static_cast<std::size_t>(c)] = out;
    }
  }
  return generating_matrices(dimension, m, precision, std::move(data));
}

}  // namespace tessera::qmc
