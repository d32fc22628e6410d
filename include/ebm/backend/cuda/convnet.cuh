#pragma once
// ConvNet energies on the GPU: the same networks, parameter layout and initialisation as the CPU's oneDNN
// ebm::convnet (energy/convnet.hpp) -- a chain of convolutions, each but the last followed by LeakyReLU, ending in
// one scalar per chain; parameters flat in PyTorch's state_dict order ("f.<2l>.weight" OIHW, then "f.<2l>.bias");
// default init U(-1/sqrt(fan_in), 1/sqrt(fan_in)) from Philox (parameter_init, tensor index, 0); U = network output,
// or its negative with negate_output (weights trained with the short-run code).
//
//   short_run(32):  conv3x3 s1 p1 (C -> n_f), conv4x4 s2 p1 (n_f -> 2n_f -> 4n_f -> 8n_f), conv4x4 s1 p0 (8n_f -> 1)
//   short_run(64/128): one/two more conv4x4 s2 p1 (8n_f -> 8n_f) before the last;  vanilla(): n_f 32, slope 0.05
//
// Two engines (compute_options::convolutions, compute_options.hpp):
//  * gemm (the default): backend/convolution_gemm.hpp on cuBLAS -- im2col, one SGEMM per layer over all chains, col2im as a
//    gather fused with LeakyReLU'; hidden activations channel-major; deterministic.
//  * cudnn: cudnnConvolutionForward, then bias + LeakyReLU in one element-wise pass (cuDNN's legacy fused call has
//    no leaky slope); backward: LeakyReLU' from the stored outputs, cudnnConvolutionBackwardData,
//    cudnnConvolutionBackwardFilter and cudnnConvolutionBackwardBias accumulating (beta = 1) into the caller's flat
//    gradient (cuDNN's KCRS filter layout is PyTorch's OIHW). Algorithms are chosen once per batch size, by timing
//    (cudnnFind*Ex) or cuDNN's heuristic order (the default), deterministic ones only unless allowed, with one
//    workspace of the largest size.
// FP32 arithmetic (CUDNN_FMA_MATH, cuBLAS default math) unless compute_options::tf32.
//
// Batches, energies and gradients are device memory; calls are enqueued on the workspace's stream (capturable in a
// CUDA graph: nothing is allocated in a call with a batch size the workspace has a plan for). Needs nvcc.
#include <cublas_v2.h>
#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../../batch.hpp"
#include "../../config.hpp"
#include "../../energy/convnet_architecture.hpp"
#include "../../energy/network_presets.hpp"
#include "../../error.hpp"
#include "../../random/philox.hpp"
#include "check.cuh"
#include "cuda_tag.hpp"
#include "../../kernels/convolution.hpp"
#include "../../kernels/elements.hpp"
#include "../../kernels/noise.hpp"
#include "../convolution_gemm.hpp"
#include "compute_options.hpp"
#include "cublas_ops.cuh"
#include "launch.cuh"
#include "memory.cuh"
#include "network_plans.cuh"

