#pragma once
// Conformal risk control (Angelopoulos, Bates, Fisch, Lei, Schuster, "Conformal risk control",
// ICLR 2024, arXiv:2208.02814): calibrate a set-valued predictor to bound an expected loss other
// than miscoverage.
//
// Sets C_lambda(x) grow with lambda; L_i(lambda) = l(C_lambda(x_i), y_i) lies in [0, B] and does
// not increase with lambda. From n exchangeable calibration points the method picks
//
//     lambda_hat = inf{lambda : (n / (n + 1)) R_n(lambda) + B / (n + 1) <= alpha},
//     R_n(lambda) = (1/n) sum_i L_i(lambda),
//
// i.e. (sum_i L_i(lambda) + B) / (n + 1) <= alpha, the form computed here; then
// E[L_{n+1}(lambda_hat)] <= alpha (their Theorem 1). No lambda qualifies when
// alpha < B / (n + 1), or when even the largest lambda leaves too much loss; the largest lambda is
// then returned with controlled = false, and the guarantee holds only under the paper's
// assumption that every L_i(lambda_max) <= alpha. With alpha = miscoverage and
// L = 1{y not in C_lambda} this is split conformal prediction.
//
// The paper's standard example is multilabel classification with the false-negative rate:
// C_lambda(x) = {k : p_k(x) >= 1 - lambda}, L = 1 - |C_lambda(x) ∩ Y| / |Y|, provided here.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>
#include <xtensor/xtensor.hpp>

#include "tessera/core/concepts.hpp"
#include "tessera/core/detail/fresh_tensor.hpp"
#include "tessera/core/errors.hpp"
#include "tessera/core/matrix_view.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::conformal {

/// What conformal_risk_control chose from a grid.
template <float_or_double T>
struct risk_control_choice {
  std::size_t index;     ///< lambda = lambdas[index]
  T lambda;              ///< lambda_hat
  double adjusted_risk;  ///< (sum_i L_i(lambda) + B) / (n + 1) at lambda_hat
  bool controlled;       ///< false: no lambda met the bound, lambda is the largest
};

/// What conformal_risk_control_bisection found.
template <float_or_double T>
struct risk_control_result {
  T lambda;              ///< within the tolerance above lambda_hat
  double adjusted_risk;  ///< (sum_i L_i(lambda) + B) / (n + 1) at lambda
  bool controlled;       ///< false: the bound fails at hi, lambda = hi
};

namespace detail {

template <float_or_double T>
void require_increasing_grid(std::string_view where, std::span<const T> lambdas) {
  require_nonempty(where, "lambdas", lambdas.size());
  require_all_finite(where, "lambdas", lambdas);
  for (std::size_t j = 1; j < lambdas.size(); ++j)
    if (!(lambdas[j] > lambdas[j - 1]))
      require(false, where, "lambdas[" + tessera::detail::to_text(j) + "]", lambdas[j],
              "> lambdas[" + tessera::detail::to_text(j - 1) +
                  "] = " + tessera::detail::to_text(lambdas[j - 1]));
}

inline void require_risk_level(std::string_view where, double alpha, double loss_bound) {
  require_positive(where, "alpha", alpha);
  require_positive(where, "loss_bound", loss_bound);
}

/// "matrix(i, j)" for a message. The checks in O(n m) loops test first and build it only to throw.
inline std::string element_name(std::string_view matrix, std::size_t i, std::size_t j) {
  return std::string(matrix) + "(" + tessera::detail::to_text(i) + ", " +
         tessera::detail::to_text(j) + ")";
}

}  // namespace detail

