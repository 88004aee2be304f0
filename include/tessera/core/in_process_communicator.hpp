#pragma once
// in_process_communicator: the communicator of P threads of one process (replicas on one host,
// tests of distributed engines without MPI), with the interface of mpi_communicator.
//
// An in_process_group is made once for P members; each of P threads takes its handle with
// group.member(r) and calls the collectives on it. A collective is a rendezvous: every member
// deposits what it brings (its spans, its root, its vote) under the group's mutex; the last one
// to arrive checks that the calls agree and decides the shared outcome; then every member copies
// what it needs straight from the others' buffers, and all meet once more before returning, so
// that no member releases or reuses a buffer another member is still reading. Each byte is copied
// once, from its sender's buffer into its receiver's.
//
// Calls that disagree (blocks of different lengths, different roots, different collectives) are
// found by the last arrival and reported on every member as the same exception: nobody is left
// waiting, and the group stays usable.
//
// Thread safety: the handles of one group are meant to be used concurrently, one thread per
// handle; a handle must not be used by two threads at once. As with MPI, every member must make
// the same sequence of collective calls: a member that stops calling (an early return, an
// exception thrown outside a collective) leaves the others waiting for it forever.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tessera/core/communicator.hpp"
#include "tessera/core/validate.hpp"

namespace tessera {
namespace detail {

enum class in_process_collective { all_gather, broadcast, split };

inline std::string_view name_of(in_process_collective collective) noexcept {
  switch (collective) {
    case in_process_collective::all_gather: return "all_gather";
    case in_process_collective::broadcast: return "broadcast";
    case in_process_collective::split: return "split";
  }
  return "?";
}

/// What one member brings to a collective.
struct in_process_contribution {
  in_process_collective collective = in_process_collective::all_gather;
  std::span<const std::byte> sent;  // all_gather: mine; broadcast: the buffer
  std::size_t received_size = 0;    // all_gather: all.size()
  int root = 0;                     // broadcast
  bool stays = false;               // split
};

class in_process_group_state;

/// What the last member to arrive decided, for every member.
struct in_process_outcome {
  std::exception_ptr failure;                          // thrown by every member when set
  std::shared_ptr<in_process_group_state> new_group;  // split: the stayers' group, if any stay
  std::vector<int> new_ranks;                          // split: rank in new_group, -1 = leaves
};

/// One member's part of an in_process_outcome.
struct in_process_result {
  std::shared_ptr<in_process_group_state> new_group;
  int new_rank = -1;
};

/// The state P members share: their contributions to the current collective and a reusable
/// rendezvous (a generation-counting barrier under one mutex).
class in_process_group_state {
 public:
  explicit in_process_group_state(int size) : contributions_(static_cast<std::size_t>(size)) {}

  int size() const noexcept { return static_cast<int>(contributions_.size()); }

  /// Member `rank`'s contribution to the current collective. Valid between the return of
  /// exchange() and that of wait_for_all(), when no member can overwrite it.
  const in_process_contribution& contribution(int rank) const noexcept {
    return contributions_[static_cast<std::size_t>(rank)];
  }

  /// Deposits `mine` for member `rank` and blocks until every member has deposited theirs; the
  /// last to arrive runs decide(all contributions) -> in_process_outcome, and an exception it
  /// throws becomes the outcome's failure. Rethrows that failure on every member; otherwise
  /// returns this member's part of the outcome. O(P) for the last arrival, O(1) for the others.
  template <class Decide>
  in_process_result exchange(int rank, const in_process_contribution& mine, Decide&& decide) {
    std::unique_lock lock(mutex_);
    contributions_[static_cast<std::size_t>(rank)] = mine;
    arrive_and_wait(lock, [&] {
      try {
        outcome_ = decide(std::span<const in_process_contribution>(contributions_));
      } catch (...) {
        outcome_ = in_process_outcome{std::current_exception(), nullptr, {}};
      }
    });
    // Every member throws the same exception object, as std::shared_future::get does.
    if (outcome_.failure) std::rethrow_exception(outcome_.failure);
    const int new_rank =
        outcome_.new_ranks.empty() ? -1 : outcome_.new_ranks[static_cast<std::size_t>(rank)];
    return {outcome_.new_group, new_rank};
  }

  /// Blocks until every member has called it: the end of a collective's copying phase.
  void wait_for_all() {
    std::unique_lock lock(mutex_);
    arrive_and_wait(lock, [] {});
  }

