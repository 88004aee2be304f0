#pragma once
// The small concepts the cores share, so that a wrong instantiation fails with one readable line.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <ranges>
#include <span>
#include <type_traits>

namespace tessera {

/// The two IEEE-754 formats tessera's kernels are written and verified for, on host and device.
template <class T>
concept float_or_double = std::same_as<T, float> || std::same_as<T, double>;

/// The unsigned integer as wide as T, which holds T's bit pattern (std::bit_cast).
template <float_or_double T>
using bits_of = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;

/// A contiguous range of T (std::vector, std::span, xtensor containers, Eigen vectors via data()).
template <class R, class T>
concept contiguous_range_of =
    std::ranges::contiguous_range<R> && std::same_as<std::ranges::range_value_t<R>, T>;

/// A callable mapping a point (a span of coordinates) to a real value: an integrand, a loss.
template <class F, class T>
concept scalar_function_of_point =
    std::regular_invocable<F&, std::span<const T>> &&
    std::convertible_to<std::invoke_result_t<F&, std::span<const T>>, T>;

}  // namespace tessera
