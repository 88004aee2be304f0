// `tessera qmc points` and `tessera qmc integrate`: QMC point sets and adaptive cubature from the
// shell.
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tessera/qmc/cubature/guaranteed.hpp>
#include <tessera/qmc/cubature/replicated_student_t.hpp>
#include <tessera/qmc/digital_net.hpp>
#include <tessera/qmc/halton.hpp>
#include <tessera/qmc/integrand/asian_option.hpp>
#include <tessera/qmc/integrand/european_option.hpp>
#include <tessera/qmc/integrand/keister.hpp>
#include <tessera/qmc/integrand/sine_product.hpp>
#include <tessera/qmc/lattice.hpp>
#include <tessera/qmc/niederreiter.hpp>
#include <vector>

#include "cli.hpp"

namespace tessera::cli {
namespace {

using namespace tessera::qmc;

struct points_options {
  std::string kind = "sobol";
  int dimension = 0;
  std::uint64_t count = 0;
  std::uint64_t skip = 0;
  std::string order;      // empty: the kind's default
  std::string randomize;  // empty: the kind's default
  std::uint64_t seed = 0;
  std::uint64_t replications = 1;
};

[[noreturn]] void bad(const std::string& message) { throw usage_error("tessera qmc: " + message); }

net_randomization net_randomization_named(const std::string& name) {
  if (name.empty() || name == "lms-ds") return net_randomization::lms_digital_shift;
  if (name == "none") return net_randomization::none;
  if (name == "digital-shift") return net_randomization::digital_shift;
  if (name == "lms") return net_randomization::lms;
  if (name == "nus") return net_randomization::nus;
  bad("--randomize = " + name + " does not apply to digital nets; expected none, digital-shift, lms, lms-ds or nus");
}

digital_net net_of(const points_options& o) {
  net_order order = net_order::natural;
  if (o.order == "gray") order = net_order::gray;
  else if (!o.order.empty() && o.order != "natural")
    bad("--order = " + o.order + " does not apply to digital nets; expected natural or gray");
  const digital_net_options options{order, net_randomization_named(o.randomize), o.seed};
  return o.kind == "niederreiter" ? niederreiter(o.dimension, options) : sobol(o.dimension, options);
}

rank1_lattice lattice_of(const points_options& o) {
  lattice_options options{lattice_order::radical_inverse, lattice_randomization::shift, o.seed, 0};
  if (o.order == "natural") {
    options.order = lattice_order::natural;
    options.size = o.skip + o.count;
  } else if (!o.order.empty() && o.order != "radical-inverse") {
    bad("--order = " + o.order + " does not apply to lattices; expected radical-inverse or natural");
  }
  if (o.randomize == "none") options.randomization = lattice_randomization::none;
  else if (!o.randomize.empty() && o.randomize != "shift")
    bad("--randomize = " + o.randomize + " does not apply to lattices; expected none or shift");
  return kuo_lattice(o.dimension, options);
}

halton_sequence halton_of(const points_options& o) {
  if (!o.order.empty() && o.order != "natural")
    bad("--order = " + o.order + " does not apply to Halton; its only order is natural");
  std::string name = o.randomize.empty() ? "lms-perm" : o.randomize;  // QMCPy's default
  if (name == "shift") bad("--randomize = shift does not apply to Halton; expected none, digital-shift, permutation, lms, lms-ds, lms-perm or nus");
  for (char& c : name)
    if (c == '-') c = ' ';
  return halton_sequence({o.dimension, parse_halton_randomization(name), o.seed,
                          static_cast<int>(o.replications)});
}

replicated_points<double> make_points(const points_options& o) {
  const index_range range{o.skip, o.skip + o.count};
  if (o.kind == "lattice") return generate_replications<double>(exec::host, lattice_of(o), range, o.replications);
  if (o.kind == "halton") {
    if (o.randomize == "none" && o.replications > 1) bad("--replications > 1 needs a randomization");
    return generate_replications<double>(exec::host, halton_of(o), range);
  }
  return generate_replications<double>(exec::host, net_of(o), range, o.replications);
}

void print_points(const points_options& o, const replicated_points<double>& x, output_format format) {
  const std::size_t r_count = x.shape(0), n = x.shape(1), d = x.shape(2);
  if (format == output_format::csv) {
    std::vector<std::string> header;
    if (r_count > 1) header.push_back("replication");
    for (std::size_t j = 0; j < d; ++j) header.push_back("x" + std::to_string(j + 1));
    std::vector<std::vector<double>> rows;
    rows.reserve(r_count * n);
    for (std::size_t r = 0; r < r_count; ++r)
      for (std::size_t i = 0; i < n; ++i) {
        std::vector<double> row;
        if (r_count > 1) row.push_back(static_cast<double>(r));
        for (std::size_t j = 0; j < d; ++j) row.push_back(x(r, i, j));
        rows.push_back(std::move(row));
      }
    print_csv(header, rows);
    return;
  }
  auto matrix = [&](std::size_t r) {
    nlohmann::json rows = nlohmann::json::array();
    for (std::size_t i = 0; i < n; ++i) {
      nlohmann::json row = nlohmann::json::array();
      for (std::size_t j = 0; j < d; ++j) row.push_back(x(r, i, j));
      rows.push_back(std::move(row));
    }
    return rows;
  };
  nlohmann::json points;
  if (r_count == 1) {
    points = matrix(0);
  } else {
    points = nlohmann::json::array();
    for (std::size_t r = 0; r < r_count; ++r) points.push_back(matrix(r));
  }
  print_json({{"kind", o.kind}, {"dim", o.dimension}, {"n", o.count}, {"skip", o.skip}, {"seed", o.seed},
              {"replications", o.replications}, {"points", std::move(points)}});
}

struct integrate_options {
  std::string integrand = "keister";
  int dimension = 0;
  double abs_tol = 1e-2;
  double rel_tol = 0;
  std::string method = "net-g";
  std::string generator = "sobol";
  std::uint64_t seed = 0;
  std::uint64_t n_limit = std::uint64_t{1} << 30;
};

template <class F>
cubature_result run_method(const integrate_options& o, const F& f) {
  const cubature_tolerance tolerance{o.abs_tol, o.rel_tol, tolerance_rule::either};
  const digital_net net = sobol(o.dimension, {net_order::natural, net_randomization::lms_digital_shift, o.seed});
  const rank1_lattice lattice = kuo_lattice(o.dimension, {lattice_order::radical_inverse, lattice_randomization::shift, o.seed});
  if (o.method == "rep") {
    replicated_cubature_options options;
    options.tolerance = tolerance;
    options.n_limit = o.n_limit;
    return o.generator == "lattice" ? integrate_replicated(exec::host, f, lattice, options)
                                    : integrate_replicated(exec::host, f, net, options);
  }
  guaranteed_cubature_options options;
  options.tolerance = tolerance;
  options.n_limit = o.n_limit;
  return o.method == "lattice-g" ? integrate_lattice_g(exec::host, f, lattice, options)
                                 : integrate_net_g(exec::host, f, net, options);
}

// Runs the integrand named by o.integrand; returns the result and the exact value where known.
std::pair<cubature_result, std::optional<double>> integrate_named(const integrate_options& o) {
  const int d = o.dimension;
  if (o.integrand == "keister") {
    const keister<double> f(d);
    return {run_method(o, f), f.exact_value()};
  }
  if (o.integrand == "option" || o.integrand == "european-call" || o.integrand == "european-put") {
    option_parameters p;
    p.type = o.integrand == "european-put" ? option_type::put : option_type::call;
    const european_option<double> f(d, p);
    return {run_method(o, f), f.exact_value()};
  }
  if (o.integrand == "asian-call") {
    return {run_method(o, arithmetic_asian_option<double>(d)), std::nullopt};
  }
  if (o.integrand == "geometric-asian-call") {
    const geometric_asian_option<double> f(d);
    return {run_method(o, f), f.exact_value()};
  }
  const sine_product<double> f = sine_product<double>::normalized(d);
  return {run_method(o, f), f.exact_value()};
}

void run_integrate(const integrate_options& o, const context& ctx) {
  const auto [r, exact] = integrate_named(o);
  if (ctx.format() == output_format::csv) {
    print_csv({"estimate", "error_bound", "n", "seconds", "converged"},
              {{r.estimate, r.error_bound, static_cast<double>(r.n), r.seconds, r.converged ? 1.0 : 0.0}});
    return;
  }
  nlohmann::json out = {{"integrand", o.integrand}, {"dim", o.dimension}, {"method", o.method},
                        {"estimate", json_number(r.estimate)}, {"error_bound", json_number(r.error_bound)},
                        {"lower", json_number(r.lower)}, {"upper", json_number(r.upper)},
                        {"n", r.n}, {"seconds", r.seconds}, {"converged", r.converged}};
  if (exact) out["exact"] = *exact;
  print_json(out);
}

void tour(std::ostream& out) {
  const auto x = generate<double>(exec::host, sobol(3, {net_order::gray, net_randomization::none, 0}), {0, 4});
  out << "  the first Sobol' points (Gray order, d = 3):";
  for (std::size_t i = 0; i < 4; ++i) out << " (" << x(i, 0) << ", " << x(i, 1) << ", " << x(i, 2) << ")";
  const keister<double> f(3);
  guaranteed_cubature_options o;
  o.tolerance.abs_tol = 1e-4;
  const cubature_result net = integrate_net_g(exec::host, f, sobol(3), o);
  const cubature_result lattice = integrate_lattice_g(exec::host, f, kuo_lattice(3), o);
  out << "\n  Keister integral, d = 3, exact " << f.exact_value() << ", to 1e-4:\n"
      << "    digital net (CubQMCNetG):  " << net.estimate << " +- " << net.error_bound << " with " << net.n << " points\n"
      << "    lattice (CubQMCLatticeG):  " << lattice.estimate << " +- " << lattice.error_bound << " with " << lattice.n
      << " points\n";
}

}  // namespace

void add_qmc_command(CLI::App& app, context& ctx) {
  CLI::App* qmc = app.add_subcommand("qmc", "Quasi-Monte Carlo: low-discrepancy points and adaptive cubature");
  qmc->require_subcommand(1);

  auto p = std::make_shared<points_options>();
  CLI::App* points = qmc->add_subcommand("points", "Print points of a (randomized) low-discrepancy sequence");
  points->add_option("--kind", p->kind, "sobol, niederreiter, lattice or halton")
      ->check(CLI::IsMember({"sobol", "niederreiter", "lattice", "halton"}))
      ->capture_default_str();
  points->add_option("--dim", p->dimension, "Dimension d")->required()->check(CLI::PositiveNumber);
  points->add_option("--n", p->count, "Number of points")->required()->check(CLI::NonNegativeNumber);
  points->add_option("--skip", p->skip, "Index of the first point")->check(CLI::NonNegativeNumber)->capture_default_str();
  points->add_option("--order", p->order, "natural or gray (nets), radical-inverse or natural (lattices)")
      ->check(CLI::IsMember({"natural", "gray", "radical-inverse"}));
  points->add_option("--randomize", p->randomize,
                     "none, shift (lattices), digital-shift, lms, lms-ds, nus (nets, Halton), permutation, "
                     "lms-perm (Halton); default lms-ds / shift / lms-perm")
      ->check(CLI::IsMember({"none", "shift", "digital-shift", "lms", "lms-ds", "nus", "permutation", "lms-perm"}));
  points->add_option("--seed", p->seed, "Seed of the randomization")->check(CLI::NonNegativeNumber)->capture_default_str();
  points->add_option("--replications", p->replications, "Independent randomizations R")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 16))
      ->capture_default_str();
  points->callback([p, &ctx] {
    require_in_range<std::uint64_t>("tessera qmc points", "--n times --dim times --replications",
                                    p->count * static_cast<std::uint64_t>(p->dimension) * p->replications, 0,
                                    std::uint64_t{1} << 27);
    print_points(*p, make_points(*p), ctx.format());
  });

  auto i = std::make_shared<integrate_options>();
  CLI::App* integrate = qmc->add_subcommand("integrate", "Integrate a test integrand to a tolerance, with its error bound");
  integrate->add_option("--integrand", i->integrand,
                        "keister, option (= european-call), european-call, european-put, asian-call, "
                        "geometric-asian-call or sine-product")
      ->check(CLI::IsMember({"keister", "option", "european-call", "european-put", "asian-call",
                             "geometric-asian-call", "sine-product"}))
      ->capture_default_str();
  integrate->add_option("--dim", i->dimension, "Dimension d")->required()->check(CLI::PositiveNumber);
  integrate->add_option("--abs-tol", i->abs_tol, "Absolute tolerance")->capture_default_str();
  integrate->add_option("--rel-tol", i->rel_tol, "Relative tolerance (met when either is met)")->capture_default_str();
  integrate->add_option("--method", i->method, "rep (replicated Student t), net-g or lattice-g")
      ->check(CLI::IsMember({"rep", "net-g", "lattice-g"}))
      ->capture_default_str();
  integrate->add_option("--generator", i->generator, "sobol or lattice, for --method rep")
      ->check(CLI::IsMember({"sobol", "lattice"}))
      ->capture_default_str();
  integrate->add_option("--seed", i->seed, "Seed of the randomization")->check(CLI::NonNegativeNumber)->capture_default_str();
  integrate->add_option("--n-limit", i->n_limit, "Most integrand evaluations (a power of two)")->capture_default_str();
  integrate->callback([i, &ctx] { run_integrate(*i, ctx); });

  ctx.tour.push_back({"qmc", "quasi-Monte Carlo points and guaranteed adaptive cubature", tour});
}

}  // namespace tessera::cli
