#pragma once
// The composed-network engine's plans on the GPU (backend/network_gemm.hpp): for one network layout, one plan per
// batch size with its device memory, made the first time that batch size is used. cuda_backend::network keeps them
// in its workspaces for every call. The cuDNN presets (convnet, nonlocal_net) keep them for their Hessian-vector
// products only: the engine runs on the presets' own parameters, whose flat order is their network description's
// (energy/network_presets.hpp; checked in every build by test_network). Needs nvcc.
#include <cstdint>
#include <memory>
#include <vector>

#include "../../batch.hpp"
#include "../../config.hpp"
#include "../../energy/hessian_vector.hpp"
#include "../../energy/network_spec.hpp"
#include "../../error.hpp"
#include "../../kernels/elements.hpp"
#include "../network_gemm.hpp"
#include "cublas_ops.cuh"
#include "launch.cuh"
#include "memory.cuh"

namespace ebm::cuda_backend::detail {

/// One batch size: network_gemm's plan and its device memory.
struct network_plan {
    network_gemm::plan p;
    device_buffer<float> values, grads, columns, channel_major, spare, ones;
    device_buffer<std::int32_t> argmax;
    device_buffer<float> tangent_values, tangent_grads;  // made by the first Hessian-vector product
    network_gemm::buffers b;
};

class network_plans {
public:
    /// The plan of `layout` for `chains` chains; the first call for a batch size makes it on lane's stream.
    /// column_floats bounds a convolution's im2col matrix (compute_options::gemm_column_floats).
    network_plan& plan_for(const network_layout& layout, const blas_lane& lane, index chains, std::size_t column_floats) {
        for (const auto& p : plans_)
            if (p->p.chains == chains) return *p;
        plans_.push_back(make(layout, lane, chains, column_floats));
        return *plans_.back();
    }

    /// hv_j = (d2U/dx2)(x_j) v_j of the network `layout` with device `parameters` in its flat order, enqueued on
    /// lane's stream. The first call for a batch size makes its plan and tangent buffers (outside any captured chain).
    void hessian_vector_product(const network_layout& layout, const blas_lane& lane, std::size_t column_floats,
                                const float* parameters, const float* x, const float* v, float* hv, index chains) {
        network_plan& plan = plan_for(layout, lane, chains, column_floats);
        if (plan.b.tangent_values == nullptr) {
            plan.tangent_values.resize(plan.p.value_elements);
            plan.tangent_grads.resize(plan.p.value_elements);
            plan.b.tangent_values = plan.tangent_values.data();
            plan.b.tangent_grads = plan.tangent_grads.data();
        }
        const cublas_ops ops = lane.ops();
        network_gemm::hessian_vector_product(layout, plan.p, plan.b, ops, parameters, x, v, hv);
    }

    /// The same for a caller's device batches, checked first: x of the layout's dimension, v and hv of x's shape,
    /// between 1 and `capacity` chains (the caller's workspace); `where` names the caller in the messages.
    void hessian_vector_product(const char* where, index capacity, const network_layout& layout, const blas_lane& lane,
                                std::size_t column_floats, const float* parameters, const_device_batch_view x,
                                const_device_batch_view v, device_batch_view hv) {
        ebm::detail::check_hessian_vector_call(where, layout.dimension(), x, v, hv);
        if (x.count <= 0 || x.count > capacity || x.data == nullptr || v.data == nullptr || hv.data == nullptr)
            ebm::detail::fail(where, "x, v and hv must hold between 1 and the workspace capacity " +
                                         ebm::detail::to_text(capacity) + " chains", x.count);
        hessian_vector_product(layout, lane, column_floats, parameters, x.data, v.data, hv.data, x.count);
    }

private:
    static std::unique_ptr<network_plan> make(const network_layout& layout, const blas_lane& lane, index chains,
                                              std::size_t column_floats) {
        auto plan = std::make_unique<network_plan>();
        plan->p = network_gemm::make_plan(layout, chains, static_cast<index>(column_floats));
        const network_gemm::plan& p = plan->p;
        plan->values.resize(p.value_elements);
        plan->grads.resize(p.value_elements);
        plan->columns.resize(p.column_elements);
        plan->channel_major.resize(p.channel_major_elements);
        plan->spare.resize(p.spare_elements);
        plan->ones.resize(p.ones_elements);
        plan->argmax.resize(p.argmax_elements);
        launch_elements(p.ones_elements, kernels::fill_value{plan->ones.data(), 1.0f}, lane.get());
        plan->b = {plan->values.data(), plan->grads.data(),  plan->columns.data(), plan->channel_major.data(),
                   plan->spare.data(),  plan->argmax.data(), plan->ones.data()};
        return plan;
    }

    std::vector<std::unique_ptr<network_plan>> plans_;
};

}  // namespace ebm::cuda_backend::detail
