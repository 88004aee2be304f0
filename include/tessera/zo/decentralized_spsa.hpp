#pragma once
// Decentralized shared-seed SPSA: replicas exchange one byte per projected gradient and stay
// bit-identical.
//
// Zelikman, Huang, Liang, Haber, Goodman, "Just One Byte (per gradient)" (2023, arXiv
// 2306.10015). Every member of a communicator holds a replica of θ. At step t each active
// worker w (its rank) evaluates n directions z_{w,j} on its own data (spsa.hpp, stream
// random_stream(seed, w, t, j)), quantizes each projected gradient g_{w,j} to one byte q_{w,j}
// (one_byte.hpp; stochastic rounding draws uniform<T>(random_stream(seed, w, t, 2^32 - 1), j)),
// and the members all-gather a record of 1 + n bytes each:
//
//     byte 0      status: 0 inactive, 1 active, 2 failed (its loss was not finite or threw)
//     bytes 1..n  q_{w,0..n-1} (zero when not active)
//
// The seeds are implied by (seed, t, w) and are never sent. Then every replica applies, in rank
// order and, within a rank, in sample order,
//
//     θ ← θ − η Σ_{active w} Σ_j (dequant(q_{w,j}) / (A n)) z_{w,j},   A = active workers,
//
// regenerating each z_{w,j} from its stream. Same bytes, same operations in the same order: the
// replicas stay bit-identical. The update averages over the A n samples as the paper's code does
// (apply_all_grads divides by the number of samples), so the step size does not change with the
// number of workers; es.md's θ ← θ − η dequant(g_w) z_w per worker would. The code also scales
// its update by ε (it reuses the perturbation routine), MeZO's θ ← θ − η g z does not; we follow
// MeZO, so η means what it means in spsa.hpp.
//
// A worker's own perturbation is restored exactly (from a saved copy of θ): the other replicas
// never perturb θ, so a worker whose θ kept the in-place drift of θ + εz − 2εz + εz (spsa.hpp)
// would no longer equal them, and the difference would grow step after step.
//
// Membership changes between steps:
//   inactive  pass active = false: the member contributes nothing this step but applies every
//             update, so it stays a replica (a member busy elsewhere, or without data);
//   leave     the group calls split(stays) (collective); the leavers get std::nullopt, the
//             stayers a communicator with ranks renumbered in order, and continue from the same
//             state (ranks name the streams, so every stayer agrees on them);
//   join      a member whose θ is stale or empty calls sync_state with everyone else: rank 0's
//             (θ, step, seed) is broadcast. (A communicator's size is fixed when it is made —
//             MPI cannot add ranks to one — so a joiner is a member that was idle until then.)
//
// Bytes per step: each member sends 1 + n bytes (record_bytes), against 4|θ| for an fp32
// all-reduce of the gradient; decentralized_step_record::bytes_sent reports the communicator's
// count for the step.
//
// Errors are collective: every member calls the collectives of every step, also when its loss
// fails. A failed worker says so in its status byte; then no replica applies the step (θ and
// step unchanged everywhere), the failed worker rethrows its own exception (domain_error naming
// step, worker and sample for a non-finite loss) and every other member throws domain_error
// naming the failed worker and the step.

#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "tessera/core/checkpoint.hpp"
#include "tessera/core/communicator.hpp"
#include "tessera/core/concepts.hpp"
#include "tessera/core/errors.hpp"
#include "tessera/core/random.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/zo/one_byte.hpp"
#include "tessera/zo/spsa.hpp"

