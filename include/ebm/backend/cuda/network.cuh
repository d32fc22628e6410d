#pragma once
// A composed network energy on the GPU: any ebm::network_spec (layers in C++ or JSON: energy/network_json.hpp) with
// the CPU ebm::network's layout (compile_network), parameter names, flat parameter order and initialisation (the
// same Philox streams, drawn on the device: the same values bit for bit). U = the network's output, or its negative
// when the spec says negate.
//
// Every operation runs over the whole batch through backend/network_gemm.hpp: im2col and cuBLAS strided-batched
// SGEMMs for convolutions, one SGEMM per fully connected layer, the shared per-element functors (kernels/activation,
// pooling, softmax) as launches, the non-local block's attention as batched SGEMMs. The CPU tests run the same
// engine with a reference GEMM against ebm::network, and test_cuda_gpu compares this class with ebm::network on a
// GPU. Nothing is atomic: results are the same run to run. FP32 arithmetic unless compute_options::tf32 (of the
// options only tf32 and gemm_column_floats apply here). The Hessian-vector product is the CPU network's, exact, with
// its tangent buffers made by the first call for a batch size.
//
// Batches, energies and gradients are device memory; calls are enqueued on the workspace's stream (capturable in a
// CUDA graph: nothing is allocated in a call with a batch size the workspace has a plan for). Needs nvcc.
#include <cublas_v2.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../../batch.hpp"
#include "../../config.hpp"
#include "../../energy/hessian_vector.hpp"
#include "../../energy/network_spec.hpp"
#include "../../kernels/noise.hpp"
#include "../../random/philox.hpp"
#include "../../error.hpp"
#include "../../kernels/elements.hpp"
#include "../network_gemm.hpp"
#include "check.cuh"
#include "compute_options.hpp"
#include "cublas_ops.cuh"
#include "cuda_tag.hpp"
#include "launch.cuh"
#include "memory.cuh"
#include "network_plans.cuh"

namespace ebm::cuda_backend {

class network {
public:
    using memory_space = ebm::device_space;  // its data lives in device memory: the backend is ebm::cuda
    static constexpr bool split_chains_across_threads = false;

    class workspace {
    public:
        [[nodiscard]] index capacity() const { return capacity_; }
        [[nodiscard]] cudaStream_t get_stream() const { return lane_.get(); }

    private:
        friend class network;
        index capacity_ = 0;
        compute_options options_;
        index parameter_count_ = 0, activation_floats_ = 0;  // of the network that made it (checked at each call)
        detail::blas_lane lane_;  // stream, cuBLAS handle and its fixed workspace
        detail::network_plans plans_;
    };

    /// The network of `spec`, initialised as ebm::network(spec, init_seed) (PyTorch's defaults from the seed).
    explicit network(network_spec spec, seed init_seed = seed{0})
        : spec_(std::move(spec)), layout_(compile_network(spec_)), parameters_(layout_.parameter_count) {
        reset_parameters(init_seed);
    }
    network(const network& other)
        : spec_(other.spec_), layout_(other.layout_), options_(other.options_), parameters_(other.parameters_.size()) {
        EBM_CUDA_CHECK(cudaMemcpy(parameters_.data(), other.parameters_.data(), parameters_.bytes(),
                                  cudaMemcpyDeviceToDevice));
    }
    network(network&&) noexcept = default;

    /// PyTorch's default initialisation of nn.Conv2d and nn.Linear from the seed, with ebm::network's streams
    /// (tensor t from Philox (parameter_init, t, 0)); the non-local blocks' output projections start at zero.
    void reset_parameters(seed init_seed) {
        const philox rng(init_seed);
        for (std::size_t t = 0; t < layout_.tensors.size(); ++t) {
            const parameter_tensor& tensor = layout_.tensors[t];
            const float bound = layout_.init_bound[t];
            float* values = parameters_.data() + tensor.offset;
            if (bound == 0.0f)
                launch_elements(tensor.count(), kernels::fill_value{values, 0.0f});
            else
                launch_elements(kernels::blocks_per_chain(tensor.count()),
                                kernels::uniform_fill{values, tensor.count(), rng, purpose::parameter_init,
                                                      static_cast<std::uint32_t>(t), {}, -bound, bound});
        }
        EBM_CUDA_CHECK(cudaDeviceSynchronize());
    }

