// Integrands: the spec's Keister values, QMCPy's integrands on the same points, Black-Scholes
// and geometric-Asian closed forms (published and independent values, Monte Carlo), Genz
// integrals against tensor Gauss-Legendre quadrature, the pointwise adapter, and bad input.
#include <catch2/catch.hpp>

#include <boost/math/quadrature/gauss.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numbers>
#include <span>
#include <stdexcept>
#include <string>
#include <tessera/core/random.hpp>
#include <tessera/qmc/integrand.hpp>
#include <tessera/qmc/integrand/asian_option.hpp>
#include <tessera/qmc/integrand/european_option.hpp>
#include <tessera/qmc/integrand/genz.hpp>
#include <tessera/qmc/integrand/keister.hpp>
#include <tessera/qmc/integrand/sine_product.hpp>
#include <vector>
#include "support/test_support.hpp"

using tessera::test::message_of;

using namespace tessera::qmc;
using tessera::invalid_argument;

static_assert(batch_integrand<keister<double>, double>);
static_assert(batch_integrand<keister<float>, float>);
static_assert(!batch_integrand<keister<double>, float>);
static_assert(batch_integrand<european_option<double>, double>);
static_assert(batch_integrand<arithmetic_asian_option<float>, float>);
static_assert(batch_integrand<geometric_asian_option<double>, double>);
static_assert(batch_integrand<genz<double>, double>);
static_assert(batch_integrand<sine_product<float>, float>);
template <class F>
concept has_exact_value = requires(const F& f) { f.exact_value(); };
static_assert(has_exact_value<geometric_asian_option<double>>);
static_assert(!has_exact_value<arithmetic_asian_option<double>>);

namespace {

// x_ij = ((5 i (2j + 1) + 3 j) mod n + 1/2) / n, as in the Python below.
template <class T = double>
point_array<T> fixed_points(std::size_t n, std::size_t d) {
  point_array<T> x = point_array<T>::from_shape({n, d});
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j)
      x(i, j) = static_cast<T>((static_cast<double>((i * (2 * j + 1) * 5 + 3 * j) % n) + 0.5) /
                               static_cast<double>(n));
  return x;
}

point_array<double> random_points(std::size_t n, std::size_t d, std::uint64_t seed) {
  point_array<double> u = point_array<double>::from_shape({n, d});
  tessera::fill_uniform(tessera::exec::host, tessera::random_stream(seed),
                        std::span<double>(u.data(), u.size()));
  return u;
}

struct estimate {
  double mean;
  double standard_error;
};

estimate sample_mean(const xt::xtensor<double, 1>& y) {
  const auto n = static_cast<double>(y.size());
  double sum = 0, squares = 0;
  for (const double v : y) sum += v;
  const double mean = sum / n;
  for (const double v : y) squares += (v - mean) * (v - mean);
  return {mean, std::sqrt(squares / (n - 1) / n)};
}

// Integral over [0,1]^d of f by the tensor product of a composite 20-point Gauss-Legendre rule
// (Boost.Math) with 4 equal panels per axis, each also split at breaks[j] (where f has a kink or
// a jump along axis j).
template <class F>
double tensor_gauss_legendre(const F& f, int d, const std::vector<double>& breaks) {
  using rule = boost::math::quadrature::gauss<double, 20>;
  std::vector<std::vector<double>> nodes(d), weights(d);
  for (int j = 0; j < d; ++j) {
    std::vector<double> edges;
    for (int p = 0; p <= 4; ++p) {
      const double e = p / 4.0;
      if (p > 0 && edges.back() < breaks[j] && breaks[j] < e) edges.push_back(breaks[j]);
      edges.push_back(e);
    }
    for (std::size_t p = 0; p + 1 < edges.size(); ++p) {
      const double mid = (edges[p] + edges[p + 1]) / 2, half = (edges[p + 1] - edges[p]) / 2;
      for (std::size_t k = 0; k < rule::abscissa().size(); ++k)
        for (const double sign : {-1.0, 1.0}) {
          nodes[j].push_back(mid + sign * half * rule::abscissa()[k]);
          weights[j].push_back(half * rule::weights()[k]);
        }
    }
  }
  std::size_t total = 1;
  for (int j = 0; j < d; ++j) total *= nodes[j].size();
  point_array<double> x = point_array<double>::from_shape({total, static_cast<std::size_t>(d)});
  std::vector<double> w(total, 1.0);
  for (std::size_t i = 0; i < total; ++i) {
    std::size_t rest = i;
    for (int j = 0; j < d; ++j) {
      const std::size_t k = rest % nodes[j].size();
      rest /= nodes[j].size();
      x(i, j) = nodes[j][k];
      w[i] *= weights[j][k];
    }
  }
  const xt::xtensor<double, 1> y = f(x);
  long double sum = 0;  // millions of terms: keep the summation error below the rule's
  for (std::size_t i = 0; i < total; ++i) sum += static_cast<long double>(w[i] * y(i));
  return static_cast<double>(sum);
}

