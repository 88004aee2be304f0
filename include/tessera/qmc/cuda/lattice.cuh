#pragma once
// The device backend of qmc/lattice.hpp: the same points, bit for bit, one thread per value.

#include <thrust/device_vector.h>

#include <cstdint>
#include <span>
#include <vector>

#include "tessera/core/cuda/check.cuh"
#include "tessera/qmc/lattice.hpp"

namespace tessera::qmc {
namespace detail {

template <class T>
__global__ void lattice_kernel(const std::uint32_t* z, const std::uint64_t* shift, int dimension,
                               bool natural, std::uint64_t size, std::uint64_t begin, std::uint64_t points,
                               std::uint64_t values, T* out) {
  const auto d = static_cast<std::uint64_t>(dimension);
  for (std::uint64_t v = blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x; v < values;
       v += std::uint64_t{gridDim.x} * blockDim.x) {
    const std::uint64_t j = v % d;
    const std::uint64_t replication = v / (points * d);
    const std::uint64_t i = begin + (v / d) % points;
    out[v] = fraction_to_unit<T>(lattice_fraction(i, z[j], natural, size) + shift[replication * d + j]);
  }
}

}  // namespace detail

/// Writes points [range.begin, range.end) of replications [first_replication, first_replication +
/// replications) into device memory `out` as an R x n x d row-major array, with the same bits as
/// the host's generate_into(). The shifts are drawn on the host and uploaded (R d words).
/// Enqueued on policy.stream. Throws invalid_argument as the host version or for
/// out.size() != R n d; cuda_error if the launch fails. O(R n d) work.
template <float_or_double T>
void generate_into(exec::cuda policy, const rank1_lattice& lattice, index_range range,
                   std::uint64_t first_replication, std::uint64_t replications, std::span<T> out) {
  constexpr const char* where = "tessera::qmc::generate_into";
  require_index_range(where, range, lattice.capacity());
  const auto d = static_cast<std::uint64_t>(lattice.dimension());
  const std::uint64_t values = replications * range.size() * d;
  require(out.size() == values, where, "out.size()", out.size(), "R * n * d = " + tessera::detail::to_text(values));
  if (values == 0) return;
  std::vector<std::uint64_t> shifts;
  for (std::uint64_t r = 0; r < replications; ++r) {
    const std::vector<std::uint64_t> s = detail::lattice_shifts(lattice, first_replication + r);
    shifts.insert(shifts.end(), s.begin(), s.end());
  }
  const thrust::device_vector<std::uint32_t> z(lattice.generating_vector().begin(), lattice.generating_vector().end());
  const thrust::device_vector<std::uint64_t> shift(shifts.begin(), shifts.end());
  constexpr unsigned threads = 256;
  const std::uint64_t wanted = (values + threads - 1) / threads;
  const auto blocks = static_cast<unsigned>(wanted < (1u << 30) ? wanted : (1u << 30));
  detail::lattice_kernel<T><<<blocks, threads, 0, policy.stream>>>(
      thrust::raw_pointer_cast(z.data()), thrust::raw_pointer_cast(shift.data()), lattice.dimension(),
      lattice.options().order == lattice_order::natural, lattice.options().size, range.begin, range.size(),
      values, out.data());
  check_launch(where);
  // z and shift are freed when this returns: wait for the kernel that reads them.
  check_cuda(cudaStreamSynchronize(policy.stream), where);
}

}  // namespace tessera::qmc
