// Device generation equals host generation bit for bit: Sobol' (both orders, 32 and 64 digits,
// every randomization, several dimensions including d < 32 and d not a power of two) and
// lattices (both orders, shifted), over ranges that do not start at zero.
#include <catch2/catch.hpp>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

#include <cstring>
#include <span>
#include <tessera/qmc.cuh>  // the umbrella: every qmc header must compile under nvcc
#include <vector>
#include "support/gpu_support.cuh"

using tessera::test::device_span;
using tessera::test::same_bits;

using namespace tessera::qmc;

namespace {

}  // namespace

TEMPLATE_TEST_CASE("device Sobol' points equal the host's", "[gpu]", float, double) {
  const net_randomization randomizations[] = {net_randomization::none, net_randomization::digital_shift,
                                              net_randomization::lms, net_randomization::lms_digital_shift,
                                              net_randomization::nus};
  for (int d : {1, 3, 20, 33, 1024}) {
    for (int precision : {32, 64}) {
      for (net_order order : {net_order::natural, net_order::gray}) {
        for (net_randomization randomization : randomizations) {
          const digital_net net = sobol(d, {order, randomization, 2026}, precision);
          const index_range range{1000, 1000 + 4099};
          const std::uint64_t replications = 3;
          const std::size_t per = static_cast<std::size_t>(range.size()) * static_cast<std::size_t>(d);
          std::vector<TestType> host(replications * per);
          for (std::uint64_t r = 0; r < replications; ++r)
            generate_into(tessera::exec::host, digital_net_replication(net, 5 + r), range,
                          std::span<TestType>(host.data() + r * per, per));
          thrust::device_vector<TestType> device(host.size());
          generate_into(tessera::exec::cuda{}, net, range, 5, replications, device_span(device));
          INFO("d " << d << ", precision " << precision << ", gray " << (order == net_order::gray) << ", "
                    << to_string(randomization));
          CHECK(same_bits(host, device));
        }
      }
    }
  }
}

TEMPLATE_TEST_CASE("device lattice points equal the host's", "[gpu]", float, double) {
  for (auto order : {lattice_order::radical_inverse, lattice_order::natural}) {
    for (int d : {1, 7, 300}) {
      const rank1_lattice lattice = kuo_lattice(d, {order, lattice_randomization::shift, 9, 100000});
      const index_range range{777, 777 + 5000};
      const std::size_t per = static_cast<std::size_t>(range.size()) * static_cast<std::size_t>(d);
      std::vector<TestType> host(2 * per);
      for (std::uint64_t r = 0; r < 2; ++r)
        generate_into(tessera::exec::host, lattice, range, 3 + r, std::span<TestType>(host.data() + r * per, per));
      thrust::device_vector<TestType> device(host.size());
      generate_into(tessera::exec::cuda{}, lattice, range, 3, 2, device_span(device));
      INFO("d " << d << ", natural " << (order == lattice_order::natural));
      CHECK(same_bits(host, device));
    }
  }
}

TEST_CASE("device generation rejects a wrongly sized output") {
  thrust::device_vector<float> device(10);
  CHECK_THROWS_AS(generate_into(tessera::exec::cuda{}, sobol(2), index_range{0, 8}, 0, 1, device_span(device)),
                  tessera::invalid_argument);
}