namespace ebm::cuda_backend {

// The shape description is the CPU convnet's (energy/convnet_architecture.hpp).
using ebm::conv_layer;
using ebm::convnet_architecture;

// The element-wise pieces are kernels/convolution.hpp's (shared with the non-local net and the CPU tests).
namespace convnet_functors {
using kernels::bias_leaky_relu;
using kernels::leaky_relu_backward;
using kernels::read_energy;
using kernels::top_gradient;
}  // namespace convnet_functors

namespace detail {

// RAII for cuDNN descriptors and handles.
struct cudnn_handle_owner {
    cudnnHandle_t h = nullptr;
    cudnn_handle_owner() { EBM_CUDNN_CHECK(cudnnCreate(&h)); }
    ~cudnn_handle_owner() {
        if (h != nullptr) (void)cudnnDestroy(h);
    }
    cudnn_handle_owner(const cudnn_handle_owner&) = delete;
    cudnn_handle_owner& operator=(const cudnn_handle_owner&) = delete;
};
struct tensor_descriptor {
    cudnnTensorDescriptor_t d = nullptr;
    tensor_descriptor() { EBM_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d)); }
    ~tensor_descriptor() {
        if (d != nullptr) (void)cudnnDestroyTensorDescriptor(d);
    }
    tensor_descriptor(const tensor_descriptor&) = delete;
    tensor_descriptor& operator=(const tensor_descriptor&) = delete;
    void set(index n, index c, index h, index w) {
        EBM_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, static_cast<int>(n),
                                                   static_cast<int>(c), static_cast<int>(h), static_cast<int>(w)));
    }
};
struct filter_descriptor {
    cudnnFilterDescriptor_t d = nullptr;
    filter_descriptor() { EBM_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d)); }
    ~filter_descriptor() {
        if (d != nullptr) (void)cudnnDestroyFilterDescriptor(d);
    }
    filter_descriptor(const filter_descriptor&) = delete;
    filter_descriptor& operator=(const filter_descriptor&) = delete;
};
struct convolution_descriptor {
    cudnnConvolutionDescriptor_t d = nullptr;
    convolution_descriptor() { EBM_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d)); }
    ~convolution_descriptor() {
        if (d != nullptr) (void)cudnnDestroyConvolutionDescriptor(d);
    }
    convolution_descriptor(const convolution_descriptor&) = delete;
    convolution_descriptor& operator=(const convolution_descriptor&) = delete;
};

/// One convolution on the cuDNN path: its shape (the GEMM engine's description) and cuDNN's descriptors.
struct conv_level : convolution_gemm::level {
    tensor_descriptor input, output, bias;
    filter_descriptor filter;
    convolution_descriptor conv;
    cudnnConvolutionFwdAlgo_t fwd_algo{};
    cudnnConvolutionBwdDataAlgo_t bwd_data_algo{};
    cudnnConvolutionBwdFilterAlgo_t bwd_filter_algo{};
    device_buffer<float> out;   // activations of this layer (after bias and LeakyReLU), out_c*out_h*out_w x chains
};

/// Whether one of cuDNN's algorithm reports may be used under `options` with at most `memory_limit` bytes of
/// workspace: it ran, deterministic when asked, and no tensor-core math unless TF32 is allowed.
template <class Perf>
bool usable_algorithm(const Perf& perf, const compute_options& options, std::size_t memory_limit) {
    if (perf.status != CUDNN_STATUS_SUCCESS || perf.memory > memory_limit) return false;
    if (options.deterministic && perf.determinism != CUDNN_DETERMINISTIC) return false;
    return options.tf32 || (perf.mathType != CUDNN_TENSOR_OP_MATH && perf.mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION);
}

/// The first usable entry of cuDNN's list (heuristic order, or fastest first after a search).
template <class Perf, class Algo>
void take_first_usable(const char* where, const char* pass, const Perf* perf, int returned, const compute_options& options,
                       std::size_t memory_limit, Algo& algo) {
    for (int k = 0; k < returned; ++k)
        if (usable_algorithm(perf[k], options, memory_limit)) {
            algo = perf[k].algo;
            return;
        }
    ebm::detail::fail(where, std::string("cuDNN offers no usable ") + pass + " algorithm for a layer (deterministic " +
                                 (options.deterministic ? "required" : "not required") + ", tf32 " +
                                 (options.tf32 ? "on" : "off") + ")",
                      returned);
}

