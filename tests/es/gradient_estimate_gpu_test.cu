// The device gradient estimate against the host's estimate_gradient: a layout of two matrices
// and two vectors, ranks 1 and 3 and full rank, float and double, zero coefficients, one chunk
// of members or many (chunk boundaries inside the GEMM sum), no members at all; bad arguments are
// refused before any launch.
//
// Tolerance. Vector blocks, and every block under full-rank noise, are the host's bits: the
// device adds c_k z in the host's order with the host's two roundings and scales last, as the
// host does. Low-rank blocks are GEMM sums of K r products in another order (and 1/(N σ √r)
// applied as one factor), so elementwise |device − host| <= 2 (K r + K + 3) u S with
// S = Σ_k |c_k| |A_k| |B_k|ᵀ / (N σ √r), u = 2^-24 (float) or 2^-53 (double): each side is
// within (K r + chunks + 2) u S of the exact sum, chunks <= K. A wrong factor, column or
// coefficient is off by O(S / K), far above that.
#include <catch2/catch.hpp>
#include <cublas_v2.h>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <tessera/es/cuda/gradient_estimate.cuh>
#include <tessera/es/gradient_estimate.hpp>
#include <vector>

#include "support/gpu_support.cuh"
#include "support/test_support.hpp"

namespace es = tessera::es;
using tessera::test::blas_handle;
using tessera::test::device_span;
using tessera::test::message_of;
using tessera::test::same_bits;

namespace {

const tessera::exec::cuda device{};

/// Matrices 37 × 29 and 64 × 20 and vectors of 11 and 1 entries, interleaved.
es::parameter_layout test_layout() {
  es::parameter_layout layout;
  layout.add_matrix(37, 29);
  layout.add_vector(11);
  layout.add_matrix(64, 20);
  layout.add_vector(1);
  return layout;
}

/// K coefficients uniform in [-1, 1), with c_3 = c_10 = 0 (skipped terms).
template <class T>
std::vector<T> test_coefficients(std::size_t k_count) {
  std::vector<T> c(k_count);
  tessera::fill_uniform(tessera::exec::host, tessera::random_stream(31), std::span<T>(c));
  for (T& v : c) v = 2 * v - 1;
  for (std::size_t k : {3u, 10u})
    if (k < k_count) c[k] = 0;
  return c;
}

constexpr std::uint64_t seed = 0xabc;
constexpr std::uint32_t generation = 6;
constexpr std::size_t population = 60;

/// S of the tolerance for the low-rank block l (see the top of this file), m × n row-major.
template <class T>
std::vector<double> magnitude(const es::parameter_block& block, std::size_t l, std::size_t r, std::span<const T> c,
                              T sigma) {
  const std::size_t m = block.rows, n = block.cols;
  std::vector<double> s(m * n, 0.0);
  std::vector<T> a(m * r), b(n * r);
  for (std::size_t k = 0; k < c.size(); ++k) {
    es::fill_low_rank_factors<T>(es::noise_stream(seed, l, generation, static_cast<std::uint32_t>(k)), m, n, r, a, b);
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < n; ++j)
        for (std::size_t q = 0; q < r; ++q)
          s[i * n + j] += std::abs(static_cast<double>(c[k]) * a[i * r + q] * b[j * r + q]);
  }
  const double scale = 1 / (static_cast<double>(population) * sigma * std::sqrt(static_cast<double>(r)));
  for (double& v : s) v *= scale;
  return s;
}

/// Compares block l of the device gradient with the host's: bits, or within the tolerance.
template <class T>
void check_block(const es::parameter_block& block, std::size_t l, const std::vector<T>& host,
                 const thrust::host_vector<T>& got, bool exact, std::size_t r, std::span<const T> c, T sigma) {
  INFO("block " << l << " (" << block.rows << " x " << block.cols << ")");
  if (exact) {
    std::size_t first_difference = block.size();
    for (std::size_t j = 0; j < block.size() && first_difference == block.size(); ++j)
      if (std::memcmp(&host[block.offset + j], &got[block.offset + j], sizeof(T)) != 0) first_difference = j;
    INFO("first differing entry " << first_difference);
    CHECK(first_difference == block.size());
    return;
  }
  constexpr double u = std::numeric_limits<T>::epsilon() / 2;
  const double factor = 2 * static_cast<double>(c.size() * r + c.size() + 3) * u;
  const std::vector<double> s = magnitude<T>(block, l, r, c, sigma);
  double worst_ratio = 0;
  std::size_t worst = 0;
  for (std::size_t j = 0; j < block.size(); ++j) {
    const double difference =
        std::abs(static_cast<double>(got[block.offset + j]) - static_cast<double>(host[block.offset + j]));
    const double ratio = difference / (factor * s[j] + std::numeric_limits<double>::min());
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      worst = j;
    }
  }
  INFO("worst entry (" << worst / block.cols << ", " << worst % block.cols << "): device " << got[block.offset + worst]
                       << ", host " << host[block.offset + worst] << ", tolerance " << factor * s[worst]
                       << " (ratio " << worst_ratio << ")");
  CHECK(worst_ratio <= 1);
}

