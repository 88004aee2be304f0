#pragma once
// A std::vector whose elements are computed from their index, each constructed once in place.
//
// std::vector<V>(n) value-initializes its n elements before the loop that overwrites them, and
// libstdc++ does it by copying the first element forward, a load and a store per element: for
// 10^5 intervals of split conformal regression that first write took as long as forming the
// intervals (46 against 22 us in a harness on an AMD EPYC). push_back avoids it but updates the
// size per element, which keeps the loop from vectorizing (62 us). Constructed from an iterator
// range, the vector allocates once and copies each element from the iterator straight into place
// (22 us): generating_iterator is that range, f(0), f(1), ..., computed as it is read.

#include <concepts>
#include <cstddef>
#include <iterator>
#include <type_traits>
#include <vector>

#include "tessera/core/detail/huge_pages.hpp"

namespace tessera::detail {

/// The sequence f(first), f(first + 1), ...: dereferencing calls f. Only for generated_vector,
/// which reads each position once, in order. Its legacy category is forward, which lets
/// std::vector count the positions before it reads them (one allocation), although its reference
/// is a prvalue: C++20's std::forward_iterator allows that; the C++17 requirements do not, and
/// std::vector's range constructor does not rely on them.
template <class F>
class generating_iterator {
 public:
  using value_type = std::remove_cvref_t<std::invoke_result_t<F&, std::size_t>>;
  using reference = value_type;
  using pointer = void;
  using difference_type = std::ptrdiff_t;
  using iterator_category = std::forward_iterator_tag;
  using iterator_concept = std::forward_iterator_tag;

  generating_iterator() = default;
  generating_iterator(F* f, std::size_t index) : f_(f), index_(index) {}

  value_type operator*() const { return (*f_)(index_); }

  generating_iterator& operator++() {
    ++index_;
    return *this;
  }

  generating_iterator operator++(int) {
    generating_iterator before = *this;
    ++index_;
    return before;
  }

  friend bool operator==(const generating_iterator& a, const generating_iterator& b) { return a.index_ == b.index_; }

 private:
  F* f_ = nullptr;
  std::size_t index_ = 0;
};

/// The vector f(0), f(1), ..., f(n - 1), each element constructed once, in place, with no
/// value-initialization first, in memory advised to huge pages when large (core/detail/
/// huge_pages.hpp). f is called exactly once per index, in increasing order, so it may keep state
/// (a running check of the inputs it reads, say). An exception from f propagates after the
/// elements made so far are destroyed. O(n) calls of f and one allocation; throws std::bad_alloc
/// or what f throws.
template <class F>
  requires std::invocable<F&, std::size_t> && std::move_constructible<std::invoke_result_t<F&, std::size_t>>
std::vector<std::remove_cvref_t<std::invoke_result_t<F&, std::size_t>>> generated_vector(std::size_t n, F f) {
  using V = std::remove_cvref_t<std::invoke_result_t<F&, std::size_t>>;
  std::vector<V> values;
  values.reserve(n);
  advise_huge_pages(values.data(), n * sizeof(V));
  // Into an empty vector whose capacity suffices, a forward range is constructed in place, as the
  // range constructor does.
  values.assign(generating_iterator<F>(&f, 0), generating_iterator<F>(&f, n));
  return values;
}

}  // namespace tessera::detail