/// The forward, backward-data and backward-filter algorithms of one convolution under `options`: with
/// options.search, cudnnFind*Ex times every candidate once on scratch buffers of the layer's shapes (workspace up to
/// options.search_workspace_limit, and at most half the free device memory) and the fastest usable one is kept;
/// otherwise cuDNN's heuristic order (cudnnGet*_v7). `scratch` grows to the largest workspace of the three.
/// Synchronous: called when a plan is made, never inside a captured chain.
inline void choose_conv_algorithms(const char* where, cudnnHandle_t h, cudnnTensorDescriptor_t input,
                                   cudnnFilterDescriptor_t filter, cudnnConvolutionDescriptor_t conv,
                                   cudnnTensorDescriptor_t output, const compute_options& options,
                                   cudnnConvolutionFwdAlgo_t& fwd_algo, cudnnConvolutionBwdDataAlgo_t& bwd_data_algo,
                                   cudnnConvolutionBwdFilterAlgo_t& bwd_filter_algo, std::size_t& scratch) {
    int returned = 0;
    cudnnConvolutionFwdAlgoPerf_t fwd[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    cudnnConvolutionBwdDataAlgoPerf_t bwd_data[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    cudnnConvolutionBwdFilterAlgoPerf_t bwd_filter[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    if (options.search) {
        std::size_t in_bytes = 0, out_bytes = 0, filter_bytes = 0, free_bytes = 0, total_bytes = 0;
        EBM_CUDNN_CHECK(cudnnGetTensorSizeInBytes(input, &in_bytes));
        EBM_CUDNN_CHECK(cudnnGetTensorSizeInBytes(output, &out_bytes));
        EBM_CUDNN_CHECK(cudnnGetFilterSizeInBytes(filter, &filter_bytes));
        EBM_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
        const std::size_t limit = std::min(options.search_workspace_limit, free_bytes / 2);
        const auto floats = [](std::size_t bytes) { return static_cast<index>((bytes + sizeof(float) - 1) / sizeof(float)); };
        device_buffer<float> x(floats(in_bytes)), y(floats(out_bytes)), w(floats(filter_bytes));
        device_buffer<unsigned char> work(static_cast<index>(std::max<std::size_t>(limit, 1)));
        EBM_CUDA_CHECK(cudaMemset(x.data(), 0, in_bytes));
        EBM_CUDA_CHECK(cudaMemset(y.data(), 0, out_bytes));
        EBM_CUDA_CHECK(cudaMemset(w.data(), 0, filter_bytes));
        EBM_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, input, x.data(), filter, w.data(), conv, output,
                                                               y.data(), CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, fwd,
                                                               work.data(), limit));
        take_first_usable(where, "forward", fwd, returned, options, limit, fwd_algo);
        EBM_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(h, filter, w.data(), output, y.data(), conv, input,
                                                                    x.data(), CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                                    &returned, bwd_data, work.data(), limit));
        take_first_usable(where, "backward-data", bwd_data, returned, options, limit, bwd_data_algo);
        EBM_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(h, input, x.data(), output, y.data(), conv, filter,
                                                                      w.data(), CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
                                                                      &returned, bwd_filter, work.data(), limit));
        take_first_usable(where, "backward-filter", bwd_filter, returned, options, limit, bwd_filter_algo);
    } else {
        constexpr std::size_t any_size = static_cast<std::size_t>(-1);
        EBM_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, input, filter, conv, output,
                                                               CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, fwd));
        take_first_usable(where, "forward", fwd, returned, options, any_size, fwd_algo);
        EBM_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, filter, output, conv, input,
                                                                    CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned,
                                                                    bwd_data));
        take_first_usable(where, "backward-data", bwd_data, returned, options, any_size, bwd_data_algo);
        EBM_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, input, output, conv, filter,
                                                                      CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &returned,
                                                                      bwd_filter));
        take_first_usable(where, "backward-filter", bwd_filter, returned, options, any_size, bwd_filter_algo);
    }
    std::size_t bytes = 0;
    EBM_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, input, filter, conv, output, fwd_algo, &bytes));
    scratch = std::max(scratch, bytes);
    EBM_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, filter, output, conv, input, bwd_data_algo, &bytes));
    scratch = std::max(scratch, bytes);
    EBM_CUDNN_CHECK(
        cudnnGetConvolutionBackwardFilterWorkspaceSize(h, input, output, conv, filter, bwd_filter_algo, &bytes));
    scratch = std::max(scratch, bytes);
}

