#pragma once
// A numeric CSV table read whole from a file: the input format of the commands that take data
// (`tessera conformal`). The first line names the columns; every other line holds one number per
// column (inf, -inf and nan are numbers). Bad input throws usage_error naming file, line and column.

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace tessera::cli {

class csv_table {
 public:
  /// Reads path. Throws usage_error when the file cannot be opened, has no header, has a row with
  /// another number of fields than the header, or a field that is not a number. O(file size).
  static csv_table read(const std::string& path);

  /// The number of data rows.
  std::size_t rows() const noexcept { return rows_; }

  /// Whether a column of that name exists.
  bool has(const std::string& name) const noexcept;

  /// The column of that name. Throws usage_error naming the file and the columns it has.
  std::span<const double> column(const std::string& name) const;

  /// The column names in file order.
  const std::vector<std::string>& header() const noexcept { return header_; }

  /// The row-major matrix of the named columns, in the order given. Throws as column().
  std::vector<double> matrix(const std::vector<std::string>& names) const;

  /// The path the table was read from (for messages).
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
  std::vector<std::string> header_;
  std::vector<std::vector<double>> columns_;
  std::size_t rows_ = 0;
};

}  // namespace tessera::cli
