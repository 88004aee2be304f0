// detail::generated_vector: the elements f(0..n-1) in order, f called once per index in
// increasing order, an exception from f propagating with nothing leaked, and the iterator it
// builds on modelling C++20's forward_iterator.

#include <catch2/catch.hpp>

#include <cstddef>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "tessera/core/detail/generated_vector.hpp"

namespace {

using tessera::detail::generated_vector;

TEST_CASE("generated_vector holds f(i) at i, calling f once per index, in order", "[core][generated_vector]") {
  std::vector<std::size_t> calls;
  const std::vector<long> squares = generated_vector(6, [&](std::size_t i) {
    calls.push_back(i);
    return static_cast<long>(i * i);
  });
  CHECK(squares == std::vector<long>{0, 1, 4, 9, 16, 25});
  CHECK(calls == std::vector<std::size_t>{0, 1, 2, 3, 4, 5});
}

TEST_CASE("generated_vector of no elements calls nothing", "[core][generated_vector]") {
  int calls = 0;
  const auto none = generated_vector(0, [&](std::size_t) { return ++calls; });
  CHECK(none.empty());
  CHECK(calls == 0);
}

TEST_CASE("generated_vector builds elements that own memory", "[core][generated_vector]") {
  const std::vector<std::string> words =
      generated_vector(3, [](std::size_t i) { return std::string(40 + i, static_cast<char>('a' + i)); });
  REQUIRE(words.size() == 3);
  CHECK(words[2] == std::string(42, 'c'));
}

TEST_CASE("generated_vector passes on what f throws", "[core][generated_vector]") {
  const auto failing = [](std::size_t i) {
    if (i == 5) throw std::runtime_error("element 5");
    return std::string(64, 'x');  // heap memory: a leak would show under the sanitizers
  };
  CHECK_THROWS_WITH(generated_vector(9, failing), "element 5");
}

TEST_CASE("generating_iterator is a C++20 forward iterator", "[core][generated_vector]") {
  const auto f = [](std::size_t i) { return static_cast<int>(i); };
  STATIC_REQUIRE(std::forward_iterator<tessera::detail::generating_iterator<decltype(f)>>);
}

}  // namespace
