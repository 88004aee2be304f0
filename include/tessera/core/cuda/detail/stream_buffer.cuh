#pragma once
// Scratch device memory ordered on a CUDA stream, for launchers that need temporaries between
// their kernels (the conformal, es and zo device backends).

#include <cuda_runtime_api.h>

#include <cstddef>
#include <span>
#include <string_view>

#include "tessera/core/cuda/check.cuh"

namespace tessera::detail {

/// `size` elements of T in device memory, allocated and freed in the order of `stream`
/// (cudaMallocAsync / cudaFreeAsync), so a buffer may go out of scope while kernels that use it
/// are still queued. Neither copyable nor movable: a local of one call.
template <class T>
class stream_buffer {
 public:
  /// Throws cuda_error "<where>: <CUDA's message>" when the allocation fails. O(1) host work.
  stream_buffer(std::size_t size, cudaStream_t stream, std::string_view where) : size_(size), stream_(stream) {
    if (size == 0) return;
    void* memory = nullptr;
    check_cuda(cudaMallocAsync(&memory, size * sizeof(T), stream), where);
    data_ = static_cast<T*>(memory);
  }

  ~stream_buffer() {
    if (data_ != nullptr) cudaFreeAsync(data_, stream_);
  }

  stream_buffer(const stream_buffer&) = delete;
  stream_buffer& operator=(const stream_buffer&) = delete;

  T* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::span<T> span() const noexcept { return {data_, size_}; }

 private:
  T* data_ = nullptr;
  std::size_t size_;
  cudaStream_t stream_;
};

}  // namespace tessera::detail
