// The checkpoint format: fields round-trip bit for bit; foreign, other-kind, other-configuration
// and truncated data are refused with clear messages.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <vector>

#include "support/test_support.hpp"
#include "tessera/core/checkpoint.hpp"

using tessera::test::message_of;

TEST_CASE("fields round-trip bit for bit") {
  const std::uint64_t config = tessera::fingerprint().add(std::string_view("layout")).add(3.5).value();
  std::stringstream buffer;
  const std::vector<double> values{1.0 / 3, -0.0, std::numeric_limits<double>::denorm_min()};
  {
    tessera::checkpoint_writer w(buffer, "demo", config);
    w.write(std::uint32_t{7});
    w.write(values);
  }
  tessera::checkpoint_reader r(buffer, "demo", config);
  CHECK(r.read<std::uint32_t>() == 7);
  const auto back = r.read_vector<double>(10);
  REQUIRE(back.size() == 3);
  CHECK(std::signbit(back[1]));
  CHECK(back == values);
}

TEST_CASE("fingerprints depend on every field and on their order") {
  CHECK(tessera::fingerprint().add(1).add(2).value() != tessera::fingerprint().add(2).add(1).value());
  CHECK(tessera::fingerprint().add(1.0f).value() != tessera::fingerprint().add(1.0).value());
  // FNV-1a 64 of the empty input is its offset basis (Fowler, Noll, Vo)
  CHECK(tessera::fnv1a({}) == 0xcbf29ce484222325ull);
}

TEST_CASE("foreign, other-kind, other-configuration and truncated checkpoints are refused") {
  std::stringstream saved;
  {
    tessera::checkpoint_writer w(saved, "demo", 42);
    w.write(std::vector<float>{1, 2, 3});
  }
  const std::string bytes = saved.str();
  std::stringstream garbage("not a checkpoint at all");
  CHECK(message_of([&] { tessera::checkpoint_reader(garbage, "demo", 42); }) ==
        "tessera::checkpoint_reader: not a tessera checkpoint (format TSRCKPT1 expected)");
  std::stringstream kind(bytes);
  CHECK(message_of([&] { tessera::checkpoint_reader(kind, "other", 42); }) ==
        "tessera::checkpoint_reader: the checkpoint holds another kind of state; expected other");
  std::stringstream config(bytes);
  CHECK(message_of([&] { tessera::checkpoint_reader(config, "demo", 43); }) ==
        "tessera::checkpoint_reader: checkpoint from a different configuration (fingerprint 42; expected 43)");
  std::stringstream truncated(bytes.substr(0, bytes.size() - 2));
  tessera::checkpoint_reader r(truncated, "demo", 42);
  CHECK_THROWS_AS(r.read_vector<float>(3), tessera::invalid_argument);
  std::stringstream oversized(bytes);
  tessera::checkpoint_reader o(oversized, "demo", 42);
  CHECK_THROWS_AS(o.read_vector<float>(2), tessera::invalid_argument);
}
