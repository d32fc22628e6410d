#pragma once
// ConvNet energies on the GPU with cuDNN 9: the same networks, parameter layout and initialisation as the CPU's
// oneDNN ebm::convnet (energy/convnet.hpp) -- a chain of convolutions, each but the last followed by LeakyReLU,
// ending in one scalar per chain; parameters flat in PyTorch's state_dict order ("f.<2l>.weight" OIHW, then
// "f.<2l>.bias"); default init U(-1/sqrt(fan_in), 1/sqrt(fan_in)) from Philox (parameter_init, tensor index, 0);
// U = network output, or its negative with negate_output (weights trained with the short-run code).
//
//   short_run(32):  conv3x3 s1 p1 (C -> n_f), conv4x4 s2 p1 (n_f -> 2n_f -> 4n_f -> 8n_f), conv4x4 s1 p0 (8n_f -> 1)
//   short_run(64/128): one/two more conv4x4 s2 p1 (8n_f -> 8n_f) before the last;  vanilla(): n_f 32, slope 0.05
//
// Execution per layer: cudnnConvolutionForward, then bias + LeakyReLU in one element-wise pass (cuDNN's legacy
// fused cudnnConvolutionBiasActivationForward only offers ReLU/identity activations; LeakyReLU fusion needs the
// graph API's runtime-fusion engines -- the documented next step, see docs/cuda.md); backward:
// LeakyReLU' from the stored outputs (slope > 0: a > 0 iff z > 0), cudnnConvolutionBackwardData,
// cudnnConvolutionBackwardFilter and cudnnConvolutionBackwardBias accumulating (beta = 1) straight into the caller's
// flat gradient (cuDNN's KCRS filter layout is PyTorch's OIHW). Algorithms are chosen once per batch size by cuDNN's
// heuristics (deterministic ones for backward-filter), with one workspace of the largest size. FP32 math
// (CUDNN_FMA_MATH, no TF32) unless the workspace is made with tf32 = true.
//
// Batches, energies and gradients are device memory; calls are enqueued on the workspace's stream (capturable in a
// CUDA graph). Needs nvcc (it launches the element-wise kernels).
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
#include "../../error.hpp"
#include "../../random/philox.hpp"
#include "check.cuh"
#include "cuda_tag.hpp"
#include "../../kernels/elements.hpp"
#include "../../kernels/noise.hpp"
#include "launch.cuh"
#include "memory.cuh"

