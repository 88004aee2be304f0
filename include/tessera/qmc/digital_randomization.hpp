#pragma once
// Randomizations of base-2 digital nets, each a pure function of (seed, replication, dimension):
//
//   digital shift (DS)        x <- x XOR s_j, s_j uniform on W-digit integers;
//   linear matrix scrambling  C_j <- L_j C_j, L_j a uniformly random lower-triangular W x W
//   (LMS, Matousek 1998)      matrix over GF(2) with unit diagonal;
//   LMS + DS                  both (QMCPy's default for digital nets);
//   nested uniform (NUS)      hash-based Owen scrambling of every coordinate, see
//                             detail/owen_scramble.hpp.
//
// W is the word width of the randomized points: 32 digits for nets of precision <= 32, else 64;
// the generating matrices are left-aligned to W digits, so randomized points carry W random
// digits (a digital shift or NUS also randomizes the digits beyond the matrices' precision).
//
// Draws: replication r, dimension j use tessera::random_stream(seed, r, j, purpose) with
// purpose 0 for the rows of L_j (block q gives the digits below the diagonal in column q),
// 1 for the shift s_j (block 0), 2 for the NUS key (block 0).

#include <cstdint>
#include <string_view>
#include <vector>

#include "tessera/core/random.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/qmc/generating_matrices.hpp"

namespace tessera::qmc {

/// How a digital net is randomized.
enum class net_randomization { none, digital_shift, lms, lms_digital_shift, nus };

/// The name used by the CLI and in messages: none, digital-shift, lms, lms-ds, nus.
constexpr std::string_view to_string(net_randomization r) noexcept {
  switch (r) {
    case net_randomization::none: return "none";
    case net_randomization::digital_shift: return "digital-shift";
    case net_randomization::lms: return "lms";
    case net_randomization::lms_digital_shift: return "lms-ds";
    case net_randomization::nus: return "nus";
  }
  return "?";
}

/// One randomized replication, ready to generate: left-aligned W-digit columns (m per dimension,
/// dimension-major), a shift per dimension (zero when none) and a NUS key per dimension.
template <class Word>
struct net_replication {
  int dimension = 0;
  int columns = 0;
  std::vector<Word> matrix_columns;
  std::vector<Word> shift;
  std::vector<std::uint64_t> nus_key;  // empty unless NUS
};

namespace detail {

enum net_draw_purpose : std::uint32_t { draw_lms = 0, draw_shift = 1, draw_nus = 2 };

template <class Word>
Word random_word(const random_stream& stream, std::uint64_t block) {
  const philox_block w = stream.block(block);
  return static_cast<Word>((static_cast<std::uint64_t>(w[1]) << 32) | w[0]);
}

/// L c for the random lower-triangular L of (seed, r, j): column q of L has digit q set and
/// uniform digits below it.
template <class Word>
std::vector<Word> scramble_columns(std::span<const Word> columns, const random_stream& stream) {
  constexpr int bits = sizeof(Word) * 8;
  Word l_columns[bits];
  for (int q = 0; q < bits; ++q) {
    const Word diagonal = Word{1} << (bits - 1 - q);
    l_columns[q] = diagonal | (random_word<Word>(stream, static_cast<std::uint64_t>(q)) & (diagonal - 1));
  }
  std::vector<Word> out(columns.size());
  for (std::size_t c = 0; c < columns.size(); ++c) {
    Word product = 0;
    for (int q = 0; q < bits; ++q)
      if ((columns[c] >> (bits - 1 - q)) & 1u) product ^= l_columns[q];
    out[c] = product;
  }
  return out;
}

}  // namespace detail

/// The randomized replication r of the matrices under (randomization, seed). O(d m W) for LMS,
/// O(d m) otherwise. Throws invalid_argument when replication >= 2^32.
template <class Word>
net_replication<Word> make_net_replication(const generating_matrices& matrices,
                                           net_randomization randomization, std::uint64_t seed,
                                           std::uint64_t replication) {
  constexpr int bits = sizeof(Word) * 8;
  require(replication <= 0xffffffffu, "tessera::qmc::make_net_replication", "replication",
          replication, "replication < 2^32");
  require(matrices.precision() <= bits, "tessera::qmc::make_net_replication", "precision",
          matrices.precision(), "precision <= " + tessera::detail::to_text(bits) + " for this word type");
  const auto r = static_cast<std::uint32_t>(replication);
  net_replication<Word> out;
  out.dimension = matrices.dimension();
  out.columns = matrices.columns();
  out.matrix_columns.reserve(matrices.data().size());
  out.shift.assign(static_cast<std::size_t>(out.dimension), Word{0});
  const bool lms = randomization == net_randomization::lms ||
                   randomization == net_randomization::lms_digital_shift;
  const bool shift = randomization == net_randomization::digital_shift ||
                     randomization == net_randomization::lms_digital_shift;
  const bool nus = randomization == net_randomization::nus;
  if (nus) out.nus_key.resize(static_cast<std::size_t>(out.dimension));
  std::vector<Word> aligned(static_cast<std::size_t>(out.columns));
  for (int j = 0; j < out.dimension; ++j) {
    const auto uj = static_cast<std::uint32_t>(j);
    for (int k = 0; k < out.columns; ++k)
      aligned[k] = static_cast<Word>(matrices.column(j, k) << (bits - matrices.precision()));
    if (lms) aligned = detail::scramble_columns<Word>(aligned, random_stream(seed, r, uj, detail::draw_lms));
    out.matrix_columns.insert(out.matrix_columns.end(), aligned.begin(), aligned.end());
    if (shift) out.shift[j] = detail::random_word<Word>(random_stream(seed, r, uj, detail::draw_shift), 0);
    if (nus) out.nus_key[j] = detail::random_word<std::uint64_t>(random_stream(seed, r, uj, detail::draw_nus), 0);
  }
  return out;
}

}  // namespace tessera::qmc
