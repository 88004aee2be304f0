// Fast Gram multiply (O(n log n): FFTBR for a lattice, FWHT for a digital net) beside the dense
// Eigen matrix-vector product with the same Gram matrix (O(n^2)), n = 2^8 .. 2^12, d = 2, in the
// same binary. The fast benchmarks carry "dense_us" (the dense product of the same matrix, median
// of 15 after a warm-up, timed in the same process) and "speedup" = dense time / fast time.
#include <benchmark/benchmark.h>

#include <Eigen/Dense>
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <tessera/core/random.hpp>
#include <tessera/qmc/fast_gram.hpp>
#include <vector>

namespace {

std::uint64_t reverse(std::uint64_t i, int m) {
  std::uint64_t r = 0;
  for (int b = 0; b < m; ++b) r |= ((i >> b) & 1u) << (m - 1 - b);
  return r;
}

// A shifted rank-1 lattice in radical-inverse order (Kuo's vector: 1, 182667).
tessera::qmc::point_array<double> lattice(int m) {
  const std::size_t n = std::size_t{1} << m;
  const std::uint64_t z[2] = {1, 182667};
  const double shift[2] = {0.3141, 0.2718};
  tessera::qmc::point_array<double> x({n, 2});
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < 2; ++j) {
      const double v = static_cast<double>((reverse(i, m) * z[j]) % n) / static_cast<double>(n) + shift[j];
      x(i, j) = v >= 1 ? v - 1 : v;
    }
  return x;
}

// Van der Corput and Sobol's second coordinate (Pascal matrix mod 2), 32 bits, digitally shifted.
xt::xtensor<std::uint64_t, 2> digital_net(int m) {
  const std::size_t n = std::size_t{1} << m;
  const std::uint64_t shift[2] = {0x9e3779b9u, 0x7f4a7c15u};
  xt::xtensor<std::uint64_t, 2> x({n, 2});
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t v0 = shift[0], v1 = shift[1];
    for (int k = 0; k < m; ++k) {
      if (((i >> k) & 1u) == 0) continue;
      v0 ^= std::uint64_t{1} << (31 - k);
      for (int r = 0; r <= k; ++r)
        if ((r & ~k) == 0) v1 ^= std::uint64_t{1} << (31 - r);
    }
    x(i, 0) = v0;
    x(i, 1) = v1;
  }
  return x;
}

template <class Kernel, class Points>
Eigen::MatrixXd dense_gram(const Kernel& kernel, const Points& x) {
  using Coordinate = typename Points::value_type;
  const auto n = static_cast<Eigen::Index>(x.shape(0));
  Eigen::MatrixXd k(n, n);
  for (Eigen::Index i = 0; i < n; ++i)
    for (Eigen::Index l = 0; l < n; ++l)
      k(i, l) = kernel(std::span<const Coordinate>(&x(static_cast<std::size_t>(i), 0), 2),
                       std::span<const Coordinate>(&x(static_cast<std::size_t>(l), 0), 2));
  return k;
}

Eigen::VectorXd random_vector(std::size_t n) {
  std::vector<double> v(n);
  tessera::fill_normal(tessera::exec::host, tessera::random_stream(8), std::span<double>(v));
  return Eigen::Map<Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(n));
}

double dense_seconds(const Eigen::MatrixXd& k, const Eigen::VectorXd& y) {
  Eigen::VectorXd out(y.size());
  std::vector<double> times;
  for (int r = 0; r < 16; ++r) {
    const auto start = std::chrono::steady_clock::now();
    out.noalias() = k * y;
    benchmark::DoNotOptimize(out.data());
    const std::chrono::duration<double> t = std::chrono::steady_clock::now() - start;
    if (r > 0) times.push_back(t.count());
  }
  std::nth_element(times.begin(), times.begin() + 7, times.end());
  return times[7];
}

template <class Fast>
void time_fast(benchmark::State& state, const Fast& fast, const Eigen::MatrixXd& dense) {
  const Eigen::VectorXd y = random_vector(fast.size());
  const std::span<const double> ys(y.data(), fast.size());
  std::vector<double> out(fast.size());
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    fast.multiply(ys, out);
    benchmark::DoNotOptimize(out.data());
  }
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  const double fast_time = elapsed.count() / static_cast<double>(state.iterations());
  const double dense_time = dense_seconds(dense, y);
  state.counters["dense_us"] = dense_time * 1e6;
  state.counters["speedup"] = dense_time / fast_time;
}

void lattice_fast_multiply(benchmark::State& state) {
  const int m = static_cast<int>(state.range(0));
  const tessera::qmc::shift_invariant_kernel<double> kernel(2);
  const auto x = lattice(m);
  time_fast(state, tessera::qmc::lattice_gram_matrix<double>(kernel, x), dense_gram(kernel, x));
}

void digital_net_fast_multiply(benchmark::State& state) {
  const int m = static_cast<int>(state.range(0));
  const tessera::qmc::digitally_shift_invariant_kernel<double> kernel(2, 32);
  const auto x = digital_net(m);
  time_fast(state, tessera::qmc::digital_net_gram_matrix<double>(kernel, x), dense_gram(kernel, x));
}

void dense_multiply(benchmark::State& state) {
  const int m = static_cast<int>(state.range(0));
  const tessera::qmc::shift_invariant_kernel<double> kernel(2);
  const Eigen::MatrixXd k = dense_gram(kernel, lattice(m));
  const Eigen::VectorXd y = random_vector(static_cast<std::size_t>(k.rows()));
  Eigen::VectorXd out(y.size());
  for (auto _ : state) {
    out.noalias() = k * y;
    benchmark::DoNotOptimize(out.data());
  }
}

}  // namespace

BENCHMARK(lattice_fast_multiply)->DenseRange(8, 12)->Unit(benchmark::kMicrosecond);
BENCHMARK(digital_net_fast_multiply)->DenseRange(8, 12)->Unit(benchmark::kMicrosecond);
BENCHMARK(dense_multiply)->DenseRange(8, 12)->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
