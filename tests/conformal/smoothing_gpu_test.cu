// Device Monte Carlo smoothing against the host's smooth_score_table: the same perturbations and
// the same Welford recurrence give the same bits, float and double, with and without variances,
// in one launch or many; RSCP+ calibrated from device tables equals RSCP+ from host tables; and
// bad inputs give the host's messages.
//
// Tolerance: none. The score functions below use IEEE operations only, with their multiply-adds
// written as fma on both sides, so they return the same bits on host and device; the backend
// rounds x + sigma z and the Welford updates as the host does. Any difference is a bug.
#include <catch2/catch.hpp>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <tessera/conformal/cuda/smoothing.cuh>
#include <tessera/conformal/robust_conformal.hpp>
#include <tessera/core/detail/reproducible_math.hpp>
#include <tessera/core/random.hpp>
#include <vector>
#include <xtensor/xtensor.hpp>

#include "support/gpu_support.cuh"
#include "support/test_support.hpp"

namespace cf = tessera::conformal;
using tessera::test::domain_message_of;
using tessera::test::message_of;

namespace {

const tessera::exec::cuda device{};

// Two labels from a linear function of three coordinates, squashed into [0, 1] by
// t -> 1/2 + t / (2 (1 + |t|)): callable on host (label_score_function) and device.
template <class T>
struct linear_scores {
  std::array<T, 3> w;
  T b;

  TESSERA_HOST_DEVICE void evaluate(const T* x, std::size_t d, T* scores) const {
    T z = b;
    for (std::size_t c = 0; c < d; ++c) z = tessera::detail::fused_multiply_add(w[c], x[c], z);
    const T t = z / (T(1) + (z < 0 ? -z : z));
    scores[0] = tessera::detail::fused_multiply_add(T(0.5), t, T(0.5));
    scores[1] = T(1) - scores[0];
  }
  void operator()(std::span<const T> x, std::span<T> scores) const { evaluate(x.data(), x.size(), scores.data()); }
  __device__ void operator()(const T* x, std::size_t d, T* scores) const { evaluate(x, d, scores); }
};

// One label per coordinate, the coordinate itself: the means of one perturbation are the
// perturbed point.
template <class T>
struct coordinate_scores {
  TESSERA_HOST_DEVICE void evaluate(const T* x, std::size_t d, T* scores) const {
    for (std::size_t c = 0; c < d; ++c) scores[c] = x[c];
  }
  void operator()(std::span<const T> x, std::span<T> scores) const { evaluate(x.data(), x.size(), scores.data()); }
  __device__ void operator()(const T* x, std::size_t d, T* scores) const { evaluate(x, d, scores); }
};

// Label 1 scores 1.5 (out of range) wherever the first coordinate exceeds 0.6.
template <class T>
struct out_of_range_scores {
  TESSERA_HOST_DEVICE void evaluate(const T* x, std::size_t, T* scores) const {
    scores[0] = T(0.5);
    scores[1] = x[0] > T(0.6) ? T(1.5) : T(0.5);
  }
  void operator()(std::span<const T> x, std::span<T> scores) const { evaluate(x.data(), x.size(), scores.data()); }
  __device__ void operator()(const T* x, std::size_t d, T* scores) const { evaluate(x, d, scores); }
};

static_assert(cf::device_label_score_function<linear_scores<float>, float>);
static_assert(cf::label_score_function<linear_scores<float>, float>);
static_assert(!cf::device_label_score_function<linear_scores<float>, double>);

// n x d points, coordinates uniform in [lo, hi).
template <class T>
xt::xtensor<T, 2> points(std::size_t n, std::size_t d, std::uint32_t id, T lo = T(-1), T hi = T(1)) {
  auto x = xt::xtensor<T, 2>::from_shape({n, d});
  tessera::fill_uniform(tessera::exec::host, tessera::random_stream(55, id), std::span<T>(x.data(), x.size()));
  for (T& v : x) v = lo + (hi - lo) * v;
  return x;
}

template <class T>
struct device_points {
  thrust::device_vector<T> values;
  tessera::matrix_view<const T> view;

