// `tessera es train`: trains one of the built-in tasks (training_tasks.hpp) with EGGROLL
// (low-rank perturbations) or full-rank ES, and prints the fitness curve and the final loss.
#include <cstdint>
#include <memory>
#include <string>
#include <tessera/core/optimizers.hpp>
#include <tessera/core/validate.hpp>
#include <tessera/es/evolution_strategy.hpp>
#include <vector>

#include "cli.hpp"
#include "training_tasks.hpp"

namespace tessera::cli {
namespace {

struct es_train_options {
  std::string task = "mlp-xor";
  std::size_t population = 256;
  std::size_t rank = 1;
  bool full_rank = false;
  double sigma = 0.1;
  double learning_rate = 0.05;
  std::string optimizer = "adam";
  std::size_t generations = 100;
  std::uint64_t seed = 0;
};

struct training_curve {
  std::vector<double> mean_fitness, best_fitness;
};

template <class Noise, class Optimizer>
void train(const context& ctx, const es_train_options& o, Noise noise, Optimizer optimizer) {
  const training_task task(o.task);
  const es::es_options<double> options{o.population, o.sigma, true, es::fitness_shaping::centered_ranks,
                                       es::nonfinite_fitness::worst, o.seed};
  const es::evolution_strategy<double, Noise, Optimizer> strategy(task.model().layout(), noise, options, optimizer);
  auto state = strategy.initial_state(task.model().initial_parameters(o.seed));
  const double initial_loss = task.loss(state.theta);
  training_curve curve;
  for (std::size_t g = 0; g < o.generations; ++g) {
    const auto report = strategy.step(state, [&](const auto& view) { return -task.loss(view); });
    curve.mean_fitness.push_back(report.mean_fitness);
    curve.best_fitness.push_back(report.best_fitness);
  }
  if (ctx.format() == output_format::csv) {
    std::vector<std::vector<double>> rows;
    for (std::size_t g = 0; g < curve.mean_fitness.size(); ++g)
      rows.push_back({static_cast<double>(g), curve.mean_fitness[g], curve.best_fitness[g]});
    print_csv({"generation", "mean_fitness", "best_fitness"}, rows);
    return;
  }
  nlohmann::json document{{"task", o.task},
                          {"method", o.full_rank ? "full-rank ES" : "EGGROLL"},
                          {"population", o.population},
                          {"sigma", o.sigma},
                          {"generations", o.generations},
                          {"parameters", state.theta.size()},
                          {"initial_loss", json_number(initial_loss)},
                          {"final_loss", json_number(task.loss(state.theta))},
                          {"mean_fitness", curve.mean_fitness},
                          {"theta_hash", theta_hash(state.theta)}};
  if (!o.full_rank) document["rank"] = o.rank;
  if (task.is_classification()) document["accuracy"] = task.accuracy(state.theta);
  print_json(document);
}

template <class Noise>
void train_with_optimizer(const context& ctx, const es_train_options& o, Noise noise) {
  if (o.optimizer == "adam") return train(ctx, o, noise, adam<double>{o.learning_rate});
  if (o.optimizer == "sgd") return train(ctx, o, noise, sgd<double>{o.learning_rate, 0.9});
  throw usage_error("--optimizer = " + o.optimizer + "; expected adam or sgd");
}

void run_train(const context& ctx, const es_train_options& o) {
  require_in_range<std::size_t>("tessera es train", "--generations", o.generations, 1, 1'000'000);
  if (o.full_rank) return train_with_optimizer(ctx, o, es::full_rank{});
  train_with_optimizer(ctx, o, es::low_rank{o.rank});
}

// The tour: EGGROLL at rank 1 beside full-rank ES on the blobs task, same budget.
void tour(std::ostream& out) {
  const training_task task("mlp-blobs");
  const auto run = [&](auto noise) {
    const es::es_options<double> options{128, 0.1, true, es::fitness_shaping::centered_ranks,
                                         es::nonfinite_fitness::worst, 1};
    const es::evolution_strategy<double, decltype(noise), adam<double>> strategy(task.model().layout(), noise, options, {0.05});
    auto state = strategy.initial_state(task.model().initial_parameters(1));
    for (int g = 0; g < 60; ++g) strategy.step(state, [&](const auto& view) { return -task.loss(view); });
    return state.theta;
  };
  const auto low = run(es::low_rank{1});
  const auto full = run(es::full_rank{});
  out << "  three Gaussian blobs, a 2-16-3 MLP, 128 members x 60 generations, no backpropagation\n"
      << "    EGGROLL (rank 1): loss " << task.loss(low) << ", accuracy " << task.accuracy(low) << '\n'
      << "    full-rank ES:     loss " << task.loss(full) << ", accuracy " << task.accuracy(full) << '\n';
}

}  // namespace

void add_es_command(CLI::App& app, context& ctx) {
  CLI::App* es_app = app.add_subcommand("es", "Evolution strategies: EGGROLL low-rank and full-rank ES");
  es_app->require_subcommand(1);
  auto o = std::make_shared<es_train_options>();
  CLI::App* t = es_app->add_subcommand("train", "Train a built-in task without backpropagation; prints the fitness curve");
  t->add_option("--task", o->task, std::string(training_task_names))->capture_default_str();
  t->add_option("--population", o->population, "Members per generation (even: antithetic pairs)")->capture_default_str();
  t->add_option("--rank", o->rank, "Rank r of the perturbations")->capture_default_str();
  t->add_flag("--full-rank", o->full_rank, "Dense Gaussian perturbations (OpenAI-ES) instead of EGGROLL");
  t->add_option("--sigma", o->sigma, "Perturbation scale")->capture_default_str();
  t->add_option("--lr", o->learning_rate, "Learning rate")->capture_default_str();
  t->add_option("--optimizer", o->optimizer, "adam or sgd (momentum 0.9)")->capture_default_str();
  t->add_option("--generations", o->generations, "Generations to run")->capture_default_str();
  t->add_option("--seed", o->seed, "Seed of the noise and of the initial parameters")->capture_default_str();
  t->callback([&ctx, o] { run_train(ctx, *o); });
  ctx.tour.push_back({"es", "EGGROLL low-rank evolution strategies beside full-rank ES", tour});
}

}  // namespace tessera::cli
