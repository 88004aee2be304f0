#pragma once
// Cross-conformal regression: jackknife+, jackknife-minmax, CV+, CV-minmax and
// jackknife+-after-bootstrap (J+aB), around any model the caller fits.
//
// Barber, Candès, Ramdas, Tibshirani, "Predictive inference with the jackknife+", Annals of
// Statistics 2021; Kim, Xu, Barber, "Predictive inference is free with the
// jackknife+-after-bootstrap", NeurIPS 2020.
//
// B models mu_b are fitted on subsets of the n training rows: leave-one-out (B = n), K folds
// (B = K) or B bootstrap resamples. For row i, mu_{-i} is the model not trained on row i (its
// leave-one-out or fold model), or for J+aB the mean or median of the models whose resample
// leaves row i out. With R_i = |y_i - mu_{-i}(x_i)|, the interval at a test point x is
//
//   plus    lower = the floor(alpha (n + 1))-th smallest of mu_{-i}(x) - R_i     (-inf if 0)
//           upper = the ceil((1 - alpha)(n + 1))-th smallest of mu_{-i}(x) + R_i (+inf if > n)
//   minmax  [min_i mu_{-i}(x) - q, max_i mu_{-i}(x) + q], q = the conformal quantile of R
//
// With exchangeable rows (Barber et al. 2021): jackknife+ covers with probability >= 1 - 2 alpha,
// jackknife-minmax >= 1 - alpha, K-fold CV+ >= 1 - 2 alpha - sqrt(2 / n), CV-minmax >= 1 - alpha.
// J+aB covers >= 1 - 2 alpha when the number of resamples is itself drawn as
// Binomial(B', (1 - 1/(n + 1))^n) (Kim et al. 2020); with a fixed B, as here and in MAPIE, that
// bound is approximate. In practice the plus intervals cover close to 1 - alpha.
//
// Rows that every bootstrap resample contains have no model left to calibrate them; like MAPIE,
// J+aB leaves them out of the calibration, so n counts the rows left out by at least one
// resample (calibration_size()). A row is in all B resamples with probability about 0.632^B.
//
// Each test point costs one call of each of the B models, one aggregation per calibration row
// (O(n) for jackknife and CV, O(n B / e) for J+aB) and two selections (order_statistic_in_place),
// O(n): no sort.
// MAPIE's CrossConformalRegressor (cv=-1 or KFold) and JackknifeAfterBootstrapRegressor compute
// the same intervals.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "tessera/conformal/interval.hpp"
#include "tessera/conformal/quantile.hpp"
#include "tessera/core/concepts.hpp"
#include "tessera/core/errors.hpp"
#include "tessera/core/exec.hpp"
#include "tessera/core/random.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::conformal {

/// How the held-out models' predictions become an interval (Barber et al. 2021).
enum class cross_method {
  plus,    ///< order statistics of mu_{-i}(x) -+ R_i: jackknife+, CV+, J+aB
  minmax,  ///< [min_i mu_{-i}(x) - q, max_i mu_{-i}(x) + q]: jackknife-minmax, CV-minmax
};

/// How J+aB combines the predictions of the models that left a row out (Kim et al. 2020).
enum class aggregation { mean, median };

/// The model type a fitter returns.
template <class Fit>
using fitted_model_t =
    std::remove_cvref_t<std::invoke_result_t<Fit&, std::span<const std::size_t>>>;

/// A callable that fits a model on the training rows it is given (indices into the caller's
/// data, repeated for a bootstrap resample) and returns it; the model maps a row X to a T.
template <class Fit, class X, class T>
concept regression_fitter =
    std::invocable<Fit&, std::span<const std::size_t>> &&
    std::move_constructible<fitted_model_t<Fit>> &&
    std::invocable<const fitted_model_t<Fit>&, const X&> &&
    std::convertible_to<std::invoke_result_t<const fitted_model_t<Fit>&, const X&>, T>;