  explicit device_points(const xt::xtensor<T, 2>& x)
      : values(x.data(), x.data() + x.size()),
        view{thrust::raw_pointer_cast(values.data()), x.shape()[0], x.shape()[1]} {}
};

template <class T>
bool same_values(const xt::xtensor<T, 2>& a, const xt::xtensor<T, 2>& b) {
  return a.shape() == b.shape() && std::equal(a.begin(), a.end(), b.begin());
}
}  // namespace

TEMPLATE_TEST_CASE("a device perturbation is x + sigma z with the host's draws", "[gpu]", float, double) {
  using T = TestType;
  // d = 5 cuts Philox blocks (2 or 4 draws each); one sample: each mean is the perturbed coordinate.
  const auto x = points<T>(40, 5, 1, T(0.2), T(0.8));
  const device_points<T> dx(x);
  const cf::smoothing_parameters smoothing{0.01, 1};
  const auto table = cf::smooth_score_table(device, dx.view, coordinate_scores<T>{}, 5, smoothing, 9,
                                            cf::noise_role::test, 7);
  for (std::size_t i = 0; i < 40; ++i) {
    const auto noise = cf::noise_stream(9, static_cast<std::uint32_t>(7 + i), cf::noise_role::test);
    for (std::size_t c = 0; c < 5; ++c) CHECK(table.mean(i, c) == x(i, c) + T(0.01) * tessera::normal<T>(noise, c));
  }
}

TEMPLATE_TEST_CASE("device smoothing equals the host's bit for bit", "[gpu]", float, double) {
  using T = TestType;
  const linear_scores<T> score{{T(1.5), T(-0.75), T(2)}, T(0.25)};
  const auto x = points<T>(64, 3, 2);
  const device_points<T> dx(x);
  for (const auto role : {cf::noise_role::calibration, cf::noise_role::test}) {
    for (const std::uint32_t samples : {2u, 37u, 256u}) {
      INFO("samples = " << samples);
      const cf::smoothing_parameters smoothing{0.5, samples};
      const auto host = cf::smooth_score_table<T>(x, score, 2, smoothing, 12, role, 100, true);
      const auto dev = cf::smooth_score_table(device, dx.view, score, 2, smoothing, 12, role, 100, true);
      CHECK(same_values(dev.mean, host.mean));
      CHECK(same_values(dev.variance, host.variance));
      const auto means_only = cf::smooth_score_table(device, dx.view, score, 2, smoothing, 12, role, 100);
      CHECK(same_values(means_only.mean, host.mean));
      CHECK(means_only.variance.size() == 0);
    }
  }
}

TEMPLATE_TEST_CASE("smoothing in many small launches gives the bits of one", "[gpu]", float, double) {
  using T = TestType;
  const linear_scores<T> score{{T(-1), T(0.5), T(0.125)}, T(-0.5)};
  const auto x = points<T>(23, 3, 3);
  const device_points<T> dx(x);
  const cf::smoothing_parameters smoothing{0.25, 41};
  const auto host = cf::smooth_score_table<T>(x, score, 2, smoothing, 4, cf::noise_role::test, 0, true);
  const std::size_t pair_bytes = (3 + 2) * sizeof(T);
  // 5 pairs per launch: one point, samples in 9 pieces; 100 pairs: two points, all samples.
  for (const std::size_t pairs : {std::size_t{1}, std::size_t{5}, std::size_t{100}}) {
    INFO("pairs per launch = " << pairs);
    thrust::device_vector<T> mean(23 * 2), variance(23 * 2);
    cf::smooth_score_table_into(device, dx.view, score, smoothing, 4, cf::noise_role::test, 0,
                                tessera::matrix_view<T>{thrust::raw_pointer_cast(mean.data()), 23, 2},
                                tessera::matrix_view<T>{thrust::raw_pointer_cast(variance.data()), 23, 2},
                                pairs * pair_bytes);
    const thrust::host_vector<T> m = mean, v = variance;
    CHECK(std::equal(m.begin(), m.end(), host.mean.begin()));
    CHECK(std::equal(v.begin(), v.end(), host.variance.begin()));
  }
}