/// Everything one batch size needs. The cuDNN engine: descriptors, algorithms, activations (NCHW), two gradient
/// buffers and the cuDNN workspace. The GEMM engine: convolution_gemm's plan and its device memory.
struct convnet_plan {
    index chains = 0;
    std::vector<std::unique_ptr<conv_level>> levels;
    device_buffer<float> ping, pong;      // dU/d(activation) buffers, widest layer x chains
    device_buffer<unsigned char> scratch;  // cuDNN workspace (largest over layers and passes)
    convolution_gemm::plan gemm;
    std::vector<device_buffer<float>> gemm_activations;
    device_buffer<float> gemm_columns, gemm_diff[2], gemm_ones;
    convolution_gemm::buffers gemm_buffers;
};

}  // namespace detail

class convnet {
public:
    using memory_space = ebm::device_space;  // its data lives in device memory: the backend is ebm::cuda
    static constexpr bool split_chains_across_threads = false;

    class workspace {
    public:
        [[nodiscard]] index capacity() const { return capacity_; }
        [[nodiscard]] cudaStream_t get_stream() const { return lane_.get(); }

    private:
        friend class convnet;
        index capacity_ = 0;
        compute_options options_;
        detail::blas_lane lane_;  // stream, cuBLAS handle and its fixed workspace
        std::unique_ptr<detail::cudnn_handle_owner> handle_;
        std::vector<std::unique_ptr<detail::convnet_plan>> plans_;
        device_buffer<float> top_;  // capacity
        detail::network_plans hessian_plans_;  // made by the first Hessian-vector product for a batch size
    };

    explicit convnet(convnet_architecture arch, bool negate_output = false, seed init_seed = seed{0})
        : arch_(std::move(arch)), negate_(negate_output) {
        validate();
        tensors_ = convnet_parameter_tensors(arch_);
        hessian_layout_ = compile_network(convnet_network(arch_, negate_));
        for (std::size_t t = 0; t < tensors_.size(); t += 2) {
            weight_offsets_.push_back(tensors_[t].offset);
            bias_offsets_.push_back(tensors_[t + 1].offset);
        }
        parameters_.resize(tensors_.back().offset + tensors_.back().count());
        reset_parameters(init_seed);
    }
    convnet(const convnet& other) : arch_(other.arch_), negate_(other.negate_), options_(other.options_), tensors_(other.tensors_),
                                    weight_offsets_(other.weight_offsets_), bias_offsets_(other.bias_offsets_),
                                    hessian_layout_(other.hessian_layout_), parameters_(other.parameters_.size()) {
        EBM_CUDA_CHECK(cudaMemcpy(parameters_.data(), other.parameters_.data(), parameters_.bytes(),
                                  cudaMemcpyDeviceToDevice));
    }
    convnet(convnet&&) noexcept = default;

    /// The short-run paper's network for image_size 32, 64 or 128 (Tables 4-6), as ebm::convnet::short_run.
    static convnet short_run(index image_size = 32, index n_f = 64, index channels = 3, float negative_slope = 0.2f,
                             bool negate_output = false, seed init_seed = seed{0}) {
        return convnet(short_run_architecture(image_size, n_f, channels, negative_slope), negate_output, init_seed);
    }
    /// The Anatomy code's VanillaNet: short_run(32) with n_f 32 and LeakyReLU 0.05.
    static convnet vanilla(index channels = 3, index n_f = 32, float negative_slope = 0.05f, seed init_seed = seed{0}) {
        return convnet(vanilla_architecture(channels, n_f, negative_slope), false, init_seed);
    }

