#pragma once
// Arrays that a function fills and returns: allocated without initialization and, when large,
// advised to huge pages before their first write (core/detail/huge_pages.hpp), as NumPy does for
// the arrays of the Python libraries we are compared with.

#include <array>
#include <cstddef>
#include <type_traits>
#include <xtensor/xtensor.hpp>

#include "tessera/core/detail/huge_pages.hpp"

namespace tessera::detail {

/// An xt::xtensor<T, N> of `shape` whose elements are left uninitialized (xtensor does not
/// construct trivial elements), its memory advised to huge pages from huge_page_worthy_bytes on.
/// For outputs the caller writes in full. O(1) plus the allocation; throws std::bad_alloc.
template <class T, std::size_t N>
  requires std::is_trivially_default_constructible_v<T>
xt::xtensor<T, N> fresh_tensor(const std::array<std::size_t, N>& shape) {
  auto out = xt::xtensor<T, N>::from_shape(shape);
  advise_huge_pages(out.data(), out.size() * sizeof(T));
  return out;
}

}  // namespace tessera::detail
