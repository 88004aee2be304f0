#pragma once
// The device backend of qmc/digital_net.hpp: the same points, bit for bit, generated on a GPU.
//
// Replications are randomized and tabulated on the host (digital_net_replication) and uploaded
// once (device_digital_net); generation then writes R x n x d values row-major. A warp covers
// dx = min(32, largest power of two <= d) consecutive coordinates of 32/dx = 2^s interleaved
// points, so each of its stores is whole rows. Each lane walks a tile of 128 of its points with
// stride 2^s: from i to i + 2^s the digits s..s+c of i flip, c the lowest set bit of
// (i >> s) + 1, which changes the word by T[s + c] ^ T[s - 1] in the host's step table T (prefix
// XORs in natural order, columns in Gray order; T[-1] = 0). Tiles start at multiples of 128 2^s,
// so inside a tile c = lowest set bit of k + 1 for the k-th step: a compile-time constant of the
// unrolled loop, and the seven step words it needs sit in registers.

#include <thrust/device_vector.h>

#include <cstdint>
#include <span>
#include <variant>
#include <vector>

#include "tessera/core/cuda/check.cuh"
#include "tessera/qmc/digital_net.hpp"

namespace tessera::qmc {
namespace detail {

/// The device copy of R replications' tables, concatenated replication by replication.
template <class Word>
struct device_net_tables {
  int dimension = 0;
  int columns = 0;
  bool gray = false;
  bool nus = false;
  std::uint64_t replications = 0;
  thrust::device_vector<Word> matrix_columns;  // R x d x m
  thrust::device_vector<Word> steps;           // R x m x d
  thrust::device_vector<Word> shift;           // R x d
  thrust::device_vector<Word> nus_key;         // R x d (empty unless NUS)
};

template <class Word>
struct net_kernel_arguments {
  const Word* matrix_columns;
  const Word* steps;
  const Word* shift;
  const Word* nus_key;  // null unless NUS
  int dimension;
  int columns;
  bool gray;
  int lanes_per_point;  // dx, a power of two <= 32
  int stride_bits;      // s, with 2^s = 32 / dx points per warp step
  int groups_per_block; // coordinate groups of dx covered by one block's 8 warps: 1, 2, 4 or 8
  std::uint64_t begin;
  std::uint64_t end;
};

/// Points per lane and tile; the steps inside a tile use the carry positions 0..6.
inline constexpr int net_tile_points = 128;

/// The lowest set bit of k > 0; folded to a constant where k is one (the unrolled tile loop).
TESSERA_HOST_DEVICE constexpr int lowest_set_bit_constexpr(int k) {
  int c = 0;
  while (((k >> c) & 1) == 0) ++c;
  return c;
}

template <class T, class Word, bool Nus>
__global__ void digital_net_kernel(net_kernel_arguments<Word> a, T* out) {
  constexpr int K = net_tile_points;
  // A block's warps cover groups_per_block consecutive coordinate groups of 8 / groups_per_block
  // consecutive tiles, so that a block's stores of one step are contiguous where d allows.
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int warp = static_cast<int>(threadIdx.x / 32);
  const int group = static_cast<int>(blockIdx.y) * a.groups_per_block + warp % a.groups_per_block;
  const int j = group * a.lanes_per_point + lane % a.lanes_per_point;
  if (j >= a.dimension) return;
  const std::uint64_t stride = std::uint64_t{1} << a.stride_bits;
  const std::uint64_t tile = (a.begin / (K * stride)) +
                             blockIdx.x * std::uint64_t(8 / a.groups_per_block) + static_cast<std::uint64_t>(warp / a.groups_per_block);
  const std::uint64_t first = tile * K * stride + static_cast<std::uint64_t>(lane / a.lanes_per_point);
  if (first >= a.end) return;

  const auto d = static_cast<std::uint64_t>(a.dimension);
  const auto m = static_cast<std::uint64_t>(a.columns);
  const std::uint64_t replication = blockIdx.z;
  const std::uint64_t rd = replication * d + static_cast<std::uint64_t>(j);
  const Word* steps = a.steps + replication * m * d + static_cast<std::uint64_t>(j);
  const Word below = a.stride_bits > 0 ? steps[static_cast<std::uint64_t>(a.stride_bits - 1) * d] : Word{0};
  Word step[7];
#pragma unroll
  for (int c = 0; c < 7; ++c) {
    const int row = a.stride_bits + c;
    step[c] = row < a.columns ? steps[static_cast<std::uint64_t>(row) * d] ^ below : Word{0};
  }
  const Word key = Nus ? a.nus_key[rd] : Word{0};
  Word x = direct_word(a.matrix_columns + rd * m, a.shift[rd], a.gray, first);

  // Signed offsets: the tile may start before range.begin (its first points are not written).
  const auto row_stride = static_cast<std::int64_t>(stride * d);
  T* p = out + static_cast<std::int64_t>(replication * (a.end - a.begin) * d) +
         (static_cast<std::int64_t>(first) - static_cast<std::int64_t>(a.begin)) * static_cast<std::int64_t>(d) + j;
  const bool interior = first >= a.begin && first + (K - 1) * stride < a.end;
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const std::uint64_t i = first + static_cast<std::uint64_t>(k) * stride;
    if (interior || (i >= a.begin && i < a.end)) p[k * row_stride] = word_to_unit<T>(Nus ? owen_scramble(x, key) : x);
    if (k + 1 < K) x ^= step[lowest_set_bit_constexpr(k + 1)];
  }
}

}  // namespace detail

