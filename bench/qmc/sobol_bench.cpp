// Host QMC generation: values per second for Sobol' (unscrambled, LMS + digital shift, NUS),
// rank-1 lattices, beside Boost.Random's sobol engine (the C++ anchor) in the same binary.
// Run with OMP_NUM_THREADS=1 for per-core figures. Python anchors (SciPy, QMCPy) on the same
// sizes: bench/anchors/qmc.py.
#include <benchmark/benchmark.h>

#include <boost/random/sobol.hpp>
#include <cstdint>
#include <tessera/qmc/digital_net.hpp>
#include <tessera/qmc/lattice.hpp>
#include <vector>

namespace {

using namespace tessera::qmc;

void set_counters(benchmark::State& state, std::int64_t n, std::int64_t d, std::size_t value_bytes) {
  state.SetItemsProcessed(state.iterations() * n * d);
  state.SetBytesProcessed(state.iterations() * n * d * static_cast<std::int64_t>(value_bytes));
  state.counters["d"] = static_cast<double>(d);
}

template <class T>
void tessera_sobol(benchmark::State& state, net_randomization randomization, net_order order) {
  const auto d = static_cast<int>(state.range(0));
  const auto n = static_cast<std::uint64_t>(state.range(1));
  const digital_net_replication net(sobol(d, {order, randomization, 7}), 0);
  std::vector<T> out(n * static_cast<std::uint64_t>(d));
  for (auto _ : state) {
    generate_into<T>(tessera::exec::host, net, {0, n}, out);
    benchmark::DoNotOptimize(out.data());
  }
  set_counters(state, static_cast<std::int64_t>(n), d, sizeof(T));
}

void sobol_double(benchmark::State& state, net_randomization randomization, net_order order) {
  tessera_sobol<double>(state, randomization, order);
}

void sobol_float(benchmark::State& state, net_randomization randomization, net_order order) {
  tessera_sobol<float>(state, randomization, order);
}

// The one-off cost of randomizing and tabulating a replication (LMS: a W x W GF(2) product per
// generating-matrix column).
void prepare_replication(benchmark::State& state, net_randomization randomization) {
  const digital_net net = sobol(static_cast<int>(state.range(0)), {net_order::natural, randomization, 7});
  std::uint64_t r = 0;
  for (auto _ : state) benchmark::DoNotOptimize(digital_net_replication(net, r++));
}

template <class T>
void tessera_lattice(benchmark::State& state) {
  const auto d = static_cast<int>(state.range(0));
  const auto n = static_cast<std::uint64_t>(state.range(1));
  const rank1_lattice lattice = kuo_lattice(d, {lattice_order::radical_inverse, lattice_randomization::shift, 7});
  std::vector<T> out(n * static_cast<std::uint64_t>(d));
  for (auto _ : state) {
    generate_into<T>(tessera::exec::host, lattice, {0, n}, 0, out);
    benchmark::DoNotOptimize(out.data());
  }
  set_counters(state, static_cast<std::int64_t>(n), d, sizeof(T));
}

// Boost.Random's sobol engine yields the coordinates of successive Gray-order points, one
// 32-bit integer per call; the conversion to double is what a user writes.
void boost_sobol(benchmark::State& state) {
  const auto d = static_cast<std::size_t>(state.range(0));
  const auto n = static_cast<std::size_t>(state.range(1));
  std::vector<double> out(n * d);
  for (auto _ : state) {
    boost::random::sobol engine(d);
    for (double& x : out) x = static_cast<double>(engine()) * 0x1p-32;
    benchmark::DoNotOptimize(out.data());
  }
  set_counters(state, static_cast<std::int64_t>(n), static_cast<std::int64_t>(d), sizeof(double));
}

void shapes(benchmark::internal::Benchmark* b) {
  // Large arrays (128 MB of doubles: bound by the core's write bandwidth to memory) and
  // cache-sized blocks (256 KB, as a cubature loop consumes them).
  b->Args({1024, 1 << 14})->Args({64, 1 << 18})->Args({1024, 32})->Args({64, 512})->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK_CAPTURE(sobol_double, unscrambled, net_randomization::none, net_order::natural)->Apply(shapes);
BENCHMARK_CAPTURE(sobol_double, unscrambled_gray, net_randomization::none, net_order::gray)->Apply(shapes);
BENCHMARK_CAPTURE(sobol_double, lms_ds, net_randomization::lms_digital_shift, net_order::natural)->Apply(shapes);
BENCHMARK_CAPTURE(sobol_double, nus, net_randomization::nus, net_order::natural)->Apply(shapes);
BENCHMARK_CAPTURE(sobol_float, lms_ds, net_randomization::lms_digital_shift, net_order::natural)->Apply(shapes);
BENCHMARK_CAPTURE(prepare_replication, lms_ds, net_randomization::lms_digital_shift)->Arg(1024)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(prepare_replication, nus, net_randomization::nus)->Arg(1024)->Unit(benchmark::kMicrosecond);
BENCHMARK(tessera_lattice<double>)->Apply(shapes);
BENCHMARK(boost_sobol)->Apply(shapes);
BENCHMARK_MAIN();
