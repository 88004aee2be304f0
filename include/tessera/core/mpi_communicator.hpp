#pragma once
// mpi_communicator: the communicator of the ranks of an MPI job, across processes and hosts.
// Needs <mpi.h>: link the CMake target tessera::mpi (tessera::tessera plus MPI::MPI_CXX).
//
//   int main(int argc, char** argv) {
//     tessera::mpi_session session(argc, argv);        // MPI_Init_thread ... MPI_Finalize
//     auto world = tessera::mpi_communicator::world();
//     ...                                              // run the engine with `world`
//   }
//
// Collectives map one to one onto MPI's: all_gather -> MPI_Allgather of bytes, broadcast ->
// MPI_Bcast, split -> MPI_Comm_split. Before all_gather and broadcast one small MPI_Allreduce
// (a few 64-bit integers) checks that every rank passed the same sizes and root, so that a
// mismatch is an invalid_argument on every rank instead of undefined behaviour in MPI; it costs
// one extra latency per call and is not counted in bytes_sent().
//
// Thread safety: MPI is initialized with MPI_THREAD_FUNNELED, so only the thread that made the
// mpi_session may call these functions (other threads may exist, e.g. OpenMP workers).

#include <mpi.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "tessera/core/communicator.hpp"
#include "tessera/core/validate.hpp"

namespace tessera {

/// An MPI call failed; the message names the tessera function and gives MPI's error string.
class mpi_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Throws mpi_error "<what>: <MPI's error string>" unless code == MPI_SUCCESS. O(1).
inline void check_mpi(int code, std::string_view what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  std::string message(what);
  if (MPI_Error_string(code, text, &length) == MPI_SUCCESS)
    message.append(": ").append(text, static_cast<std::size_t>(length));
  else
    message.append(": MPI error code ").append(detail::to_text(code));
  throw mpi_error(message);
}

namespace detail {

/// True between MPI_Init and MPI_Finalize. Both queries may be called at any time.
inline bool mpi_is_running() noexcept {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized != 0 && finalized == 0;
}

/// Throws mpi_error unless MPI is running (a session exists).
inline void require_mpi_running(std::string_view where) {
  if (!mpi_is_running())
    throw mpi_error(std::string(where) +
                    ": MPI is not running; create a tessera::mpi_session first, and keep it alive");
}

/// Element-wise maximum over the ranks of `comm`, in place: the one reduction that checks that
/// collective arguments agree (the maximum of -x is minus the minimum of x). O(log P) latency.
template <std::size_t N>
void max_over_ranks(std::int64_t (&values)[N], MPI_Comm comm, std::string_view where) {
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, values, static_cast<int>(N), MPI_INT64_T, MPI_MAX, comm),
            where);
}

/// The expected range of an argument that differed between ranks, naming what they passed.
inline std::string same_on_every_rank(std::int64_t smallest, std::int64_t largest) {
  return "the same on every rank; the ranks passed " + detail::to_text(smallest) + " to " +
         detail::to_text(largest);
}

}  // namespace detail

/// MPI for the lifetime of this object: MPI_Init_thread asking for MPI_THREAD_FUNNELED at
/// construction, MPI_Finalize at destruction. Where MPI is already running (initialized by the
/// application or another library) it does nothing and leaves finalizing to that owner.
/// When it initializes MPI it also sets MPI_ERRORS_RETURN on MPI_COMM_WORLD (and so on the
/// communicators split from it), so that failures reach the caller as mpi_error instead of
/// aborting the job. Not copyable, not movable: make one in main().
class mpi_session {
 public:
  /// Initializes MPI with the program's arguments (MPI may consume its own). Throws mpi_error
  /// when MPI was already finalized (it cannot be restarted) or MPI_Init_thread fails.
  mpi_session(int& argc, char**& argv) { start(&argc, &argv); }

  /// Initializes MPI without the program's arguments. Throws as the constructor above.
  mpi_session() { start(nullptr, nullptr); }

  mpi_session(const mpi_session&) = delete;
  mpi_session& operator=(const mpi_session&) = delete;
  mpi_session(mpi_session&&) = delete;
  mpi_session& operator=(mpi_session&&) = delete;