/// Replications [first, first + count) of a digital net, randomized on the host and uploaded to
/// the current device: what the device generate_into() reads. Uploading costs O(R d m) words;
/// preparing them on the host O(R d m W).
class device_digital_net {
 public:
  /// Throws invalid_argument as digital_net_replication or for replications outside
  /// [1, 65535] (one grid layer each); cuda_error if the upload fails.
  device_digital_net(const digital_net& net, std::uint64_t first_replication, std::uint64_t replications)
      : capacity_(net.capacity()), first_replication_(first_replication) {
    require_in_range<std::uint64_t>("tessera::qmc::device_digital_net", "replications", replications, 1, 65535);
    if (net.word_bits() == 32)
      tables_ = upload<std::uint32_t>(net, first_replication, replications);
    else
      tables_ = upload<std::uint64_t>(net, first_replication, replications);
  }

  int dimension() const {
    return std::visit([](const auto& t) { return t.dimension; }, tables_);
  }
  std::uint64_t replications() const {
    return std::visit([](const auto& t) { return t.replications; }, tables_);
  }
  std::uint64_t first_replication() const noexcept { return first_replication_; }
  std::uint64_t capacity() const noexcept { return capacity_; }

  template <class F>
  decltype(auto) visit(F&& f) const {
    return std::visit(std::forward<F>(f), tables_);
  }

 private:
  template <class Word>
  static detail::device_net_tables<Word> upload(const digital_net& net, std::uint64_t first, std::uint64_t count) {
    std::vector<Word> columns, steps, shift, keys;
    for (std::uint64_t r = 0; r < count; ++r) {
      digital_net_replication(net, first + r).visit([&](const auto& t) {
        if constexpr (std::is_same_v<std::decay_t<decltype(t)>, detail::net_tables<Word>>) {
          columns.insert(columns.end(), t.matrix_columns.begin(), t.matrix_columns.end());
          steps.insert(steps.end(), t.steps.begin(), t.steps.end());
          shift.insert(shift.end(), t.shift.begin(), t.shift.end());
          keys.insert(keys.end(), t.nus_key.begin(), t.nus_key.end());
        }
      });
    }
    detail::device_net_tables<Word> out;
    out.dimension = net.dimension();
    out.columns = net.matrices().columns();
    out.gray = net.options().order == net_order::gray;
    out.nus = !keys.empty();
    out.replications = count;
    out.matrix_columns.assign(columns.begin(), columns.end());
    out.steps.assign(steps.begin(), steps.end());
    out.shift.assign(shift.begin(), shift.end());
    out.nus_key.assign(keys.begin(), keys.end());
    return out;
  }

  std::uint64_t capacity_;
  std::uint64_t first_replication_;
  std::variant<detail::device_net_tables<std::uint32_t>, detail::device_net_tables<std::uint64_t>> tables_;
};

/// Writes points [range.begin, range.end) of every uploaded replication into device memory
/// `out`, as an R x n x d row-major array, with the same bits as the host's generate_into().
/// Enqueued on policy.stream. Throws invalid_argument for a range beyond capacity() or
/// out.size() != R n d; cuda_error if the launch fails. O(R n d) work.
template <float_or_double T>
void generate_into(exec::cuda policy, const device_digital_net& net, index_range range, std::span<T> out) {
  constexpr const char* where = "tessera::qmc::generate_into";
  require_index_range(where, range, net.capacity());
  const std::uint64_t values = net.replications() * range.size() * static_cast<std::uint64_t>(net.dimension());
  require(out.size() == values, where, "out.size()", out.size(), "R * n * d = " + tessera::detail::to_text(values));
  if (values == 0) return;
  net.visit([&](const auto& t) {
    using Word = typename std::decay_t<decltype(t.shift)>::value_type;
    int lanes = 1;
    while (lanes * 2 <= t.dimension && lanes < 32) lanes *= 2;
    int stride_bits = 0;
    while ((lanes << stride_bits) < 32) ++stride_bits;
    const int groups = (t.dimension + lanes - 1) / lanes;
    int groups_per_block = 1;
    while (groups_per_block < 8 && groups_per_block < groups) groups_per_block *= 2;
    detail::net_kernel_arguments<Word> a{
        thrust::raw_pointer_cast(t.matrix_columns.data()), thrust::raw_pointer_cast(t.steps.data()),
        thrust::raw_pointer_cast(t.shift.data()), t.nus ? thrust::raw_pointer_cast(t.nus_key.data()) : nullptr,
        t.dimension, t.columns, t.gray, lanes, stride_bits, groups_per_block, range.begin, range.end};
    const std::uint64_t tile = (std::uint64_t{detail::net_tile_points} << stride_bits);
    const std::uint64_t tiles = (range.end + tile - 1) / tile - range.begin / tile;
    const std::uint64_t tiles_per_block = static_cast<std::uint64_t>(8 / groups_per_block);
    constexpr unsigned threads = 256;
    const dim3 grid(static_cast<unsigned>((tiles + tiles_per_block - 1) / tiles_per_block),
                    static_cast<unsigned>((groups + groups_per_block - 1) / groups_per_block),
                    static_cast<unsigned>(t.replications));
    if (t.nus)
      detail::digital_net_kernel<T, Word, true><<<grid, threads, 0, policy.stream>>>(a, out.data());
    else
      detail::digital_net_kernel<T, Word, false><<<grid, threads, 0, policy.stream>>>(a, out.data());
    check_launch(where);
  });
}

/// One-call form: uploads replications [first_replication, first_replication + replications)
/// and generates; for repeated ranges keep a device_digital_net instead.
template <float_or_double T>
void generate_into(exec::cuda policy, const digital_net& net, index_range range,
                   std::uint64_t first_replication, std::uint64_t replications, std::span<T> out) {
  generate_into(policy, device_digital_net(net, first_replication, replications), range, out);
}

}  // namespace tessera::qmc
