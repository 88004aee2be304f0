#pragma once
// Internals of the CUDA backends: a property of the calling thread's current device (its
// multiprocessors, its compute capability), for sizing grids and choosing launch modes.

#include <cuda_runtime_api.h>

#include <string_view>

#include "tessera/core/cuda/check.cuh"

namespace tessera::detail {

/// `attribute` of the current device (cudaGetDevice). O(1): two runtime calls, no allocation.
/// Throws cuda_error "<where>: <CUDA's message>" when either fails.
inline int current_device_attribute(cudaDeviceAttr attribute, std::string_view where) {
  int device = 0, value = 0;
  check_cuda(cudaGetDevice(&device), where);
  check_cuda(cudaDeviceGetAttribute(&value, attribute, device), where);
  return value;
}

}  // namespace tessera::detail
