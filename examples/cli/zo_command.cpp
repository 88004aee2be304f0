// `tessera zo train`: shared-seed SPSA (MeZO) on a built-in task (training_tasks.hpp), alone,
// over --workers threads, or over the ranks of an MPI job (--distributed), the replicas
// exchanging one byte per projected gradient and finishing with identical parameters.
#include <memory>
#include <string>
#include <tessera/core/in_process_communicator.hpp>
#include <tessera/core/validate.hpp>
#include <thread>
#include <vector>

#include "cli.hpp"
#include "zo_training.hpp"

namespace tessera::cli {

void print_zo_run(const context& ctx, const zo_train_options& o, const training_task& task, const zo_run& run) {
  if (ctx.format() == output_format::csv) {
    std::vector<std::vector<double>> rows;
    for (std::size_t t = 0; t < run.losses.size(); ++t) rows.push_back({static_cast<double>(t), run.losses[t]});
    print_csv({"step", "loss"}, rows);
    return;
  }
  std::vector<std::string> hashes;
  for (const std::uint64_t h : run.replica_hashes) hashes.push_back(hex_text(h));
  bool identical = true;
  for (const auto& h : hashes) identical &= h == hashes.front();
  nlohmann::json document{{"task", o.task},
                          {"steps", o.steps},
                          {"eps", o.eps},
                          {"learning_rate", o.learning_rate},
                          {"samples", o.samples},
                          {"replicas", run.replica_hashes.size()},
                          {"final_loss", json_number(task.loss(run.theta))},
                          {"loss", run.losses},
                          {"theta_hash", theta_hash(run.theta)},
                          {"replica_hashes", hashes},
                          {"replicas_identical", identical},
                          {"bytes_sent_per_step", static_cast<double>(run.bytes_sent) / static_cast<double>(o.steps)}};
  if (task.is_classification()) document["accuracy"] = task.accuracy(run.theta);
  print_json(document);
}

namespace {

/// One process: zo::spsa_step, nothing exchanged.
zo_run train_alone(const zo_train_options& o, const training_task& task) {
  zo::spsa_state<double> state{task.model().initial_parameters(o.seed), 0, o.seed};
  const zo::spsa_options<double> options{o.eps, o.learning_rate, o.samples};
  zo_run run;
  for (std::uint64_t t = 0; t < o.steps; ++t)
    run.losses.push_back(zo::spsa_step(state, options, [&](std::span<const double> theta) { return task.loss(theta); }).mean_loss());
  run.replica_hashes = {zo::replica_hash(state)};
  run.theta = std::move(state.theta);
  return run;
}

/// W threads of this process, one replica each; the first replica's run is returned.
zo_run train_threads(const zo_train_options& o, const training_task& task) {
  in_process_group group(o.workers);
  std::vector<zo_run> runs(static_cast<std::size_t>(o.workers));
  std::vector<std::exception_ptr> failures(runs.size());
  std::vector<std::thread> threads;
  for (int w = 0; w < o.workers; ++w)
    threads.emplace_back([&, w] {
      try {
        auto comm = group.member(w);
        runs[static_cast<std::size_t>(w)] = train_decentralized(comm, o, task);
      } catch (...) {
        failures[static_cast<std::size_t>(w)] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (const auto& f : failures)
    if (f) std::rethrow_exception(f);
  return std::move(runs.front());
}

void run_train(const context& ctx, const zo_train_options& o) {
  constexpr auto where = "tessera zo train";
  require_in_range<std::uint64_t>(where, "--steps", o.steps, 1, zo::max_step);
  require_in_range(where, "--workers", o.workers, 1, 256);
  if (o.distributed) return run_zo_distributed(ctx, o);
  const training_task task(o.task);
  print_zo_run(ctx, o, task, o.workers == 1 ? train_alone(o, task) : train_threads(o, task));
}

// The tour: one-byte SPSA over 4 threads on the linear regression; replicas compared by hash.
void tour(std::ostream& out) {
  const zo_train_options o{"linreg", 400, 1e-3, 0.01, 1, 4, false, 3};
  const training_task task(o.task);
  const zo_run run = train_threads(o, task);
  bool identical = true;
  for (const auto h : run.replica_hashes) identical &= h == run.replica_hashes.front();
  out << "  linear regression (16 -> 4), 4 replicas exchanging one byte per projected gradient\n"
      << "    loss " << task.loss(task.model().initial_parameters(3)) << " -> " << task.loss(run.theta) << " in "
      << o.steps << " steps, " << static_cast<double>(run.bytes_sent) / static_cast<double>(o.steps)
      << " bytes sent per replica and step; replicas " << (identical ? "bit-identical" : "DIFFER") << '\n';
}

}  // namespace

void add_zo_command(CLI::App& app, context& ctx) {
  CLI::App* zo_app = app.add_subcommand("zo", "Zeroth-order training: shared-seed SPSA (MeZO), one byte per gradient");
  zo_app->require_subcommand(1);
  auto o = std::make_shared<zo_train_options>();
  CLI::App* t = zo_app->add_subcommand("train", "Train a built-in task by SPSA; prints the loss curve and a hash of theta");
  t->add_option("--task", o->task, std::string(training_task_names))->capture_default_str();
  t->add_option("--steps", o->steps, "SPSA steps")->capture_default_str();
  t->add_option("--eps", o->eps, "Perturbation size epsilon")->capture_default_str();
  t->add_option("--lr", o->learning_rate, "Learning rate")->capture_default_str();
  t->add_option("--samples", o->samples, "Directions per step and replica (n-SPSA)")->capture_default_str();
  t->add_option("--workers", o->workers, "Replicas as threads of this process, exchanging one byte per gradient")
      ->capture_default_str();
  t->add_flag("--distributed", o->distributed, "Replicas are the ranks of this MPI job (run under mpirun)");
  t->add_option("--seed", o->seed, "Seed of the directions and of the initial parameters")->capture_default_str();
  t->callback([&ctx, o] { run_train(ctx, *o); });
  ctx.tour.push_back({"zo", "shared-seed SPSA with one byte per gradient across replicas", tour});
}

}  // namespace tessera::cli
