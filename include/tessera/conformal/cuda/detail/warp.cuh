#pragma once
// Internals of the conformal CUDA backend: the warp collectives of core/cuda/detail/warp.cuh,
// named in this backend's namespace.

#include "tessera/core/cuda/detail/warp.cuh"

namespace tessera::conformal::detail {

using tessera::detail::full_warp;
using tessera::detail::group_sum;
using tessera::detail::lanes_below;
using tessera::detail::warp_exclusive_sum;
using tessera::detail::warp_inclusive_sum;
using tessera::detail::warp_max;
using tessera::detail::warp_min;
using tessera::detail::warp_sum;

}  // namespace tessera::conformal::detail
