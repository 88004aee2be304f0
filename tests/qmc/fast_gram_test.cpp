// Fast Gram matrices against the dense Gram matrix (Eigen) for n <= 256 and d = 1..4: multiply,
// solve, the nugget and the log-determinant; the structure checks and the errors.
//
// The point sets are built here, independently of tessera's generators: a rank-1 lattice in
// radical-inverse order x_i = frac(phi_2(i) z + Delta) with the first coordinates of Kuo's vector
// (lattice-39101-1024-1048576.3600: 1, 182667, 279195, 223491), and a digital net whose first two
// generating matrices are the identity (van der Corput) and the Pascal matrix mod 2 (Sobol's
// second dimension), the next two those matrices under a random linear matrix scramble; the
// shift Delta and the digital shift come from tessera::random_stream.
#include <catch2/catch.hpp>

#include <Eigen/Dense>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <tessera/core/random.hpp>
#include <tessera/qmc/fast_gram.hpp>
#include <utility>
#include <vector>
#include "support/test_support.hpp"

using tessera::test::message_of;

using tessera::qmc::digital_net_gram_matrix;
using tessera::qmc::digitally_shift_invariant_kernel;
using tessera::qmc::lattice_gram_matrix;
using tessera::qmc::shift_invariant_kernel;

namespace {

constexpr std::uint64_t kuo_vector[4] = {1, 182667, 279195, 223491};

std::uint64_t reverse(std::uint64_t i, int m) {
  std::uint64_t r = 0;
  for (int b = 0; b < m; ++b) r |= ((i >> b) & 1u) << (m - 1 - b);
  return r;
}

template <class T>
tessera::qmc::point_array<T> lattice_points(int m, std::size_t d, std::uint64_t seed) {
  const std::size_t n = std::size_t{1} << m;
  const tessera::random_stream stream(seed);
  tessera::qmc::point_array<T> x({n, d});
  for (std::size_t j = 0; j < d; ++j) {
    const double shift = tessera::uniform<double>(stream, j);
    for (std::size_t i = 0; i < n; ++i) {
      // phi_2(i) z mod 1 = (rev_m(i) z mod n) / n exactly; then the shift.
      const double base = static_cast<double>((reverse(i, m) * kuo_vector[j]) % n) / static_cast<double>(n);
      const double value = base + shift;
      x(i, j) = static_cast<T>(value >= 1.0 ? value - 1.0 : value);
      if (x(i, j) >= T(1)) x(i, j) = T(0);  // float rounding of 1 - tiny
    }
  }
  return x;
}

// Column k (k = 0..t-1) of the generating matrix as a t-bit integer, row r at bit t-1-r.
std::vector<std::uint64_t> identity_columns(int t) {
  std::vector<std::uint64_t> c(static_cast<std::size_t>(t));
  for (int k = 0; k < t; ++k) c[static_cast<std::size_t>(k)] = std::uint64_t{1} << (t - 1 - k);
  return c;
}

std::vector<std::uint64_t> pascal_columns(int t) {
  // Entry (r, k) = binom(k, r) mod 2 = 1 iff r & ~k == 0 (Lucas).
  std::vector<std::uint64_t> c(static_cast<std::size_t>(t), 0);
  for (int k = 0; k < t; ++k)
    for (int r = 0; r <= k; ++r)
      if ((r & ~k) == 0) c[static_cast<std::size_t>(k)] |= std::uint64_t{1} << (t - 1 - r);
  return c;
}

// L C for L random lower triangular with unit diagonal (linear matrix scrambling).
std::vector<std::uint64_t> scramble(const std::vector<std::uint64_t>& columns, int t, const tessera::random_stream& s) {
  std::vector<std::uint64_t> rows(static_cast<std::size_t>(t));  // row r of L, over columns s <= r
  for (int r = 0; r < t; ++r) {
    const std::uint64_t random_bits = s.block(static_cast<std::uint64_t>(r))[0] |
                                      (std::uint64_t{s.block(static_cast<std::uint64_t>(r))[1]} << 32);
    const std::uint64_t below = r == 0 ? 0 : (random_bits >> (64 - r)) << (t - r);  // columns 0..r-1
    rows[static_cast<std::size_t>(r)] = below | (std::uint64_t{1} << (t - 1 - r));
  }
  std::vector<std::uint64_t> out(columns.size(), 0);
  for (std::size_t k = 0; k < columns.size(); ++k)
    for (int r = 0; r < t; ++r)
      if (std::popcount(rows[static_cast<std::size_t>(r)] & columns[k]) % 2 == 1) out[k] |= std::uint64_t{1} << (t - 1 - r);
  return out;
}

xt::xtensor<std::uint64_t, 2> digital_net_points(int m, std::size_t d, int t, std::uint64_t seed) {
  const std::size_t n = std::size_t{1} << m;
  std::vector<std::vector<std::uint64_t>> matrices = {identity_columns(t), pascal_columns(t)};
  matrices.push_back(scramble(identity_columns(t), t, tessera::random_stream(seed, 1)));
  matrices.push_back(scramble(pascal_columns(t), t, tessera::random_stream(seed, 2)));
  const tessera::random_stream shifts(seed, 3);
  xt::xtensor<std::uint64_t, 2> x({n, d});
  for (std::size_t j = 0; j < d; ++j) {
    const tessera::philox_block b = shifts.block(j);
    const std::uint64_t shift = ((std::uint64_t{b[1]} << 32) | b[0]) >> (64 - t);
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t value = shift;
      for (int k = 0; k < m; ++k)
        if ((i >> k) & 1u) value ^= matrices[j][static_cast<std::size_t>(k)];
      x(i, j) = value;
    }
  }
  return x;
}

