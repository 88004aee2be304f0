// FFTBR / IFFTBR: QMCPy's outputs on a fixed vector, the defining sums, the round trip, in-place
// use, and the argument errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <span>
#include <string>
#include <tessera/core/random.hpp>
#include <tessera/qmc/fft_bit_reversed.hpp>
#include <vector>

using cd = std::complex<double>;

namespace {

// The fixed input of the QMCPy reference: x_k = sin(k + 1) + i cos(2k + 1), k = 0..15.
std::vector<cd> qmcpy_input() {
  std::vector<cd> x(16);
  for (int k = 0; k < 16; ++k) x[k] = cd(std::sin(k + 1.0), std::cos(2.0 * k + 1.0));
  return x;
}

std::size_t reverse(std::size_t i, int m) {
  std::size_t r = 0;
  for (int b = 0; b < m; ++b) r |= ((i >> b) & 1u) << (m - 1 - b);
  return r;
}

// The definitions at the top of the header, summed directly in long double.
std::vector<std::complex<long double>> defining_sum(const std::vector<cd>& x, bool inverse) {
  const std::size_t n = x.size();
  const int m = static_cast<int>(std::log2(static_cast<double>(n)));
  const long double two_pi = 2 * std::numbers::pi_v<long double>;
  std::vector<std::complex<long double>> y(n);
  for (std::size_t k = 0; k < n; ++k) {
    std::complex<long double> sum = 0;
    for (std::size_t j = 0; j < n; ++j) {
      // fftbr: y_k = sum_j x_{rev(j)} e^{-2 pi i j k/n}; ifftbr: x_i = sum_k y_k e^{+2 pi i rev(i) k/n}.
      const std::size_t phase = inverse ? (reverse(k, m) * j) % n : (j * k) % n;
      const long double angle = (inverse ? 1 : -1) * two_pi * static_cast<long double>(phase) / static_cast<long double>(n);
      const cd value = inverse ? x[j] : x[reverse(j, m)];
      sum += std::complex<long double>(value.real(), value.imag()) * std::polar(1.0L, angle);
    }
    y[k] = sum / std::sqrt(static_cast<long double>(n));
  }
  return y;
}

template <class A, class B>
double relative_error(const std::vector<A>& got, const std::vector<B>& want) {
  long double num = 0, den = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const std::complex<long double> g(got[i].real(), got[i].imag());
    const std::complex<long double> w(want[i].real(), want[i].imag());
    num += std::norm(g - w);
    den += std::norm(w);
  }
  return static_cast<double>(std::sqrt(num / den));
}