// Reference values of QMCPy 2.4 (NumPy 2.4.6, SciPy 1.17.1), integrand.f(x) on the 16 points:
//   import numpy as np
//   from qmcpy import DigitalNetB2, Keister, FinancialOption, Genz
//   n, d = 16, 4; i = np.arange(n)[:, None]; j = np.arange(d)[None, :]
//   x = ((i * (2 * j + 1) * 5 + 3 * j) % n + 0.5) / n
//   s = DigitalNetB2(d, seed=7); common = dict(interest_rate=0.05, strike_price=28)
//   Keister(s).f(x)
//   FinancialOption(s, option="EUROPEAN", decomp_type="PCA", **common).f(x)
//   FinancialOption(s, option="EUROPEAN", call_put="PUT", decomp_type="Cholesky",
//                   interest_rate=0.05).f(x)
//   FinancialOption(s, option="ASIAN", **common).f(x)
//   FinancialOption(s, option="ASIAN", asian_mean_quadrature_rule="RIGHT",
//                   decomp_type="Cholesky", **common).f(x)
//   FinancialOption(s, option="ASIAN", asian_mean="GEOMETRIC", decomp_type="Cholesky",
//                   **common).f(x)
//   FinancialOption(s, option="ASIAN", asian_mean="GEOMETRIC",
//                   asian_mean_quadrature_rule="RIGHT", call_put="PUT", interest_rate=0.05).f(x)
//   Genz(s, kind_func="OSCILLATORY", kind_coeff=2).f(x)   # and .c
//   Genz(s, kind_func="CORNER PEAK", kind_coeff=1).f(x)   # and .c
void check_against(const xt::xtensor<double, 1>& ours, const std::vector<double>& reference) {
  REQUIRE(ours.size() == reference.size());
  for (std::size_t i = 0; i < reference.size(); ++i)
    CHECK(ours(i) == Approx(reference[i]).epsilon(1e-11).margin(1e-11));
}

option_parameters qmcpy_common(option_type type = option_type::call, double strike = 28,
                               factorization f = factorization::pca) {
  option_parameters p;
  p.interest_rate = 0.05;
  p.strike_price = strike;
  p.type = type;
  p.decomposition = f;
  return p;
}

}  // namespace

TEST_CASE("keister's exact value matches the spec and QMCPy") {
  CHECK(keister<double>(1).exact_value() == Approx(1.380388447043143).epsilon(1e-12));
  CHECK(keister<double>(2).exact_value() == Approx(1.808186429263620).epsilon(1e-12));
  CHECK(keister<double>(3).exact_value() == Approx(2.168309102165480).epsilon(1e-12));
  // d = 1 in closed form: sqrt(pi) e^{-1/4}.
  CHECK(keister<float>(1).exact_value() ==
        Approx(std::sqrt(std::numbers::pi) * std::exp(-0.25)).epsilon(1e-15));
  // QMCPy 2.4 Keister.get_exact_value(d) (a recursion in d), d = 4, 5, 8, 12.
  CHECK(keister<double>(4).exact_value() == Approx(2.1659293025745034).epsilon(1e-13));
  CHECK(keister<double>(5).exact_value() == Approx(1.1353239910124924).epsilon(1e-13));
  CHECK(keister<double>(8).exact_value() == Approx(-30.609075003558591).epsilon(1e-13));
  CHECK(keister<double>(12).exact_value() == Approx(-624.27708462201053).epsilon(1e-13));
}