namespace detail {

/// The fitted models and, for each calibration row, the models not trained on it: row r's
/// models are held_out_models[first_held_out[r] .. first_held_out[r + 1]).
template <float_or_double T, class Model>
struct held_out_fit {
  std::vector<Model> models;
  std::vector<std::size_t> calibration_rows;
  std::vector<std::size_t> first_held_out;
  std::vector<std::size_t> held_out_models;
  std::vector<T> residuals;
  aggregation combine = aggregation::mean;
};

/// The mean, or the median (the midpoint of the two middle values for an even count, as
/// numpy's), of values; reorders values. O(size).
template <float_or_double T>
T aggregate(std::span<T> values, aggregation combine) {
  if (combine == aggregation::mean) {
    double sum = 0;
    for (const T v : values) sum += v;
    return static_cast<T>(sum / static_cast<double>(values.size()));
  }
  const std::size_t half = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + half, values.end());
  const T upper_middle = values[half];
  if (values.size() % 2 == 1) return upper_middle;
  return std::midpoint(*std::max_element(values.begin(), values.begin() + half), upper_middle);
}

/// A model's prediction as a T; throws domain_error naming the model and the point unless finite.
template <float_or_double T, class Model, class X>
T finite_prediction(std::string_view where, const Model& model, std::size_t model_index,
                    const X& x, std::string_view point) {
  const T value = static_cast<T>(std::invoke(model, x));
  if (!std::isfinite(value)) {
    std::string message(where);
    message.append(": model ").append(tessera::detail::to_text(model_index));
    message.append(" predicts ").append(tessera::detail::to_text(value)).append(" at ");
    message.append(point).append("; expected a finite prediction");
    throw domain_error(message);
  }
  return value;
}

template <float_or_double T, class X>
void require_training_set(std::string_view where, std::span<const X> features,
                          std::span<const T> y) {
  require(y.size() >= 2, where, "y.size()", y.size(), ">= 2");
  require_same_size(where, "features", features.size(), "y", y.size());
  require_all_finite(where, "y", y);
}

/// The rows in [0, n) that `rows` does not contain, ascending, into out. O(n + rows.size()).
inline void complement(std::span<const std::size_t> rows, std::size_t n,
                       std::vector<std::size_t>& out) {
  std::vector<char> present(n, 0);
  for (const std::size_t r : rows) present[r] = 1;
  out.clear();
  for (std::size_t r = 0; r < n; ++r)
    if (!present[r]) out.push_back(r);
}

/// Lays the (row, model) pairs "model leaves row out" out row by row: the calibration rows are
/// the rows of some pair, ascending, each with its models in the order given. Counting sort,
/// O(n + pairs).
template <float_or_double T, class Model>
void index_held_out_models(std::size_t n, std::span<const std::size_t> pair_row,
                           std::span<const std::size_t> pair_model,
                           held_out_fit<T, Model>& fitted) {
  std::vector<std::size_t> count(n, 0), position(n, 0);
  for (const std::size_t r : pair_row) ++count[r];
  fitted.first_held_out.assign(1, 0);
  for (std::size_t r = 0; r < n; ++r) {
    if (count[r] == 0) continue;
    position[r] = fitted.calibration_rows.size();
    fitted.calibration_rows.push_back(r);
    fitted.first_held_out.push_back(fitted.first_held_out.back() + count[r]);
  }
  fitted.held_out_models.resize(pair_row.size());
  std::vector<std::size_t> next(fitted.first_held_out.begin(), fitted.first_held_out.end() - 1);
  for (std::size_t p = 0; p < pair_row.size(); ++p)
    fitted.held_out_models[next[position[pair_row[p]]]++] = pair_model[p];
}

/// R_i = |y_i - aggregate of row i's held-out models at x_i| for every calibration row.
template <float_or_double T, class X, class Model>
void compute_residuals(std::string_view where, std::span<const X> features,
                       std::span<const T> y, held_out_fit<T, Model>& fitted) {
  std::vector<T> gathered;
  fitted.residuals.resize(fitted.calibration_rows.size());
  for (std::size_t c = 0; c < fitted.calibration_rows.size(); ++c) {
    const std::size_t row = fitted.calibration_rows[c];
    gathered.clear();
    for (std::size_t k = fitted.first_held_out[c]; k < fitted.first_held_out[c + 1]; ++k) {
      const std::size_t b = fitted.held_out_models[k];
      gathered.push_back(finite_prediction<T>(where, fitted.models[b], b, features[row],
                                              "row " + tessera::detail::to_text(row)));
    }
    fitted.residuals[c] = std::abs(y[row] - aggregate(std::span<T>(gathered), fitted.combine));
  }
}

