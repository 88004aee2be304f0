#pragma once
// EnbPI: ensemble batch prediction intervals for time series (Xu & Xie, "Conformal prediction
// interval for dynamic time-series", ICML 2021; "Conformal prediction for dynamic time-series",
// the journal version, arXiv:2010.09107).
//
// B models f_1..f_B are fitted once, on bootstrap resamples S_1..S_B of the n training rows.
// Training point i is predicted by the models that never saw it, aggregated by phi (mean or
// median): f_{-i}(x) = phi{f_b(x) : i not in S_b}, with residual e_i = |y_i - f_{-i}(x_i)|. A new
// point is predicted by f(x) = phi{f_{-i}(x) : i left out at least once}, and its interval is
//
//     f(x) -+ q,  q = the conformal quantile at alpha of the last W residuals
//                   (their ceil((W + 1)(1 - alpha))-th smallest, +inf when that exceeds W).
//
// Nothing is refitted online: when labels arrive, e_t = |y_t - f(x_t)| enters the window and the
// oldest residuals leave it, which is how the intervals follow a shift. Xu & Xie prove approximate
// marginal coverage for strongly mixing errors (their Theorem 1); there is no finite-sample
// guarantee.
//
// Choices where the sources differ. Centre: the ICML paper takes the (1 - alpha) quantile of
// {f_{-i}(x)}; we aggregate them with phi as the journal version and MAPIE 1.6 do. Quantile: the
// paper takes the plain empirical (1 - alpha) quantile of the residuals; we take the conformal one,
// as MAPIE does. A training point that lies in every resample has no leave-one-out prediction: it
// contributes no residual and no f_{-i} (MAPIE's rule, where its prediction is NaN and skipped);
// it happens with probability about 0.632^B per point for the ordinary bootstrap.
//
// Cost: B fits and about 0.37 n B model evaluations to build; B evaluations per prediction
// (mean), or B evaluations plus O(n B) for the median; O(W) per interval for the quantile.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <ranges>
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
#include "tessera/core/random.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::conformal {

/// How the predictions of several models are combined into one (phi above).
enum class ensemble_aggregation {
  mean,
  median,  ///< numpy's: the mean of the two middle values for an even count
};

/// The tuning of fit_enbpi.
struct enbpi_options {
  std::size_t models = 30;        ///< B >= 1 bootstrap models (MAPIE's default)
  ensemble_aggregation aggregation = ensemble_aggregation::mean;
  std::size_t block_length = 1;   ///< L of the moving-block bootstrap; 1 is the ordinary one
  std::uint64_t seed = 0;         ///< resample b is drawn from random_stream(seed, b)
};

/// B resamples of the rows 0..n-1. Resample b joins ceil(n / L) blocks of L consecutive rows whose
/// first rows are uniform on [0, n - L], cut to n rows (the moving-block bootstrap, Künsch 1989;
/// L = 1 is the ordinary bootstrap); the start of block j of resample b is
/// uniform(random_stream(seed, b), j). O(n B).
/// Throws invalid_argument unless n >= 1, models >= 1 and 1 <= block_length <= n.
inline std::vector<std::vector<std::size_t>> bootstrap_resamples(std::size_t n, std::size_t models,
                                                                 std::uint64_t seed,
                                                                 std::size_t block_length = 1) {
  constexpr std::string_view where = "tessera::conformal::bootstrap_resamples";
  require(n >= 1, where, "n", n, ">= 1");
  require(models >= 1, where, "models", models, ">= 1");
  require_in_range<std::size_t>(where, "block_length", block_length, 1, n);
  const std::size_t starts = n - block_length + 1;
  std::vector<std::vector<std::size_t>> resamples(models, std::vector<std::size_t>(n));
  for (std::size_t b = 0; b < models; ++b) {
    const random_stream stream(seed, static_cast<std::uint32_t>(b));
    for (std::size_t j = 0; j < n; ++j) {
      const std::size_t block = j / block_length;
      const double u = uniform<double>(stream, block);
      // u * starts may round up to starts itself when u is within 2^-53 of 1.
      const auto start =
          std::min(static_cast<std::size_t>(u * static_cast<double>(starts)), starts - 1);
      resamples[b][j] = start + j % block_length;
    }
  }
  return resamples;
}

