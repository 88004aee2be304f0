#pragma once
// Helpers the tests share: messages of expected exceptions, the statistics the distribution
// and convergence checks use, and OpenMP's thread count.

#include <algorithm>
#include <cmath>
#include <string>
#include <tessera/core/errors.hpp>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace tessera::test {

/// The message of the exception of type E (tessera::invalid_argument unless named) that call()
/// throws, or "(no exception)".
template <class E = tessera::invalid_argument, class F>
std::string message_of(F&& call) {
  try {
    call();
  } catch (const E& e) {
    return e.what();
  }
  return "(no exception)";
}

/// The message of the tessera::domain_error that call() throws, or "(no exception)".
template <class F>
std::string domain_message_of(F&& call) {
  return message_of<tessera::domain_error>(static_cast<F&&>(call));
}

/// The Kolmogorov-Smirnov statistic of a sample against a continuous CDF.
template <class T, class Cdf>
double ks_statistic(std::vector<T> sample, Cdf cdf) {
  std::sort(sample.begin(), sample.end());
  const double n = static_cast<double>(sample.size());
  double d = 0;
  for (std::size_t i = 0; i < sample.size(); ++i) {
    const double f = cdf(static_cast<double>(sample[i]));
    d = std::max({d, f - static_cast<double>(i) / n, static_cast<double>(i + 1) / n - f});
  }
  return d;
}

/// The Kolmogorov-Smirnov statistic of a sample against U[0, 1).
inline double ks_uniform(std::vector<double> sample) {
  return ks_statistic(std::move(sample), [](double x) { return x; });
}

/// The asymptotic Kolmogorov-Smirnov critical value at level 0.001: P(sqrt(n) D > 1.9495) = 0.001.
inline double ks_critical(std::size_t n) { return 1.9495 / std::sqrt(static_cast<double>(n)); }

/// The least-squares slope of log(y) against log(x): a convergence rate.
inline double log_log_slope(const std::vector<double>& x, const std::vector<double>& y) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  const double n = static_cast<double>(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double lx = std::log(x[i]), ly = std::log(y[i]);
    sx += lx;
    sy += ly;
    sxx += lx * lx;
    sxy += lx * ly;
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

/// The sample mean of per-trial values (coverages, losses) and its standard error
/// sqrt(s^2 / t), s^2 the unbiased sample variance (two-pass, so no cancellation).
struct mean_estimate {
  double mean;
  double standard_error;
};

inline mean_estimate mean_and_standard_error(const std::vector<double>& per_trial) {
  const double t = static_cast<double>(per_trial.size());
  double sum = 0;
  for (const double v : per_trial) sum += v;
  const double mean = sum / t;
  double squares = 0;
  for (const double v : per_trial) squares += (v - mean) * (v - mean);
  return {mean, std::sqrt(squares / (t - 1) / t)};
}

/// The thread counts a test of OpenMP-parallel code runs under: 1 only without OpenMP; with it, 1
/// and counts that split the work unevenly, more than this machine may have.
inline std::vector<int> thread_counts() {
#if defined(_OPENMP)
  return {1, 2, 3, 8};
#else
  return {1};
#endif
}

/// Runs body() with OpenMP's thread count set to `threads` (nothing to set without OpenMP), then
/// restores the count it found, also when body throws.
template <class F>
void with_threads(int threads, F&& body) {
#if defined(_OPENMP)
  struct restore {
    int count;
    ~restore() { omp_set_num_threads(count); }
  } const before{omp_get_max_threads()};
  omp_set_num_threads(threads);
#else
  (void)threads;
#endif
  body();
}

}  // namespace tessera::test
