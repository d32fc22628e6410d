#pragma once
// What the cuBLAS energies' workspaces share: blas_lane, a stream with a cuBLAS handle bound to it and the handle's
// fixed workspace; and cublas_ops, the Ops of the matrix-product engines (backend/convolution_gemm.hpp,
// backend/network_gemm.hpp) on the GPU: cuBLAS's SGEMM and strided-batched SGEMM on the lane, element passes as kernel
// launches of the shared functors. Needs nvcc.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <memory>

#include "../../config.hpp"
#include "check.cuh"
#include "launch.cuh"
#include "memory.cuh"

namespace ebm::cuda_backend::detail {

struct cublas_ops {
    cublasHandle_t blas;
    cudaStream_t stream;
    void gemm(bool transpose_a, bool transpose_b, index m, index n, index k, float alpha, const float* a, index lda,
              const float* b, index ldb, float beta, float* c, index ldc) const {
        EBM_CUBLAS_CHECK(cublasSgemm(blas, transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                                     transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(m), static_cast<int>(n),
                                     static_cast<int>(k), &alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb),
                                     &beta, c, static_cast<int>(ldc)));
    }
    void gemm_batched(bool transpose_a, bool transpose_b, index m, index n, index k, float alpha, const float* a,
                      index lda, index stride_a, const float* b, index ldb, index stride_b, float beta, float* c,
                      index ldc, index stride_c, index batches) const {
        EBM_CUBLAS_CHECK(cublasSgemmStridedBatched(
            blas, transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N, transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(m),
            static_cast<int>(n), static_cast<int>(k), &alpha, a, static_cast<int>(lda), static_cast<long long>(stride_a),
            b, static_cast<int>(ldb), static_cast<long long>(stride_b), &beta, c, static_cast<int>(ldc),
            static_cast<long long>(stride_c), static_cast<int>(batches)));
    }
    template <class F>
    void elements(index n, const F& f) const {
        launch_elements(n, f, stream);
    }
};

/// A workspace's stream and its cuBLAS handle (FP32, or TF32 tensor cores) with a fixed 32 MiB workspace, so that a
/// captured CUDA graph never allocates.
class blas_lane {
public:
    blas_lane() = default;
    explicit blas_lane(bool tf32)
        : stream_(std::make_unique<stream>()),
          blas_(std::make_unique<cublas_handle>(stream_->get(), tf32)),  // stream first: setting it resets the workspace
          workspace_(index{32} << 20) {
        EBM_CUBLAS_CHECK(cublasSetWorkspace(blas_->get(), workspace_.data(), static_cast<std::size_t>(workspace_.size())));
    }
    [[nodiscard]] cudaStream_t get() const { return stream_->get(); }
    [[nodiscard]] cublasHandle_t blas() const { return blas_->get(); }
    [[nodiscard]] cublas_ops ops() const { return {blas_->get(), stream_->get()}; }
    void synchronize() const { stream_->synchronize(); }

private:
    std::unique_ptr<stream> stream_;
    std::unique_ptr<cublas_handle> blas_;
    device_buffer<unsigned char> workspace_;
};

}  // namespace ebm::cuda_backend::detail
