#pragma once
// Asian options under geometric Brownian motion monitored at d times (the model and parameters
// of european_option.hpp), with QMCPy's two averages of the path S_j = S(t_j), S_0 = S0:
//
//   trapezoidal rule (QMCPy's default):  A = (S_0/2 + S_1 + ... + S_{d-1} + S_d/2) / d
//   right-endpoint rule:                 A = (S_1 + ... + S_d) / d
//
// arithmetic_asian_option averages the prices; geometric_asian_option averages their logs
// (G = exp of the same weighted mean of log S_j). Payoff e^{-rT} max(A - K, 0) (call) or
// e^{-rT} max(K - A, 0) (put).
//
// Closed forms: the geometric average is lognormal, so its price is Black's formula (see
// geometric_asian_option::exact_value). The arithmetic average of lognormals has no closed-form
// distribution and so no closed-form price; arithmetic_asian_option has no exact_value() (generic
// code can test for it with a requires-expression). Its price is at least the geometric one's
// for a call and at most for a put (A >= G pointwise).

#include <cmath>
#include <cstddef>
#include <string_view>
#include <vector>
#include <xtensor/xtensor.hpp>

#include "tessera/core/concepts.hpp"
#include "tessera/qmc/integrand.hpp"
#include "tessera/qmc/integrand/european_option.hpp"
#include "tessera/qmc/measure.hpp"
#include "tessera/qmc/point_set.hpp"

namespace tessera::qmc {

/// How the average over the monitoring times is taken (QMCPy's asian_mean_quadrature_rule).
enum class asian_rule {
  trapezoidal,  ///< weights 1/(2d) on S_0 and S_d, 1/d on S_1..S_{d-1}
  right,        ///< weights 1/d on S_1..S_d, none on S_0
};

namespace detail {

/// The average's weights w_0..w_d on S_0..S_d (they sum to one).
inline std::vector<double> asian_weights(int dimension, asian_rule rule) {
  const double d = dimension;
  std::vector<double> w(static_cast<std::size_t>(dimension) + 1, 1 / d);
  if (rule == asian_rule::trapezoidal) {
    w.front() = 1 / (2 * d);
    w.back() = 1 / (2 * d);
  } else {
    w.front() = 0;
  }
  return w;
}

/// What the arithmetic and geometric Asian options share: parameters, path, weights.
template <float_or_double T>
class asian_base {
 public:
  asian_base(std::string_view where, int dimension, const option_parameters& p, asian_rule rule)
      : parameters_((require_option(where, p, dimension), p)),
        rule_(rule),
        path_(log_price_path<T>(p, dimension)),
        weights_(asian_weights(dimension, rule)) {}

  int dimension() const noexcept { return path_.dimension(); }
  const option_parameters& parameters() const noexcept { return parameters_; }
  asian_rule rule() const noexcept { return rule_; }

 protected:
  // Discounted payoff of the average `average(w_0, row)` of each row of log-prices.
  template <class Average>
  xt::xtensor<T, 1> evaluate(const point_array<T>& u, const Average& average) const {
    const point_array<T> log_prices = path_(u);
    const T strike = static_cast<T>(parameters_.strike_price);
    const option_type type = parameters_.type;
    const T discount = static_cast<T>(std::exp(-parameters_.interest_rate * parameters_.maturity));
    return discounted_payoffs(log_prices, discount, [&](const T* row) {
      return vanilla_payoff(average(row), strike, type);
    });
  }

  // The weights as T: w_0 (on S_0), w (on S_1..S_{d-1}), w_d (on S_d).
  T weight_start() const { return static_cast<T>(weights_.front()); }
  T weight_inner() const { return static_cast<T>(weights_[1]); }
  T weight_end() const { return static_cast<T>(weights_.back()); }
  const std::vector<double>& weights() const noexcept { return weights_; }