/// Fits model_count models and calibrates every row some model leaves out.
/// design(b, training_rows, held_out_rows) fills the rows model b is fitted on and those it
/// leaves out. Beyond the fits: O(sum of held-out counts) model calls and memory.
template <float_or_double T, class X, class Fit, class Design>
held_out_fit<T, fitted_model_t<Fit>> fit_held_out_models(std::string_view where,
                                                         std::span<const X> features,
                                                         std::span<const T> y, Fit& fit,
                                                         std::size_t model_count, Design design,
                                                         aggregation combine) {
  held_out_fit<T, fitted_model_t<Fit>> fitted;
  fitted.combine = combine;
  fitted.models.reserve(model_count);
  std::vector<std::size_t> pair_row, pair_model, training_rows, held_out_rows;
  for (std::size_t b = 0; b < model_count; ++b) {
    design(b, training_rows, held_out_rows);
    fitted.models.push_back(fit(std::span<const std::size_t>(training_rows)));
    pair_row.insert(pair_row.end(), held_out_rows.begin(), held_out_rows.end());
    pair_model.insert(pair_model.end(), held_out_rows.size(), b);
  }
  index_held_out_models(y.size(), std::span<const std::size_t>(pair_row),
                        std::span<const std::size_t>(pair_model), fitted);
  if (fitted.calibration_rows.empty())
    throw domain_error(std::string(where) +
                       ": every resample contains every row, so no row can be calibrated; "
                       "expected some row left out: draw more resamples");
  compute_residuals(where, features, y, fitted);
  return fitted;
}

/// K-fold CV over rows taken in `order`: fold k holds the k-th contiguous block of order, the
/// first n mod K blocks one row longer (scikit-learn's KFold). Returns the fitted models.
template <float_or_double T, class X, class Fit>
held_out_fit<T, fitted_model_t<Fit>> fit_folds(std::string_view where, std::span<const X> features,
                                               std::span<const T> y, Fit& fit, std::size_t folds,
                                               std::vector<std::size_t> order) {
  const std::size_t n = y.size();
  auto fold = [&, n, folds](std::size_t k, std::vector<std::size_t>& training,
                            std::vector<std::size_t>& held_out) {
    const std::size_t base = n / folds, longer = n % folds;
    const std::size_t begin = k * base + std::min(k, longer);
    const std::size_t end = begin + base + (k < longer ? 1 : 0);
    held_out.assign(order.begin() + begin, order.begin() + end);
    complement(held_out, n, training);
  };
  return fit_held_out_models(where, features, y, fit, folds, fold, aggregation::mean);
}

}  // namespace detail

namespace detail {

/// The plus interval from mu_{-i}(x) and R_i, using lower and upper (n each) as scratch.
template <float_or_double T>
interval<T> plus_interval_into(std::span<const T> held_out_predictions, std::span<const T> residuals,
                               double alpha, std::span<T> lower, std::span<T> upper) {
  const std::size_t n = residuals.size();
  for (std::size_t c = 0; c < n; ++c) {
    lower[c] = held_out_predictions[c] - residuals[c];
    upper[c] = held_out_predictions[c] + residuals[c];
  }
  return {order_statistic_in_place(lower, lower_rank(n, alpha)),
          order_statistic_in_place(upper, upper_rank(n, alpha))};
}

}  // namespace detail

/// The plus interval (jackknife+, CV+, J+aB) at one test point from values computed elsewhere,
/// e.g. saved model outputs: held_out_predictions[i] = mu_{-i}(x), the prediction at x of the
/// model that did not see calibration row i, and residuals[i] = R_i = |y_i - mu_{-i}(x_i)|.
/// alpha in (0, 1). O(n) (two selections), O(n) memory.
/// Throws invalid_argument on a size mismatch, an empty or non-finite input, or a bad alpha.
template <float_or_double T>
interval<T> plus_interval(std::span<const T> held_out_predictions, std::span<const T> residuals,
                          double alpha) {
  constexpr std::string_view where = "tessera::conformal::plus_interval";
  require_open_unit_interval(where, "alpha", alpha);
  require_nonempty(where, "residuals", residuals.size());
  require_same_size(where, "held_out_predictions", held_out_predictions.size(), "residuals",
                    residuals.size());
  require_all_finite(where, "held_out_predictions", held_out_predictions);
  require_all_finite(where, "residuals", residuals);
  std::vector<T> lower(residuals.size()), upper(residuals.size());
  return detail::plus_interval_into<T>(held_out_predictions, residuals, alpha, lower, upper);
}

