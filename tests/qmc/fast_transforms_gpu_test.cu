// Device fast transforms against the host ones: the FWHT (exactly on integer data, within the
// rounding bound of fwht.hpp on random data, 2^0..2^26 values, batched rows), FFTBR / IFFTBR,
// and the fast Gram multiply / solve of both structures up to 2^22 points.
#include <catch2/catch.hpp>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <tessera/core/random.hpp>
#include <tessera/qmc/cuda/fast_gram.cuh>
#include <tessera/qmc/cuda/fft_bit_reversed.cuh>
#include <tessera/qmc/cuda/fwht.cuh>
#include <tessera/qmc/fast_gram.hpp>
#include <tessera/qmc/fft_bit_reversed.hpp>
#include <tessera/qmc/fwht.hpp>
#include <vector>
#include "support/gpu_support.cuh"

using tessera::test::device_span;

namespace {

const tessera::exec::cuda device{};

template <class T>
std::span<const T> const_device_span(const thrust::device_vector<T>& v) {
  return {thrust::raw_pointer_cast(v.data()), v.size()};
}

template <class T>
std::vector<T> to_host(const thrust::device_vector<T>& v) {
  const thrust::host_vector<T> h = v;
  return std::vector<T>(h.begin(), h.end());
}

void synchronize() { tessera::check_cuda(cudaDeviceSynchronize(), "test"); }

template <class T>
std::vector<T> uniform_values(std::size_t n, std::uint32_t id) {
  std::vector<T> x(n);
  tessera::fill_uniform(tessera::exec::host, tessera::random_stream(4242, id), std::span<T>(x));
  for (T& v : x) v = 2 * v - 1;
  return x;
}

// Sparse +-1 data (one value in 64 nonzero): every partial sum of the FWHT is an integer of
// magnitude below 2^21 for n <= 2^26, so float and double arithmetic are exact in any order.
template <class T>
std::vector<T> sparse_signs(std::size_t n, std::uint32_t id) {
  const tessera::random_stream s(77, id);
  std::vector<T> x(n, T(0));
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t word = s.block(i / 4)[i % 4];
    if ((word & 63u) == 0) x[i] = (word & 64u) != 0 ? T(1) : T(-1);
  }
  return x;
}

template <class A, class B>
double relative_error(const std::vector<A>& got, const std::vector<B>& want) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double d = static_cast<double>(got[i]) - static_cast<double>(want[i]);
    num += d * d;
    den += static_cast<double>(want[i]) * static_cast<double>(want[i]);
  }
  return std::sqrt(num / den);
}

// gamma_m = m u / (1 - m u), the bound of fwht.hpp on ||fl(Hx) - Hx|| / ||Hx||.
template <class T>
double gamma(int m) {
  const double mu = m * (static_cast<double>(std::numeric_limits<T>::epsilon()) / 2);
  return mu / (1 - mu);
}

template <class T>
void check_fwht_sizes(const std::vector<int>& sizes) {
  for (int m : sizes) {
    const std::size_t n = std::size_t{1} << m;
    INFO("m = " << m << ", " << sizeof(T) * 8 << "-bit");
    // Integer data: identical to the host.
    const auto exact = sparse_signs<T>(n, static_cast<std::uint32_t>(m));
    thrust::device_vector<T> d(exact.begin(), exact.end());
    tessera::qmc::fwht(device, device_span(d));
    auto host = exact;
    tessera::qmc::fwht(tessera::exec::host, std::span<T>(host));
    CHECK(to_host(d) == host);
    // Random data: host and device are each within gamma_m of the exact transform.
    const auto x = uniform_values<T>(n, static_cast<std::uint32_t>(100 + m));
    thrust::device_vector<T> dx(x.begin(), x.end());
    tessera::qmc::fwht(device, device_span(dx));
    std::vector<double> reference(x.begin(), x.end());
    tessera::qmc::fwht(tessera::exec::host, std::span<double>(reference));
    const double bound = m == 0 ? 0.0 : gamma<T>(m) + gamma<double>(m);
    CHECK(relative_error(to_host(dx), reference) <= bound);
  }
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

constexpr std::uint64_t kuo_vector[2] = {1, 182667};

std::uint64_t reverse(std::uint64_t i, int m) {
  std::uint64_t r = 0;
  for (int b = 0; b < m; ++b) r |= ((i >> b) & 1u) << (m - 1 - b);
  return r;
}

// x_i = frac(phi_2(i) z + Delta) for the first two coordinates of Kuo's vector.
template <class T>
tessera::qmc::point_array<T> lattice_points(int m, std::uint64_t seed) {
  const std::size_t n = std::size_t{1} << m;
  const tessera::random_stream stream(seed);
  tessera::qmc::point_array<T> x({n, 2});
  for (std::size_t j = 0; j < 2; ++j) {
    const double shift = tessera::uniform<double>(stream, j);
    for (std::size_t i = 0; i < n; ++i) {
      const double value = static_cast<double>((reverse(i, m) * kuo_vector[j]) % n) / static_cast<double>(n) + shift;
      x(i, j) = static_cast<T>(value >= 1.0 ? value - 1.0 : value);
      if (x(i, j) >= T(1)) x(i, j) = T(0);
    }
  }
  return x;
}

// Van der Corput (identity) and Sobol's second dimension (Pascal mod 2), digitally shifted.
xt::xtensor<std::uint64_t, 2> digital_net_points(int m, int t, std::uint64_t seed) {
  const std::size_t n = std::size_t{1} << m;
  std::vector<std::uint64_t> identity(static_cast<std::size_t>(t)), pascal(static_cast<std::size_t>(t), 0);
  for (int k = 0; k < t; ++k) {
    identity[static_cast<std::size_t>(k)] = std::uint64_t{1} << (t - 1 - k);
    for (int r = 0; r <= k; ++r)
      if ((r & ~k) == 0) pascal[static_cast<std::size_t>(k)] |= std::uint64_t{1} << (t - 1 - r);
  }
  const tessera::random_stream shifts(seed);
  xt::xtensor<std::uint64_t, 2> x({n, 2});
  for (std::size_t j = 0; j < 2; ++j) {
    const auto& c = j == 0 ? identity : pascal;
    const tessera::philox_block b = shifts.block(j);
    const std::uint64_t shift = ((std::uint64_t{b[1]} << 32) | b[0]) >> (64 - t);
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t v = shift;
      for (int k = 0; k < m; ++k)
        if ((i >> k) & 1u) v ^= c[static_cast<std::size_t>(k)];
      x(i, j) = v;
    }
  }
  return x;
}

