// Rank-1 lattices: reference points, both orders, index ranges, the random shift.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <tessera/qmc/lattice.hpp>
#include <vector>
#include "support/test_support.hpp"

using tessera::test::ks_critical;
using tessera::test::ks_uniform;

using namespace tessera::qmc;
using tessera::exec::host;

namespace {

constexpr lattice_options unshifted(lattice_order order, std::uint64_t size = 0) {
  return {order, lattice_randomization::none, 0, size};
}

}  // namespace

TEST_CASE("radical-inverse points equal QMCPy's Lattice with Kuo's vector") {
  // qmcpy 2.4: z = Kuo's lattice-39101-1024-1048576.3600 vector;
  // qmcpy.Lattice(3600, randomize=False, order='RADICAL INVERSE', generating_vector=z, m_max=32)
  //   .gen_samples(n_min=2**10, n_max=2**11)[[0, 1, 7, 1000]][:, [0, 1, 2, 3599]] * 2**32
  const std::uint64_t expected[4][4] = {{2097152, 828375040, 1398800384, 2376073216},
                                        {2149580800, 2975858688, 3546284032, 228589568},
                                        {3760193536, 3512729600, 4083154944, 3986685952},
                                        {400556032, 3600809984, 882900992, 2858418176}};
  const std::uint64_t rows[4] = {0, 1, 7, 1000};
  const int dims[4] = {0, 1, 2, 3599};
  const rank1_lattice lattice = kuo_lattice(3600, unshifted(lattice_order::radical_inverse));
  for (int r = 0; r < 4; ++r) {
    const std::uint64_t i = 1024 + rows[r];
    const auto x = generate<double>(host, lattice, {i, i + 1});
    for (int k = 0; k < 4; ++k) CHECK(std::ldexp(x(0, dims[k]), 32) == static_cast<double>(expected[r][k]));
  }
}

TEST_CASE("natural order is frac(i z / n), for any n") {
  for (std::uint64_t n : {std::uint64_t{8}, std::uint64_t{1000}, std::uint64_t{65537}}) {
    const rank1_lattice lattice = kuo_lattice(5, unshifted(lattice_order::natural, n));
    const auto x = generate<double>(host, lattice, {0, n});
    for (std::uint64_t i = 0; i < n; ++i)
      for (int j = 0; j < 5; ++j) {
        const std::uint64_t residue = i * (tessera::qmc::detail::kuo_lattice_vector[j] % n) % n;
        REQUIRE(std::abs(x(i, j) - static_cast<double>(residue) / static_cast<double>(n)) <= 0x1p-53);
      }
  }
}

TEST_CASE("the first 2^m radical-inverse points are the natural lattice of size 2^m") {
  const std::uint64_t n = 1 << 9;
  const auto ri = generate<double>(host, kuo_lattice(6, unshifted(lattice_order::radical_inverse)), {0, n});
  const auto nat = generate<double>(host, kuo_lattice(6, unshifted(lattice_order::natural, n)), {0, n});
  std::set<std::vector<double>> a, b;
  for (std::uint64_t i = 0; i < n; ++i) {
    a.insert({ri(i, 0), ri(i, 1), ri(i, 2), ri(i, 3), ri(i, 4), ri(i, 5)});
    b.insert({nat(i, 0), nat(i, 1), nat(i, 2), nat(i, 3), nat(i, 4), nat(i, 5)});
  }
  CHECK(a.size() == n);
  CHECK(a == b);
}

TEST_CASE("index ranges equal the same rows of a longer generation") {
  for (auto order : {lattice_order::radical_inverse, lattice_order::natural}) {
    const rank1_lattice lattice = kuo_lattice(9, {order, lattice_randomization::shift, 4, 5000});
    const auto all = generate<float>(host, lattice, {0, 5000}, 2);
    const auto slice = generate<float>(host, lattice, {1234, 4321}, 2);
    for (std::size_t i = 0; i < slice.shape(0); ++i)
      for (std::size_t j = 0; j < 9; ++j) REQUIRE(slice(i, j) == all(1234 + i, j));
  }
}

