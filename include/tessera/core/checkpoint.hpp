#pragma once
// Saved optimizer states (DESIGN principle 4): a small binary format that restores every bit.
//
//   "TSRCKPT1"  8 bytes, the format
//   kind        u64, which state (e.g. "es", "spsa": fnv1a of the name)
//   fingerprint u64, fnv1a of the configuration that produced the state (layout, options, seed…)
//   fields      written in order by the state's own save function: scalars as their bytes,
//               vectors as u64 length + elements (host byte order: a checkpoint moves between
//               machines of one endianness, which is every machine tessera builds for)
//
// Loading checks the format, the kind and the fingerprint, so a state saved by another
// configuration is refused with a clear message instead of resuming a different run.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <istream>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "tessera/core/errors.hpp"

namespace tessera {

/// FNV-1a, 64 bits, of a byte sequence, continuing from `hash`. O(n).
constexpr std::uint64_t fnv1a(std::span<const std::byte> bytes, std::uint64_t hash = 0xcbf29ce484222325ull) {
  for (const std::byte b : bytes) hash = (hash ^ static_cast<std::uint64_t>(b)) * 0x100000001b3ull;
  return hash;
}

/// Accumulates a configuration's fingerprint from its fields, in order.
class fingerprint {
 public:
  /// Adds a trivially copyable value's bytes. O(sizeof(T)).
  template <class T>
    requires std::is_trivially_copyable_v<T>
  fingerprint& add(const T& value) {
    hash_ = fnv1a(std::as_bytes(std::span<const T, 1>(&value, 1)), hash_);
    return *this;
  }
  /// Adds a name (its characters). O(|name|).
  fingerprint& add(std::string_view name) {
    hash_ = fnv1a(std::as_bytes(std::span<const char>(name.data(), name.size())), hash_);
    return *this;
  }
  std::uint64_t value() const noexcept { return hash_; }

 private:
  std::uint64_t hash_ = fnv1a({});
};

namespace detail {
inline constexpr std::array<char, 8> checkpoint_magic = {'T', 'S', 'R', 'C', 'K', 'P', 'T', '1'};
}

/// Writes a checkpoint: the header at construction, then the fields in order.
class checkpoint_writer {
 public:
  /// kind: the state's name; config: its configuration's fingerprint.
  checkpoint_writer(std::ostream& out, std::string_view kind, std::uint64_t config) : out_(out) {
    out_.write(detail::checkpoint_magic.data(), detail::checkpoint_magic.size());
    write(fingerprint().add(kind).value());
    write(config);
  }

  /// Writes a trivially copyable scalar. Throws tessera::domain_error when the stream fails.
  template <class T>
    requires std::is_trivially_copyable_v<T>
  void write(const T& value) {
    out_.write(reinterpret_cast<const char*>(&value), sizeof(T));
    check();
  }

  /// Writes a vector as its length and elements. Throws as write().
  template <class T>
    requires std::is_trivially_copyable_v<T>
  void write(const std::vector<T>& values) {
    write(static_cast<std::uint64_t>(values.size()));
    out_.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(T)));
    check();
  }

 private:
  void check() const {
    if (!out_) throw domain_error("tessera::checkpoint_writer: the output stream failed");
  }
  std::ostream& out_;
};

/// Reads a checkpoint written by checkpoint_writer, checking its header first.
class checkpoint_reader {
 public:
  /// Throws invalid_argument when the data is not a tessera checkpoint, holds another kind of
  /// state, or was saved by another configuration (the fingerprints differ).
  checkpoint_reader(std::istream& in, std::string_view kind, std::uint64_t config) : in_(in) {
    std::array<char, 8> magic{};
    in_.read(magic.data(), magic.size());
    if (!in_ || magic != detail::checkpoint_magic)
      throw invalid_argument("tessera::checkpoint_reader: not a tessera checkpoint (format TSRCKPT1 expected)");
    if (read<std::uint64_t>() != fingerprint().add(kind).value())
      throw invalid_argument("tessera::checkpoint_reader: the checkpoint holds another kind of state; expected " +
                             std::string(kind));
    const auto saved = read<std::uint64_t>();
    if (saved != config)
      throw invalid_argument("tessera::checkpoint_reader: checkpoint from a different configuration (fingerprint " +
                             std::to_string(saved) + "; expected " + std::to_string(config) + ")");
  }

  /// Reads a scalar. Throws invalid_argument when the data ends early.
  template <class T>
    requires std::is_trivially_copyable_v<T>
  T read() {
    T value;
    in_.read(reinterpret_cast<char*>(&value), sizeof(T));
    check();
    return value;
  }

  /// Reads a vector written by checkpoint_writer::write. Throws invalid_argument when the data
  /// ends early or the length exceeds `max_size`.
  template <class T>
    requires std::is_trivially_copyable_v<T>
  std::vector<T> read_vector(std::uint64_t max_size) {
    const auto size = read<std::uint64_t>();
    if (size > max_size)
      throw invalid_argument("tessera::checkpoint_reader: a vector of " + std::to_string(size) +
                             " entries; expected at most " + std::to_string(max_size));
    std::vector<T> values(static_cast<std::size_t>(size));
    in_.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(T)));
    check();
    return values;
  }

 private:
  void check() const {
    if (!in_) throw invalid_argument("tessera::checkpoint_reader: the checkpoint ends early (truncated?)");
  }
  std::istream& in_;
};

}  // namespace tessera
