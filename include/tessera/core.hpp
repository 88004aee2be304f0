#pragma once
// tessera/core: the shared vocabulary of every core (host backend).
//   execution policies, errors and argument checks, concepts, counter-based random streams,
//   optimizers, communicators between replicas, and saved states.

#include "tessera/core/checkpoint.hpp"
#include "tessera/core/communicator.hpp"
#include "tessera/core/concepts.hpp"
#include "tessera/core/config.hpp"
#include "tessera/core/errors.hpp"
#include "tessera/core/exec.hpp"
#include "tessera/core/in_process_communicator.hpp"
#include "tessera/core/matrix_view.hpp"
#include "tessera/core/optimizers.hpp"
#include "tessera/core/random.hpp"
#include "tessera/core/validate.hpp"
#include "tessera/core/version.hpp"