  /// Finalizes MPI if this session initialized it. Communicators made by split must be destroyed
  /// before (MPI frees no communicator after MPI_Finalize).
  ~mpi_session() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (initialized_here_ && finalized == 0) MPI_Finalize();
  }

  /// Whether this session called MPI_Init_thread (and will call MPI_Finalize).
  bool initialized_here() const noexcept { return initialized_here_; }

  /// The thread support MPI provides (MPI_THREAD_SINGLE ... MPI_THREAD_MULTIPLE).
  int thread_support() const noexcept { return thread_support_; }

 private:
  void start(int* argc, char*** argv) {
    constexpr std::string_view where = "tessera::mpi_session";
    int finalized = 0;
    check_mpi(MPI_Finalized(&finalized), where);
    if (finalized != 0)
      throw mpi_error(std::string(where) + ": MPI was finalized; it cannot be initialized again");
    int initialized = 0;
    check_mpi(MPI_Initialized(&initialized), where);
    if (initialized == 0) {
      check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &thread_support_), where);
      initialized_here_ = true;
      check_mpi(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), where);
    } else {
      check_mpi(MPI_Query_thread(&thread_support_), where);
    }
  }

  bool initialized_here_ = false;
  int thread_support_ = MPI_THREAD_SINGLE;
};

/// The communicator of the ranks of an MPI communicator. world() and the constructor borrow an
/// MPI_Comm (the caller keeps it alive); a communicator made by split owns its MPI_Comm and frees
/// it on destruction (MPI_Comm_free is collective: destroy it on every member, before MPI is
/// finalized). Movable, not copyable. Satisfies tessera::communicator.
class mpi_communicator {
 public:
  /// Every rank of the job (MPI_COMM_WORLD, borrowed). Throws mpi_error unless MPI is running.
  static mpi_communicator world() { return mpi_communicator(MPI_COMM_WORLD); }

  /// Borrows `comm`, which must outlive this object. Throws invalid_argument when comm is
  /// MPI_COMM_NULL, mpi_error unless MPI is running. O(1).
  explicit mpi_communicator(MPI_Comm comm) : mpi_communicator(comm, false) {}

  mpi_communicator(mpi_communicator&& other) noexcept
      : comm_(std::exchange(other.comm_, MPI_COMM_NULL)),
        owned_(std::exchange(other.owned_, false)),
        rank_(other.rank_),
        size_(other.size_),
        bytes_sent_(other.bytes_sent_) {}

  mpi_communicator& operator=(mpi_communicator&& other) noexcept {
    if (this != &other) {
      release();
      comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
      owned_ = std::exchange(other.owned_, false);
      rank_ = other.rank_;
      size_ = other.size_;
      bytes_sent_ = other.bytes_sent_;
    }
    return *this;
  }

  mpi_communicator(const mpi_communicator&) = delete;
  mpi_communicator& operator=(const mpi_communicator&) = delete;
  ~mpi_communicator() { release(); }

  int rank() const noexcept { return rank_; }
  int size() const noexcept { return size_; }

  /// The MPI communicator, for calls tessera does not wrap.
  MPI_Comm native_handle() const noexcept { return comm_; }

  /// Block r of `all` receives rank r's `mine` (MPI_Allgather of MPI_BYTE); counts mine.size()
  /// bytes. Collective. `mine` and `all` must not overlap. Throws invalid_argument on every
  /// rank when the blocks differ in length between ranks, some all.size() != size() *
  /// mine.size(), or a block exceeds INT_MAX bytes; mpi_error when MPI fails.
  void all_gather(std::span<const std::byte> mine, std::span<std::byte> all) {
    constexpr std::string_view where = "tessera::mpi_communicator::all_gather";
    const auto block = static_cast<std::int64_t>(mine.size());
    const std::size_t all_size = static_cast<std::size_t>(size_) * mine.size();
    const bool all_fits = all.size() == all_size;
    std::int64_t agreed[3] = {block, -block, all_fits ? 0 : 1};  // max, -min, any misfit
    detail::max_over_ranks(agreed, comm_, where);
    require(agreed[0] == -agreed[1], where, "mine.size()", mine.size(),
            detail::same_on_every_rank(-agreed[1], agreed[0]));
    require(agreed[2] == 0, where, "all.size()", all.size(),
            "size() * mine.size() = " + detail::to_text(all_size) + " on every rank" +
                (all_fits ? "; another rank passed another size" : ""));
    require(block <= INT_MAX, where, "mine.size()", mine.size(), "<= INT_MAX (an MPI count)");
    const int count = static_cast<int>(block);
    check_mpi(MPI_Allgather(mine.data(), count, MPI_BYTE, all.data(), count, MPI_BYTE, comm_),
              where);
    bytes_sent_ += mine.size();
  }