    /// PyTorch's nn.Conv2d default initialisation from the seed (the CPU convnet's streams), on the device.
    void reset_parameters(seed init_seed) {
        const philox rng(init_seed);
        index c = arch_.channels;
        for (std::size_t l = 0; l < arch_.layers.size(); ++l) {
            const conv_layer& layer = arch_.layers[l];
            const index fan_in = c * layer.kernel * layer.kernel;
            const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
            const index nw = layer.out_channels * fan_in, nb = layer.out_channels;
            launch_elements(kernels::blocks_per_chain(nw), kernels::uniform_fill{parameters_.data() + weight_offsets_[l], nw, rng,
                                                               purpose::parameter_init, static_cast<std::uint32_t>(2 * l),
                                                               {}, -bound, bound});
            launch_elements(kernels::blocks_per_chain(nb), kernels::uniform_fill{parameters_.data() + bias_offsets_[l], nb, rng,
                                                               purpose::parameter_init,
                                                               static_cast<std::uint32_t>(2 * l + 1), {}, -bound, bound});
            c = layer.out_channels;
        }
        EBM_CUDA_CHECK(cudaDeviceSynchronize());
    }

    [[nodiscard]] const convnet_architecture& architecture() const { return arch_; }
    /// Names, shapes and offsets of the parameters: the same list as ebm::convnet::parameter_tensors().
    [[nodiscard]] const std::vector<parameter_tensor>& parameter_tensors() const { return tensors_; }
    /// As ebm::convnet::options() (checkpoints describe the energy the same way on both backends).
    [[nodiscard]] convnet_options options() const { return {negate_}; }
    [[nodiscard]] index dimension() const { return arch_.channels * arch_.height * arch_.width; }
    [[nodiscard]] index parameter_count() const { return parameters_.size(); }
    [[nodiscard]] device_span<float> parameters() { return {parameters_.data(), static_cast<std::size_t>(parameters_.size())}; }
    [[nodiscard]] device_span<const float> parameters() const {
        return {parameters_.data(), static_cast<std::size_t>(parameters_.size())};
    }
    void upload_parameters(std::span<const float> host) { parameters_.upload(host); }
    void download_parameters(std::span<float> host) const { parameters_.download(host); }

    /// 2 x multiply-adds of one forward pass per chain (backward-data costs about the same).
    [[nodiscard]] double forward_flops_per_chain() const { return forward_flops(arch_); }

    /// Arithmetic, engine and algorithm choice (compute_options.hpp) of the workspaces made from now on.
    void set_compute_options(const compute_options& options) {
        const char* where = "cuda::convnet::set_compute_options";
        if (options.search_workspace_limit == 0) ebm::detail::fail(where, "search_workspace_limit must be positive", 0);
        if (options.gemm_column_floats == 0 || options.gemm_column_floats > (std::size_t{1} << 31))
            ebm::detail::fail(where, "gemm_column_floats must be in [1, 2^31]", options.gemm_column_floats);
        options_ = options;
    }
    [[nodiscard]] const compute_options& get_compute_options() const { return options_; }

    /// A workspace for up to max_chains chains (its own stream, cuDNN and cuBLAS handles) with the plan for
    /// max_chains; other batch sizes get theirs on first use.
    [[nodiscard]] workspace make_workspace(index max_chains) const {
        ebm::detail::require_positive("cuda::convnet::make_workspace", "max_chains", max_chains);
        workspace ws;
        ws.capacity_ = max_chains;
        ws.options_ = options_;
        ws.lane_ = detail::blas_lane(options_.tf32);
        ws.handle_ = std::make_unique<detail::cudnn_handle_owner>();
        EBM_CUDNN_CHECK(cudnnSetStream(ws.handle_->h, ws.lane_.get()));
        ws.top_.resize(max_chains);
        ws.plans_.push_back(make_plan(ws, max_chains));
        ws.lane_.synchronize();
        return ws;
    }

    void energy(const_device_batch_view x, device_span<float> u, workspace& ws) const {
        check_call("cuda::convnet::energy", x, u, ws);
        detail::convnet_plan& plan = plan_for(ws, x.count);
        forward(plan, x, u.data(), ws);
    }

    void energy_and_gradient(const_device_batch_view x, device_span<float> u, device_batch_view g, workspace& ws) const {
        check_call("cuda::convnet::energy_and_gradient", x, u, ws);
        detail::convnet_plan& plan = plan_for(ws, x.count);
        forward(plan, x, u.data(), ws);
        backward(plan, x, nullptr, nullptr, g.data, ws);
    }

