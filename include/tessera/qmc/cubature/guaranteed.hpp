#pragma once
// Guaranteed adaptive cubature on one randomized digital net (QMCPy's CubQMCNetG) or rank-1
// lattice (CubQMCLatticeG): the error bound of cone_error_bound.hpp from the Walsh (FWHT) or
// Fourier (FFTBR) coefficients of the integrand's values, n doubling from n_init until the bound
// meets the tolerance (result.hpp). The interval [estimate - bound, estimate + bound] holds the
// integral for every integrand in the cone of functions whose coefficients decay as the theory
// assumes (Hickernell and Jimenez Rugama 2016), not merely with some probability.

#include <chrono>
#include <complex>
#include <cstdint>
#include <bit>
#include <functional>
#include <numbers>
#include <numeric>
#include <span>
#include <vector>

#include "tessera/core/exec.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/qmc/cubature/cone_error_bound.hpp"
#include "tessera/qmc/cubature/point_blocks.hpp"
#include "tessera/qmc/cubature/result.hpp"
#include "tessera/qmc/fft_bit_reversed.hpp"
#include "tessera/qmc/fwht.hpp"
#include "tessera/qmc/integrand.hpp"
#include "tessera/qmc/periodization.hpp"

namespace tessera::qmc {

/// Options of the guaranteed rules, with QMCPy's defaults (n_limit is capped by the generator's
/// capacity; QMCPy's net default 2^35 exceeds a 32-digit net's 2^32 points).
struct guaranteed_cubature_options {
  cubature_tolerance tolerance{};
  std::uint64_t n_init = 1024;                   ///< a power of two >= 2^8
  std::uint64_t n_limit = 1ULL << 30;            ///< a power of two
  std::function<double(int)> fudge = default_fudge;  ///< fudge(m) for n = 2^m
  periodization transform = periodization::baker;     ///< lattices only (QMCPy's default)
};

namespace detail {

inline void require_guaranteed_options(std::string_view where, const guaranteed_cubature_options& o,
                                       std::uint64_t capacity) {
  require_tolerance(where, o.tolerance);
  require_sample_size(where, "n_init", o.n_init, 256);
  require_sample_size(where, "n_limit", o.n_limit, o.n_init);
  require(o.n_limit <= capacity, where, "n_limit", o.n_limit,
          "at most the generator's capacity " + tessera::detail::to_text(capacity));
  require(static_cast<bool>(o.fudge), where, "fudge", "an empty function", "a callable fudge(m)");
}

/// (1/2^m) FWHT of a block of 2^m values: its Walsh coefficients (omega = 1 in the update).
inline std::vector<double> walsh_coefficients(std::vector<double> y) {
  fwht(exec::host, std::span<double>(y));
  const double scale = 1 / static_cast<double>(y.size());
  for (double& c : y) c *= scale;
  return y;
}

/// (1/2^m) omega FFTBR of a block of 2^m values (fftbr is orthonormal, so one more 1/sqrt(n));
/// a block after the first is multiplied by omega_k = e^{-pi i k / 2^m}, as QMCPy does.
inline std::vector<std::complex<double>> fourier_coefficients(const std::vector<double>& y, bool rotate) {
  const std::size_t n = y.size();
  std::vector<std::complex<double>> in(y.begin(), y.end()), out(n);
  fftbr(exec::host, std::span<const std::complex<double>>(in), std::span<std::complex<double>>(out));
  const double scale = 1 / std::sqrt(static_cast<double>(n));
  const double step = rotate ? -std::numbers::pi / static_cast<double>(n) : 0.0;
  for (std::size_t k = 0; k < n; ++k) out[k] *= std::polar(scale, step * static_cast<double>(k));
  return out;
}

/// The loop both rules share: evaluate the next block, fold its transform into the bound, stop
/// when the bound meets the tolerance or n_limit. `evaluate(range)` returns the block's values;
/// `transform(values, later)` their coefficients (walsh_ or fourier_coefficients); later is false
/// for the first block only.
template <class Coefficient, class Evaluate, class Transform>
cubature_result guaranteed_loop(const guaranteed_cubature_options& o, Evaluate evaluate, Transform transform) {
  const auto start = std::chrono::steady_clock::now();
  const int m = std::countr_zero(o.n_init);
  std::vector<double> y = evaluate(index_range{0, o.n_init});
  double sum = std::accumulate(y.begin(), y.end(), 0.0);
  cone_error_bound<Coefficient> bound(transform(y, false), m);
  cubature_result result;
  for (std::uint64_t n = o.n_init;; n *= 2) {
    const double mean = sum / static_cast<double>(n);
    const double half_width = bound.bound(o.fudge);
    settle(result, o.tolerance, mean - half_width, mean + half_width);
    result.n = n;
    if (result.converged || 2 * n > o.n_limit) break;
    y = evaluate(index_range{n, 2 * n});
    sum += std::accumulate(y.begin(), y.end(), 0.0);
    bound.extend(transform(y, true));
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace detail

/// Integrates f over [0,1)^d with the guaranteed rule for digital nets (CubQMCNetG) on
/// replication 0 of `net`, which must be randomized (digital shift, LMS, LMS + DS or NUS) and in
/// natural order. Throws invalid_argument for bad options, a Gray-order or unrandomized net, or
/// dimensions that disagree; domain_error naming the point when f returns a non-finite value.
/// Cost: f at n points plus O(n d) generation and O(n log n) transforms.
template <batch_integrand<double> F>
cubature_result integrate_net_g(exec::host_policy, const F& f, const digital_net& net,
                                const guaranteed_cubature_options& options = {}) {
  constexpr const char* where = "tessera::qmc::integrate_net_g";
  require(net.options().order == net_order::natural, where, "net order", "gray",
          "natural order (the Walsh coefficients need it)");
  require(detail::is_randomized(net), where, "net randomization", "none", "a randomized net");
  require(f.dimension() == net.dimension(), where, "f.dimension()", f.dimension(),
          "the net's dimension " + tessera::detail::to_text(net.dimension()));
  detail::require_guaranteed_options(where, options, net.capacity());
  const digital_net_replication prepared(net, 0);
  point_array<double> points;
  auto evaluate = [&](index_range range) {
    points.resize({static_cast<std::size_t>(range.size()), static_cast<std::size_t>(net.dimension())});
    generate_into(exec::host, prepared, range, std::span<double>(points.data(), points.size()));
    const xt::xtensor<double, 1> y = f(points);
    detail::require_finite_values(where, y, range.begin, 0);
    return std::vector<double>(y.begin(), y.end());
  };
  auto transform = [](std::vector<double> y, bool) { return detail::walsh_coefficients(std::move(y)); };
  return detail::guaranteed_loop<double>(options, evaluate, transform);
}

/// Integrates f over [0,1)^d with the guaranteed rule for lattices (CubQMCLatticeG) on
/// replication 0 of `lattice`, which must be shifted and in radical-inverse order; the
/// integrand is periodized by options.transform first. Errors and cost as integrate_net_g.
template <batch_integrand<double> F>
cubature_result integrate_lattice_g(exec::host_policy, const F& f, const rank1_lattice& lattice,
                                    const guaranteed_cubature_options& options = {}) {
  constexpr const char* where = "tessera::qmc::integrate_lattice_g";
  require(lattice.options().order == lattice_order::radical_inverse, where, "lattice order", "natural",
          "radical-inverse order (the bit-reversed FFT needs it)");
  require(detail::is_randomized(lattice), where, "lattice randomization", "none", "a shifted lattice");
  require(f.dimension() == lattice.dimension(), where, "f.dimension()", f.dimension(),
          "the lattice's dimension " + tessera::detail::to_text(lattice.dimension()));
  detail::require_guaranteed_options(where, options, lattice.capacity());
  point_array<double> points;
  auto evaluate = [&](index_range range) {
    points.resize({static_cast<std::size_t>(range.size()), static_cast<std::size_t>(lattice.dimension())});
    generate_into(exec::host, lattice, range, 0, std::span<double>(points.data(), points.size()));
    const xt::xtensor<double, 1> weights = periodize(options.transform, points);
    const xt::xtensor<double, 1> y = f(points);
    detail::require_finite_values(where, y, range.begin, 0);
    std::vector<double> values(y.size());
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = y[i] * weights[i];
    return values;
  };
  auto transform = [](const std::vector<double>& y, bool later) { return detail::fourier_coefficients(y, later); };
  return detail::guaranteed_loop<std::complex<double>>(options, evaluate, transform);
}

}  // namespace tessera::qmc