template <class T, class Noise>
void check_estimate(Noise noise, std::size_t k_count, std::size_t chunk_elements) {
  INFO("coefficients " << k_count << ", chunk_elements " << chunk_elements);
  const es::parameter_layout layout = test_layout();
  const std::vector<T> c = test_coefficients<T>(k_count);
  const T sigma = T(0.1);
  std::vector<T> host(layout.size());
  es::estimate_gradient<T>(layout, noise, sigma, seed, generation, c, population, host);

  const blas_handle blas;
  thrust::device_vector<T> gradient(layout.size(), T(7));
  es::estimate_gradient<T>(device, blas.handle, layout, noise, sigma, seed, generation, c, population,
                           device_span(gradient), chunk_elements);
  const thrust::host_vector<T> got = gradient;
  constexpr bool low = std::same_as<Noise, es::low_rank>;
  std::size_t r = 0;
  if constexpr (low) r = noise.rank;
  for (std::size_t l = 0; l < layout.block_count(); ++l) {
    const es::parameter_block& block = layout.block(l);
    check_block<T>(block, l, host, got, !(low && block.is_matrix()), r, c, sigma);
  }
}

}  // namespace

TEMPLATE_TEST_CASE("the device gradient estimate matches the host's", "[gpu]", float, double) {
  using T = TestType;
  for (std::size_t r : {1u, 3u}) {
    INFO("rank " << r);
    check_estimate<T>(es::low_rank{r}, 30, es::detail::default_chunk_elements);  // one chunk
    check_estimate<T>(es::low_rank{r}, 30, 1000);  // chunks of 5 and 3 members (r = 3), 15 and 11 (r = 1)
    check_estimate<T>(es::low_rank{r}, 1, 1000);
  }
  INFO("full rank");
  check_estimate<T>(es::full_rank{}, 30, es::detail::default_chunk_elements);
}

TEST_CASE("with no coefficients the device gradient is zero", "[gpu]") {
  const es::parameter_layout layout = test_layout();
  const blas_handle blas;
  thrust::device_vector<double> gradient(layout.size(), 7.0);
  es::estimate_gradient<double>(device, blas.handle, layout, es::low_rank{2}, 0.1, seed, generation, {}, population,
                                device_span(gradient));
  CHECK(same_bits(std::vector<double>(layout.size(), 0.0), gradient));
}

TEST_CASE("bad arguments of the device gradient estimate are refused before any launch", "[gpu]") {
  const es::parameter_layout layout = test_layout();
  const blas_handle blas;
  const std::vector<float> c = test_coefficients<float>(4);
  thrust::device_vector<float> gradient(layout.size() + 1, 7.0f);
  const std::span<float> g = device_span(gradient).first(layout.size());
  const std::string where = "tessera::es::estimate_gradient: ";
  const auto call = [&](es::low_rank noise, float sigma, std::size_t n, std::span<float> out, cublasHandle_t h) {
    return message_of([&] { es::estimate_gradient<float>(device, h, layout, noise, sigma, 1, 0, c, n, out); });
  };
  CHECK(call({1}, 0.1f, 8, device_span(gradient), blas.handle) ==
        where + "gradient.size() = " + std::to_string(layout.size() + 1) + "; expected layout.size() = " +
            std::to_string(layout.size()));
  CHECK(call({1}, 0.0f, 8, g, blas.handle) == where + "sigma = 0; expected a finite number > 0");
  CHECK(call({1}, std::nanf(""), 8, g, blas.handle) == where + "sigma = nan; expected a finite number > 0");
  CHECK(call({1}, 0.1f, 0, g, blas.handle) == where + "population = 0; expected >= 1");
  CHECK(call({21}, 0.1f, 8, g, blas.handle) ==
        "tessera::es::low_rank: rank = 21; expected 1 <= rank <= min(m, n) = 20 (block 2)");
  CHECK(call({1}, 0.1f, 8, g, nullptr) == where + "handle = null; expected a cuBLAS handle from cublasCreate");
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  CHECK(same_bits(std::vector<float>(gradient.size(), 7.0f), gradient));  // nothing was written
}
