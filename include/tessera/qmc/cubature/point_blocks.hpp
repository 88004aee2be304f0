#pragma once
// Blocks of randomized QMC points for the cubature rules: each generator's replications prepared
// once, then any index range of any replication written into a reusable buffer.

#include <cstdint>
#include <span>
#include <vector>

#include "tessera/core/exec.hpp"
#include "tessera/qmc/digital_net.hpp"
#include "tessera/qmc/halton.hpp"
#include "tessera/qmc/lattice.hpp"
#include "tessera/qmc/point_set.hpp"

namespace tessera::qmc::detail {

/// Replications of a digital net, randomized and tabulated once.
class net_blocks {
 public:
  net_blocks(const digital_net& net, std::uint64_t replications) {
    for (std::uint64_t r = 0; r < replications; ++r) prepared_.emplace_back(net, r);
  }
  void generate(index_range range, std::uint64_t replication, point_array<double>& out) const {
    generate_into(exec::host, prepared_[replication], range, std::span<double>(out.data(), out.size()));
  }

 private:
  std::vector<digital_net_replication> prepared_;
};

/// Replications of a rank-1 lattice (its shifts are drawn per block: d Philox blocks).
class lattice_blocks {
 public:
  lattice_blocks(const rank1_lattice& lattice, std::uint64_t) : lattice_(lattice) {}
  void generate(index_range range, std::uint64_t replication, point_array<double>& out) const {
    generate_into(exec::host, lattice_, range, replication, std::span<double>(out.data(), out.size()));
  }

 private:
  rank1_lattice lattice_;
};

/// Replications of a Halton sequence (its random tables are built with the sequence: at most
/// options.replications of them).
class halton_blocks {
 public:
  halton_blocks(const halton_sequence& sequence, std::uint64_t) : sequence_(sequence) {}
  void generate(index_range range, std::uint64_t replication, point_array<double>& out) const {
    out = qmc::generate<double>(exec::host, sequence_, range, replication);
  }

 private:
  const halton_sequence& sequence_;
};

inline net_blocks make_point_blocks(const digital_net& net, std::uint64_t replications) {
  return {net, replications};
}
inline lattice_blocks make_point_blocks(const rank1_lattice& lattice, std::uint64_t replications) {
  return {lattice, replications};
}

inline halton_blocks make_point_blocks(const halton_sequence& sequence, std::uint64_t replications) {
  return {sequence, replications};
}

/// Whether the generator's points are randomized (the rules estimate errors from randomness).
inline bool is_randomized(const digital_net& net) { return net.options().randomization != net_randomization::none; }
inline bool is_randomized(const rank1_lattice& l) { return l.options().randomization != lattice_randomization::none; }
inline bool is_randomized(const halton_sequence& h) { return h.options().randomization != halton_randomization::none; }

/// How many independent replications the generator can give.
inline std::uint64_t available_replications(const digital_net&) { return std::uint64_t{1} << 32; }
inline std::uint64_t available_replications(const rank1_lattice&) { return std::uint64_t{1} << 32; }
inline std::uint64_t available_replications(const halton_sequence& h) {
  return static_cast<std::uint64_t>(h.replications());
}

}  // namespace tessera::qmc::detail