namespace ebm::cuda_backend {

// The shape description is the CPU convnet's (energy/convnet_architecture.hpp).
using ebm::conv_layer;
using ebm::convnet_architecture;

namespace convnet_functors {

/// z <- LeakyReLU(z + b[channel]) in place (NCHW, `plane` = H * W elements per channel).
struct bias_leaky_relu {
    float* z;
    const float* bias;
    index plane;
    index channels;
    float slope;
    bool activation;
    EBM_HOST_DEVICE void operator()(index k) const {
        const float v = z[k] + bias[(k / plane) % channels];
        z[k] = activation ? (v > 0.0f ? v : slope * v) : v;
    }
};

/// d <- d * LeakyReLU'(z), from the stored output a (a > 0 iff z > 0 when slope > 0).
struct leaky_relu_backward {
    float* d;
    const float* a;
    float slope;
    EBM_HOST_DEVICE void operator()(index k) const { d[k] = a[k] > 0.0f ? d[k] : slope * d[k]; }
};

/// top[i] = sign * (weights ? weights[i] : 1): dU/d(network output).
struct top_gradient {
    float* top;
    const float* weights;
    float sign;
    EBM_HOST_DEVICE void operator()(index k) const { top[k] = weights != nullptr ? sign * weights[k] : sign; }
};

/// u[i] = sign * out[i] (+ the bias is already in out).
struct read_energy {
    float* u;
    const float* out;
    float sign;
    EBM_HOST_DEVICE void operator()(index k) const { u[k] = sign * out[k]; }
};

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

struct conv_level {
    index in_c = 0, in_h = 0, in_w = 0, out_c = 0, out_h = 0, out_w = 0, kernel = 0, stride = 1, padding = 0;
    index weight_offset = 0, bias_offset = 0;
    bool activation = true;
    tensor_descriptor input, output, bias;
    filter_descriptor filter;
    convolution_descriptor conv;
    cudnnConvolutionFwdAlgo_t fwd_algo{};
    cudnnConvolutionBwdDataAlgo_t bwd_data_algo{};
    cudnnConvolutionBwdFilterAlgo_t bwd_filter_algo{};
    device_buffer<float> out;   // activations of this layer (after bias and LeakyReLU), out_c*out_h*out_w x chains
};

/// cuDNN's heuristic choice of the forward, backward-data and backward-filter algorithms of one convolution
/// (the first that cuDNN reports usable; deterministic ones first for the backward passes); scratch grows to the
/// largest workspace of the three. `where` names the network in the error when cuDNN offers none.
inline void choose_conv_algorithms(const char* where, cudnnHandle_t h, cudnnTensorDescriptor_t input,
                                   cudnnFilterDescriptor_t filter, cudnnConvolutionDescriptor_t conv,
                                   cudnnTensorDescriptor_t output, cudnnConvolutionFwdAlgo_t& fwd_algo,
                                   cudnnConvolutionBwdDataAlgo_t& bwd_data_algo,
                                   cudnnConvolutionBwdFilterAlgo_t& bwd_filter_algo, std::size_t& scratch) {
    int returned = 0;
    cudnnConvolutionFwdAlgoPerf_t fwd[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    EBM_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, input, filter, conv, output,
                                                           CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, fwd));
    bool found = false;
    for (int k = 0; k < returned && !found; ++k)
        if (fwd[k].status == CUDNN_STATUS_SUCCESS) {
            fwd_algo = fwd[k].algo;
            found = true;
        }
    if (!found) ebm::detail::fail(where, "cuDNN offers no forward algorithm for a layer", "none");
    cudnnConvolutionBwdDataAlgoPerf_t bwd_data[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    EBM_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, filter, output, conv, input,
                                                                CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned,
                                                                bwd_data));
    found = false;
    for (int pass = 0; pass < 2 && !found; ++pass)  // deterministic first, then any
        for (int k = 0; k < returned && !found; ++k)
            if (bwd_data[k].status == CUDNN_STATUS_SUCCESS &&
                (pass == 1 || bwd_data[k].determinism == CUDNN_DETERMINISTIC)) {
                bwd_data_algo = bwd_data[k].algo;
                found = true;
            }
    if (!found) ebm::detail::fail(where, "cuDNN offers no backward-data algorithm for a layer", "none");
    cudnnConvolutionBwdFilterAlgoPerf_t bwd_filter[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    EBM_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, input, output, conv, filter,
                                                                  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &returned,
                                                                  bwd_filter));
    found = false;
    for (int pass = 0; pass < 2 && !found; ++pass)
        for (int k = 0; k < returned && !found; ++k)
            if (bwd_filter[k].status == CUDNN_STATUS_SUCCESS &&
                (pass == 1 || bwd_filter[k].determinism == CUDNN_DETERMINISTIC)) {
                bwd_filter_algo = bwd_filter[k].algo;
                found = true;
            }
    if (!found) ebm::detail::fail(where, "cuDNN offers no backward-filter algorithm for a layer", "none");
    std::size_t bytes = 0;
    EBM_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, input, filter, conv, output, fwd_algo, &bytes));
    scratch = std::max(scratch, bytes);
    EBM_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, filter, output, conv, input, bwd_data_algo, &bytes));
    scratch = std::max(scratch, bytes);
    EBM_CUDNN_CHECK(
        cudnnGetConvolutionBackwardFilterWorkspaceSize(h, input, output, conv, filter, bwd_filter_algo, &bytes));
    scratch = std::max(scratch, bytes);
}

/// Descriptors, algorithms, activations and the cuDNN workspace for one batch size.
struct convnet_plan {
    index chains = 0;
    std::vector<std::unique_ptr<conv_level>> levels;
    device_buffer<float> ping, pong;      // dU/d(activation) buffers, widest layer x chains
    device_buffer<unsigned char> scratch;  // cuDNN workspace (largest over layers and passes)
};

}  // namespace detail

class convnet {
public:
    using memory_space = ebm::device_space;  // its data lives in device memory: the backend is ebm::cuda
    static constexpr bool split_chains_across_threads = false;

