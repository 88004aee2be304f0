// Runs of the evolution strategy: training to a stated loss, saved states that resume bit for
// bit, the distributed step equal to the local one, and the errors of specs/es.md.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <sstream>
#include <thread>
#include <vector>

#include "regression_task.hpp"
#include "support/test_support.hpp"
#include "tessera/core/in_process_communicator.hpp"
#include "tessera/core/optimizers.hpp"
#include "tessera/es/checkpoint.hpp"
#include "tessera/es/evolution_strategy.hpp"

namespace es = tessera::es;
using tessera::test::message_of;

namespace {

using regression = tessera::test::regression_task;

template <class Noise, class Optimizer>
double train(const regression& task, Noise noise, Optimizer optimizer, int generations) {
  const es::es_options<double> options{64, 0.05, true, es::fitness_shaping::centered_ranks,
                                       es::nonfinite_fitness::reject, 3};
  const es::evolution_strategy<double, Noise, Optimizer> s(task.layout(), noise, options, optimizer);
  auto state = s.initial_state(std::vector<double>(32, 0.0));
  for (int g = 0; g < generations; ++g) s.step(state, [&](const auto& view) { return -task.loss(view); });
  return task.loss(es::unperturbed_parameters<double>(s.layout(), state.theta));
}

}  // namespace

TEST_CASE("EGGROLL and full-rank ES fit a linear regression with Adam") {
  const regression task;
  const double initial = task.y.squaredNorm() / double(task.y.size());  // loss at W = 0
  // 300 generations of 64 members (measured: initial 9.59, EGGROLL r=1 9.6e-5, full-rank 2.1e-3).
  const double low = train(task, es::low_rank{1}, tessera::adam<double>{0.05}, 300);
  const double full = train(task, es::full_rank{}, tessera::adam<double>{0.05}, 300);
  INFO("initial " << initial << ", EGGROLL r=1 " << low << ", full-rank " << full);
  CHECK(low < 1e-3 * initial);
  CHECK(full < 1e-3 * initial);
}

TEST_CASE("a saved state resumes bit for bit; another configuration's state is refused") {
  const regression task;
  const es::es_options<double> options{16, 0.1, true, es::fitness_shaping::z_scores, es::nonfinite_fitness::reject, 11};
  using strategy = es::evolution_strategy<double, es::low_rank, tessera::adam<double>>;
  const strategy s(task.layout(), {2}, options, {0.01});
  const auto fitness = [&](const auto& view) { return -task.loss(view); };
  auto uninterrupted = s.initial_state(std::vector<double>(32, 0.1));
  for (int g = 0; g < 6; ++g) s.step(uninterrupted, fitness);

  auto first_half = s.initial_state(std::vector<double>(32, 0.1));
  for (int g = 0; g < 3; ++g) s.step(first_half, fitness);
  std::stringstream saved;
  es::save_state(saved, s, first_half);
  auto resumed = es::load_state(saved, s);
  CHECK(resumed == first_half);
  for (int g = 0; g < 3; ++g) s.step(resumed, fitness);
  CHECK(resumed == uninterrupted);

  const strategy other(task.layout(), {1}, options, {0.01});  // another rank
  std::stringstream again;
  es::save_state(again, s, first_half);
  CHECK_THAT(message_of([&] { (void)es::load_state(again, other); }),
             Catch::Contains("checkpoint from a different configuration"));
  std::stringstream truncated(saved.str().substr(0, 30));
  CHECK_THROWS_AS(es::load_state(truncated, s), tessera::invalid_argument);
}

TEST_CASE("the distributed step of a single process equals the local step") {
  const regression task;
  const es::es_options<double> options{10, 0.1, true, es::fitness_shaping::centered_ranks, es::nonfinite_fitness::reject, 4};
  const es::evolution_strategy<double, es::low_rank, tessera::sgd<double>> s(task.layout(), {2}, options, {0.05, 0.9});
  const auto fitness = [&](const auto& view) { return -task.loss(view); };
  auto local = s.initial_state(std::vector<double>(32, 0.0));
  auto distributed = local;
  tessera::single_process_communicator alone;
  for (int g = 0; g < 4; ++g) {
    const auto a = s.step(local, fitness);
    const auto b = s.step(distributed, fitness, alone);
    CHECK(b.bytes_sent == 10 * sizeof(double));
    CHECK(a.best_member == b.best_member);
  }
  CHECK(local == distributed);
}

