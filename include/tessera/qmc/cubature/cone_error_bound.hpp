#pragma once
// The data-driven error bound of the guaranteed cubature rules for digital nets and lattices
// (F. J. Hickernell and Ll. A. Jimenez Rugama, "Reliable adaptive cubature using digital
// sequences", MCQMC 2014, Springer 2016; Ll. A. Jimenez Rugama and F. J. Hickernell, "Adaptive
// multidimensional integration based on rank-1 lattices", ibid.), as QMCPy's CubQMCNetG and
// CubQMCLatticeG compute it.
//
// From n = 2^m values f(x_i), the discrete Walsh (nets) or Fourier (lattices) coefficients
// ytilde_k = (1/n) (transform of y)_k are kept, and a map kappa orders the wavenumbers so that
// larger coefficients come first within each dyadic level (swapping kappa(k) and kappa(k + 2^l)
// whenever |ytilde| is larger at the second, level by level). For functions in the cone where
// coefficients decay reasonably, the error of the sample mean is at most
//   fudge(m) * sum_{k = 2^(m-r-1)}^{2^(m-r)-1} |ytilde_{kappa(k)}|,   r = 4, fudge(m) = 5 2^-m.
// Doubling n from 2^(m-1): with t = (1/2^(m-1)) transform of the new half, the coefficients become
// [(ytilde + omega t) / 2, (ytilde - omega t) / 2] (omega = 1 for Walsh, e^{-pi i k / 2^(m-1)} for
// Fourier) and kappa becomes [kappa, kappa + 2^(m-1)], re-sorted on levels m-1 down to m-r.

#include <cmath>
#include <complex>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <vector>

namespace tessera::qmc {

/// QMCPy's default fudge factor 5 * 2^-m.
inline double default_fudge(int m) { return 5.0 * std::ldexp(1.0, -m); }

namespace detail {

/// The lag r between the sample size and the coefficients in the bound (QMCPy's r_lag).
inline constexpr int cone_lag = 4;

/// Coefficients, their wavenumber map and the running sample sum of a guaranteed rule.
template <class Coefficient>
class cone_error_bound {
 public:
  /// Starts from the first 2^m values: coefficients = (1/n) transform(values).
  cone_error_bound(std::vector<Coefficient> coefficients, int m)
      : coefficients_(std::move(coefficients)), kappa_(coefficients_.size()), m_(m) {
    std::iota(kappa_.begin(), kappa_.end(), std::uint64_t{0});
    sort_levels(m - 1, 0);
  }

  /// Doubles the sample: `transformed` = (1/2^m) transform of the 2^m new values, already
  /// multiplied by omega.
  void extend(const std::vector<Coefficient>& transformed) {
    const std::size_t half = coefficients_.size();
    coefficients_.resize(2 * half);
    kappa_.resize(2 * half);
    for (std::size_t k = 0; k < half; ++k) {
      const Coefficient old = coefficients_[k];
      coefficients_[k] = (old + transformed[k]) / 2.0;
      coefficients_[half + k] = (old - transformed[k]) / 2.0;
      kappa_[half + k] = kappa_[k] + half;
    }
    ++m_;
    sort_levels(m_ - 1, m_ - cone_lag - 1);
  }

  /// fudge(m) times the sum of |coefficients| over kappa(2^(m-r-1)) .. kappa(2^(m-r) - 1).
  double bound(const std::function<double(int)>& fudge) const {
    const int level = m_ - cone_lag - 1;
    if (level < 0) return std::numeric_limits<double>::infinity();
    const std::size_t from = std::size_t{1} << level;
    double sum = 0;
    for (std::size_t k = from; k < 2 * from; ++k) sum += std::abs(coefficients_[kappa_[k]]);
    return fudge(m_) * sum;
  }

  int log2_size() const noexcept { return m_; }
  const std::vector<std::uint64_t>& kappa() const noexcept { return kappa_; }

 private:
  // For l = from down to to + 1: where |ytilde(kappa(k + 2^l))| > |ytilde(kappa(k))| for
  // k in [1, 2^l) (judged on the first block), swap the two in every block of 2^(l+1).
  void sort_levels(int from, int to) {
    const std::size_t n = kappa_.size();
    for (int l = from; l > to; --l) {
      const std::size_t nl = std::size_t{1} << l;
      std::vector<std::size_t> flips;
      for (std::size_t k = 1; k < nl; ++k)
        if (std::abs(coefficients_[kappa_[nl + k]]) > std::abs(coefficients_[kappa_[k]])) flips.push_back(k);
      for (std::size_t block = 0; block + 1 < n; block += 2 * nl)
        for (std::size_t k : flips) std::swap(kappa_[block + k], kappa_[block + nl + k]);
    }
  }

  std::vector<Coefficient> coefficients_;
  std::vector<std::uint64_t> kappa_;
  int m_;
};

}  // namespace detail
}  // namespace tessera::qmc
