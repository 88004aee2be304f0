// Host throughput of Halton generation, n = 2^16 points in d = 64 and 1024 dimensions, for each
// randomization, in values (coordinates) per second. The sequence and its random tables are
// built outside the timed loop. The anchors are Python (SciPy's qmc.Halton with scramble False
// and True, QMCPy's Halton with each randomize option): they are timed by a Python script in the
// same way, construction outside the timing, and compared in values per second.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <tessera/qmc/halton.hpp>

namespace {

using tessera::qmc::halton_randomization;

constexpr std::uint64_t points = std::uint64_t{1} << 16;

void halton_generate(benchmark::State& state, halton_randomization randomization) {
  const int dimension = static_cast<int>(state.range(0));
  const tessera::qmc::halton_sequence sequence({dimension, randomization, 7, 1});
  for (auto _ : state) {
    auto x = tessera::qmc::generate<double>(tessera::exec::host, sequence, {0, points});
    benchmark::DoNotOptimize(x.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(points) * dimension);
  state.SetLabel(std::string(tessera::qmc::to_string(randomization)));
}

void register_all() {
  constexpr halton_randomization all[] = {
      halton_randomization::none,          halton_randomization::digital_shift,
      halton_randomization::permutation,   halton_randomization::lms,
      halton_randomization::lms_digital_shift, halton_randomization::lms_permutation,
      halton_randomization::nus};
  for (const auto r : all) {
    benchmark::RegisterBenchmark(("halton/" + std::string(tessera::qmc::to_string(r))).c_str(),
                                 halton_generate, r)
        ->Arg(64)
        ->Arg(1024)
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
