// Shared-seed SPSA (MeZO): the projected gradient against zᵀ∇L, the n-SPSA update, training a
// least-squares problem to a stated loss, the drift of in-place restoration, checkpoints that
// resume bit for bit, and the errors.

#include <catch2/catch.hpp>

#include <Eigen/Dense>

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tessera/core/random.hpp>
#include <tessera/zo/checkpoint.hpp>
#include <tessera/zo/spsa.hpp>
#include <vector>

#include "support/test_support.hpp"
#include "zo/least_squares.hpp"

namespace zo = tessera::zo;
using tessera::test::least_squares;
using tessera::test::domain_message_of;
using tessera::test::message_of;

namespace {

/// The direction of `id`, regenerated independently of the library's passes.
template <class T>
std::vector<T> direction(const zo::perturbation_id& id, std::size_t n) {
  std::vector<T> z(n);
  tessera::fill_normal<T>(tessera::exec::host, tessera::random_stream(id.seed, id.worker, std::uint32_t(id.step), id.sample),
                          std::span<T>(z));
  return z;
}

/// θ with entries N(0, 1) from its own stream.
template <class T>
std::vector<T> random_theta(std::size_t n, std::uint64_t seed) {
  std::vector<T> theta(n);
  tessera::fill_normal<T>(tessera::exec::host, tessera::random_stream(seed, 99), std::span<T>(theta));
  return theta;
}

constexpr double unit_roundoff_double = 0x1p-53;
constexpr double unit_roundoff_float = 0x1p-24;

}  // namespace

TEST_CASE("projected gradient of a quadratic equals zᵀ∇L up to rounding, in both restorations") {
  // L(θ ± εz) = L ± ε zᵀ∇L + ½ε² zᵀHz exactly for a quadratic, so the central difference has no
  // truncation error. What is left is rounding: each loss carries a relative error of about
  // (rows + cols) u and each perturbed entry u |θ_i ± εz_i|, and the difference divides by 2ε.
  const least_squares task;
  const auto loss = [&](std::span<const double> t) { return task.loss(t); };
  for (const auto restore : {zo::restoration::exact, zo::restoration::in_place}) {
    for (std::uint32_t sample = 0; sample < 8; ++sample) {
      std::vector<double> theta = random_theta<double>(16, sample);
      const std::vector<double> before = theta;
      const zo::perturbation_id id{5, 17, 0, sample};
      const double eps = 1e-3;
      const auto s = zo::projected_gradient(std::span<double>(theta), id, eps, restore, loss);

      const std::vector<double> z = direction<double>(id, 16);
      const Eigen::VectorXd grad = task.gradient(before);
      double expected = 0, scale = s.loss_plus + s.loss_minus;
      for (int i = 0; i < 16; ++i) {
        expected += z[std::size_t(i)] * grad[i];
        scale += std::abs(grad[i]) * (std::abs(before[std::size_t(i)]) + eps * std::abs(z[std::size_t(i)]));
      }
      const double tolerance = 4 * (least_squares::rows + least_squares::cols) * unit_roundoff_double * scale / (2 * eps);
      INFO("restoration " << int(restore) << ", sample " << sample << ": g " << s.projected_gradient << ", zᵀ∇L "
                          << expected << ", tolerance " << tolerance);
      CHECK(std::abs(s.projected_gradient - expected) <= tolerance);
      CHECK(s.projected_gradient == (s.loss_plus - s.loss_minus) / (2 * eps));
      if (restore == zo::restoration::exact) CHECK(theta == before);
    }
  }
}

