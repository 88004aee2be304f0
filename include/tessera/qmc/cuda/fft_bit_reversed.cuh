#pragma once
// FFTBR and IFFTBR on a CUDA device through cuFFT: the transforms of fft_bit_reversed.hpp,
//     fftbr(x)  = F P x,   ifftbr(y) = P F^{-1} y,
// F the orthonormal DFT and (P x)_i = x_{rev_m(i)}. cuFFT's transforms are unnormalized, so the
// bit-reversal kernel also applies the 1/sqrt(n).
//
// Results agree with the host's (Eigen's kissfft) to rounding, not bit for bit: the two FFTs
// order their operations differently.

#include <cuda_runtime_api.h>
#include <cufft.h>

#include <bit>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "tessera/core/concepts.hpp"
#include "tessera/core/cuda/check.cuh"
#include "tessera/core/exec.hpp"
#include "tessera/qmc/fft_bit_reversed.hpp"

namespace tessera::qmc {
namespace detail {

/// Throws cuda_error "<what>: cuFFT error <code>" unless status is CUFFT_SUCCESS.
inline void check_cufft(cufftResult status, const char* what) {
  if (status == CUFFT_SUCCESS) return;
  throw cuda_error(std::string(what) + ": cuFFT error " + std::to_string(static_cast<int>(status)));
}

/// cuFFT's complex type for T (layout-compatible with std::complex<T>).
template <class T>
using cufft_complex = std::conditional_t<std::is_same_v<T, float>, cufftComplex, cufftDoubleComplex>;

/// A one-dimensional in-place complex-to-complex cuFFT plan of length n, owned (RAII, move-only).
template <float_or_double T>
class cufft_plan {
 public:
  cufft_plan(std::size_t n, const char* what) {
    check_cufft(cufftCreate(&handle_), what);
    long long length = static_cast<long long>(n);
    std::size_t work_bytes = 0;
    const cufftResult made = cufftMakePlanMany64(handle_, 1, &length, nullptr, 1, length, nullptr, 1, length,
                                                 std::is_same_v<T, float> ? CUFFT_C2C : CUFFT_Z2Z, 1, &work_bytes);
    if (made != CUFFT_SUCCESS) {
      cufftDestroy(handle_);
      check_cufft(made, what);
    }
  }
  cufft_plan(const cufft_plan&) = delete;
  cufft_plan& operator=(const cufft_plan&) = delete;
  cufft_plan(cufft_plan&& other) noexcept : handle_(std::exchange(other.handle_, 0)) {}
  cufft_plan& operator=(cufft_plan&& other) noexcept {
    std::swap(handle_, other.handle_);
    return *this;
  }
  ~cufft_plan() {
    if (handle_ != 0) cufftDestroy(handle_);
  }

  /// data <- unnormalized DFT of data (direction CUFFT_FORWARD: e^{-2 pi i jk/n}; CUFFT_INVERSE:
  /// e^{+2 pi i jk/n}), enqueued on `stream`.
  void execute(cudaStream_t stream, cufft_complex<T>* d, int direction, const char* what) const {
    check_cufft(cufftSetStream(handle_, stream), what);
    if constexpr (std::is_same_v<T, float>) check_cufft(cufftExecC2C(handle_, d, d, direction), what);
    else check_cufft(cufftExecZ2Z(handle_, d, d, direction), what);
  }

 private:
  cufftHandle handle_ = 0;
};

/// out[i] = scale * in[rev_m(i)] for distinct in and out (one thread per value).
template <class T>
__global__ void bit_reverse_copy_kernel(const cufft_complex<T>* in, cufft_complex<T>* out, std::uint64_t n, int m,
                                        T scale) {
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    const cufft_complex<T> v = in[reverse_low_bits(i, m)];
    out[i] = {scale * v.x, scale * v.y};
  }
}

/// data <- scale * P data in place: thread i swaps the pair (i, rev_m(i)) when i < rev_m(i).
template <class T>
__global__ void bit_reverse_in_place_kernel(cufft_complex<T>* data, std::uint64_t n, int m, T scale) {
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    const std::uint64_t j = reverse_low_bits(i, m);
    if (j < i) continue;
    const cufft_complex<T> a = data[i];
    const cufft_complex<T> b = data[j];
    data[i] = {scale * b.x, scale * b.y};
    data[j] = {scale * a.x, scale * a.y};
  }
}

