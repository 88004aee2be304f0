#pragma once
// Turns CUDA runtime failures into exceptions at the host boundary.

#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace tessera {

/// A CUDA runtime call failed (no device, out of memory, a failed launch).
class cuda_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Throws cuda_error "<what>: <CUDA's message>" unless status is cudaSuccess.
inline void check_cuda(cudaError_t status, std::string_view what) {
  if (status == cudaSuccess) return;
  throw cuda_error(std::string(what) + ": " + cudaGetErrorString(status));
}

/// Checks the launch of the kernel just enqueued (configuration errors surface here).
inline void check_launch(std::string_view what) { check_cuda(cudaGetLastError(), what); }

}  // namespace tessera
