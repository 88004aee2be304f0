// Training an MLP classifier without backpropagation, three ways, on the same data and the same
// budget of loss evaluations: EGGROLL (rank-1 perturbations), full-rank ES (OpenAI-ES), and
// shared-seed SPSA (MeZO), in float (Eigen's vectorized tanh; double's std::tanh would be 10x
// slower here). Data: four Gaussian classes in 8 dimensions (centers of norm about 1 x sqrt(8) along
// random directions), 400 training and 400 test points; model: an 8-32-4 tanh MLP (420 parameters).
//
//   build/default/examples/example_es_training
//
// prints, per method, the training loss and the test accuracy after 12 800 loss evaluations.
#include <cstdio>
#include <span>
#include <tessera/core/optimizers.hpp>
#include <tessera/core/random.hpp>
#include <tessera/es.hpp>
#include <tessera/zo.hpp>
#include <vector>

namespace es = tessera::es;
namespace zo = tessera::zo;

namespace {

constexpr std::size_t classes = 4, dimensions = 8, per_split = 400;

/// n points: label i mod 4, x = c_label + N(0, I), c_label a fixed standard normal direction.
struct labelled_data {
  es::matrix<float> x;
  std::vector<std::size_t> labels;
};

labelled_data gaussian_classes(std::uint32_t split) {
  es::matrix<float> centers(classes, dimensions);
  tessera::fill_normal<float>(tessera::exec::host, tessera::random_stream(7, 100), std::span(centers.data(), centers.size()));
  labelled_data d{es::matrix<float>(per_split, dimensions), {}};
  tessera::fill_normal<float>(tessera::exec::host, tessera::random_stream(7, split), std::span(d.x.data(), d.x.size()));
  for (std::size_t i = 0; i < per_split; ++i) {
    d.labels.push_back(i % classes);
    d.x.row(static_cast<Eigen::Index>(i)) += centers.row(static_cast<Eigen::Index>(i % classes));
  }
  return d;
}

struct outcome {
  float train_loss, test_accuracy;
};

template <class Noise>
outcome train_es(const es::mlp<float>& model, const labelled_data& train, const labelled_data& test, Noise noise) {
  const es::es_options<float> options{128, 0.05f, true, es::fitness_shaping::centered_ranks,
                                       es::nonfinite_fitness::reject, 11};
  const es::evolution_strategy<float, Noise, tessera::adam<float>> strategy(model.layout(), noise, options, {0.03f});
  auto state = strategy.initial_state(model.initial_parameters(1));
  for (int g = 0; g < 100; ++g)  // 100 x 128 = 12 800 evaluations
    strategy.step(state, [&](const auto& member) {
      return -es::softmax_cross_entropy<float>(model.forward(member, train.x), train.labels);
    });
  const es::unperturbed_parameters<float> final_parameters(model.layout(), state.theta);
  return {es::softmax_cross_entropy<float>(model.forward(final_parameters, train.x), train.labels),
          es::accuracy<float>(model.forward(final_parameters, test.x), test.labels)};
}

outcome train_spsa(const es::mlp<float>& model, const labelled_data& train, const labelled_data& test) {
  zo::spsa_state<float> state{model.initial_parameters(1), 0, 11};
  const zo::spsa_options<float> options{1e-3f, 0.01f, 1};
  const auto loss = [&](std::span<const float> theta) {
    return es::softmax_cross_entropy<float>(
        model.forward(es::unperturbed_parameters<float>(model.layout(), theta), train.x), train.labels);
  };
  for (int t = 0; t < 6'400; ++t) zo::spsa_step(state, options, loss);  // 2 evaluations per step
  const es::unperturbed_parameters<float> final_parameters(model.layout(), state.theta);
  return {loss(state.theta), es::accuracy<float>(model.forward(final_parameters, test.x), test.labels)};
}

}  // namespace

int main() {
  const labelled_data train = gaussian_classes(0), test = gaussian_classes(1);
  const es::mlp<float> model({dimensions, 32, classes}, es::activation::tanh);
  const std::vector<float> theta0 = model.initial_parameters(1);
  const es::unperturbed_parameters<float> initial(model.layout(), theta0);
  std::printf("8-32-4 MLP, %zu parameters, 4 Gaussian classes; initial loss %.3f, test accuracy %.3f\n",
              model.layout().size(), es::softmax_cross_entropy<float>(model.forward(initial, train.x), train.labels),
              es::accuracy<float>(model.forward(initial, test.x), test.labels));
  std::printf("%-24s %12s %15s\n", "method (12 800 evals)", "train loss", "test accuracy");
  const auto print = [](const char* name, outcome o) {
    std::printf("%-24s %12.4f %15.3f\n", name, o.train_loss, o.test_accuracy);
  };
  print("EGGROLL, rank 1", train_es(model, train, test, es::low_rank{1}));
  print("full-rank ES", train_es(model, train, test, es::full_rank{}));
  print("SPSA (MeZO)", train_spsa(model, train, test));
}
