// The Catch2 runner of the MPI tests: every rank runs the same test cases in the same order (their
// collectives must match), then the ranks sum their failure counts, so that every rank, and so
// mpiexec, exits non-zero when any rank failed.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <mpi.h>

#include <tessera/core/mpi_communicator.hpp>

int main(int argc, char* argv[]) {
  const tessera::mpi_session session(argc, argv);
  const int failures = Catch::Session().run(argc, argv);
  int failures_on_all_ranks = 0;
  tessera::check_mpi(
      MPI_Allreduce(&failures, &failures_on_all_ranks, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD),
      "tests/mpi_main: the sum of the failures");
  return failures_on_all_ranks == 0 ? 0 : 1;
}
