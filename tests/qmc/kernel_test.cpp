// Shift-invariant and digitally-shift-invariant kernels: QMCPy's kernel values on fixed points,
// the Bernoulli-polynomial and Fourier-series forms of eta, exact rational values of psi, the
// invariances that make them useful, and the argument errors.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <span>
#include <string>
#include <type_traits>
#include <tessera/qmc/kernel/digitally_shift_invariant.hpp>
#include <tessera/qmc/kernel/shift_invariant.hpp>
#include <vector>

using tessera::qmc::digitally_shift_invariant_kernel;
using tessera::qmc::shift_invariant_kernel;

namespace {

// Four points in [0,1)^4, the inputs of the QMCPy SI references below.
const double si_points[4][4] = {
    {0.1, 0.25, 0.7, 0.9}, {0.35, 0.8, 0.05, 0.45}, {0.999, 0.0, 0.5, 0.125}, {0.6, 0.6, 0.6, 0.6}};

// Four points of 64-bit and of 10-bit integers, drawn in numpy (PCG64(20240607)), the inputs of
// the QMCPy DSI references below.
const std::uint64_t dsi_points_64[4][4] = {
    {1850796302898093564u, 5662711969789158051u, 6628841357332924413u, 11811341284951082496u},
    {8908308789058167204u, 1545128377690256727u, 7292691632719719273u, 4157141573827367352u},
    {6167958596085167316u, 6878303838805007961u, 10683810860928103788u, 902130900137001261u},
    {9922268878519489032u, 2704247587894540344u, 5820689257228978275u, 7602862026074542554u}};
const std::uint64_t dsi_points_10[4][4] = {
    {877, 463, 334, 966}, {67, 121, 906, 935}, {801, 130, 512, 708}, {918, 886, 127, 803}};

template <class Kernel, class Point>
void check_gram(const Kernel& kernel, const Point (&points)[4][4], const double (&want)[16], double tolerance) {
  using Coordinate = std::remove_const_t<Point>;
  for (int i = 0; i < 4; ++i)
    for (int k = 0; k < 4; ++k) {
      INFO("i = " << i << ", k = " << k);
      const double got = kernel(std::span<const Coordinate>(points[i], 4), std::span<const Coordinate>(points[k], 4));
      // Relative to the diagonal K(x, x) = want[0]: off-diagonal entries may cancel far below it.
      CHECK(got == Approx(want[4 * i + k]).epsilon(tolerance).margin(tolerance * want[0]));
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

}  // namespace

TEST_CASE("the SI kernel reproduces QMCPy's KernelShiftInvar") {
  // qmcpy 2.4: KernelShiftInvar(d=4, alpha=[1,2,3,4], scale=10., lengthscales=[1, 1/4, 1/9, 1/16])
  // evaluated as kernel(pts[:,None,:], pts[None,:,:]) on si_points (row-major 4 x 4 Gram matrix).
  const double alpha_1234[16] = {91.23444453396341,  2.464304570106175,   26.320408434120168, -5.12902842247936,
                                 2.4643045701061794, 91.23444453396341,   -1.736032813664007, 5.628219850117504,
                                 26.320408434120175, -1.7360328136640035, 91.23444453396341,  -2.7835324645921187,
                                 -5.129028422479353, 5.628219850117503,   -2.783532464592124, 91.23444453396341};
  // KernelShiftInvar(d=4, alpha=[5,5,5,5], scale=2.5, lengthscales=[0.5,0.3,0.2,0.1]).
  const double alpha_5[16] = {13.457751610196535,    0.6649732777379214,  5.225117273556281,   0.0019295825905962793,
                              0.6649732777379223,    13.457751610196535,  0.6792150508893036,  2.0500637899814604,
                              5.225117273556295,     0.6792150508892998,  13.457751610196535,  0.2666142865268353,
                              0.0019295825905962793, 2.0500637899814578,  0.26661428652683217, 13.457751610196535};
  // KernelShiftInvar(d=4): QMCPy's defaults (scale 1, lengthscales 2^(1/4) - 1, alpha 2).
  const double defaults[16] = {3.947683212749438,  0.32637210832123265, 1.4508525541514465,  0.5642630323786472,
                               0.32637210832123276, 3.947683212749438,  0.4543726652948682,  0.8507725365651763,
                               1.4508525541514492, 0.45437266529486764, 3.947683212749438,   0.4172157644513288,
                               0.5642630323786482, 0.8507725365651777,  0.4172157644513279,  3.947683212749438};
  // Relative 1e-12: QMCPy sums the monomials in another order and takes (2 pi)^(2 alpha) / (2 alpha)!
  // through exp/lgamma.
  check_gram(shift_invariant_kernel<double>(10.0, {1.0, 0.25, 1.0 / 9, 1.0 / 16}, std::vector<int>{1, 2, 3, 4}),
             si_points, alpha_1234, 1e-12);
  check_gram(shift_invariant_kernel<double>(2.5, {0.5, 0.3, 0.2, 0.1}, 5), si_points, alpha_5, 1e-12);
  check_gram(shift_invariant_kernel<double>(4), si_points, defaults, 1e-12);
}

TEST_CASE("eta is the scaled Bernoulli polynomial of the spec") {
  const double pi = std::numbers::pi;
  for (double t : {0.0, 0.1, 0.25, 0.5, 0.7, 0.999}) {
    const double b2 = t * t - t + 1.0 / 6;
    const double b4 = t * t * t * t - 2 * t * t * t + t * t - 1.0 / 30;
    // B_6 = t^6 - 3t^5 + 5/2 t^4 - 1/2 t^2 + 1/42 (Abramowitz & Stegun 23.1.5).
    const double b6 = std::pow(t, 6) - 3 * std::pow(t, 5) + 2.5 * std::pow(t, 4) - 0.5 * t * t + 1.0 / 42;
    INFO("t = " << t);
    CHECK(tessera::qmc::shift_invariant_eta(1, t) == Approx(2 * pi * pi * b2).epsilon(1e-14));
    CHECK(tessera::qmc::shift_invariant_eta(2, t) == Approx(-std::pow(2 * pi, 4) / 24 * b4).epsilon(1e-13));
    CHECK(tessera::qmc::shift_invariant_eta(3, t) == Approx(std::pow(2 * pi, 6) / 720 * b6).epsilon(1e-13));
    // Period 1, and eta(t) = eta(1 - t) (the kernel is symmetric).
    CHECK(tessera::qmc::shift_invariant_eta(2, t - 3.0) == Approx(tessera::qmc::shift_invariant_eta(2, t)).epsilon(1e-12));
    // eta_4 = 2 sum cos(2 pi h t) / h^8 nearly cancels at t = 1/4 (-0.0078 from terms of size 30).
    CHECK(tessera::qmc::shift_invariant_eta(4, 1 - t) ==
          Approx(tessera::qmc::shift_invariant_eta(4, t)).epsilon(1e-12).margin(1e-13));
  }
}

TEST_CASE("eta equals its Fourier series sum_{h != 0} e^{2 pi i h t} / |h|^{2 alpha}") {
  // 2 sum_{h=1}^{H} cos(2 pi h t) / h^{2 alpha}; the tail is below 2 / ((2 alpha - 1) H^{2 alpha - 1}).
  for (int alpha = 1; alpha <= 5; ++alpha) {
    const long terms = alpha == 1 ? 2000000 : 4000;
    const double tail = 2.0 / ((2 * alpha - 1) * std::pow(static_cast<double>(terms), 2 * alpha - 1));
    for (double t : {0.0, 0.125, 0.3, 0.5, 0.81}) {
      long double series = 0;
      for (long h = terms; h >= 1; --h)
        series += 2.0L * std::cos(2 * std::numbers::pi_v<long double> * h * t) /
                  std::pow(static_cast<long double>(h), 2 * alpha);
      INFO("alpha = " << alpha << ", t = " << t);
      CHECK(std::abs(tessera::qmc::shift_invariant_eta(alpha, t) - static_cast<double>(series)) <= tail + 1e-13);
    }
  }
}

TEST_CASE("the SI kernel is shift invariant and symmetric, in float too") {
  const shift_invariant_kernel<double> k(3.0, {0.7, 0.2}, std::vector<int>{2, 3});
  const std::vector<double> x = {0.12, 0.93}, y = {0.55, 0.31}, shift = {0.77, 0.41};
  std::vector<double> xs(2), ys(2);
  for (int j = 0; j < 2; ++j) {
    xs[j] = std::fmod(x[j] + shift[j], 1.0);
    ys[j] = std::fmod(y[j] + shift[j], 1.0);
  }
  const double kxy = k(x, y);
  CHECK(k(xs, ys) == Approx(kxy).epsilon(1e-12));
  CHECK(k(y, x) == Approx(kxy).epsilon(1e-12));
  const shift_invariant_kernel<float> kf(3.0f, {0.7f, 0.2f}, std::vector<int>{2, 3});
  const std::vector<float> xf = {0.12f, 0.93f}, yf = {0.55f, 0.31f};
  CHECK(kf(xf, yf) == Approx(kxy).epsilon(1e-5));
  CHECK(k.dimension() == 2);
  CHECK(k.alpha()[1] == 3);
  CHECK(shift_invariant_kernel<double>(2).weights()[0] == Approx(std::sqrt(2.0) - 1));
}

TEST_CASE("the DSI kernel reproduces QMCPy's KernelDigShiftInvar where the series agree") {
  // qmcpy 2.4: KernelDigShiftInvar(d=4, t=t, alpha=a, scale=1., lengthscales=[1,1,1,1]) and
  // KernelDigShiftInvar(d=4, t=t) (defaults), evaluated as kernel(X[:,None,:], X[None,:,:]).
  // Orders 1..3 follow the same closed forms: agreement to rounding.
  const double a1_64[16] = {16.0, 1.26953125, 0.56640625, 0.595703125, 1.26953125, 16.0, 1.650390625, 1.650390625,
                            0.56640625, 1.650390625, 16.0, 0.390625, 0.595703125, 1.650390625, 0.390625, 16.0};
  const double a2_64[16] = {39.0625,            1.205175596775066,  0.6541731048901407, 0.7218940339356777,
                            1.205175596775066,  39.0625,            1.0243337981927862, 0.9537747602605756,
                            0.6541731048901407, 1.0243337981927862, 39.0625,            0.1867603182291805,
                            0.7218940339356777, 0.9537747602605756, 0.1867603182291805, 39.0625};
  const double a3_64[16] = {32.56745351318396,  1.193144281130394,  0.6223296763978835,  0.6881698222386854,
                            1.193144281130394,  32.56745351318396,  1.1154322334427886,  1.030356660241549,
                            0.6223296763978835, 1.1154322334427886, 32.56745351318396,   0.16972025194585305,
                            0.6881698222386854, 1.030356660241549,  0.16972025194585305, 32.56745351318396};
  const double defaults_64[16] = {2.716463830832009,  1.0645648772508312, 1.0374453241180899, 1.044276676205723,
                                  1.0645648772508312, 2.716463830832009,  1.1396610331585924, 1.121393934020125,
                                  1.0374453241180899, 1.1396610331585924, 2.716463830832009,  0.7977553688366529,
                                  1.044276676205723,  1.121393934020125,  0.7977553688366529, 2.716463830832009};
  const double a1_10[16] = {16.0, 0.56640625, 1.416015625, 1.650390625, 0.56640625, 16.0, 1.26953125, 0.203125,
                            1.416015625, 1.26953125, 16.0, 0.5078125, 1.650390625, 0.203125, 0.5078125, 16.0};
  const double a3_10[16] = {32.56745351318396,  0.46615207035561856, 1.470036423149697,   1.5990963338189563,
                            0.46615207035561856, 32.56745351318396,  0.7388319804872187,  0.07978428493119472,
                            1.470036423149697,  0.7388319804872187,  32.56745351318396,   0.2797047207037242,
                            1.5990963338189563, 0.07978428493119472, 0.2797047207037242,  32.56745351318396};
  const std::vector<double> ones(4, 1.0);
  check_gram(digitally_shift_invariant_kernel<double>(64, 1.0, ones, 1), dsi_points_64, a1_64, 1e-14);
  check_gram(digitally_shift_invariant_kernel<double>(64, 1.0, ones, 2), dsi_points_64, a2_64, 1e-13);
  check_gram(digitally_shift_invariant_kernel<double>(64, 1.0, ones, 3), dsi_points_64, a3_64, 1e-13);
  check_gram(digitally_shift_invariant_kernel<double>(4, 64), dsi_points_64, defaults_64, 1e-13);
  check_gram(digitally_shift_invariant_kernel<double>(10, 1.0, ones, 1), dsi_points_10, a1_10, 1e-14);
  check_gram(digitally_shift_invariant_kernel<double>(10, 1.0, ones, 3), dsi_points_10, a3_10, 1e-13);
}

TEST_CASE("the order-4 DSI kernel sums the whole Walsh series that QMCPy truncates") {
  // qmcpy 2.4 with qmcpy.util.dig_shift_invar_ops.k4sumterm replaced by the full sum
  // sum_{a<t} (-1)^{bit t-1-a of x} 2^{-3a} + (8/7) 2^{-3t} (no 1e-8 cutoff; the digits past t are 0):
  // KernelDigShiftInvar(d=4, t=t, alpha=4, scale=1., lengthscales=[1,1,1,1]) and
  // KernelDigShiftInvar(d=4, t=t, alpha=[1,2,3,4], scale=10., lengthscales=[1, 1/4, 1/9, 1/16]).
  const double full_a4_64[16] = {32.32084825375672,  1.1870996050587759, 0.622699676052065,   0.6863594959902201,
                                 1.1870996050587759, 32.32084825375672,  1.1160531301230927,  1.0294807209372423,
                                 0.622699676052065,  1.1160531301230927, 32.32084825375672,   0.16981720078827645,
                                 0.6863594959902201, 1.0294807209372423, 0.16981720078827645, 32.32084825375672};
  const double full_a1234_64[16] = {34.490370029184525, 13.351877165668142, 14.39040066049196,  5.512035777354072,
                                    13.351877165668142, 34.490370029184525, 16.71914881494218,  6.227483298880959,
                                    14.39040066049196,  16.71914881494218,  34.490370029184525, 4.620525074439139,
                                    5.512035777354072,  6.227483298880959,  4.620525074439139,  34.490370029184525};
  const double full_a4_10[16] = {32.32084825375672,  0.4657325422666354,  1.475073819446863,   1.5953422025529176,
                                 0.4657325422666354, 32.32084825375672,   0.7383728122527501,  0.07896354795474791,
                                 1.475073819446863,  0.7383728122527501,  32.32084825375672,   0.27767520996222417,
                                 1.5953422025529176, 0.07896354795474791, 0.27767520996222417, 32.32084825375672};
  // Unmodified qmcpy 2.4 (its 9-term S): within the header's bound beta 2^-27 / 42 per factor.
  const double qmcpy_a4_10[16] = {32.32084825375672,   0.46573254188501756, 1.4750738182499605,  1.5953422041183765,
                                  0.46573254188501756, 32.32084825375672,   0.7383728120487741,  0.07896354802364869,
                                  1.4750738182499605,  0.7383728120487741,  32.32084825375672,   0.27767521000293616,
                                  1.5953422041183765,  0.07896354802364869, 0.27767521000293616, 32.32084825375672};
  const std::vector<double> ones(4, 1.0);
  check_gram(digitally_shift_invariant_kernel<double>(64, 1.0, ones, 4), dsi_points_64, full_a4_64, 1e-13);
  check_gram(digitally_shift_invariant_kernel<double>(64, 10.0, {1.0, 0.25, 1.0 / 9, 1.0 / 16}, std::vector<int>{1, 2, 3, 4}),
             dsi_points_64, full_a1234_64, 1e-13);
  check_gram(digitally_shift_invariant_kernel<double>(10, 1.0, ones, 4), dsi_points_10, full_a4_10, 1e-13);
  // Four factors of at most 2.4 each, each off by at most 10 2^-27 / 42: relative 1e-8 is generous.
  check_gram(digitally_shift_invariant_kernel<double>(10, 1.0, ones, 4), dsi_points_10, qmcpy_a4_10, 1e-8);
}

TEST_CASE("psi takes its exact rational values") {
  // Exact values of the closed forms in Python fractions.Fraction (S summed over every digit plus
  // the tail (8/7) 2^{-3t}), rounded to double.
  CHECK(tessera::qmc::digitally_shift_invariant_psi<double>(4, 1, 1) == Approx(-0.20535714285714285).epsilon(1e-15));
  CHECK(tessera::qmc::digitally_shift_invariant_psi<double>(4, 5, 3) == Approx(-0.38178943452380953).epsilon(1e-15));
  CHECK(tessera::qmc::digitally_shift_invariant_psi<double>(4, 3, 10) == Approx(1.3703990367995131).epsilon(1e-15));
  CHECK(tessera::qmc::digitally_shift_invariant_psi<double>(4, 877 ^ 463, 10) ==
        Approx(-0.42160399364573614).epsilon(1e-15));
  CHECK(tessera::qmc::digitally_shift_invariant_psi<double>(4, 12345678901234567u, 64) ==
        Approx(1.3811583994097492).epsilon(1e-15));
  CHECK(tessera::qmc::digitally_shift_invariant_psi<double>(4, 9223372036854788153u, 64) ==
        Approx(-0.2053571428571439).epsilon(1e-14));
  // At d = 0 (x = z): 1, 3/2, 25/18, 407/294.
  CHECK(tessera::qmc::digitally_shift_invariant_psi<double>(1, 0, 32) == 1.0);
  CHECK(tessera::qmc::digitally_shift_invariant_psi<double>(2, 0, 32) == 1.5);
  CHECK(tessera::qmc::digitally_shift_invariant_psi<double>(3, 0, 32) == 25.0 / 18);
  CHECK(tessera::qmc::digitally_shift_invariant_psi<double>(4, 0, 32) == 407.0 / 294);
  // psi_1(u) = 1 - 3 2^-beta: u = 1/2 (beta 1) gives -1/2, u = 3/16 (beta 3) gives 5/8.
  CHECK(tessera::qmc::digitally_shift_invariant_psi<double>(1, 8, 4) == -0.5);
  CHECK(tessera::qmc::digitally_shift_invariant_psi<double>(1, 3, 4) == 0.625);
}

TEST_CASE("psi_1 is twice its Walsh series sum_k wal_k(u) 4^{-mu_1(k)}") {
  // For u != 0 with beta = -floor(log2 u), the blocks of k with top bit above beta cancel exactly,
  // so the series summed over k < 2^t (t >= beta) is exact.
  const int t = 8;
  for (std::uint64_t d = 1; d < (1u << t); ++d) {
    long double series = 0;
    for (std::uint64_t k = 1; k < (1u << t); ++k) {
      // wal_k(u) = (-1)^{sum_i k_i u_{i+1}}, u_{i+1} = bit t-1-i of d.
      int parity = 0;
      for (int i = 0; i < t; ++i) parity ^= static_cast<int>(((k >> i) & 1u) & ((d >> (t - 1 - i)) & 1u));
      const auto top = static_cast<int>(std::bit_width(k));  // mu_1(k), 1-based position of the top 1 bit
      series += (parity != 0 ? -1.0L : 1.0L) * std::pow(4.0L, -top);
    }
    INFO("d = " << d);
    CHECK(tessera::qmc::digitally_shift_invariant_psi<double>(1, d, t) == Approx(static_cast<double>(2 * series)).epsilon(1e-15));
  }
}

TEST_CASE("the DSI kernel is digital-shift invariant, and its float overload converts exactly") {
  const digitally_shift_invariant_kernel<double> k(52, 10.0, {1.0, 0.25, 1.0 / 9, 1.0 / 16}, std::vector<int>{1, 2, 3, 4});
  // qmcpy 2.4: KernelDigShiftInvar(d=4, t=52, alpha=[1,2,3,4], scale=10., lengthscales=[1,1/4,1/9,1/16])
  // on the float points xf = [[0.1,0.25,0.7,0.9],[0.35,0.8,0.05,0.45]]: off-diagonal entry. The
  // order-4 factor carries QMCPy's truncated Walsh sum (header: below 2e-8 here).
  const std::vector<double> x = {0.1, 0.25, 0.7, 0.9}, z = {0.35, 0.8, 0.05, 0.45};
  CHECK(k(x, z) == Approx(10.67049991074595).epsilon(1e-8));
  CHECK(k(x, x) == Approx(34.490370029184525).epsilon(1e-14));
  std::vector<std::uint64_t> xi(4), zi(4), xs(4), zs(4);
  const std::uint64_t shift[4] = {0x000f0f0f0f0f0f0full, 0x0001234567890abcull, 0x000fedcba9876543ull, 0x0008000000000001ull};
  for (int j = 0; j < 4; ++j) {
    xi[j] = tessera::qmc::to_digital_integer(x[j], 52);
    zi[j] = tessera::qmc::to_digital_integer(z[j], 52);
    CHECK(static_cast<double>(xi[j]) == std::floor(std::ldexp(x[j], 52)));  // QMCPy's to_bin
    xs[j] = xi[j] ^ shift[j];
    zs[j] = zi[j] ^ shift[j];
  }
  CHECK(k(xi, zi) == k(x, z));
  // A dyadic coordinate k / 2^52 converts to k exactly, up to the largest one below 1.
  for (std::uint64_t digits : {std::uint64_t{1}, std::uint64_t{0x000abcdef0123457}, (std::uint64_t{1} << 52) - 1})
    CHECK(tessera::qmc::to_digital_integer(std::ldexp(static_cast<double>(digits), -52), 52) == digits);
  CHECK(k(xs, zs) == k(xi, zi));
  CHECK(k(zi, xi) == k(xi, zi));
  const digitally_shift_invariant_kernel<float> kf(52, 10.0f, {1.0f, 0.25f, 1.0f / 9, 1.0f / 16}, std::vector<int>{1, 2, 3, 4});
  CHECK(kf(xi, zi) == Approx(10.67049991074595).epsilon(1e-6));
}

TEST_CASE("kernels reject bad parameters and points with messages that name them") {
  using tessera::invalid_argument;
  CHECK(invalid_argument_message([] { shift_invariant_kernel<double>(1.0, {0.5, 0.5}, std::vector<int>{2, 6}); }) ==
        "tessera::qmc::shift_invariant_kernel: alpha[1] = 6; expected 1 <= alpha[1] <= 5");
  CHECK(invalid_argument_message([] { shift_invariant_kernel<double>(-1.0, {0.5}, 2); }) ==
        "tessera::qmc::shift_invariant_kernel: scale = -1; expected a finite number > 0");
  CHECK(invalid_argument_message([] { shift_invariant_kernel<double>(1.0, {0.5, 0.0}, 2); }) ==
        "tessera::qmc::shift_invariant_kernel: weights[1] = 0; expected a finite number > 0");
  CHECK_THROWS_AS(shift_invariant_kernel<double>(1.0, {0.5, 0.5}, std::vector<int>{2}), invalid_argument);
  CHECK_THROWS_AS(shift_invariant_kernel<double>(0), invalid_argument);
  const shift_invariant_kernel<double> si(2);
  const std::vector<double> three(3, 0.5), two(2, 0.5), bad = {0.5, std::nan("")};
  CHECK(invalid_argument_message([&] { (void)si(three, two); }) ==
        "tessera::qmc::shift_invariant_kernel: x.size() = 3; expected the kernel's dimension 2");
  CHECK_THROWS_AS(si(two, bad), invalid_argument);
  CHECK_THROWS_AS(tessera::qmc::shift_invariant_eta(0, 0.5), invalid_argument);

  CHECK(invalid_argument_message([] { digitally_shift_invariant_kernel<double>(65, 1.0, {0.5}, 1); }) ==
        "tessera::qmc::digitally_shift_invariant_kernel: precision = 65; expected 1 <= precision <= 64");
  CHECK(invalid_argument_message([] { digitally_shift_invariant_kernel<double>(32, 1.0, {0.5}, 5); }) ==
        "tessera::qmc::digitally_shift_invariant_kernel: alpha[0] = 5; expected 1 <= alpha[0] <= 4");
  const digitally_shift_invariant_kernel<double> dsi(1, 10);
  const std::vector<std::uint64_t> big = {1024}, ok = {1023};
  CHECK(invalid_argument_message([&] { (void)dsi(big, ok); }) ==
        "tessera::qmc::digitally_shift_invariant_kernel: x[j] = 1024; expected value < 2^precision = 2^10");
  const std::vector<double> one = {1.0}, half = {0.5};
  CHECK(invalid_argument_message([&] { (void)dsi(one, half); }) ==
        "tessera::qmc::digitally_shift_invariant_kernel: x[j] = 1; expected 0 <= value < 1");
  const digitally_shift_invariant_kernel<double> wide(1, 64);
  CHECK(invalid_argument_message([&] { (void)wide(half, half); }) ==
        "tessera::qmc::digitally_shift_invariant_kernel: precision = 64; expected precision <= 52 for "
        "floating-point coordinates (exact conversion)");
  CHECK_THROWS_AS(tessera::qmc::digitally_shift_invariant_psi<double>(2, 16, 4), invalid_argument);
  CHECK_THROWS_AS(tessera::qmc::to_digital_integer(0.5, 53), invalid_argument);
}
