// The host fast Walsh-Hadamard transform: the dense Hadamard matrix for small m, the identity
// H H = n I for large m (every radix and the threaded passes), QMCPy's fwht, the batched rows
// form, and the argument errors.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <tessera/core/random.hpp>
#include <tessera/qmc/fwht.hpp>
#include <vector>

namespace {

template <class T>
std::vector<T> uniform_values(std::size_t n, std::uint32_t id) {
  std::vector<T> x(n);
  tessera::fill_uniform(tessera::exec::host, tessera::random_stream(2026, id), std::span<T>(x));
  for (T& v : x) v = 2 * v - 1;
  return x;
}

// y = H_m x with H_ik = (-1)^popcount(i & k), in long double.
template <class T>
std::vector<long double> dense_hadamard(const std::vector<T>& x) {
  const std::size_t n = x.size();
  std::vector<long double> y(n, 0.0L);
  for (std::size_t k = 0; k < n; ++k)
    for (std::size_t i = 0; i < n; ++i)
      y[k] += (std::popcount(i & k) % 2 == 0 ? 1.0L : -1.0L) * static_cast<long double>(x[i]);
  return y;
}

template <class A, class B>
double relative_error(const std::vector<A>& got, const std::vector<B>& want) {
  long double num = 0, den = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const long double diff = static_cast<long double>(got[i]) - static_cast<long double>(want[i]);
    num += diff * diff;
    den += static_cast<long double>(want[i]) * static_cast<long double>(want[i]);
  }
  return static_cast<double>(std::sqrt(num / den));
}

// The normwise bound (1 + u)^m - 1 of the header for one transform, through the usual
// gamma_m = m u / (1 - m u) >= (1 + u)^m - 1 (1 + u itself would round to 1 in double).
template <class T>
double fwht_bound(int m) {
  const double mu = m * (static_cast<double>(std::numeric_limits<T>::epsilon()) / 2);
  return mu / (1 - mu);
}

template <class F>
std::string invalid_argument_message(F&& call) {
  try {
    call();
  } catch (const tessera::invalid_argument& e) {
    return e.what();
  }
  return "(no exception)";
}

}  // namespace

TEMPLATE_TEST_CASE("fwht equals the dense Hadamard matrix for m = 0..10", "", float, double) {
  for (int m = 0; m <= 10; ++m) {
    auto x = uniform_values<TestType>(std::size_t{1} << m, static_cast<std::uint32_t>(m));
    const auto want = dense_hadamard(x);
    tessera::qmc::fwht(tessera::exec::host, std::span<TestType>(x));
    INFO("m = " << m);
    if (m == 0) {
      CHECK(x[0] == static_cast<TestType>(want[0]));
    } else {
      CHECK(relative_error(x, want) <= fwht_bound<TestType>(m));
    }
  }
}

TEMPLATE_TEST_CASE("integer-valued inputs are transformed exactly", "", float, double) {
  // Inputs in [-8, 8], n <= 2^12: every partial sum is an integer below 2^16, exact in float.
  for (int m : {3, 9, 12}) {
    const std::size_t n = std::size_t{1} << m;
    std::vector<TestType> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<TestType>(static_cast<int>((i * 7919 + 13) % 17) - 8);
    const auto want = dense_hadamard(x);
    tessera::qmc::fwht(tessera::exec::host, std::span<TestType>(x));
    for (std::size_t k = 0; k < n; ++k) REQUIRE(x[k] == static_cast<TestType>(want[k]));
  }
}

TEMPLATE_TEST_CASE("fwht(fwht(x)) = n x through the block, radix and threaded paths", "", float, double) {
  // m = 13..20 covers the in-cache blocks alone (m <= 12/13), every radix 1..4 for the remaining
  // stages, and the OpenMP path (n >= 2^15).
  for (int m = 13; m <= 20; ++m) {
    const std::size_t n = std::size_t{1} << m;
    const auto x = uniform_values<TestType>(n, static_cast<std::uint32_t>(100 + m));
    auto y = x;
    tessera::qmc::fwht(tessera::exec::host, std::span<TestType>(y));
    tessera::qmc::fwht(tessera::exec::host, std::span<TestType>(y));
    std::vector<double> scaled(n);
    for (std::size_t i = 0; i < n; ++i) scaled[i] = static_cast<double>(n) * static_cast<double>(x[i]);
    INFO("m = " << m);
    CHECK(relative_error(y, scaled) <= 2.01 * fwht_bound<TestType>(m));
  }
}