TEST_CASE("projected gradient of a cubic carries the O(ε²) term (ε²/3) Σ z_i³") {
  // L(θ) = Σ θ_i³ / 3: (L(θ + εz) − L(θ − εz)) / 2ε = Σ θ_i² z_i + (ε²/3) Σ z_i³ exactly.
  const auto cubic = [](std::span<const double> t) {
    double sum = 0;
    for (const double v : t) sum += v * v * v / 3;
    return sum;
  };
  std::vector<double> theta = random_theta<double>(32, 3);
  const std::vector<double> before = theta;
  const zo::perturbation_id id{8, 2, 0, 0};
  const double eps = 0.05;
  const auto s = zo::projected_gradient(std::span<double>(theta), id, eps, zo::restoration::exact, cubic);
  const std::vector<double> z = direction<double>(id, 32);
  double first_order = 0, third_order = 0;
  for (std::size_t i = 0; i < 32; ++i) {
    first_order += before[i] * before[i] * z[i];
    third_order += eps * eps / 3 * z[i] * z[i] * z[i];
  }
  INFO("g " << s.projected_gradient << ", first order " << first_order << ", third-order term " << third_order);
  CHECK(std::abs(third_order) > 1e-3);  // visible at this ε
  CHECK(s.projected_gradient == Approx(first_order + third_order).epsilon(1e-10));
}

TEST_CASE("an n-SPSA step subtracts η Σ_j (g_j / n) z_j with the directions regenerated") {
  const least_squares task;
  const auto loss = [&](std::span<const float> t) { return task.loss(t); };
  zo::spsa_state<float> state{random_theta<float>(16, 1), 41, 1234};
  const zo::spsa_options<float> options{1e-3f, 2e-4f, 3, zo::restoration::exact};
  const std::vector<float> before = state.theta;
  const auto record = zo::spsa_step(state, options, loss);
  REQUIRE(record.samples.size() == 3);
  CHECK(state.step == 42);

  // Every sample's g is its own central difference, and the update is the documented one, term
  // after term in sample order, so it is reproduced to the last bit.
  std::vector<float> expected = before;
  for (std::uint32_t j = 0; j < 3; ++j) {
    std::vector<float> probe = before;
    const auto alone = zo::projected_gradient(std::span<float>(probe), {1234, 41, 0, j}, 1e-3f, zo::restoration::exact, loss);
    CHECK(alone.projected_gradient == record.samples[j].projected_gradient);
    const std::vector<float> z = direction<float>({1234, 41, 0, j}, 16);
    const float coefficient = options.learning_rate * record.samples[j].projected_gradient / 3.0f;
    for (std::size_t i = 0; i < 16; ++i) expected[i] -= coefficient * z[i];
  }
  CHECK(state.theta == expected);
  CHECK(record.mean_loss() ==
        Approx((record.samples[0].loss_plus + record.samples[0].loss_minus + record.samples[1].loss_plus +
                record.samples[1].loss_minus + record.samples[2].loss_plus + record.samples[2].loss_minus) /
               6));
}

TEMPLATE_TEST_CASE("SPSA fits the 64 x 16 least-squares problem to within 1% of its minimum in 500 steps", "", float,
                   double) {
  // From θ = 0 (L = 514.0, L* = 6.6935) with ε = 1e-3 and η = 5e-4 the loss after 500 steps was
  // measured at 1.0005 L* (double) and 1.0001 L* (float) with n = 1, and 1.0001 L* with n = 4.
  const least_squares task;
  const double optimum = task.optimal_loss();
  const auto loss = [&](std::span<const TestType> t) { return task.loss(t); };
  for (const std::uint32_t n : {1u, 4u}) {
    for (const auto restore : {zo::restoration::exact, zo::restoration::in_place}) {
      zo::spsa_state<TestType> state{std::vector<TestType>(16, TestType(0)), 0, 11};
      const zo::spsa_options<TestType> options{TestType(1e-3), TestType(5e-4), n, restore};
      for (int k = 0; k < 500; ++k) zo::spsa_step(state, options, loss);
      const double final_loss = task.loss(std::span<const TestType>(state.theta));
      INFO("n " << n << ", restoration " << int(restore) << ": L = " << final_loss << ", L* = " << optimum);
      CHECK(final_loss <= 1.01 * optimum);
    }
  }
}

