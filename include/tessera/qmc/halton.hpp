#pragma once
// The Halton sequence and its randomizations in base p (QMCPy's Halton, SciPy's qmc.Halton).
//
// Point i, coordinate j (both from 0) is the radical inverse of i in the j-th prime base p_j:
//     x_ij = sum_k a_k p^-(k+1)   where i = sum_k a_k p^k, 0 <= a_k < p,
// so point 0 is the origin, as in SciPy's qmc.Halton(d, scramble=False) and QMCPy's
// Halton(d, randomize=False). Every point is computed from its index alone, so any slice
// [begin, end) is made without the points before it.
//
// Precision. Coordinate j keeps D_j digits, the most with p^D <= 2^53 (53 for base 2, 33 for base
// 3, 4 for base 7919), and is the integer N over P = p^D converted by one IEEE division (see
// detail/base_p_scramble.hpp), so host and device agree bit for bit. Unrandomized doubles are
// the correctly rounded radical inverse; SciPy sums floating terms and can differ in the last
// place. An index needs all its digits, so the sequence's capacity is min_j p_j^(D_j) points
// (2^53 for d = 1; above 2^32 for every d <= max_dimension).
//
// Randomizations, each digit k counted from the most significant output digit, with QMCPy's
// names (Halton(randomize=...)):
//   none               "FALSE"   the radical inverse.
//   digital_shift      "DS"      y_k = (a_k + g_k) mod p, g_k uniform.
//   permutation        "DP"      y_k = sigma_k(a_k), one random permutation per digit position.
//   lms                "LMS"     y = L a over GF(p), L lower triangular, random entries, nonzero
//                                random diagonal (Matousek 1998). Point 0 stays at the origin.
//   lms_digital_shift  "LMS DS"  LMS, then a digital shift.
//   lms_permutation    "LMS DP"  LMS, then digit permutations: QMCPy's default, and ours.
//   nus                "NUS"     nested uniform scrambling (Owen 1995): the permutation of
//                                digit k depends on the digits a_0..a_(k-1) above it, one
//                                independent keyed permutation per node of the p-ary digit tree.
// QMCPy's "QRNG" (the deterministic generalized-Halton permutations of the R package qrng) is
// not offered. Random permutations are the keyed permutations sigma = (h F + g) mod p of
// detail/base_p_scramble.hpp: they have exactly the one- and two-point laws of uniformly random
// permutations, so each point and each pair of points has the law it has under QMCPy's scrambles
// with uniformly random permutations (hence the same mean and variance of every estimate), and
// no p-entry tables are needed (QMCPy stores R d D p of them). LMS, digital shift,
// permutation and nested scrambles all leave each coordinate a (0, k, 1)-net in base p: the
// first p^k points (or any aligned block of p^k) put one point in each [a p^-k, (a + 1) p^-k).
//
// Random streams. Replication r, coordinate j draws only from the Philox streams
// random_stream(seed, id0, r, j), with id0 (detail::base_p::stream_*):
//   0x48414c01 digital shift: block k gives g_k;
//   0x48414c02 permutation: block 2k gives (g_k, h_k), block 2k + 1 the Feistel keys of digit k;
//   0x48414c03 LMS: the packed lower triangle, two entries per block, row by row;
//   0x48414c04 NUS: block k gives the Feistel keys of depth k;
//   0x48414c05 NUS: block v gives h_v of tree node v and, where v starts a run of zero digits,
//              the images of 0 along that run (detail::base_p::nested_numerator).
// A replication is therefore reproducible from (seed, r) alone, whatever the replication count.

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/core/concepts.hpp"
#include "tessera/core/detail/fresh_tensor.hpp"
#include "tessera/core/exec.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/qmc/detail/base_p_scramble.hpp"
#include "tessera/qmc/point_set.hpp"

