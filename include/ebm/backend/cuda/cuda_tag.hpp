#pragma once
// The CUDA backend tag: plain C++ (no CUDA include), so code that only names the backend type — a policy
// parameter, a trait, a static_assert — compiles in CPU-only translation units too. Storage, launchers, cuBLAS and
// cuDNN glue live in the .cuh headers next to this file and need nvcc (target ebm::cuda).
#include "../../config.hpp"

namespace ebm {

struct cuda {
    static constexpr const char* name = "cuda";
    /// Threads per block of the element launchers (a multiple of the warp size).
    static constexpr int block_threads = 256;
};

/// True for backend tags whose storage is device memory (the CUDA backend).
template <class Backend>
inline constexpr bool is_device_backend = false;
template <>
inline constexpr bool is_device_backend<cuda> = true;

}  // namespace ebm
