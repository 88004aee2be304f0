// Halton points on the device equal the host's bit for bit: every randomization, both
// precisions, several replications, slices far into the sequence and a high dimension.
#include <catch2/catch.hpp>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <tessera/qmc/cuda/halton.cuh>
#include <vector>

using tessera::qmc::halton_randomization;
using tessera::qmc::halton_sequence;
using tessera::qmc::index_range;

namespace {

constexpr halton_randomization all_randomizations[] = {
    halton_randomization::none,          halton_randomization::digital_shift,
    halton_randomization::permutation,   halton_randomization::lms,
    halton_randomization::lms_digital_shift, halton_randomization::lms_permutation,
    halton_randomization::nus};

// Generates `range` of every replication on the host and on the device and compares the bytes.
template <class T>
bool device_matches_host(const halton_sequence& s, index_range range) {
  const std::size_t size =
      static_cast<std::size_t>(s.replications()) * range.size() * static_cast<std::size_t>(s.dimension());
  std::vector<T> host(size);
  tessera::qmc::generate_into(tessera::exec::host, s, range, std::span<T>(host));
  thrust::device_vector<T> device(size);
  tessera::qmc::generate_into(tessera::exec::cuda{}, s, range,
                         std::span<T>(thrust::raw_pointer_cast(device.data()), size));
  tessera::check_cuda(cudaDeviceSynchronize(), "halton_gpu_test: synchronize");
  const thrust::host_vector<T> copy = device;
  return std::memcmp(host.data(), copy.data(), size * sizeof(T)) == 0;
}

}  // namespace

TEST_CASE("device Halton points equal the host's bit for bit") {
  for (const auto r : all_randomizations) {
    INFO(std::string(tessera::qmc::to_string(r)));
    const int replications = r == halton_randomization::none ? 1 : 3;
    const halton_sequence s({40, r, 20240601, replications});
    CHECK(device_matches_host<double>(s, {0, 4096}));
    CHECK(device_matches_host<float>(s, {0, 4096}));
    CHECK(device_matches_host<double>(s, {123456789, 123456789 + 1000}));
    CHECK(device_matches_host<double>(s, {s.capacity() - 500, s.capacity()}));
    CHECK(device_matches_host<float>(s, {s.capacity() - 500, s.capacity()}));
    const halton_sequence wide({1024, r, 7, 1});
    CHECK(device_matches_host<double>(wide, {1 << 16, (1 << 16) + 64}));
  }
}

TEST_CASE("the device generate validates on the host before launching") {
  const halton_sequence s({5, halton_randomization::nus, 1, 2});
  thrust::device_vector<double> device(2 * 10 * 5);
  const std::span<double> out(thrust::raw_pointer_cast(device.data()), device.size());
  CHECK_NOTHROW(tessera::qmc::generate_into(tessera::exec::cuda{}, s, {0, 10}, out));
  CHECK_THROWS_WITH(tessera::qmc::generate_into(tessera::exec::cuda{}, s, {0, 11}, out),
                    Catch::Contains("out.size()"));
  CHECK_THROWS_WITH(tessera::qmc::generate_into(tessera::exec::cuda{}, s,
                                           {s.capacity(), s.capacity() + 10}, out),
                    Catch::Contains("range.end"));
  // An empty range writes nothing and launches nothing.
  CHECK_NOTHROW(tessera::qmc::generate_into(tessera::exec::cuda{}, s, {3, 3}, out.first(0)));
}
