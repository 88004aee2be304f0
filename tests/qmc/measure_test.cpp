// Gaussian and box transforms: QMCPy's transform on the same points, the factor identities,
// moments of transformed random points, clipping, and bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <tessera/core/random.hpp>
#include <tessera/qmc/measure.hpp>
#include <vector>
#include "support/test_support.hpp"

using tessera::test::message_of;

using tessera::invalid_argument;
using tessera::qmc::box_transform;
using tessera::qmc::factorization;
using tessera::qmc::gaussian_transform;
using tessera::qmc::point_array;

namespace {

template <class T>
using vec = typename gaussian_transform<T>::vector;
template <class T>
using mat = typename gaussian_transform<T>::matrix;

template <class T>
vec<T> example_mean() {
  vec<T> m(3);
  m << T(1), T(-2), T(0.5);
  return m;
}

template <class T>
mat<T> example_covariance() {
  mat<T> s(3, 3);
  s << T(4), T(1.2), T(-0.6), T(1.2), T(2), T(0.3), T(-0.6), T(0.3), T(1);
  return s;
}

// x_ij = ((5 i (2j + 1) + 3 j) mod n + 1/2) / n, as in the Python below.
point_array<double> fixed_points(std::size_t n, std::size_t d) {
  point_array<double> x = point_array<double>::from_shape({n, d});
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j)
      x(i, j) = (static_cast<double>((i * (2 * j + 1) * 5 + 3 * j) % n) + 0.5) /
                static_cast<double>(n);
  return x;
}

template <class T>
point_array<T> random_points(std::size_t n, std::size_t d, std::uint64_t seed) {
  point_array<T> u = point_array<T>::from_shape({n, d});
  tessera::fill_uniform(tessera::exec::host, tessera::random_stream(seed), std::span<T>(u.data(), u.size()));
  return u;
}

}  // namespace

TEST_CASE("gaussian_transform matches QMCPy's Gaussian transform on the same points") {
  // QMCPy 2.4 (NumPy 2.4.6, SciPy 1.17.1):
  //   import numpy as np; from qmcpy import DigitalNetB2, Gaussian
  //   n, d = 8, 3; i = np.arange(n)[:, None]; j = np.arange(d)[None, :]
  //   x = ((i * (2 * j + 1) * 5 + 3 * j) % n + 0.5) / n
  //   mean = [1., -2., 0.5]; cov = [[4., 1.2, -0.6], [1.2, 2., 0.3], [-0.6, 0.3, 1.]]
  //   for decomp in ["PCA", "Cholesky"]:
  //       g = Gaussian(DigitalNetB2(d, seed=7), mean=mean, covariance=cov, decomp_type=decomp)
  //       print(g.a.ravel(), g._transform(x).ravel())
  const double pca_factor[] = {1.9485577682305186,   0.37992100833829612, 0.24245133798705351,
                               0.86655711509000732,  -1.0601824438433118, -0.35368340652807451,
                               -0.25176439271250045, -0.70864114647900101, 0.65912245909165945};
  const double pca_points[] = {
      -1.8339982677949327,  -3.4763940641452344, 1.5824519726474628,    2.1386622244543658,
      -1.6008481333832236,  1.7344838857643965,  -0.66140426666332575,  -0.94042248960044583,
      0.24055174525783152,  3.1913880097525338,  1.2696197580598243,    0.61616579263506255,
      1.7708690857944627,   -3.3172568687196877, -0.94890968040494172,  -0.42975088985229926,
      -3.6536621910170521,  -0.0090036452813133661, 2.9524929320612592, -1.8050671859992782,
      0.033968014259085466, 0.87174117224793624, -2.4759688251949017,   0.75029191512241633};
  const double cholesky_points[] = {
      -2.0682410887050926, -3.1219282980984353, 1.6794947623412388,   1.977552822229339,
      -2.3326733702699549, 1.5159241885117105,  0.022447177770660964, -3.4293677735105845,
      -1.0316435476669903, 4.0682410887050926,  -3.044160561525965,   -1.3134719895483804,
      1.3146213692203415,  0.059019298903595363, 0.59905761657952716, -0.77429311803775192,
      -1.3961860085695426, 0.96066577115411178, 2.7742931180377521,   -0.841772847649918,
      0.555053588001168,   0.68537863077965855, -1.8929304392791948,  1.0349196106276146};
  const point_array<double> u = fixed_points(8, 3);
  const gaussian_transform<double> pca(example_mean<double>(), example_covariance<double>());
  const gaussian_transform<double> cholesky(example_mean<double>(), example_covariance<double>(),
                                            factorization::cholesky);
  CHECK(pca.method() == factorization::pca);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) CHECK(pca.factor()(r, c) == Approx(pca_factor[3 * r + c]).margin(1e-13));
  const point_array<double> x = pca(u);
  const point_array<double> y = cholesky(u);
  for (std::size_t k = 0; k < 24; ++k) {
    CHECK(x.data()[k] == Approx(pca_points[k]).margin(1e-13));
    CHECK(y.data()[k] == Approx(cholesky_points[k]).margin(1e-13));
  }
}