 private:
  // Counts the caller in (the lock is held); the last member runs on_last(), which must not
  // throw, and wakes the others.
  template <class OnLast>
  void arrive_and_wait(std::unique_lock<std::mutex>& lock, OnLast&& on_last) {
    const std::uint64_t generation = generation_;
    if (++arrived_ < size()) {
      everyone_arrived_.wait(lock, [&] { return generation_ != generation; });
      return;
    }
    on_last();
    arrived_ = 0;
    ++generation_;
    everyone_arrived_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable everyone_arrived_;
  std::vector<in_process_contribution> contributions_;
  in_process_outcome outcome_;
  int arrived_ = 0;
  std::uint64_t generation_ = 0;
};

/// "<name> of rank <rank>", the parameter name in messages about another member's argument.
inline std::string of_rank(std::string_view name, int rank) {
  return std::string(name) + " of rank " + detail::to_text(rank);
}

/// Throws invalid_argument unless every member called the same collective as member 0.
inline void require_same_collective(std::span<const in_process_contribution> all) {
  const in_process_collective first = all[0].collective;
  for (std::size_t r = 1; r < all.size(); ++r)
    require(all[r].collective == first, "tessera::in_process_communicator",
            of_rank("collective", static_cast<int>(r)), name_of(all[r].collective),
            std::string(name_of(first)) + ", the collective rank 0 called");
}

/// The checks of all_gather: every block as long as rank 0's, every `all` P blocks long. O(P).
inline in_process_outcome decide_all_gather(std::span<const in_process_contribution> all) {
  constexpr std::string_view where = "tessera::in_process_communicator::all_gather";
  require_same_collective(all);
  const std::size_t block = all[0].sent.size();
  for (std::size_t r = 1; r < all.size(); ++r)
    require(all[r].sent.size() == block, where, of_rank("mine.size()", static_cast<int>(r)),
            all[r].sent.size(), detail::to_text(block) + ", the mine.size() of rank 0");
  const std::size_t expected = all.size() * block;
  for (std::size_t r = 0; r < all.size(); ++r)
    require(all[r].received_size == expected, where, of_rank("all.size()", static_cast<int>(r)),
            all[r].received_size, "size() * mine.size() = " + detail::to_text(expected));
  return {};
}

/// The checks of broadcast: one root in [0, P) and buffers of one length on every member. O(P).
inline in_process_outcome decide_broadcast(std::span<const in_process_contribution> all) {
  constexpr std::string_view where = "tessera::in_process_communicator::broadcast";
  require_same_collective(all);
  const int root = all[0].root;
  for (std::size_t r = 1; r < all.size(); ++r)
    require(all[r].root == root, where, of_rank("root", static_cast<int>(r)), all[r].root,
            detail::to_text(root) + ", the root of rank 0");
  require_in_range(where, "root", root, 0, static_cast<int>(all.size()) - 1);
  const std::size_t length = all[static_cast<std::size_t>(root)].sent.size();
  for (std::size_t r = 0; r < all.size(); ++r)
    require(all[r].sent.size() == length, where, of_rank("buffer.size()", static_cast<int>(r)),
            all[r].sent.size(), detail::to_text(length) + ", the buffer.size() of the root");
  return {};
}

/// The stayers' new group, made once by the last arrival, and each member's rank in it. O(P).
inline in_process_outcome decide_split(std::span<const in_process_contribution> all) {
  require_same_collective(all);
  in_process_outcome outcome;
  outcome.new_ranks.assign(all.size(), -1);
  int stayers = 0;
  for (std::size_t r = 0; r < all.size(); ++r)
    if (all[r].stays) outcome.new_ranks[r] = stayers++;
  if (stayers > 0) outcome.new_group = std::make_shared<in_process_group_state>(stayers);
  return outcome;
}

inline void copy_bytes(std::span<const std::byte> from, std::span<std::byte> to) noexcept {
  if (!from.empty()) std::memcpy(to.data(), from.data(), from.size());
}

}  // namespace detail

/// One member's handle on an in_process_group: the group (shared) and this member's rank.
/// Movable, not copyable: a copy would be a second caller for the same rank. A moved-from handle
/// may only be assigned to or destroyed. Satisfies tessera::communicator.
class in_process_communicator {
 public:
  in_process_communicator(in_process_communicator&&) noexcept = default;
  in_process_communicator& operator=(in_process_communicator&&) noexcept = default;
  in_process_communicator(const in_process_communicator&) = delete;
  in_process_communicator& operator=(const in_process_communicator&) = delete;
  ~in_process_communicator() = default;