    [[nodiscard]] const network_spec& spec() const { return spec_; }
    [[nodiscard]] const network_layout& layout() const { return layout_; }
    /// Names, shapes and offsets of the parameters (PyTorch's state_dict names): ebm::network's list.
    [[nodiscard]] const std::vector<parameter_tensor>& parameter_tensors() const { return layout_.tensors; }
    [[nodiscard]] index dimension() const { return layout_.dimension(); }
    [[nodiscard]] index channels() const { return layout_.input.channels; }
    [[nodiscard]] index height() const { return layout_.input.height; }
    [[nodiscard]] index width() const { return layout_.input.width; }
    [[nodiscard]] bool negated() const { return layout_.negate; }
    [[nodiscard]] bool piecewise_linear() const { return layout_.piecewise_linear; }
    [[nodiscard]] index parameter_count() const { return parameters_.size(); }
    [[nodiscard]] device_span<float> parameters() { return {parameters_.data(), static_cast<std::size_t>(parameters_.size())}; }
    [[nodiscard]] device_span<const float> parameters() const {
        return {parameters_.data(), static_cast<std::size_t>(parameters_.size())};
    }
    void upload_parameters(std::span<const float> host) {
        if (static_cast<index>(host.size()) != parameter_count())
            ebm::detail::fail("cuda::network::upload_parameters", "host must have parameter_count() = " +
                                  ebm::detail::to_text(parameter_count()) + " values", host.size());
        parameters_.upload(host);
    }
    void download_parameters(std::span<float> host) const {
        if (static_cast<index>(host.size()) != parameter_count())
            ebm::detail::fail("cuda::network::download_parameters", "host must have parameter_count() = " +
                                  ebm::detail::to_text(parameter_count()) + " values", host.size());
        parameters_.download(host);
    }

    /// Arithmetic (tf32) and the largest im2col matrix (gemm_column_floats) of the workspaces made from now on.
    void set_compute_options(const compute_options& options) {
        if (options.gemm_column_floats == 0 || options.gemm_column_floats > (std::size_t{1} << 31))
            ebm::detail::fail("cuda::network::set_compute_options", "gemm_column_floats must be in [1, 2^31]",
                              options.gemm_column_floats);
        options_ = options;
    }
    [[nodiscard]] const compute_options& get_compute_options() const { return options_; }

    /// A workspace for up to max_chains chains (its own stream and cuBLAS handle) with the plan for max_chains;
    /// other batch sizes get theirs on first use.
    [[nodiscard]] workspace make_workspace(index max_chains) const {
        ebm::detail::require_positive("cuda::network::make_workspace", "max_chains", max_chains);
        workspace ws;
        ws.capacity_ = max_chains;
        ws.options_ = options_;
        ws.parameter_count_ = parameter_count();
        ws.activation_floats_ = layout().activation_floats;
        ws.lane_ = detail::blas_lane(options_.tf32);
        ws.plans_.plan_for(layout(), ws.lane_, max_chains, ws.options_.gemm_column_floats);
        ws.lane_.synchronize();
        return ws;
    }

    void energy(const_device_batch_view x, device_span<float> u, workspace& ws) const {
        check_call("cuda::network::energy", x, u, ws);
        const detail::network_plan& plan = plan_for(ws, x.count);
        const detail::cublas_ops ops = ws.lane_.ops();
        network_gemm::forward(layout(), plan.p, plan.b, ops, parameters_.data(), x.data, u.data());
    }

