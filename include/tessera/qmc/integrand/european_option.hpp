#pragma once
// European options under geometric Brownian motion, and the vocabulary that the Asian options
// (asian_option.hpp) share with them: the parameters, the monitored log-price path and Black's
// formula.
//
// As in QMCPy's FinancialOption, the asset follows the risk-neutral geometric Brownian motion
//   S(t) = S0 exp((r - sigma^2/2) t + sigma W(t))
// monitored at the d equally spaced times t_j = T j / d, j = 1..d. The Brownian path
// (W(t_1), ..., W(t_d)) ~ N(0, C), C_jk = min(t_j, t_k), is built from u in [0,1)^d by a
// gaussian_transform of the log-prices (Cholesky or PCA factor of sigma^2 C: QMCPy's
// decomp_type), so d is the QMC dimension even when the payoff reads only S(T).
// The discounted payoff is exp(-r T) P(S); its integral over the unit cube is the price.

#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <xtensor/xtensor.hpp>

#include "tessera/core/concepts.hpp"
#include "tessera/core/detail/fresh_tensor.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/qmc/integrand.hpp"
#include "tessera/qmc/measure.hpp"
#include "tessera/qmc/point_set.hpp"

namespace tessera::qmc {

/// The right an option grants: to buy (call, payoff max(X - K, 0)) or to sell (put,
/// payoff max(K - X, 0)) at the strike K.
enum class option_type { call, put };

/// Market and contract parameters of an option; the defaults are QMCPy's FinancialOption ones.
struct option_parameters {
  double start_price = 30;    ///< S0 > 0
  double strike_price = 35;   ///< K > 0
  double interest_rate = 0;   ///< r, finite (continuously compounded, also the drift)
  double volatility = 0.5;    ///< sigma > 0
  double maturity = 1;        ///< T > 0, the exercise time (QMCPy's t_final)
  option_type type = option_type::call;
  factorization decomposition = factorization::pca;  ///< how the Brownian path is built
};

/// Black's formula (F. Black, "The pricing of commodity contracts", J. Financial Economics 3,
/// 1976): the price discount * E[max(X - K, 0)] (call) or discount * E[max(K - X, 0)] (put) for a
/// lognormal X with log X ~ N(log F - v/2, v), i.e. forward E[X] = F:
///   call = discount (F Phi(d1) - K Phi(d2)),  put = discount (K Phi(-d2) - F Phi(-d1)),
///   d1 = (log(F/K) + v/2) / sqrt(v),  d2 = d1 - sqrt(v).
/// log_forward = log F (taken as a log so that F itself need not be representable).
/// Phi is Boost.Math's normal cdf (erfc-based, accurate in the tails). O(1). Throws
/// invalid_argument unless strike > 0, variance > 0, discount > 0 and log_forward finite.
inline double black_price(double log_forward, double strike, double variance, double discount,
                          option_type type) {
  constexpr std::string_view where = "tessera::qmc::black_price";
  require_finite(where, "log_forward", log_forward);
  require_positive(where, "strike", strike);
  require_positive(where, "variance", variance);
  require_positive(where, "discount", discount);
  const boost::math::normal_distribution<double> normal;
  const double root = std::sqrt(variance);
  const double d1 = (log_forward - std::log(strike) + variance / 2) / root;
  const double d2 = d1 - root;
  const double forward = std::exp(log_forward);
  if (type == option_type::call)
    return discount * (forward * boost::math::cdf(normal, d1) -
                       strike * boost::math::cdf(normal, d2));
  return discount *
         (strike * boost::math::cdf(normal, -d2) - forward * boost::math::cdf(normal, -d1));
}

namespace detail {

/// Validates option_parameters and the dimension for the integrand `where`.
inline void require_option(std::string_view where, const option_parameters& p, int dimension) {
  require(dimension >= 1, where, "dimension", dimension, ">= 1");
  require_positive(where, "start_price", p.start_price);
  require_positive(where, "strike_price", p.strike_price);
  require_finite(where, "interest_rate", p.interest_rate);
  require_positive(where, "volatility", p.volatility);
  require_positive(where, "maturity", p.maturity);
}

/// The log-price path at the d monitoring times: log S(t_j) = log S0 + (r - sigma^2/2) t_j +
/// sigma W(t_j), as a gaussian_transform (mean the drift term, covariance sigma^2 min(t_j, t_k)).
template <float_or_double T>
gaussian_transform<T> log_price_path(const option_parameters& p, int dimension) {
  using vector = typename gaussian_transform<T>::vector;
  using matrix = typename gaussian_transform<T>::matrix;
  const double variance_rate = p.volatility * p.volatility;
  vector mean(dimension);
  matrix covariance(dimension, dimension);
  for (int j = 0; j < dimension; ++j) {
    const double t = p.maturity * (j + 1) / dimension;
    mean(j) = static_cast<T>(std::log(p.start_price) + (p.interest_rate - variance_rate / 2) * t);
    for (int k = 0; k < dimension; ++k) {
      const double s = p.maturity * (std::min(j, k) + 1) / dimension;
      covariance(j, k) = static_cast<T>(variance_rate * s);
    }
  }
  return gaussian_transform<T>(std::move(mean), covariance, p.decomposition);
}

/// Applies payoff(row pointer) to each row of the log-price batch, times the discount, on OpenMP
/// threads where enabled. O(n) payoff calls.
template <float_or_double T, class Payoff>
xt::xtensor<T, 1> discounted_payoffs(const point_array<T>& log_prices, T discount,
                                     const Payoff& payoff) {
  const auto n = static_cast<std::int64_t>(log_prices.shape(0));
  const std::size_t d = log_prices.shape(1);
  xt::xtensor<T, 1> values = tessera::detail::fresh_tensor<T, 1>({log_prices.shape(0)});
  const T* rows = log_prices.data();
#if defined(_OPENMP)
#pragma omp parallel for schedule(static)
#endif
  for (std::int64_t i = 0; i < n; ++i)
    values(static_cast<std::size_t>(i)) = discount * payoff(rows + static_cast<std::size_t>(i) * d);
  return values;
}

/// max(x - K, 0) for a call, max(K - x, 0) for a put.
template <float_or_double T>
T vanilla_payoff(T x, T strike, option_type type) {
  const T gain = type == option_type::call ? x - strike : strike - x;
  return gain > T(0) ? gain : T(0);
}

}  // namespace detail

/// The Black-Scholes price of a European option on S(T) (Black & Scholes 1973; Hull, "Options,
/// Futures, and Other Derivatives", ch. 15): black_price with F = S0 e^{rT}, v = sigma^2 T and
/// discount e^{-rT}. O(1). Throws invalid_argument for parameters outside option_parameters'
/// documented ranges (naming the field).
inline double black_scholes_price(const option_parameters& p) {
  detail::require_option("tessera::qmc::black_scholes_price", p, 1);
  const double variance = p.volatility * p.volatility * p.maturity;
  return black_price(std::log(p.start_price) + p.interest_rate * p.maturity, p.strike_price,
                     variance, std::exp(-p.interest_rate * p.maturity), p.type);
}

/// A European call or put on S(T) under geometric Brownian motion monitored at d times (see the
/// top of this header): f(u) = e^{-rT} max(S(T) - K, 0) (call) or e^{-rT} max(K - S(T), 0) (put).
/// Evaluates in T (the factor of the path covariance is computed in double).
template <float_or_double T>
class european_option {
 public:
  /// dimension: d >= 1 monitoring times; p: see option_parameters. O(d^3) (the factorization).
  /// Throws invalid_argument naming the offending parameter.
  explicit european_option(int dimension, const option_parameters& p = {})
      : parameters_((detail::require_option("tessera::qmc::european_option", p, dimension), p)),
        path_(detail::log_price_path<T>(p, dimension)) {}

  /// The dimension d.
  int dimension() const noexcept { return path_.dimension(); }

  /// The parameters.
  const option_parameters& parameters() const noexcept { return parameters_; }

  /// The discounted payoff at each row of u (n x d). O(n d^2) for the path plus O(n). Throws
  /// invalid_argument for a wrong column count or a coordinate outside [0, 1].
  xt::xtensor<T, 1> operator()(const point_array<T>& u) const {
    const point_array<T> log_prices = path_(u);
    const std::size_t last = log_prices.shape(1) - 1;
    const T strike = static_cast<T>(parameters_.strike_price);
    const option_type type = parameters_.type;
    const T discount = static_cast<T>(std::exp(-parameters_.interest_rate * parameters_.maturity));
    return detail::discounted_payoffs(log_prices, discount, [&](const T* row) {
      return detail::vanilla_payoff(std::exp(row[last]), strike, type);
    });
  }

  /// The Black-Scholes price (black_scholes_price), independent of d. O(1).
  double exact_value() const { return black_scholes_price(parameters_); }

 private:
  option_parameters parameters_;
  gaussian_transform<T> path_;
};

}  // namespace tessera::qmc