namespace tessera::zo {

/// A worker's loss: T(std::span<const T> θ, const perturbation_id& id), where id names the step,
/// the worker (its rank) and the sample, so that each worker can pick its own data.
template <class F, class T>
concept worker_loss = std::regular_invocable<F&, std::span<const T>, const perturbation_id&> &&
                      std::convertible_to<std::invoke_result_t<F&, std::span<const T>, const perturbation_id&>, T>;

/// The parameters of decentralized SPSA; every member must pass the same.
template <float_or_double T>
struct decentralized_spsa_options {
  T eps = T(1e-3);                   ///< ε > 0, as in spsa_options
  T learning_rate = T(1e-3);         ///< η > 0, as in spsa_options
  std::uint32_t samples = 1;         ///< n >= 1: directions per worker and step
  one_byte_options<T> quantizer{};  ///< how each projected gradient becomes one byte
};

/// What one step did, seen from one member.
template <float_or_double T>
struct decentralized_step_record {
  std::vector<spsa_sample<T>> samples;  ///< this worker's evaluations (empty when inactive)
  std::vector<std::int8_t> codes;       ///< the bytes it sent for them
  int contributors = 0;                 ///< A: active workers whose updates were applied
  std::uint64_t bytes_sent = 0;         ///< payload this member sent during the step
};

/// The bytes each member sends per step: a status byte and n codes.
inline std::size_t record_bytes(std::uint32_t samples) { return 1 + static_cast<std::size_t>(samples); }

/// The stream of worker w's stochastic-rounding draws at step t: random_stream(seed, w, t, 2^32 - 1).
/// Throws invalid_argument when t >= 2^32. O(1).
inline random_stream rounding_stream(std::uint64_t seed, std::uint64_t step, std::uint32_t worker) {
  require(step <= max_step, "tessera::zo::rounding_stream", "step", step, "step < 2^32");
  return random_stream(seed, worker, static_cast<std::uint32_t>(step), rounding_sample_id);
}

namespace detail {

enum class member_status : unsigned char { inactive = 0, active = 1, failed = 2 };

/// This worker's samples and codes, or the failure that stopped them.
template <float_or_double T>
struct own_contribution {
  std::vector<spsa_sample<T>> samples;
  std::vector<std::int8_t> codes;
  std::exception_ptr failure;
};

/// Evaluates this worker's n directions (exact restoration) and quantizes them; a non-finite
/// value or an exception from the loss becomes `failure`, with θ restored. O(n |θ|) plus 2n losses.
template <float_or_double T, class Loss>
own_contribution<T> evaluate_own(std::span<T> theta, const spsa_state<T>& state, std::uint32_t worker,
                                 const decentralized_spsa_options<T>& options, Loss& loss) {
  constexpr std::string_view where = "tessera::zo::decentralized_spsa_step";
  own_contribution<T> own;
  try {
    const std::vector<T> saved(theta.begin(), theta.end());
    const random_stream rounding = rounding_stream(state.seed, state.step, worker);
    for (std::uint32_t j = 0; j < options.samples; ++j) {
      const perturbation_id id{state.seed, state.step, worker, j};
      auto at = [&](std::span<const T> point) { return static_cast<T>(std::invoke(loss, point, id)); };
      const spsa_sample<T> sample = evaluate_direction(theta, std::span<const T>(saved), perturbation_stream(id),
                                                       options.eps, restoration::exact, at);
      require_finite_sample(where, sample, id);
      own.samples.push_back(sample);
      own.codes.push_back(one_byte_encode(sample.projected_gradient, options.quantizer, uniform<T>(rounding, j)));
    }
  } catch (...) {
    own = {{}, {}, std::current_exception()};
  }
  return own;
}

/// This member's record: status byte, then its codes (zeros when it has none).
template <float_or_double T>
std::vector<std::byte> encode_record(member_status status, const own_contribution<T>& own, std::uint32_t samples) {
  std::vector<std::byte> record(record_bytes(samples), std::byte{0});
  record[0] = static_cast<std::byte>(status);
  if (status == member_status::active)
    for (std::size_t j = 0; j < own.codes.size(); ++j) record[1 + j] = static_cast<std::byte>(own.codes[j]);
  return record;
}

/// Throws on every member when some member failed: that member its own exception, the others
/// domain_error naming the first failed worker. O(P).
inline void rethrow_failures(std::span<const std::byte> records, std::size_t stride, std::uint64_t step,
                             const std::exception_ptr& own_failure) {
  for (std::size_t w = 0; w * stride < records.size(); ++w) {
    if (records[w * stride] != static_cast<std::byte>(member_status::failed)) continue;
    if (own_failure) std::rethrow_exception(own_failure);
    throw domain_error("tessera::zo::decentralized_spsa_step: worker " + std::to_string(w) +
                       " could not evaluate its samples at step " + std::to_string(step) +
                       " (a non-finite loss or an exception; see that worker's error); the step was not applied");
  }
}

/// The update terms of every active worker, in rank then sample order, and their number A. O(P n).
template <float_or_double T>
std::vector<update_term<T>> gathered_terms(std::span<const std::byte> records, const spsa_state<T>& state,
                                           const decentralized_spsa_options<T>& options, int& contributors) {
  const std::size_t stride = record_bytes(options.samples);
  const std::size_t members = records.size() / stride;
  contributors = 0;
  for (std::size_t w = 0; w < members; ++w)
    contributors += records[w * stride] == static_cast<std::byte>(member_status::active);
  std::vector<update_term<T>> terms;
  const T total = static_cast<T>(contributors) * static_cast<T>(options.samples);
  for (std::size_t w = 0; w < members; ++w) {
    if (records[w * stride] != static_cast<std::byte>(member_status::active)) continue;
    for (std::uint32_t j = 0; j < options.samples; ++j) {
      const auto code = static_cast<std::int8_t>(records[w * stride + 1 + j]);
      const perturbation_id id{state.seed, state.step, static_cast<std::uint32_t>(w), j};
      terms.push_back({perturbation_stream(id), options.learning_rate * one_byte_decode(code, options.quantizer) / total});
    }
  }
  return terms;
}

}  // namespace detail

/// One step of decentralized SPSA on this member's replica (the protocol at the top of this
/// header), then ++step. Collective: every member of `group` calls it, with the same options and
/// equal states. loss: worker_loss<T>, called 2n times when active. O(n |θ|) for the own samples
/// plus O(A n |θ|) for the update; memory θ plus one copy; 1 + n bytes sent.
/// Throws invalid_argument (on every member alike) for ε <= 0, η <= 0, n < 1, a bad quantizer
/// scale, an empty θ or step >= 2^32; on a failed worker, see "Errors are collective" above.
template <float_or_double T, communicator C, worker_loss<T> Loss>
decentralized_step_record<T> decentralized_spsa_step(C& group, spsa_state<T>& state,
                                                     const decentralized_spsa_options<T>& options, Loss&& loss,
                                                     bool active = true) {
  constexpr std::string_view where = "tessera::zo::decentralized_spsa_step";
  detail::require_spsa_parameters(where, options.eps, options.learning_rate, options.samples);
  detail::require_one_byte_options(where, options.quantizer);
  detail::require_steppable(where, state);
  const std::uint64_t bytes_before = group.bytes_sent();
  const auto worker = static_cast<std::uint32_t>(group.rank());

  detail::own_contribution<T> own;
  auto status = detail::member_status::inactive;
  if (active) {
    own = detail::evaluate_own(std::span<T>(state.theta), state, worker, options, loss);
    status = own.failure ? detail::member_status::failed : detail::member_status::active;
  }
  const std::vector<std::byte> mine = detail::encode_record(status, own, options.samples);
  std::vector<std::byte> records(mine.size() * static_cast<std::size_t>(group.size()));
  group.all_gather(std::span<const std::byte>(mine), std::span<std::byte>(records));
  detail::rethrow_failures(records, mine.size(), state.step, own.failure);

  decentralized_step_record<T> record;
  const std::vector<detail::update_term<T>> terms = detail::gathered_terms(records, state, options, record.contributors);
  detail::subtract_directions(std::span<T>(state.theta), std::span<const detail::update_term<T>>(terms));
  ++state.step;
  record.samples = std::move(own.samples);
  record.codes = std::move(own.codes);
  record.bytes_sent = group.bytes_sent() - bytes_before;
  return record;
}

/// Gives every member `root`'s state (θ, step, seed) by broadcast: how a joining or stale member
/// becomes a replica. Collective. O(|θ|) bytes from the root. Throws invalid_argument unless
/// 0 <= root < size().
template <float_or_double T, communicator C>
void sync_state(C& group, spsa_state<T>& state, int root = 0) {
  require_in_range("tessera::zo::sync_state", "root", root, 0, group.size() - 1);
  std::array<std::uint64_t, 3> header{state.step, state.seed, state.theta.size()};
  broadcast_values(group, std::span<std::uint64_t>(header), root);
  state.step = header[0];
  state.seed = header[1];
  state.theta.resize(static_cast<std::size_t>(header[2]));
  broadcast_values(group, std::span<T>(state.theta), root);
}

/// FNV-1a of θ's bytes, the step and the seed: equal on replicas that are bit-identical (and,
/// but for a 2^-64 chance, different otherwise); cheap to all-gather for a check. O(|θ|).
template <float_or_double T>
std::uint64_t replica_hash(const spsa_state<T>& state) {
  std::uint64_t hash = fnv1a(std::as_bytes(std::span<const T>(state.theta)));
  hash = fnv1a(std::as_bytes(std::span<const std::uint64_t, 1>(&state.step, 1)), hash);
  return fnv1a(std::as_bytes(std::span<const std::uint64_t, 1>(&state.seed, 1)), hash);
}

}  // namespace tessera::zo
