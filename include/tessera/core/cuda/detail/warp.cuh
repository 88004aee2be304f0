#pragma once
// Internals of the CUDA backends: collectives of a warp, and of aligned groups of 2^k lanes in it.
// Every sum is taken in a fixed order, so a result depends on the data alone, never on
// scheduling: kernels built on them are deterministic run to run.

#include <cstdint>

namespace tessera::detail {

/// The mask of all 32 lanes: every collective here is called by the whole warp.
inline constexpr unsigned full_warp = 0xffffffffu;

/// The sum over the aligned group of `group` lanes (a power of two <= 32) that holds this lane,
/// by butterfly. Floating-point addition is commutative, so the partners of every step compute
/// the same value and all lanes of the group return identical bits.
template <class V>
__device__ V group_sum(V value, unsigned group) {
  for (unsigned offset = group / 2; offset > 0; offset /= 2)
    value += __shfl_xor_sync(full_warp, value, offset);
  return value;
}

/// The sum of `value` over lanes 0..lane (Hillis-Steele, five steps).
template <class V>
__device__ V warp_inclusive_sum(V value, unsigned lane) {
  for (unsigned offset = 1; offset < 32; offset *= 2) {
    const V lower = __shfl_up_sync(full_warp, value, offset);
    if (lane >= offset) value = lower + value;
  }
  return value;
}

/// The sum of `value` over lanes 0..lane - 1 (zero on lane 0).
template <class V>
__device__ V warp_exclusive_sum(V value, unsigned lane) {
  const V inclusive = warp_inclusive_sum(value, lane);
  const V lower = __shfl_up_sync(full_warp, inclusive, 1);
  return lane == 0 ? V(0) : lower;
}

/// The largest and the smallest of `value` over the warp, on every lane.
template <class V>
__device__ V warp_max(V value) {
  for (unsigned offset = 16; offset > 0; offset /= 2) {
    const V other = __shfl_xor_sync(full_warp, value, offset);
    value = other > value ? other : value;
  }
  return value;
}

template <class V>
__device__ V warp_min(V value) {
  for (unsigned offset = 16; offset > 0; offset /= 2) {
    const V other = __shfl_xor_sync(full_warp, value, offset);
    value = other < value ? other : value;
  }
  return value;
}

/// The sum of an integer over the warp, on every lane: one redux instruction from sm_80 on instead
/// of five shuffles (a bisection step of conformal's ranked_set_end.cuh reduces a count and a max
/// this way), a butterfly before.
__device__ inline std::int32_t warp_sum(std::int32_t value) {
#if __CUDA_ARCH__ >= 800
  return __reduce_add_sync(full_warp, value);
#else
  return group_sum(value, 32);
#endif
}

/// warp_max and warp_min of 32-bit unsigned values, by redux from sm_80 on.
__device__ inline std::uint32_t warp_max(std::uint32_t value) {
#if __CUDA_ARCH__ >= 800
  return __reduce_max_sync(full_warp, value);
#else
  return warp_max<std::uint32_t>(value);
#endif
}

__device__ inline std::uint32_t warp_min(std::uint32_t value) {
#if __CUDA_ARCH__ >= 800
  return __reduce_min_sync(full_warp, value);
#else
  return warp_min<std::uint32_t>(value);
#endif
}

/// The lanes below `lane`, as a mask.
__device__ inline unsigned lanes_below(unsigned lane) { return (1u << lane) - 1u; }

}  // namespace tessera::detail
