#pragma once
// Adaptive cubature from independent randomizations with a Student t interval (QMCPy's
// CubQMCRepStudentT; L'Ecuyer, Munger and Tuffin, "On the distribution of integration error by
// randomly-shifted lattice rules", 2010, for the t interval).
//
// With R replications of n points each, replication r's mean mu_r is unbiased; the estimate is
// mean(mu_r) and the half-width t_{1-alpha/2, R-1} * inflate * s / sqrt(R), s the sample standard
// deviation (divisor R - 1) of the mu_r. n doubles, reusing every point already evaluated, until
// the interval meets the tolerance (result.hpp) or R 2n would exceed n_limit.

#include <boost/math/distributions/students_t.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "tessera/core/exec.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/qmc/cubature/point_blocks.hpp"
#include "tessera/qmc/cubature/result.hpp"
#include "tessera/qmc/integrand.hpp"

namespace tessera::qmc {

/// Options of the replicated Student t rule, with QMCPy's defaults.
struct replicated_cubature_options {
  cubature_tolerance tolerance{};
  std::uint64_t replications = 16;     ///< R >= 2 independent randomizations
  double alpha = 0.01;                 ///< the interval holds with confidence 1 - alpha
  double inflate = 1.0;                ///< >= 1, widens the interval
  std::uint64_t n_init = 256;          ///< points per replication at first, a power of two
  std::uint64_t n_limit = 1ULL << 30;  ///< total evaluations (R n) never exceed it
};

/// Integrates f over [0,1)^d with `generator` (a randomized digital_net, rank1_lattice or
/// halton_sequence; its options' seed picks the replications; a Halton sequence must hold at
/// least options.replications of them). Returns the estimate, the t interval and whether the
/// tolerance was met (converged is false when n_limit stopped it).
/// Throws invalid_argument for bad options, an unrandomized generator, or dimensions that
/// disagree; domain_error naming the point when f returns a non-finite value.
/// Cost: the evaluations of f at n_total points plus O(n_total d) generation.
template <class Generator, batch_integrand<double> F>
cubature_result integrate_replicated(exec::host_policy, const F& f, const Generator& generator,
                                     const replicated_cubature_options& options = {}) {
  constexpr const char* where = "tessera::qmc::integrate_replicated";
  const auto start = std::chrono::steady_clock::now();
  detail::require_tolerance(where, options.tolerance);
  require_in_range<std::uint64_t>(where, "replications", options.replications, 2, 1 << 20);
  require_open_unit_interval(where, "alpha", options.alpha);
  require(std::isfinite(options.inflate) && options.inflate >= 1, where, "inflate", options.inflate, "inflate >= 1");
  detail::require_sample_size(where, "n_init", options.n_init, 1);
  detail::require_sample_size(where, "n_limit", options.n_limit, 2 * options.n_init);
  require(detail::is_randomized(generator), where, "generator", "an unrandomized point set",
          "a randomized generator (the error estimate comes from its randomness)");
  require(detail::available_replications(generator) >= options.replications, where, "replications",
          options.replications,
          "at most the generator's " + tessera::detail::to_text(detail::available_replications(generator)));
  require(f.dimension() == generator.dimension(), where, "f.dimension()", f.dimension(),
          "the generator's dimension " + tessera::detail::to_text(generator.dimension()));

  const std::uint64_t replications = options.replications;
  const boost::math::students_t t_distribution(static_cast<double>(replications - 1));
  const double t_star = boost::math::quantile(t_distribution, 1 - options.alpha / 2);
  const auto blocks = detail::make_point_blocks(generator, replications);
  std::vector<double> sums(replications, 0.0);
  point_array<double> points;
  cubature_result result;
  for (std::uint64_t n_min = 0, n_max = options.n_init;; n_min = n_max, n_max *= 2) {
    require(n_max <= generator.capacity(), where, "n", n_max,
            "at most the generator's capacity " + tessera::detail::to_text(generator.capacity()));
    points.resize({static_cast<std::size_t>(n_max - n_min), static_cast<std::size_t>(generator.dimension())});
    for (std::uint64_t r = 0; r < replications; ++r) {
      blocks.generate({n_min, n_max}, r, points);
      const xt::xtensor<double, 1> y = f(points);
      detail::require_finite_values(where, y, n_min, r);
      sums[r] += std::accumulate(y.begin(), y.end(), 0.0);
    }
    double mean = 0;
    for (double s : sums) mean += s / static_cast<double>(n_max);
    mean /= static_cast<double>(replications);
    double squares = 0;
    for (double s : sums) squares += (s / static_cast<double>(n_max) - mean) * (s / static_cast<double>(n_max) - mean);
    const double deviation = std::sqrt(squares / static_cast<double>(replications - 1));
    const double half_width = t_star * options.inflate * deviation / std::sqrt(static_cast<double>(replications));
    detail::settle(result, options.tolerance, mean - half_width, mean + half_width);
    result.n = replications * n_max;
    if (result.converged || 2 * result.n > options.n_limit) break;
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace tessera::qmc