TEMPLATE_TEST_CASE("the factor reproduces the covariance in the documented form", "", float, double) {
  using T = TestType;
  const double tolerance = std::is_same_v<T, float> ? 1e-5 : 1e-13;
  const mat<T> sigma = example_covariance<T>();
  const gaussian_transform<T> pca(example_mean<T>(), sigma, factorization::pca);
  const gaussian_transform<T> cholesky(example_mean<T>(), sigma, factorization::cholesky);
  for (const auto* g : {&pca, &cholesky}) {
    const mat<T> product = g->factor() * g->factor().transpose();
    CHECK(((product - sigma).cwiseAbs().maxCoeff()) <= tolerance * 4);
    CHECK(g->covariance() == sigma);
  }
  // Cholesky: lower triangular with a positive diagonal.
  for (int r = 0; r < 3; ++r) {
    CHECK(cholesky.factor()(r, r) > 0);
    for (int c = r + 1; c < 3; ++c) CHECK(cholesky.factor()(r, c) == 0);
  }
  // PCA: column norms (square roots of eigenvalues) decrease, first entries are >= 0.
  for (int c = 0; c < 3; ++c) {
    CHECK(pca.factor()(0, c) >= 0);
    if (c > 0) CHECK(pca.factor().col(c).norm() < pca.factor().col(c - 1).norm());
  }
}

TEMPLATE_TEST_CASE("transformed uniform points have the requested moments", "", float, double) {
  using T = TestType;
  const std::size_t n = std::size_t{1} << 16;
  const point_array<T> u = random_points<T>(n, 3, 2026);
  const mat<T> sigma = example_covariance<T>();
  for (const factorization method : {factorization::pca, factorization::cholesky}) {
    const point_array<T> x = gaussian_transform<T>(example_mean<T>(), sigma, method)(u);
    double mean[3] = {0, 0, 0};
    for (std::size_t i = 0; i < n; ++i)
      for (int j = 0; j < 3; ++j) mean[j] += static_cast<double>(x(i, j)) / static_cast<double>(n);
    for (int j = 0; j < 3; ++j) {
      // 4 standard errors of a mean: sqrt(Sigma_jj / n).
      CHECK(std::abs(mean[j] - static_cast<double>(example_mean<T>()(j))) <=
            4 * std::sqrt(static_cast<double>(sigma(j, j)) / static_cast<double>(n)));
    }
    for (int a = 0; a < 3; ++a) {
      for (int b = 0; b < 3; ++b) {
        double cov = 0;
        for (std::size_t i = 0; i < n; ++i)
          cov += (static_cast<double>(x(i, a)) - mean[a]) * (static_cast<double>(x(i, b)) - mean[b]);
        cov /= static_cast<double>(n - 1);
        // 4 standard errors of a Gaussian sample covariance: sqrt((S_aa S_bb + S_ab^2) / n).
        const double sab = sigma(a, b), saa = sigma(a, a), sbb = sigma(b, b);
        CHECK(std::abs(cov - sab) <= 4 * std::sqrt((saa * sbb + sab * sab) / static_cast<double>(n)));
      }
    }
  }
}

