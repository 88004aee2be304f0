#pragma once
// Generating matrices of a base-2 digital net or sequence (Dick and Pillichshammer, "Digital
// Nets and Sequences", 2010, ch. 4).
//
// Coordinate j of point i is x_ij = (C_j i) / 2^t over GF(2): write i = sum_k i_k 2^k; the t-digit
// integer of x_ij is the XOR of the columns c_jk of C_j for which i_k = 1. Column c_jk is held as a
// t-bit integer whose most significant bit (bit t - 1) is the first binary digit of the
// coordinate (weight 1/2), so x = integer / 2^t.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tessera/core/validate.hpp"

namespace tessera::qmc {

/// The d generating matrices of a base-2 digital net: m columns of t-digit integers each.
/// A value type; the column of (dimension j, index bit k) is column(j, k).
class generating_matrices {
 public:
  /// dimension d >= 1, columns m in [1, 64] (the net has 2^m points), precision t in [m, 64]
  /// digits; `data` holds column k of dimension j at data[j * m + k] and every column must be
  /// < 2^t. Throws invalid_argument naming the first violation. O(d m).
  generating_matrices(int dimension, int columns, int precision, std::vector<std::uint64_t> data)
      : dimension_(dimension), columns_(columns), precision_(precision), data_(std::move(data)) {
    constexpr const char* where = "tessera::qmc::generating_matrices";
    require(dimension >= 1, where, "dimension", dimension, "dimension >= 1");
    require_in_range(where, "columns", columns, 1, 64);
    require_in_range(where, "precision", precision, columns, 64);
    const std::size_t expected = static_cast<std::size_t>(dimension) * static_cast<std::size_t>(columns);
    require(data_.size() == expected, where, "data.size()", data_.size(),
            "dimension * columns = " + tessera::detail::to_text(expected));
    const std::uint64_t limit = precision == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << precision) - 1;
    for (std::size_t i = 0; i < data_.size(); ++i)
      if (data_[i] > limit)  // the message is built only on failure: this loop runs d m times
        require(false, where, "data[" + tessera::detail::to_text(i) + "]", data_[i],
                "a column below 2^precision = 2^" + tessera::detail::to_text(precision));
  }

  /// The number of coordinates d.
  int dimension() const noexcept { return dimension_; }
  /// The number of columns m: the matrices define 2^m points.
  int columns() const noexcept { return columns_; }
  /// The number of digits t of each coordinate.
  int precision() const noexcept { return precision_; }
  /// How many points the matrices define, 2^m (saturating at 2^64 - 1 for m = 64).
  std::uint64_t capacity() const noexcept {
    return columns_ == 64 ? ~std::uint64_t{0} : std::uint64_t{1} << columns_;
  }

  /// Column k of dimension j as a t-bit integer.
  std::uint64_t column(int j, int k) const noexcept {
    return data_[static_cast<std::size_t>(j) * static_cast<std::size_t>(columns_) + static_cast<std::size_t>(k)];
  }
  /// The m columns of dimension j.
  std::span<const std::uint64_t> matrix(int j) const noexcept {
    return std::span<const std::uint64_t>(data_).subspan(
        static_cast<std::size_t>(j) * static_cast<std::size_t>(columns_), static_cast<std::size_t>(columns_));
  }
  /// All columns, dimension-major.
  std::span<const std::uint64_t> data() const noexcept { return data_; }

  friend bool operator==(const generating_matrices&, const generating_matrices&) = default;

 private:
  int dimension_;
  int columns_;
  int precision_;
  std::vector<std::uint64_t> data_;
};

}  // namespace tessera::qmc
