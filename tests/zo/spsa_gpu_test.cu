// The device SPSA move θ += scale z against the host's passes (zo/detail/normal_passes.hpp):
// bit for bit for in-place moves, exact restoration (a copy of the saved θ moved once) and the
// update θ − c z, float and double, lengths that cut a Philox block, a θ that is not 16-byte
// aligned; a non-finite scale is refused before any launch.
//
// Tolerance: none. Both sides draw the same z and round the product and the sum separately
// (the host built without FMA contraction: x86-64's default flags), so any difference is a bug.
#include <catch2/catch.hpp>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <tessera/core/random.hpp>
#include <tessera/zo/cuda/spsa.cuh>
#include <tessera/zo/spsa.hpp>
#include <vector>

#include "support/gpu_support.cuh"
#include "support/test_support.hpp"

namespace zo = tessera::zo;
using tessera::test::device_span;
using tessera::test::message_of;
using tessera::test::same_bits;

namespace {

const tessera::exec::cuda device{};

/// θ with entries N(0, 1) from its own stream.
template <class T>
std::vector<T> parameters(std::size_t n) {
  std::vector<T> theta(n);
  tessera::fill_normal<T>(tessera::exec::host, tessera::random_stream(404), std::span<T>(theta));
  return theta;
}

}  // namespace

TEMPLATE_TEST_CASE("a device perturbation is the host's theta + scale z bit for bit", "[gpu]", float, double) {
  using T = TestType;
  const tessera::random_stream z = zo::perturbation_stream({9, 3, 0, 1});
  // 12293 = 3 * 4096 + 5: several of the host's chunks, and a last Philox block cut short.
  for (std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{1001}, std::size_t{12293}}) {
    for (std::size_t offset : {std::size_t{0}, std::size_t{1}}) {  // offset 1: not 16-byte aligned
      INFO("n = " << n << ", offset " << offset);
      std::vector<T> host = parameters<T>(n + offset);
      thrust::device_vector<T> theta(host.begin(), host.end());
      for (const T scale : {T(1e-3), T(-2e-3), T(1e-3)}) {  // MeZO's +εz, −2εz, +εz
        zo::detail::add_scaled_normal(std::span<T>(host).subspan(offset), z, scale);
        zo::perturb(device, device_span(theta).subspan(offset), z, scale);
      }
      CHECK(same_bits(host, theta));
    }
  }
}

TEMPLATE_TEST_CASE("exact restoration and the update on the device are the host's bits", "[gpu]", float, double) {
  using T = TestType;
  const tessera::random_stream z = zo::perturbation_stream({1, 0, 2, 0});
  const std::size_t n = 4103;
  const std::vector<T> saved = parameters<T>(n);
  const T eps = T(1e-3);

  // Exact restoration sets θ = saved + m ε z: on the device, copy saved back and move it once.
  std::vector<T> host(n);
  zo::detail::assign_shifted(std::span<T>(host), std::span<const T>(saved), z, -2 * eps);
  thrust::device_vector<T> theta(saved.begin(), saved.end());
  zo::perturb(device, device_span(theta), z, -2 * eps);
  CHECK(same_bits(host, theta));

  // The update θ − c z is a move by −c.
  const T c = T(0.37);
  std::vector<T> updated = saved;
  const zo::detail::update_term<T> term{z, c};
  zo::detail::subtract_directions(std::span<T>(updated), std::span<const zo::detail::update_term<T>>(&term, 1));
  thrust::device_vector<T> device_updated(saved.begin(), saved.end());
  zo::perturb(device, device_span(device_updated), z, -c);
  CHECK(same_bits(updated, device_updated));
}

TEST_CASE("a non-finite scale is refused before any launch", "[gpu]") {
  thrust::device_vector<float> theta(10, 1.0f);
  const tessera::random_stream z(1);
  CHECK(message_of([&] { zo::perturb(device, device_span(theta), z, std::nanf("")); }) ==
        "tessera::zo::perturb: scale = nan; expected a finite number");
  CHECK(message_of([&] { zo::perturb(device, device_span(theta), z, INFINITY); }) ==
        "tessera::zo::perturb: scale = inf; expected a finite number");
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  CHECK(same_bits(std::vector<float>(10, 1.0f), theta));
}
