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
// purpose 0 for L_j, 1 for the shift s_j, 2 for the NUS key. Each takes W-bit words from the
// stream's blocks in order (word k of a 32-bit stream is word k % 4 of block k / 4; a 64-bit word
// joins two 32-bit words, low first): column q of L_j keeps the digits of word q below the
// diagonal, the shift and the key are word 0.

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

namespace detail {

/// One randomized replication: left-aligned W-digit columns (m per dimension, dimension-major),
/// a shift per dimension (zero when none) and a NUS key per dimension (empty unless NUS).
template <class Word>
struct randomized_matrices {
  int dimension = 0;
  int columns = 0;
  std::vector<Word> matrix_columns;
  std::vector<Word> shift;
  std::vector<Word> nus_key;
};

enum net_draw_purpose : std::uint32_t { draw_lms = 0, draw_shift = 1, draw_nus = 2 };

/// Words 0..count-1 of the stream (see the header comment for the layout).
template <class Word>
void random_words(const random_stream& stream, Word* out, int count) {
  constexpr int per_block = 16 / sizeof(Word);
  for (int k = 0; k < count; k += per_block) {
    const philox_block w = stream.block(static_cast<std::uint64_t>(k / per_block));
    for (int i = 0; i < per_block && k + i < count; ++i) {
      if constexpr (sizeof(Word) == 4)
        out[k + i] = w[i];
      else
        out[k + i] = (static_cast<std::uint64_t>(w[2 * i + 1]) << 32) | w[2 * i];
    }
  }
}

/// Word 0 of the stream.
template <class Word>
Word random_word(const random_stream& stream) {
  Word word;
  random_words(stream, &word, 1);
  return word;
}

/// L c for the random lower-triangular L of (seed, r, j): column q of L has digit q set and
/// uniform digits below it.
template <class Word>
std::vector<Word> scramble_columns(std::span<const Word> columns, const random_stream& stream) {
  constexpr int bits = sizeof(Word) * 8;
  Word l_columns[bits];
  random_words(stream, l_columns, bits);
  for (int q = 0; q < bits; ++q) {
    const Word diagonal = Word{1} << (bits - 1 - q);
    l_columns[q] = diagonal | (l_columns[q] & (diagonal - 1));
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

/// The randomized replication r of the matrices under (randomization, seed). O(d m W) for LMS,
/// O(d m) otherwise. Throws invalid_argument when replication >= 2^32.
template <class Word>
randomized_matrices<Word> randomize(const generating_matrices& matrices, net_randomization randomization,
                                    std::uint64_t seed, std::uint64_t replication) {
  constexpr int bits = sizeof(Word) * 8;
  require(replication <= 0xffffffffu, "tessera::qmc::digital_net_replication", "replication",
          replication, "replication < 2^32");
  require(matrices.precision() <= bits, "tessera::qmc::digital_net_replication", "precision",
          matrices.precision(), "precision <= " + tessera::detail::to_text(bits) + " for this word type");
  const auto r = static_cast<std::uint32_t>(replication);
  randomized_matrices<Word> out;
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
    if (lms) aligned = scramble_columns<Word>(aligned, random_stream(seed, r, uj, draw_lms));
    out.matrix_columns.insert(out.matrix_columns.end(), aligned.begin(), aligned.end());
    if (shift) out.shift[j] = random_word<Word>(random_stream(seed, r, uj, draw_shift));
    if (nus) out.nus_key[j] = random_word<Word>(random_stream(seed, r, uj, draw_nus));
  }
  return out;
}

}  // namespace detail

}  // namespace tessera::qmc
