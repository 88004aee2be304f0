#pragma once
// What the `tessera` tool's commands share: the global output format, the output helpers, the
// tour, and the registration function of each core's command (each defined in its own file).

#include <CLI/CLI.hpp>

#include <functional>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace tessera::cli {

enum class output_format { json, csv };

/// A short demonstration of one core on embedded data, printed as a few readable lines.
struct tour_stop {
  std::string core;
  std::string summary;
  std::function<void(std::ostream&)> run;
};

/// State shared by all commands: filled by the global options and by each command's registration.
struct context {
  std::string format_name = "json";  // bound to the global --format option
  const CLI::Option* format_option = nullptr;
  std::vector<tour_stop> tour;

  /// Whether the user gave --format (the tour prints text unless asked for JSON).
  bool format_given() const { return format_option != nullptr && format_option->count() > 0; }

  output_format format() const { return format_name == "csv" ? output_format::csv : output_format::json; }
};

/// Bad input met while running a command (a malformed file, inconsistent options): the tool
/// prints the message on one line and exits with status 2, like a parse error.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Prints a JSON document on stdout: indented on a terminal, one line when piped.
void print_json(const nlohmann::json& document);

/// Prints a CSV table on stdout: the header line, then one line per row. Numbers are written in
/// the shortest form that reads back exactly; infinities as inf / -inf.
void print_csv(const std::vector<std::string>& header,
               const std::vector<std::vector<double>>& rows);

/// A finite number as a JSON number, an infinity as the string "inf" / "-inf", NaN as "nan".
nlohmann::json json_number(double value);

/// Registration of each core's command and tour stop.
void add_random_command(CLI::App& app, context& ctx);
void add_qmc_command(CLI::App& app, context& ctx);
void add_conformal_command(CLI::App& app, context& ctx);
void add_es_command(CLI::App& app, context& ctx);
void add_zo_command(CLI::App& app, context& ctx);
void add_tour_command(CLI::App& app, context& ctx);

}  // namespace tessera::cli
