#pragma once
// Internals of the es device backend: running part of a call on a second stream, beside the
// caller's, while the call as a whole stays ordered on the caller's stream.
//
// The forward's project kernel (compute-bound) and its X W GEMM (memory-bound) are independent;
// on one stream the GEMM would wait for the kernel. A stream_fork makes a side stream wait for
// everything enqueued on the caller's stream so far, and join() makes the caller's stream wait
// for everything enqueued on the side stream, so work before the call, the call's two branches
// and work after the call keep their order; the caller sees one stream.
//
// The side stream: one non-blocking stream per host thread and device, created on first use and
// kept until the thread ends. A stream created and destroyed per call would add that host work
// (driver calls, microseconds) to every call, which at tens of microseconds of device time per call
// is not free; one stream shared by all threads would let one thread's graph capture take in
// another thread's work (a stream that waits on a capturing stream joins the capture). As with the
// conformal backend's fault words, a thread that resets a device (cudaDeviceReset) must not call
// the forward on it afterwards: its cached side stream is gone (cuda_error).

#include <cuda_runtime_api.h>

#include <cstddef>
#include <string_view>
#include <vector>

#include "tessera/core/cuda/check.cuh"

namespace tessera::es::detail {

/// The calling thread's side streams, one per device, destroyed when the thread ends.
class side_streams {
 public:
  side_streams() = default;
  side_streams(const side_streams&) = delete;
  side_streams& operator=(const side_streams&) = delete;

  ~side_streams() {
    for (cudaStream_t stream : by_device_)
      if (stream != nullptr) cudaStreamDestroy(stream);  // errors ignored: the runtime may be gone at exit
  }

  /// The side stream of the current device, created (non-blocking) on first use. O(1) after the
  /// first call. Throws cuda_error "<where>: <CUDA's message>" when it cannot be created.
  cudaStream_t of_current_device(std::string_view where) {
    int device = 0;
    check_cuda(cudaGetDevice(&device), where);
    const auto index = static_cast<std::size_t>(device);
    if (by_device_.size() <= index) by_device_.resize(index + 1, nullptr);
    if (by_device_[index] == nullptr) {
      cudaStream_t created = nullptr;
      check_cuda(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking), where);
      by_device_[index] = created;
    }
    return by_device_[index];
  }

 private:
  std::vector<cudaStream_t> by_device_;
};

/// Makes `later` wait for the work enqueued on `earlier` so far (an event recorded on earlier;
/// the event is released once reached). O(1) host work. Throws cuda_error.
inline void order_after(cudaStream_t later, cudaStream_t earlier, std::string_view where) {
  cudaEvent_t event = nullptr;
  check_cuda(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), where);
  const cudaError_t recorded = cudaEventRecord(event, earlier);
  const cudaError_t waited = recorded == cudaSuccess ? cudaStreamWaitEvent(later, event, 0) : recorded;
  cudaEventDestroy(event);  // legal while the wait is pending: released when the event completes
  check_cuda(waited, where);
}

/// A side stream that starts after the work on the caller's stream so far and that the caller's
/// stream waits for at join() — or, when an exception leaves the scope first, at destruction, so
/// that scratch freed on the caller's stream afterwards is never freed under the side's kernels.
class stream_fork {
 public:
  /// Throws cuda_error when the side stream cannot be made or ordered. O(1) host work.
  stream_fork(cudaStream_t caller, std::string_view where) : caller_(caller), side_(side_stream(where)) {
    order_after(side_, caller_, where);
  }

  ~stream_fork() {
    if (joined_) return;
    cudaEvent_t event = nullptr;  // the join of an exception's path: errors can only be ignored here
    if (cudaEventCreateWithFlags(&event, cudaEventDisableTiming) != cudaSuccess) return;
    if (cudaEventRecord(event, side_) == cudaSuccess) cudaStreamWaitEvent(caller_, event, 0);
    cudaEventDestroy(event);
  }

  stream_fork(const stream_fork&) = delete;
  stream_fork& operator=(const stream_fork&) = delete;

  /// The stream the forked work runs on.
  cudaStream_t side() const noexcept { return side_; }

  /// The caller's stream waits for the work enqueued on the side stream so far. Throws cuda_error.
  void join(std::string_view where) {
    order_after(caller_, side_, where);
    joined_ = true;
  }

 private:
  static cudaStream_t side_stream(std::string_view where) {
    thread_local side_streams streams;
    return streams.of_current_device(where);
  }

  cudaStream_t caller_;
  cudaStream_t side_;
  bool joined_ = false;
};

}  // namespace tessera::es::detail
