#include "csv_table.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string_view>

#include "cli.hpp"

namespace tessera::cli {
namespace {

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::size_t begin = 0;
  for (;;) {
    const std::size_t comma = line.find(',', begin);
    std::string field = line.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin);
    const auto first = field.find_first_not_of(" \t\r");
    const auto last = field.find_last_not_of(" \t\r");
    fields.push_back(first == std::string::npos ? std::string() : field.substr(first, last - first + 1));
    if (comma == std::string::npos) return fields;
    begin = comma + 1;
  }
}

// strtod rather than from_chars: it reads "inf", "-inf", "nan" and "1e-3" alike on every libstdc++.
bool parse_number(const std::string& text, double& value) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  value = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && errno != ERANGE;
}

}  // namespace

csv_table csv_table::read(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw usage_error("cannot open '" + path + "'");
  csv_table table;
  table.path_ = path;
  std::string line;
  if (!std::getline(file, line) || line.find_first_not_of(" \t\r") == std::string::npos)
    throw usage_error(path + ": no header line");
  table.header_ = split_fields(line);
  table.columns_.resize(table.header_.size());
  for (std::size_t number = 2; std::getline(file, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto fields = split_fields(line);
    if (fields.size() != table.header_.size())
      throw usage_error(path + ":" + std::to_string(number) + ": " + std::to_string(fields.size()) +
                        " fields; expected " + std::to_string(table.header_.size()) + " (the header's)");
    for (std::size_t j = 0; j < fields.size(); ++j) {
      double value = 0;
      if (!parse_number(fields[j], value))
        throw usage_error(path + ":" + std::to_string(number) + ": column '" + table.header_[j] +
                          "' = '" + fields[j] + "' is not a number");
      table.columns_[j].push_back(value);
    }
    ++table.rows_;
  }
  return table;
}

bool csv_table::has(const std::string& name) const noexcept {
  return std::find(header_.begin(), header_.end(), name) != header_.end();
}

std::span<const double> csv_table::column(const std::string& name) const {
  const auto found = std::find(header_.begin(), header_.end(), name);
  if (found == header_.end()) {
    std::string names;
    for (const auto& h : header_) names.append(names.empty() ? "" : ", ").append(h);
    throw usage_error(path_ + ": no column '" + name + "' (it has: " + names + ")");
  }
  return columns_[static_cast<std::size_t>(found - header_.begin())];
}

std::vector<double> csv_table::matrix(const std::vector<std::string>& names) const {
  std::vector<double> out(rows_ * names.size());
  for (std::size_t j = 0; j < names.size(); ++j) {
    const auto values = column(names[j]);
    for (std::size_t i = 0; i < rows_; ++i) out[i * names.size() + j] = values[i];
  }
  return out;
}

}  // namespace tessera::cli
