#pragma once
// tessera/es with its CUDA backend (compile with nvcc, link tessera::cuda): EGGROLL's factors
// generated on the device with the host's bits, the batched perturbed forward of a population
// (low-rank kernels beside the naive full-rank baseline) and the gradient estimate as cuBLAS
// GEMMs. docs/es.md ("GPU") says how the kernels work and what they reach.

#include "tessera/core.cuh"
#include "tessera/es.hpp"
#include "tessera/es/cuda/gradient_estimate.cuh"
#include "tessera/es/cuda/noise.cuh"
#include "tessera/es/cuda/perturbed_forward.cuh"