template <class Kernel, class Points>
Eigen::MatrixXd dense_gram(const Kernel& kernel, const Points& x, double nugget) {
  using Coordinate = typename Points::value_type;
  const auto n = static_cast<Eigen::Index>(x.shape(0));
  const std::size_t d = x.shape(1);
  Eigen::MatrixXd k(n, n);
  for (Eigen::Index i = 0; i < n; ++i)
    for (Eigen::Index l = 0; l < n; ++l)
      k(i, l) = static_cast<double>(
          kernel(std::span<const Coordinate>(&x(static_cast<std::size_t>(i), 0), d),
                 std::span<const Coordinate>(&x(static_cast<std::size_t>(l), 0), d)));
  k.diagonal().array() += nugget;
  return k;
}

Eigen::VectorXd random_vector(std::size_t n, std::uint32_t id) {
  std::vector<double> v(n);
  tessera::fill_normal(tessera::exec::host, tessera::random_stream(5, id), std::span<double>(v));
  return Eigen::Map<Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(n));
}

double relative_error(std::span<const double> got, const Eigen::VectorXd& want) {
  const Eigen::Map<const Eigen::VectorXd> g(got.data(), static_cast<Eigen::Index>(got.size()));
  return (g - want).norm() / want.norm();
}

// Checks multiply, solve and log det of a fast Gram matrix against the dense one.
template <class Fast>
void check_against_dense(const Fast& fast, const Eigen::MatrixXd& dense, std::uint32_t id) {
  const Eigen::VectorXd y = random_vector(fast.size(), id);
  const std::span<const double> ys(y.data(), static_cast<std::size_t>(y.size()));
  CHECK(relative_error(fast.multiply(ys), dense * y) <= 1e-10);
  const Eigen::LLT<Eigen::MatrixXd> llt(dense);
  REQUIRE(llt.info() == Eigen::Success);
  CHECK(relative_error(fast.solve(ys), llt.solve(y)) <= 1e-10);
  const double log_det = 2 * llt.matrixLLT().diagonal().array().log().sum();
  CHECK(fast.log_determinant() == Approx(log_det).epsilon(1e-10).margin(1e-10));
  // In place: out is y's own storage.
  std::vector<double> in_place(ys.begin(), ys.end());
  fast.multiply(in_place, in_place);
  CHECK(relative_error(in_place, dense * y) <= 1e-10);
}

}  // namespace

TEST_CASE("the lattice Gram matrix multiplies and solves as the dense one, d = 1..4") {
  // Orders and weights that keep cond(K) below ~1e5 without a nugget, so that 1e-10 is a fair
  // bar for solve; alpha up to 4 is exercised with a nugget below.
  for (std::size_t d = 1; d <= 4; ++d) {
    for (int m : {1, 4, 8}) {
      const std::vector<double> weights = {1.0, 0.25, 1.0 / 9, 1.0 / 16};
      const shift_invariant_kernel<double> kernel(2.0, std::vector<double>(weights.begin(), weights.begin() + static_cast<long>(d)), 1);
      const auto x = lattice_points<double>(m, d, 11 + d);
      const lattice_gram_matrix<double> fast(kernel, x);
      const Eigen::MatrixXd dense = dense_gram(kernel, x, 0.0);
      INFO("d = " << d << ", m = " << m);
      CHECK(fast.size() == std::size_t{1} << m);
      for (std::size_t i = 0; i < fast.size(); ++i) CHECK(fast.first_column()[i] == Approx(dense(static_cast<Eigen::Index>(i), 0)).epsilon(1e-14));
      check_against_dense(fast, dense, static_cast<std::uint32_t>(10 * d + static_cast<std::size_t>(m)));
    }
  }
}