TEST_CASE("a random shift moves every point uniformly and keeps the lattice") {
  const rank1_lattice shifted = kuo_lattice(3, {lattice_order::radical_inverse, lattice_randomization::shift, 77});
  const rank1_lattice plain = kuo_lattice(3, unshifted(lattice_order::radical_inverse));
  const auto base = generate<double>(host, plain, {0, 64});
  std::vector<double> first;
  for (std::uint64_t r = 0; r < 4096; ++r) {
    const auto x = generate<double>(host, shifted, {0, 64}, r);
    first.push_back(x(0, 1));
    if (r < 8) {  // x_i - x_0 mod 1 is the unshifted point i
      for (std::size_t i = 0; i < 64; ++i)
        for (std::size_t j = 0; j < 3; ++j) {
          double difference = x(i, j) - x(0, j);
          difference -= std::floor(difference);
          REQUIRE(std::min(std::abs(difference - base(i, j)), 1 - std::abs(difference - base(i, j))) <= 0x1p-52);
        }
    }
  }
  CHECK(ks_uniform(first) < ks_critical(4096));
}

TEST_CASE("shifted Kuo lattices integrate a smooth periodic function faster than n^-1.5") {
  // f(x) = prod_j (1 + B_2(x_j) / j^2), B_2(t) = t^2 - t + 1/6, integral 1; in the weighted
  // Korobov space of smoothness 1 the shifted-lattice RMSE is O(n^-1+delta) for the worst case
  // and close to n^-2 for this f.
  const rank1_lattice lattice = kuo_lattice(4, {lattice_order::radical_inverse, lattice_randomization::shift, 3});
  std::vector<double> log_n, log_error;
  for (int m = 8; m <= 16; m += 2) {
    double squared = 0;
    for (std::uint64_t r = 0; r < 16; ++r) {
      const auto x = generate<double>(host, lattice, {0, std::uint64_t{1} << m}, r);
      double sum = 0;
      for (std::size_t i = 0; i < x.shape(0); ++i) {
        double f = 1;
        for (std::size_t j = 0; j < 4; ++j) {
          const double t = x(i, j);
          f *= 1 + (t * t - t + 1.0 / 6) / static_cast<double>((j + 1) * (j + 1));
        }
        sum += f;
      }
      const double error = sum / static_cast<double>(x.shape(0)) - 1;
      squared += error * error;
    }
    log_n.push_back(m * std::log(2.0));
    log_error.push_back(0.5 * std::log(squared / 16));
  }
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < log_n.size(); ++i) {
    sx += log_n[i]; sy += log_error[i]; sxx += log_n[i] * log_n[i]; sxy += log_n[i] * log_error[i];
  }
  const double k = static_cast<double>(log_n.size());
  const double slope = (k * sxy - sx * sy) / (k * sxx - sx * sx);
  INFO("RMSE slope " << slope);
  CHECK(slope < -1.5);
}

TEST_CASE("lattice bad input is rejected with a message naming the parameter") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(kuo_lattice(3601), Contains("dimension = 3601; expected 1 <= dimension <= 3600"));
  CHECK_THROWS_WITH(kuo_lattice(2, unshifted(lattice_order::natural, 0)), Contains("options.size = 0"));
  CHECK_THROWS_WITH(rank1_lattice({1, 0}), Contains("generating_vector[1] = 0"));
  const rank1_lattice natural = kuo_lattice(2, unshifted(lattice_order::natural, 100));
  CHECK_THROWS_WITH(generate<double>(host, natural, {0, 101}), Contains("range.end = 101"));
  CHECK_THROWS_WITH(generate<double>(host, natural, {0, 1}, std::uint64_t{1} << 32), Contains("replication"));
}
