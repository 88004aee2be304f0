// SGD with momentum and Adam (Kingma & Ba 2015, Algorithm 1), ascending, against their update
// rules written out by hand for two steps.

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "support/test_support.hpp"
#include "tessera/core/optimizers.hpp"

TEST_CASE("SGD with momentum: v = mu v + g, theta += eta v") {
  const tessera::sgd<double> sgd{0.1, 0.5};
  tessera::optimizer_state<double> state;
  std::vector<double> theta{1, -1};
  sgd.ascend(state, theta, std::vector<double>{2, 4});  // v = (2, 4)
  sgd.ascend(state, theta, std::vector<double>{1, 0});  // v = (2, 2)
  CHECK(theta == std::vector<double>{1 + 0.1 * 2 + 0.1 * 2, -1 + 0.1 * 4 + 0.1 * 2});
  CHECK(state.steps == 2);
  CHECK(state.first_moment == std::vector<double>{2, 2});
  const tessera::sgd<double> plain{0.5, 0};
  tessera::optimizer_state<double> none;
  plain.ascend(none, theta, std::vector<double>{1, 1});
  CHECK(none.first_moment.empty());  // plain SGD stores no moment
}

TEST_CASE("Adam: bias-corrected moments; the first step moves each coordinate by about eta") {
  const tessera::adam<double> adam{0.01, 0.9, 0.999, 1e-8};
  tessera::optimizer_state<double> state;
  std::vector<double> theta{0, 0};
  const std::vector<double> g1{3, -0.5}, g2{1, 1};
  adam.ascend(state, theta, g1);
  for (int j = 0; j < 2; ++j) CHECK(theta[j] == Approx(0.01 * g1[j] / (std::abs(g1[j]) + 1e-8)).epsilon(1e-15));
  const std::vector<double> after_one = theta;
  adam.ascend(state, theta, g2);
  for (int j = 0; j < 2; ++j) {
    const double m = 0.9 * 0.1 * g1[j] + 0.1 * g2[j];
    const double v = 0.999 * 0.001 * g1[j] * g1[j] + 0.001 * g2[j] * g2[j];
    const double step = 0.01 * (m / (1 - 0.81)) / (std::sqrt(v / (1 - 0.999 * 0.999)) + 1e-8);
    CHECK(theta[j] == Approx(after_one[j] + step).epsilon(1e-13));
  }
}

TEST_CASE("optimizer options are validated") {
  using tessera::test::message_of;
  CHECK(message_of([] { tessera::sgd<double>{0.1, 1.0}.validate(); }) ==
        "tessera::sgd: momentum = 1; expected 0 <= momentum < 1");
  CHECK_THROWS_AS((tessera::adam<float>{0.0f}.validate()), tessera::invalid_argument);
  CHECK_THROWS_AS((tessera::adam<double>{0.1, 0.9, 1.0}.validate()), tessera::invalid_argument);
  static_assert(tessera::ascent_optimizer<tessera::adam<float>, float>);
  static_assert(!tessera::ascent_optimizer<tessera::adam<float>, double>);
}