TEMPLATE_TEST_CASE("RSCP+ calibrated on device tables equals RSCP+ on host tables", "[gpu]", float, double) {
  using T = TestType;
  const linear_scores<T> score{{T(2), T(1), T(-1)}, T(0)};
  const auto calibration = points<T>(200, 3, 4);
  const auto test = points<T>(100, 3, 5);
  const device_points<T> d_calibration(calibration), d_test(test);
  std::vector<std::int32_t> labels(200);
  for (std::size_t i = 0; i < 200; ++i) labels[i] = calibration(i, 0) + calibration(i, 1) > 0 ? 1 : 0;
  const cf::smoothing_parameters smoothing{0.25, 64};
  for (const auto correction :
       {cf::monte_carlo_correction::hoeffding, cf::monte_carlo_correction::empirical_bernstein}) {
    const cf::robust_parameters robust{0.1, 0.125, 0.001, correction};
    const bool variance = correction == cf::monte_carlo_correction::empirical_bernstein;
    cf::robust_conformal_classifier<T> on_host(smoothing, robust, 3), on_device(smoothing, robust, 3);
    on_host.calibrate(calibration, labels, 2, score);
    on_device.calibrate(cf::smooth_score_table(device, d_calibration.view, score, 2, smoothing, 3,
                                               cf::noise_role::calibration),
                        labels);
    CHECK(on_device.threshold() == on_host.threshold());
    const auto expected = on_host.predict(test, score, 1000);
    const auto got = on_device.predict(
        cf::smooth_score_table(device, d_test.view, score, 2, smoothing, 3, cf::noise_role::test, 1000, variance));
    REQUIRE(got.shape() == expected.shape());
    CHECK(std::equal(got.begin(), got.end(), expected.begin()));
  }
}

TEST_CASE("device smoothing gives the host's errors", "[gpu]") {
  const std::string where = "tessera::conformal::smooth_score_table: ";
  auto x = points<double>(10, 2, 6, 0.4, 0.8);
  const cf::smoothing_parameters smoothing{0.2, 16};
  {
    // The first out-of-range score in host order (point, perturbation, label): same message.
    const device_points<double> dx(x);
    const auto host = domain_message_of([&] {
      (void)cf::smooth_score_table<double>(x, out_of_range_scores<double>{}, 2, smoothing, 1, cf::noise_role::test);
    });
    CHECK(host.starts_with(where + "the score function returned 1.5 for label 1 at perturbation "));
    CHECK(domain_message_of([&] {
            (void)cf::smooth_score_table(device, dx.view, out_of_range_scores<double>{}, 2, smoothing, 1,
                                         cf::noise_role::test);
          }) == host);
  }
  const device_points<double> good(x);
  x(3, 1) = std::numeric_limits<double>::infinity();
  const device_points<double> bad(x);
  const linear_scores<double> score{{1.0, 1.0, 1.0}, 0.0};
  const auto call = [&](const device_points<double>& p, const cf::smoothing_parameters& s, std::size_t labels,
                        bool variance, std::uint32_t first_id) {
    (void)cf::smooth_score_table(device, p.view, score, labels, s, 1, cf::noise_role::test, first_id, variance);
  };
  // The host's order: the smoothing, the points (shape, values, ids), then the label count.
  CHECK(message_of([&] { call(bad, smoothing, 0, false, 0); }) ==
        message_of([&] { (void)cf::smooth_score_table<double>(x, score, 0, smoothing, 1, cf::noise_role::test); }));
  CHECK(message_of([&] { call(bad, smoothing, 0, false, 0); }) == where + "points[7] = inf; expected a finite number");
  CHECK(message_of([&] { call(bad, {0.0, 16}, 2, false, 0); }) == where + "sigma = 0; expected a finite number > 0");
  CHECK(message_of([&] { call(good, {0.2, 1}, 2, true, 0); }) ==
        where + "samples = 1; expected >= 2 (a sample variance needs two values)");
  CHECK(message_of([&] { call(good, smoothing, 0, false, 0); }) == where + "label_count = 0; expected >= 1");
  CHECK(message_of([&] { call(good, smoothing, 2, false, 4294967290u); }) ==
        where + "first_point_id + n - 1 = 4294967299; expected <= 2^32 - 1 (a stream id is 32 bits)");
  thrust::device_vector<double> mean(20);
  CHECK(message_of([&] {
          cf::smooth_score_table_into(device, good.view, score, smoothing, 1, cf::noise_role::test, 0,
                                      tessera::matrix_view<double>{thrust::raw_pointer_cast(mean.data()), 9, 2});
        }) == where + "mean shape = 9 x 2; expected 10 x 2");
}
