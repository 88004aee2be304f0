// tessera::fill_normal compiled the way a user's optimized build compiles it: -O3, vector units
// of this machine (-march=native) and -fno-math-errno, under which the compiler vectorizes its
// batched Box-Muller loops (tests/CMakeLists.txt sets the flags for this file alone). The draws
// must keep their bits: they are checked against an FNV-1a hash of 2^20 float and 2^19 double
// draws recorded from the scalar code of a default build (draw by draw, tessera 0.1.0's format),
// and against this build's single draws at offsets that cut batches at both ends.

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <tessera/core/random.hpp>
#include <vector>

using tessera::random_stream;

namespace {

/// FNV-1a over the bytes of the values.
template <class T>
std::uint64_t fnv1a(const std::vector<T>& values) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  for (const T& v : values) {
    unsigned char bytes[sizeof(T)];
    std::memcpy(bytes, &v, sizeof(T));
    for (const unsigned char byte : bytes) {
      hash ^= byte;
      hash *= 0x100000001b3ull;
    }
  }
  return hash;
}

template <class T>
std::vector<T> filled(const random_stream& s, std::size_t n, std::uint64_t first) {
  std::vector<T> out(n);
  tessera::fill_normal(tessera::exec::host, s, std::span<T>(out), first);
  return out;
}

}  // namespace

TEST_CASE("vectorized normal fills keep the scalar draws' bits") {
  // Recorded with the scalar code (normal<T>(s, 3 + j) one by one, g++ -O2, no vector flags).
  const random_stream s(2026, 11, 23, 7);
  CHECK(fnv1a(filled<float>(s, std::size_t{1} << 20, 3)) == 0xf0a4c1e455851bc9ull);
  CHECK(fnv1a(filled<double>(s, std::size_t{1} << 19, 3)) == 0x8d48ba31a0a87e72ull);
}

TEMPLATE_TEST_CASE("vectorized normal fills equal single draws at any offset", "", float, double) {
  const random_stream s(5, 6, 7, 8);
  for (const std::uint64_t first : {0, 1, 31, 63, 64, 65, 1000}) {
    for (const std::size_t n : {1, 64, 100, 5000, 70000}) {
      const std::vector<TestType> z = filled<TestType>(s, n, first);
      for (std::size_t j = 0; j < n; ++j) REQUIRE(z[j] == tessera::normal<TestType>(s, first + j));
    }
  }
}
