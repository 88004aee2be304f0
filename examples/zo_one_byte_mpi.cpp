// Decentralized SPSA over MPI with one byte per projected gradient (Zelikman et al. 2023): each
// rank holds its own shard of a least-squares problem, evaluates its own perturbation, sends one
// status byte and one code, and applies every rank's update by regenerating their directions.
// No parameters travel; the replicas stay bit-identical (checked by all-gathering a hash of θ).
//
//   mpirun -np 4 build/default/examples/example_zo_one_byte_mpi      (add --oversubscribe on a
//                                                                    machine with fewer cores)
#include <cstdint>
#include <cstdio>
#include <span>
#include <tessera/core/mpi_communicator.hpp>
#include <tessera/core/random.hpp>
#include <tessera/zo.hpp>
#include <vector>

namespace zo = tessera::zo;

namespace {

constexpr std::size_t rows_per_rank = 64, parameters = 32;

/// Rank r's shard: A_r (64 x 32) and b_r = A_r x* + 0.1 noise, x* shared, from fixed streams.
struct shard {
  std::vector<double> a, b;
  explicit shard(int rank) : a(rows_per_rank * parameters), b(rows_per_rank) {
    const auto r = static_cast<std::uint32_t>(rank);
    tessera::fill_normal<double>(tessera::exec::host, tessera::random_stream(5, 1, r), std::span(a));
    std::vector<double> x_true(parameters), noise(rows_per_rank);
    tessera::fill_normal<double>(tessera::exec::host, tessera::random_stream(5, 2), std::span(x_true));
    tessera::fill_normal<double>(tessera::exec::host, tessera::random_stream(5, 3, r), std::span(noise));
    for (std::size_t i = 0; i < rows_per_rank; ++i) {
      b[i] = 0.1 * noise[i];
      for (std::size_t j = 0; j < parameters; ++j) b[i] += a[i * parameters + j] * x_true[j];
    }
  }
  /// ½‖A_r θ − b_r‖² / rows.
  double loss(std::span<const double> theta) const {
    double total = 0;
    for (std::size_t i = 0; i < rows_per_rank; ++i) {
      double residual = -b[i];
      for (std::size_t j = 0; j < parameters; ++j) residual += a[i * parameters + j] * theta[j];
      total += residual * residual / 2;
    }
    return total / rows_per_rank;
  }
};

}  // namespace

int main(int argc, char** argv) {
  (void)argc;
  (void)argv;
  const tessera::mpi_session session;
  tessera::mpi_communicator world = tessera::mpi_communicator::world();
  const shard data(world.rank());
  zo::spsa_state<double> state{std::vector<double>(parameters, 0.0), 0, /*seed=*/2023};
  const zo::decentralized_spsa_options<double> options{1e-3, 0.02, 1, {}};
  const auto loss = [&](std::span<const double> theta, const zo::perturbation_id&) { return data.loss(theta); };
  const double initial = data.loss(state.theta);
  std::uint64_t bytes = 0;
  constexpr int steps = 2000;
  for (int t = 0; t < steps; ++t) bytes += zo::decentralized_spsa_step(world, state, options, loss).bytes_sent;

  // every replica's hash, gathered: one value if the replicas agree bit for bit
  const std::uint64_t mine = zo::replica_hash(state);
  std::vector<std::uint64_t> hashes(static_cast<std::size_t>(world.size()));
  tessera::all_gather_values(world, std::span<const std::uint64_t>(&mine, 1), std::span<std::uint64_t>(hashes));
  bool identical = true;
  for (const std::uint64_t h : hashes) identical &= h == hashes.front();
  std::printf("rank %d: shard loss %.4f -> %.4f after %d steps, %llu bytes sent (%.1f per step)%s\n", world.rank(),
              initial, data.loss(state.theta), steps, static_cast<unsigned long long>(bytes),
              static_cast<double>(bytes) / steps, world.rank() == 0 ? "" : "");
  if (world.rank() == 0)
    std::printf("%d replicas %s; theta hash %016llx (an fp32 all-reduce of theta would send %zu bytes per step)\n",
                world.size(), identical ? "bit-identical" : "DIFFER", static_cast<unsigned long long>(mine),
                4 * parameters);
  return identical ? 0 : 1;
}
