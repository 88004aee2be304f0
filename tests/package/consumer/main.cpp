// A user's program built against an installed tessera: it includes the public header, and the
// headers of tessera's dependencies through tessera::tessera's usage requirements alone, and
// checks a few answers that could be wrong. Exit status 0 when all hold, 1 otherwise.
//
// Usage: app [expected tessera version]
#include <Eigen/Dense>
#include <LBFGS.h>
#include <boost/math/distributions/normal.hpp>
#include <tessera/core.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xmath.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string_view>

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "consumer: FAILED: %s\n", what);
    ++failures;
  }
}

// f(x) = sum_i (x_i - 3)^2, minimized at x = (3, ..., 3).
struct shifted_quadratic {
  double operator()(const Eigen::VectorXd& x, Eigen::VectorXd& grad) const {
    grad = 2.0 * (x.array() - 3.0).matrix();
    return (x.array() - 3.0).square().sum();
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {
    check(std::string_view(argv[1]) == tessera::version_string,
          "tessera::version_string equals the version the CMake package reports");
  }

  // Random123 1.14, examples/kat_vectors: philox4x32_10 of counter 0 under key 0.
  check(tessera::philox4x32_10({0, 0, 0, 0}, {0, 0}) ==
            tessera::philox_block{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        "Philox4x32-10 known answer (counter 0, key 0)");
  // The same file: counter and key all ones.
  check(tessera::philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
                               {0xffffffff, 0xffffffff}) ==
            tessera::philox_block{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        "Philox4x32-10 known answer (all ones)");

  // Draws of the stream (seed 42, ids 1, 2, 3) as recorded when the stream format was fixed in
  // tessera 0.1.0 (tests/core/random_test.cpp, "the stream format is stable across versions").
  const tessera::random_stream stream(42, 1, 2, 3);
  check(tessera::uniform<double>(stream, 1) == 0x1.e2748b9fea7e4p-3, "uniform<double> draw 1");
  check(tessera::normal<double>(stream, 0) == 0x1.36b6a1f4248d4p-6, "normal<double> draw 0");
  std::array<double, 7> filled{};
  tessera::fill_uniform(tessera::exec::host, stream, std::span<double>(filled), 3);
  bool fill_matches = true;
  for (std::uint64_t j = 0; j < filled.size(); ++j) {
    fill_matches = fill_matches && filled[j] == tessera::uniform<double>(stream, 3 + j);
  }
  check(fill_matches, "fill_uniform(exec::host) equals the scalar draws");

  // The dependencies reach the consumer through tessera::tessera.
  Eigen::Matrix2d m;
  m << 4.0, 1.0, 2.0, 3.0;
  check(m.determinant() == 10.0, "Eigen: det [[4, 1], [2, 3]] = 10");
  const xt::xarray<double> a = {{1.0, 2.0}, {3.0, 4.0}};
  check(xt::sum(a)() == 10.0, "xtensor: sum of 1..4 = 10");
  // The 97.5% standard normal quantile: Python 3.11 statistics.NormalDist().inv_cdf(0.975)
  // (Wichura's AS 241) gives 1.9599639845400536.
  check(std::abs(boost::math::quantile(boost::math::normal_distribution<double>(), 0.975) -
                 1.9599639845400536) < 1e-14,
        "Boost.Math: normal quantile at 0.975");
  LBFGSpp::LBFGSParam<double> parameters;
  LBFGSpp::LBFGSSolver<double> solver(parameters);
  Eigen::VectorXd x = Eigen::VectorXd::Zero(3);
  double fx = 0.0;
  shifted_quadratic objective;
  solver.minimize(objective, x, fx);
  check((x.array() - 3.0).abs().maxCoeff() < 1e-6, "LBFGSpp: minimum of sum (x_i - 3)^2");

  if (failures != 0) return 1;
  std::printf("consumer: tessera %s: all checks passed\n", tessera::version_string);
  return 0;
}
