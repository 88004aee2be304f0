#pragma once
// Fast Gram matrices on a CUDA device: multiply and solve with device vectors, for the two
// structures of fast_gram.hpp.
//
//   lattice + SI kernel:       (K + s I)^{+-1} y = P G (lambda + s)^{+-1} F P y / n
//   digital net + DSI kernel:  (K + s I)^{+-1} y = H (lambda + s)^{+-1} H y / n
//
// with F, G cuFFT's unnormalized forward and inverse DFTs, P the bit-reversal permutation and H
// the FWHT of cuda/fwht.cuh. The eigenvalues come from the host matrix (whose construction
// checks the point structure); each object uploads the per-frequency factors once (the lattice
// one also owns a complex work space and a cuFFT plan) and enqueues every call on the given
// stream.
// Results agree with the host's multiply / solve to rounding (the transforms order their
// operations differently).

#include <thrust/device_vector.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tessera/core/concepts.hpp"
#include "tessera/core/cuda/check.cuh"
#include "tessera/core/errors.hpp"
#include "tessera/core/exec.hpp"
#include "tessera/qmc/cuda/fft_bit_reversed.cuh"
#include "tessera/qmc/cuda/fwht.cuh"
#include "tessera/qmc/fast_gram.hpp"

namespace tessera::qmc {
namespace detail {

/// The per-frequency factors of multiply, (lambda_k + s) / n, and of solve, 1 / ((lambda_k + s) n),
/// with the index of the first lambda_k + s <= 0 (or n when there is none) and its value.
template <class T>
struct gram_factors {
  std::vector<T> multiply;
  std::vector<T> solve;
  std::size_t first_singular = 0;
  T singular_value = 0;
};

template <class T>
gram_factors<T> make_gram_factors(std::span<const T> eigenvalues, T nugget) {
  const std::size_t n = eigenvalues.size();
  gram_factors<T> f;
  f.multiply.resize(n);
  f.solve.resize(n);
  f.first_singular = n;
  const T inverse_n = T(1) / static_cast<T>(n);
  for (std::size_t k = 0; k < n; ++k) {
    const T lambda = eigenvalues[k] + nugget;
    f.multiply[k] = lambda * inverse_n;
    f.solve[k] = inverse_n / lambda;
    if (!(lambda > T(0)) && f.first_singular == n) {
      f.first_singular = k;
      f.singular_value = lambda;
    }
  }
  return f;
}

template <class T>
void require_device_solvable(const char* where, std::size_t first_singular, std::size_t n, T value) {
  if (first_singular == n) return;
  throw domain_error(std::string(where) + ": eigenvalue " + std::to_string(first_singular) + " of K + nugget I is " +
                     tessera::detail::to_text(value) + "; expected > 0 (the system is singular or indefinite)");
}

/// work[i] = (y[rev_m(i)], 0).
template <class T>
__global__ void gram_load_kernel(const T* y, cufft_complex<T>* work, std::uint64_t n, int m) {
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride)
    work[i] = {y[reverse_low_bits(i, m)], T(0)};
}

/// work[k] *= factor[k] (complex by real).
template <class T>
__global__ void gram_scale_complex_kernel(cufft_complex<T>* work, const T* factor, std::uint64_t n) {
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t k = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; k < n; k += stride) {
    work[k].x *= factor[k];
    work[k].y *= factor[k];
  }
}

/// out[i] = Re work[rev_m(i)].
template <class T>
__global__ void gram_store_kernel(const cufft_complex<T>* work, T* out, std::uint64_t n, int m) {
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = work[reverse_low_bits(i, m)].x;
}

/// values[k] *= factor[k].
template <class T>
__global__ void gram_scale_real_kernel(T* values, const T* factor, std::uint64_t n) {
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t k = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; k < n; k += stride)
    values[k] *= factor[k];
}

}  // namespace detail

/// The lattice Gram matrix K + s I of fast_gram.hpp, applied to device vectors through cuFFT.
/// Move-only (it owns a cuFFT plan); one call at a time per object (it owns its work space).
template <float_or_double T>
class device_lattice_gram_matrix {
 public:
  /// Uploads the factors of `host` (n values twice) and makes a cuFFT plan of length n.
  /// O(n). Throws cuda_error when an allocation or cuFFT fails.
  explicit device_lattice_gram_matrix(const lattice_gram_matrix<T>& host) : n_(host.size()) {
    if (n_ > 1) plan_.emplace(n_, "tessera::qmc::device_lattice_gram_matrix");  // n = 1: F = I
    const auto f = detail::make_gram_factors<T>(host.eigenvalues(), host.nugget());
    multiply_factors_.assign(f.multiply.begin(), f.multiply.end());
    solve_factors_.assign(f.solve.begin(), f.solve.end());
    first_singular_ = f.first_singular;
    singular_value_ = f.singular_value;
    work_.resize(n_);
  }

  /// n.
  std::size_t size() const noexcept { return n_; }

  /// out = (K + s I) y for device vectors of length n (y and out may be the same storage).
  /// O(n log n), enqueued on policy.stream. Throws invalid_argument for a size mismatch,
  /// cuda_error when cuFFT or a launch fails.
  void multiply(exec::cuda policy, std::span<const T> y, std::span<T> out) {
    constexpr const char* where = "tessera::qmc::device_lattice_gram_matrix::multiply";
    detail::require_vector_sizes<T>(where, n_, y.size(), out.size());
    apply(policy, y, out, multiply_factors_, where);
  }

