// The population split across MPI ranks (ctest runs this with 2 and 4 ranks): every replica ends
// bit-identical to a single process running the whole population, and a rank may leave between
// generations (the population is then split over the ranks that stay).
#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <vector>

#include "regression_task.hpp"
#include "tessera/core/mpi_communicator.hpp"
#include "tessera/core/optimizers.hpp"
#include "tessera/es/evolution_strategy.hpp"

namespace es = tessera::es;

TEST_CASE("mpi: replicas of a distributed EGGROLL run stay bit-identical, also after a rank leaves") {
  const tessera::test::regression_task task;
  const es::es_options<double> options{14, 0.1, true, es::fitness_shaping::centered_ranks, es::nonfinite_fitness::reject, 21};
  const es::evolution_strategy<double, es::low_rank, tessera::adam<double>> s(task.layout(), {2}, options, {0.02});
  const auto fitness = [&](const auto& view) { return -task.loss(view); };
  auto local = s.initial_state(std::vector<double>(32, 0.0));
  for (int g = 0; g < 6; ++g) s.step(local, fitness);

  tessera::mpi_communicator world = tessera::mpi_communicator::world();
  auto replica = s.initial_state(std::vector<double>(32, 0.0));
  for (int g = 0; g < 3; ++g) s.step(replica, fitness, world);
  // the last rank leaves; the others run the remaining generations among themselves
  std::optional<tessera::mpi_communicator> stayers = world.split(world.rank() + 1 < world.size());
  if (stayers) {
    for (int g = 0; g < 3; ++g) s.step(replica, fitness, *stayers);
    CHECK(replica == local);
  } else {
    CHECK(replica.generation == 3);
  }
}
