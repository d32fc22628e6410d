#pragma once
// Checked CUDA, cuBLAS and cuDNN calls. Every call of the backend goes through one of
//   EBM_CUDA_CHECK(call)    cudaError_t
//   EBM_CUBLAS_CHECK(call)  cublasStatus_t
//   EBM_CUDNN_CHECK(call)   cudnnStatus_t
// which throw ebm::runtime_error on the host with the library's error name and text, the call as written, file and
// line: "ebm::cuda: cudaMalloc(&p, bytes) failed: cudaErrorMemoryAllocation (out of memory) at mlp.cuh:120".
// Device code never throws (kernels report through status words); these macros are host-only.
// Host API only: this header compiles with a plain C++ compiler too (it is tested that way).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstddef>
#include <string>

#include "../../error.hpp"

namespace ebm::cuda_backend::detail {

inline std::string location(const char* file, int line) { return std::string(" at ") + file + ":" + std::to_string(line); }

/// The message of a failed CUDA runtime call (exposed for tests).
inline std::string cuda_message(cudaError_t status, const char* call, const char* file, int line) {
    return "ebm::cuda: " + std::string(call) + " failed: " + cudaGetErrorName(status) + " (" +
           cudaGetErrorString(status) + ")" + location(file, line);
}

[[noreturn]] inline void throw_cuda(cudaError_t status, const char* call, const char* file, int line) {
    (void)cudaGetLastError();  // clear a non-sticky error so that the next call does not report it again
    throw runtime_error(cuda_message(status, call, file, line));
}

inline void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
    if (status != cudaSuccess) throw_cuda(status, call, file, line);
}

/// The message of a failed allocation: the bytes asked for, and the device's free/total memory when it can tell.
inline std::string out_of_memory_message(std::size_t bytes, cudaError_t status, const char* call, const char* file,
                                         int line) {
    std::string text = "ebm::cuda: out of device memory: " + std::string(call) + " requested " +
                       std::to_string(bytes) + " bytes (" + cudaGetErrorName(status) + ")";
    std::size_t free_bytes = 0, total_bytes = 0;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess)
        text += "; " + std::to_string(free_bytes) + " of " + std::to_string(total_bytes) + " bytes free";
    else
        (void)cudaGetLastError();
    return text + location(file, line);
}

inline void check_allocation(cudaError_t status, std::size_t bytes, const char* call, const char* file, int line) {
    if (status == cudaSuccess) return;
    if (status == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        throw runtime_error(out_of_memory_message(bytes, status, call, file, line));
    }
    throw_cuda(status, call, file, line);
}

inline std::string cublas_message(cublasStatus_t status, const char* call, const char* file, int line) {
    return "ebm::cuda: " + std::string(call) + " failed: " + cublasGetStatusName(status) + " (" +
           cublasGetStatusString(status) + ")" + location(file, line);
}

inline void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
    if (status != CUBLAS_STATUS_SUCCESS) throw runtime_error(cublas_message(status, call, file, line));
}

inline std::string cudnn_message(cudnnStatus_t status, const char* call, const char* file, int line) {
    return "ebm::cuda: " + std::string(call) + " failed: " + cudnnGetErrorString(status) + " (status " +
           std::to_string(static_cast<int>(status)) + ")" + location(file, line);
}

inline void check_cudnn(cudnnStatus_t status, const char* call, const char* file, int line) {
    if (status != CUDNN_STATUS_SUCCESS) throw runtime_error(cudnn_message(status, call, file, line));
}

}  // namespace ebm::cuda_backend::detail

#define EBM_CUDA_CHECK(call) ::ebm::cuda_backend::detail::check_cuda((call), #call, __FILE__, __LINE__)
#define EBM_CUBLAS_CHECK(call) ::ebm::cuda_backend::detail::check_cublas((call), #call, __FILE__, __LINE__)
#define EBM_CUDNN_CHECK(call) ::ebm::cuda_backend::detail::check_cudnn((call), #call, __FILE__, __LINE__)
/// An allocation call: on cudaErrorMemoryAllocation the message gives `bytes`, the size requested.
#define EBM_CUDA_CHECK_ALLOCATION(call, bytes) \
    ::ebm::cuda_backend::detail::check_allocation((call), (bytes), #call, __FILE__, __LINE__)
