// The device batched perturbed forward against the host's perturbed_forward: EGGROLL's two
// kernels and the naive full-rank path, shared and per-member inputs, float and double, ranks 1
// to 100, odd m, n not a multiple of the vector width, first > 0, antithetic pairs on and off and
// cut at either end of the range (first odd, first + count odd), A's rows split across blocks or
// walked in several chunks by one, a part-filled tile of projections, several tiles of X's rows
// and of B's columns, more rows than a thread holds at once, a misaligned output (the scalar
// variant), on a stream whose earlier work writes X (the GEMM on the forward's side stream must
// wait for it); the cuBLAS handle comes back as it was; bad arguments are refused before any launch.
//
// Tolerance, elementwise: 2 (m + r + 2) u M, M = |X||W| + |σ/√r| (|X||A|)|B|ᵀ (full rank:
// 2 (m + 2) u |X| |W + σE|), u = 2^-24 (float) or 2^-53 (double). Host and device draw the same
// A, B (or E) bit for bit and each computes a dot product of length m (X W, X A) and one of
// length r (P Bᵀ) plus two roundings, so each is within (m + r + 2) u M of the exact value, in
// whatever order it sums. A wrong draw index, sign, member or row is off by O(σ M), thousands of
// times the tolerance at these sizes.
#include <catch2/catch.hpp>
#include <cublas_v2.h>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <tessera/es/cuda/perturbed_forward.cuh>
#include <tessera/es/perturbed_forward.hpp>
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

/// rows × cols entries uniform in [-1, 1), from their own stream.
template <class T>
es::matrix<T> uniform_matrix(std::size_t rows, std::size_t cols, std::uint32_t id) {
  es::matrix<T> x(rows, cols);
  tessera::fill_uniform(tessera::exec::host, tessera::random_stream(99, id), std::span<T>(x.data(), x.size()));
  return (x.array() * T(2) - T(1)).matrix();
}

template <class T>
thrust::device_vector<T> to_device(const es::matrix<T>& x) {
  return thrust::device_vector<T>(x.data(), x.data() + x.size());
}

template <class T>
tessera::matrix_view<const T> view_of(const thrust::device_vector<T>& v, std::size_t rows, std::size_t cols) {
  return {thrust::raw_pointer_cast(v.data()), rows, cols};
}

/// One configuration of the forward; rank 0 means full rank.
struct forward_case {
  es::member_inputs inputs;
  std::size_t m, n, b, rank;
  std::size_t first, count;
  bool antithetic;
  std::size_t layer;
  std::size_t out_offset = 0;  ///< elements the output starts past a 256-byte boundary
};

std::string describe(const forward_case& c) {
  return std::string(c.inputs == es::member_inputs::shared ? "shared" : "per-member") + " m = " +
         std::to_string(c.m) + ", n = " + std::to_string(c.n) + ", b = " + std::to_string(c.b) +
         ", rank = " + (c.rank == 0 ? std::string("full") : std::to_string(c.rank)) + ", first = " +
         std::to_string(c.first) + ", count = " + std::to_string(c.count) +
         (c.antithetic ? ", antithetic" : "") + ", out offset " + std::to_string(c.out_offset);
}

/// The host's outputs (count b × n) and each output's tolerance.
template <class T>
struct reference {
  es::matrix<T> y;
  es::matrix<double> tolerance;
};

/// Member first + q's inputs: X itself (shared) or its rows [q b, q b + b).
template <class T>
es::matrix<T> member_rows(const forward_case& c, const es::matrix<T>& x, std::size_t q) {
  if (c.inputs == es::member_inputs::shared) return x;
  return x.middleRows(static_cast<Eigen::Index>(q * c.b), static_cast<Eigen::Index>(c.b));
}