TEST_CASE("the lattice Gram matrix with smoother kernels and a nugget") {
  for (std::size_t d = 1; d <= 4; ++d) {
    const std::vector<int> alpha = {1, 2, 3, 4};
    const shift_invariant_kernel<double> kernel(10.0, std::vector<double>(d, 0.5),
                                                std::vector<int>(alpha.begin(), alpha.begin() + static_cast<long>(d)));
    const auto x = lattice_points<double>(8, d, 3);
    const double nugget = 1e-3;
    const lattice_gram_matrix<double> fast(kernel, x, nugget);
    CHECK(fast.nugget() == nugget);
    INFO("d = " << d);
    check_against_dense(fast, dense_gram(kernel, x, nugget), static_cast<std::uint32_t>(100 + d));
  }
}

TEST_CASE("the digital-net Gram matrix multiplies and solves as the dense one, d = 1..4") {
  for (std::size_t d = 1; d <= 4; ++d) {
    for (int m : {1, 5, 8}) {
      const std::vector<double> weights = {1.0, 0.25, 1.0 / 9, 1.0 / 16};
      const digitally_shift_invariant_kernel<double> kernel(
          64, 2.0, std::vector<double>(weights.begin(), weights.begin() + static_cast<long>(d)), 1);
      const auto x = digital_net_points(m, d, 64, 21 + d);
      const digital_net_gram_matrix<double> fast(kernel, x);
      const Eigen::MatrixXd dense = dense_gram(kernel, x, 0.0);
      INFO("d = " << d << ", m = " << m);
      for (std::size_t i = 0; i < fast.size(); ++i) CHECK(fast.first_column()[i] == Approx(dense(static_cast<Eigen::Index>(i), 0)).epsilon(1e-14));
      check_against_dense(fast, dense, static_cast<std::uint32_t>(200 + 10 * d + static_cast<std::size_t>(m)));
    }
  }
}

TEST_CASE("the digital-net Gram matrix with higher orders, a nugget, and floating-point points") {
  for (std::size_t d = 1; d <= 4; ++d) {
    const std::vector<int> alpha = {4, 3, 2, 1};
    const digitally_shift_invariant_kernel<double> kernel(52, 10.0, std::vector<double>(d, 0.5),
                                                          std::vector<int>(alpha.begin(), alpha.begin() + static_cast<long>(d)));
    const auto digits = digital_net_points(8, d, 52, 9);
    tessera::qmc::point_array<double> x({digits.shape(0), d});
    for (std::size_t i = 0; i < digits.shape(0); ++i)
      for (std::size_t j = 0; j < d; ++j) x(i, j) = std::ldexp(static_cast<double>(digits(i, j)), -52);
    const double nugget = 1e-3;
    const digital_net_gram_matrix<double> fast(kernel, x, nugget);
    const digital_net_gram_matrix<double> from_digits(kernel, digits, nugget);
    CHECK(std::vector<double>(fast.eigenvalues().begin(), fast.eigenvalues().end()) ==
          std::vector<double>(from_digits.eigenvalues().begin(), from_digits.eigenvalues().end()));
    INFO("d = " << d);
    check_against_dense(fast, dense_gram(kernel, x, nugget), static_cast<std::uint32_t>(300 + d));
  }
}