TEST_CASE("in-place restoration drifts within its bound; exact restoration returns every bit") {
  // One direction moves each entry by at most 3u(|θ| + |fl(εz)|)(1 + 2u) (spsa.hpp); 100
  // directions by at most 100 times the largest such bound. The drift is real in float: some
  // entries do not come back.
  constexpr std::size_t n = 20'000;
  const float eps = 1e-3f;
  const auto trivial = [](std::span<const float> t) { return t[0]; };
  const std::vector<float> start = random_theta<float>(n, 4);

  std::vector<float> theta = start;
  zo::projected_gradient(std::span<float>(theta), {6, 0, 0, 0}, eps, zo::restoration::in_place, trivial);
  const std::vector<float> z = direction<float>({6, 0, 0, 0}, n);
  double worst_ratio = 0, largest_bound = 0;
  std::size_t moved = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = std::abs(double(eps * z[i]));
    const double bound = 3 * unit_roundoff_float * (std::abs(double(start[i])) + d) * (1 + 2 * unit_roundoff_float);
    worst_ratio = std::max(worst_ratio, std::abs(double(theta[i]) - double(start[i])) / bound);
    largest_bound = std::max(largest_bound, bound);
    moved += theta[i] != start[i];
  }
  INFO("one direction: largest drift / bound " << worst_ratio << ", entries moved " << moved << " of " << n);
  CHECK(worst_ratio <= 1.0);
  CHECK(moved > 0);

  std::vector<float> exact = start;
  theta = start;
  for (std::uint32_t j = 0; j < 100; ++j) {
    zo::projected_gradient(std::span<float>(theta), {6, 0, 0, j}, eps, zo::restoration::in_place, trivial);
    zo::projected_gradient(std::span<float>(exact), {6, 0, 0, j}, eps, zo::restoration::exact, trivial);
  }
  double drift = 0, relative = 0;
  for (std::size_t i = 0; i < n; ++i) {
    drift = std::max(drift, std::abs(double(theta[i]) - double(start[i])));
    relative = std::max(relative, std::abs(double(theta[i]) - double(start[i])) / std::abs(double(start[i])));
  }
  INFO("100 directions: largest drift " << drift << " (largest relative " << relative << "), linear bound "
                                        << 100 * largest_bound);
  CHECK(drift <= 100 * largest_bound);
  CHECK(exact == start);
}

TEST_CASE("a saved state resumes bit for bit; a checkpoint of another configuration is refused") {
  const least_squares task;
  const auto loss = [&](std::span<const float> t) { return task.loss(t); };
  const zo::spsa_options<float> options{1e-3f, 5e-4f, 2, zo::restoration::in_place};
  zo::spsa_state<float> state{std::vector<float>(16, 0.0f), 0, 77};
  for (int k = 0; k < 30; ++k) zo::spsa_step(state, options, loss);

  std::stringstream saved;
  zo::save_state(saved, options, state);
  const zo::spsa_state<float> copy = state;  // state is a value: a copy is a checkpoint too
  for (int k = 0; k < 40; ++k) zo::spsa_step(state, options, loss);

  zo::spsa_state<float> resumed = zo::load_state(saved, options, 16);
  zo::spsa_state<float> from_copy = copy;
  CHECK(resumed == copy);
  for (int k = 0; k < 40; ++k) {
    zo::spsa_step(resumed, options, loss);
    zo::spsa_step(from_copy, options, loss);
  }
  CHECK(resumed == state);
  CHECK(from_copy == state);

  std::stringstream again;
  zo::save_state(again, options, state);
  zo::spsa_options<float> other = options;
  other.eps = 2e-3f;
  CHECK_THROWS_AS(zo::load_state(again, other, 16), tessera::invalid_argument);
  std::stringstream once_more;
  zo::save_state(once_more, options, state);
  CHECK_THROWS_AS(zo::load_state(once_more, options, 17), tessera::invalid_argument);
}