  /// out = (K + s I)^{-1} y for device vectors of length n (y and out may be the same storage).
  /// O(n log n), enqueued on policy.stream. Throws invalid_argument for a size mismatch,
  /// domain_error when some lambda_k + s <= 0, cuda_error when cuFFT or a launch fails.
  void solve(exec::cuda policy, std::span<const T> y, std::span<T> out) {
    constexpr const char* where = "tessera::qmc::device_lattice_gram_matrix::solve";
    detail::require_vector_sizes<T>(where, n_, y.size(), out.size());
    detail::require_device_solvable(where, first_singular_, n_, singular_value_);
    apply(policy, y, out, solve_factors_, where);
  }

 private:
  void apply(exec::cuda policy, std::span<const T> y, std::span<T> out, const thrust::device_vector<T>& factors,
             const char* where) {
    auto* work = thrust::raw_pointer_cast(work_.data());
    const T* factor = thrust::raw_pointer_cast(factors.data());
    const int m = std::countr_zero(n_);
    const unsigned grid = detail::elementwise_grid(n_);
    detail::gram_load_kernel<T><<<grid, 256, 0, policy.stream>>>(y.data(), work, n_, m);
    check_launch(where);
    if (plan_) plan_->execute(policy.stream, work, CUFFT_FORWARD, where);
    detail::gram_scale_complex_kernel<T><<<grid, 256, 0, policy.stream>>>(work, factor, n_);
    check_launch(where);
    if (plan_) plan_->execute(policy.stream, work, CUFFT_INVERSE, where);
    detail::gram_store_kernel<T><<<grid, 256, 0, policy.stream>>>(work, out.data(), n_, m);
    check_launch(where);
  }

  std::size_t n_;
  std::optional<detail::cufft_plan<T>> plan_;
  thrust::device_vector<T> multiply_factors_;
  thrust::device_vector<T> solve_factors_;
  thrust::device_vector<detail::cufft_complex<T>> work_;
  std::size_t first_singular_ = 0;
  T singular_value_ = 0;
};

/// The digital-net Gram matrix K + s I of fast_gram.hpp, applied to device vectors through the
/// device FWHT. It keeps no work space, so calls on different streams may overlap.
template <float_or_double T>
class device_digital_net_gram_matrix {
 public:
  /// Uploads the factors of `host` (n values twice). O(n). Throws cuda_error when an allocation
  /// fails.
  explicit device_digital_net_gram_matrix(const digital_net_gram_matrix<T>& host) : n_(host.size()) {
    const auto f = detail::make_gram_factors<T>(host.eigenvalues(), host.nugget());
    multiply_factors_.assign(f.multiply.begin(), f.multiply.end());
    solve_factors_.assign(f.solve.begin(), f.solve.end());
    first_singular_ = f.first_singular;
    singular_value_ = f.singular_value;
  }

  /// n.
  std::size_t size() const noexcept { return n_; }

  /// out = (K + s I) y for device vectors of length n (the same storage, or disjoint).
  /// O(n log n): two device FWHTs, enqueued on policy.stream. Throws invalid_argument for a size
  /// mismatch, cuda_error when a copy or launch fails.
  void multiply(exec::cuda policy, std::span<const T> y, std::span<T> out) const {
    constexpr const char* where = "tessera::qmc::device_digital_net_gram_matrix::multiply";
    detail::require_vector_sizes<T>(where, n_, y.size(), out.size());
    apply(policy, y, out, multiply_factors_, where);
  }

  /// out = (K + s I)^{-1} y for device vectors of length n (the same storage, or disjoint).
  /// O(n log n), enqueued on policy.stream. Throws invalid_argument for a size mismatch,
  /// domain_error when some lambda_k + s <= 0, cuda_error when a copy or launch fails.
  void solve(exec::cuda policy, std::span<const T> y, std::span<T> out) const {
    constexpr const char* where = "tessera::qmc::device_digital_net_gram_matrix::solve";
    detail::require_vector_sizes<T>(where, n_, y.size(), out.size());
    detail::require_device_solvable(where, first_singular_, n_, singular_value_);
    apply(policy, y, out, solve_factors_, where);
  }

 private:
  void apply(exec::cuda policy, std::span<const T> y, std::span<T> out, const thrust::device_vector<T>& factors,
             const char* where) const {
    if (y.data() != out.data())
      check_cuda(cudaMemcpyAsync(out.data(), y.data(), n_ * sizeof(T), cudaMemcpyDeviceToDevice, policy.stream), where);
    const int m = std::countr_zero(n_);
    detail::enqueue_fwht(policy.stream, out.data(), n_, m, where);
    detail::gram_scale_real_kernel<T><<<detail::elementwise_grid(n_), 256, 0, policy.stream>>>(
        out.data(), thrust::raw_pointer_cast(factors.data()), n_);
    check_launch(where);
    detail::enqueue_fwht(policy.stream, out.data(), n_, m, where);
  }

  std::size_t n_;
  thrust::device_vector<T> multiply_factors_;
  thrust::device_vector<T> solve_factors_;
  std::size_t first_singular_ = 0;
  T singular_value_ = 0;
};

}  // namespace tessera::qmc