TEST_CASE("float Gram matrices agree with double ones to float accuracy") {
  const shift_invariant_kernel<float> kf(2.0f, {1.0f, 0.25f}, 1);
  const shift_invariant_kernel<double> kd(2.0, {1.0, 0.25}, 1);
  const lattice_gram_matrix<float> lf(kf, lattice_points<float>(10, 2, 4));
  const lattice_gram_matrix<double> ld(kd, lattice_points<double>(10, 2, 4));
  const Eigen::VectorXd y = random_vector(1024, 7);
  std::vector<float> yf(y.data(), y.data() + y.size());
  const std::vector<float> got = lf.multiply(yf);
  const std::vector<double> want = ld.multiply(std::span<const double>(y.data(), 1024));
  double num = 0, den = 0;
  for (std::size_t i = 0; i < 1024; ++i) {
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  CHECK(std::sqrt(num / den) <= 1e-5);

  const digitally_shift_invariant_kernel<float> df(32, 2.0f, {1.0f, 0.25f}, 2);
  const digitally_shift_invariant_kernel<double> dd(32, 2.0, {1.0, 0.25}, 2);
  const auto net = digital_net_points(10, 2, 32, 8);
  const std::vector<float> gotd = digital_net_gram_matrix<float>(df, net).solve(yf);
  const std::vector<double> wantd = digital_net_gram_matrix<double>(dd, net).solve(std::span<const double>(y.data(), 1024));
  num = den = 0;
  for (std::size_t i = 0; i < 1024; ++i) {
    num += (gotd[i] - wantd[i]) * (gotd[i] - wantd[i]);
    den += wantd[i] * wantd[i];
  }
  CHECK(std::sqrt(num / den) <= 1e-3);
}

TEST_CASE("fast Gram matrices reject points without the structure and bad sizes") {
  const shift_invariant_kernel<double> si(2);
  auto x = lattice_points<double>(4, 2, 1);
  CHECK(message_of([&] {
          lattice_gram_matrix<double>(shift_invariant_kernel<double>(3), x);
        }) == "tessera::qmc::lattice_gram_matrix: points.shape(1) = 2; expected the kernel's dimension 3");
  tessera::qmc::point_array<double> twelve({12, 2}, 0.5);
  CHECK(message_of([&] { lattice_gram_matrix<double>(si, twelve); }) ==
        "tessera::qmc::lattice_gram_matrix: points.shape(0) = 12; expected a power of two");
  CHECK(message_of([&] { lattice_gram_matrix<double>(si, x, -1.0); }) ==
        "tessera::qmc::lattice_gram_matrix: nugget = -1; expected a finite number >= 0");
  // Natural order i z / n instead of radical-inverse order: rejected.
  auto natural = x;
  for (std::size_t i = 0; i < 16; ++i)
    for (std::size_t j = 0; j < 2; ++j) natural(i, j) = static_cast<double>((i * kuo_vector[j]) % 16) / 16.0;
  const std::string message = message_of([&] { lattice_gram_matrix<double>(si, natural); });
  CHECK(message.find("tessera::qmc::lattice_gram_matrix: points(") == 0);
  CHECK(message.find("radical-inverse order") != std::string::npos);
  std::swap(x(3, 0), x(5, 0));
  CHECK_THROWS_AS(lattice_gram_matrix<double>(si, x), tessera::invalid_argument);

  const digitally_shift_invariant_kernel<double> dsi(2, 32);
  auto net = digital_net_points(4, 2, 32, 1);
  net(6, 1) ^= 1;
  CHECK(message_of([&] { digital_net_gram_matrix<double>(dsi, net); })
            .find("tessera::qmc::digital_net_gram_matrix: points(6, 1) = ") == 0);
  net(6, 1) ^= 1;
  net(2, 0) = std::uint64_t{1} << 32;
  CHECK(message_of([&] { digital_net_gram_matrix<double>(dsi, net); }) ==
        "tessera::qmc::digital_net_gram_matrix: points(2, 0) = 4294967296; expected value < 2^precision = 2^32");
  const digitally_shift_invariant_kernel<double> wide(2, 64);
  CHECK(message_of([&] { digital_net_gram_matrix<double>(wide, tessera::qmc::point_array<double>({4, 2}, 0.0)); }) ==
        "tessera::qmc::digital_net_gram_matrix: kernel.precision() = 64; expected precision <= 52 for floating-point coordinates");

  const digital_net_gram_matrix<double> fast(dsi, digital_net_points(4, 2, 32, 1));
  std::vector<double> eight(8), sixteen(16);
  CHECK(message_of([&] { fast.multiply(eight, sixteen); }) ==
        "tessera::qmc::digital_net_gram_matrix::multiply: y.size() = 8; expected the Gram matrix's size n = 16");
  CHECK_THROWS_AS(fast.solve(sixteen, eight), tessera::invalid_argument);
}

TEST_CASE("solving a singular system is a domain error; a nugget makes it solvable") {
  // A zero column in the generating matrix repeats every point once: x_{i ^ 2} = x_i. The net is
  // still linear, K is singular, and the transform gives exact zero eigenvalues.
  const int t = 32;
  xt::xtensor<std::uint64_t, 2> x({8, 1});
  const std::uint64_t columns[3] = {std::uint64_t{1} << 31, 0, std::uint64_t{1} << 29};
  for (std::size_t i = 0; i < 8; ++i) {
    std::uint64_t v = 0x12345678;
    for (int k = 0; k < 3; ++k)
      if ((i >> k) & 1u) v ^= columns[k];
    x(i, 0) = v;
  }
  const digitally_shift_invariant_kernel<double> kernel(t, 1.0, {1.0}, 1);
  const digital_net_gram_matrix<double> singular(kernel, x);
  std::vector<double> y(8, 1.0), out(8);
  try {
    singular.solve(y, out);
    FAIL("no exception");
  } catch (const tessera::domain_error& e) {
    CHECK(std::string(e.what()).find("tessera::qmc::digital_net_gram_matrix::solve: eigenvalue ") == 0);
    CHECK(std::string(e.what()).find("expected > 0") != std::string::npos);
  }
  CHECK_THROWS_AS(singular.log_determinant(), tessera::domain_error);
  const digital_net_gram_matrix<double> regularized(kernel, x, 0.1);
  const Eigen::MatrixXd dense = dense_gram(kernel, x, 0.1);
  const Eigen::VectorXd ye = Eigen::VectorXd::Ones(8);
  CHECK(relative_error(regularized.solve(y), dense.llt().solve(ye)) <= 1e-12);
}
