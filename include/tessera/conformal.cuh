#pragma once
// tessera/conformal with its CUDA backend (compile with nvcc, link tessera::cuda): calibration
// scores, conformal quantiles and prediction sets of classifiers' probability matrices in device
// memory, and the Monte Carlo smoothing of RSCP / RSCP+ for score functions that run on the
// device. docs/conformal.md says when the device backend pays off.

#include "tessera/core.cuh"
#include "tessera/conformal.hpp"
#include "tessera/conformal/cuda/classification.cuh"
#include "tessera/conformal/cuda/quantile.cuh"
#include "tessera/conformal/cuda/smoothing.cuh"
