// EGGROLL's factors generated on the device equal the host's fill_low_rank_factors bit for bit:
// ranges that start and end inside a Philox block (B starts at draw m r), several tiles of the
// kernels' block-cooperative generation, both precisions; the spans' tails stay untouched; a
// span too short is refused before any launch.
//
// Tolerance: none. The device fill runs the routine the forward kernels generate A and B with
// (es/cuda/noise.cuh), so any difference is a bug in it (a wrong draw index, a lost end of a
// range).
#include <catch2/catch.hpp>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <tessera/es/cuda/noise.cuh>
#include <tessera/es/noise.hpp>
#include <vector>

#include "support/gpu_support.cuh"
#include "support/test_support.hpp"

namespace es = tessera::es;
using tessera::test::device_span;
using tessera::test::message_of;
using tessera::test::same_bits;

namespace {

const tessera::exec::cuda device{};

/// The index of the first value where host and device differ, or -1: says where a fill went wrong.
template <class T>
long long first_difference(const std::vector<T>& host, const thrust::device_vector<T>& device_values) {
  const thrust::host_vector<T> copy = device_values;
  for (std::size_t i = 0; i < host.size(); ++i)
    if (std::memcmp(&host[i], &copy[i], sizeof(T)) != 0) return static_cast<long long>(i);
  return -1;
}

}  // namespace

TEMPLATE_TEST_CASE("device factors are the host's fill_low_rank_factors bit for bit", "[gpu]", float, double) {
  using T = TestType;
  struct shape {
    std::size_t m, n, r;
  };
  // m r odd (B starts inside a Philox block); 4099 x 4103 x 2 spans several 4096-draw tiles, cut
  // at positions that are not block-aligned for B.
  for (const shape s : {shape{1, 1, 1}, shape{5, 3, 1}, shape{37, 29, 3}, shape{1000, 777, 16},
                        shape{4099, 4103, 2}}) {
    INFO("m = " << s.m << ", n = " << s.n << ", r = " << s.r);
    const auto stream = es::noise_stream(0x5eed, 7, 3, 11);
    std::vector<T> a(s.m * s.r), b(s.n * s.r);
    es::fill_low_rank_factors<T>(stream, s.m, s.n, s.r, a, b);
    thrust::device_vector<T> da(a.size()), db(b.size());
    es::fill_low_rank_factors<T>(device, stream, s.m, s.n, s.r, device_span(da), device_span(db));
    CHECK(first_difference(a, da) == -1);
    CHECK(first_difference(b, db) == -1);
  }
}

TEMPLATE_TEST_CASE("the device fill writes the first m r and n r values only", "[gpu]", float, double) {
  using T = TestType;
  const auto stream = es::noise_stream(1, 0, 0, 2);
  const std::size_t m = 6, n = 5, r = 3;
  std::vector<T> a(m * r + 4, T(-7)), b(n * r + 3, T(-7));
  es::fill_low_rank_factors<T>(stream, m, n, r, std::span<T>(a).first(m * r), std::span<T>(b).first(n * r));
  thrust::device_vector<T> da(a.size(), T(-7)), db(b.size(), T(-7));
  es::fill_low_rank_factors<T>(device, stream, m, n, r, device_span(da), device_span(db));
  CHECK(same_bits(a, da));  // the host's draws, then the untouched -7s
  CHECK(same_bits(b, db));
}

TEST_CASE("a device fill into spans too short is refused before any launch", "[gpu]") {
  thrust::device_vector<float> a(5, 1.0f), b(9, 1.0f);
  const auto stream = es::noise_stream(1, 0, 0, 0);
  const auto fill = [&](std::size_t m, std::size_t n) {
    return message_of([&] { es::fill_low_rank_factors<float>(device, stream, m, n, 2, device_span(a), device_span(b)); });
  };
  CHECK(fill(3, 3) == "tessera::es::fill_low_rank_factors: a.size() = 5; expected >= m r = 6");
  CHECK(fill(2, 5) == "tessera::es::fill_low_rank_factors: b.size() = 9; expected >= n r = 10");
  CHECK(same_bits(std::vector<float>(5, 1.0f), a));
}
