#pragma once
// tessera/es: evolution strategies with EGGROLL low-rank perturbations and the full-rank
// OpenAI-ES baseline (host backend): noise streams, perturbed views and the batched perturbed
// forward, fitness shaping, the gradient estimate as one GEMM, the run and its saved state, and
// a small MLP API. docs/es.md explains the algorithm, its memory and communication cost.

#include "tessera/core.hpp"
#include "tessera/es/checkpoint.hpp"
#include "tessera/es/evolution_strategy.hpp"
#include "tessera/es/fitness_shaping.hpp"
#include "tessera/es/gradient_estimate.hpp"
#include "tessera/es/mlp.hpp"
#include "tessera/es/noise.hpp"
#include "tessera/es/parameter_layout.hpp"
#include "tessera/es/perturbed_forward.hpp"
#include "tessera/es/perturbed_parameters.hpp"
