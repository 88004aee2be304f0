#pragma once
// The CUDA backend of qmc/halton.hpp: Halton points (every randomization) written to device
// memory with the same bits as the host. Each thread makes one coordinate of one point from the
// integer digit arithmetic of detail/base_p_scramble.hpp, so no point depends on another.

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "tessera/core/cuda/check.cuh"
#include "tessera/qmc/halton.hpp"

namespace tessera::qmc {
namespace detail {

/// A device copy of a host table, allocated, filled and freed in the order of one stream, so it
/// lives exactly as long as the kernels enqueued before its destruction need it.
template <class E>
class halton_device_table {
 public:
  halton_device_table(const std::vector<E>& host, cudaStream_t stream) : stream_(stream) {
    if (host.empty()) return;
    const std::size_t bytes = host.size() * sizeof(E);
    check_cuda(cudaMallocAsync(reinterpret_cast<void**>(&data_), bytes, stream),
               "tessera::qmc::generate_into(halton_sequence): cudaMallocAsync");
    // A pageable source is staged before cudaMemcpyAsync returns, so `host` may go away after.
    const cudaError_t copied =
        cudaMemcpyAsync(data_, host.data(), bytes, cudaMemcpyHostToDevice, stream);
    if (copied != cudaSuccess) {
      cudaFreeAsync(data_, stream);
      data_ = nullptr;
      check_cuda(copied, "tessera::qmc::generate_into(halton_sequence): cudaMemcpyAsync");
    }
  }
  halton_device_table(const halton_device_table&) = delete;
  halton_device_table& operator=(const halton_device_table&) = delete;
  ~halton_device_table() {
    if (data_ != nullptr) cudaFreeAsync(data_, stream_);
  }

  /// The device pointer (null for an empty table).
  const E* get() const { return data_; }

 private:
  E* data_ = nullptr;
  cudaStream_t stream_;
};

/// out[t] for t = ((r n + i) d + j) < total: coordinate j of point range.begin + i of
/// replication r. A grid-stride loop, one coordinate per step.
template <class T>
__global__ void halton_kernel(base_p::scramble_view view, index_range range, std::uint64_t total,
                              T* out) {
  const std::uint64_t n = range.size();
  const std::uint64_t d = view.dimension;
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  for (std::uint64_t t = blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x; t < total;
       t += stride) {
    const std::uint64_t row = t / d;
    const auto j = static_cast<std::uint32_t>(t - row * d);
    const auto r = static_cast<std::uint32_t>(row / n);
    const std::uint64_t i = range.begin + (row - static_cast<std::uint64_t>(r) * n);
    out[t] = base_p::to_unit_interval<T>(base_p::numerator(view, r, i, j), view.bases[j].scale);
  }
}

}  // namespace detail

/// Device version of generate_into(exec::host, sequence, range, out): writes points
/// range.begin .. range.end - 1 of all R replications into the device array out as the row-major
/// R x n x d array out[(r n + i) d + j], with the same bits as the host. Validates on the host
/// first, then enqueues on policy.stream the upload of the sequence's tables (O(R sum_j D_j^2)
/// words, stream-ordered allocations freed after the kernel) and one kernel of R n d threads'
/// work; returns once enqueued.
/// Throws invalid_argument naming range.begin, range.end, range.size() or out.size() (as the host
/// version), and cuda_error when an allocation, a copy or the launch fails.
template <float_or_double T>
void generate_into(exec::cuda policy, const halton_sequence& sequence, index_range range,
              std::span<T> out) {
  constexpr std::string_view where = "tessera::qmc::generate_into(halton_sequence)";
  const auto replications = static_cast<std::uint32_t>(sequence.replications());
  const std::size_t size = detail::halton_output_size(where, sequence, range, replications);
  require(out.size() == size, where, "out.size()", out.size(),
          "replications * range.size() * dimension = " + tessera::detail::to_text(size));
  if (size == 0) return;
  const detail::base_p::scramble_tables& tables = sequence.tables();
  const detail::halton_device_table bases(tables.bases, policy.stream);
  const detail::halton_device_table powers(tables.powers, policy.stream);
  const detail::halton_device_table power_reciprocals(tables.power_reciprocals, policy.stream);
  const detail::halton_device_table maps(tables.maps, policy.stream);
  const detail::halton_device_table tails(tables.tails, policy.stream);
  const detail::halton_device_table matrices(tables.matrices, policy.stream);
  const detail::halton_device_table node_streams(tables.node_streams, policy.stream);
  detail::base_p::scramble_view view = tables.view();
  view.bases = bases.get();
  view.powers = powers.get();
  view.power_reciprocals = power_reciprocals.get();
  view.maps = maps.get();
  view.tails = tails.get();
  view.matrices = matrices.get();
  view.node_streams = node_streams.get();
  constexpr unsigned threads = 256;
  const std::uint64_t wanted = (size + threads - 1) / threads;
  const auto grid = static_cast<unsigned>(wanted < 65535u * 64u ? wanted : 65535u * 64u);
  detail::halton_kernel<<<grid, threads, 0, policy.stream>>>(view, range, size, out.data());
  check_launch(where);
}

}  // namespace tessera::qmc
