#pragma once
// The CUDA backend tag: plain C++ (no CUDA include), so code that only names the backend type — a policy
// parameter, a trait, a static_assert — compiles in CPU-only translation units too. Storage, launchers, cuBLAS and
// cuDNN glue live in the .cuh headers next to this file and need nvcc (target ebm::cuda).
#include "../../config.hpp"
#include "../../memory_space.hpp"

namespace ebm {

struct cuda {
    static constexpr const char* name = "cuda";
    using memory_space = device_space;
    /// Threads per block of the element launchers (a multiple of the warp size).
    static constexpr int block_threads = 256;
};

}  // namespace ebm
