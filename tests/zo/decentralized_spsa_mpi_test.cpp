// Decentralized SPSA over the ranks of MPI_COMM_WORLD (ctest runs it with 2 and 4 ranks;
// tests/mpi_main.cpp is the runner): replicas stay bit-identical step after step, also after a
// rank leaves and after a stale rank is re-synced. Each rank all-gathers the replica hashes and
// checks them; CHECK, never REQUIRE, after a collective, so that no rank is left waiting.

#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <tessera/core/communicator.hpp>
#include <tessera/core/mpi_communicator.hpp>
#include <tessera/zo/decentralized_spsa.hpp>
#include <vector>

#include "zo/least_squares.hpp"

namespace zo = tessera::zo;
using tessera::mpi_communicator;
using tessera::test::least_squares;

namespace {

const zo::decentralized_spsa_options<float> options{1e-3f, 2e-3f, 2, {8.0f, zo::byte_rounding::stochastic}};

/// Rank w's loss: rows 16 (w mod 4) .. + 16 of the least-squares problem.
auto shard_loss(const least_squares& task) {
  return [&task](std::span<const float> theta, const zo::perturbation_id& id) {
    return task.loss(theta, 16 * Eigen::Index(id.worker % 4), 16);
  };
}

/// The number of members whose replica hash differs from member 0's (all-gathered). Collective.
template <class C>
int replicas_differing(C& group, const zo::spsa_state<float>& state) {
  const std::uint64_t mine = zo::replica_hash(state);
  std::vector<std::uint64_t> all(static_cast<std::size_t>(group.size()));
  tessera::all_gather_values(group, std::span<const std::uint64_t>(&mine, 1), std::span<std::uint64_t>(all));
  int differing = 0;
  for (const std::uint64_t h : all) differing += h != all[0];
  return differing;
}

}  // namespace

TEST_CASE("mpi: replicas are bit-identical after every step and each rank sends 1 + n bytes a step") {
  const least_squares task;
  constexpr int steps = 60;
  mpi_communicator world = mpi_communicator::world();
  zo::spsa_state<float> state{std::vector<float>(16, 0.0f), 0, 41};
  int differing_steps = 0, wrong_contributors = 0;
  std::uint64_t bytes = 0;
  for (int t = 0; t < steps; ++t) {
    const auto record = zo::decentralized_spsa_step(world, state, options, shard_loss(task));
    bytes += record.bytes_sent;
    wrong_contributors += record.contributors != world.size();
    differing_steps += replicas_differing(world, state) != 0;
  }
  CHECK(differing_steps == 0);
  CHECK(wrong_contributors == 0);
  CHECK(bytes == std::uint64_t{steps} * zo::record_bytes(options.samples));
  CHECK(task.loss(std::span<const float>(state.theta)) < 0.5 * task.loss(std::span<const float>(std::vector<float>(16))));
}

TEST_CASE("mpi: the last rank leaves between steps; the others continue identical") {
  const least_squares task;
  mpi_communicator world = mpi_communicator::world();
  const bool stays = world.rank() != world.size() - 1;
  zo::spsa_state<float> state{std::vector<float>(16, 0.0f), 0, 42};
  for (int t = 0; t < 20; ++t) zo::decentralized_spsa_step(world, state, options, shard_loss(task));
  CHECK(replicas_differing(world, state) == 0);
  const std::uint64_t at_leave = zo::replica_hash(state);
  {
    std::optional<mpi_communicator> stayers = world.split(stays);
    CHECK(stayers.has_value() == stays);
    if (stayers) {
      int wrong_contributors = 0;
      for (int t = 20; t < 50; ++t)
        wrong_contributors += zo::decentralized_spsa_step(*stayers, state, options, shard_loss(task)).contributors !=
                              world.size() - 1;
      CHECK(wrong_contributors == 0);
      CHECK(replicas_differing(*stayers, state) == 0);
      CHECK(state.step == 50);
    }
  }  // the stayers free their communicator together
  CHECK((zo::replica_hash(state) == at_leave) == !stays);
}

TEST_CASE("mpi: a stale rank stays inactive, is re-synced from rank 0, then contributes") {
  const least_squares task;
  mpi_communicator world = mpi_communicator::world();
  const bool stale = world.rank() == world.size() - 1;
  zo::spsa_state<float> state{std::vector<float>(16, stale ? -4.0f : 0.0f), 0, 43};
  for (int t = 0; t < 10; ++t) zo::decentralized_spsa_step(world, state, options, shard_loss(task), !stale);
  CHECK(replicas_differing(world, state) == 1);  // only the stale one
  zo::sync_state(world, state, 0);
  CHECK(replicas_differing(world, state) == 0);
  int wrong_contributors = 0;
  for (int t = 10; t < 30; ++t)
    wrong_contributors += zo::decentralized_spsa_step(world, state, options, shard_loss(task)).contributors != world.size();
  CHECK(wrong_contributors == 0);
  CHECK(replicas_differing(world, state) == 0);
}