TEST_CASE("keister evaluates QMCPy's Keister on the same points") {
  check_against(keister<double>(4)(fixed_points(16, 4)),
                {1.22291211410016, -0.49407215568769303, -0.67597697449254579, -5.8234651655339222,
                 1.318560861639918, 4.5120322563511923, 2.0717433209380034, 3.1503208475098461,
                 1.8593111978775323, 6.3433214407865322, 0.61261584062574204, 9.3066317161337526,
                 4.0235041242821961, -1.0080162820644543, 7.1513961966805555, 5.8635492562165581});
  // At u = (1/2, ..., 1/2), t = 0 and f = pi^{d/2}; float agrees with double to float accuracy.
  point_array<float> centre = point_array<float>::from_shape({1, 3});
  centre.fill(0.5f);
  CHECK(keister<float>(3)(centre)(0) == Approx(std::pow(std::numbers::pi, 1.5)).epsilon(1e-6));
  const xt::xtensor<float, 1> yf = keister<float>(4)(fixed_points<float>(16, 4));
  const xt::xtensor<double, 1> yd = keister<double>(4)(fixed_points(16, 4));
  for (std::size_t i = 0; i < 16; ++i) CHECK(yf(i) == Approx(yd(i)).epsilon(1e-5).margin(1e-5));
}

TEST_CASE("option integrands evaluate QMCPy's FinancialOption on the same points") {
  const point_array<double> x = fixed_points(16, 4);
  check_against(european_option<double>(4, qmcpy_common())(x),
                {0, 1.5444548560295539, 10.166639133363532, 51.926257768096775, 0, 0,
                 17.623945387166714, 0, 2.2067311436803729, 14.119348652741248, 0, 0,
                 8.2904768175813484, 0, 0, 14.272845853760533});
  check_against(
      european_option<double>(4, qmcpy_common(option_type::put, 35, factorization::cholesky))(x),
      {19.606543147483176, 0, 0, 18.499393462086402, 0, 0.49074096655851251, 0,
       0.0070065076183553083, 2.0878679960426219, 1.3206853000092533, 19.860030790280373,
       2.2286933426390303, 1.7705884199517139, 20.272931335695944, 17.21512665896644,
       1.1757436399272987});
  check_against(arithmetic_asian_option<double>(4, qmcpy_common())(x),
                {0, 0, 3.0469917080387128, 18.733335990029587, 0.058446260490752716,
                 5.1609083489546466, 16.120790994357701, 0, 2.512996798089516, 10.808689635962253,
                 0, 0.51254775929597229, 8.0486472627943009, 0, 0, 4.9221065687341135});
  check_against(arithmetic_asian_option<double>(
                    4, qmcpy_common(option_type::call, 28, factorization::cholesky),
                    asian_rule::right)(x),
                {0, 1.0675946033288906, 0.59646500017500537, 0, 8.2973325460059879,
                 7.3263340593483592, 26.675205806992899, 0.42391193861387771, 7.4578011490191622,
                 9.565886028286652, 0, 2.0251006452666105, 4.1675541311398989, 0, 0,
                 5.0401459768133092});
  check_against(
      geometric_asian_option<double>(4, qmcpy_common(option_type::call, 28, factorization::cholesky))(x),
      {0, 0, 0, 0, 6.5873235435923574, 6.5203061919670322, 20.392046814864504, 0,
       6.6042867060117567, 8.954528381359399, 0, 1.6866055457630533, 3.575283726309916, 0, 0,
       4.4643114603260203});
  check_against(
      geometric_asian_option<double>(4, qmcpy_common(option_type::put, 35), asian_rule::right)(x),
      {19.267953827858783, 9.8302149756203718, 3.2683361997838838, 0, 9.3067632099038864,
       2.5999715118499096, 0, 11.774269401637785, 4.457246314248656, 0, 14.230808595185854,
       6.5892519523029547, 0, 16.066294411070498, 8.7759573723884703, 0.47378712742713591});
  // float: the same payoffs to float accuracy of the path (log-prices ~3.4, prices ~30).
  const xt::xtensor<float, 1> yf = arithmetic_asian_option<float>(4, qmcpy_common())(fixed_points<float>(16, 4));
  const xt::xtensor<double, 1> yd = arithmetic_asian_option<double>(4, qmcpy_common())(x);
  for (std::size_t i = 0; i < 16; ++i) CHECK(yf(i) == Approx(yd(i)).margin(1e-4));
}