/// lambda_hat over a grid. losses: n x m table (any row-major xtensor container), losses(i, j) =
/// L_i(lambdas[j]) in [0, loss_bound], each row non-increasing; lambdas: m strictly increasing
/// finite values; alpha > 0: the risk level; loss_bound: B > 0. Returns the first grid value
/// meeting the bound, or the last one with controlled = false. O(n m).
/// Throws invalid_argument on a shape mismatch, an empty table, a loss outside [0, B] (NaN
/// included), a row that increases, a grid that does not increase, or a bad alpha or B.
template <float_or_double T, row_major_matrix_of<T> M>
risk_control_choice<T> conformal_risk_control(const M& losses, std::span<const T> lambdas,
                                              double alpha, double loss_bound = 1.0) {
  constexpr std::string_view where = "tessera::conformal::conformal_risk_control";
  detail::require_risk_level(where, alpha, loss_bound);
  detail::require_increasing_grid(where, lambdas);
  require(losses.dimension() == 2, where, "losses.dimension()", losses.dimension(), "2");
  const matrix_view<const T> table = view_of<T>(losses);
  require(table.rows >= 1, where, "losses.shape()[0]", table.rows, ">= 1");
  require(table.cols == lambdas.size(), where, "losses.shape()[1]", table.cols,
          "lambdas.size() = " + tessera::detail::to_text(lambdas.size()));

  std::vector<double> column_sums(table.cols, 0.0);
  for (std::size_t i = 0; i < table.rows; ++i) {
    for (std::size_t j = 0; j < table.cols; ++j) {
      const T loss = table(i, j);
      if (!(loss >= 0 && loss <= loss_bound))
        require(false, where, detail::element_name("losses", i, j), loss,
                "0 <= loss <= loss_bound = " + tessera::detail::to_text(loss_bound));
      if (j > 0 && loss > table(i, j - 1))
        require(false, where, detail::element_name("losses", i, j), loss,
                "<= " + detail::element_name("losses", i, j - 1) + " = " +
                    tessera::detail::to_text(table(i, j - 1)) + " (non-increasing in lambda)");
      column_sums[j] += static_cast<double>(loss);
    }
  }
  const double n_plus_1 = static_cast<double>(table.rows) + 1;
  for (std::size_t j = 0; j < table.cols; ++j) {
    const double adjusted = (column_sums[j] + loss_bound) / n_plus_1;
    if (adjusted <= alpha) return {j, lambdas[j], adjusted, true};
  }
  const std::size_t last = table.cols - 1;
  return {last, lambdas[last], (column_sums[last] + loss_bound) / n_plus_1, false};
}

/// lambda_hat on an interval, by bisection. loss(i, lambda) -> L_i(lambda) in [0, loss_bound] for
/// i < n, non-increasing in lambda; lo < hi finite; tolerance > 0. Returns lo when the bound
/// holds there, hi with controlled = false when it fails there, and otherwise a lambda at which
/// the bound holds within `tolerance` above lambda_hat (for a monotone loss).
/// O(n log2((hi - lo) / tolerance)) loss evaluations.
/// Throws invalid_argument on bad parameters; domain_error when loss returns a value outside
/// [0, loss_bound] or NaN.
template <float_or_double T, class Loss>
  requires std::invocable<Loss&, std::size_t, T> &&
           std::convertible_to<std::invoke_result_t<Loss&, std::size_t, T>, T>
risk_control_result<T> conformal_risk_control_bisection(std::size_t n, Loss&& loss, T lo, T hi,
                                                        T tolerance, double alpha,
                                                        double loss_bound = 1.0) {
  constexpr std::string_view where = "tessera::conformal::conformal_risk_control_bisection";
  detail::require_risk_level(where, alpha, loss_bound);
  require(n >= 1, where, "n", n, ">= 1");
  require_finite(where, "lo", lo);
  require(std::isfinite(hi) && hi > lo, where, "hi", hi,
          "a finite number > lo = " + tessera::detail::to_text(lo));
  require_positive(where, "tolerance", tolerance);

  const auto adjusted_risk = [&](T lambda) {
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const T value = static_cast<T>(loss(i, lambda));
      if (!(value >= 0 && value <= loss_bound))
        throw domain_error(std::string(where) + ": loss(" + tessera::detail::to_text(i) + ", " +
                           tessera::detail::to_text(lambda) + ") = " +
                           tessera::detail::to_text(value) + "; expected 0 <= loss <= " +
                           tessera::detail::to_text(loss_bound));
      sum += static_cast<double>(value);
    }
    return (sum + loss_bound) / (static_cast<double>(n) + 1);
  };

  const double at_lo = adjusted_risk(lo);
  if (at_lo <= alpha) return {lo, at_lo, true};
  double at_upper = adjusted_risk(hi);
  if (at_upper > alpha) return {hi, at_upper, false};
  // Invariant: the bound fails at lower and holds at upper.
  T lower = lo;
  T upper = hi;
  while (upper - lower > tolerance) {
    const T middle = lower + (upper - lower) / 2;
    if (middle <= lower || middle >= upper) break;  // the interval is down to adjacent numbers
    const double at_middle = adjusted_risk(middle);
    if (at_middle <= alpha) {
      upper = middle;
      at_upper = at_middle;
    } else {
      lower = middle;
    }
  }
  return {upper, at_upper, true};
}