/// M of the tolerance for one member (see the top of this file), in double.
template <class T>
es::matrix<double> magnitude(const forward_case& c, const es::matrix<T>& xq, const es::matrix<T>& w, T sigma,
                             const es::population_noise& population, std::size_t member) {
  const es::member_noise who = es::member_noise::of(member, population.antithetic);
  const auto stream = es::noise_stream(population.seed, c.layer, population.generation, who.index);
  const es::matrix<double> abs_x = xq.template cast<double>().cwiseAbs();
  if (c.rank == 0) {
    es::matrix<T> e(c.m, c.n);
    es::fill_dense_noise<T>(stream, std::span<T>(e.data(), e.size()));
    const es::matrix<T> perturbed = w + (who.negated ? -sigma : sigma) * e;
    return abs_x * perturbed.template cast<double>().cwiseAbs();
  }
  es::matrix<T> a(c.m, c.rank), b(c.n, c.rank);
  es::fill_low_rank_factors<T>(stream, c.m, c.n, c.rank, std::span<T>(a.data(), a.size()),
                               std::span<T>(b.data(), b.size()));
  const double scale = static_cast<double>(sigma) / std::sqrt(static_cast<double>(c.rank));
  return abs_x * w.template cast<double>().cwiseAbs() +
         scale * (abs_x * a.template cast<double>().cwiseAbs()) * b.template cast<double>().cwiseAbs().transpose();
}

template <class T>
reference<T> host_forward(const forward_case& c, const es::matrix<T>& x, const es::matrix<T>& w, T sigma,
                          const es::population_noise& population) {
  constexpr double u = std::numeric_limits<T>::epsilon() / 2;
  const double factor = 2 * static_cast<double>(c.m + c.rank + 2) * u;
  reference<T> ref{es::matrix<T>(c.count * c.b, c.n), es::matrix<double>(c.count * c.b, c.n)};
  for (std::size_t q = 0; q < c.count; ++q) {
    const es::matrix<T> xq = member_rows(c, x, q);
    es::matrix<T> yq(c.b, c.n);
    const std::span<T> out(yq.data(), yq.size());
    const std::size_t member = c.first + q;
    if (c.rank == 0)
      es::perturbed_forward(tessera::exec::host, xq, w, c.layer, es::full_rank{}, sigma, population, member, 1, out);
    else
      es::perturbed_forward(tessera::exec::host, xq, w, c.layer, es::low_rank{c.rank}, sigma, population, member, 1,
                            out);
    const auto rows = static_cast<Eigen::Index>(q * c.b);
    const auto b = static_cast<Eigen::Index>(c.b);
    ref.y.middleRows(rows, b) = yq;
    ref.tolerance.middleRows(rows, b) = factor * magnitude(c, xq, w, sigma, population, member);
  }
  return ref;
}

const float test_sigma = 0.5f;

/// The population of every case.
es::population_noise population_of(const forward_case& c) { return {0xfeed, 4, c.antithetic}; }

/// Case c's forward on the device, on `policy`'s stream.
template <class T>
void device_forward(const forward_case& c, tessera::exec::cuda policy, cublasHandle_t handle,
                    tessera::matrix_view<const T> x, tessera::matrix_view<const T> w, std::span<T> out,
                    std::size_t scratch_bytes) {
  const T sigma = T(test_sigma);
  if (c.rank == 0) {
    es::perturbed_forward<T>(policy, handle, x, c.inputs, w, c.layer, es::full_rank{}, sigma, population_of(c),
                             c.first, c.count, out, scratch_bytes);
  } else {
    es::perturbed_forward<T>(policy, handle, x, c.inputs, w, c.layer, es::low_rank{c.rank}, sigma, population_of(c),
                             c.first, c.count, out);
  }
}

/// Compares the device's outputs with the host's, reporting the worst output.
template <class T>
void compare_with_host(const forward_case& c, const thrust::host_vector<T>& got, const reference<T>& ref) {
  double worst_ratio = 0;
  std::size_t worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double difference = std::abs(static_cast<double>(got[i]) - static_cast<double>(ref.y.data()[i]));
    const double ratio = difference / (ref.tolerance.data()[i] + std::numeric_limits<double>::min());
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      worst = i;
    }
  }
  INFO("worst output: member " << c.first + worst / (c.b * c.n) << ", row " << worst / c.n % c.b << ", column "
                               << worst % c.n << ": device " << got[worst] << ", host " << ref.y.data()[worst]
                               << ", tolerance " << ref.tolerance.data()[worst] << " (ratio " << worst_ratio << ")");
  CHECK(worst_ratio <= 1);
}