TEST_CASE("the Black-Scholes price matches a textbook example and an independent computation") {
  option_parameters hull;  // Hull's worked Black-Scholes-Merton example: c = 4.76, p = 0.81.
  hull.start_price = 42;
  hull.strike_price = 40;
  hull.interest_rate = 0.1;
  hull.volatility = 0.2;
  hull.maturity = 0.5;
  CHECK(std::abs(black_scholes_price(hull) - 4.76) < 0.005);
  hull.type = option_type::put;
  CHECK(std::abs(black_scholes_price(hull) - 0.81) < 0.005);
  // Independent values, SciPy 1.17.1, with d1 = (log(S/K) + (r + s^2/2) T) / (s sqrt(T)):
  //   c = S norm.cdf(d1) - K exp(-r T) norm.cdf(d2), p = K exp(-r T) norm.cdf(-d2) - S norm.cdf(-d1)
  CHECK(black_scholes_price(hull) == Approx(0.80859937290009221).epsilon(1e-13));
  hull.type = option_type::call;
  CHECK(black_scholes_price(hull) == Approx(4.7594223928715316).epsilon(1e-13));
  CHECK(european_option<double>(3).exact_value() == Approx(4.2114529762340602).epsilon(1e-13));
  option_parameters p;
  p.start_price = 100;
  p.strike_price = 95;
  p.interest_rate = 0.05;
  p.volatility = 0.3;
  p.maturity = 2;
  CHECK(black_scholes_price(p) == Approx(23.606276248684232).epsilon(1e-13));
  p.type = option_type::put;
  CHECK(european_option<float>(5, p).exact_value() == Approx(9.565830962100371).epsilon(1e-13));
  // Put-call parity: c - p = S0 - K e^{-rT}.
  option_parameters call = p;
  call.type = option_type::call;
  CHECK(black_scholes_price(call) - black_scholes_price(p) ==
        Approx(100 - 95 * std::exp(-0.1)).epsilon(1e-13));
}

TEST_CASE("the geometric Asian closed form matches QMCPy's and the right rule at d = 1") {
  // QMCPy 2.4 FinancialOption(DigitalNetB2(d, seed=7), option="ASIAN", asian_mean="GEOMETRIC",
  //   asian_mean_quadrature_rule="RIGHT", **kw).get_exact_value(), kw = {} and
  //   kw = dict(call_put="PUT", interest_rate=0.05, strike_price=32).
  const double call[] = {4.2114529762340585, 2.1318963194717133, 1.6812979367733398};
  const double put[] = {6.1878857365928388, 4.8608692305894072, 4.4856988112889837};
  const int dims[] = {1, 4, 16};
  for (int k = 0; k < 3; ++k) {
    CHECK(geometric_asian_option<double>(dims[k], {}, asian_rule::right).exact_value() ==
          Approx(call[k]).epsilon(1e-13));
    CHECK(geometric_asian_option<double>(dims[k], qmcpy_common(option_type::put, 32),
                                         asian_rule::right)
              .exact_value() == Approx(put[k]).epsilon(1e-13));
  }
  // With one monitoring time the right-rule average is S(T): the European price.
  CHECK(geometric_asian_option<double>(1, {}, asian_rule::right).exact_value() ==
        Approx(european_option<double>(1).exact_value()).epsilon(1e-14));
}

