#include "training_tasks.hpp"

#include <cstdio>
#include <tessera/core/checkpoint.hpp>
#include <tessera/core/random.hpp>

#include "cli.hpp"

namespace tessera::cli {
namespace {

constexpr std::uint64_t data_seed = 20251120;  // the tasks' data never depend on --seed

es::matrix<double> normal_matrix(std::size_t rows, std::size_t cols, std::uint32_t id) {
  es::matrix<double> a(rows, cols);
  fill_normal<double>(exec::host, random_stream(data_seed, id), std::span<double>(a.data(), a.size()));
  return a;
}

es::mlp<double> model_of(std::string_view name) {
  if (name == "linreg") return es::mlp<double>({16, 4}, es::activation::identity);
  if (name == "mlp-xor") return es::mlp<double>({2, 8, 2}, es::activation::tanh);
  if (name == "mlp-blobs") return es::mlp<double>({2, 16, 3}, es::activation::tanh);
  throw usage_error("--task = " + std::string(name) + "; expected " + std::string(training_task_names));
}

}  // namespace

training_task::training_task(std::string_view name) : name_(name), model_(model_of(name)) {
  if (name == "linreg") {
    x_ = normal_matrix(256, 16, 0);
    y_ = x_ * normal_matrix(16, 4, 1) + 0.01 * normal_matrix(256, 4, 2);
  } else if (name == "mlp-xor") {
    x_.resize(4, 2);
    x_ << 0, 0, 0, 1, 1, 0, 1, 1;
    labels_ = {0, 1, 1, 0};
  } else {  // mlp-blobs: class c centered at 2.5 (cos, sin)(2 pi c / 3), unit spread
    constexpr std::size_t per_class = 100;
    x_ = normal_matrix(3 * per_class, 2, 3);
    for (std::size_t i = 0; i < 3 * per_class; ++i) {
      const std::size_t c = i % 3;
      const double angle = 2 * 3.141592653589793 * static_cast<double>(c) / 3;
      x_(static_cast<Eigen::Index>(i), 0) += 2.5 * std::cos(angle);
      x_(static_cast<Eigen::Index>(i), 1) += 2.5 * std::sin(angle);
      labels_.push_back(c);
    }
  }
}

std::string hex_text(std::uint64_t hash) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

std::string theta_hash(std::span<const double> theta) { return hex_text(fnv1a(std::as_bytes(theta))); }

}  // namespace tessera::cli