template <class T>
std::vector<std::complex<T>> random_complex(std::size_t n, std::uint32_t id) {
  std::vector<T> u(2 * n);
  tessera::fill_uniform(tessera::exec::host, tessera::random_stream(99, id), std::span<T>(u));
  std::vector<std::complex<T>> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = {2 * u[2 * i] - 1, 2 * u[2 * i + 1] - 1};
  return x;
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

TEST_CASE("fftbr and ifftbr reproduce QMCPy's outputs") {
  // qmcpy 2.4 (numpy 2.4.6, scipy.fft): k = np.arange(16); x = np.sin(k+1) + 1j*np.cos(2*k+1);
  // qmcpy.fftbr(x) and qmcpy.ifftbr(x), printed with repr.
  const double fftbr_re[] = {0.4119460406701087,   -0.05613835603582093, 0.8022451408617332,  -0.4760583823941898,
                             -0.12642224494058785, -1.029774105481202,   1.2035161679449566,  -0.07455465902046583,
                             0.35959945776270313,  -0.06990319835842565, -0.14625140766491407, 1.0657199144861553,
                             0.48996267089329315,  0.617749148977585,    0.5069409977398636,  -0.11269324620920647};
  const double fftbr_im[] = {0.08191409614788714,  0.15431294718071245, 0.1387588267524053,   0.4443596389472786,
                             1.1971111526479477,   0.16102000580456666, -1.749670416900608,   -0.18716913936087498,
                             -0.16744981926340013, -0.3934920803592822, 0.5599561670802942,   2.0406218065209796,
                             -0.5237011804582096,  0.7105314264747927,  -0.43629920747092776, 0.13040499972899733};
  const double ifftbr_re[] = {0.41194604067010865, 0.1696721956290039,   0.23288816498581613,  -0.0996741690717732,
                              0.783137285800881,   0.32476423140331334,  -0.011570296403200342, 0.6960154870851567,
                              0.4687354368099376,  0.21893193958304596,  2.0428742610164847,   -0.39885606409517793,
                              -0.23879691990602292, -1.7780188106770256, 0.11462236202074316,  0.4292127943802946};
  const double ifftbr_im[] = {0.08191409614788717, 0.03835275124985946,   0.5295694993943721,  -0.30462482899677934,
                              -0.870095447161296,  -0.12044366260320194,  0.13505001198257366, 1.0405555156196704,
                              -0.14219696760465012, -0.025172009773928472, 0.8329362471869866, -1.2291929373784507,
                              1.4126754639160013,  0.38178266581917486,   0.09262891472141926, 0.3074699109529209};
  const auto x = qmcpy_input();
  std::vector<cd> y(16), z(16);
  tessera::qmc::fftbr(tessera::exec::host, std::span<const cd>(x), std::span<cd>(y));
  tessera::qmc::ifftbr(tessera::exec::host, std::span<const cd>(x), std::span<cd>(z));
  for (int k = 0; k < 16; ++k) {
    INFO("k = " << k);
    CHECK(std::abs(y[k] - cd(fftbr_re[k], fftbr_im[k])) <= 1e-14);
    CHECK(std::abs(z[k] - cd(ifftbr_re[k], ifftbr_im[k])) <= 1e-14);
  }
}

TEST_CASE("fftbr and ifftbr equal their defining sums") {
  for (int m : {0, 1, 3, 7, 9}) {
    const auto x = random_complex<double>(std::size_t{1} << m, static_cast<std::uint32_t>(m));
    std::vector<cd> y(x.size()), z(x.size());
    tessera::qmc::fftbr(tessera::exec::host, std::span<const cd>(x), std::span<cd>(y));
    tessera::qmc::ifftbr(tessera::exec::host, std::span<const cd>(x), std::span<cd>(z));
    INFO("m = " << m);
    CHECK(relative_error(y, defining_sum(x, false)) <= 1e-14);
    CHECK(relative_error(z, defining_sum(x, true)) <= 1e-14);
  }
}

TEMPLATE_TEST_CASE("ifftbr inverts fftbr, in place too", "", float, double) {
  using complex = std::complex<TestType>;
  const double tolerance = sizeof(TestType) == 4 ? 1e-5 : 1e-14;
  for (int m : {0, 4, 12, 16}) {
    const auto x = random_complex<TestType>(std::size_t{1} << m, static_cast<std::uint32_t>(50 + m));
    std::vector<complex> y(x.size());
    tessera::qmc::fftbr(tessera::exec::host, std::span<const complex>(x), std::span<complex>(y));
    auto in_place = x;
    tessera::qmc::fftbr(tessera::exec::host, std::span<const complex>(in_place), std::span<complex>(in_place));
    CHECK(in_place == y);
    tessera::qmc::ifftbr(tessera::exec::host, std::span<const complex>(in_place), std::span<complex>(in_place));
    INFO("m = " << m);
    CHECK(relative_error(in_place, x) <= tolerance);
  }
}

TEST_CASE("fftbr is unitary: Parseval holds") {
  const auto x = random_complex<double>(1024, 77);
  std::vector<cd> y(x.size());
  tessera::qmc::fftbr(tessera::exec::host, std::span<const cd>(x), std::span<cd>(y));
  double ex = 0, ey = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    ex += std::norm(x[i]);
    ey += std::norm(y[i]);
  }
  CHECK(ey == Approx(ex).epsilon(1e-13));
}

TEST_CASE("fftbr and ifftbr reject bad spans") {
  std::vector<cd> twelve(12), eight(8), sixteen(16);
  CHECK(invalid_argument_message([&] {
          tessera::qmc::fftbr(tessera::exec::host, std::span<const cd>(twelve), std::span<cd>(twelve));
        }) == "tessera::qmc::fftbr: input.size() = 12; expected a power of two");
  CHECK(invalid_argument_message([&] {
          tessera::qmc::ifftbr(tessera::exec::host, std::span<const cd>(eight), std::span<cd>(sixteen));
        }) == "tessera::qmc::ifftbr: output.size() = 16; expected output.size() == input.size() = 8");
  const std::string overlap = invalid_argument_message([&] {
    tessera::qmc::fftbr(tessera::exec::host, std::span<const cd>(sixteen).subspan(0, 8),
                        std::span<cd>(sixteen).subspan(4, 8));
  });
  CHECK(overlap.find("tessera::qmc::fftbr: output = ") == 0);
  CHECK(overlap.find("partially overlaps") != std::string::npos);
}