/// Runs the device forward of case c and compares it with the host's.
template <class T>
void check_forward(const forward_case& c, std::size_t scratch_bytes = es::default_forward_scratch_bytes) {
  INFO(describe(c));
  const std::size_t x_rows = c.inputs == es::member_inputs::shared ? c.b : c.count * c.b;
  const es::matrix<T> x = uniform_matrix<T>(x_rows, c.m, 1), w = uniform_matrix<T>(c.m, c.n, 2);
  const reference<T> ref = host_forward(c, x, w, T(test_sigma), population_of(c));

  const blas_handle blas;
  const thrust::device_vector<T> dx = to_device(x), dw = to_device(w);
  thrust::device_vector<T> dout(c.out_offset + c.count * c.b * c.n, T(0));
  device_forward<T>(c, device, blas.handle, view_of(dx, x_rows, c.m), view_of(dw, c.m, c.n),
                    device_span(dout).subspan(c.out_offset), scratch_bytes);
  compare_with_host(c, thrust::host_vector<T>(dout.begin() + static_cast<std::ptrdiff_t>(c.out_offset), dout.end()),
                    ref);
}

/// Keeps one thread busy for `cycles` clock cycles.
__global__ void spin_kernel(long long cycles) {
  const long long start = clock64();
  while (clock64() - start < cycles) {
  }
}

}  // namespace

TEMPLATE_TEST_CASE("the device low-rank forward matches the host's", "[gpu]", float, double) {
  using es::member_inputs;
  const std::vector<forward_case> cases = {
      // n = 30: the scalar variant for float, the vector one for double; odd m; first > 0
      {member_inputs::shared, 37, 30, 5, 1, 3, 7, true, 2},
      // two (float) or three (double) chunks of A's rows; tiles of 1024 or 512 columns, the last 52 wide
      {member_inputs::per_member, 3001, 2100, 2, 3, 0, 4, false, 0},
      // ten rows: more than a thread holds at once
      {member_inputs::shared, 64, 2100, 10, 1, 1, 3, true, 1},
      // rank 16: four rank groups per row, three (float) or five (double) chunks of A, narrow tiles
      {member_inputs::shared, 1000, 64, 9, 16, 6, 5, true, 3},
      {member_inputs::per_member, 29, 33, 1, 16, 5, 3, true, 0},
      // rank 100: tiles of 64 (float) or 32 (double) columns, rows split between groups of threads
      {member_inputs::shared, 150, 150, 6, 100, 0, 4, false, 5},
      // the output one element past alignment: the scalar variant for n a multiple of 4
      {member_inputs::shared, 64, 2100, 10, 1, 1, 3, true, 1, 1},
      {member_inputs::per_member, 40, 128, 3, 2, 9, 2, true, 0, 1},
      // eleven projections in a tile of sixteen; A's rows split in two (float) or four (double)
      // ranges, summed by a second kernel
      {member_inputs::shared, 700, 20, 3, 1, 2, 11, false, 4},
      // 1000 rows: 32 tiles of X's rows, 34 units, 1088 blocks of work: one range of A's rows each,
      // walked in three (float) or five (double) chunks that add into the same sums
      {member_inputs::shared, 480, 4, 1000, 1, 1, 66, true, 6},
      // X W by the skinny product (b <= 8), its ranges of W's rows added by a second kernel: one
      // row of X and 62 ranges (float); eight rows, n not a multiple of the vector width (float) and the
      // last tile part-filled. (b = 5, 6, 3 above take it too: one range, or a few.)
      {member_inputs::shared, 2000, 516, 1, 2, 0, 3, true, 0},
      {member_inputs::shared, 3001, 302, 8, 1, 1, 4, true, 2},
      // The fused kernel (X W, then one block per unit drawing A and expanding B): m <= 2048 with
      // any units (700 x 20, 2000 x 516 and, for double, 37 x 30 above take it too; 1500 rows: two
      // chunks of X for float, three for double, at rank 4 one tile of 1024 columns for float, the
      // two kernels for double), or, whatever m, 2 units per SM at ranks 2 to 4 and 8 at rank 1
      // (264 and 1056 on a 132-SM H100 or H200: 2500 and 2100 rows, three and five chunks, the
      // last part-filled; first = 1 cuts off the first pair's + member; rank 3 for float only)
      {member_inputs::shared, 1500, 1024, 8, 4, 0, 10, false, 2},
      {member_inputs::shared, 2500, 32, 4, 2, 1, 601, true, 3},
      {member_inputs::shared, 2500, 32, 8, 3, 0, 600, true, 1},
      {member_inputs::shared, 2100, 8, 1, 1, 0, 2200, true, 0},
  };
  for (const forward_case& c : cases) check_forward<TestType>(c);
}

