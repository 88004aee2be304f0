#pragma once
// Internals of the es device backend: running part of a call on a second stream, beside the
// caller's, while the call as a whole stays ordered on the caller's stream.
//
// The forward's X W GEMM (memory-bound, few thread blocks) runs beside its project kernel (a
// compute-bound, device-filling grid); on one stream each would wait for the other. A stream_fork
// makes a side stream wait for everything enqueued on the caller's stream so far, and join()
// makes the caller's stream wait for everything enqueued on the side stream, so work before the
// call, the call's two branches and work after the call keep their order; the caller sees one
// stream.
//
// The side stream has the device's highest priority: when the caller's grid and the side's GEMM
// both have blocks waiting for an SM, the GEMM's few long-lived blocks are placed first instead of
// queueing behind a wave of the grid's.
//
// The side stream and the event that orders the two streams are created once per host thread and
// device and kept until the thread ends: creating and destroying an event per ordering, as an
// earlier version did, added driver calls to every call while the device waited for its first
// kernel. One event serves both orderings and every call: cudaStreamWaitEvent waits for the
// event's latest record at the time of the wait, so recording it again afterwards does not move a
// wait already enqueued. One stream shared by all threads would let one thread's graph capture
// take in another thread's work (a stream that waits on a capturing stream joins the capture). As
// with the conformal backend's fault words, a thread that resets a device (cudaDeviceReset) must
// not call the forward on it afterwards: its cached stream and event are gone (cuda_error).

#include <cuda_runtime_api.h>

#include <cstddef>
#include <string_view>
#include <vector>

#include "tessera/core/cuda/check.cuh"

namespace tessera::es::detail {

/// A side stream and the event that orders it against other streams.
struct side_lane {
  cudaStream_t stream = nullptr;
  cudaEvent_t event = nullptr;
};

/// Makes `later` wait for the work enqueued on `earlier` so far, through `event` (recorded on
/// earlier). O(1) host work; no allocation. Returns CUDA's status.
inline cudaError_t order_after(cudaStream_t later, cudaStream_t earlier, cudaEvent_t event) {
  const cudaError_t recorded = cudaEventRecord(event, earlier);
  return recorded == cudaSuccess ? cudaStreamWaitEvent(later, event, 0) : recorded;
}

/// The calling thread's side lanes, one per device, destroyed when the thread ends.
class side_lanes {
 public:
  side_lanes() = default;
  side_lanes(const side_lanes&) = delete;
  side_lanes& operator=(const side_lanes&) = delete;

  ~side_lanes() {
    for (const side_lane& lane : by_device_) {  // errors ignored: the runtime may be gone at exit
      if (lane.event != nullptr) cudaEventDestroy(lane.event);
      if (lane.stream != nullptr) cudaStreamDestroy(lane.stream);
    }
  }

  /// The lane of the current device: a non-blocking stream of the highest priority and an event
  /// without timing, created on first use. O(1) after the first call.
  /// Throws cuda_error "<where>: <CUDA's message>" when they cannot be created.
  side_lane of_current_device(std::string_view where) {
    int device = 0;
    check_cuda(cudaGetDevice(&device), where);
    const auto index = static_cast<std::size_t>(device);
    if (by_device_.size() <= index) by_device_.resize(index + 1);
    side_lane& lane = by_device_[index];
    if (lane.stream == nullptr) {
      int least = 0, greatest = 0;
      check_cuda(cudaDeviceGetStreamPriorityRange(&least, &greatest), where);
      check_cuda(cudaStreamCreateWithPriority(&lane.stream, cudaStreamNonBlocking, greatest), where);
    }
    if (lane.event == nullptr) check_cuda(cudaEventCreateWithFlags(&lane.event, cudaEventDisableTiming), where);
    return lane;
  }

 private:
  std::vector<side_lane> by_device_;
};

/// A side stream that starts after the work on the caller's stream so far and that the caller's
/// stream waits for at join() — or, when an exception leaves the scope first, at destruction, so
/// that scratch freed on the caller's stream afterwards is never freed under the side's kernels.
class stream_fork {
 public:
  /// Throws cuda_error when the side stream cannot be made or ordered. O(1) host work.
  stream_fork(cudaStream_t caller, std::string_view where) : caller_(caller), lane_(lane_of_thread(where)) {
    check_cuda(order_after(lane_.stream, caller_, lane_.event), where);
  }

  ~stream_fork() {
    if (!joined_) order_after(caller_, lane_.stream, lane_.event);  // an exception's path: errors ignored
  }

  stream_fork(const stream_fork&) = delete;
  stream_fork& operator=(const stream_fork&) = delete;

  /// The stream the forked work runs on.
  cudaStream_t side() const noexcept { return lane_.stream; }

  /// The caller's stream waits for the work enqueued on the side stream so far. Throws cuda_error.
  void join(std::string_view where) {
    check_cuda(order_after(caller_, lane_.stream, lane_.event), where);
    joined_ = true;
  }

 private:
  static side_lane lane_of_thread(std::string_view where) {
    thread_local side_lanes lanes;
    return lanes.of_current_device(where);
  }

  cudaStream_t caller_;
  side_lane lane_;
  bool joined_ = false;
};

}  // namespace tessera::es::detail
