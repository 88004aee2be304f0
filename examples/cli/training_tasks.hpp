#pragma once
// The small training problems of `tessera es train` and `tessera zo train`: fixed data (the same
// for every --seed, so runs differ only by their noise) and a model from tessera::es::mlp.
//
//   linreg     y = x W* + 0.01 noise, x 256 x 16 standard normal, W* 16 x 4; a linear model; MSE
//   mlp-xor    the four XOR points; a 2-8-2 tanh MLP; softmax cross-entropy
//   mlp-blobs  three Gaussian blobs in the plane (300 points, centers 2.5 apart); a 2-16-3 tanh
//              MLP; softmax cross-entropy

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <tessera/es/mlp.hpp>
#include <tessera/es/perturbed_parameters.hpp>

namespace tessera::cli {

/// A model, its data and its loss (lower is better).
class training_task {
 public:
  /// Throws usage_error for an unknown name.
  explicit training_task(std::string_view name);

  const std::string& name() const noexcept { return name_; }
  const es::mlp<double>& model() const noexcept { return model_; }
  bool is_classification() const noexcept { return !labels_.empty(); }

  /// The loss under any parameter view (a population member's or the plain parameters).
  template <es::parameter_view<double> View>
  double loss(const View& params) const {
    const es::matrix<double> out = model_.forward(params, x_);
    if (is_classification()) return es::softmax_cross_entropy<double>(out, labels_);
    return (out - y_).squaredNorm() / static_cast<double>(y_.size());
  }

  /// The loss at parameters θ.
  double loss(std::span<const double> theta) const {
    return loss(es::unperturbed_parameters<double>(model_.layout(), theta));
  }

  /// The training accuracy at θ (classification tasks).
  double accuracy(std::span<const double> theta) const {
    return es::accuracy<double>(model_.forward(es::unperturbed_parameters<double>(model_.layout(), theta), x_), labels_);
  }

 private:
  std::string name_;
  es::mlp<double> model_;
  es::matrix<double> x_, y_;
  std::vector<std::size_t> labels_;
};

/// The names training_task accepts, for --help and messages.
inline constexpr std::string_view training_task_names = "linreg, mlp-xor or mlp-blobs";

/// A 64-bit hash as 16 hexadecimal digits.
std::string hex_text(std::uint64_t hash);

/// A short hexadecimal fingerprint of θ's bytes (FNV-1a 64): equal on replicas that agree bit for bit.
std::string theta_hash(std::span<const double> theta);

}  // namespace tessera::cli
