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

/// A warp covers dx = min(32, largest power of two <= d) coordinates of 32/dx interleaved points
/// (whole rows per store); each lane keeps its z_j and shift in registers and walks its points
/// with a grid stride.
template <class T>
__global__ void lattice_kernel(const std::uint32_t* z, const std::uint64_t* shift, int dimension,
                               int lanes_per_point, bool natural, std::uint64_t size, std::uint64_t begin,
                               std::uint64_t end, T* out) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int j = static_cast<int>(blockIdx.y) * lanes_per_point + lane % lanes_per_point;
  if (j >= dimension) return;
  const auto d = static_cast<std::uint64_t>(dimension);
  const std::uint64_t replication = blockIdx.z;
  const std::uint32_t zj = z[j];
  const std::uint64_t sj = shift[replication * d + static_cast<std::uint64_t>(j)];
  const std::uint64_t points_per_warp = static_cast<std::uint64_t>(32 / lanes_per_point);
  const std::uint64_t warp = (blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x) / 32;
  const std::uint64_t warps = std::uint64_t{gridDim.x} * blockDim.x / 32;
  T* base = out + replication * (end - begin) * d + static_cast<std::uint64_t>(j);
  for (std::uint64_t i = begin + warp * points_per_warp + static_cast<std::uint64_t>(lane / lanes_per_point); i < end;
       i += warps * points_per_warp) {
    const std::uint64_t fraction =
        natural ? lattice_fraction(i, zj, true, size)
                : static_cast<std::uint64_t>(reverse_bits(static_cast<std::uint32_t>(i)) * zj) << 32;
    base[(i - begin) * d] = fraction_to_unit<T>(fraction + sj);
  }
}

}  // namespace detail

/// Writes points [range.begin, range.end) of replications [first_replication, first_replication +
/// replications) into device memory `out` as an R x n x d row-major array, with the same bits as
/// the host's generate_into(). The shifts are drawn on the host and uploaded (R d words).
/// Throws invalid_argument as the host version, for out.size() != R n d or for replications
/// above 65535; cuda_error if the launch fails. Synchronizes policy.stream (the uploaded vector
/// and shifts are freed on return). O(R n d) work.
template <float_or_double T>
void generate_into(exec::cuda policy, const rank1_lattice& lattice, index_range range,
                   std::uint64_t first_replication, std::uint64_t replications, std::span<T> out) {
  constexpr const char* where = "tessera::qmc::generate_into";
  require_index_range(where, range, lattice.capacity());
  const auto d = static_cast<std::uint64_t>(lattice.dimension());
  const std::uint64_t values = replications * range.size() * d;
  require(out.size() == values, where, "out.size()", out.size(), "R * n * d = " + tessera::detail::to_text(values));
  if (values == 0) return;
  require_in_range<std::uint64_t>(where, "replications", replications, 1, 65535);
  std::vector<std::uint64_t> shifts;
  for (std::uint64_t r = 0; r < replications; ++r) {
    const std::vector<std::uint64_t> s = detail::lattice_shifts(lattice, first_replication + r);
    shifts.insert(shifts.end(), s.begin(), s.end());
  }
  const thrust::device_vector<std::uint32_t> z(lattice.generating_vector().begin(), lattice.generating_vector().end());
  const thrust::device_vector<std::uint64_t> shift(shifts.begin(), shifts.end());
  int lanes = 1;
  while (lanes * 2 <= lattice.dimension() && lanes < 32) lanes *= 2;
  constexpr unsigned threads = 256;
  // Each lane walks about 16 points: enough to amortize its set-up, still thousands of blocks.
  constexpr std::uint64_t points_per_lane = 16;
  const std::uint64_t warps_wanted =
      (range.size() * static_cast<std::uint64_t>(lanes) / 32 + points_per_lane - 1) / points_per_lane + 1;
  const std::uint64_t blocks_wanted = (warps_wanted * 32 + threads - 1) / threads;
  const dim3 grid(static_cast<unsigned>(blocks_wanted < 65536 ? blocks_wanted : 65536),
                  static_cast<unsigned>((lattice.dimension() + lanes - 1) / lanes), static_cast<unsigned>(replications));
  detail::lattice_kernel<T><<<grid, threads, 0, policy.stream>>>(
      thrust::raw_pointer_cast(z.data()), thrust::raw_pointer_cast(shift.data()), lattice.dimension(), lanes,
      lattice.options().order == lattice_order::natural, lattice.options().size, range.begin, range.end, out.data());
  check_launch(where);
  // z and shift are freed when this returns: wait for the kernel that reads them.
  check_cuda(cudaStreamSynchronize(policy.stream), where);
}

}  // namespace tessera::qmc
