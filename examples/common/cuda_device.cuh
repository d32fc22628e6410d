#pragma once
// For the programs' CUDA translation units: a clear error when --device cuda finds no GPU.
#include <ebm/backend/cuda/memory.cuh>
#include <ebm/error.hpp>

#include "device.hpp"

namespace program {

/// Throws ebm::error ("ebm::<program>: --device cuda: no CUDA device is available ...") without a usable GPU.
/// (Declared in common/device.hpp; defined here, once per program.)
void require_cuda_device(const char* program) {
    if (ebm::cuda_backend::device_count() == 0)
        ebm::detail::fail(program,
                          "--device cuda: no CUDA device is available (no GPU, or no usable driver); use --device cpu",
                          "0 devices");
}

}  // namespace program
