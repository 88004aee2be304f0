// Time to integrate Keister's function to an absolute tolerance of 1e-4 with the guaranteed rules
// (QMCPy's CubQMCNetG / CubQMCLatticeG are the anchors, bench/anchors/qmc.py, same tolerance).
// The counter n is the number of integrand evaluations the rule needed.
#include <benchmark/benchmark.h>

#include <tessera/qmc/cubature/guaranteed.hpp>
#include <tessera/qmc/integrand/keister.hpp>

namespace {

using namespace tessera::qmc;

template <class Rule>
void keister_to_tolerance(benchmark::State& state, Rule rule) {
  const keister<double> f(static_cast<int>(state.range(0)));
  guaranteed_cubature_options options;
  options.tolerance.abs_tol = 1e-4;
  cubature_result result;
  for (auto _ : state) result = rule(f, options);
  state.counters["n"] = static_cast<double>(result.n);
  state.counters["error"] = std::abs(result.estimate - f.exact_value());
}

void keister_net_g(benchmark::State& state) {
  keister_to_tolerance(state, [&](const auto& f, const auto& o) {
    return integrate_net_g(tessera::exec::host, f, sobol(f.dimension(), {net_order::natural, net_randomization::lms_digital_shift, 7}), o);
  });
}

void keister_lattice_g(benchmark::State& state) {
  keister_to_tolerance(state, [&](const auto& f, const auto& o) {
    return integrate_lattice_g(tessera::exec::host, f, kuo_lattice(f.dimension(), {lattice_order::radical_inverse, lattice_randomization::shift, 7}), o);
  });
}

}  // namespace

BENCHMARK(keister_net_g)->Arg(3)->Arg(8)->Unit(benchmark::kMillisecond);
BENCHMARK(keister_lattice_g)->Arg(3)->Arg(8)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