template <class T, class Host, class Device>
void check_gram_on_device(const Host& host, Device& gpu, double tolerance, std::uint32_t id) {
  const auto y = uniform_values<T>(host.size(), id);
  thrust::device_vector<T> dy(y.begin(), y.end()), dout(y.size());
  gpu.multiply(device, const_device_span(dy), device_span(dout));
  CHECK(relative_error(to_host(dout), host.multiply(y)) <= tolerance);
  gpu.solve(device, const_device_span(dy), device_span(dout));
  CHECK(relative_error(to_host(dout), host.solve(y)) <= tolerance);
  // In place.
  gpu.multiply(device, const_device_span(dy), device_span(dy));
  CHECK(relative_error(to_host(dy), host.multiply(y)) <= tolerance);
}

}  // namespace

TEST_CASE("device FWHT equals the host FWHT, float, 2^0 .. 2^26") {
  // Every path: the small kernel (m < 10), one contiguous pass (10..15), a contiguous pass
  // shortened to leave 6 rows (16..20), one strided pass (21..26 with 11 rows at 26), two (27).
  check_fwht_sizes<float>({0, 1, 5, 9, 10, 11, 13, 15, 16, 18, 20, 21, 24, 26, 27});
}

TEST_CASE("device FWHT equals the host FWHT, double, 2^0 .. 2^26") {
  check_fwht_sizes<double>({0, 3, 9, 10, 12, 14, 15, 17, 19, 20, 24, 25, 26});
}

TEMPLATE_TEST_CASE("device fwht_rows transforms each row", "", float, double) {
  for (std::size_t row_length : {std::size_t{1}, std::size_t{32}, std::size_t{1} << 12, std::size_t{1} << 17}) {
    const std::size_t rows = row_length >= (1u << 17) ? 3 : 777;
    const auto x = sparse_signs<TestType>(rows * row_length, 9);
    thrust::device_vector<TestType> d(x.begin(), x.end());
    tessera::qmc::fwht_rows(device, device_span(d), row_length);
    auto host = x;
    tessera::qmc::fwht_rows(tessera::exec::host, std::span<TestType>(host), row_length);
    INFO("row_length = " << row_length);
    CHECK(to_host(d) == host);
  }
}

TEST_CASE("device FWHT rejects bad lengths before any launch") {
  thrust::device_vector<float> twelve(12);
  CHECK(invalid_argument_message([&] { tessera::qmc::fwht(device, device_span(twelve)); }) ==
        "tessera::qmc::fwht: values.size() = 12; expected a power of two");
  CHECK(invalid_argument_message([&] { tessera::qmc::fwht_rows(device, device_span(twelve), 8); }) ==
        "tessera::qmc::fwht_rows: values.size() = 12; expected a positive multiple of row_length = 8");
}

