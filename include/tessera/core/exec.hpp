#pragma once
// Execution policies: the first argument of every algorithm that can run on more than one
// backend, as in the standard parallel algorithms and thrust.
//
//   tessera::fill_normal(tessera::exec::host, stream, out);          // host threads
//   tessera::fill_normal(tessera::exec::cuda{my_stream}, stream, d);  // a CUDA stream (nvcc only)
//
// Both policies give the same answer to each algorithm's stated tolerance, and identical random
// draws bit for bit.

#include <concepts>
#include <type_traits>

#if defined(__CUDACC__)
#include <cuda_runtime_api.h>
#endif

namespace tessera::exec {

/// Runs on the calling host thread, or on OpenMP threads where tessera is built with OpenMP
/// (the thread count is OpenMP's: OMP_NUM_THREADS or omp_set_num_threads).
struct host_policy {};

/// The host policy object: `tessera::exec::host`.
inline constexpr host_policy host{};

#if defined(__CUDACC__)
/// Runs on the current CUDA device, ordered on `stream` (the legacy default stream when null).
/// Inputs and outputs of such calls live in device memory. Calls return once the work is
/// enqueued unless the algorithm documents that it returns a host value.
struct cuda {
  cudaStream_t stream = nullptr;
};
#endif

/// Policies that run on the host.
template <class P>
concept host_execution = std::same_as<std::remove_cvref_t<P>, host_policy>;

#if defined(__CUDACC__)
/// Policies that run on a CUDA device.
template <class P>
concept cuda_execution = std::same_as<std::remove_cvref_t<P>, cuda>;
#else
template <class P>
concept cuda_execution = false;
#endif

/// Any tessera execution policy.
template <class P>
concept execution_policy = host_execution<P> || cuda_execution<P>;

}  // namespace tessera::exec