    void accumulate_parameter_gradient(const_device_batch_view x, device_span<const float> weights, device_span<float> grad,
                                       device_span<float> u, workspace& ws) const {
        const char* where = "cuda::convnet::accumulate_parameter_gradient";
        check_call(where, x, u, ws);
        if (static_cast<index>(weights.size()) != x.count)
            ebm::detail::fail(where, "weights must have one entry per chain (" + ebm::detail::to_text(x.count) + ")",
                              weights.size());
        if (static_cast<index>(grad.size()) != parameter_count())
            ebm::detail::fail(where, "grad must have parameter_count() = " + ebm::detail::to_text(parameter_count()) +
                                         " entries", grad.size());
        detail::convnet_plan& plan = plan_for(ws, x.count);
        forward(plan, x, u.data(), ws);
        backward(plan, x, weights.data(), grad.data(), nullptr, ws);
    }

    /// A chain of convolutions and LeakyReLUs: the Hessian is zero wherever it exists (short_run_map then skips the
    /// products).
    [[nodiscard]] bool piecewise_linear() const { return hessian_layout_.piecewise_linear; }

    /// hv_i = (d2U/dx2)(x_i) v_i, exact and so zero: the composed network's tangent passes (backend/network_gemm.hpp,
    /// as cuda_backend::network and the CPU ebm::convnet compute it) on these parameters, in its flat order. The
    /// first call for a batch size makes that engine's buffers; FP32 or TF32 as the workspace.
    void hessian_vector_product(const_device_batch_view x, const_device_batch_view v, device_batch_view hv,
                                workspace& ws) const {
        ws.hessian_plans_.hessian_vector_product("cuda::convnet::hessian_vector_product", ws.capacity_, hessian_layout_,
                                                 ws.lane_, ws.options_.gemm_column_floats, parameters_.data(), x, v, hv);
    }

private:
    void validate() const {
        if (arch_.layers.empty()) ebm::detail::fail("cuda::convnet", "architecture must have layers", 0);
        ebm::detail::require_in_open("cuda::convnet", "negative_slope", arch_.negative_slope, 0.0f, 1.0f);
        index c = arch_.channels, h = arch_.height, w = arch_.width;
        for (const conv_layer& layer : arch_.layers) {
            ebm::detail::require_positive("cuda::convnet", "out_channels", layer.out_channels);
            ebm::detail::require_positive("cuda::convnet", "kernel", layer.kernel);
            ebm::detail::require_positive("cuda::convnet", "stride", layer.stride);
            h = (h + 2 * layer.padding - layer.kernel) / layer.stride + 1;
            w = (w + 2 * layer.padding - layer.kernel) / layer.stride + 1;
            if (h <= 0 || w <= 0) ebm::detail::fail("cuda::convnet", "a layer's output would be empty", arch_.name);
            c = layer.out_channels;
        }
        if (c != 1 || h != 1 || w != 1)
            ebm::detail::fail("cuda::convnet", "the last layer must produce 1 x 1 x 1 per chain", arch_.name);
    }

    void check_call(const char* where, const_device_batch_view x, device_span<float> u, const workspace& ws) const {
        if (x.dimension != dimension())
            ebm::detail::fail(where, "x dimension must equal " + ebm::detail::to_text(dimension()), x.dimension);
        if (x.count <= 0 || x.count > ws.capacity_)
            ebm::detail::fail(where, "x must hold between 1 and the workspace capacity " +
                                         ebm::detail::to_text(ws.capacity_) + " chains", x.count);
        if (static_cast<index>(u.size()) < x.count)
            ebm::detail::fail(where, "u must have one entry per chain (" + ebm::detail::to_text(x.count) + ")", u.size());
    }

    detail::convnet_plan& plan_for(workspace& ws, index chains) const {
        for (auto& p : ws.plans_)
            if (p->chains == chains) return *p;
        ws.plans_.push_back(make_plan(ws, chains));
        return *ws.plans_.back();
    }

