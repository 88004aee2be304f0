#pragma once
// The training loops of `tessera zo train`: one process (shared-seed SPSA), or W replicas that
// exchange one byte per projected gradient over a communicator (threads, or MPI ranks in
// zo_mpi.cpp). Every replica uses the whole task (its directions differ by worker id).

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <tessera/core/communicator.hpp>
#include <tessera/zo/decentralized_spsa.hpp>
#include <tessera/zo/spsa.hpp>

#include "cli.hpp"
#include "training_tasks.hpp"

namespace tessera::cli {

struct zo_train_options {
  std::string task = "linreg";
  std::uint64_t steps = 1000;
  double eps = 1e-3;
  double learning_rate = 1e-3;
  std::uint32_t samples = 1;
  int workers = 1;
  bool distributed = false;
  std::uint64_t seed = 0;
};

/// What a run produced, seen from one replica.
struct zo_run {
  std::vector<double> losses;                  ///< (L⁺ + L⁻)/2 averaged over this replica's samples, per step
  std::vector<double> theta;                   ///< the final parameters
  std::uint64_t bytes_sent = 0;                ///< by this replica over the run
  std::vector<std::uint64_t> replica_hashes;   ///< every replica's zo::replica_hash, in rank order
};

/// W replicas over `comm`: decentralized_spsa_step for every step, then the hashes all-gathered.
template <communicator C>
zo_run train_decentralized(C& comm, const zo_train_options& o, const training_task& task) {
  zo::spsa_state<double> state{task.model().initial_parameters(o.seed), 0, o.seed};
  const zo::decentralized_spsa_options<double> options{o.eps, o.learning_rate, o.samples, {}};
  const auto loss = [&](std::span<const double> theta, const zo::perturbation_id&) { return task.loss(theta); };
  zo_run run;
  for (std::uint64_t t = 0; t < o.steps; ++t) {
    const auto record = zo::decentralized_spsa_step(comm, state, options, loss);
    double sum = 0;
    for (const auto& s : record.samples) sum += (s.loss_plus + s.loss_minus) / 2;
    run.losses.push_back(sum / static_cast<double>(record.samples.size()));
    run.bytes_sent += record.bytes_sent;
  }
  const std::uint64_t mine = zo::replica_hash(state);
  run.replica_hashes.resize(static_cast<std::size_t>(comm.size()));
  all_gather_values(comm, std::span<const std::uint64_t>(&mine, 1), std::span<std::uint64_t>(run.replica_hashes));
  run.theta = std::move(state.theta);
  return run;
}

/// Prints a run (JSON: curve, final loss, accuracy, θ's hash, bytes; CSV: the curve).
void print_zo_run(const context& ctx, const zo_train_options& o, const training_task& task, const zo_run& run);

/// `--distributed`: the ranks of the MPI job are the replicas; rank 0 prints. Defined in zo_mpi.cpp
/// (built with MPI) or zo_no_mpi.cpp (which refuses with a clear message).
void run_zo_distributed(const context& ctx, const zo_train_options& o);

}  // namespace tessera::cli