namespace tessera::qmc {

/// How a Halton sequence is randomized (see the top of this header for each definition).
enum class halton_randomization {
  none,
  digital_shift,
  permutation,
  lms,
  lms_digital_shift,
  lms_permutation,
  nus
};

/// The enumerator's name, e.g. "lms_permutation". O(1).
inline std::string_view to_string(halton_randomization randomization) {
  switch (randomization) {
    case halton_randomization::none: return "none";
    case halton_randomization::digital_shift: return "digital_shift";
    case halton_randomization::permutation: return "permutation";
    case halton_randomization::lms: return "lms";
    case halton_randomization::lms_digital_shift: return "lms_digital_shift";
    case halton_randomization::lms_permutation: return "lms_permutation";
    case halton_randomization::nus: return "nus";
  }
  return "unknown";
}

/// The randomization named by `name`: an enumerator's name or QMCPy's randomize string with its
/// aliases ("LMS DP" = "LMS PERM" = "TRUE", "LMS DS", "LMS", "DP" = "PERM", "DS",
/// "NUS" = "OWEN", "FALSE" = "NONE" = "NO"), compared as QMCPy does: case-insensitive, surrounding
/// blanks ignored, '_' read as ' '. O(|name|).
/// Throws invalid_argument naming `randomization` for any other name (e.g. "LMS NUS", "QRNG").
inline halton_randomization parse_halton_randomization(std::string_view name) {
  std::string key;
  for (const char c : name) {
    key.push_back(c == '_' ? ' ' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  const auto first = key.find_first_not_of(' ');
  if (first == std::string::npos) {
    key.clear();
  } else {
    key = key.substr(first, key.find_last_not_of(' ') - first + 1);
  }
  using enum halton_randomization;
  struct entry {
    std::string_view key;
    halton_randomization value;
  };
  constexpr entry names[] = {{"NONE", none},
                             {"FALSE", none},
                             {"NO", none},
                             {"DIGITAL SHIFT", digital_shift},
                             {"DS", digital_shift},
                             {"PERMUTATION", permutation},
                             {"DP", permutation},
                             {"PERM", permutation},
                             {"LMS", lms},
                             {"LMS DIGITAL SHIFT", lms_digital_shift},
                             {"LMS DS", lms_digital_shift},
                             {"LMS PERMUTATION", lms_permutation},
                             {"LMS DP", lms_permutation},
                             {"LMS PERM", lms_permutation},
                             {"TRUE", lms_permutation},
                             {"NUS", nus},
                             {"OWEN", nus}};
  for (const entry& e : names) {
    if (e.key == key) return e.value;
  }
  require(false, "tessera::qmc::parse_halton_randomization", "randomization", name,
          "one of none, digital_shift, permutation, lms, lms_digital_shift, lms_permutation, nus "
          "or QMCPy's FALSE, DS, DP, LMS, LMS DS, LMS DP, NUS (QRNG is not offered)");
  return none;
}

/// The parameters of a Halton sequence.
struct halton_options {
  /// d: coordinate j uses the j-th prime (2, 3, 5, ...); 1 <= d <= halton_sequence::max_dimension.
  int dimension = 1;
  /// The randomization; QMCPy's default, linear matrix scrambling with digit permutations.
  halton_randomization randomization = halton_randomization::lms_permutation;
  /// The seed of every random stream (see the top of this header).
  std::uint64_t seed = 0;
  /// R >= 1 independent randomizations (generate_replications, generate_into); 1 when
  /// randomization is none.
  int replications = 1;
};

/// A (randomized) Halton sequence: a value type holding its bases and the random tables of its R
/// replications (O(R sum_j D_j^2) words), from which points are generated by index range.
class halton_sequence {
 public:
  /// The largest dimension: the 100000th prime is 1299709 < 2^21, so every coordinate keeps at
  /// least 2 digits and the capacity exceeds 2^32 points.
  static constexpr int max_dimension = 100000;

  /// Builds the bases (the first d primes) and the replications' random tables.
  /// O(p_d log log p_d + R sum_j D_j^2) time.
  /// Throws invalid_argument naming options.dimension (outside [1, max_dimension]),
  /// options.replications (below 1, or above 1 with no randomization) or options.randomization
  /// (not an enumerator).
  explicit halton_sequence(const halton_options& options = {}) : options_(options) {
    constexpr std::string_view where = "tessera::qmc::halton_sequence";
    require_in_range(where, "options.dimension", options.dimension, 1, max_dimension);
    require(options.replications >= 1, where, "options.replications", options.replications,
            "options.replications >= 1");
    using enum halton_randomization;
    const auto kind = options.randomization;
    require(kind == none || kind == digital_shift || kind == permutation || kind == lms ||
                kind == lms_digital_shift || kind == lms_permutation || kind == nus,
            where, "options.randomization", static_cast<int>(kind),
            "one of the halton_randomization enumerators");
    require(kind != none || options.replications == 1, where, "options.replications",
            options.replications,
            "1 when options.randomization is none (every replication would be the same points)");
    using detail::base_p::digit_map;
    const bool linear = kind == lms || kind == lms_digital_shift || kind == lms_permutation;
    const digit_map map = kind == digital_shift || kind == lms_digital_shift ? digit_map::shift
                          : kind == permutation || kind == lms_permutation ? digit_map::permutation
                          : kind == nus                                    ? digit_map::nested
                                                                           : digit_map::identity;
    const std::vector<std::uint32_t> primes =
        detail::base_p::first_primes(static_cast<std::uint32_t>(options.dimension));
    tables_ = detail::base_p::build_scramble_tables(
        primes, static_cast<std::uint32_t>(options.replications), options.seed, linear, map);
    capacity_ = std::numeric_limits<std::uint64_t>::max();
    for (const auto& b : tables_.bases) capacity_ = std::min(capacity_, b.scale);
  }

  /// The options it was built with.
  const halton_options& options() const noexcept { return options_; }
  /// d.
  int dimension() const noexcept { return options_.dimension; }
  /// R.
  int replications() const noexcept { return options_.replications; }
  /// The prime base of coordinate j. Throws std::out_of_range unless 0 <= j < d.
  std::uint32_t base(int j) const { return tables_.bases.at(static_cast<std::size_t>(j)).base; }
  /// D_j, the digits kept for coordinate j. Throws std::out_of_range unless 0 <= j < d.
  int digits(int j) const {
    return static_cast<int>(tables_.bases.at(static_cast<std::size_t>(j)).digits);
  }
  /// How many points can be generated: indices 0 .. capacity() - 1 (min_j p_j^(D_j)).
  std::uint64_t capacity() const noexcept { return capacity_; }

  /// The bases and random tables, for the backends (internal layout, no stability promise).
  const detail::base_p::scramble_tables& tables() const noexcept { return tables_; }

 private:
  halton_options options_;
  detail::base_p::scramble_tables tables_;
  std::uint64_t capacity_ = 0;
};

namespace detail {

/// Validates range against the sequence and returns the size of an output of `replications`
/// replications: replications x range.size() x d values.
inline std::size_t halton_output_size(std::string_view where, const halton_sequence& sequence,
                                      index_range range, std::uint64_t replications) {
  require_index_range(where, range, sequence.capacity());
  const std::uint64_t per_point = replications * static_cast<std::uint64_t>(sequence.dimension());
  const std::uint64_t limit = std::numeric_limits<std::size_t>::max() / sizeof(double) / per_point;
  require(range.size() <= limit, where, "range.size()", range.size(),
          "range.size() <= " + tessera::detail::to_text(limit) +
              " (the output must be addressable)");
  return static_cast<std::size_t>(range.size() * per_point);
}

/// out[((r - first) n + i) d + j] = coordinate j of point range.begin + i of replication r, for
/// first <= r < first + count. OpenMP-parallel over the points where enabled.
template <float_or_double T>
void fill_halton(const base_p::scramble_view& view, std::uint32_t first, std::uint32_t count,
                 index_range range, T* out) {
  const std::uint64_t n = range.size();
  const std::uint32_t d = view.dimension;
  const auto rows = static_cast<std::int64_t>(count * n);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (rows * d > 4096)
#endif
  for (std::int64_t row = 0; row < rows; ++row) {
    const auto r = static_cast<std::uint32_t>(static_cast<std::uint64_t>(row) / n);
    const std::uint64_t i = range.begin + static_cast<std::uint64_t>(row) % n;
    T* point = out + static_cast<std::uint64_t>(row) * d;
    for (std::uint32_t j = 0; j < d; ++j) {
      point[j] = base_p::to_unit_interval<T>(base_p::numerator(view, first + r, i, j),
                                             view.bases[j].scale);
    }
  }
}

}  // namespace detail

/// Writes points range.begin .. range.end - 1 of all R replications of `sequence` into out, as the
/// row-major R x n x d array out[(r n + i) d + j]: the host counterpart of the CUDA generate_into
/// of qmc/cuda/halton.cuh, with the same bits. O(sum_j log_p_j(end)) digit operations per point
/// and replication, O(sum_j D_j log_p_j(end)) for the LMS randomizations, one Philox block per
/// nonzero digit for NUS; OpenMP-parallel over points where enabled.
/// Throws invalid_argument naming range.begin / range.end (unless begin <= end <= capacity()),
/// range.size() (an output too large to address) or out.size() (unless it is R n d).
template <float_or_double T>
void generate_into(exec::host_policy, const halton_sequence& sequence, index_range range,
                   std::span<T> out) {
  constexpr std::string_view where = "tessera::qmc::generate_into(halton_sequence)";
  const auto replications = static_cast<std::uint32_t>(sequence.replications());
  const std::size_t size = detail::halton_output_size(where, sequence, range, replications);
  require(out.size() == size, where, "out.size()", out.size(),
          "replications * range.size() * dimension = " + tessera::detail::to_text(size));
  detail::fill_halton(sequence.tables().view(), 0, replications, range, out.data());
}

/// Points range.begin .. range.end - 1 of replication `replication` (< R), as an n x d array.
/// Cost and errors as generate_into for one replication; invalid_argument names `replication`
/// when it is not below R.
template <float_or_double T>
point_array<T> generate(exec::host_policy, const halton_sequence& sequence, index_range range,
                        std::uint64_t replication = 0) {
  constexpr std::string_view where = "tessera::qmc::generate(halton_sequence)";
  require(replication < static_cast<std::uint64_t>(sequence.replications()), where, "replication", replication,
          "replication < options.replications = " + tessera::detail::to_text(sequence.replications()));
  detail::halton_output_size(where, sequence, range, 1);
  point_array<T> out = tessera::detail::fresh_tensor<T, 2>(
      {static_cast<std::size_t>(range.size()), static_cast<std::size_t>(sequence.dimension())});
  detail::fill_halton(sequence.tables().view(), static_cast<std::uint32_t>(replication), 1, range, out.data());
  return out;
}

/// Points range.begin .. range.end - 1 of every replication, as an R x n x d array; replication r
/// is the randomization derived from (seed, r). Cost and errors as generate_into.
template <float_or_double T>
replicated_points<T> generate_replications(exec::host_policy policy, const halton_sequence& sequence,
                                           index_range range) {
  const auto count = static_cast<std::size_t>(sequence.replications());
  detail::halton_output_size("tessera::qmc::generate_replications(halton_sequence)", sequence, range, count);
  replicated_points<T> out = tessera::detail::fresh_tensor<T, 3>(
      {count, static_cast<std::size_t>(range.size()), static_cast<std::size_t>(sequence.dimension())});
  generate_into(policy, sequence, range, std::span<T>(out.data(), out.size()));
  return out;
}

}  // namespace tessera::qmc
