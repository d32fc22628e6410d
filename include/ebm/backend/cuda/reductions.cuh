#pragma once
// Device reductions behind execution<cuda> (execution.cuh), all in a fixed order (so a run is repeatable bit for bit
// on one GPU): per-chain gradient norms, a running double total (the sum of norms along the path, of energies, of
// weighted energies), a count of non-finite values, and the per-chain sums of the Metropolis ratio (MALA, HMC) with the shared decision
// (kernels::mala_decide) and the copy of accepted proposals, in one kernel per step. Kernels read their step and
// MALA's step size from memory, so a K-step chain can be captured once in a CUDA graph. Needs nvcc.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "../../config.hpp"
#include "../../kernels/langevin.hpp"
#include "../../random/philox.hpp"
#include "check.cuh"
#include "cuda_tag.hpp"
#include "../../kernels/elements.hpp"
#include "../../kernels/noise.hpp"

namespace ebm::cuda_backend {

namespace device {
// Kernels are templates (instantiated on demand) so that this header can be included by several .cu files.

/// Tree sum over the block (blockDim.x == cuda::block_threads, a power of two); every thread gets the total.
template <class T>
__device__ T block_sum(T value, T* shared) {
    shared[threadIdx.x] = value;
    __syncthreads();
    for (unsigned int width = blockDim.x / 2; width > 0; width /= 2) {
        if (threadIdx.x < width) shared[threadIdx.x] += shared[threadIdx.x + width];
        __syncthreads();
    }
    const T total = shared[0];
    __syncthreads();
    return total;
}

/// norms[i] = ||g_i|| (one block per chain).
template <class = void>
__global__ void __launch_bounds__(cuda::block_threads) chain_norms_kernel(const float* g, index dimension, float* norms) {
    __shared__ float shared[cuda::block_threads];
    const float* gi = g + static_cast<index>(blockIdx.x) * dimension;
    float sq = 0.0f;
    for (index k = threadIdx.x; k < dimension; k += blockDim.x) sq = fmaf(gi[k], gi[k], sq);
    sq = block_sum(sq, shared);
    if (threadIdx.x == 0) norms[blockIdx.x] = sqrtf(sq);
}

/// *total += scale * sum_i values[i] in double (one block; fixed order).
template <class T>
__global__ void __launch_bounds__(cuda::block_threads) accumulate_total_kernel(const T* values, index n,
                                                                               double scale, double* total) {
    __shared__ double shared[cuda::block_threads];
    double s = 0.0;
    for (index k = threadIdx.x; k < n; k += blockDim.x) s += static_cast<double>(values[k]);
    s = block_sum(s, shared);
    if (threadIdx.x == 0) *total += scale * s;
}

/// *count += number of NaN/Inf among values[0..n) (grid-stride; order-free, so exact).
template <class = void>
__global__ void __launch_bounds__(cuda::block_threads) count_non_finite_kernel(const float* values, index n,
                                                                               unsigned long long* count) {
    unsigned long long local = 0;
    const index stride = static_cast<index>(gridDim.x) * blockDim.x;
    for (index k = static_cast<index>(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += stride)
        local += kernels::is_finite(values[k]) ? 0u : 1u;
    if (local != 0) atomicAdd(count, local);
}

/// *target = value (a kernel, so the value travels with the launch and no host buffer must outlive the call).
template <class T>
__global__ void set_value_kernel(T* target, T value) {
    *target = value;
}

/// One block per chain: the two sums of the log ratio (MALA's residuals or HMC's kinetic energies), box test, MH
/// decision in log space (kernels::mala_decide), then the accepted chains take y, dU/dx(y) and U(y). The step is
/// read from memory (a.epsilon) with the CPU's float arithmetic.
template <class = void>
__global__ void __launch_bounds__(cuda::block_threads) metropolis_accept_kernel(kernels::metropolis_accept_arguments a) {
    __shared__ float shared[cuda::block_threads];
    __shared__ int decision;
    const index i = blockIdx.x;
    const index base = i * a.dimension;
    const float eps = *a.epsilon;
    const float scale = a.ratio_scale(eps);
    float forward_sq = 0.0f, backward_sq = 0.0f, gx_sq = 0.0f, gy_sq = 0.0f;
    int inside = 1;
    for (index k = threadIdx.x; k < a.dimension; k += blockDim.x) {
        const float gk = a.g[base + k], yk = a.y[base + k], gyk = a.gy[base + k];
        a.add_terms(base + k, eps, forward_sq, backward_sq);
        gx_sq = fmaf(gk, gk, gx_sq);
        gy_sq = fmaf(gyk, gyk, gy_sq);
        if (a.clamp.enabled() && (yk < a.clamp.low || yk > a.clamp.high)) inside = 0;
    }
    inside = __syncthreads_and(inside);
    forward_sq = block_sum(forward_sq, shared);
    backward_sq = block_sum(backward_sq, shared);
    gx_sq = block_sum(gx_sq, shared);
    gy_sq = block_sum(gy_sq, shared);
    if (threadIdx.x == 0) {
        const std::uint64_t s = a.step.value();
        const auto chain = a.first_chain + static_cast<std::uint32_t>(i);
        const float log_u = kernels::accept_log_uniform(a.rng, chain, s);
        const kernels::mala_outcome out =
            kernels::mala_decide(log_u, a.u[i], a.uy[i], forward_sq, backward_sq, scale, inside != 0,
                                     a.counters.probability != nullptr);
        decision = out.accept ? 1 : 0;
        if (!out.finite) ++a.counters.non_finite[i];
        if (out.accept) {
            ++a.counters.accepted[i];
            a.u[i] = a.uy[i];
        }
        if (a.counters.probability != nullptr) a.counters.probability[i] = out.probability;
        a.counters.norms[i] = sqrtf(out.accept ? gy_sq : gx_sq);
    }
    __syncthreads();
    if (decision != 0)
        for (index k = threadIdx.x; k < a.dimension; k += blockDim.x) {
            a.x[base + k] = a.y[base + k];
            a.g[base + k] = a.gy[base + k];
        }
}

}  // namespace device

/// norms[i] = ||g_i|| for i < count, on `stream`.
inline void chain_norms(const float* g, index dimension, index count, float* norms, cudaStream_t stream) {
    if (count <= 0) return;
    device::chain_norms_kernel<void><<<static_cast<unsigned int>(count), cuda::block_threads, 0, stream>>>(g, dimension, norms);
    EBM_CUDA_CHECK(cudaGetLastError());
}

/// *total += scale * sum(values[0..n)), in double, on `stream`.
template <class T>
void accumulate_total(const T* values, index n, double scale, double* total, cudaStream_t stream) {
    device::accumulate_total_kernel<T><<<1, cuda::block_threads, 0, stream>>>(values, n, scale, total);
    EBM_CUDA_CHECK(cudaGetLastError());
}

/// *count += number of NaN/Inf in values[0..n), on `stream`.
inline void count_non_finite(const float* values, index n, unsigned long long* count, cudaStream_t stream) {
    if (n <= 0) return;
    const index blocks = std::min<index>((n + cuda::block_threads - 1) / cuda::block_threads, 1024);
    device::count_non_finite_kernel<void><<<static_cast<unsigned int>(blocks), cuda::block_threads, 0, stream>>>(
        values, n, count);
    EBM_CUDA_CHECK(cudaGetLastError());
}

template <class T>
void set_value(T* target, T value, cudaStream_t stream) {
    device::set_value_kernel<T><<<1, 1, 0, stream>>>(target, value);
    EBM_CUDA_CHECK(cudaGetLastError());
}

/// The Metropolis accept step (MALA, HMC) for `count` chains (one block each), on `stream`.
inline void metropolis_accept(const kernels::metropolis_accept_arguments& arguments, index count, cudaStream_t stream) {
    if (count <= 0) return;
    device::metropolis_accept_kernel<void><<<static_cast<unsigned int>(count), cuda::block_threads, 0, stream>>>(arguments);
    EBM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace ebm::cuda_backend
