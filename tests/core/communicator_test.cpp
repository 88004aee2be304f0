// Communicators without MPI: single_process_communicator and in_process_communicator over 1, 2 and
// 4 threads. Each thread records what it received; the assertions run on the main thread after the
// threads have joined (Catch2's assertions are not thread-safe).
#include <catch2/catch.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <tessera/core/communicator.hpp>
#include <tessera/core/in_process_communicator.hpp>
#include <thread>
#include <type_traits>
#include <vector>
#include "support/test_support.hpp"

using tessera::in_process_communicator;
using tessera::in_process_group;
using tessera::single_process_communicator;
using tessera::test::message_of;

static_assert(tessera::communicator<single_process_communicator>);
static_assert(tessera::communicator<in_process_communicator>);
static_assert(!std::copyable<in_process_communicator>);
static_assert(!std::is_copy_constructible_v<in_process_group>);
static_assert(!tessera::communicator<int>);

namespace {

/// Runs body(member r) on thread r of a new group of `members`; returns the results by rank.
template <class Body>
auto run_members(int members, Body body) {
  using result_type = std::invoke_result_t<Body&, in_process_communicator&>;
  in_process_group group(members);
  std::vector<result_type> results(static_cast<std::size_t>(members));
  std::vector<std::thread> threads;
  for (int r = 0; r < members; ++r)
    threads.emplace_back([&group, &results, &body, r] {
      in_process_communicator member = group.member(r);
      results[static_cast<std::size_t>(r)] = body(member);
    });
  for (std::thread& t : threads) t.join();
  return results;
}

/// The value rank r sends as element i of its block in round t: distinct for every (t, r, i).
std::uint32_t sent_value(int round, int rank, int i) {
  return static_cast<std::uint32_t>(1'000'000 * round + 1'000 * rank + i);
}

/// A generic user of the concept: the sum of every member's rank, by an all_gather.
template <tessera::communicator C>
int sum_of_ranks(C& c) {
  const int mine[1] = {c.rank()};
  std::vector<int> all(static_cast<std::size_t>(c.size()));
  tessera::all_gather_values(c, std::span<const int>(mine), std::span<int>(all));
  int sum = 0;
  for (int r : all) sum += r;
  return sum;
}

}  // namespace

TEST_CASE("single_process_communicator: copies, root 0 only, and counts what it contributes") {
  single_process_communicator c;
  CHECK(c.rank() == 0);
  CHECK(c.size() == 1);
  const std::uint32_t mine[3] = {7, 8, 9};
  std::uint32_t all[3] = {};
  tessera::all_gather_values(c, std::span<const std::uint32_t>(mine),
                             std::span<std::uint32_t>(all));
  CHECK(std::vector<std::uint32_t>(all, all + 3) == std::vector<std::uint32_t>{7, 8, 9});
  CHECK(c.bytes_sent() == 12);

  double state[2] = {1.5, -2.0};
  tessera::broadcast_values(c, std::span<double>(state), 0);
  CHECK(state[0] == 1.5);
  CHECK(state[1] == -2.0);
  CHECK(c.bytes_sent() == 12 + 16);
  CHECK(sum_of_ranks(c) == 0);
  CHECK(c.bytes_sent() == 12 + 16 + sizeof(int));

  std::optional<single_process_communicator> stayer = c.split(true);
  REQUIRE(stayer.has_value());
  CHECK(stayer->size() == 1);
  CHECK(stayer->bytes_sent() == 0);
  CHECK_FALSE(c.split(false).has_value());

  std::byte two[2] = {};
  CHECK(message_of([&] { c.broadcast(std::span<std::byte>(two), 1); }) ==
        "tessera::single_process_communicator::broadcast: root = 1; expected 0");
  CHECK(message_of([&] {
          c.all_gather(std::span<const std::byte>(two, 1), std::span<std::byte>(two));
        }) == "tessera::single_process_communicator::all_gather: all.size() = 2; "
              "expected mine.size() = 1");
  CHECK(c.bytes_sent() == 12 + 16 + sizeof(int));  // failed calls count nothing
}

TEST_CASE("in_process all_gather places each member's block at its rank, round after round") {
  constexpr int rounds = 64;
  constexpr int block = 3;
  for (const int members : {1, 2, 4}) {
    struct record {
      std::vector<std::uint32_t> first_round;
      int wrong_values = 0;  // over every round
      std::uint64_t bytes_sent = 0;
    };
    const std::vector<record> records = run_members(members, [&](in_process_communicator& c) {
      record out;
      std::vector<std::uint32_t> all(static_cast<std::size_t>(members * block));
      for (int t = 0; t < rounds; ++t) {
        std::uint32_t mine[block];
        for (int i = 0; i < block; ++i) mine[i] = sent_value(t, c.rank(), i);
        tessera::all_gather_values(c, std::span<const std::uint32_t>(mine),
                                   std::span<std::uint32_t>(all));
        if (t == 0) out.first_round = all;
        for (int r = 0; r < members; ++r)
          for (int i = 0; i < block; ++i)
            out.wrong_values += all[static_cast<std::size_t>(r * block + i)] != sent_value(t, r, i);
      }
      out.bytes_sent = c.bytes_sent();
      return out;
    });
    std::vector<std::uint32_t> expected;
    for (int r = 0; r < members; ++r)
      for (int i = 0; i < block; ++i) expected.push_back(sent_value(0, r, i));
    for (int r = 0; r < members; ++r) {
      INFO("members = " << members << ", rank " << r);
      const record& got = records[static_cast<std::size_t>(r)];
      CHECK(got.first_round == expected);
      CHECK(got.wrong_values == 0);
      // Each member counts its own block once per round, whatever the group size.
      CHECK(got.bytes_sent == std::uint64_t{rounds} * block * sizeof(std::uint32_t));
    }
  }
}

TEST_CASE("in_process broadcast delivers the root's buffer from every root; only the root counts") {
  constexpr std::size_t length = 5;
  for (const int members : {1, 2, 4}) {
    struct record {
      std::vector<std::vector<double>> received;  // by root
      std::uint64_t bytes_sent = 0;
    };
    const std::vector<record> records = run_members(members, [&](in_process_communicator& c) {
      record out;
      for (int root = 0; root < members; ++root) {
        std::vector<double> buffer(length, -1.0);
        if (c.rank() == root)
          for (std::size_t i = 0; i < length; ++i) buffer[i] = 10.0 * root + 0.25 * double(i);
        tessera::broadcast_values(c, std::span<double>(buffer), root);
        out.received.push_back(buffer);
      }
      out.bytes_sent = c.bytes_sent();
      return out;
    });
    for (int r = 0; r < members; ++r) {
      INFO("members = " << members << ", rank " << r);
      const record& got = records[static_cast<std::size_t>(r)];
      REQUIRE(got.received.size() == static_cast<std::size_t>(members));
      for (int root = 0; root < members; ++root)
        for (std::size_t i = 0; i < length; ++i)
          CHECK(got.received[static_cast<std::size_t>(root)][i] == 10.0 * root + 0.25 * double(i));
      CHECK(got.bytes_sent == length * sizeof(double));  // root exactly once
    }
  }
}

TEST_CASE("in_process split: a member leaves, the three stayers gather in their old order") {
  struct record {
    bool stayed = false;
    int new_rank = -1;
    int new_size = 0;
    std::vector<int> gathered_by_stayers;
    std::uint64_t new_bytes_before = 99;
    std::uint64_t new_bytes_after = 0;
    int old_sum = -1;  // the old group still works after the split, leaver included
    bool nobody_stays = false;
    int everybody_sum = -1;
  };
  const std::vector<record> records = run_members(4, [](in_process_communicator& c) {
    record out;
    std::optional<in_process_communicator> stayers = c.split(c.rank() != 1);
    out.stayed = stayers.has_value();
    if (stayers) {
      out.new_rank = stayers->rank();
      out.new_size = stayers->size();
      out.new_bytes_before = stayers->bytes_sent();
      const int mine[1] = {c.rank()};
      out.gathered_by_stayers.resize(static_cast<std::size_t>(stayers->size()));
      tessera::all_gather_values(*stayers, std::span<const int>(mine),
                                 std::span<int>(out.gathered_by_stayers));
      out.new_bytes_after = stayers->bytes_sent();
    }
    out.old_sum = sum_of_ranks(c);
    out.nobody_stays = !c.split(false).has_value();
    std::optional<in_process_communicator> everybody = c.split(true);
    if (everybody) out.everybody_sum = sum_of_ranks(*everybody);
    return out;
  });
  const int expected_new_rank[4] = {0, -1, 1, 2};
  for (int r = 0; r < 4; ++r) {
    INFO("rank " << r);
    const record& got = records[static_cast<std::size_t>(r)];
    CHECK(got.stayed == (r != 1));
    CHECK(got.new_rank == expected_new_rank[r]);
    if (r != 1) {
      CHECK(got.new_size == 3);
      CHECK(got.gathered_by_stayers == std::vector<int>{0, 2, 3});
      CHECK(got.new_bytes_before == 0);
      CHECK(got.new_bytes_after == sizeof(int));
    }
    CHECK(got.old_sum == 0 + 1 + 2 + 3);
    CHECK(got.nobody_stays);
    CHECK(got.everybody_sum == 0 + 1 + 2 + 3);
  }
}

TEST_CASE("in_process: mismatched calls throw on every member, and the group goes on working") {
  struct record {
    std::string short_block, wrong_all, other_roots, root_outside, other_lengths, other_collective;
    std::vector<std::uint16_t> after;  // a correct all_gather after the failures
    std::uint64_t bytes_sent = 0;
  };
  const std::vector<record> records = run_members(4, [](in_process_communicator& c) {
    record out;
    const int r = c.rank();
    std::byte mine[4] = {};
    std::byte all[16] = {};
    const std::size_t block = r == 2 ? 3 : 4;  // rank 2 passes a shorter block
    out.short_block = message_of([&] {
      c.all_gather(std::span<const std::byte>(mine, block), std::span<std::byte>(all, 4 * block));
    });
    out.wrong_all = message_of([&] {  // rank 3's `all` holds one byte too few
      c.all_gather(std::span<const std::byte>(mine), std::span<std::byte>(all, r == 3 ? 15 : 16));
    });
    out.other_roots = message_of([&] { c.broadcast(std::span<std::byte>(mine), r == 0 ? 0 : 1); });
    out.root_outside = message_of([&] { c.broadcast(std::span<std::byte>(mine), 4); });
    out.other_lengths =
        message_of([&] { c.broadcast(std::span<std::byte>(mine, r == 1 ? 3 : 4), 0); });
    out.other_collective = message_of([&] {
      if (r == 0)
        c.all_gather(std::span<const std::byte>(mine), std::span<std::byte>(all));
      else
        c.broadcast(std::span<std::byte>(mine), 0);
    });
    const std::uint16_t value[1] = {static_cast<std::uint16_t>(100 + r)};
    out.after.resize(4);
    tessera::all_gather_values(c, std::span<const std::uint16_t>(value),
                               std::span<std::uint16_t>(out.after));
    out.bytes_sent = c.bytes_sent();
    return out;
  });
  const std::string gather = "tessera::in_process_communicator::all_gather: ";
  const std::string broadcast = "tessera::in_process_communicator::broadcast: ";
  for (int r = 0; r < 4; ++r) {
    INFO("rank " << r);
    const record& got = records[static_cast<std::size_t>(r)];
    CHECK(got.short_block ==
          gather + "mine.size() of rank 2 = 3; expected 4, the mine.size() of rank 0");
    CHECK(got.wrong_all ==
          gather + "all.size() of rank 3 = 15; expected size() * mine.size() = 16");
    CHECK(got.other_roots == broadcast + "root of rank 1 = 1; expected 0, the root of rank 0");
    CHECK(got.root_outside == broadcast + "root = 4; expected 0 <= root <= 3");
    CHECK(got.other_lengths ==
          broadcast + "buffer.size() of rank 1 = 3; expected 4, the buffer.size() of the root");
    CHECK(got.other_collective ==
          "tessera::in_process_communicator: collective of rank 1 = broadcast; "
          "expected all_gather, the collective rank 0 called");
    CHECK(got.after == std::vector<std::uint16_t>{100, 101, 102, 103});
    CHECK(got.bytes_sent == sizeof(std::uint16_t));  // the failed calls counted nothing
  }
}

TEST_CASE("in_process_group: size and rank are checked") {
  CHECK(message_of([] { in_process_group g(0); }) ==
        "tessera::in_process_group: size = 0; expected >= 1");
  const in_process_group group(3);
  CHECK(group.size() == 3);
  CHECK(message_of([&] { (void)group.member(3); }) ==
        "tessera::in_process_group::member: rank = 3; expected 0 <= rank <= 2");
  CHECK(message_of([&] { (void)group.member(-1); }) ==
        "tessera::in_process_group::member: rank = -1; expected 0 <= rank <= 2");
}

TEST_CASE("a 1-member group reports the same bytes per step as single_process_communicator") {
  const auto steps = [](auto& c) {
    const float mine[4] = {1, 2, 3, 4};
    float all[4] = {};
    tessera::all_gather_values(c, std::span<const float>(mine), std::span<float>(all));
    std::uint8_t state[10] = {};
    tessera::broadcast_values(c, std::span<std::uint8_t>(state), 0);
    return c.bytes_sent();
  };
  single_process_communicator alone;
  const std::vector<std::uint64_t> one_thread =
      run_members(1, [&](in_process_communicator& c) { return steps(c); });
  CHECK(steps(alone) == 4 * sizeof(float) + 10);
  CHECK(one_thread[0] == 4 * sizeof(float) + 10);
}