TEST_CASE("the device forward starts after the work enqueued before it on the caller's stream", "[gpu]") {
  // X is written on the caller's stream behind a kernel of about a millisecond; a GEMM (on the
  // side stream) that did not wait for it would read the zeros X held before.
  using T = float;
  for (const es::member_inputs inputs : {es::member_inputs::shared, es::member_inputs::per_member}) {
    const forward_case c{inputs, 256, 1000, 8, 2, 0, 12, true, 1};
    INFO(describe(c));
    const std::size_t x_rows = inputs == es::member_inputs::shared ? c.b : c.count * c.b;
    const es::matrix<T> x = uniform_matrix<T>(x_rows, c.m, 1), w = uniform_matrix<T>(c.m, c.n, 2);
    const reference<T> ref = host_forward(c, x, w, T(test_sigma), population_of(c));
    const blas_handle blas;
    cudaStream_t stream = nullptr;
    REQUIRE(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess);
    thrust::device_vector<T> dx(x.size(), T(0));
    const thrust::device_vector<T> x_source = to_device(x), dw = to_device(w);
    thrust::device_vector<T> dout(c.count * c.b * c.n, T(0));
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);  // thrust's fills are done
    spin_kernel<<<1, 1, 0, stream>>>(2'000'000);
    REQUIRE(cudaMemcpyAsync(thrust::raw_pointer_cast(dx.data()), thrust::raw_pointer_cast(x_source.data()),
                            x.size() * sizeof(T), cudaMemcpyDeviceToDevice, stream) == cudaSuccess);
    device_forward<T>(c, tessera::exec::cuda{stream}, blas.handle, view_of(dx, x_rows, c.m), view_of(dw, c.m, c.n),
                      device_span(dout), es::default_forward_scratch_bytes);
    thrust::host_vector<T> got(dout.size());
    REQUIRE(cudaMemcpyAsync(got.data(), thrust::raw_pointer_cast(dout.data()), got.size() * sizeof(T),
                            cudaMemcpyDeviceToHost, stream) == cudaSuccess);
    REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);
    compare_with_host(c, got, ref);
    cudaStreamDestroy(stream);
  }
}

TEMPLATE_TEST_CASE("the device full-rank forward matches the host's", "[gpu]", float, double) {
  using T = TestType;
  using es::member_inputs;
  const forward_case shared{member_inputs::shared, 37, 30, 5, 0, 3, 5, true, 2};
  check_forward<T>(shared);
  check_forward<T>(shared, 2 * 37 * 30 * sizeof(T));  // chunks of 2, 2 and 1 members
  check_forward<T>({member_inputs::per_member, 20, 64, 3, 0, 0, 4, false, 0});
  check_forward<T>({member_inputs::per_member, 20, 64, 3, 0, 1, 5, true, 1}, 3 * 20 * 64 * sizeof(T));
}

