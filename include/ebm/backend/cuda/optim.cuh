#pragma once
// The optimizer policies (ebm::sgd, ebm::adam: hyper-parameters and schedule only) stepping device parameters.
// The per-element arithmetic is the CPU's own functor (kernels/optimizer_updates.hpp) launched on the GPU; the
// learning-rate schedule and Adam's bias corrections are computed on the host exactly as the CPU optimizer does.
// Needs nvcc.
#include <cmath>
#include <cstdint>
#include <span>

#include "../../config.hpp"
#include "../../error.hpp"
#include "../../kernels/optimizer_updates.hpp"
#include "functors.cuh"
#include "launch.cuh"
#include "memory.cuh"

namespace ebm::cuda_backend {

/// Device state of SGD or Adam: moments / momentum buffer in device memory and the step count.
struct optimizer_state {
    device_buffer<float> first;   // SGD momentum buffer, or Adam's first moment
    device_buffer<float> second;  // Adam's second moment
    std::uint64_t steps = 0;
};

/// A zeroed device state for `policy` (sgd: a buffer only with momentum; adam: both moments).
template <class Policy>
[[nodiscard]] optimizer_state make_optimizer_state(const Policy& policy, index parameter_count) {
    policy.validate();
    ebm::detail::require_positive("cuda::make_optimizer_state", "parameter_count", parameter_count);
    optimizer_state st;
    if constexpr (requires { policy.beta2; }) {
        st.first.resize(parameter_count);
        st.second.resize(parameter_count);
    } else if (policy.momentum != 0.0f) {
        st.first.resize(parameter_count);
    }
    st.first.zero();
    st.second.zero();
    EBM_CUDA_CHECK(cudaDeviceSynchronize());
    return st;
}

/// One optimizer step on device spans (params, grad), enqueued on `stream`; returns the learning rate used.
template <class Policy>
float optimizer_step(const Policy& policy, optimizer_state& st, std::span<float> params, std::span<const float> grad,
                     cudaStream_t stream = nullptr) {
    if (params.size() != grad.size())
        ebm::detail::fail("cuda::optimizer_step", "grad size must equal params size " +
                                                      ebm::detail::to_text(params.size()), grad.size());
    const index n = static_cast<index>(params.size());
    const float lr = policy.schedule.rate(policy.learning_rate, st.steps);
    if constexpr (requires { policy.beta2; }) {
        if (st.first.size() != n || st.second.size() != n)
            ebm::detail::fail("cuda::optimizer_step", "the Adam state must have the parameters' size " +
                                                          ebm::detail::to_text(n), st.first.size());
        ++st.steps;
        const double t = static_cast<double>(st.steps);
        const kernels::adam_update update{lr, policy.beta1, policy.beta2, policy.epsilon,
                                          static_cast<float>(1.0 - std::pow(static_cast<double>(policy.beta1), t)),
                                          static_cast<float>(1.0 - std::pow(static_cast<double>(policy.beta2), t))};
        launch_elements(n, adam_elements{update, params.data(), grad.data(), st.first.data(), st.second.data()}, stream);
    } else {
        const kernels::sgd_update update{lr, policy.momentum, st.steps == 0};
        launch_elements(n, sgd_elements{update, params.data(), grad.data(),
                                        policy.momentum != 0.0f ? st.first.data() : nullptr}, stream);
        ++st.steps;
    }
    return lr;
}

}  // namespace ebm::cuda_backend
