// mpi_communicator over MPI_COMM_WORLD (run by ctest with 2 and 4 ranks; tests/mpi_main.cpp is the
// runner). Every rank runs every test case and makes the same collective calls whatever its
// results: CHECK, never REQUIRE, after a collective, so that a failure cannot leave a rank waiting.
#include <catch2/catch.hpp>
#include <mpi.h>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <tessera/core/communicator.hpp>
#include <tessera/core/mpi_communicator.hpp>
#include <vector>
#include "support/test_support.hpp"

using tessera::mpi_communicator;
using tessera::test::message_of;

static_assert(tessera::communicator<mpi_communicator>);
static_assert(!std::copyable<mpi_communicator>);

namespace {

/// The value rank r sends as element i of its block in round t: distinct for every (t, r, i).
std::uint32_t sent_value(int round, int rank, int i) {
  return static_cast<std::uint32_t>(1'000'000 * round + 1'000 * rank + i);
}

}  // namespace

TEST_CASE("mpi: a second session inside a running MPI is a no-op") {
  const tessera::mpi_session nested;
  CHECK_FALSE(nested.initialized_here());
  CHECK(nested.thread_support() >= MPI_THREAD_FUNNELED);
}

TEST_CASE("mpi: world has the job's ranks") {
  mpi_communicator world = mpi_communicator::world();
  int rank = -1;
  int size = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  CHECK(world.rank() == rank);
  CHECK(world.size() == size);
  CHECK(world.size() >= 2);  // ctest runs it with 2 and 4 ranks
  CHECK(world.bytes_sent() == 0);
}

TEST_CASE("mpi all_gather places each rank's block at its rank, round after round") {
  constexpr int rounds = 16;
  constexpr int block = 3;
  mpi_communicator world = mpi_communicator::world();
  const int members = world.size();
  std::vector<std::uint32_t> all(static_cast<std::size_t>(members * block));
  int wrong_values = 0;
  for (int t = 0; t < rounds; ++t) {
    std::uint32_t mine[block];
    for (int i = 0; i < block; ++i) mine[i] = sent_value(t, world.rank(), i);
    tessera::all_gather_values(world, std::span<const std::uint32_t>(mine),
                               std::span<std::uint32_t>(all));
    for (int r = 0; r < members; ++r)
      for (int i = 0; i < block; ++i)
        wrong_values += all[static_cast<std::size_t>(r * block + i)] != sent_value(t, r, i);
  }
  CHECK(all[static_cast<std::size_t>(block * (members - 1) + 2)] ==
        sent_value(rounds - 1, members - 1, 2));
  CHECK(wrong_values == 0);
  CHECK(world.bytes_sent() == std::uint64_t{rounds} * block * sizeof(std::uint32_t));
}

TEST_CASE("mpi broadcast delivers the root's buffer from every root; only the root counts") {
  constexpr std::size_t length = 5;
  mpi_communicator world = mpi_communicator::world();
  int wrong_values = 0;
  for (int root = 0; root < world.size(); ++root) {
    std::vector<double> buffer(length, -1.0);
    if (world.rank() == root)
      for (std::size_t i = 0; i < length; ++i) buffer[i] = 10.0 * root + 0.25 * double(i);
    tessera::broadcast_values(world, std::span<double>(buffer), root);
    for (std::size_t i = 0; i < length; ++i)
      wrong_values += buffer[i] != 10.0 * root + 0.25 * double(i);
  }
  CHECK(wrong_values == 0);
  CHECK(world.bytes_sent() == length * sizeof(double));  // root exactly once
}

TEST_CASE("mpi split: the last rank leaves, the others gather in their old order") {
  mpi_communicator world = mpi_communicator::world();
  const int last = world.size() - 1;
  std::optional<mpi_communicator> stayers = world.split(world.rank() != last);
  CHECK(stayers.has_value() == (world.rank() != last));
  if (stayers) {
    CHECK(stayers->rank() == world.rank());
    CHECK(stayers->size() == last);
    CHECK(stayers->bytes_sent() == 0);
    const int mine[1] = {world.rank()};
    std::vector<int> gathered(static_cast<std::size_t>(stayers->size()));
    tessera::all_gather_values(*stayers, std::span<const int>(mine), std::span<int>(gathered));
    std::vector<int> expected;
    for (int r = 0; r < last; ++r) expected.push_back(r);
    CHECK(gathered == expected);
    CHECK(stayers->bytes_sent() == sizeof(int));
    // A moved communicator keeps its MPI_Comm and its count; the moved-from one frees nothing.
    mpi_communicator moved = std::move(*stayers);
    CHECK(moved.size() == last);
    CHECK(moved.bytes_sent() == sizeof(int));
  }
  CHECK_FALSE(world.split(false).has_value());
  std::optional<mpi_communicator> everybody = world.split(true);
  CHECK((everybody && everybody->size() == world.size() && everybody->rank() == world.rank()));
}

TEST_CASE("mpi: mismatched calls throw on every rank, and the communicator goes on working") {
  mpi_communicator world = mpi_communicator::world();
  const int r = world.rank();
  const int last = world.size() - 1;
  const std::size_t members = static_cast<std::size_t>(world.size());
  std::byte mine[4] = {};
  std::vector<std::byte> all(4 * members);
  const std::string gather = "tessera::mpi_communicator::all_gather: ";
  const std::string broadcast = "tessera::mpi_communicator::broadcast: ";

  const std::size_t block = r == last ? 3 : 4;  // the last rank passes a shorter block
  CHECK(message_of([&] {
          world.all_gather(std::span<const std::byte>(mine, block),
                           std::span<std::byte>(all.data(), members * block));
        }) == gather + "mine.size() = " + std::to_string(block) +
                   "; expected the same on every rank; the ranks passed 3 to 4");

  const std::size_t all_size = r == last ? 4 * members - 1 : 4 * members;  // one byte too few
  const std::string expected_all = "size() * mine.size() = " + std::to_string(4 * members) +
                                   " on every rank" +
                                   (r == last ? "" : "; another rank passed another size");
  CHECK(message_of([&] {
          world.all_gather(std::span<const std::byte>(mine),
                           std::span<std::byte>(all.data(), all_size));
        }) == gather + "all.size() = " + std::to_string(all_size) + "; expected " + expected_all);

  CHECK(message_of([&] { world.broadcast(std::span<std::byte>(mine), r == 0 ? 0 : 1); }) ==
        broadcast + "root = " + std::to_string(r == 0 ? 0 : 1) +
            "; expected the same on every rank; the ranks passed 0 to 1");
  CHECK(message_of([&] { world.broadcast(std::span<std::byte>(mine), world.size()); }) ==
        broadcast + "root = " + std::to_string(world.size()) + "; expected 0 <= root <= " +
            std::to_string(last));
  const std::size_t length = r == 1 ? 3 : 4;
  CHECK(message_of([&] { world.broadcast(std::span<std::byte>(mine, length), 0); }) ==
        broadcast + "buffer.size() = " + std::to_string(length) +
            "; expected the same on every rank; the ranks passed 3 to 4");

  const std::uint16_t value[1] = {static_cast<std::uint16_t>(100 + r)};
  std::vector<std::uint16_t> after(members);
  tessera::all_gather_values(world, std::span<const std::uint16_t>(value),
                             std::span<std::uint16_t>(after));
  std::vector<std::uint16_t> expected;
  for (std::size_t k = 0; k < members; ++k) expected.push_back(static_cast<std::uint16_t>(100 + k));
  CHECK(after == expected);
  CHECK(world.bytes_sent() == sizeof(std::uint16_t));  // the failed calls counted nothing
}

TEST_CASE("mpi: a null communicator is refused") {
  CHECK(message_of([] { mpi_communicator c(MPI_COMM_NULL); }) ==
        "tessera::mpi_communicator: comm = MPI_COMM_NULL; expected a valid communicator");
}

TEST_CASE("mpi: failures come back as mpi_error with MPI's message, not as an abort") {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(MPI_ERR_COMM, text, &length);
  const std::string expected =
      "tessera::test: " + std::string(text, static_cast<std::size_t>(length));
  std::string message = "(no exception)";
  try {
    int size = 0;  // a local call on no communicator: MPI_ERRORS_RETURN, set by the session
    tessera::check_mpi(MPI_Comm_size(MPI_COMM_NULL, &size), "tessera::test");
  } catch (const tessera::mpi_error& e) {
    message = e.what();
  }
  CHECK(message == expected);
}
