// The MLP model API: its forward pass against a hand computation, and EGGROLL training it on
// XOR to full accuracy (the `tessera es train --task mlp-xor` task).

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "support/test_support.hpp"
#include "tessera/core/optimizers.hpp"
#include "tessera/es/evolution_strategy.hpp"
#include "tessera/es/mlp.hpp"

namespace es = tessera::es;

TEST_CASE("the forward pass is act(x W + b) layer by layer, blocks in order W0, b0, W1, b1") {
  const es::mlp<double> model({2, 3, 1}, es::activation::relu, es::activation::sigmoid);
  REQUIRE(model.layout().size() == 2 * 3 + 3 + 3 * 1 + 1);
  std::vector<double> theta(model.layout().size());
  for (std::size_t j = 0; j < theta.size(); ++j) theta[j] = 0.1 * double(j) - 0.5;
  es::matrix<double> x(1, 2);
  x << 1.0, -2.0;
  // hidden_k = relu(x0 W0[0][k] + x1 W0[1][k] + b0[k]); W0 = theta[0..6) row-major, b0 = theta[6..9)
  double out = theta[12];
  for (int k = 0; k < 3; ++k) {
    const double h = std::max(0.0, 1.0 * theta[std::size_t(k)] - 2.0 * theta[std::size_t(3 + k)] + theta[std::size_t(6 + k)]);
    out += h * theta[std::size_t(9 + k)];
  }
  const auto y = model.forward(es::unperturbed_parameters<double>(model.layout(), theta), x);
  CHECK(y(0, 0) == Approx(1 / (1 + std::exp(-out))).epsilon(1e-15));
  CHECK_THROWS_AS(model.forward(es::unperturbed_parameters<double>(model.layout(), theta), es::matrix<double>(1, 3)),
                  tessera::invalid_argument);
  CHECK_THROWS_AS(es::mlp<double>({4}, es::activation::tanh), tessera::invalid_argument);
}

TEST_CASE("softmax cross-entropy and accuracy") {
  es::matrix<double> logits(2, 3);
  logits << 1, 2, 3, 1000, 0, -1000;  // the second row would overflow a naive exp
  const std::vector<std::size_t> labels{2, 0};
  const double first = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3;
  CHECK(es::softmax_cross_entropy<double>(logits, labels) == Approx(first / 2).epsilon(1e-14));
  CHECK(es::accuracy<double>(logits, labels) == 1.0);
  CHECK(es::accuracy<double>(logits, std::vector<std::size_t>{0, 1}) == 0.0);
  CHECK_THROWS_AS(es::softmax_cross_entropy<double>(logits, std::vector<std::size_t>{3, 0}), tessera::invalid_argument);
}

TEST_CASE("EGGROLL trains a 2-8-2 tanh MLP on XOR to full accuracy") {
  const es::mlp<double> model({2, 8, 2}, es::activation::tanh);
  es::matrix<double> x(4, 2);
  x << 0, 0, 0, 1, 1, 0, 1, 1;
  const std::vector<std::size_t> labels{0, 1, 1, 0};
  const es::es_options<double> options{128, 0.1, true, es::fitness_shaping::centered_ranks,
                                       es::nonfinite_fitness::reject, 2024};
  const es::evolution_strategy<double, es::low_rank, tessera::adam<double>> s(model.layout(), {1}, options, {0.05});
  auto state = s.initial_state(model.initial_parameters(1));
  const auto fitness = [&](const auto& view) { return -es::softmax_cross_entropy<double>(model.forward(view, x), labels); };
  for (int g = 0; g < 200; ++g) s.step(state, fitness);
  const auto logits = model.forward(es::unperturbed_parameters<double>(model.layout(), state.theta), x);
  CHECK(es::accuracy<double>(logits, labels) == 1.0);
  CHECK(es::softmax_cross_entropy<double>(logits, labels) < 0.1);
}
