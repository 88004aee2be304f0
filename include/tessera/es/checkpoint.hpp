#pragma once
// Saving and restoring an evolution strategy's state (core/checkpoint.hpp's format). A restored
// state continues bit for bit; a state saved under another configuration (layout, noise,
// options, optimizer, number type) is refused.

#include <cstdint>
#include <istream>
#include <ostream>
#include <string_view>
#include <type_traits>

#include "tessera/core/checkpoint.hpp"
#include "tessera/core/optimizers.hpp"
#include "tessera/es/evolution_strategy.hpp"

namespace tessera::es {

namespace detail {

inline constexpr std::string_view es_checkpoint_kind = "tessera::es::es_state";

template <float_or_double T>
void add_optimizer(fingerprint& f, const sgd<T>& o) {
  f.add(std::string_view("sgd")).add(o.learning_rate).add(o.momentum);
}

template <float_or_double T>
void add_optimizer(fingerprint& f, const adam<T>& o) {
  f.add(std::string_view("adam")).add(o.learning_rate).add(o.beta1).add(o.beta2).add(o.epsilon);
}

}  // namespace detail

/// The fingerprint of everything that makes two runs the same run. O(number of blocks).
template <float_or_double T, noise_kind Noise, class Optimizer>
std::uint64_t configuration_fingerprint(const evolution_strategy<T, Noise, Optimizer>& es) {
  fingerprint f;
  f.add(sizeof(T));
  for (const parameter_block& b : es.layout().blocks()) f.add(b.rows).add(b.cols);
  if constexpr (std::is_same_v<Noise, low_rank>)
    f.add(std::string_view("low_rank")).add(es.noise().rank);
  else
    f.add(std::string_view("full_rank"));
  const es_options<T>& o = es.options();
  f.add(o.population).add(o.sigma).add(o.antithetic).add(o.shaping).add(o.nonfinite).add(o.seed);
  detail::add_optimizer(f, es.optimizer());
  return f.value();
}

/// Writes `state` of the run `es` to `out`. O(|θ|). Throws domain_error when the stream fails.
template <float_or_double T, noise_kind Noise, class Optimizer>
void save_state(std::ostream& out, const evolution_strategy<T, Noise, Optimizer>& es, const es_state<T>& state) {
  checkpoint_writer w(out, detail::es_checkpoint_kind, configuration_fingerprint(es));
  w.write(state.generation);
  w.write(state.optimizer.steps);
  w.write(state.theta);
  w.write(state.optimizer.first_moment);
  w.write(state.optimizer.second_moment);
}

/// Reads a state saved by save_state for the same configuration. O(|θ|).
/// Throws invalid_argument for another configuration, a truncated or foreign file.
template <float_or_double T, noise_kind Noise, class Optimizer>
es_state<T> load_state(std::istream& in, const evolution_strategy<T, Noise, Optimizer>& es) {
  checkpoint_reader r(in, detail::es_checkpoint_kind, configuration_fingerprint(es));
  es_state<T> state;
  state.generation = r.read<std::uint32_t>();
  state.optimizer.steps = r.read<std::uint64_t>();
  const std::uint64_t size = es.layout().size();
  state.theta = r.read_vector<T>(size);
  state.optimizer.first_moment = r.read_vector<T>(size);
  state.optimizer.second_moment = r.read_vector<T>(size);
  require_same_size("tessera::es::load_state", "theta", state.theta.size(), "layout", size);
  return state;
}

}  // namespace tessera::es