/// Intervals from models fitted without each calibration row; built by fit_jackknife,
/// fit_cross_validation and fit_jackknife_after_bootstrap, which own the fitting.
template <float_or_double T, class X, class Model>
class cross_conformal_regressor {
 public:
  /// Takes the fitted models and residuals; use the fit_* functions below to make them.
  explicit cross_conformal_regressor(detail::held_out_fit<T, Model> fitted)
      : fitted_(std::move(fitted)) {}

  /// The interval at test point x. alpha in (0, 1).
  /// O(B model calls + n) for jackknife and CV, O(B model calls + n B / e) for J+aB.
  /// Throws invalid_argument on a bad alpha, domain_error when a model predicts a non-finite value.
  interval<T> predict(const X& x, double alpha, cross_method method = cross_method::plus) const {
    require_open_unit_interval("tessera::conformal::cross_conformal_regressor::predict", "alpha",
                               alpha);
    workspace scratch = make_workspace();
    return interval_at(x, alpha, method, minmax_margin(alpha, method), scratch);
  }

  /// One interval per test point, reusing one workspace. Cost and errors as predict(x, ...).
  std::vector<interval<T>> predict(std::span<const X> x, double alpha,
                                   cross_method method = cross_method::plus) const {
    require_open_unit_interval("tessera::conformal::cross_conformal_regressor::predict", "alpha",
                               alpha);
    workspace scratch = make_workspace();
    const T margin = minmax_margin(alpha, method);
    std::vector<interval<T>> intervals(x.size());
    for (std::size_t j = 0; j < x.size(); ++j)
      intervals[j] = interval_at(x[j], alpha, method, margin, scratch);
    return intervals;
  }

  /// The aggregate (mean for jackknife and CV, the chosen aggregation for J+aB) of all B models'
  /// predictions at x. O(B model calls). Throws domain_error on a non-finite model prediction.
  T predict_point(const X& x) const {
    std::vector<T> predictions(model_count());
    predict_with_every_model("tessera::conformal::cross_conformal_regressor::predict_point", x,
                             predictions);
    return detail::aggregate(std::span<T>(predictions), fitted_.combine);
  }

  /// R_i = |y_i - mu_{-i}(x_i)| of the calibration rows, in the order of calibration_rows().
  std::span<const T> residuals() const noexcept { return fitted_.residuals; }

  /// The training rows calibrated, ascending: all rows, except for J+aB rows no resample left out.
  std::span<const std::size_t> calibration_rows() const noexcept {
    return fitted_.calibration_rows;
  }

  /// n: the number of calibration rows.
  std::size_t calibration_size() const noexcept { return fitted_.residuals.size(); }

  /// B: the number of models fitted.
  std::size_t model_count() const noexcept { return fitted_.models.size(); }

 private:
  struct workspace {
    std::vector<T> model_prediction;  // mu_b(x), b < B
    std::vector<T> row_prediction;    // mu_{-i}(x), per calibration row
    std::vector<T> lower, upper;      // mu_{-i}(x) -+ R_i, reordered by selection
    std::vector<T> gathered;          // one row's held-out predictions, reordered by the median
  };

  workspace make_workspace() const {
    const std::size_t n = calibration_size();
    return {std::vector<T>(model_count()), std::vector<T>(n), std::vector<T>(n),
            std::vector<T>(n), {}};
  }

  T minmax_margin(double alpha, cross_method method) const {
    return method == cross_method::minmax ? conformal_quantile<T>(fitted_.residuals, alpha) : T{0};
  }

  void predict_with_every_model(std::string_view where, const X& x, std::vector<T>& out) const {
    for (std::size_t b = 0; b < model_count(); ++b)
      out[b] = detail::finite_prediction<T>(where, fitted_.models[b], b, x, "the test point");
  }

  // mu_{-i}(x) for every calibration row, from the B predictions at x.
  void predict_held_out(const X& x, workspace& scratch) const {
    predict_with_every_model("tessera::conformal::cross_conformal_regressor::predict", x,
                             scratch.model_prediction);
    for (std::size_t c = 0; c < calibration_size(); ++c) {
      scratch.gathered.clear();
      for (std::size_t k = fitted_.first_held_out[c]; k < fitted_.first_held_out[c + 1]; ++k)
        scratch.gathered.push_back(scratch.model_prediction[fitted_.held_out_models[k]]);
      scratch.row_prediction[c] =
          detail::aggregate(std::span<T>(scratch.gathered), fitted_.combine);
    }
  }