TEST_CASE("option closed forms agree with Monte Carlo means of the integrands") {
  // n = 2^16 Philox uniforms (seeded), |mean - exact| <= 4 standard errors.
  const std::size_t n = std::size_t{1} << 16;
  const int d = 8;
  const point_array<double> u = random_points(n, d, 20260514);
  for (const factorization f : {factorization::pca, factorization::cholesky}) {
    for (const option_type type : {option_type::call, option_type::put}) {
      const option_parameters p = qmcpy_common(type, 32, f);
      const european_option<double> european(d, p);
      const estimate e = sample_mean(european(u));
      CHECK(std::abs(e.mean - european.exact_value()) <= 4 * e.standard_error);
      for (const asian_rule rule : {asian_rule::trapezoidal, asian_rule::right}) {
        const geometric_asian_option<double> geometric(d, p, rule);
        const xt::xtensor<double, 1> gy = geometric(u);
        const estimate g = sample_mean(gy);
        CHECK(std::abs(g.mean - geometric.exact_value()) <= 4 * g.standard_error);
        // The arithmetic mean dominates the geometric one path by path.
        const xt::xtensor<double, 1> a = arithmetic_asian_option<double>(d, p, rule)(u);
        bool ordered = true;
        for (std::size_t i = 0; i < n; ++i)
          ordered = ordered && (type == option_type::call ? a(i) >= gy(i) - 1e-12 : a(i) <= gy(i) + 1e-12);
        CHECK(ordered);
      }
    }
  }
}

TEST_CASE("Genz integrals equal tensor Gauss-Legendre quadrature in d = 2 and 3") {
  const genz_family families[] = {genz_family::oscillatory, genz_family::product_peak,
                                  genz_family::corner_peak, genz_family::gaussian,
                                  genz_family::continuous,  genz_family::discontinuous};
  const std::vector<double> a2 = {3.0, 1.5}, u2 = {0.3, 0.7};
  const std::vector<double> a3 = {2.5, 1.0, 4.0}, u3 = {0.2, 0.55, 0.9};
  for (const genz_family family : families) {
    INFO("family " << static_cast<int>(family));
    const genz<double> f2(family, a2, u2), f3(family, a3, u3);
    CHECK(f2.exact_value() == Approx(tensor_gauss_legendre(f2, 2, u2)).epsilon(1e-12).margin(1e-14));
    CHECK(f3.exact_value() == Approx(tensor_gauss_legendre(f3, 3, u3)).epsilon(1e-12).margin(1e-14));
  }
}

TEST_CASE("the corner peak's 1-D integral equals the exact corner sum") {
  // Python, exact rationals: a = [Fraction(j / 40) for j in range(1, 11)]; value =
  //   sum((-1)**|v| / (1 + a.v) for v in {0,1}^10) / (10! prod(a)) = 0.005211575058777243
  std::vector<double> a, u(10, 0.5);
  for (int j = 1; j <= 10; ++j) a.push_back(j / 40.0);
  CHECK(genz<double>(genz_family::corner_peak, a, u).exact_value() ==
        Approx(0.005211575058777243).epsilon(1e-13));
  // d = 1: 1 / (1 + a).
  CHECK(genz<float>(genz_family::corner_peak, {0.75f}, {0.0f}).exact_value() ==
        Approx(1 / 1.75).epsilon(1e-14));
}

