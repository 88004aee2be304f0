// `tessera zo train --distributed` in a build with MPI: run under mpirun, one replica per rank.
#include <tessera/core/mpi_communicator.hpp>

#include "zo_training.hpp"

namespace tessera::cli {

void run_zo_distributed(const context& ctx, const zo_train_options& o) {
  const mpi_session session;
  mpi_communicator world = mpi_communicator::world();
  const training_task task(o.task);
  const zo_run run = train_decentralized(world, o, task);
  if (world.rank() == 0) print_zo_run(ctx, o, task, run);
}

}  // namespace tessera::cli
