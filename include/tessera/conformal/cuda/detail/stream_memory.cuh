#pragma once
// Internals of the conformal CUDA backend: scratch memory ordered on the caller's stream, copies
// back to the host, and the slot in which kernels report the first invalid input they meet.
//
// The launchers validate what the host can see (sizes, parameters) before any launch. Values that
// live in device memory (probabilities, labels, scores) are checked by the kernels that read them
// anyway: each offending item reports a code, the smallest code wins (an integer atomicMin, so the
// winner does not depend on timing), and the launcher reads the slot back and throws with the
// host's message for that item. Codes are ordered as the host checks, so the error reported is the
// one the host backend reports for the same data.

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/core/cuda/check.cuh"

namespace tessera::conformal::detail {

/// `size` elements of T in device memory, allocated and freed in the order of `stream`
/// (cudaMallocAsync / cudaFreeAsync), so a buffer may go out of scope while kernels that use it
/// are still queued. Neither copyable nor movable: a local of one call.
template <class T>
class stream_buffer {
 public:
  /// Throws cuda_error "<where>: <CUDA's message>" when the allocation fails.
  stream_buffer(std::size_t size, cudaStream_t stream, std::string_view where)
      : size_(size), stream_(stream) {
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

/// Copies `values` host values to the device buffer (enqueued on its stream; pageable memory is
/// staged before the call returns, so `values` may be freed afterwards).
template <class T>
void copy_to_device(std::span<const T> values, const stream_buffer<T>& buffer, cudaStream_t stream,
                    std::string_view where) {
  if (values.empty()) return;
  check_cuda(cudaMemcpyAsync(buffer.data(), values.data(), values.size() * sizeof(T),
                             cudaMemcpyHostToDevice, stream),
             where);
}

/// Copies host.size() device values at `device` into `host`, after the work queued on `stream`
/// before this call. Synchronizes the stream.
template <class T>
void copy_to_host(const T* device, std::span<T> host, cudaStream_t stream, std::string_view where) {
  if (host.empty()) return;
  check_cuda(cudaMemcpyAsync(host.data(), device, host.size() * sizeof(T), cudaMemcpyDeviceToHost, stream),
             where);
  check_cuda(cudaStreamSynchronize(stream), where);
}

/// The `count` device values at `device`, after the work queued on `stream` before this call.
/// Synchronizes the stream.
template <class T>
std::vector<T> copy_to_host(const T* device, std::size_t count, cudaStream_t stream,
                            std::string_view where) {
  std::vector<T> values(count);
  copy_to_host(device, std::span<T>(values), stream, where);
  return values;
}

/// The code meaning "nothing reported".
inline constexpr unsigned long long no_violation = std::numeric_limits<unsigned long long>::max();

/// Records `code` in the slot unless a smaller code is there already.
__device__ inline void report_violation(unsigned long long* slot, unsigned long long code) {
  atomicMin(slot, code);
}

/// The device slot in which a launch reports its smallest violation code.
class violation_slot {
 public:
  /// Allocates the slot and sets it to no_violation, in the order of `stream`.
  violation_slot(cudaStream_t stream, std::string_view where) : slot_(1, stream, where), stream_(stream) {
    check_cuda(cudaMemsetAsync(slot_.data(), 0xff, sizeof(unsigned long long), stream), where);
  }

  /// The pointer the kernels report to.
  unsigned long long* data() const noexcept { return slot_.data(); }

  /// Waits for the work queued on the stream and returns the smallest code reported, if any.
  std::optional<unsigned long long> read(std::string_view where) const {
    const unsigned long long code = copy_to_host(slot_.data(), 1, stream_, where).front();
    if (code == no_violation) return std::nullopt;
    return code;
  }

 private:
  stream_buffer<unsigned long long> slot_;
  cudaStream_t stream_;
};

/// Blocks of `threads` threads enough for `warps` warps, at most 2^20 blocks (the kernels loop
/// over whatever a smaller grid leaves). At least one block.
inline unsigned blocks_for_warps(std::uint64_t warps, unsigned threads) {
  const std::uint64_t warps_per_block = threads / 32;
  const std::uint64_t wanted = (warps + warps_per_block - 1) / warps_per_block;
  constexpr std::uint64_t most = std::uint64_t{1} << 20;
  return static_cast<unsigned>(wanted == 0 ? 1 : (wanted < most ? wanted : most));
}

}  // namespace tessera::conformal::detail