TEST_CASE("fwht of a long vector matches a double-precision reference within the float bound") {
  // The float transform against the double one (whose own error is 2^-29 times smaller).
  const int m = 22;
  const auto x = uniform_values<float>(std::size_t{1} << m, 7);
  std::vector<double> reference(x.begin(), x.end());
  auto y = x;
  tessera::qmc::fwht(tessera::exec::host, std::span<float>(y));
  tessera::qmc::fwht(tessera::exec::host, std::span<double>(reference));
  CHECK(relative_error(y, reference) <= fwht_bound<float>(m) + fwht_bound<double>(m));
}

TEST_CASE("fwht is QMCPy's fwht times sqrt(n)") {
  // qmcpy 2.4 (numpy 2.4.6): qmcpy.fwht(np.sin(np.arange(8) + 1.0)), the orthonormal transform.
  const double qmcpy_fwht[] = {0.545565053935796,    -0.06427047790213353, -0.18322328858626674,
                              -0.4641753229060171,  0.25706190042660393,  0.6512370319189699,
                              1.8565567665304745,   -0.21871230529988359};
  std::vector<double> x(8);
  for (int i = 0; i < 8; ++i) x[i] = std::sin(i + 1.0);
  tessera::qmc::fwht(tessera::exec::host, std::span<double>(x));
  for (int k = 0; k < 8; ++k) CHECK(x[k] == Approx(std::sqrt(8.0) * qmcpy_fwht[k]).epsilon(1e-14));
}

TEMPLATE_TEST_CASE("ifwht inverts fwht", "", float, double) {
  for (int m : {0, 5, 16}) {
    const auto x = uniform_values<TestType>(std::size_t{1} << m, static_cast<std::uint32_t>(200 + m));
    auto y = x;
    tessera::qmc::fwht(tessera::exec::host, std::span<TestType>(y));
    tessera::qmc::ifwht(tessera::exec::host, std::span<TestType>(y));
    INFO("m = " << m);
    CHECK(relative_error(y, x) <= 2.01 * fwht_bound<TestType>(m));
  }
}

TEMPLATE_TEST_CASE("fwht_rows transforms each row as fwht does", "", float, double) {
  // Short rows (split across threads) and long rows (threads inside each row); 3 rows is not a
  // power of two on purpose.
  for (std::size_t row_length : {std::size_t{1}, std::size_t{64}, std::size_t{1} << 15}) {
    const std::size_t rows = row_length == 64 ? 1000 : 3;
    const auto x = uniform_values<TestType>(rows * row_length, 300);
    auto batched = x;
    tessera::qmc::fwht_rows(tessera::exec::host, std::span<TestType>(batched), row_length);
    auto one_by_one = x;
    for (std::size_t r = 0; r < rows; ++r)
      tessera::qmc::fwht(tessera::exec::host, std::span<TestType>(one_by_one).subspan(r * row_length, row_length));
    INFO("row_length = " << row_length);
    CHECK(batched == one_by_one);  // the same operations in the same order
  }
}

TEST_CASE("fwht rejects lengths that are not powers of two") {
  std::vector<double> twelve(12), empty;
  CHECK(invalid_argument_message([&] { tessera::qmc::fwht(tessera::exec::host, std::span<double>(twelve)); }) ==
        "tessera::qmc::fwht: values.size() = 12; expected a power of two");
  CHECK_THROWS_AS(tessera::qmc::fwht(tessera::exec::host, std::span<double>(empty)), tessera::invalid_argument);
  CHECK_THROWS_AS(tessera::qmc::ifwht(tessera::exec::host, std::span<double>(twelve)), tessera::invalid_argument);
  CHECK(invalid_argument_message([&] {
          tessera::qmc::fwht_rows(tessera::exec::host, std::span<double>(twelve), 3);
        }) == "tessera::qmc::fwht_rows: row_length = 3; expected a power of two");
  CHECK(invalid_argument_message([&] {
          tessera::qmc::fwht_rows(tessera::exec::host, std::span<double>(twelve), 8);
        }) == "tessera::qmc::fwht_rows: values.size() = 12; expected a positive multiple of row_length = 8");
  CHECK_THROWS_AS(tessera::qmc::fwht_rows(tessera::exec::host, std::span<double>(empty), 4),
                  tessera::invalid_argument);
}
