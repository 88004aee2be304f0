#pragma once
// tessera/core with its CUDA backend; compile with nvcc.

#include "tessera/core.hpp"
#include "tessera/core/cuda/check.cuh"
#include "tessera/core/cuda/random.cuh"
