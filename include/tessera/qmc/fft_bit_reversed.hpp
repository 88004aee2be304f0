#pragma once
// FFTBR and IFFTBR: the discrete Fourier transform of values stored in bit-reversed
// (radical-inverse) order, as QMCPy defines them (qmcpy.fast_transform.fftbr / ifftbr, QMCPy 2.4).
//
// For n = 2^m let rev_m(i) reverse the m low bits of i (so rev_m(i) / n = phi_2(i), the base-2
// radical inverse of i < n), and let P be the permutation (P x)_i = x_{rev_m(i)}; P = P^-1.
// With the orthonormal DFT (F x)_k = n^{-1/2} sum_j x_j e^{-2 pi i j k / n},
//
//     fftbr(x)  = F P x,        i.e. y_k = n^{-1/2} sum_j x_{rev_m(j)} e^{-2 pi i j k / n},
//     ifftbr(y) = P F^{-1} y,   i.e. x_i = n^{-1/2} sum_k y_k e^{+2 pi i rev_m(i) k / n},
//
// both unitary, ifftbr(fftbr(x)) = x. The input of fftbr and the output of ifftbr are indexed
// like the points x_i = frac(phi_2(i) z + Delta) of a rank-1 lattice in radical-inverse order;
// the Fourier side is in natural frequency order. With these the Gram matrix K of such a
// lattice under a shift-invariant kernel is K = ifftbr o diag(lambda) o fftbr with
// lambda = sqrt(n) fftbr(first column of K) (see fast_gram.hpp).
//
// Host FFTs are Eigen's <unsupported/Eigen/FFT> (its default kissfft backend).

#include <unsupported/Eigen/FFT>

#include <bit>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "tessera/core/concepts.hpp"
#include "tessera/core/config.hpp"
#include "tessera/core/exec.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/qmc/detail/bits.hpp"

namespace tessera::qmc {
namespace detail {

/// rev_m(i): the m low bits of i in reverse order (m in [0, 64]); host and device.
TESSERA_HOST_DEVICE inline std::uint64_t reverse_low_bits(std::uint64_t i, int m) {
  return m == 0 ? 0 : reverse_bits(i) >> (64 - m);
}

/// Requires equal power-of-two lengths and either the same storage or disjoint storage.
template <class T>
int require_transform_spans(const char* where, std::span<const T> in, std::span<T> out) {
  require_power_of_two(where, "input.size()", in.size());
  require(out.size() == in.size(), where, "output.size()", out.size(),
          "output.size() == input.size() = " + tessera::detail::to_text(in.size()));
  const bool same = static_cast<const void*>(in.data()) == static_cast<const void*>(out.data());
  const std::less<const T*> before;
  const bool disjoint = !before(in.data(), out.data() + out.size()) || !before(out.data(), in.data() + in.size());
  require(same || disjoint, where, "output", "a range that partially overlaps input",
          "the input's own storage (in place) or storage disjoint from it");
  return std::countr_zero(in.size());
}

}  // namespace detail

/// FFTBR: output = F P input (see the top of this header); QMCPy's fftbr of a 1-d array.
/// `input` and `output` have the same length n = 2^m; they may be the same storage (in place)
/// but not partially overlap. O(n log n) time, O(n) scratch.
/// Throws invalid_argument for a length that is not a power of two, a size mismatch or a
/// partial overlap.
template <float_or_double T>
void fftbr(exec::host_policy, std::span<const std::complex<T>> input, std::span<std::complex<T>> output) {
  const int m = detail::require_transform_spans("tessera::qmc::fftbr", input, output);
  const std::size_t n = input.size();
  if (n == 1) {  // the identity; kissfft does not take length 1
    output[0] = input[0];
    return;
  }
  const T scale = T(1) / std::sqrt(static_cast<T>(n));
  std::vector<std::complex<T>> permuted(n);
  for (std::size_t i = 0; i < n; ++i) permuted[i] = input[detail::reverse_low_bits(i, m)] * scale;
  Eigen::FFT<T> fft;
  fft.fwd(output.data(), permuted.data(), static_cast<Eigen::Index>(n));
}

/// IFFTBR: output = P F^{-1} input (see the top of this header); QMCPy's ifftbr of a 1-d array,
/// the inverse of fftbr. Same arguments, cost and errors as fftbr.
template <float_or_double T>
void ifftbr(exec::host_policy, std::span<const std::complex<T>> input, std::span<std::complex<T>> output) {
  const int m = detail::require_transform_spans("tessera::qmc::ifftbr", input, output);
  const std::size_t n = input.size();
  if (n == 1) {
    output[0] = input[0];
    return;
  }
  const T scale = T(1) / std::sqrt(static_cast<T>(n));
  std::vector<std::complex<T>> spectrum(n);
  Eigen::FFT<T> fft;
  fft.SetFlag(Eigen::FFT<T>::Unscaled);  // the 1/sqrt(n) is applied below, with the permutation
  fft.inv(spectrum.data(), input.data(), static_cast<Eigen::Index>(n));
  for (std::size_t i = 0; i < n; ++i) output[i] = spectrum[detail::reverse_low_bits(i, m)] * scale;
}

}  // namespace tessera::qmc