TEMPLATE_TEST_CASE("the normal quantile is clipped symmetrically at 0 and 1", "", float, double) {
  using T = TestType;
  // SciPy 1.17.1: norm.ppf(2.0**-53) = -8.2095361516013874, norm.ppf(2.0**-24) = -5.2947040848545974
  const double edge = std::is_same_v<T, float> ? -5.2947040848545974 : -8.2095361516013874;
  const T low = tessera::qmc::normal_quantile_clipped(T(0));
  CHECK(static_cast<double>(low) == Approx(edge).epsilon(1e-6));
  CHECK(tessera::qmc::normal_quantile_clipped(T(1)) == -low);
  CHECK(tessera::qmc::normal_quantile_clipped(T(0.5)) == T(0));
  CHECK(tessera::qmc::normal_quantile_clipped(T(0.975)) == Approx(1.959963984540054).epsilon(1e-6));
  point_array<T> corners = point_array<T>::from_shape({2, 3});
  for (std::size_t j = 0; j < 3; ++j) {
    corners(0, j) = T(0);
    corners(1, j) = T(1);
  }
  const gaussian_transform<T> g(example_mean<T>(), example_covariance<T>(), factorization::cholesky);
  const point_array<T> x = g(corners);
  for (const T v : x) CHECK(std::isfinite(v));
  // u = 0 gives mean + A (low, low, low); u = 1 its mirror image about the mean.
  for (int j = 0; j < 3; ++j)
    CHECK(x(0, j) + x(1, j) == Approx(2 * example_mean<T>()(j)).margin(1e-5));
}

TEST_CASE("gaussian_transform accepts a semidefinite covariance with PCA only") {
  // Rank one: Sigma = v v^T with v = (1, 2).
  mat<double> sigma(2, 2);
  sigma << 1, 2, 2, 4;
  vec<double> mean = vec<double>::Zero(2);
  const gaussian_transform<double> pca(mean, sigma);
  CHECK(pca.factor()(0, 1) == 0);
  CHECK(pca.factor()(1, 1) == 0);
  CHECK(pca.factor()(0, 0) == Approx(1));
  CHECK(pca.factor()(1, 0) == Approx(2));
  CHECK(message_of([&] { gaussian_transform<double>(mean, sigma, factorization::cholesky); }) ==
        "tessera::qmc::gaussian_transform: covariance = not positive definite; expected a "
        "symmetric positive definite matrix for factorization::cholesky (factorization::pca "
        "accepts a semidefinite one)");
}

TEST_CASE("gaussian_transform rejects bad parameters and points") {
  const vec<double> mean = example_mean<double>();
  const mat<double> sigma = example_covariance<double>();
  CHECK(message_of([&] { gaussian_transform<double>(vec<double>(0), mat<double>(0, 0)); }) ==
        "tessera::qmc::gaussian_transform: mean.size() = 0; expected >= 1");
  vec<double> bad_mean = mean;
  bad_mean(1) = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH(gaussian_transform<double>(bad_mean, sigma), Catch::Contains("mean(1) = inf"));
  CHECK(message_of([&] { gaussian_transform<double>(mean, mat<double>::Identity(2, 3)); }) ==
        "tessera::qmc::gaussian_transform: covariance.shape = 2 x 3; expected 3 x 3 (mean.size() "
        "squared)");
  mat<double> asymmetric = sigma;
  asymmetric(0, 2) = 0.6;
  CHECK_THROWS_WITH(gaussian_transform<double>(mean, asymmetric),
                    Catch::Contains("covariance(0, 2) = 0.6; expected a symmetric matrix"));
  mat<double> nan_entry = sigma;
  nan_entry(2, 1) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH(gaussian_transform<double>(mean, nan_entry), Catch::Contains("covariance(2, 1)"));
  mat<double> indefinite = mat<double>::Identity(3, 3);
  indefinite(2, 2) = -0.5;
  CHECK_THROWS_WITH(gaussian_transform<double>(mean, indefinite),
                    Catch::Contains("smallest eigenvalue of covariance = -0.5"));
  CHECK_THROWS_AS(gaussian_transform<double>(mean, indefinite, factorization::cholesky),
                  invalid_argument);

  const gaussian_transform<double> g(mean, sigma);
  CHECK(message_of([&] { g(fixed_points(4, 2)); }) ==
        "tessera::qmc::gaussian_transform: points.shape(1) = 2; expected the dimension 3");
  point_array<double> u = fixed_points(4, 3);
  u(2, 1) = 1.25;
  CHECK(message_of([&] { g(u); }) ==
        "tessera::qmc::gaussian_transform: points(2, 1) = 1.25; expected 0 <= points(2, 1) <= 1");
}

