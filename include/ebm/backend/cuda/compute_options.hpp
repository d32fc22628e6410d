#pragma once
// How a device energy computes: its arithmetic and, for the convolutional energies, which engine and algorithms.
// Set on the energy (set_compute_options); the workspaces made afterwards follow it. Plain C++ (no nvcc needed).
#include <cstddef>

namespace ebm::cuda_backend {

/// Who runs a ConvNet's convolutions (cuda_backend::convnet).
enum class convolution_engine {
    gemm,   // im2col + cuBLAS SGEMM + col2im (backend/convolution_gemm.hpp): deterministic; the default (the faster
            // one on an H200 in FP32 at every batch measured, and in TF32 up to batch 256: docs/cuda.md)
    cudnn,  // cuDNN's convolution calls, algorithms as chosen below
};

struct compute_options {
    /// TF32 tensor cores for convolutions and matrix products (10-bit mantissa inputs, FP32 accumulation): several
    /// times faster on Ampere/Hopper, results differ from FP32 at about 1e-3 relative. Off by default.
    bool tf32 = false;
    /// cuDNN only: use deterministic algorithms only (bit-identical results for the same inputs and algorithms).
    /// The GEMM engine, cuBLAS and every ebm kernel are deterministic whatever this says.
    bool deterministic = true;
    /// cuDNN only: time the candidate algorithms once per batch size (cudnnFind*Ex, when the plan is made, never
    /// inside a captured chain) and keep the fastest, instead of taking cuDNN's heuristic order. Timing can pick a
    /// different algorithm in another process, so bits can differ between processes; the heuristic order cannot.
    /// Off by default: on an H200 it paid only together with non-deterministic algorithms (docs/cuda.md).
    bool search = false;
    /// cuDNN search: the largest workspace an algorithm may use (bytes).
    std::size_t search_workspace_limit = std::size_t{512} << 20;
    /// ConvNet engine (the non-local net always uses cuDNN for its convolutions and cuBLAS for the rest).
    convolution_engine convolutions = convolution_engine::gemm;
    /// GEMM engines (the ConvNet's, the composed network's, and the Hessian-vector products of the ConvNet and the
    /// non-local net): the largest im2col matrix, in floats (default 64 Mi floats = 256 MiB); a batch whose matrix
    /// would be larger is processed in chunks of chains (same results, more and smaller GEMMs).
    std::size_t gemm_column_floats = std::size_t{64} << 20;
    /// MLP only: an unadjusted Langevin chain runs as one kernel for all its steps (a team of four warps per chain,
    /// the weights in shared memory, no launch per step) when the network fits; the same states, bit for bit, as the
    /// chain run step by step, several times faster (docs/cuda.md). Off: one energy-and-gradient launch per step.
    bool whole_chain = true;
};

}  // namespace ebm::cuda_backend
