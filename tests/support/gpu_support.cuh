#pragma once
// Helpers the CUDA tests share.

#include <cublas_v2.h>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

#include <cstring>
#include <span>
#include <stdexcept>
#include <vector>

namespace tessera::test {

/// A cuBLAS handle for one test case. Throws std::runtime_error when none can be created.
struct blas_handle {
  blas_handle() {
    if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) throw std::runtime_error("cublasCreate failed");
  }
  ~blas_handle() { cublasDestroy(handle); }
  blas_handle(const blas_handle&) = delete;
  blas_handle& operator=(const blas_handle&) = delete;
  cublasHandle_t handle = nullptr;
};

/// A span over a device vector's memory.
template <class T>
std::span<T> device_span(thrust::device_vector<T>& v) {
  return {thrust::raw_pointer_cast(v.data()), v.size()};
}

/// Whether host and device hold the same bytes.
template <class T>
bool same_bits(const std::vector<T>& host, const thrust::device_vector<T>& device) {
  const thrust::host_vector<T> copy = device;
  return host.size() == copy.size() && std::memcmp(host.data(), copy.data(), host.size() * sizeof(T)) == 0;
}

}  // namespace tessera::test
