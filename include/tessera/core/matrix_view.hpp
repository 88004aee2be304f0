#pragma once
// A non-owning view of a dense row-major matrix, and the concept of the containers it views.
//
// The cores take n x K tables (probability matrices, score matrices, populations) as any
// row-major xtensor container: xt::xtensor<T, 2>, or xt::adapt over the caller's own buffer, so a
// user never copies data into a tessera type. Inside, algorithms work on matrix_view, which is
// also what device kernels receive (its pointer may be a device pointer).

#include <concepts>
#include <cstddef>
#include <span>
#include <type_traits>
#include <xtensor/xlayout.hpp>

#include "tessera/core/config.hpp"

namespace tessera {

/// A two-dimensional xtensor container (or adaptor) of T, row-major and contiguous.
template <class M, class T>
concept row_major_matrix_of =
    requires(const M& m) {
      { m.data() } -> std::convertible_to<const T*>;
      { m.shape()[1] } -> std::convertible_to<std::size_t>;
      { m.dimension() } -> std::convertible_to<std::size_t>;
    } &&
    std::same_as<std::remove_cvref_t<typename std::remove_cvref_t<M>::value_type>, T> &&
    std::remove_cvref_t<M>::static_layout == xt::layout_type::row_major;

/// rows x cols elements of T at data, row i at data + i * cols.
template <class T>
struct matrix_view {
  T* data = nullptr;
  std::size_t rows = 0;
  std::size_t cols = 0;

  /// Row i as a span of cols elements. O(1); i < rows is the caller's duty.
  TESSERA_HOST_DEVICE std::span<T> row(std::size_t i) const { return {data + i * cols, cols}; }

  /// Element (i, j). O(1).
  TESSERA_HOST_DEVICE T& operator()(std::size_t i, std::size_t j) const { return data[i * cols + j]; }
};

/// A read-only view of a two-dimensional container. Throws nothing; the caller checks dimension().
template <class T, row_major_matrix_of<T> M>
matrix_view<const T> view_of(const M& m) {
  return {m.data(), m.dimension() == 2 ? m.shape()[0] : 0, m.dimension() == 2 ? m.shape()[1] : 0};
}

}  // namespace tessera