    class workspace {
    public:
        [[nodiscard]] index capacity() const { return capacity_; }
        [[nodiscard]] cudaStream_t get_stream() const { return work_stream_->get(); }

    private:
        friend class convnet;
        index capacity_ = 0;
        bool tf32_ = false;
        std::unique_ptr<stream> work_stream_;
        std::unique_ptr<detail::cudnn_handle_owner> handle_;
        std::vector<std::unique_ptr<detail::convnet_plan>> plans_;
        device_buffer<float> top_;  // capacity
    };

    explicit convnet(convnet_architecture arch, bool negate_output = false, seed init_seed = seed{0})
        : arch_(std::move(arch)), negate_(negate_output) {
        validate();
        tensors_ = convnet_parameter_tensors(arch_);
        for (std::size_t t = 0; t < tensors_.size(); t += 2) {
            weight_offsets_.push_back(tensors_[t].offset);
            bias_offsets_.push_back(tensors_[t + 1].offset);
        }
        parameters_.resize(tensors_.back().offset + tensors_.back().count());
        reset_parameters(init_seed);
    }
    convnet(const convnet& other) : arch_(other.arch_), negate_(other.negate_), tensors_(other.tensors_),
                                    weight_offsets_(other.weight_offsets_),
                                    bias_offsets_(other.bias_offsets_), parameters_(other.parameters_.size()) {
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

    [[nodiscard]] workspace make_workspace(index max_chains, bool tf32 = false) const {
        ebm::detail::require_positive("cuda::convnet::make_workspace", "max_chains", max_chains);
        workspace ws;
        ws.capacity_ = max_chains;
        ws.tf32_ = tf32;
        ws.work_stream_ = std::make_unique<stream>();
        ws.handle_ = std::make_unique<detail::cudnn_handle_owner>();
        EBM_CUDNN_CHECK(cudnnSetStream(ws.handle_->h, ws.work_stream_->get()));
        ws.top_.resize(max_chains);
        ws.plans_.push_back(make_plan(ws, max_chains));
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
        cudnnHandle_t h = ws.handle_->h;
        const cudnnMathType_t math = ws.tf32_ ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
        index c = arch_.channels, height = arch_.height, width = arch_.width, widest = 0;
        std::size_t scratch = 0;
        for (std::size_t l = 0; l < arch_.layers.size(); ++l) {
            const conv_layer& layer = arch_.layers[l];
            auto level = std::make_unique<detail::conv_level>();
            detail::conv_level& v = *level;
            v.in_c = c;
            v.in_h = height;
            v.in_w = width;
            v.out_c = layer.out_channels;
            v.kernel = layer.kernel;
            v.stride = layer.stride;
            v.padding = layer.padding;
            v.out_h = (height + 2 * layer.padding - layer.kernel) / layer.stride + 1;
            v.out_w = (width + 2 * layer.padding - layer.kernel) / layer.stride + 1;
            v.weight_offset = weight_offsets_[l];
            v.bias_offset = bias_offsets_[l];
            v.activation = l + 1 < arch_.layers.size();
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
            choose_algorithms(h, v, scratch);
            v.out.resize(v.out_c * v.out_h * v.out_w * chains);
            widest = std::max(widest, std::max(v.in_c * v.in_h * v.in_w, v.out_c * v.out_h * v.out_w));
            plan->levels.push_back(std::move(level));
            c = v.out_c;
            height = v.out_h;
            width = v.out_w;
        }
        plan->ping.resize(widest * chains);
        plan->pong.resize(widest * chains);
        plan->scratch.resize(static_cast<index>(std::max<std::size_t>(scratch, 1)));
        return plan;
    }

    static void choose_algorithms(cudnnHandle_t h, detail::conv_level& v, std::size_t& scratch) {
        detail::choose_conv_algorithms("cuda::convnet", h, v.input.d, v.filter.d, v.conv.d, v.output.d, v.fwd_algo,
                                       v.bwd_data_algo, v.bwd_filter_algo, scratch);
    }

    void forward(detail::convnet_plan& plan, const_device_batch_view x, float* u, workspace& ws) const {
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
    std::vector<parameter_tensor> tensors_;
    std::vector<index> weight_offsets_, bias_offsets_;
    device_buffer<float> parameters_;
};

}  // namespace ebm::cuda_backend