/// A grid of 256-thread blocks covering n threads, capped (the kernels loop).
inline unsigned elementwise_grid(std::uint64_t n) {
  const std::uint64_t blocks = (n + 255) / 256;
  return static_cast<unsigned>(blocks < 65535u * 64u ? blocks : 65535u * 64u);
}

/// output <- scale * P input (input == output allowed), enqueued on `stream`.
template <class T>
void enqueue_bit_reverse(cudaStream_t stream, const std::complex<T>* input, std::complex<T>* output, std::uint64_t n,
                         T scale, const char* what) {
  const int m = std::countr_zero(n);
  auto* out = reinterpret_cast<cufft_complex<T>*>(output);
  if (static_cast<const void*>(input) == static_cast<const void*>(output)) {
    bit_reverse_in_place_kernel<T><<<elementwise_grid(n), 256, 0, stream>>>(out, n, m, scale);
  } else {
    bit_reverse_copy_kernel<T><<<elementwise_grid(n), 256, 0, stream>>>(
        reinterpret_cast<const cufft_complex<T>*>(input), out, n, m, scale);
  }
  check_launch(what);
}

/// Length 1: both transforms are the identity (no plan).
template <class T>
void copy_single(cudaStream_t stream, const std::complex<T>* input, std::complex<T>* output, const char* what) {
  if (input != output)
    check_cuda(cudaMemcpyAsync(output, input, sizeof(std::complex<T>), cudaMemcpyDeviceToDevice, stream), what);
  check_cuda(cudaStreamSynchronize(stream), what);
}

}  // namespace detail

/// FFTBR of device memory: output = F P input, as fftbr of fft_bit_reversed.hpp. `input` and
/// `output` (device memory, length n = 2^m) may be the same storage but not partially overlap.
/// O(n log n). Makes a cuFFT plan for the call and returns after the transform has completed on
/// policy.stream (the plan is destroyed then); for repeated transforms of one length keep a
/// plan, as the fast Gram matrices of cuda/fast_gram.cuh do.
/// Throws invalid_argument for a length that is not a power of two, a size mismatch or a partial
/// overlap; cuda_error when cuFFT or a launch fails.
template <float_or_double T>
void fftbr(exec::cuda policy, std::span<const std::complex<T>> input, std::span<std::complex<T>> output) {
  constexpr const char* where = "tessera::qmc::fftbr";
  detail::require_transform_spans(where, input, output);
  const std::size_t n = input.size();
  if (n == 1) return detail::copy_single(policy.stream, input.data(), output.data(), where);
  const detail::cufft_plan<T> plan(n, where);
  detail::enqueue_bit_reverse(policy.stream, input.data(), output.data(), n, T(1) / std::sqrt(static_cast<T>(n)), where);
  plan.execute(policy.stream, reinterpret_cast<detail::cufft_complex<T>*>(output.data()), CUFFT_FORWARD, where);
  check_cuda(cudaStreamSynchronize(policy.stream), where);
}

/// IFFTBR of device memory: output = P F^{-1} input, the inverse of fftbr. Same arguments, cost,
/// completion and errors as fftbr.
template <float_or_double T>
void ifftbr(exec::cuda policy, std::span<const std::complex<T>> input, std::span<std::complex<T>> output) {
  constexpr const char* where = "tessera::qmc::ifftbr";
  detail::require_transform_spans(where, input, output);
  const std::size_t n = input.size();
  if (n == 1) return detail::copy_single(policy.stream, input.data(), output.data(), where);
  const detail::cufft_plan<T> plan(n, where);
  if (input.data() != output.data())
    check_cuda(cudaMemcpyAsync(output.data(), input.data(), n * sizeof(std::complex<T>), cudaMemcpyDeviceToDevice,
                               policy.stream),
               where);
  plan.execute(policy.stream, reinterpret_cast<detail::cufft_complex<T>*>(output.data()), CUFFT_INVERSE, where);
  detail::enqueue_bit_reverse<T>(policy.stream, output.data(), output.data(), n, T(1) / std::sqrt(static_cast<T>(n)),
                                 where);
  check_cuda(cudaStreamSynchronize(policy.stream), where);
}

}  // namespace tessera::qmc