  /// Every rank's `buffer` receives the root's (MPI_Bcast of MPI_BYTE); the root counts
  /// buffer.size() bytes. Collective. Throws invalid_argument on every rank unless all pass the
  /// same root in [0, size()) and buffers of the same length (<= INT_MAX); mpi_error when MPI
  /// fails.
  void broadcast(std::span<std::byte> buffer, int root) {
    constexpr std::string_view where = "tessera::mpi_communicator::broadcast";
    const auto length = static_cast<std::int64_t>(buffer.size());
    std::int64_t agreed[4] = {root, -std::int64_t{root}, length, -length};  // max and -min of each
    detail::max_over_ranks(agreed, comm_, where);
    require(agreed[0] == -agreed[1], where, "root", root,
            detail::same_on_every_rank(-agreed[1], agreed[0]));
    require_in_range(where, "root", root, 0, size_ - 1);
    require(agreed[2] == -agreed[3], where, "buffer.size()", buffer.size(),
            detail::same_on_every_rank(-agreed[3], agreed[2]));
    require(length <= INT_MAX, where, "buffer.size()", buffer.size(), "<= INT_MAX (an MPI count)");
    check_mpi(MPI_Bcast(buffer.data(), static_cast<int>(length), MPI_BYTE, root, comm_), where);
    if (rank_ == root) bytes_sent_ += buffer.size();
  }

  /// A communicator of the ranks passing stays = true, ranked in their old order (MPI_Comm_split
  /// with the old rank as key; bytes_sent() starting from zero); std::nullopt for the ranks that
  /// leave (colour MPI_UNDEFINED). Collective. Throws mpi_error when MPI fails.
  std::optional<mpi_communicator> split(bool stays) {
    constexpr std::string_view where = "tessera::mpi_communicator::split";
    MPI_Comm stayers = MPI_COMM_NULL;
    check_mpi(MPI_Comm_split(comm_, stays ? 0 : MPI_UNDEFINED, rank_, &stayers), where);
    if (stayers == MPI_COMM_NULL) return std::nullopt;
    return mpi_communicator(stayers, true);
  }

  /// The payload bytes this rank has contributed (see the communicator concept). O(1).
  std::uint64_t bytes_sent() const noexcept { return bytes_sent_; }

 private:
  mpi_communicator(MPI_Comm comm, bool owned) : comm_(comm), owned_(owned) {
    constexpr std::string_view where = "tessera::mpi_communicator";
    try {
      require(comm != MPI_COMM_NULL, where, "comm", "MPI_COMM_NULL", "a valid communicator");
      detail::require_mpi_running(where);
      check_mpi(MPI_Comm_rank(comm_, &rank_), where);
      check_mpi(MPI_Comm_size(comm_, &size_), where);
    } catch (...) {
      release();  // a communicator just split must not leak
      throw;
    }
  }

  // Frees an owned communicator while MPI still runs; errors are dropped (this runs in
  // destructors).
  void release() noexcept {
    if (owned_ && comm_ != MPI_COMM_NULL && detail::mpi_is_running()) MPI_Comm_free(&comm_);
    comm_ = MPI_COMM_NULL;
    owned_ = false;
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  bool owned_ = false;
  int rank_ = 0;
  int size_ = 0;
  std::uint64_t bytes_sent_ = 0;
};

}  // namespace tessera
