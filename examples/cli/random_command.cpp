// `tessera random`: draws from tessera's counter-based streams, so that a user can see (and
// check across machines) exactly the numbers an algorithm will use for a given seed and ids.
#include <cstdint>
#include <span>
#include <string>
#include <tessera/core/random.hpp>
#include <tessera/core/validate.hpp>
#include <vector>

#include "cli.hpp"

namespace tessera::cli {
namespace {

struct random_options {
  std::string distribution;
  std::uint64_t count = 10;
  std::uint64_t seed = 0;
  std::vector<std::uint32_t> ids;
  std::uint64_t first = 0;
  std::string precision = "double";
};

template <class T>
std::vector<double> draw(const random_options& o) {
  std::string ids_text;
  for (std::uint32_t id : o.ids) ids_text.append(ids_text.empty() ? "" : ",").append(std::to_string(id));
  tessera::require(o.ids.size() <= 3, "tessera random", "--ids", ids_text, "at most 3 ids");
  tessera::require_in_range<std::uint64_t>("tessera random", "--n", o.count, 0, 100'000'000);
  const std::uint32_t id0 = o.ids.size() > 0 ? o.ids[0] : 0;
  const std::uint32_t id1 = o.ids.size() > 1 ? o.ids[1] : 0;
  const std::uint32_t id2 = o.ids.size() > 2 ? o.ids[2] : 0;
  const random_stream stream(o.seed, id0, id1, id2);
  std::vector<T> values(o.count);
  if (o.distribution == "uniform") fill_uniform(exec::host, stream, std::span<T>(values), o.first);
  if (o.distribution == "normal") fill_normal(exec::host, stream, std::span<T>(values), o.first);
  if (o.distribution == "rademacher") fill_rademacher(exec::host, stream, std::span<T>(values), o.first);
  return {values.begin(), values.end()};
}

void run(const random_options& o, const context& ctx) {
  const std::vector<double> values = o.precision == "float" ? draw<float>(o) : draw<double>(o);
  if (ctx.format() == output_format::csv) {
    std::vector<std::vector<double>> rows;
    rows.reserve(values.size());
    for (double v : values) rows.push_back({v});
    print_csv({"value"}, rows);
    return;
  }
  print_json({{"distribution", o.distribution},
              {"precision", o.precision},
              {"seed", o.seed},
              {"ids", o.ids},
              {"first", o.first},
              {"values", values}});
}

void tour(std::ostream& out) {
  const random_stream stream(2026, 1, 2, 3);
  out << "  normal draws 0..3 of stream (seed 2026, ids 1,2,3):";
  for (int i = 0; i < 4; ++i) out << ' ' << normal<double>(stream, i);
  out << "\n  the same draw recomputed alone, from its index only: " << normal<double>(stream, 2)
      << "\n";
}

}  // namespace

void add_random_command(CLI::App& app, context& ctx) {
  auto options = std::make_shared<random_options>();
  CLI::App* sub = app.add_subcommand(
      "random", "Draw from a counter-based Philox stream: value i of (seed, ids) is always the same");
  sub->add_option("distribution", options->distribution, "uniform, normal or rademacher")
      ->required()
      ->check(CLI::IsMember({"uniform", "normal", "rademacher"}));
  sub->add_option("--n", options->count, "How many draws")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--seed", options->seed, "The 64-bit seed")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--ids", options->ids, "Up to three 32-bit stream ids, e.g. --ids 1,2,3")
      ->delimiter(',');
  sub->add_option("--first", options->first, "Index of the first draw")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--precision", options->precision, "float or double")
      ->check(CLI::IsMember({"float", "double"}))
      ->capture_default_str();
  sub->callback([options, &ctx] { run(*options, ctx); });
  ctx.tour.push_back({"core", "counter-based random streams (Philox4x32-10)", tour});
}

}  // namespace tessera::cli