TEST_CASE("the device forward leaves the caller's cuBLAS handle as it found it", "[gpu]") {
  const blas_handle blas;
  cudaStream_t stream = nullptr;
  REQUIRE(cudaStreamCreate(&stream) == cudaSuccess);
  REQUIRE(cublasSetPointerMode(blas.handle, CUBLAS_POINTER_MODE_DEVICE) == CUBLAS_STATUS_SUCCESS);
  const thrust::device_vector<float> x(4 * 6, 0.5f), w(6 * 8, 0.25f);
  thrust::device_vector<float> out(2 * 4 * 8);
  es::perturbed_forward<float>(tessera::exec::cuda{stream}, blas.handle, view_of(x, 4, 6), es::member_inputs::shared,
                               view_of(w, 6, 8), 0, es::low_rank{2}, 0.1f, {}, 0, 2, device_span(out));
  REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);
  cudaStream_t after = nullptr;
  cublasPointerMode_t mode = CUBLAS_POINTER_MODE_HOST;
  CHECK(cublasGetStream(blas.handle, &after) == CUBLAS_STATUS_SUCCESS);
  CHECK(cublasGetPointerMode(blas.handle, &mode) == CUBLAS_STATUS_SUCCESS);
  CHECK(after == nullptr);
  CHECK(mode == CUBLAS_POINTER_MODE_DEVICE);
  cudaStreamDestroy(stream);
}

TEST_CASE("bad arguments of the device forward are refused before any launch", "[gpu]") {
  const blas_handle blas;
  constexpr std::size_t big = 2049;  // above max_device_rank, so that rank 2049 fits min(m, n)
  const thrust::device_vector<float> x(2 * big, 1.0f), w(big * big, 1.0f);
  thrust::device_vector<float> out(3 * 2 * big, 7.0f);
  // Three members of b = 2 rows (or x_rows / 3 per member) through an m × n layer.
  const auto call = [&](std::size_t rank, float sigma, std::size_t m, std::size_t n, std::size_t out_size,
                        es::member_inputs inputs = es::member_inputs::shared, std::size_t x_rows = 2,
                        std::size_t x_cols = 0, bool null_handle = false) {
    return message_of([&] {
      es::perturbed_forward<float>(device, null_handle ? nullptr : blas.handle,
                                   view_of(x, x_rows, x_cols == 0 ? m : x_cols), inputs, view_of(w, m, n), 0,
                                   es::low_rank{rank}, sigma, {}, 0, 3, device_span(out).first(out_size));
    });
  };
  const std::string where = "tessera::es::perturbed_forward: ";
  CHECK(call(0, 0.1f, 5, 3, 18) == "tessera::es::low_rank: rank = 0; expected 1 <= rank <= min(m, n) = 3 (block 0)");
  CHECK(call(4, 0.1f, 5, 3, 18) == "tessera::es::low_rank: rank = 4; expected 1 <= rank <= min(m, n) = 3 (block 0)");
  CHECK(call(2049, 0.1f, big, big, 6 * big) == where + "rank = 2049; expected <= 2048 on the device");
  CHECK(call(1, 0.0f, 5, 3, 18) == where + "sigma = 0; expected a finite number > 0");
  CHECK(call(1, -1.0f, 5, 3, 18) == where + "sigma = -1; expected a finite number > 0");
  CHECK(call(1, std::nanf(""), 5, 3, 18) == where + "sigma = nan; expected a finite number > 0");
  CHECK(call(1, 0.1f, 5, 3, 17) == where + "out.size() = 17; expected count b n = 18");
  CHECK(call(1, 0.1f, 4, 3, 18, es::member_inputs::shared, 2, 5) == where + "x.cols = 5; expected w.rows = 4");
  CHECK(call(1, 0.1f, 5, 3, 18, es::member_inputs::per_member, 4) ==
        where + "x.rows = 4; expected count b (count = 3) with per-member inputs");
  CHECK(call(1, 0.1f, 5, 3, 18, es::member_inputs::shared, 2, 0, true) ==
        where + "handle = null; expected a cuBLAS handle from cublasCreate");
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  CHECK(same_bits(std::vector<float>(out.size(), 7.0f), out));  // nothing was written
}
