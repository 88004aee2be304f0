#pragma once
// A small model API for training C++ models without backpropagation: a stack of dense layers
//   h_{l+1} = act_l(h_l W_l + b_l),  W_l: width_l × width_{l+1},  b_l: width_{l+1},
// whose parameters live in an es::parameter_layout (block 2l = W_l, block 2l + 1 = b_l) and whose
// forward pass reads any parameter_view: the plain parameters or a population member's
// perturbed ones. Users with another architecture write their forward against parameter_view the
// same way.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tessera/core/concepts.hpp"
#include "tessera/core/random.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/es/parameter_layout.hpp"
#include "tessera/es/perturbed_parameters.hpp"

namespace tessera::es {

/// Elementwise activations.
enum class activation { identity, relu, tanh, sigmoid };

/// Applies `a` to every entry of h. O(size).
template <float_or_double T>
void apply_activation(activation a, matrix<T>& h) {
  switch (a) {
    case activation::identity: break;
    case activation::relu: h = h.cwiseMax(T(0)); break;
    case activation::tanh: h = h.array().tanh().matrix(); break;
    case activation::sigmoid: h = (T(1) / (T(1) + (-h.array()).exp())).matrix(); break;
  }
}

/// A multilayer perceptron (see the top of this header).
template <float_or_double T>
class mlp {
 public:
  /// widths: input, hidden…, output sizes (at least two, all >= 1); hidden: the activation after
  /// every layer but the last; output: after the last. Throws invalid_argument otherwise.
  mlp(std::vector<std::size_t> widths, activation hidden, activation output = activation::identity)
      : widths_(std::move(widths)), hidden_(hidden), output_(output) {
    require(widths_.size() >= 2, "tessera::es::mlp", "widths.size()", widths_.size(), ">= 2 (input and output)");
    for (std::size_t l = 0; l + 1 < widths_.size(); ++l) {
      layout_.add_matrix(widths_[l], widths_[l + 1]);
      layout_.add_vector(widths_[l + 1]);
    }
  }

  const parameter_layout& layout() const noexcept { return layout_; }
  const std::vector<std::size_t>& widths() const noexcept { return widths_; }
  std::size_t layer_count() const noexcept { return widths_.size() - 1; }

  /// LeCun-normal weights N(0, 1/fan_in) from random_stream(seed, 2l) and zero biases. O(|θ|).
  std::vector<T> initial_parameters(std::uint64_t seed) const {
    std::vector<T> theta(layout_.size(), T(0));
    for (std::size_t l = 0; l < layer_count(); ++l) {
      const parameter_block& w = layout_.block(2 * l);
      const std::span<T> weights(theta.data() + w.offset, w.size());
      fill_normal<T>(exec::host, random_stream(seed, static_cast<std::uint32_t>(2 * l)), weights);
      const T scale = T(1) / std::sqrt(static_cast<T>(w.rows));
      for (T& x : weights) x *= scale;
    }
    return theta;
  }

  /// The outputs (b × width_out) for inputs X (b × width_in) under parameters `params`.
  /// O(b Σ width_l width_{l+1}) plus the view's perturbation cost. Throws invalid_argument when
  /// X has the wrong width.
  template <parameter_view<T> View>
  matrix<T> forward(const View& params, const matrix<T>& x) const {
    require(static_cast<std::size_t>(x.cols()) == widths_.front(), "tessera::es::mlp::forward", "x.cols()",
            x.cols(), "the input width " + std::to_string(widths_.front()));
    matrix<T> h = x;
    for (std::size_t l = 0; l < layer_count(); ++l) {
      matrix<T> next = params.linear(2 * l, h);
      next.rowwise() += params.vector(2 * l + 1).transpose();
      apply_activation(l + 1 == layer_count() ? output_ : hidden_, next);
      h = std::move(next);
    }
    return h;
  }

 private:
  std::vector<std::size_t> widths_;
  activation hidden_;
  activation output_;
  parameter_layout layout_;
};

/// Mean softmax cross-entropy of logits (b × K) against labels in [0, K), numerically stable
/// (log-sum-exp with the row maximum subtracted). O(b K). Throws invalid_argument on a label
/// out of range or a size mismatch.
template <float_or_double T>
T softmax_cross_entropy(const matrix<T>& logits, std::span<const std::size_t> labels) {
  constexpr auto where = "tessera::es::softmax_cross_entropy";
  require_same_size(where, "labels", labels.size(), "logits.rows()", static_cast<std::size_t>(logits.rows()));
  T total = 0;
  for (Eigen::Index i = 0; i < logits.rows(); ++i) {
    const std::size_t y = labels[static_cast<std::size_t>(i)];
    require(y < static_cast<std::size_t>(logits.cols()), where, "label", y, "< K = " + std::to_string(logits.cols()));
    const T top = logits.row(i).maxCoeff();
    const T log_sum = top + std::log((logits.row(i).array() - top).exp().sum());
    total += log_sum - logits(i, static_cast<Eigen::Index>(y));
  }
  return total / static_cast<T>(logits.rows());
}

/// The fraction of rows whose largest logit is at the label (ties to the lower index). O(b K).
/// Throws invalid_argument on a size mismatch.
template <float_or_double T>
T accuracy(const matrix<T>& logits, std::span<const std::size_t> labels) {
  require_same_size("tessera::es::accuracy", "labels", labels.size(), "logits.rows()",
                    static_cast<std::size_t>(logits.rows()));
  std::size_t correct = 0;
  for (Eigen::Index i = 0; i < logits.rows(); ++i) {
    Eigen::Index best = 0;
    logits.row(i).maxCoeff(&best);
    correct += static_cast<std::size_t>(best) == labels[static_cast<std::size_t>(i)];
  }
  return static_cast<T>(correct) / static_cast<T>(logits.rows());
}

}  // namespace tessera::es
