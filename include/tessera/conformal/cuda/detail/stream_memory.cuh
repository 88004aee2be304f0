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
//
// The slots are reused across calls, so that a call pays for one 8-byte copy into pinned memory
// and one stream synchronization, not for an allocation, a memset and a pageable copy: each device
// keeps a pool of slots (a device word and a pinned host word), and a call holds one slot from its
// start to its end. Concurrent calls, on other streams or threads, hold other slots. A slot goes
// back to the pool only after its stream was synchronized with the word at "nothing reported"
// (read so, or reset after a report), so the next holder, on any stream, finds it clean.

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/core/cuda/check.cuh"
#include "tessera/core/cuda/detail/stream_buffer.cuh"

namespace tessera::conformal::detail {

/// Scratch device memory ordered on a stream: core's (core/cuda/detail/stream_buffer.cuh).
using tessera::detail::stream_buffer;

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

/// A device word in which kernels report, and the pinned host word it is read back into.
struct fault_word {
  unsigned long long* device;
  unsigned long long* host;
};

/// The words of each device that no call holds, all at no_violation. Process-wide, guarded by a
/// mutex; never destroyed (tearing down device memory after the CUDA runtime at exit would fail),
/// so a process that resets a device (cudaDeviceReset) must not call the device functions after.
class fault_word_pool {
 public:
  /// A word at no_violation in the order of `stream`, on the current device: a free one, or a new
  /// one (allocated, set by a memset on the stream). Throws cuda_error when CUDA fails.
  static fault_word acquire(int device, cudaStream_t stream, std::string_view where) {
    {
      const std::lock_guard<std::mutex> lock(mutex());
      auto& free = free_words(device);
      if (!free.empty()) {
        const fault_word word = free.back();
        free.pop_back();
        return word;
      }
    }
    fault_word word{nullptr, nullptr};
    check_cuda(cudaMalloc(reinterpret_cast<void**>(&word.device), sizeof(unsigned long long)), where);
    if (const cudaError_t status = cudaMallocHost(reinterpret_cast<void**>(&word.host), sizeof(unsigned long long));
        status != cudaSuccess) {
      cudaFree(word.device);
      check_cuda(status, where);
    }
    if (const cudaError_t status = cudaMemsetAsync(word.device, 0xff, sizeof(unsigned long long), stream);
        status != cudaSuccess) {
      discard(word);
      check_cuda(status, where);
    }
    return word;
  }

  /// Hands back a word at no_violation whose stream has been synchronized since it was last
  /// written.
  static void release(int device, fault_word word) {
    const std::lock_guard<std::mutex> lock(mutex());
    free_words(device).push_back(word);
  }

  /// Frees a word whose state is unknown (errors ignored: called on failure paths).
  static void discard(fault_word word) noexcept {
    cudaFree(word.device);
    cudaFreeHost(word.host);
  }

 private:
  static std::mutex& mutex() {
    static auto* const instance = new std::mutex;
    return *instance;
  }

  /// The free words of `device`; call with the mutex held.
  static std::vector<fault_word>& free_words(int device) {
    static auto* const pools = new std::vector<std::vector<fault_word>>;
    if (pools->size() <= static_cast<std::size_t>(device)) pools->resize(static_cast<std::size_t>(device) + 1);
    return (*pools)[static_cast<std::size_t>(device)];
  }
};

/// The device slot in which a launch reports its smallest violation code: a word of the pool,
/// held for the lifetime of this object (one call). Neither copyable nor movable.
class violation_slot {
 public:
  /// Takes a word at no_violation (in the order of `stream`) from the current device's pool.
  /// Throws cuda_error when CUDA fails.
  violation_slot(cudaStream_t stream, std::string_view where)
      : device_(current_device(where)), word_(fault_word_pool::acquire(device_, stream, where)), stream_(stream) {}

  /// Returns the word to the pool once it is known clean: reset and synchronized first when a
  /// code was reported or the word was never read; dropped when that fails.
  ~violation_slot() {
    if (!seen_clean_ && (cudaMemsetAsync(word_.device, 0xff, sizeof(unsigned long long), stream_) != cudaSuccess ||
                         cudaStreamSynchronize(stream_) != cudaSuccess)) {
      fault_word_pool::discard(word_);
      return;
    }
    fault_word_pool::release(device_, word_);
  }

  violation_slot(const violation_slot&) = delete;
  violation_slot& operator=(const violation_slot&) = delete;

  /// The pointer the kernels report to.
  unsigned long long* data() const noexcept { return word_.device; }

  /// Waits for the work queued on the stream and returns the smallest code reported, if any: one
  /// 8-byte copy into pinned memory and a synchronization. Throws cuda_error when CUDA fails.
  std::optional<unsigned long long> read(std::string_view where) const {
    check_cuda(cudaMemcpyAsync(word_.host, word_.device, sizeof(unsigned long long), cudaMemcpyDeviceToHost, stream_),
               where);
    check_cuda(cudaStreamSynchronize(stream_), where);
    const unsigned long long code = *word_.host;
    seen_clean_ = code == no_violation;
    if (seen_clean_) return std::nullopt;
    return code;
  }

 private:
  static int current_device(std::string_view where) {
    int device = 0;
    check_cuda(cudaGetDevice(&device), where);
    return device;
  }

  int device_;
  fault_word word_;
  cudaStream_t stream_;
  /// Whether the last read found no_violation, after which nothing writes the word: the
  /// kernels of the call ran before the read. State of the pool's bookkeeping, not of the slot's
  /// value, hence mutable in the const read.
  mutable bool seen_clean_ = false;
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