namespace detail {

/// The median of values (reordered), numpy's for an even count: the mean of the two middle
/// values. O(n) expected.
template <float_or_double T>
T ensemble_median(std::span<T> values) {
  const auto middle = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), middle, values.end());
  if (values.size() % 2 == 1) return *middle;
  return (*std::max_element(values.begin(), middle) + *middle) / 2;
}

/// phi of values (reordered). O(n) expected.
template <float_or_double T>
T ensemble_aggregate(std::span<T> values, ensemble_aggregation aggregation) {
  if (aggregation == ensemble_aggregation::median) return ensemble_median(values);
  T sum = 0;
  for (T v : values) sum += v;
  return sum / static_cast<T>(values.size());
}

}  // namespace detail

/// A fitted EnbPI ensemble and its window of residuals.
/// Model: what the user's fit returns; model(x) must give a value convertible to T.
template <float_or_double T, class X, class Model>
  requires std::invocable<const Model&, const X&> &&
           std::convertible_to<std::invoke_result_t<const Model&, const X&>, T>
class enbpi {
 public:
  /// features, labels: the n training points (labels finite); resamples: B >= 1 non-empty lists
  /// of rows < n, model b being fit(resamples[b]); window >= 1: the residuals kept (the paper
  /// keeps n); aggregation: phi. Keeps the last `window` leave-one-out residuals, in row order.
  /// O(B fits + n B evaluations). Throws invalid_argument on a bad argument, or when no point is
  /// left out of any resample; domain_error when a model predicts a non-finite value.
  template <class Fit>
    requires std::invocable<Fit&, std::span<const std::size_t>>
  enbpi(std::span<const X> features, std::span<const T> labels,
        std::span<const std::vector<std::size_t>> resamples, Fit&& fit, std::size_t window,
        ensemble_aggregation aggregation)
      : window_(window), aggregation_(aggregation) {
    constexpr std::string_view where = "tessera::conformal::enbpi";
    require_nonempty(where, "labels", labels.size());
    require_same_size(where, "features", features.size(), "labels", labels.size());
    require_all_finite(where, "labels", labels);
    require(window >= 1, where, "window", window, ">= 1");
    require_nonempty(where, "resamples", resamples.size());
    for (std::size_t b = 0; b < resamples.size(); ++b) {
      const std::string name = "resamples[" + tessera::detail::to_text(b) + "]";
      require_nonempty(where, name, resamples[b].size());
      const std::size_t largest = *std::max_element(resamples[b].begin(), resamples[b].end());
      require(largest < labels.size(), where, name + " row", largest,
              "< labels.size() = " + tessera::detail::to_text(labels.size()));
    }
    models_.reserve(resamples.size());
    for (const auto& rows : resamples) models_.push_back(fit(std::span<const std::size_t>(rows)));
    index_left_out_models(labels.size(), resamples);
    require(!left_out_.empty(), where, "points left out of some resample", 0,
            ">= 1 (every point is in every resample: draw more models)");
    compute_residuals(features, labels);
    compute_mean_coefficients();
  }

  /// The ensemble prediction f(x) = phi{f_{-i}(x)}. B model evaluations, plus O(n B) for the
  /// median. Throws domain_error when a model predicts a non-finite value.
  T predict(const X& x) const {
    const std::vector<T> per_model = predictions_at(x);
    if (aggregation_ == ensemble_aggregation::mean) {
      T sum = 0;
      for (std::size_t b = 0; b < per_model.size(); ++b)
        sum += mean_coefficients_[b] * per_model[b];
      return sum;
    }
    std::vector<T> leave_one_out(left_out_.size());
    std::vector<T> scratch;
    for (std::size_t i = 0; i < left_out_.size(); ++i) {
      scratch.clear();
      for (std::size_t b : models_without(i)) scratch.push_back(per_model[b]);
      leave_one_out[i] = detail::ensemble_median(std::span<T>(scratch));
    }
    return detail::ensemble_median(std::span<T>(leave_one_out));
  }

