#pragma once
// Library-wide configuration: version, index type and the host/device annotation.
#include <cstddef>
#include <cstdint>

#define EBM_VERSION_MAJOR 0
#define EBM_VERSION_MINOR 1
#define EBM_VERSION_PATCH 0

// Per-element functors are written once and compiled for host and device; the annotation
// only exists under nvcc, so CPU builds never see CUDA keywords.
#if defined(__CUDACC__)
#define EBM_HOST_DEVICE __host__ __device__
#else
#define EBM_HOST_DEVICE
#endif

// Small math functions that vectorised loops call (the portable exp/log, Box-Muller, Philox rounds) are always
// inlined: a call left inside a loop stops its vectorisation, and GCC's inliner gives up on them in large functions.
#if defined(__CUDACC__)
#define EBM_ALWAYS_INLINE __forceinline__
#elif defined(__GNUC__) || defined(__clang__)
#define EBM_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define EBM_ALWAYS_INLINE inline
#endif

namespace ebm {
using index = std::ptrdiff_t;  // signed: sizes and loop counters mix freely without sign warnings
}
