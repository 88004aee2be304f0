#pragma once
// tessera/zo: zeroth-order optimization with shared randomness (host backend): shared-seed SPSA
// (MeZO) and n-SPSA, the one-byte quantizer of projected gradients, and decentralized SPSA whose
// replicas exchange one byte per gradient over a communicator (threads or MPI ranks) and stay
// bit-identical. docs/zo.md gives the formulas, the costs and how to run on several hosts.

#include "tessera/core.hpp"
#include "tessera/core/communicator.hpp"
#include "tessera/zo/checkpoint.hpp"
#include "tessera/zo/decentralized_spsa.hpp"
#include "tessera/zo/one_byte.hpp"
#include "tessera/zo/spsa.hpp"