TEMPLATE_TEST_CASE("box_transform maps the unit cube onto the box", "", float, double) {
  using T = TestType;
  const box_transform<T> box({T(-1), T(2), T(0.5)}, {T(3), T(2.5), T(1.5)});
  CHECK(box.dimension() == 3);
  CHECK(box.volume() == Approx(4 * 0.5 * 1.0));
  point_array<T> u = point_array<T>::from_shape({3, 3});
  for (std::size_t j = 0; j < 3; ++j) {
    u(0, j) = T(0);
    u(1, j) = T(1);
    u(2, j) = T(0.25);
  }
  const point_array<T> x = box(u);
  CHECK(x(0, 0) == T(-1));
  CHECK(x(1, 0) == T(3));
  CHECK(x(2, 0) == T(0));
  CHECK(x(0, 1) == T(2));
  CHECK(x(1, 1) == T(2.5));
  CHECK(x(2, 2) == T(0.75));
  // Lebesgue integral of t_0 t_1 t_2 over the box = volume * mean over uniform points, checked
  // with the midpoint rule on a 16^3 grid (exact for this multilinear integrand):
  // int_{-1}^{3} t dt * int_2^{2.5} t dt * int_{0.5}^{1.5} t dt = 4 * 1.125 * 1 = 4.5.
  point_array<T> grid = point_array<T>::from_shape({4096, 3});
  for (std::size_t i = 0; i < 4096; ++i)
    for (std::size_t j = 0; j < 3; ++j)
      grid(i, j) = static_cast<T>((static_cast<double>((i >> (4 * j)) & 15) + 0.5) / 16);
  const point_array<T> t = box(grid);
  double sum = 0;
  for (std::size_t i = 0; i < 4096; ++i)
    sum += static_cast<double>(t(i, 0)) * static_cast<double>(t(i, 1)) * static_cast<double>(t(i, 2));
  CHECK(box.volume() * sum / 4096 == Approx(4.5).epsilon(1e-6));
}

TEST_CASE("box_transform rejects bad bounds and points") {
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(message_of([] { box_transform<double>({}, {}); }) ==
        "tessera::qmc::box_transform: lower.size() = 0; expected >= 1");
  CHECK(message_of([] { box_transform<double>({0, 0}, {1}); }) ==
        "tessera::qmc::box_transform: upper.size() = 1; expected lower.size() = 2");
  CHECK(message_of([] { box_transform<double>({0, 2}, {1, 2}); }) ==
        "tessera::qmc::box_transform: upper(1) = 2; expected > lower(1) = 2 with a finite width");
  CHECK_THROWS_WITH(box_transform<double>({0, -inf}, {1, 0}), Catch::Contains("lower(1) = -inf"));
  CHECK_THROWS_WITH(box_transform<double>({-1e308, 0}, {1e308, 1}), Catch::Contains("upper(0)"));
  const box_transform<double> box({0, 0}, {1, 1});
  point_array<double> u = fixed_points(4, 2);
  u(3, 0) = -0.5;
  CHECK_THROWS_WITH(box(u), Catch::Contains("points(3, 0) = -0.5"));
  CHECK_THROWS_WITH(box(fixed_points(4, 3)), Catch::Contains("points.shape(1) = 3"));
}