TEST_CASE("genz evaluates QMCPy's Genz on the same points") {
  const point_array<double> x = fixed_points(16, 4);
  // QMCPy's normalized coefficient vectors c (printed with %.17g); its oscillatory is ours with
  // u_1 = 0.
  const genz<double> oscillatory(genz_family::oscillatory,
                                 {3.1609756097560973, 0.79024390243902431, 0.35121951219512193,
                                  0.19756097560975608},
                                 {0, 0, 0, 0});
  check_against(oscillatory(x),
                {0.86198134894065603, -0.133453721777024, -0.81669007775962221, -0.99995865603221101,
                 -0.37294058120167295, -0.93347209611866289, -0.69224791843182898,
                 -0.037807465258226848, -0.8485685065057178, -0.96528180523369722,
                 0.48302331197086701, -0.62013442132200325, -0.99679502937085396,
                 0.64023602033805571, -0.1266522392963402, -0.96356128834797061});
  const genz<double> corner(genz_family::corner_peak, {0.015625, 0.046875, 0.078125, 0.109375},
                            {0, 0, 0, 0});
  check_against(corner(x),
                {0.60039146584393122, 0.44872208489417542, 0.47180764769368039, 0.81792552183041489,
                 0.52240464648917617, 0.55013685340037022, 0.41318424542904675, 0.46395744618699186,
                 0.55977123995666433, 0.58991368733654115, 0.6681667949767629, 0.4963332052326167,
                 0.52240464648917617, 0.68033709043437773, 0.71847750163892343,
                 0.53145823750723442});
}

TEMPLATE_TEST_CASE("the sine product integrates to its closed form", "", float, double) {
  using T = TestType;
  const sine_product<double> f(3, 2.5);
  CHECK(f.exact_value() == Approx(2.5 * std::pow(2 / std::numbers::pi, 3)).epsilon(1e-15));
  CHECK(tensor_gauss_legendre(f, 3, {0.5, 0.5, 0.5}) == Approx(f.exact_value()).epsilon(1e-13));
  const sine_product<T> unit = sine_product<T>::normalized(5);
  CHECK(unit.exact_value() == Approx(1).epsilon(1e-6));
  point_array<T> centre = point_array<T>::from_shape({1, 5});
  centre.fill(T(0.5));
  CHECK(unit(centre)(0) == Approx(std::pow(std::numbers::pi / 2, 5)).epsilon(1e-6));
}

TEST_CASE("pointwise_integrand evaluates the callable on every row") {
  const auto squared_norm = [](std::span<const double> x) {
    double s = 0;
    for (const double v : x) s += v * v;
    return s;
  };
  const auto f = make_pointwise_integrand<double>(3, squared_norm);
  static_assert(batch_integrand<decltype(f), double>);
  CHECK(f.dimension() == 3);
  const point_array<double> x = fixed_points(16, 3);
  const xt::xtensor<double, 1> y = f(x);
  for (std::size_t i = 0; i < 16; ++i)
    CHECK(y(i) == x(i, 0) * x(i, 0) + x(i, 1) * x(i, 1) + x(i, 2) * x(i, 2));
  // The integral of |x|^2 over [0,1]^3 is 1 (exact for the quadrature).
  CHECK(tensor_gauss_legendre(f, 3, {0.5, 0.5, 0.5}) == Approx(1.0).epsilon(1e-14));

  // The exception of the lowest throwing row is rethrown.
  const auto picky = make_pointwise_integrand<double>(3, [](std::span<const double> p) -> double {
    if (p[0] > 0.5) throw std::runtime_error("x0 = " + std::to_string(p[0]));
    return p[0];
  });
  std::size_t first = 0;
  while (x(first, 0) <= 0.5) ++first;
  CHECK_THROWS_WITH(picky(x), "x0 = " + std::to_string(x(first, 0)));
  CHECK(message_of([] { make_pointwise_integrand<float>(0, [](std::span<const float>) { return 0.0f; }); }) ==
        "tessera::qmc::pointwise_integrand: dimension = 0; expected >= 1");
  CHECK(message_of([&] { f(fixed_points(4, 2)); }) ==
        "tessera::qmc::pointwise_integrand: points.shape(1) = 2; expected the dimension 3");
}