  /// The interval f(x) -+ q, q the conformal quantile at alpha of the residual window (+inf when
  /// the window is too small for alpha). Cost of predict plus O(W). Throws invalid_argument
  /// unless 0 < alpha < 1.
  interval<T> predict_interval(const X& x, double alpha) const {
    require_open_unit_interval("tessera::conformal::enbpi::predict_interval", "alpha", alpha);
    const T center = predict(x);
    const T q = conformal_quantile(std::span<const T>(residuals_), alpha);
    return {center - q, center + q};
  }

  /// Adds the residuals |y - f(x)| of s newly labelled points, in order, each replacing the
  /// oldest residual once the window is full (s > W keeps the last W). No model is refitted.
  /// s predictions. Throws invalid_argument on a size mismatch or a non-finite label.
  void update(std::span<const X> features, std::span<const T> labels) {
    constexpr std::string_view where = "tessera::conformal::enbpi::update";
    require_same_size(where, "features", features.size(), "labels", labels.size());
    require_all_finite(where, "labels", labels);
    std::vector<T> fresh(labels.size());
    for (std::size_t j = 0; j < labels.size(); ++j)
      fresh[j] = std::abs(labels[j] - predict(features[j]));
    for (T e : fresh) push_residual(e);
  }

  /// The residual window, oldest first.
  std::span<const T> residuals() const noexcept { return residuals_; }

  /// The B fitted models, in resample order.
  const std::vector<Model>& models() const noexcept { return models_; }

  /// The training rows left out of at least one resample (those with a residual), ascending.
  std::span<const std::size_t> left_out_rows() const noexcept { return left_out_; }

 private:
  // For every row, the models whose resample excludes it, stored as compressed rows.
  void index_left_out_models(std::size_t n, std::span<const std::vector<std::size_t>> resamples) {
    const std::size_t models = resamples.size();
    std::vector<char> in_resample(n * models, 0);
    for (std::size_t b = 0; b < models; ++b)
      for (std::size_t row : resamples[b]) in_resample[row * models + b] = 1;
    offsets_.push_back(0);
    for (std::size_t row = 0; row < n; ++row) {
      const std::size_t before = without_.size();
      for (std::size_t b = 0; b < models; ++b)
        if (!in_resample[row * models + b]) without_.push_back(b);
      if (without_.size() == before) continue;
      left_out_.push_back(row);
      offsets_.push_back(without_.size());
    }
  }

  std::span<const std::size_t> models_without(std::size_t i) const {
    const std::span<const std::size_t> all(without_);
    return all.subspan(offsets_[i], offsets_[i + 1] - offsets_[i]);
  }

  void compute_residuals(std::span<const X> features, std::span<const T> labels) {
    std::vector<T> all(left_out_.size());
    std::vector<T> scratch;
    for (std::size_t i = 0; i < left_out_.size(); ++i) {
      const std::size_t row = left_out_[i];
      scratch.clear();
      for (std::size_t b : models_without(i)) scratch.push_back(evaluate(b, features[row]));
      const T prediction = detail::ensemble_aggregate(std::span<T>(scratch), aggregation_);
      all[i] = std::abs(labels[row] - prediction);
    }
    const std::size_t kept = std::min(window_, all.size());
    residuals_.assign(all.end() - static_cast<std::ptrdiff_t>(kept), all.end());
  }

