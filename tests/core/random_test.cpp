// Counter-based random streams: Philox known answers, the documented stream layout, the
// distributions of each draw, and agreement of bulk fills with single draws.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <tessera/core/random.hpp>
#include <vector>
#include "support/test_support.hpp"

using tessera::test::ks_statistic;
using tessera::test::ks_critical;

using tessera::philox_block;
using tessera::random_stream;

namespace {

constexpr std::size_t sample_size = std::size_t{1} << 17;

double standard_normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

template <class T>
std::vector<T> draw_normals(const random_stream& s, std::size_t n, std::uint64_t first = 0) {
  std::vector<T> out(n);
  tessera::fill_normal(tessera::exec::host, s, std::span<T>(out), first);
  return out;
}

template <class T>
std::vector<T> draw_uniforms(const random_stream& s, std::size_t n, std::uint64_t first = 0) {
  std::vector<T> out(n);
  tessera::fill_uniform(tessera::exec::host, s, std::span<T>(out), first);
  return out;
}

template <class T>
double moment(const std::vector<T>& x, int power) {
  double sum = 0;
  for (T v : x) sum += std::pow(static_cast<double>(v), power);
  return sum / static_cast<double>(x.size());
}

}  // namespace

TEST_CASE("Philox4x32-10 matches the published known-answer vectors") {
  // Random123 1.14, examples/kat_vectors (Salmon et al., SC'11): counter, key -> output.
  CHECK(tessera::philox4x32_10({0, 0, 0, 0}, {0, 0}) ==
        philox_block{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
  CHECK(tessera::philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
                               {0xffffffff, 0xffffffff}) ==
        philox_block{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
  CHECK(tessera::philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
                               {0xa4093822, 0x299f31d0}) ==
        philox_block{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
}

TEST_CASE("a stream's blocks follow the documented key and counter layout") {
  const std::uint64_t seed = 0x0123456789abcdefULL;
  const random_stream s(seed, 11, 22, 33);
  const philox_block derived = tessera::philox4x32_10({11, 0, 0, 0x7e55e7a0}, {0x89abcdef, 0x01234567});
  CHECK(s.key() == tessera::philox_key{derived[0], derived[1]});
  const std::uint64_t k = 0x0000000500000007ULL;
  CHECK(s.block(k) == tessera::philox4x32_10({7, 5, 22, 33}, s.key()));
}

TEST_CASE("streams are reproducible and differ in every id") {
  const random_stream a(42, 1, 2, 3);
  CHECK(random_stream(42, 1, 2, 3).block(9) == a.block(9));
  CHECK(random_stream(43, 1, 2, 3).block(9) != a.block(9));
  CHECK(random_stream(42, 0, 2, 3).block(9) != a.block(9));
  CHECK(random_stream(42, 1, 0, 3).block(9) != a.block(9));
  CHECK(random_stream(42, 1, 2, 0).block(9) != a.block(9));
  CHECK(a.block(8) != a.block(9));
}

TEST_CASE("uniform draws are cut from the block's words as documented") {
  const random_stream s(42, 1, 2, 3);
  const philox_block w = s.block(0);
  const auto u = tessera::uniform_block<float>(s, 0);
  for (int i = 0; i < 4; ++i) CHECK(u[i] == static_cast<float>(w[i] >> 8) * 0x1p-24f);
  const auto ud = tessera::uniform_block<double>(s, 0);
  CHECK(ud[0] == static_cast<double>(((std::uint64_t{w[1]} << 32) | w[0]) >> 11) * 0x1p-53);
  CHECK(ud[1] == static_cast<double>(((std::uint64_t{w[3]} << 32) | w[2]) >> 11) * 0x1p-53);
}

TEST_CASE("the stream format is stable across versions") {
  // Saved experiments are replayed from (seed, ids), so these draws must never change: they were
  // recorded when the format was fixed (tessera 0.1.0). A change here breaks users' runs.
  const random_stream s(42, 1, 2, 3);
  const double normals[] = {0x1.36b6a1f4248d4p-6, 0x1.ab50a69b06268p-3, -0x1.1e43ce328f0adp-1,
                            0x1.8b87578ab1142p-4};
  const float normals_f[] = {0x1.c3a942p-2f, -0x1.efeb66p-5f, 0x1.aefdb8p-7f, 0x1.285d38p-3f};
  const float signs[] = {1, -1, -1, -1, 1, -1, 1, -1};
  for (int i = 0; i < 4; ++i) {
    CHECK(tessera::normal<double>(s, i) == normals[i]);
    CHECK(tessera::normal<float>(s, i) == normals_f[i]);
  }
  for (int i = 0; i < 8; ++i) CHECK(tessera::rademacher<float>(s, i) == signs[i]);
  CHECK(tessera::uniform<double>(s, 1) == 0x1.e2748b9fea7e4p-3);
}

TEMPLATE_TEST_CASE("uniform draws are U[0,1)", "", float, double) {
  const auto x = draw_uniforms<TestType>(random_stream(2026, 5), sample_size);
  CHECK(*std::min_element(x.begin(), x.end()) >= TestType(0));
  CHECK(*std::max_element(x.begin(), x.end()) < TestType(1));
  CHECK(ks_statistic(x, [](double v) { return v; }) < ks_critical(x.size()));
  const double standard_error = std::sqrt(1.0 / 12 / static_cast<double>(x.size()));
  CHECK(std::abs(moment(x, 1) - 0.5) < 4 * standard_error);
}

TEMPLATE_TEST_CASE("normal draws are N(0,1)", "", float, double) {
  const auto z = draw_normals<TestType>(random_stream(7, 1, 2, 3), sample_size);
  const double n = static_cast<double>(z.size());
  CHECK(ks_statistic(z, standard_normal_cdf) < ks_critical(z.size()));
  CHECK(std::abs(moment(z, 1)) < 4 / std::sqrt(n));
  CHECK(std::abs(moment(z, 2) - 1) < 4 * std::sqrt(2 / n));
  CHECK(std::abs(moment(z, 3)) < 4 * std::sqrt(15 / n));
  CHECK(std::abs(moment(z, 4) - 3) < 4 * std::sqrt(96 / n));
  // Tails: P(|z| > 3) = 0.0026998.
  const double tail = static_cast<double>(std::count_if(z.begin(), z.end(), [](TestType v) { return std::abs(v) > 3; })) / n;
  CHECK(std::abs(tail - 0.0026998) < 4 * std::sqrt(0.0027 / n));
  const double largest = sizeof(TestType) == 4 ? 5.7683 : 8.5718;  // sqrt(2 ln 2^24), sqrt(2 ln 2^53)
  for (TestType v : z) REQUIRE(std::abs(v) <= largest);
}

TEST_CASE("the cos and sin halves of a Box-Muller pair are uncorrelated") {
  const auto z = draw_normals<double>(random_stream(99), sample_size);
  double cross = 0;
  for (std::size_t i = 0; i + 1 < z.size(); i += 2) cross += z[i] * z[i + 1];
  CHECK(std::abs(cross / (static_cast<double>(z.size()) / 2)) < 4 / std::sqrt(static_cast<double>(z.size()) / 2));
}

TEST_CASE("different streams are uncorrelated") {
  const auto a = draw_normals<double>(random_stream(5, 0), sample_size);
  const auto b = draw_normals<double>(random_stream(5, 1), sample_size);
  const double correlation = std::inner_product(a.begin(), a.end(), b.begin(), 0.0) / static_cast<double>(a.size());
  CHECK(std::abs(correlation) < 4 / std::sqrt(static_cast<double>(a.size())));
}

TEMPLATE_TEST_CASE("Rademacher signs are +-1 with equal probability", "", float, double) {
  std::vector<TestType> r(sample_size);
  tessera::fill_rademacher(tessera::exec::host, random_stream(3), std::span<TestType>(r));
  for (TestType v : r) REQUIRE((v == TestType(1) || v == TestType(-1)));
  CHECK(std::abs(moment(r, 1)) < 4 / std::sqrt(static_cast<double>(r.size())));
  double lag_one = 0;
  for (std::size_t i = 0; i + 1 < r.size(); ++i) lag_one += static_cast<double>(r[i] * r[i + 1]);
  CHECK(std::abs(lag_one / static_cast<double>(r.size())) < 4 / std::sqrt(static_cast<double>(r.size())));
}

TEMPLATE_TEST_CASE("bulk fills equal single draws at any offset and length", "", float, double) {
  const random_stream s(17, 4, 5, 6);
  for (std::uint64_t first : {0, 1, 3, 127, 130, 1000}) {
    for (std::size_t n : {0, 1, 2, 5, 129, 1001}) {
      std::vector<TestType> u(n), z(n), r(n);
      tessera::fill_uniform(tessera::exec::host, s, std::span<TestType>(u), first);
      tessera::fill_normal(tessera::exec::host, s, std::span<TestType>(z), first);
      tessera::fill_rademacher(tessera::exec::host, s, std::span<TestType>(r), first);
      for (std::size_t j = 0; j < n; ++j) {
        REQUIRE(u[j] == tessera::uniform<TestType>(s, first + j));
        REQUIRE(z[j] == tessera::normal<TestType>(s, first + j));
        REQUIRE(r[j] == tessera::rademacher<TestType>(s, first + j));
      }
    }
  }
}