TEST_CASE("integrands reject bad parameters and points") {
  CHECK(message_of([] { keister<double>(0); }) ==
        "tessera::qmc::keister: dimension = 0; expected >= 1");
  point_array<double> bad = fixed_points(4, 2);
  bad(1, 1) = 2;
  CHECK_THROWS_WITH(keister<double>(2)(bad), Catch::Contains("points(1, 1) = 2"));
  CHECK_THROWS_WITH(keister<double>(3)(fixed_points(4, 2)), Catch::Contains("points.shape(1) = 2"));

  SECTION("options") {
    const auto with = [](auto change) {
      option_parameters p;
      change(p);
      return p;
    };
    CHECK(message_of([] { european_option<double>(0); }) ==
          "tessera::qmc::european_option: dimension = 0; expected >= 1");
    CHECK(message_of([&] { european_option<double>(2, with([](auto& p) { p.start_price = -1; })); }) ==
          "tessera::qmc::european_option: start_price = -1; expected a finite number > 0");
    CHECK_THROWS_WITH(arithmetic_asian_option<double>(2, with([](auto& p) { p.strike_price = 0; })),
                      Catch::Contains("arithmetic_asian_option: strike_price = 0"));
    CHECK_THROWS_WITH(geometric_asian_option<float>(
                          2, with([](auto& p) { p.volatility = std::numeric_limits<double>::quiet_NaN(); })),
                      Catch::Contains("geometric_asian_option: volatility = nan"));
    CHECK_THROWS_WITH(european_option<double>(2, with([](auto& p) { p.maturity = 0; })),
                      Catch::Contains("maturity = 0"));
    CHECK_THROWS_WITH(european_option<double>(
                          2, with([](auto& p) { p.interest_rate = std::numeric_limits<double>::infinity(); })),
                      Catch::Contains("interest_rate = inf"));
    CHECK_THROWS_WITH(black_scholes_price(with([](auto& p) { p.volatility = 0; })),
                      Catch::Contains("black_scholes_price: volatility = 0"));
    CHECK_THROWS_WITH(black_price(0, 1, -1, 1, option_type::call), Catch::Contains("variance = -1"));
    CHECK_THROWS_WITH(black_price(0, 0, 1, 1, option_type::put), Catch::Contains("strike = 0"));
    CHECK_THROWS_WITH(black_price(0, 1, 1, 0, option_type::put), Catch::Contains("discount = 0"));
    CHECK_THROWS_WITH(european_option<double>(3)(bad), Catch::Contains("points.shape(1) = 2"));
  }
  SECTION("genz") {
    CHECK(message_of([] { genz<double>(genz_family::gaussian, {}, {}); }) ==
          "tessera::qmc::genz: a.size() = 0; expected >= 1");
    CHECK(message_of([] { genz<double>(genz_family::gaussian, {1, 2}, {0.5}); }) ==
          "tessera::qmc::genz: u.size() = 1; expected a.size() = 2");
    CHECK(message_of([] { genz<double>(genz_family::gaussian, {1, 0}, {0.5, 0.5}); }) ==
          "tessera::qmc::genz: a(1) = 0; expected a finite number > 0");
    CHECK(message_of([] { genz<float>(genz_family::continuous, {1, 1}, {1.5f, 0.5f}); }) ==
          "tessera::qmc::genz: u(0) = 1.5; expected 0 <= u(0) <= 1");
    CHECK_THROWS_WITH(genz<double>(genz_family::oscillatory, {1, 1}, {0, 0})(fixed_points(2, 3)),
                      Catch::Contains("genz: points.shape(1) = 3"));
  }
  SECTION("sine product") {
    CHECK(message_of([] { sine_product<double>(0); }) ==
          "tessera::qmc::sine_product: dimension = 0; expected >= 1");
    CHECK_THROWS_WITH(sine_product<double>(2, std::numeric_limits<double>::infinity()),
                      Catch::Contains("scale = inf"));
    CHECK_NOTHROW(sine_product<float>::normalized(196));
    CHECK_THROWS_WITH(sine_product<float>::normalized(197), Catch::Contains("dimension = 197"));
    CHECK_THROWS_AS(sine_product<double>::normalized(1600), invalid_argument);
    CHECK_THROWS_AS(sine_product<double>::normalized(0), invalid_argument);
  }
}
