// Conan's consumer test: the packaged headers compile and give Random123's known answer.
#include <tessera/core.hpp>

#include <cstdio>

int main() {
  // Random123 1.14, examples/kat_vectors: philox4x32_10 of counter 0 under key 0.
  const tessera::philox_block expected{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
  if (tessera::philox4x32_10({0, 0, 0, 0}, {0, 0}) != expected) {
    std::puts("tessera test_package: Philox4x32-10 known answer FAILED");
    return 1;
  }
  // Draw 1 of the stream (seed 42, ids 1, 2, 3), recorded when the stream format was fixed in
  // tessera 0.1.0 (tests/core/random_test.cpp).
  const tessera::random_stream stream(42, 1, 2, 3);
  if (tessera::uniform<double>(stream, 1) != 0x1.e2748b9fea7e4p-3) {
    std::puts("tessera test_package: random_stream draw FAILED");
    return 1;
  }
  std::printf("tessera %s: test_package passed\n", tessera::version_string);
  return 0;
}