/// The multilabel set {k : p_k >= 1 - lambda}, ascending. O(K).
template <float_or_double T>
std::vector<std::size_t> multilabel_set(std::span<const T> probabilities, T lambda) {
  std::vector<std::size_t> set;
  for (std::size_t k = 0; k < probabilities.size(); ++k)
    if (probabilities[k] >= 1 - lambda) set.push_back(k);
  return set;
}

/// The false-negative rate of one multilabel example: the fraction of its true labels
/// (labels[k] = 1) that multilabel_set(probabilities, lambda) misses. O(K).
/// Throws invalid_argument on a size mismatch, a label other than 0 or 1, or no true label.
template <float_or_double T>
T false_negative_rate(std::span<const T> probabilities, std::span<const T> labels, T lambda) {
  constexpr std::string_view where = "tessera::conformal::false_negative_rate";
  require_same_size(where, "labels", labels.size(), "probabilities", probabilities.size());
  std::size_t positives = 0;
  std::size_t missed = 0;
  for (std::size_t k = 0; k < labels.size(); ++k) {
    if (labels[k] != 0 && labels[k] != 1)
      require(false, where, "labels[" + tessera::detail::to_text(k) + "]", labels[k], "0 or 1");
    if (labels[k] == 0) continue;
    ++positives;
    missed += probabilities[k] >= 1 - lambda ? 0 : 1;
  }
  require(positives >= 1, where, "the number of true labels", positives, ">= 1");
  return static_cast<T>(missed) / static_cast<T>(positives);
}

/// The n x m loss table L_i(lambdas[j]) = false_negative_rate(p_i, y_i, lambdas[j]) for
/// conformal_risk_control (loss_bound 1). probabilities: n x K, each in [0, 1] (the marginal
/// probability of each label; rows need not sum to 1); labels: n x K of 0 and 1, each row with a 1;
/// lambdas: strictly increasing. O(n (K log K + m)).
/// Throws invalid_argument on a shape mismatch, a probability outside [0, 1], a label other than
/// 0 or 1, a row without a true label, or a grid that does not increase.
template <float_or_double T, row_major_matrix_of<T> P, row_major_matrix_of<T> Y>
xt::xtensor<T, 2> false_negative_rate_table(const P& probabilities, const Y& labels,
                                            std::span<const T> lambdas) {
  constexpr std::string_view where = "tessera::conformal::false_negative_rate_table";
  detail::require_increasing_grid(where, lambdas);
  require(probabilities.dimension() == 2, where, "probabilities.dimension()",
          probabilities.dimension(), "2");
  require(labels.dimension() == 2, where, "labels.dimension()", labels.dimension(), "2");
  const matrix_view<const T> p = view_of<T>(probabilities);
  const matrix_view<const T> y = view_of<T>(labels);
  require(y.rows == p.rows, where, "labels.shape()[0]", y.rows,
          "probabilities.shape()[0] = " + tessera::detail::to_text(p.rows));
  require(y.cols == p.cols, where, "labels.shape()[1]", y.cols,
          "probabilities.shape()[1] = " + tessera::detail::to_text(p.cols));

  auto table = tessera::detail::fresh_tensor<T, 2>({p.rows, lambdas.size()});
  std::vector<T> positive_probabilities;
  for (std::size_t i = 0; i < p.rows; ++i) {
    positive_probabilities.clear();
    for (std::size_t k = 0; k < p.cols; ++k) {
      if (!(p(i, k) >= 0 && p(i, k) <= 1))
        require(false, where, detail::element_name("probabilities", i, k), p(i, k), "0 <= p <= 1");
      if (y(i, k) != 0 && y(i, k) != 1)
        require(false, where, detail::element_name("labels", i, k), y(i, k), "0 or 1");
      if (y(i, k) == 1) positive_probabilities.push_back(p(i, k));
    }
    if (positive_probabilities.empty())
      require(false, where, "the number of true labels in row " + tessera::detail::to_text(i), 0,
              ">= 1");
    // As lambda grows the threshold 1 - lambda falls: sweep the true labels' probabilities from
    // the largest down, counting those the set already holds.
    std::sort(positive_probabilities.begin(), positive_probabilities.end(), std::greater<T>());
    const T positives = static_cast<T>(positive_probabilities.size());
    std::size_t held = 0;
    for (std::size_t j = 0; j < lambdas.size(); ++j) {
      const T threshold = 1 - lambdas[j];
      while (held < positive_probabilities.size() && positive_probabilities[held] >= threshold)
        ++held;
      table(i, j) = static_cast<T>(positive_probabilities.size() - held) / positives;
    }
  }
  return table;
}

}  // namespace tessera::conformal