TEST_CASE("bad parameters are refused with the parameter named") {
  const auto loss = [](std::span<const double> t) { return t[0] * t[0]; };
  zo::spsa_state<double> state{{1.0, 2.0}, 0, 1};
  zo::spsa_options<double> options;
  options.eps = 0;
  CHECK(message_of([&] { zo::spsa_step(state, options, loss); }) ==
        "tessera::zo::spsa_step: eps = 0; expected a finite number > 0");
  options = {};
  options.learning_rate = -1;
  CHECK(message_of([&] { zo::spsa_step(state, options, loss); }) ==
        "tessera::zo::spsa_step: learning_rate = -1; expected a finite number > 0");
  options = {};
  options.samples = 0;
  CHECK(message_of([&] { zo::spsa_step(state, options, loss); }) ==
        "tessera::zo::spsa_step: samples = 0; expected 1 <= samples < 2^32 - 1");
  options = {};
  zo::spsa_state<double> empty{{}, 0, 1};
  CHECK(message_of([&] { zo::spsa_step(empty, options, loss); }) ==
        "tessera::zo::spsa_step: theta.size() = 0; expected >= 1");
  zo::spsa_state<double> late{{1.0}, std::uint64_t{1} << 32, 1};
  CHECK(message_of([&] { zo::spsa_step(late, options, loss); }) ==
        "tessera::zo::spsa_step: step = 4294967296; expected step < 2^32");
  std::vector<double> theta{1.0};
  CHECK(message_of([&] {
          zo::projected_gradient(std::span<double>(theta), {0, 0, 0, 0}, -1e-3, zo::restoration::exact, loss);
        }) == "tessera::zo::projected_gradient: eps = -0.001; expected a finite number > 0");
  CHECK(message_of([&] { zo::perturbation_stream({0, 0, 0, zo::rounding_sample_id}); }) ==
        "tessera::zo::perturbation_stream: sample = 4294967295; expected sample < 2^32 - 1");
  CHECK(state.step == 0);
}

TEST_CASE("a non-finite loss is a domain_error naming the step and sample; θ and step are restored") {
  // The loss turns NaN on its 4th call: step 0's sample 1, at θ − εz.
  for (const auto restore : {zo::restoration::exact, zo::restoration::in_place}) {
    int calls = 0;
    const auto failing = [&](std::span<const float> t) {
      return ++calls == 4 ? std::numeric_limits<float>::quiet_NaN() : t[0] * t[0] + t[1];
    };
    zo::spsa_state<float> state{{0.5f, -1.5f, 2.0f}, 0, 9};
    const zo::spsa_state<float> before = state;
    const zo::spsa_options<float> options{1e-3f, 1e-2f, 2, restore};
    CHECK(domain_message_of([&] { zo::spsa_step(state, options, failing); }) ==
          "tessera::zo::spsa_step: loss_minus = nan at step 0, worker 0, sample 1; expected a finite number");
    CHECK(state.step == 0);
    for (std::size_t i = 0; i < 3; ++i)
      CHECK(std::abs(state.theta[i] - before.theta[i]) <= 2 * 3 * unit_roundoff_float * (std::abs(before.theta[i]) + 0.01f));
    if (restore == zo::restoration::exact) CHECK(state == before);
  }
}

TEST_CASE("a loss that throws leaves θ restored") {
  for (const auto restore : {zo::restoration::exact, zo::restoration::in_place}) {
    int calls = 0;
    const auto throwing = [&](std::span<const double> t) {
      if (++calls == 2) throw std::runtime_error("data loader failed");
      return t[0];
    };
    std::vector<double> theta{0.25, 4.0, -3.0};
    const std::vector<double> before = theta;
    CHECK_THROWS_WITH(zo::projected_gradient(std::span<double>(theta), {1, 2, 3, 4}, 1e-3, restore, throwing),
                      "data loader failed");
    for (std::size_t i = 0; i < 3; ++i)
      CHECK(std::abs(theta[i] - before[i]) <= 3 * unit_roundoff_double * (std::abs(before[i]) + 0.01));
  }
}