  // The mean of the leave-one-out means is a fixed linear combination of the B predictions:
  // c_b = (1 / m) sum over left-out rows i excluded from S_b of 1 / #{models without i}.
  void compute_mean_coefficients() {
    mean_coefficients_.assign(models_.size(), T(0));
    const T rows = static_cast<T>(left_out_.size());
    for (std::size_t i = 0; i < left_out_.size(); ++i) {
      const auto without = models_without(i);
      const T share = T(1) / (static_cast<T>(without.size()) * rows);
      for (std::size_t b : without) mean_coefficients_[b] += share;
    }
  }

  T evaluate(std::size_t b, const X& x) const {
    const T value = static_cast<T>(std::invoke(models_[b], x));
    if (!std::isfinite(value))
      throw domain_error("tessera::conformal::enbpi: models[" + tessera::detail::to_text(b) +
                         "](x) = " + tessera::detail::to_text(value) +
                         "; expected a finite number");
    return value;
  }

  std::vector<T> predictions_at(const X& x) const {
    std::vector<T> out(models_.size());
    for (std::size_t b = 0; b < models_.size(); ++b) out[b] = evaluate(b, x);
    return out;
  }

  void push_residual(T e) {
    if (residuals_.size() == window_) residuals_.erase(residuals_.begin());
    residuals_.push_back(e);
  }

  std::size_t window_;
  ensemble_aggregation aggregation_;
  std::vector<Model> models_;
  std::vector<std::size_t> left_out_;   // rows with at least one model that never saw them
  std::vector<std::size_t> offsets_;    // models_without(i) = without_[offsets_[i], offsets_[i+1])
  std::vector<std::size_t> without_;
  std::vector<T> residuals_;            // the window, oldest first
  std::vector<T> mean_coefficients_;
};

/// Fits EnbPI on bootstrap_resamples(n, options.models, options.seed, options.block_length).
/// features: a contiguous range of X (any type the models take); labels: a contiguous range of
/// float or double; fit(std::span<const std::size_t> rows) -> Model trains on those rows (the
/// caller's closure holds the data); window >= 1 residuals are kept. Returns enbpi<T, X, Model>.
/// Cost and errors: those of bootstrap_resamples and of the enbpi constructor.
template <std::ranges::contiguous_range Features, std::ranges::contiguous_range Labels, class Fit>
  requires float_or_double<std::ranges::range_value_t<Labels>> &&
           std::invocable<Fit&, std::span<const std::size_t>>
auto fit_enbpi(const Features& features, const Labels& labels, Fit&& fit, std::size_t window,
               const enbpi_options& options) {
  using T = std::ranges::range_value_t<Labels>;
  using X = std::ranges::range_value_t<Features>;
  using Model = std::remove_cvref_t<std::invoke_result_t<Fit&, std::span<const std::size_t>>>;
  const auto resamples = bootstrap_resamples(std::ranges::size(labels), options.models,
                                             options.seed, options.block_length);
  return enbpi<T, X, Model>(std::span<const X>(features), std::span<const T>(labels),
                            std::span<const std::vector<std::size_t>>(resamples), fit, window,
                            options.aggregation);
}

/// Fits EnbPI on the given resamples (to reuse another library's bootstrap, or a custom one);
/// otherwise as above. Returns enbpi<T, X, Model>.
template <std::ranges::contiguous_range Features, std::ranges::contiguous_range Labels, class Fit>
  requires float_or_double<std::ranges::range_value_t<Labels>> &&
           std::invocable<Fit&, std::span<const std::size_t>>
auto fit_enbpi(const Features& features, const Labels& labels, Fit&& fit, std::size_t window,
               std::span<const std::vector<std::size_t>> resamples,
               ensemble_aggregation aggregation = ensemble_aggregation::mean) {
  using T = std::ranges::range_value_t<Labels>;
  using X = std::ranges::range_value_t<Features>;
  using Model = std::remove_cvref_t<std::invoke_result_t<Fit&, std::span<const std::size_t>>>;
  return enbpi<T, X, Model>(std::span<const X>(features), std::span<const T>(labels), resamples,
                            fit, window, aggregation);
}

}  // namespace tessera::conformal
