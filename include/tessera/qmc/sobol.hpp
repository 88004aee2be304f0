#pragma once
// Sobol' generating matrices from the Joe-Kuo direction numbers (new-joe-kuo-6.21201).
//
// For dimension j >= 2 with primitive polynomial of degree s and interior coefficients
// a_1..a_{s-1} (packed in the integer a, a_1 the most significant bit), the odd integers
// m_k < 2^k continue the table's m_1..m_s by
//   m_k = 2 a_1 m_{k-1} ^ 2^2 a_2 m_{k-2} ^ ... ^ 2^{s-1} a_{s-1} m_{k-s+1} ^ 2^s m_{k-s} ^ m_{k-s},
// and column k (k = 1..m) of the generating matrix is the direction number v_k = m_k 2^{t-k}.
// Dimension 1 is the van der Corput sequence (all m_k = 1): the identity matrix.
// Reference: S. Joe and F. Y. Kuo, SIAM J. Sci. Comput. 30 (2008) 2635-2654.

#include <cstdint>
#include <vector>

#include "tessera/core/validate.hpp"
#include "tessera/qmc/detail/joe_kuo_table.hpp"
#include "tessera/qmc/generating_matrices.hpp"

namespace tessera::qmc {

/// The largest dimension the shipped direction numbers cover.
inline constexpr int sobol_max_dimension = detail::joe_kuo_max_dimension;

/// Sobol' generating matrices of the first `dimension` coordinates with m = `columns` columns
/// (2^m points) and t = `precision` digits (t >= m; 32 and 64 are the usual choices).
/// Throws invalid_argument for dimension outside [1, 21201], columns outside [1, precision],
/// precision outside [1, 64]. Cost O(d m s) with s <= 18 the polynomial degree.
inline generating_matrices sobol_matrices(int dimension, int precision = 32, int columns = -1) {
  constexpr const char* where = "tessera::qmc::sobol_matrices";
  require_in_range(where, "dimension", dimension, 1, sobol_max_dimension);
  require_in_range(where, "precision", precision, 1, 64);
  if (columns < 0) columns = precision;
  require_in_range(where, "columns", columns, 1, precision);

  std::vector<std::uint64_t> data(static_cast<std::size_t>(dimension) * static_cast<std::size_t>(columns));
  std::vector<std::uint64_t> m(static_cast<std::size_t>(columns) + 1);  // m[k], k = 1..columns
  for (int j = 0; j < dimension; ++j) {
    if (j == 0) {
      for (int k = 1; k <= columns; ++k) m[k] = 1;
    } else {
      const int row = j - 1;
      const int s = detail::joe_kuo_degree[row];
      const std::uint32_t a = detail::joe_kuo_coefficients[row];
      const std::uint32_t* initial = detail::joe_kuo_initial + detail::joe_kuo_offset[row];
      for (int k = 1; k <= columns; ++k) {
        if (k <= s) {
          m[k] = initial[k - 1];
          continue;
        }
        std::uint64_t next = m[k - s] ^ (m[k - s] << s);
        for (int i = 1; i < s; ++i)
          if ((a >> (s - 1 - i)) & 1u) next ^= m[k - i] << i;
        m[k] = next;
      }
    }
    for (int k = 1; k <= columns; ++k)
      data[static_cast<std::size_t>(j) * static_cast<std::size_t>(columns) + static_cast<std::size_t>(k - 1)] =
          m[k] << (precision - k);
  }
  return generating_matrices(dimension, columns, precision, std::move(data));
}

}  // namespace tessera::qmc