    void energy_and_gradient(const_device_batch_view x, device_span<float> u, device_batch_view g, workspace& ws) const {
        const char* where = "cuda::network::energy_and_gradient";
        check_call(where, x, u, ws);
        if (g.dimension != dimension() || g.count != x.count || g.data == nullptr)
            ebm::detail::fail(where, "grad must have the shape of x (" + ebm::detail::to_text(x.count) + " chains of " +
                                         ebm::detail::to_text(dimension()) + ")", g.count);
        const detail::network_plan& plan = plan_for(ws, x.count);
        const detail::cublas_ops ops = ws.lane_.ops();
        network_gemm::forward(layout(), plan.p, plan.b, ops, parameters_.data(), x.data, u.data());
        network_gemm::backward(layout(), plan.p, plan.b, ops, parameters_.data(), x.data, nullptr, nullptr, g.data);
    }

    void accumulate_parameter_gradient(const_device_batch_view x, device_span<const float> weights, device_span<float> grad,
                                       device_span<float> u, workspace& ws) const {
        const char* where = "cuda::network::accumulate_parameter_gradient";
        check_call(where, x, u, ws);
        if (static_cast<index>(weights.size()) != x.count)
            ebm::detail::fail(where, "weights must have one entry per chain (" + ebm::detail::to_text(x.count) + ")",
                              weights.size());
        if (static_cast<index>(grad.size()) != parameter_count())
            ebm::detail::fail(where, "grad must have parameter_count() = " + ebm::detail::to_text(parameter_count()) +
                                         " entries", grad.size());
        const detail::network_plan& plan = plan_for(ws, x.count);
        const detail::cublas_ops ops = ws.lane_.ops();
        network_gemm::forward(layout(), plan.p, plan.b, ops, parameters_.data(), x.data, u.data());
        network_gemm::backward(layout(), plan.p, plan.b, ops, parameters_.data(), x.data, weights.data(), grad.data(),
                               nullptr);
    }

    /// hv_i = (d2U/dx2)(x_i) v_i, exact (zero for networks of ReLU/LeakyReLU units, pools and affine layers).
    void hessian_vector_product(const_device_batch_view x, const_device_batch_view v, device_batch_view hv,
                                workspace& ws) const {
        const char* where = "cuda::network::hessian_vector_product";
        ebm::detail::check_hessian_vector_call(where, dimension(), x, v, hv);
        check_workspace(where, x.count, ws);
        ws.plans_.hessian_vector_product(layout(), ws.lane_, ws.options_.gemm_column_floats, parameters_.data(), x.data,
                                         v.data, hv.data, x.count);
    }

private:
    void check_workspace(const char* where, index chains, const workspace& ws) const {
        if (ws.parameter_count_ != parameter_count() || ws.activation_floats_ != layout().activation_floats)
            ebm::detail::fail(where, "the workspace was made by another network (parameter count " +
                                         ebm::detail::to_text(ws.parameter_count_) + ")", parameter_count());
        if (chains <= 0 || chains > ws.capacity_)
            ebm::detail::fail(where, "x must hold between 1 and the workspace capacity " +
                                         ebm::detail::to_text(ws.capacity_) + " chains", chains);
    }

    void check_call(const char* where, const_device_batch_view x, device_span<float> u, const workspace& ws) const {
        if (x.dimension != dimension())
            ebm::detail::fail(where, "x dimension must equal " + ebm::detail::to_text(dimension()), x.dimension);
        check_workspace(where, x.count, ws);
        if (static_cast<index>(u.size()) < x.count)
            ebm::detail::fail(where, "u must have one entry per chain (" + ebm::detail::to_text(x.count) + ")", u.size());
    }

    detail::network_plan& plan_for(workspace& ws, index chains) const {
        return ws.plans_.plan_for(layout(), ws.lane_, chains, ws.options_.gemm_column_floats);
    }

    network_spec spec_;
    network_layout layout_;
    compute_options options_;
    device_buffer<float> parameters_;
};

}  // namespace ebm::cuda_backend
