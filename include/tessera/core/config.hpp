#pragma once
// Compiler-facing configuration shared by every header.

// Marks a function callable from both host and device code. It has to be a macro: CUDA's
// execution-space specifiers are keywords that no template or constexpr can supply.
#if defined(__CUDACC__)
#define TESSERA_HOST_DEVICE __host__ __device__
#else
#define TESSERA_HOST_DEVICE
#endif
