// Host and device draw the same bits: every distribution, both precisions, offsets that cut
// blocks, and Philox's known answers computed on the device.
#include <catch2/catch.hpp>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <tessera/core.cuh>
#include <vector>
#include "support/gpu_support.cuh"

using tessera::test::same_bits;
using tessera::test::device_span;

namespace {

__global__ void philox_on_device(const tessera::philox_block* counters, const tessera::philox_key* keys,
                                 tessera::philox_block* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = tessera::philox4x32_10(counters[i], keys[i]);
}

template <class T>
__global__ void scalar_normals(tessera::random_stream s, std::uint64_t first, T* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = tessera::normal<T>(s, first + i);
}

}  // namespace

TEST_CASE("Philox4x32-10 known answers on the device") {
  const std::vector<tessera::philox_block> counters = {
      {0, 0, 0, 0}, {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
      {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}};
  const std::vector<tessera::philox_key> keys = {{0, 0}, {0xffffffff, 0xffffffff}, {0xa4093822, 0x299f31d0}};
  const std::vector<tessera::philox_block> expected = {
      {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
      {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
      {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}};
  thrust::device_vector<tessera::philox_block> d_counters(counters.begin(), counters.end());
  thrust::device_vector<tessera::philox_key> d_keys(keys.begin(), keys.end());
  thrust::device_vector<tessera::philox_block> d_out(3);
  philox_on_device<<<1, 32>>>(thrust::raw_pointer_cast(d_counters.data()),
                              thrust::raw_pointer_cast(d_keys.data()),
                              thrust::raw_pointer_cast(d_out.data()), 3);
  tessera::check_launch("philox_on_device");
  const thrust::host_vector<tessera::philox_block> out = d_out;
  for (int i = 0; i < 3; ++i) CHECK(out[i] == expected[i]);
}

TEMPLATE_TEST_CASE("device fills equal host fills bit for bit", "[gpu]", float, double) {
  const tessera::random_stream s(0xfeedface12345678ULL, 3, 14, 15);
  for (std::uint64_t first : {std::uint64_t{0}, std::uint64_t{5}, std::uint64_t{1} << 33}) {
    const std::size_t n = 1000003;
    std::vector<TestType> host(n);
    thrust::device_vector<TestType> device(n);

    tessera::fill_uniform(tessera::exec::host, s, std::span<TestType>(host), first);
    tessera::fill_uniform(tessera::exec::cuda{}, s, device_span(device), first);
    CHECK(same_bits(host, device));

    tessera::fill_normal(tessera::exec::host, s, std::span<TestType>(host), first);
    tessera::fill_normal(tessera::exec::cuda{}, s, device_span(device), first);
    CHECK(same_bits(host, device));

    tessera::fill_rademacher(tessera::exec::host, s, std::span<TestType>(host), first);
    tessera::fill_rademacher(tessera::exec::cuda{}, s, device_span(device), first);
    CHECK(same_bits(host, device));
  }
}

TEMPLATE_TEST_CASE("single normal draws in a kernel equal the host's", "[gpu]", float, double) {
  const tessera::random_stream s(1, 2, 3, 4);
  const int n = 4099;
  const std::uint64_t first = 77;
  std::vector<TestType> host(n);
  for (int i = 0; i < n; ++i) host[i] = tessera::normal<TestType>(s, first + i);
  thrust::device_vector<TestType> device(n);
  scalar_normals<<<(n + 255) / 256, 256>>>(s, first, thrust::raw_pointer_cast(device.data()), n);
  tessera::check_launch("scalar_normals");
  CHECK(same_bits(host, device));
}
