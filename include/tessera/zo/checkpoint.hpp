#pragma once
// Saving and restoring an SPSA state (core/checkpoint.hpp's format). A restored state continues
// bit for bit; a state saved under other options, another number type or another |θ| is refused.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <istream>
#include <ostream>
#include <string_view>

#include "tessera/core/checkpoint.hpp"
#include "tessera/core/concepts.hpp"
#include "tessera/zo/decentralized_spsa.hpp"
#include "tessera/zo/spsa.hpp"

namespace tessera::zo {

/// The two option structs whose runs an spsa_state belongs to.
template <class O, class T>
concept spsa_configuration = std::same_as<O, spsa_options<T>> || std::same_as<O, decentralized_spsa_options<T>>;

namespace detail {
inline constexpr std::string_view spsa_checkpoint_kind = "tessera::zo::spsa_state";
}  // namespace detail

/// The fingerprint of everything that makes two SPSA runs the same run but the seed (which the
/// state carries): the number type, |θ| and every option. O(1).
template <float_or_double T>
std::uint64_t configuration_fingerprint(const spsa_options<T>& o, std::size_t parameters) {
  fingerprint f;
  f.add(std::string_view("spsa")).add(sizeof(T)).add(parameters);
  f.add(o.eps).add(o.learning_rate).add(o.samples).add(o.restore);
  return f.value();
}

/// As above for decentralized SPSA (the quantizer included). O(1).
template <float_or_double T>
std::uint64_t configuration_fingerprint(const decentralized_spsa_options<T>& o, std::size_t parameters) {
  fingerprint f;
  f.add(std::string_view("decentralized_spsa")).add(sizeof(T)).add(parameters);
  f.add(o.eps).add(o.learning_rate).add(o.samples).add(o.quantizer.scale).add(o.quantizer.rounding);
  return f.value();
}

/// Writes `state` of a run with `options` to `out`. O(|θ|). Throws domain_error when the stream
/// fails.
template <float_or_double T, spsa_configuration<T> Options>
void save_state(std::ostream& out, const Options& options, const spsa_state<T>& state) {
  checkpoint_writer w(out, detail::spsa_checkpoint_kind, configuration_fingerprint(options, state.theta.size()));
  w.write(state.step);
  w.write(state.seed);
  w.write(state.theta);
}

namespace detail {

template <float_or_double T, class Options>
spsa_state<T> load_spsa_state(std::istream& in, const Options& options, std::size_t parameters) {
  checkpoint_reader r(in, spsa_checkpoint_kind, configuration_fingerprint(options, parameters));
  spsa_state<T> state;
  state.step = r.read<std::uint64_t>();
  state.seed = r.read<std::uint64_t>();
  state.theta = r.read_vector<T>(parameters);
  require_same_size("tessera::zo::load_state", "theta", state.theta.size(), "parameters", parameters);
  return state;
}

}  // namespace detail

/// Reads a state saved by save_state for the same options and |θ| = `parameters`. O(|θ|).
/// Throws invalid_argument for another configuration, a truncated or foreign file.
template <float_or_double T>
spsa_state<T> load_state(std::istream& in, const spsa_options<T>& options, std::size_t parameters) {
  return detail::load_spsa_state<T>(in, options, parameters);
}

/// As above for a decentralized run.
template <float_or_double T>
spsa_state<T> load_state(std::istream& in, const decentralized_spsa_options<T>& options, std::size_t parameters) {
  return detail::load_spsa_state<T>(in, options, parameters);
}

}  // namespace tessera::zo