 private:
  option_parameters parameters_;
  asian_rule rule_;
  gaussian_transform<T> path_;
  std::vector<double> weights_;
};

}  // namespace detail

/// An Asian option on the arithmetic average of the path (see the top of this header).
/// Evaluates in T. Has no exact_value(): the arithmetic average has no closed-form price.
template <float_or_double T>
class arithmetic_asian_option : public detail::asian_base<T> {
 public:
  /// dimension: d >= 1 monitoring times; p: see option_parameters; rule: the average's weights.
  /// O(d^3) (the factorization). Throws invalid_argument naming the offending parameter.
  explicit arithmetic_asian_option(int dimension, const option_parameters& p = {},
                                   asian_rule rule = asian_rule::trapezoidal)
      : detail::asian_base<T>("tessera::qmc::arithmetic_asian_option", dimension, p, rule) {}

  /// The discounted payoff at each row of u (n x d). O(n d^2). Throws invalid_argument for a
  /// wrong column count or a coordinate outside [0, 1].
  xt::xtensor<T, 1> operator()(const point_array<T>& u) const {
    const auto d = static_cast<std::size_t>(this->dimension());
    const T start = this->weight_start() * static_cast<T>(this->parameters().start_price);
    const T inner = this->weight_inner();
    const T end = this->weight_end();
    return this->evaluate(u, [&](const T* row) {
      T sum = 0;
      for (std::size_t j = 0; j + 1 < d; ++j) sum += std::exp(row[j]);
      return start + inner * sum + end * std::exp(row[d - 1]);
    });
  }
};

/// An Asian option on the geometric average of the path (see the top of this header).
/// Evaluates in T; exact_value() in double.
template <float_or_double T>
class geometric_asian_option : public detail::asian_base<T> {
 public:
  /// As arithmetic_asian_option's constructor.
  explicit geometric_asian_option(int dimension, const option_parameters& p = {},
                                  asian_rule rule = asian_rule::trapezoidal)
      : detail::asian_base<T>("tessera::qmc::geometric_asian_option", dimension, p, rule) {}

  /// The discounted payoff at each row of u (n x d). O(n d^2). Throws invalid_argument for a
  /// wrong column count or a coordinate outside [0, 1].
  xt::xtensor<T, 1> operator()(const point_array<T>& u) const {
    const auto d = static_cast<std::size_t>(this->dimension());
    const T start = this->weight_start() * static_cast<T>(std::log(this->parameters().start_price));
    const T inner = this->weight_inner();
    const T end = this->weight_end();
    return this->evaluate(u, [&](const T* row) {
      T sum = 0;
      for (std::size_t j = 0; j + 1 < d; ++j) sum += row[j];
      return std::exp(start + inner * sum + end * row[d - 1]);
    });
  }

  /// The price in closed form. log G = sum_j w_j log S_j is Gaussian with
  ///   mean m = log S0 + (r - sigma^2/2) sum_{j>=1} w_j t_j,
  ///   variance v = sigma^2 sum_{j,k>=1} w_j w_k min(t_j, t_k)
  ///             = sigma^2 sum_{k=1}^{d} (t_k - t_{k-1}) (w_k + ... + w_d)^2   (t_0 = 0),
  /// so the price is black_price(m + v/2, K, v, e^{-rT}). For the right-endpoint rule this is
  /// QMCPy's FinancialOption.get_exact_value (Tbar = (1 + 1/d) T/2, sigmabar^2 =
  /// sigma^2 (2 + 1/d)/3). O(d).
  double exact_value() const {
    const option_parameters& p = this->parameters();
    const std::vector<double>& w = this->weights();
    const int d = this->dimension();
    const double step = p.maturity / d;
    double weighted_time = 0;
    double tail = 0;  // w_k + ... + w_d, accumulated from k = d down
    double variance = 0;
    for (int k = d; k >= 1; --k) {
      weighted_time += w[static_cast<std::size_t>(k)] * step * k;
      tail += w[static_cast<std::size_t>(k)];
      variance += step * tail * tail;
    }
    variance *= p.volatility * p.volatility;
    const double mean = std::log(p.start_price) +
                        (p.interest_rate - p.volatility * p.volatility / 2) * weighted_time;
    return black_price(mean + variance / 2, p.strike_price, variance,
                       std::exp(-p.interest_rate * p.maturity), p.type);
  }
};

}  // namespace tessera::qmc
