#pragma once
// Views of θ that a model's forward pass reads: the parameters as they are, or as population
// member i sees them, θ + σ ε_i, without ever forming a perturbed copy.
//
// A model written against the `parameter_view` concept (see es/mlp.hpp) asks a view for
//   linear(l, X)  = X W_l           (unperturbed)
//                 = X (W_l + σ E)   (member), X a batch of rows (b × m);
//   vector(l)     = v_l  or  v_l + σ ε.
// For EGGROLL the member's product is X W_l + (σ/√r) (X A) Bᵀ: O(b m n) for the shared part and
// O(b r (m + n)) for the perturbation, whose factors are drawn on the fly (r (m + n) numbers,
// never stored between calls). The full-rank baseline forms W + σ E (O(m n) draws per call).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <Eigen/Core>

#include "tessera/core/concepts.hpp"
#include "tessera/es/noise.hpp"
#include "tessera/es/parameter_layout.hpp"

namespace tessera::es {

/// Row-major dynamic matrices: batches of rows, and the weight blocks of θ as stored.
template <float_or_double T>
using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
/// Dynamic column vectors.
template <float_or_double T>
using vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

/// What a model's forward pass needs from its parameters.
template <class V, class T>
concept parameter_view = float_or_double<T> && requires(const V& v, std::size_t l, const matrix<T>& x) {
  { v.linear(l, x) } -> std::convertible_to<matrix<T>>;
  { v.vector(l) } -> std::convertible_to<vector<T>>;
};

namespace detail {

template <float_or_double T>
Eigen::Map<const matrix<T>> weight_block(std::span<const T> theta, const parameter_block& b) {
  return {theta.data() + b.offset, static_cast<Eigen::Index>(b.rows), static_cast<Eigen::Index>(b.cols)};
}

template <float_or_double T>
Eigen::Map<const vector<T>> vector_block(std::span<const T> theta, const parameter_block& b) {
  return {theta.data() + b.offset, static_cast<Eigen::Index>(b.rows)};
}

/// Throws invalid_argument unless block l exists and is a matrix (or a vector) that x fits.
inline void require_block(const parameter_layout& layout, std::size_t l, bool matrix_wanted, const char* where) {
  require(l < layout.block_count(), where, "block", l, "< " + std::to_string(layout.block_count()));
  require(layout.block(l).is_matrix() == matrix_wanted, where, "block", l,
          matrix_wanted ? "a matrix block" : "a vector block");
}

inline void require_input_width(const parameter_block& b, Eigen::Index cols, const char* where) {
  require(static_cast<std::size_t>(cols) == b.rows, where, "x.cols()", cols, "the block's m = " + std::to_string(b.rows));
}

}  // namespace detail

/// θ as it is: linear(l, X) = X W_l, vector(l) = v_l. Holds a span: θ must outlive the view.
template <float_or_double T>
class unperturbed_parameters {
 public:
  unperturbed_parameters(const parameter_layout& layout, std::span<const T> theta)
      : layout_(&layout), theta_(theta) {
    require_same_size("tessera::es::unperturbed_parameters", "theta", theta.size(), "layout", layout.size());
  }
  /// A view of a temporary vector would dangle at the end of the statement: refused at compile time.
  unperturbed_parameters(const parameter_layout&, std::vector<T>&&) = delete;

  /// X W_l for a batch X (b × m). O(b m n). Throws invalid_argument on a wrong block or width.
  matrix<T> linear(std::size_t l, const matrix<T>& x) const {
    constexpr auto where = "tessera::es::unperturbed_parameters::linear";
    detail::require_block(*layout_, l, true, where);
    detail::require_input_width(layout_->block(l), x.cols(), where);
    return x * detail::weight_block(theta_, layout_->block(l));
  }

  /// v_l. O(n). Throws invalid_argument unless block l is a vector.
  tessera::es::vector<T> vector(std::size_t l) const {
    detail::require_block(*layout_, l, false, "tessera::es::unperturbed_parameters::vector");
    return detail::vector_block(theta_, layout_->block(l));
  }

 private:
  const parameter_layout* layout_;
  std::span<const T> theta_;
};

/// θ + σ ε_i as population member i sees it (noise of es/noise.hpp). Holds a span: θ must outlive
/// the view. Cheap to copy.
template <float_or_double T, noise_kind Noise>
class perturbed_parameters {
 public:
  /// layout, θ: the parameters; noise: low_rank{r} or full_rank{}; sigma > 0; seed, generation:
  /// the streams; member: which noise and sign. The caller (evolution_strategy) has validated them.
  perturbed_parameters(const parameter_layout& layout, std::span<const T> theta, Noise noise, T sigma,
                       std::uint64_t seed, std::uint32_t generation, member_noise member)
      : layout_(&layout), theta_(theta), noise_(noise), sigma_(member.negated ? -sigma : sigma),
        seed_(seed), generation_(generation), member_(member) {}

  /// X (W_l + σ E_i) for a batch X (b × m). Low-rank: O(b m n + (b + 1) r (m + n)); full-rank:
  /// O(b m n + m n). Throws invalid_argument on a wrong block or width.
  matrix<T> linear(std::size_t l, const matrix<T>& x) const {
    constexpr auto where = "tessera::es::perturbed_parameters::linear";
    detail::require_block(*layout_, l, true, where);
    const parameter_block& b = layout_->block(l);
    detail::require_input_width(b, x.cols(), where);
    const random_stream s = noise_stream(seed_, l, generation_, member_.index);
    if constexpr (std::same_as<Noise, low_rank>) {
      const std::size_t r = noise_.rank;
      matrix<T> a(b.rows, r), bt(b.cols, r);
      fill_low_rank_factors<T>(s, b.rows, b.cols, r, std::span<T>(a.data(), a.size()),
                               std::span<T>(bt.data(), bt.size()));
      const T scale = sigma_ / std::sqrt(static_cast<T>(r));
      matrix<T> y = x * detail::weight_block(theta_, b);
      y.noalias() += ((scale * x) * a) * bt.transpose();
      return y;
    } else {
      matrix<T> w(b.rows, b.cols);
      fill_dense_noise<T>(s, std::span<T>(w.data(), w.size()));
      w = detail::weight_block(theta_, b) + sigma_ * w;
      return x * w;
    }
  }

  /// v_l + σ ε_i. O(n). Throws invalid_argument unless block l is a vector.
  tessera::es::vector<T> vector(std::size_t l) const {
    detail::require_block(*layout_, l, false, "tessera::es::perturbed_parameters::vector");
    const parameter_block& b = layout_->block(l);
    tessera::es::vector<T> e(b.rows);
    fill_dense_noise<T>(noise_stream(seed_, l, generation_, member_.index), std::span<T>(e.data(), e.size()));
    return detail::vector_block(theta_, b) + sigma_ * e;
  }

  /// The member's noise index and sign.
  member_noise member() const noexcept { return member_; }

 private:
  const parameter_layout* layout_;
  std::span<const T> theta_;
  Noise noise_;
  T sigma_;  // negated for the odd member of an antithetic pair
  std::uint64_t seed_;
  std::uint32_t generation_;
  member_noise member_;
};

}  // namespace tessera::es
