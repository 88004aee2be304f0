#include <unistd.h>

#include <charconv>
#include <cmath>
#include <iostream>
#include <string>

#include "cli.hpp"

namespace tessera::cli {
namespace {

std::string shortest_text(double value) {
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (std::isnan(value)) return "nan";
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

}  // namespace

void print_json(const nlohmann::json& document) {
  const bool terminal = isatty(STDOUT_FILENO) != 0;
  std::cout << document.dump(terminal ? 2 : -1) << '\n';
}

void print_csv(const std::vector<std::string>& header,
               const std::vector<std::vector<double>>& rows) {
  std::string line;
  for (std::size_t j = 0; j < header.size(); ++j) line.append(j ? "," : "").append(header[j]);
  std::cout << line << '\n';
  for (const auto& row : rows) {
    line.clear();
    for (std::size_t j = 0; j < row.size(); ++j) line.append(j ? "," : "").append(shortest_text(row[j]));
    std::cout << line << '\n';
  }
}

nlohmann::json json_number(double value) {
  if (std::isfinite(value)) return value;
  return shortest_text(value);
}

}  // namespace tessera::cli