  interval<T> interval_at(const X& x, double alpha, cross_method method, T margin,
                          workspace& scratch) const {
    predict_held_out(x, scratch);
    const std::vector<T>& centre = scratch.row_prediction;
    if (method == cross_method::minmax) {
      const auto [smallest, largest] = std::minmax_element(centre.begin(), centre.end());
      return {*smallest - margin, *largest + margin};
    }
    return detail::plus_interval_into<T>(centre, fitted_.residuals, alpha, scratch.lower, scratch.upper);
  }

  detail::held_out_fit<T, Model> fitted_;
};

/// Jackknife (leave-one-out): n models, model i fitted on every row but i; predict with
/// cross_method::plus (jackknife+) or minmax (jackknife-minmax).
/// features: n rows of any type X, handed to the models; y: n >= 2 finite targets; fit: called
/// with the training rows (ascending), returns a model callable as T(const X&).
/// O(n fits + n model calls + n^2) time, O(n) memory beyond the models.
/// Throws invalid_argument on n < 2, a size mismatch or a non-finite y; domain_error when a model
/// predicts a non-finite value; whatever fit throws.
template <float_or_double T, class X, class Fit>
  requires regression_fitter<Fit, X, T>
cross_conformal_regressor<T, X, fitted_model_t<Fit>> fit_jackknife(std::span<const X> features,
                                                                   std::span<const T> y,
                                                                   Fit&& fit) {
  constexpr std::string_view where = "tessera::conformal::fit_jackknife";
  detail::require_training_set(where, features, y);
  const std::size_t n = y.size();
  auto leave_one_out = [n](std::size_t b, std::vector<std::size_t>& training,
                           std::vector<std::size_t>& held_out) {
    training.resize(n - 1);
    std::iota(training.begin(), training.begin() + b, std::size_t{0});
    std::iota(training.begin() + b, training.end(), b + 1);
    held_out.assign(1, b);
  };
  return cross_conformal_regressor<T, X, fitted_model_t<Fit>>(
      detail::fit_held_out_models(where, features, y, fit, n, leave_one_out, aggregation::mean));
}

/// K-fold cross-validation with contiguous folds in row order (scikit-learn's
/// KFold(shuffle=False)): fold k holds rows [k n/K, ...), the first n mod K folds one row longer.
/// Predict with cross_method::plus (CV+) or minmax (CV-minmax).
/// folds: K with 2 <= K <= n; otherwise as fit_jackknife.
/// O(K fits + n model calls + K n) time.
/// Throws invalid_argument on a bad K and the errors of fit_jackknife.
template <float_or_double T, class X, class Fit>
  requires regression_fitter<Fit, X, T>
