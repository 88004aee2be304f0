#pragma once
// Communicators: how the replicas of a distributed ES or SPSA run exchange their few bytes.
//
// DESIGN principle 3 makes every perturbation a pure function of (seed, ids), so replicas never
// exchange parameters or noise: ES ranks all-gather fitness scalars, SPSA ranks all-gather one
// byte per projected gradient, and each replica then applies the same update in the same order.
// The engines are written against the `communicator` concept below; tessera provides
//
//   single_process_communicator   size 1, for code that runs alone (this header)
//   in_process_communicator       threads of one process (core/in_process_communicator.hpp)
//   mpi_communicator              ranks of an MPI job, across hosts (core/mpi_communicator.hpp)
//
// All operations are collective: every member of the communicator calls them in the same order.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>

#include "tessera/core/validate.hpp"

namespace tessera {

/// A group of replicas that exchange bytes collectively.
///   rank(), size():           this member's index in [0, size) and the group's size;
///   all_gather(mine, all):    all.size() == size() * mine.size(); block r of `all` receives rank
///                             r's `mine` (every rank passes blocks of the same length);
///   broadcast(buffer, root):  every rank's buffer receives root's bytes;
///   split(stays):             a new communicator of the members passing stays = true, ranks kept
///                             in order; std::nullopt for the members that leave;
///   bytes_sent():             the payload bytes this member has contributed to collectives so
///                             far: its block of each all_gather (mine.size()), and the buffer of
///                             each broadcast where it is the root. Transport overhead (headers,
///                             the copies a tree or ring algorithm forwards, size checks) is not
///                             counted, so a run reports the same figure on every communicator
///                             type and size. A communicator made by split starts from zero.
template <class C>
concept communicator = std::movable<C> &&
    requires(C& c, std::span<const std::byte> mine, std::span<std::byte> buffer, int root, bool stays) {
      { c.rank() } -> std::convertible_to<int>;
      { c.size() } -> std::convertible_to<int>;
      c.all_gather(mine, buffer);
      c.broadcast(buffer, root);
      { c.split(stays) } -> std::same_as<std::optional<C>>;
      { c.bytes_sent() } -> std::convertible_to<std::uint64_t>;
    };

/// The communicator of a replica that runs alone: gathers and broadcasts are copies. It counts
/// bytes_sent as a member of a larger group would, so a 1-rank run reports the same per-step
/// bytes. Not thread-safe (a counter is updated); one replica uses it.
class single_process_communicator {
 public:
  int rank() const noexcept { return 0; }
  int size() const noexcept { return 1; }

  /// Copies `mine` into `all` and counts mine.size() bytes. O(|mine|).
  /// Throws invalid_argument when all.size() != mine.size().
  void all_gather(std::span<const std::byte> mine, std::span<std::byte> all) {
    require_same_size("tessera::single_process_communicator::all_gather", "all", all.size(), "mine",
                      mine.size());
    if (!mine.empty()) std::memcpy(all.data(), mine.data(), mine.size());
    bytes_sent_ += mine.size();
  }

  /// Leaves `buffer` as it is (the only rank is the root) and counts buffer.size() bytes. O(1).
  /// Throws invalid_argument unless root == 0.
  void broadcast(std::span<std::byte> buffer, int root) {
    require(root == 0, "tessera::single_process_communicator::broadcast", "root", root, "0");
    bytes_sent_ += buffer.size();
  }

  /// A new single_process_communicator (bytes_sent() == 0) when it stays, std::nullopt when it
  /// leaves. O(1).
  std::optional<single_process_communicator> split(bool stays) const {
    return stays ? std::optional<single_process_communicator>(std::in_place) : std::nullopt;
  }

  std::uint64_t bytes_sent() const noexcept { return bytes_sent_; }

 private:
  std::uint64_t bytes_sent_ = 0;
};

/// all_gather of trivially copyable values: all.size() == c.size() * mine.size(). O(size * |mine|).
template <communicator C, class T>
  requires std::is_trivially_copyable_v<T>
void all_gather_values(C& c, std::span<const T> mine, std::span<T> all) {
  c.all_gather(std::as_bytes(mine), std::as_writable_bytes(all));
}

/// broadcast of trivially copyable values from `root`. O(|values|).
template <communicator C, class T>
  requires std::is_trivially_copyable_v<T>
void broadcast_values(C& c, std::span<T> values, int root) {
  c.broadcast(std::as_writable_bytes(values), root);
}

}  // namespace tessera
