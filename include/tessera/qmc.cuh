#pragma once
// tessera/qmc with its CUDA backend (compile with nvcc, link tessera::cuda): device generation
// of every sequence and randomization, FWHT, bit-reversed FFTs and fast Gram matrices.

#include "tessera/core.cuh"
#include "tessera/qmc.hpp"
#include "tessera/qmc/cuda/digital_net.cuh"
#include "tessera/qmc/cuda/fast_gram.cuh"
#include "tessera/qmc/cuda/fft_bit_reversed.cuh"
#include "tessera/qmc/cuda/fwht.cuh"
#include "tessera/qmc/cuda/halton.cuh"
#include "tessera/qmc/cuda/lattice.cuh"