TEST_CASE("three threads sharing a population end bit-identical to one process running it all") {
  const regression task;
  // 10 members over 3 ranks: slices of 4, 4 and 2 (the last padded in the exchange)
  const es::es_options<double> options{10, 0.1, true, es::fitness_shaping::centered_ranks, es::nonfinite_fitness::reject, 8};
  const es::evolution_strategy<double, es::low_rank, tessera::adam<double>> s(task.layout(), {2}, options, {0.02});
  const auto fitness = [&](const auto& view) { return -task.loss(view); };
  auto local = s.initial_state(std::vector<double>(32, 0.0));
  for (int g = 0; g < 5; ++g) s.step(local, fitness);

  tessera::in_process_group group(3);
  std::vector<es::es_state<double>> replicas(3, s.initial_state(std::vector<double>(32, 0.0)));
  std::vector<std::uint64_t> bytes(3);
  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r)
    threads.emplace_back([&, r] {
      auto comm = group.member(r);
      for (int g = 0; g < 5; ++g) bytes[std::size_t(r)] += s.step(replicas[std::size_t(r)], fitness, comm).bytes_sent;
    });
  for (auto& t : threads) t.join();
  for (const auto& replica : replicas) CHECK(replica == local);
  CHECK(bytes[0] == 5 * 4 * sizeof(double));  // one slice of 4 fitness values per generation
}

TEST_CASE("bad configurations and non-finite fitness are clear errors") {
  es::parameter_layout layout;
  layout.add_matrix(4, 3);
  layout.add_vector(3);
  const es::es_options<double> good{8, 0.1, true, es::fitness_shaping::centered_ranks, es::nonfinite_fitness::reject, 0};
  using low_sgd = es::evolution_strategy<double, es::low_rank, tessera::sgd<double>>;
  CHECK(message_of([&] { low_sgd(layout, {4}, good, {}); }) ==
        "tessera::es::low_rank: rank = 4; expected 1 <= rank <= min(m, n) = 3 (block 0)");
  CHECK_THROWS_AS(low_sgd(layout, {0}, good, {}), tessera::invalid_argument);
  auto bad = good;
  bad.sigma = 0;
  CHECK(message_of([&] { low_sgd(layout, {1}, bad, {}); }) ==
        "tessera::es::es_options: sigma = 0; expected a finite number > 0");
  bad = good;
  bad.population = 7;
  CHECK(message_of([&] { low_sgd(layout, {1}, bad, {}); }) ==
        "tessera::es::es_options: population = 7; expected an even number with antithetic pairs");
  CHECK_THROWS_AS(low_sgd(layout, {1}, good, {-1.0}), tessera::invalid_argument);  // learning rate

  const low_sgd s(layout, {1}, good, {});
  auto state = s.initial_state(std::vector<double>(layout.size(), 0.0));
  CHECK_THROWS_AS(s.initial_state(std::vector<double>(3, 0.0)), tessera::invalid_argument);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const auto diverging = [&](const auto& view) { return view.member().index == 2 ? nan : 1.0; };
  try {
    s.step(state, diverging);
    FAIL("no exception");
  } catch (const tessera::domain_error& e) {
    CHECK(std::string(e.what()) ==
          "tessera::es::shape_fitness: fitness[4] = nan; expected a finite number (or pass nonfinite_fitness::worst)");
  }
  CHECK(state.generation == 0);  // the failed generation changed nothing

  auto tolerant = good;
  tolerant.nonfinite = es::nonfinite_fitness::worst;
  const low_sgd t(layout, {1}, tolerant, {});
  auto report = t.step(state, [&](const auto& view) { return view.member().index == 2 ? nan : double(view.member().index); });
  CHECK(state.generation == 1);
  CHECK(report.best_fitness == 3.0);
  CHECK(report.mean_fitness == Approx((0 + 0 + 1 + 1 + 3 + 3) / 6.0));
}
