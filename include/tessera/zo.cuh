#pragma once
// tessera/zo with its CUDA backend (compile with nvcc, link tessera::cuda): the SPSA moves of θ
// along a regenerated direction in device memory, with the host's bits.

#include "tessera/core.cuh"
#include "tessera/zo.hpp"
#include "tessera/zo/cuda/spsa.cuh"
