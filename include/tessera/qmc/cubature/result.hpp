#pragma once
// What every QMC cubature rule shares: tolerances, the way an interval [low, high] meets them, and
// the result it returns.
//
// Tolerance rule (QMCPy's error_fun): the error allowed at a value s is
//   either: max(abs_tol, |s| rel_tol)   (meet the absolute OR the relative tolerance, the default)
//   both:   min(abs_tol, |s| rel_tol)   (meet both).
// From an interval [low, high] that holds the integral (with the rule's confidence), the estimate
// is (low + high + e(low) - e(high)) / 2 and the tolerance is met when high - low <= e(low) +
// e(high) (Hickernell, Jimenez Rugama and Li, "Adaptive quasi-Monte Carlo methods for cubature",
// 2018, sec. 3; QMCPy's "comb_bound" solution).

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "tessera/core/errors.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::qmc {

/// How the absolute and relative tolerances combine.
enum class tolerance_rule { either, both };

/// The accuracy a cubature rule must reach.
struct cubature_tolerance {
  double abs_tol = 1e-2;
  double rel_tol = 0.0;
  tolerance_rule rule = tolerance_rule::either;
};

/// The outcome of an adaptive cubature.
struct cubature_result {
  double estimate = 0;     ///< the integral's estimate
  double error_bound = 0;  ///< half the width of [lower, upper]
  double lower = 0;        ///< the integral lies in [lower, upper] (guaranteed for the cone rules,
  double upper = 0;        ///< with confidence 1 - alpha for the replicated rule)
  std::uint64_t n = 0;     ///< integrand evaluations used
  bool converged = false;  ///< the tolerance was met before n_limit
  double seconds = 0;      ///< wall-clock time of the whole computation
};

namespace detail {

/// Requires abs_tol >= 0 and 0 <= rel_tol < 1, not both zero under the either rule, neither zero
/// under the both rule.
inline void require_tolerance(std::string_view where, const cubature_tolerance& t) {
  require(std::isfinite(t.abs_tol) && t.abs_tol >= 0, where, "abs_tol", t.abs_tol, "a finite number >= 0");
  require(std::isfinite(t.rel_tol) && t.rel_tol >= 0 && t.rel_tol < 1, where, "rel_tol", t.rel_tol,
          "0 <= rel_tol < 1");
  if (t.rule == tolerance_rule::either)
    require(t.abs_tol > 0 || t.rel_tol > 0, where, "abs_tol", t.abs_tol, "abs_tol > 0 or rel_tol > 0");
  else
    require(t.abs_tol > 0 && t.rel_tol > 0, where, "abs_tol", t.abs_tol,
            "abs_tol > 0 and rel_tol > 0 under the 'both' rule");
}

/// The error allowed at the value s.
inline double allowed_error(const cubature_tolerance& t, double s) {
  const double relative = std::abs(s) * t.rel_tol;
  return t.rule == tolerance_rule::either ? std::max(t.abs_tol, relative) : std::min(t.abs_tol, relative);
}

/// Fills estimate, bounds and convergence from the interval [low, high].
inline void settle(cubature_result& r, const cubature_tolerance& t, double low, double high) {
  r.lower = low;
  r.upper = high;
  r.error_bound = (high - low) / 2;
  r.estimate = (low + high + allowed_error(t, low) - allowed_error(t, high)) / 2;
  r.converged = high - low <= allowed_error(t, low) + allowed_error(t, high);
}

/// Throws domain_error naming the first non-finite value: point `first + i` of replication r.
template <class Values>
void require_finite_values(std::string_view where, const Values& y, std::uint64_t first, std::uint64_t replication) {
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (std::isfinite(y[i])) continue;
    std::string message(where);
    message.append(": the integrand returned ").append(tessera::detail::to_text(static_cast<double>(y[i])));
    message.append(" at point ").append(tessera::detail::to_text(first + i));
    message.append(" of replication ").append(tessera::detail::to_text(replication));
    message.append("; expected finite values");
    throw domain_error(message);
  }
}

/// Requires a power of two >= lowest.
inline void require_sample_size(std::string_view where, std::string_view name, std::uint64_t n, std::uint64_t lowest) {
  require(n >= lowest && (n & (n - 1)) == 0, where, name, n, "a power of two >= " + tessera::detail::to_text(lowest));
}

}  // namespace detail
}  // namespace tessera::qmc
