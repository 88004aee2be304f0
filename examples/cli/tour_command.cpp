// `tessera tour`: a short, readable run of every core on embedded data.
#include <chrono>
#include <iostream>
#include <sstream>
#include <tessera/core/version.hpp>

#include "cli.hpp"

namespace tessera::cli {
namespace {

void run_tour(const context& ctx) {
  if (ctx.format_given() && ctx.format() == output_format::json) {
    nlohmann::json stops = nlohmann::json::array();
    for (const tour_stop& stop : ctx.tour) {
      std::ostringstream text;
      const auto start = std::chrono::steady_clock::now();
      stop.run(text);
      const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
      stops.push_back({{"core", stop.core}, {"summary", stop.summary}, {"report", text.str()},
                       {"seconds", seconds.count()}});
    }
    print_json({{"version", version_string}, {"stops", stops}});
    return;
  }
  std::cout << "tessera " << version_string << ": a tour of " << ctx.tour.size() << " cores\n";
  for (const tour_stop& stop : ctx.tour) {
    std::cout << "\n[" << stop.core << "] " << stop.summary << '\n';
    const auto start = std::chrono::steady_clock::now();
    stop.run(std::cout);
    const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
    std::cout << "  (" << seconds.count() << " s)\n";
  }
}

}  // namespace

void add_tour_command(CLI::App& app, context& ctx) {
  CLI::App* sub = app.add_subcommand(
      "tour", "Run every core on embedded data and print a short report (text, or --format json)");
  sub->callback([&ctx] { run_tour(ctx); });
}

}  // namespace tessera::cli