cross_conformal_regressor<T, X, fitted_model_t<Fit>> fit_cross_validation(
    std::span<const X> features, std::span<const T> y, Fit&& fit, std::size_t folds) {
  constexpr std::string_view where = "tessera::conformal::fit_cross_validation";
  detail::require_training_set(where, features, y);
  require_in_range(where, "folds", folds, std::size_t{2}, y.size());
  std::vector<std::size_t> order(y.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  return cross_conformal_regressor<T, X, fitted_model_t<Fit>>(
      detail::fit_folds(where, features, y, fit, folds, std::move(order)));
}

/// K-fold cross-validation over rows shuffled first, then cut into contiguous folds. The shuffle
/// is Fisher-Yates: for i = n - 1 down to 1, position i swaps with floor(u (i + 1)), u =
/// uniform<double>(random_stream(shuffle_seed), n - 1 - i); the folds are a pure function of the
/// seed. Otherwise as fit_cross_validation(features, y, fit, folds).
template <float_or_double T, class X, class Fit>
  requires regression_fitter<Fit, X, T>
cross_conformal_regressor<T, X, fitted_model_t<Fit>> fit_cross_validation(
    std::span<const X> features, std::span<const T> y, Fit&& fit, std::size_t folds,
    std::uint64_t shuffle_seed) {
  constexpr std::string_view where = "tessera::conformal::fit_cross_validation";
  detail::require_training_set(where, features, y);
  require_in_range(where, "folds", folds, std::size_t{2}, y.size());
  const std::size_t n = y.size();
  std::vector<double> u(n - 1);
  fill_uniform<double>(exec::host, random_stream(shuffle_seed), std::span<double>(u));
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  for (std::size_t i = n - 1; i >= 1; --i) {
    // u < 1, so j <= i; the min guards the rounding of u (i + 1) up to i + 1.
    const auto j = std::min(static_cast<std::size_t>(u[n - 1 - i] * static_cast<double>(i + 1)), i);
    std::swap(order[i], order[j]);
  }
  return cross_conformal_regressor<T, X, fitted_model_t<Fit>>(
      detail::fit_folds(where, features, y, fit, folds, std::move(order)));
}

/// Jackknife+-after-bootstrap with B resamples of n rows drawn with replacement: row j of
/// resample b is floor(n u) with u = uniform<double>(random_stream(seed), b n + j).
/// combine: how the models leaving a row out are aggregated (mean or median). Predict with
/// cross_method::plus (J+aB) or minmax. Rows no resample leaves out are not calibrated (see top).
/// resamples: B >= 1; otherwise as fit_jackknife.
/// O(B fits + n B / e model calls) time, O(n B / e) memory beyond the models.
/// Throws invalid_argument on B < 1 and the errors of fit_jackknife; domain_error when every
/// resample contains every row.
template <float_or_double T, class X, class Fit>
  requires regression_fitter<Fit, X, T>
cross_conformal_regressor<T, X, fitted_model_t<Fit>> fit_jackknife_after_bootstrap(
    std::span<const X> features, std::span<const T> y, Fit&& fit, std::size_t resamples,
    std::uint64_t seed, aggregation combine = aggregation::mean) {
  constexpr std::string_view where = "tessera::conformal::fit_jackknife_after_bootstrap";
  detail::require_training_set(where, features, y);
  require(resamples >= 1, where, "resamples", resamples, ">= 1");
  const std::size_t n = y.size();
  const random_stream stream(seed);
  std::vector<double> u(n);
  auto bootstrap = [&, n](std::size_t b, std::vector<std::size_t>& training,
                          std::vector<std::size_t>& held_out) {
    fill_uniform<double>(exec::host, stream, std::span<double>(u), b * n);
    training.resize(n);
    for (std::size_t j = 0; j < n; ++j)
      training[j] = std::min(static_cast<std::size_t>(u[j] * static_cast<double>(n)), n - 1);
    detail::complement(training, n, held_out);
  };
  return cross_conformal_regressor<T, X, fitted_model_t<Fit>>(
      detail::fit_held_out_models(where, features, y, fit, resamples, bootstrap, combine));
}

/// Jackknife+-after-bootstrap with the caller's resamples (e.g. MAPIE's Subsample draws, or
/// subsamples without replacement): model b is fitted on resamples[b] (repeats allowed) and
/// leaves out the rows it does not contain. resamples: B >= 1 non-empty lists of rows < n.
/// Otherwise as the seeded overload.
template <float_or_double T, class X, class Fit>
  requires regression_fitter<Fit, X, T>
cross_conformal_regressor<T, X, fitted_model_t<Fit>> fit_jackknife_after_bootstrap(
    std::span<const X> features, std::span<const T> y, Fit&& fit,
    std::span<const std::vector<std::size_t>> resamples, aggregation combine = aggregation::mean) {
  constexpr std::string_view where = "tessera::conformal::fit_jackknife_after_bootstrap";
  detail::require_training_set(where, features, y);
  require_nonempty(where, "resamples", resamples.size());
  const std::size_t n = y.size();
  for (std::size_t b = 0; b < resamples.size(); ++b) {
    const std::string name = "resamples[" + tessera::detail::to_text(b) + "]";
    require_nonempty(where, name, resamples[b].size());
    for (std::size_t j = 0; j < resamples[b].size(); ++j)
      if (resamples[b][j] >= n)  // the name is formatted only on failure
        require(false, where, name + "[" + tessera::detail::to_text(j) + "]", resamples[b][j],
                "< y.size() = " + tessera::detail::to_text(n));
  }
  auto given = [&, n](std::size_t b, std::vector<std::size_t>& training,
                      std::vector<std::size_t>& held_out) {
    training.assign(resamples[b].begin(), resamples[b].end());
    detail::complement(training, n, held_out);
  };
  return cross_conformal_regressor<T, X, fitted_model_t<Fit>>(
      detail::fit_held_out_models(where, features, y, fit, resamples.size(), given, combine));
}

}  // namespace tessera::conformal
