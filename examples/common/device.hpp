#pragma once
// --device cpu|cuda for ebm's programs. A program built with the CUDA backend has a second translation unit
// (<program>_cuda.cu, compiled by nvcc) that runs the same templated code on device energies; CMake defines
// EBM_PROGRAM_CUDA=1 for it (examples/CMakeLists.txt, ebm_program_device). Asking for cuda otherwise is a clear error.
#include <CLI/CLI.hpp>

#include <string>

#include <ebm/error.hpp>

#ifndef EBM_PROGRAM_CUDA
#define EBM_PROGRAM_CUDA 0
#endif

namespace program {

inline constexpr bool built_with_cuda = EBM_PROGRAM_CUDA != 0;

/// The --device option (default cpu).
inline CLI::Option* add_device_option(CLI::App& app, std::string& device) {
    return app.add_option("--device", device, "where to compute: cpu, or cuda (a build with the CUDA backend and a GPU)")
        ->check(CLI::IsMember({"cpu", "cuda"}))
        ->capture_default_str();
}

/// Throws ebm::error ("ebm::<program>: ...") when --device cuda is asked of a build without the CUDA backend.
inline void require_device_built(const char* program, const std::string& device) {
    if (device == "cuda" && !built_with_cuda)
        ebm::detail::fail(program,
                          "--device cuda needs the CUDA backend, and this build has none (build where nvcc and cuDNN "
                          "are found: cmake --preset cuda)",
                          device);
}

/// Throws ebm::error when there is no usable GPU (defined in common/cuda_device.cuh, which the program's CUDA
/// translation unit includes).
void require_cuda_device(const char* program);
#if !EBM_PROGRAM_CUDA
inline void require_cuda_device(const char* program) { require_device_built(program, "cuda"); }
#endif

/// Checks --device before any work: built, and (for cuda) a GPU present.
inline void require_device(const char* program, const std::string& device) {
    require_device_built(program, device);
    if (device == "cuda") require_cuda_device(program);
}

}  // namespace program
