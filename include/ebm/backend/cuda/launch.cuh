#pragma once
// The CUDA launcher of the shared per-element functors (kernels/): launch_elements(n, f, stream) calls f(k) for
// k in [0, n) on the GPU, one element per thread in a grid-stride loop. The functor must be trivially copyable and
// its operator() EBM_HOST_DEVICE (or __device__). Needs nvcc.
#include <cuda_runtime.h>

#include <type_traits>

#include "../../config.hpp"
#include "check.cuh"
#include "cuda_tag.hpp"

namespace ebm::cuda_backend {

template <class F>
__global__ void __launch_bounds__(cuda::block_threads) elements_kernel(index n, F f) {
    const index stride = static_cast<index>(gridDim.x) * blockDim.x;
    for (index k = static_cast<index>(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += stride) f(k);
}

/// Blocks for n elements: enough to fill the GPU, capped so that huge n loop in the grid-stride loop.
inline unsigned int element_blocks(index n) {
    constexpr index cap = index{1} << 20;
    const index blocks = (n + cuda::block_threads - 1) / cuda::block_threads;
    return static_cast<unsigned int>(blocks < cap ? blocks : cap);
}

/// f(k) for k in [0, n) on `stream`; asynchronous. Launch errors are checked (and name this function).
template <class F>
void launch_elements(index n, const F& f, cudaStream_t stream = nullptr) {
    static_assert(std::is_trivially_copyable_v<F>, "ebm::cuda_backend::launch_elements: the functor must be trivially "
                                                   "copyable (it is passed to the kernel by value)");
    if (n <= 0) return;
    elements_kernel<F><<<element_blocks(n), cuda::block_threads, 0, stream>>>(n, f);
    EBM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace ebm::cuda_backend