    std::unique_ptr<detail::convnet_plan> make_plan(workspace& ws, index chains) const {
        auto plan = std::make_unique<detail::convnet_plan>();
        plan->chains = chains;
        if (ws.options_.convolutions == convolution_engine::gemm) {
            make_gemm_plan(ws, *plan);
            return plan;
        }
        cudnnHandle_t h = ws.handle_->h;
        const cudnnMathType_t math = ws.options_.tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
        const std::vector<convolution_gemm::level> shapes = convolution_gemm::levels_of(arch_);
        index widest = 0;
        std::size_t scratch = 0;
        for (const convolution_gemm::level& shape : shapes) {
            auto level = std::make_unique<detail::conv_level>();
            detail::conv_level& v = *level;
            static_cast<convolution_gemm::level&>(v) = shape;
            v.input.set(chains, v.in_c, v.in_h, v.in_w);
            v.output.set(chains, v.out_c, v.out_h, v.out_w);
            v.bias.set(1, v.out_c, 1, 1);
            EBM_CUDNN_CHECK(cudnnSetFilter4dDescriptor(v.filter.d, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                                       static_cast<int>(v.out_c), static_cast<int>(v.in_c),
                                                       static_cast<int>(v.kernel), static_cast<int>(v.kernel)));
            EBM_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(v.conv.d, static_cast<int>(v.padding), static_cast<int>(v.padding),
                                                            static_cast<int>(v.stride), static_cast<int>(v.stride), 1, 1,
                                                            CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
            EBM_CUDNN_CHECK(cudnnSetConvolutionMathType(v.conv.d, math));
            detail::choose_conv_algorithms("cuda::convnet", h, v.input.d, v.filter.d, v.conv.d, v.output.d, ws.options_,
                                           v.fwd_algo, v.bwd_data_algo, v.bwd_filter_algo, scratch);
            v.out.resize(v.out_c * v.out_h * v.out_w * chains);
            widest = std::max(widest, std::max(v.in_c * v.in_h * v.in_w, v.out_c * v.out_h * v.out_w));
            plan->levels.push_back(std::move(level));
        }
        plan->ping.resize(widest * chains);
        plan->pong.resize(widest * chains);
        plan->scratch.resize(static_cast<index>(std::max<std::size_t>(scratch, 1)));
        return plan;
    }

    void make_gemm_plan(workspace& ws, detail::convnet_plan& plan) const {
        plan.gemm = convolution_gemm::make_plan(arch_, plan.chains, negate_,
                                               static_cast<index>(ws.options_.gemm_column_floats));
        const convolution_gemm::plan& p = plan.gemm;
        convolution_gemm::buffers& b = plan.gemm_buffers;
        for (std::size_t l = 0; l < p.levels.size(); ++l) {
            plan.gemm_activations.emplace_back(p.activation_elements(l));
            b.activations.push_back(plan.gemm_activations.back().data());
        }
        plan.gemm_columns.resize(p.column_elements);
        plan.gemm_diff[0].resize(p.diff_elements);
        plan.gemm_diff[1].resize(p.diff_elements);
        plan.gemm_ones.resize(p.ones_elements);
        launch_elements(p.ones_elements, kernels::fill_value{plan.gemm_ones.data(), 1.0f}, ws.get_stream());
        b.columns = plan.gemm_columns.data();
        b.diff[0] = plan.gemm_diff[0].data();
        b.diff[1] = plan.gemm_diff[1].data();
        b.ones = plan.gemm_ones.data();
        b.top = ws.top_.data();
    }

    void forward(detail::convnet_plan& plan, const_device_batch_view x, float* u, workspace& ws) const {
        if (ws.options_.convolutions == convolution_engine::gemm) {
            const detail::cublas_ops ops = ws.lane_.ops();
            convolution_gemm::forward(plan.gemm, plan.gemm_buffers, ops, parameters_.data(), x.data, u);
            return;
        }
        cudnnHandle_t h = ws.handle_->h;
        cudaStream_t s = ws.get_stream();
        const float one = 1.0f, zero = 0.0f;
        const float* input = x.data;
        for (auto& level : plan.levels) {
            detail::conv_level& v = *level;
            EBM_CUDNN_CHECK(cudnnConvolutionForward(h, &one, v.input.d, input, v.filter.d,
                                                    parameters_.data() + v.weight_offset, v.conv.d, v.fwd_algo,
                                                    plan.scratch.data(), static_cast<std::size_t>(plan.scratch.size()),
                                                    &zero, v.output.d, v.out.data()));
            launch_elements(v.out.size(), convnet_functors::bias_leaky_relu{v.out.data(), parameters_.data() + v.bias_offset,
                                                                           v.out_h * v.out_w, v.out_c,
                                                                           arch_.negative_slope, v.activation}, s);
            input = v.out.data();
        }
        launch_elements(x.count, convnet_functors::read_energy{u, plan.levels.back()->out.data(), negate_ ? -1.0f : 1.0f}, s);
    }

    // dU/d(output) = sign (* weights) at the top, down through every layer; parameter gradients accumulate into
    // grad when given; dU/dx goes to gx when given.
    void backward(detail::convnet_plan& plan, const_device_batch_view x, const float* weights, float* grad, float* gx,
                  workspace& ws) const {
        if (ws.options_.convolutions == convolution_engine::gemm) {
            const detail::cublas_ops ops = ws.lane_.ops();
            convolution_gemm::backward(plan.gemm, plan.gemm_buffers, ops, parameters_.data(), x.data, weights, grad, gx);
            return;
        }
        cudnnHandle_t h = ws.handle_->h;
        cudaStream_t s = ws.get_stream();
        const float one = 1.0f, zero = 0.0f;
        launch_elements(x.count, convnet_functors::top_gradient{ws.top_.data(), weights, negate_ ? -1.0f : 1.0f}, s);
        const float* diff = ws.top_.data();  // dU/d(output of level l), NCHW
        float* buffers[2] = {plan.ping.data(), plan.pong.data()};
        int next_buffer = 0;
        for (index l = static_cast<index>(plan.levels.size()) - 1; l >= 0; --l) {
            detail::conv_level& v = *plan.levels[static_cast<std::size_t>(l)];
            const float* input = l == 0 ? x.data : plan.levels[static_cast<std::size_t>(l) - 1]->out.data();
            if (grad != nullptr) {
                EBM_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, v.input.d, input, v.output.d, diff, v.conv.d,
                                                               v.bwd_filter_algo, plan.scratch.data(),
                                                               static_cast<std::size_t>(plan.scratch.size()), &one,
                                                               v.filter.d, grad + v.weight_offset));
                EBM_CUDNN_CHECK(cudnnConvolutionBackwardBias(h, &one, v.output.d, diff, &one, v.bias.d,
                                                             grad + v.bias_offset));
            }
            if (l == 0 && gx == nullptr) break;
            float* target = l == 0 ? gx : buffers[next_buffer];
            EBM_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, v.filter.d, parameters_.data() + v.weight_offset,
                                                         v.output.d, diff, v.conv.d, v.bwd_data_algo, plan.scratch.data(),
                                                         static_cast<std::size_t>(plan.scratch.size()), &zero, v.input.d,
                                                         target));
            if (l > 0) {
                const detail::conv_level& below = *plan.levels[static_cast<std::size_t>(l) - 1];
                launch_elements(below.out.size(), convnet_functors::leaky_relu_backward{target, below.out.data(),
                                                                                        arch_.negative_slope}, s);
            }
            diff = target;
            next_buffer ^= 1;
        }
    }

    convnet_architecture arch_;
    bool negate_ = false;
    compute_options options_;
    std::vector<parameter_tensor> tensors_;
    std::vector<index> weight_offsets_, bias_offsets_;
    network_layout hessian_layout_;  // the same net as a composed network (convnet_network): its Hessian-vector product
    device_buffer<float> parameters_;
};

}  // namespace ebm::cuda_backend