  int rank() const noexcept { return rank_; }
  int size() const noexcept { return group_->size(); }

  /// Block r of `all` receives member r's `mine`; counts mine.size() bytes. Collective.
  /// `mine` and `all` must not overlap. O(size() * |mine|) copied by this member.
  /// Throws invalid_argument on every member, without waiting forever and without copying, when
  /// the members' blocks differ in length, some all.size() != size() * mine.size(), or the
  /// members called different collectives.
  void all_gather(std::span<const std::byte> mine, std::span<std::byte> all) {
    const detail::in_process_contribution contribution{
        detail::in_process_collective::all_gather, mine, all.size(), 0, false};
    group_->exchange(rank_, contribution, detail::decide_all_gather);
    const std::size_t block = mine.size();
    for (int r = 0; r < size(); ++r)
      detail::copy_bytes(group_->contribution(r).sent,
                         all.subspan(static_cast<std::size_t>(r) * block, block));
    group_->wait_for_all();
    bytes_sent_ += block;
  }

  /// Every member's `buffer` receives the root's; the root counts buffer.size() bytes.
  /// Collective. O(|buffer|) copied by each member but the root.
  /// Throws invalid_argument on every member, without waiting forever and without copying,
  /// unless all pass the same root in [0, size()) and buffers of the same length.
  void broadcast(std::span<std::byte> buffer, int root) {
    const detail::in_process_contribution contribution{
        detail::in_process_collective::broadcast, buffer, buffer.size(), root, false};
    group_->exchange(rank_, contribution, detail::decide_broadcast);
    if (rank_ != root) detail::copy_bytes(group_->contribution(root).sent, buffer);
    group_->wait_for_all();
    if (rank_ == root) bytes_sent_ += buffer.size();
  }

  /// A handle on a new group of the members passing stays = true, ranked in their old order
  /// (bytes_sent() starting from zero); std::nullopt for the members that leave. This handle
  /// stays valid for further collectives of the old group. Collective. O(size()).
  /// Throws invalid_argument on every member when the members called different collectives.
  std::optional<in_process_communicator> split(bool stays) {
    const detail::in_process_contribution contribution{
        detail::in_process_collective::split, {}, 0, 0, stays};
    detail::in_process_result result = group_->exchange(rank_, contribution, detail::decide_split);
    if (!stays) return std::nullopt;
    return in_process_communicator(std::move(result.new_group), result.new_rank);
  }

  /// The payload bytes this member has contributed (see the communicator concept). O(1).
  std::uint64_t bytes_sent() const noexcept { return bytes_sent_; }

 private:
  friend class in_process_group;

  in_process_communicator(std::shared_ptr<detail::in_process_group_state> group, int rank)
      : group_(std::move(group)), rank_(rank) {}

  std::shared_ptr<detail::in_process_group_state> group_;
  int rank_ = 0;
  std::uint64_t bytes_sent_ = 0;
};

/// A group of P members that exchange bytes as threads of one process. Make it once, then give
/// member(r) to the r-th of P threads. The handles share the group's state, so they may outlive
/// this object. Not copyable (each rank has one handle); movable. A moved-from group may only be
/// assigned to or destroyed.
class in_process_group {
 public:
  /// A group of `size` members. Throws invalid_argument unless size >= 1. O(size).
  explicit in_process_group(int size) {
    require(size >= 1, "tessera::in_process_group", "size", size, ">= 1");
    state_ = std::make_shared<detail::in_process_group_state>(size);
  }

  in_process_group(in_process_group&&) noexcept = default;
  in_process_group& operator=(in_process_group&&) noexcept = default;
  in_process_group(const in_process_group&) = delete;
  in_process_group& operator=(const in_process_group&) = delete;
  ~in_process_group() = default;

  int size() const noexcept { return state_->size(); }

  /// The handle of member `rank`; call it once per rank. Throws invalid_argument unless
  /// 0 <= rank < size(). O(1).
  in_process_communicator member(int rank) const {
    require_in_range("tessera::in_process_group::member", "rank", rank, 0, size() - 1);
    return in_process_communicator(state_, rank);
  }

 private:
  std::shared_ptr<detail::in_process_group_state> state_;
};

}  // namespace tessera