TEMPLATE_TEST_CASE("device FFTBR and IFFTBR equal the host ones", "", float, double) {
  using complex = std::complex<TestType>;
  const double tolerance = sizeof(TestType) == 4 ? 2e-6 : 1e-14;
  for (int m : {0, 1, 4, 16, 20}) {
    const std::size_t n = std::size_t{1} << m;
    const auto re = uniform_values<TestType>(n, static_cast<std::uint32_t>(500 + m));
    const auto im = uniform_values<TestType>(n, static_cast<std::uint32_t>(600 + m));
    std::vector<complex> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = {re[i], im[i]};
    std::vector<complex> host_f(n), host_i(n);
    tessera::qmc::fftbr(tessera::exec::host, std::span<const complex>(x), std::span<complex>(host_f));
    tessera::qmc::ifftbr(tessera::exec::host, std::span<const complex>(x), std::span<complex>(host_i));
    thrust::device_vector<complex> dx(x.begin(), x.end()), dy(n);
    tessera::qmc::fftbr(device, const_device_span(dx), device_span(dy));
    const auto got_f = to_host(dy);
    tessera::qmc::ifftbr(device, const_device_span(dx), device_span(dx));  // in place
    const auto got_i = to_host(dx);
    double ef = 0, ei = 0, norm_f = 0, norm_i = 0;
    for (std::size_t k = 0; k < n; ++k) {
      ef += std::norm(std::complex<double>(got_f[k]) - std::complex<double>(host_f[k]));
      ei += std::norm(std::complex<double>(got_i[k]) - std::complex<double>(host_i[k]));
      norm_f += std::norm(std::complex<double>(host_f[k]));
      norm_i += std::norm(std::complex<double>(host_i[k]));
    }
    INFO("m = " << m);
    CHECK(std::sqrt(ef / norm_f) <= tolerance);
    CHECK(std::sqrt(ei / norm_i) <= tolerance);
  }
}

TEMPLATE_TEST_CASE("device fast Gram matrices multiply and solve as the host ones", "", float, double) {
  const double tolerance = sizeof(TestType) == 4 ? 1e-4 : 1e-12;
  for (int m : {0, 8, 20, 22}) {
    INFO("m = " << m);
    // Float eigenvalues carry errors near eps * lambda_0 * m ~ 1e-6 n: a nugget above that keeps
    // the float systems positive definite (double needs only a small one).
    const double n = std::ldexp(1.0, m);
    const auto nugget = static_cast<TestType>(sizeof(TestType) == 4 ? 1e-3 + 1e-5 * n : 1e-3);
    const tessera::qmc::shift_invariant_kernel<TestType> si(TestType(2), {TestType(1), TestType(0.25)}, 1);
    const tessera::qmc::lattice_gram_matrix<TestType> lattice(si, lattice_points<TestType>(m, 3), nugget);
    tessera::qmc::device_lattice_gram_matrix<TestType> lattice_gpu(lattice);
    check_gram_on_device<TestType>(lattice, lattice_gpu, tolerance, static_cast<std::uint32_t>(700 + m));

    const tessera::qmc::digitally_shift_invariant_kernel<TestType> dsi(32, TestType(2), {TestType(1), TestType(0.25)},
                                                                       std::vector<int>{2, 4});
    const tessera::qmc::digital_net_gram_matrix<TestType> net(dsi, digital_net_points(m, 32, 5), nugget);
    const tessera::qmc::device_digital_net_gram_matrix<TestType> net_gpu(net);
    check_gram_on_device<TestType>(net, net_gpu, tolerance, static_cast<std::uint32_t>(800 + m));
  }
}

TEST_CASE("device solve of a singular system is a domain error") {
  // Identity matrix with a zero column: x_{i ^ 2} = x_i, exact zero eigenvalues.
  xt::xtensor<std::uint64_t, 2> x({8, 1});
  const std::uint64_t columns[3] = {std::uint64_t{1} << 31, 0, std::uint64_t{1} << 29};
  for (std::size_t i = 0; i < 8; ++i) {
    std::uint64_t v = 0x12345678;
    for (int k = 0; k < 3; ++k)
      if ((i >> k) & 1u) v ^= columns[k];
    x(i, 0) = v;
  }
  const tessera::qmc::digitally_shift_invariant_kernel<double> kernel(32, 1.0, {1.0}, 1);
  const tessera::qmc::device_digital_net_gram_matrix<double> gpu(tessera::qmc::digital_net_gram_matrix<double>(kernel, x));
  thrust::device_vector<double> y(8, 1.0), out(8);
  CHECK_THROWS_AS(gpu.solve(device, const_device_span(y), device_span(out)), tessera::domain_error);
  thrust::device_vector<double> seven(7);
  CHECK_THROWS_AS(gpu.multiply(device, const_device_span(seven), device_span(out)), tessera::invalid_argument);
  synchronize();
}
