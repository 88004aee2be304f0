#pragma once
// The linear-regression task the ES run tests share: y = x W* with W* 8 x 4 and 64 standard
// normal inputs from fixed streams.

#include <span>
#include <tessera/core/random.hpp>
#include <tessera/es/parameter_layout.hpp>
#include <tessera/es/perturbed_parameters.hpp>

namespace tessera::test {

struct regression_task {
  es::matrix<double> x = es::matrix<double>(64, 8);
  es::matrix<double> w_true = es::matrix<double>(8, 4);
  es::matrix<double> y;

  regression_task() {
    fill_normal<double>(exec::host, random_stream(99, 0), std::span(x.data(), 512));
    fill_normal<double>(exec::host, random_stream(99, 1), std::span(w_true.data(), 32));
    y = x * w_true;
  }

  es::parameter_layout layout() const {
    es::parameter_layout l;
    l.add_matrix(8, 4);
    return l;
  }

  /// The mean squared error under any parameter view.
  template <class View>
  double loss(const View& view) const {
    return (view.linear(0, x) - y).squaredNorm() / double(y.size());
  }
};

}  // namespace tessera::test
