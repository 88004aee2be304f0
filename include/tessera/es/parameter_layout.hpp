#pragma once
// The parameters of a model as one flat vector θ cut into blocks: weight matrices (m × n,
// row-major, used as y = x W with x a row of length m) and vectors (biases, gains).
//
// A flat θ is what the optimizers, the saved state and the distributed engines see; the blocks
// are what the perturbations see: block l draws its noise from the streams of "layer" l, matrices
// low-rank (EGGROLL) or full-rank, vectors always full Gaussian.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/validate.hpp"

namespace tessera::es {

/// One block of θ: a rows × cols matrix (cols = 0 means a vector of `rows` entries).
struct parameter_block {
  std::size_t offset = 0;  ///< where the block starts in θ
  std::size_t rows = 0;    ///< m (or the vector's length)
  std::size_t cols = 0;    ///< n, or 0 for a vector

  bool is_matrix() const noexcept { return cols != 0; }
  std::size_t size() const noexcept { return is_matrix() ? rows * cols : rows; }
  friend bool operator==(const parameter_block&, const parameter_block&) = default;
};

/// The blocks of θ in order; block l is "layer" l of the random streams.
class parameter_layout {
 public:
  /// Appends an m × n weight matrix and returns its block index. Throws invalid_argument when
  /// m or n is 0. O(1).
  std::size_t add_matrix(std::size_t rows, std::size_t cols) {
    require(rows >= 1 && cols >= 1, "tessera::es::parameter_layout::add_matrix", "rows x cols",
            std::to_string(rows) + " x " + std::to_string(cols), "both >= 1");
    return add({size_, rows, cols});
  }

  /// Appends a vector of `length` entries and returns its block index. Throws invalid_argument
  /// when length is 0. O(1).
  std::size_t add_vector(std::size_t length) {
    require(length >= 1, "tessera::es::parameter_layout::add_vector", "length", length, ">= 1");
    return add({size_, length, 0});
  }

  const std::vector<parameter_block>& blocks() const noexcept { return blocks_; }
  const parameter_block& block(std::size_t l) const { return blocks_.at(l); }
  std::size_t block_count() const noexcept { return blocks_.size(); }
  /// |θ|: the total number of parameters.
  std::size_t size() const noexcept { return size_; }

  friend bool operator==(const parameter_layout&, const parameter_layout&) = default;

 private:
  std::size_t add(parameter_block b) {
    blocks_.push_back(b);
    size_ += b.size();
    return blocks_.size() - 1;
  }

  std::vector<parameter_block> blocks_;
  std::size_t size_ = 0;
};

}  // namespace tessera::es
