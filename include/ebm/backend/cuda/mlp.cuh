#pragma once
// The toy MLP energy on the GPU with cuBLAS: U(x) = W_L a_{L-1} + b_L, a_l = LeakyReLU(W_l a_{l-1} + b_l), exactly
// the network and the flat parameter layout of ebm::mlp (energy/mlp.hpp: per layer weight out x in row-major, then
// bias, PyTorch's state_dict order), so parameters copy across backends as one array.
//
// It satisfies the same concepts as ebm::mlp (energy_function, learnable_energy) with the same signatures; the
// difference is where the pointers point: batches (const_device_batch_view / device_batch_view), energies and parameter spans
// (device_span) are DEVICE memory, and every call is enqueued on the workspace's stream (asynchronous; synchronise the stream
// before reading results on the host). A workspace owns its stream, cuBLAS handle and cuBLAS workspace, so a
// sampler can capture a K-step chain of these calls in one CUDA graph.
//
// cuBLAS runs in FP32 (no TF32) unless compute_options::tf32 (set_compute_options). Needs nvcc.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <span>
#include <utility>
#include <vector>

#include "../../batch.hpp"
#include "../../config.hpp"
#include "../../energy/parameter_tensor.hpp"
#include "../../error.hpp"
#include "../../random/philox.hpp"
#include "check.cuh"
#include "compute_options.hpp"
#include "cuda_tag.hpp"
#include "../../kernels/elements.hpp"
#include "../../kernels/noise.hpp"
#include "launch.cuh"
#include "memory.cuh"

namespace ebm::cuda_backend {

namespace mlp_functors {

/// a = LeakyReLU(z + b) and z += b, column-major (width x n): element k is row k % width.
struct bias_leaky_relu {
    float* z;
    float* a;
    const float* bias;
    index width;
    float slope;
    EBM_HOST_DEVICE void operator()(index k) const {
        const float v = z[k] + bias[k % width];
        z[k] = v;
        a[k] = v > slope * v ? v : slope * v;  // max(v, slope v), as the CPU's cwiseMax
    }
};

/// u[i] += b (the output bias, read from device memory).
struct add_scalar_bias {
    float* u;
    const float* bias;
    EBM_HOST_DEVICE void operator()(index k) const { u[k] += *bias; }
};

/// delta[:, i] = w_last * (weights ? weights[i] : 1): dU/da of the last hidden layer (weighted for the parameter
/// gradient).
struct broadcast_last_weight {
    float* delta;
    const float* w_last;
    const float* weights;
    index width;
    EBM_HOST_DEVICE void operator()(index k) const {
        const index i = k / width;
        const float w = w_last[k - i * width];
        delta[k] = weights != nullptr ? w * weights[i] : w;
    }
};

/// d <- d * LeakyReLU'(z): dU/dz from dU/da.
struct leaky_relu_backward {
    float* d;
    const float* z;
    float slope;
    EBM_HOST_DEVICE void operator()(index k) const { d[k] = z[k] > 0.0f ? d[k] : slope * d[k]; }
};

}  // namespace mlp_functors

namespace detail {

/// Layer sizes and parameter offsets of an MLP, passed by value to the per-chain kernel.
struct mlp_shape {
    static constexpr int max_layers = 8;
    int layers = 0;                 // weight layers
    int sizes[max_layers + 1] = {};
    int weight_offset[max_layers] = {};
    int bias_offset[max_layers] = {};
    int hidden_floats = 0;          // sum of the hidden widths
    int widest = 0;
};

/// U(x) and dU/dx of one chain per block, the whole network in one launch: the input, every hidden layer's
/// pre-activation z_l and two dU/da buffers live in shared memory; every sum runs in a fixed order (input index, or
/// output index, increasing), so results are deterministic. a = max(z, slope z) as ebm::mlp; the backward pass uses
/// dU/dz = z > 0 ? dU/da : slope dU/da. g == nullptr: the energy alone. (A template, so that a header-defined
/// kernel can be included in several translation units of one program.)
template <class = void>
__global__ void mlp_chain_kernel(mlp_shape s, const float* __restrict__ parameters, const float* __restrict__ x,
                                 float slope, float* __restrict__ u, float* __restrict__ g) {
    extern __shared__ float shared[];
    const index chain = blockIdx.x;
    const int t = static_cast<int>(threadIdx.x), threads = static_cast<int>(blockDim.x);
    const int d = s.sizes[0];
    float* input = shared;                // d
    float* z = input + d;                 // hidden pre-activations, layer after layer
    float* delta = z + s.hidden_floats;   // widest
    float* delta_next = delta + s.widest; // widest
    for (int i = t; i < d; i += threads) input[i] = x[chain * d + i];
    __syncthreads();
    const auto leaky = [slope](float v) { return v > slope * v ? v : slope * v; };
    // Forward: z_l = W_l a_{l-1} + b_l for the hidden layers, then the output.
    const float* previous = input;
    bool previous_hidden = false;
    float* current = z;
    for (int l = 0; l < s.layers; ++l) {
        const int in = s.sizes[l], out = s.sizes[l + 1];
        const float* w = parameters + s.weight_offset[l];
        const float* b = parameters + s.bias_offset[l];
        const bool last = l + 1 == s.layers;
        for (int j = t; j < out; j += threads) {
            float acc = 0.0f;
            for (int i = 0; i < in; ++i)
                acc = __fmaf_rn(w[j * in + i], previous_hidden ? leaky(previous[i]) : previous[i], acc);
            if (last)
                u[chain] = acc + b[j];
            else
                current[j] = acc + b[j];
        }
        __syncthreads();
        if (!last) {
            previous = current;
            previous_hidden = true;
            current += out;
        }
    }
    if (g == nullptr) return;
    // Backward: dU/da of the last hidden layer is the output weight row; then dU/da_{l-1} = W_l^T (dU/dz_l).
    const int last = s.layers - 1;
    const float* w_out = parameters + s.weight_offset[last];
    for (int i = t; i < s.sizes[last]; i += threads) delta[i] = w_out[i];
    __syncthreads();
    const float* z_of = z + s.hidden_floats;  // one past the last hidden layer's z
    for (int l = last - 1; l >= 0; --l) {
        const int in = s.sizes[l], out = s.sizes[l + 1];
        z_of -= out;  // z_l
        const float* w = parameters + s.weight_offset[l];
        float* target = l == 0 ? g + chain * d : delta_next;
        for (int i = t; i < in; i += threads) {
            float acc = 0.0f;
            for (int j = 0; j < out; ++j) {
                const float dz = z_of[j] > 0.0f ? delta[j] : slope * delta[j];
                acc = __fmaf_rn(w[j * in + i], dz, acc);
            }
            target[i] = acc;
        }
        __syncthreads();
        float* swap = delta;
        delta = delta_next;
        delta_next = swap;
    }
}

}  // namespace detail

class mlp {
public:
    using memory_space = ebm::device_space;  // its data lives in device memory: the backend is ebm::cuda
    static constexpr bool split_chains_across_threads = false;  // one workspace drives the whole batch on the GPU

    struct workspace {
        index capacity = 0;
        stream work_stream;
        cublas_handle blas;
        device_buffer<unsigned char> blas_workspace;          // fixed cuBLAS workspace: graph capture never allocates
        std::vector<device_buffer<float>> pre, post;          // z_l, a_l per hidden layer: width x capacity
        device_buffer<float> delta_a, delta_b;                // widest x capacity
        device_buffer<float> ones;                            // capacity ones (bias gradients as GEMV)
        device_buffer<float> output;                          // capacity energies (for energy_and_gradient's u)

        [[nodiscard]] cudaStream_t get_stream() const { return work_stream.get(); }
    };

    /// sizes = {input, hidden..., 1}; parameters initialised as ebm::mlp does (PyTorch's nn.Linear default,
    /// U(-1/sqrt(in), 1/sqrt(in)) from the Philox stream (parameter_init, 2l or 2l+1, 0) of init_seed), on the GPU.
    mlp(std::vector<index> sizes, float negative_slope, seed init_seed = seed{0}) : sizes_(std::move(sizes)), slope_(negative_slope) {
        layout();
        reset_parameters(init_seed);
    }
    /// The same network with the given host parameters (e.g. ebm::mlp::parameters() of a CPU network).
    mlp(std::vector<index> sizes, float negative_slope, std::span<const float> host_parameters)
        : sizes_(std::move(sizes)), slope_(negative_slope) {
        layout();
        if (static_cast<index>(host_parameters.size()) != parameter_count_)
            ebm::detail::fail("cuda::mlp", "host_parameters must have parameter_count() = " +
                                               ebm::detail::to_text(parameter_count_) + " entries",
                              host_parameters.size());
        parameters_.upload(host_parameters);
    }
    mlp(const mlp& other) : sizes_(other.sizes_), slope_(other.slope_), options_(other.options_) {
        layout();
        EBM_CUDA_CHECK(cudaMemcpy(parameters_.data(), other.parameters_.data(), parameters_.bytes(),
                                  cudaMemcpyDeviceToDevice));
    }
    mlp(mlp&&) noexcept = default;
    mlp& operator=(const mlp& other) {
        if (this != &other) {
            mlp copy(other);
            *this = std::move(copy);
        }
        return *this;
    }
    mlp& operator=(mlp&&) noexcept = default;

    void reset_parameters(seed init_seed) {
        const philox rng(init_seed);
        for (std::size_t l = 0; l + 1 < sizes_.size(); ++l) {
            const float bound = 1.0f / std::sqrt(static_cast<float>(sizes_[l]));
            const index nw = sizes_[l] * sizes_[l + 1], nb = sizes_[l + 1];
            launch_elements(kernels::blocks_per_chain(nw),
                            kernels::uniform_fill{parameters_.data() + weight_offset_[l], nw, rng, purpose::parameter_init,
                                         static_cast<std::uint32_t>(2 * l), {}, -bound, bound});
            launch_elements(kernels::blocks_per_chain(nb),
                            kernels::uniform_fill{parameters_.data() + bias_offset_[l], nb, rng, purpose::parameter_init,
                                         static_cast<std::uint32_t>(2 * l + 1), {}, -bound, bound});
        }
        EBM_CUDA_CHECK(cudaDeviceSynchronize());
    }

    [[nodiscard]] index dimension() const { return sizes_.front(); }
    [[nodiscard]] const std::vector<index>& layer_sizes() const { return sizes_; }
    [[nodiscard]] float negative_slope() const { return slope_; }
    [[nodiscard]] index parameter_count() const { return parameter_count_; }
    /// Names (PyTorch's nn.Sequential), shapes and offsets of the parameters: as ebm::mlp::parameter_tensors().
    [[nodiscard]] const std::vector<parameter_tensor>& parameter_tensors() const { return tensors_; }
    /// Device spans: the flat parameters in ebm::mlp's order.
    [[nodiscard]] device_span<float> parameters() { return {parameters_.data(), static_cast<std::size_t>(parameter_count_)}; }
    [[nodiscard]] device_span<const float> parameters() const {
        return {parameters_.data(), static_cast<std::size_t>(parameter_count_)};
    }
    void upload_parameters(std::span<const float> host) { parameters_.upload(host); }
    void download_parameters(std::span<float> host) const { parameters_.download(host); }
    [[nodiscard]] index layers() const { return static_cast<index>(sizes_.size()) - 1; }
    [[nodiscard]] index weight_offset(index l) const { return weight_offset_[static_cast<std::size_t>(l)]; }
    [[nodiscard]] index bias_offset(index l) const { return bias_offset_[static_cast<std::size_t>(l)]; }

    /// Arithmetic of the workspaces made from now on (compute_options.hpp: only tf32 applies to cuBLAS products).
    void set_compute_options(const compute_options& options) { options_ = options; }
    [[nodiscard]] const compute_options& get_compute_options() const { return options_; }

    /// A workspace for up to max_chains chains, with its own stream and cuBLAS handle.
    [[nodiscard]] workspace make_workspace(index max_chains) const {
        ebm::detail::require_positive("cuda::mlp::make_workspace", "max_chains", max_chains);
        workspace ws;
        ws.capacity = max_chains;
        ws.blas.set_stream(ws.work_stream.get());
        ws.blas.set_tf32(options_.tf32);
        ws.blas_workspace.resize(index{32} << 20);  // 32 MiB, NVIDIA's recommendation for Hopper
        EBM_CUBLAS_CHECK(cublasSetWorkspace(ws.blas.get(), ws.blas_workspace.data(),
                                            static_cast<std::size_t>(ws.blas_workspace.size())));
        index widest = sizes_.front();
        for (std::size_t l = 1; l + 1 < sizes_.size(); ++l) {
            ws.pre.emplace_back(sizes_[l] * max_chains);
            ws.post.emplace_back(sizes_[l] * max_chains);
            widest = std::max(widest, sizes_[l]);
        }
        ws.delta_a.resize(widest * max_chains);
        ws.delta_b.resize(widest * max_chains);
        ws.ones.resize(max_chains);
        launch_elements(max_chains, kernels::fill_value{ws.ones.data(), 1.0f}, ws.get_stream());
        ws.output.resize(max_chains);
        ws.work_stream.synchronize();
        return ws;
    }

    /// u[i] = U(x_i) (device pointers), enqueued on ws's stream.
    void energy(const_device_batch_view x, device_span<float> u, workspace& ws) const {
        check_call("cuda::mlp::energy", x, u, ws);
        if (fused_) {
            launch_chains(x, u.data(), nullptr, ws);
            return;
        }
        forward(x, u.data(), ws);
    }

    /// u[i] = U(x_i), g_i = dU/dx(x_i) (device pointers), enqueued on ws's stream.
    void energy_and_gradient(const_device_batch_view x, device_span<float> u, device_batch_view g, workspace& ws) const {
        check_call("cuda::mlp::energy_and_gradient", x, u, ws);
        if (fused_) {
            launch_chains(x, u.data(), g.data, ws);
            return;
        }
        forward(x, u.data(), ws);
        backward(x, nullptr, nullptr, g.data, ws);
    }

    /// Whether energy and energy_and_gradient run as one kernel with a block per chain (networks of at most
    /// mlp_shape::max_layers layers whose activations fit in 48 KiB of shared memory), rather than layer by layer
    /// on cuBLAS; the weighted parameter gradient is always the cuBLAS path (a reduction over chains is a GEMM).
    [[nodiscard]] bool fused() const { return fused_; }

    /// grad += sum_i weights[i] dU(x_i)/dtheta, u[i] = U(x_i) (all device pointers), enqueued on ws's stream.
    void accumulate_parameter_gradient(const_device_batch_view x, device_span<const float> weights, device_span<float> grad,
                                       device_span<float> u, workspace& ws) const {
        check_call("cuda::mlp::accumulate_parameter_gradient", x, u, ws);
        if (static_cast<index>(weights.size()) != x.count)
            ebm::detail::fail("cuda::mlp::accumulate_parameter_gradient",
                              "weights must have one entry per chain (" + ebm::detail::to_text(x.count) + ")",
                              weights.size());
        if (static_cast<index>(grad.size()) != parameter_count_)
            ebm::detail::fail("cuda::mlp::accumulate_parameter_gradient",
                              "grad must have parameter_count() = " + ebm::detail::to_text(parameter_count_) + " entries",
                              grad.size());
        forward(x, u.data(), ws);
        backward(x, weights.data(), grad.data(), nullptr, ws);
    }

private:
    void layout() {
        if (sizes_.size() < 3)
            ebm::detail::fail("cuda::mlp", "sizes must list input, at least one hidden layer and output", sizes_.size());
        for (index s : sizes_) ebm::detail::require_positive("cuda::mlp", "layer size", s);
        if (sizes_.back() != 1)
            ebm::detail::fail("cuda::mlp", "the last layer size must be 1 (one energy per chain)", sizes_.back());
        ebm::detail::require_in_closed("cuda::mlp", "negative_slope", slope_, 0.0f, 1.0f);
        tensors_ = mlp_parameter_tensors(sizes_);
        weight_offset_.clear();
        bias_offset_.clear();
        for (std::size_t l = 0; l + 1 < sizes_.size(); ++l) {
            weight_offset_.push_back(tensors_[2 * l].offset);
            bias_offset_.push_back(tensors_[2 * l + 1].offset);
        }
        parameter_count_ = tensors_.back().offset + tensors_.back().count();
        parameters_.resize(parameter_count_);
        shape_ = {};
        fused_ = layers() <= detail::mlp_shape::max_layers && parameter_count_ < (index{1} << 31);
        if (fused_) {
            shape_.layers = static_cast<int>(layers());
            for (std::size_t l = 0; l < sizes_.size(); ++l) shape_.sizes[l] = static_cast<int>(sizes_[l]);
            for (std::size_t l = 0; l + 1 < sizes_.size(); ++l) {
                shape_.weight_offset[l] = static_cast<int>(weight_offset_[l]);
                shape_.bias_offset[l] = static_cast<int>(bias_offset_[l]);
                if (l + 2 < sizes_.size()) shape_.hidden_floats += static_cast<int>(sizes_[l + 1]);
            }
            shape_.widest = static_cast<int>(*std::max_element(sizes_.begin(), sizes_.end()));
            fused_ = chain_kernel_shared_bytes() <= std::size_t{48} << 10;
        }
    }

    [[nodiscard]] std::size_t chain_kernel_shared_bytes() const {
        return sizeof(float) * static_cast<std::size_t>(shape_.sizes[0] + shape_.hidden_floats + 2 * shape_.widest);
    }

    void launch_chains(const_device_batch_view x, float* u, float* g, workspace& ws) const {
        const int threads = std::min(256, (shape_.widest + 31) / 32 * 32);
        detail::mlp_chain_kernel<><<<static_cast<unsigned>(x.count), threads, chain_kernel_shared_bytes(),
                                   ws.get_stream()>>>(shape_, parameters_.data(), x.data, slope_, u, g);
        EBM_CUDA_CHECK(cudaGetLastError());
    }

    void check_call(const char* where, const_device_batch_view x, device_span<float> u, const workspace& ws) const {
        if (x.dimension != dimension())
            ebm::detail::fail(where, "x dimension must equal " + ebm::detail::to_text(dimension()), x.dimension);
        if (x.count <= 0 || x.count > ws.capacity)
            ebm::detail::fail(where, "x must hold between 1 and the workspace capacity " +
                                         ebm::detail::to_text(ws.capacity) + " chains", x.count);
        if (static_cast<index>(u.size()) < x.count)
            ebm::detail::fail(where, "u must have one entry per chain (" + ebm::detail::to_text(x.count) + ")", u.size());
    }

    [[nodiscard]] const float* weight(index l) const { return parameters_.data() + weight_offset(l); }
    [[nodiscard]] const float* bias(index l) const { return parameters_.data() + bias_offset(l); }
    [[nodiscard]] index width(index l) const { return sizes_[static_cast<std::size_t>(l)]; }

    // Column-major views: a batch is (width x n); W_l (out x in, row-major) is the column-major (in x out) matrix
    // W_l^T, so W_l A = op_T(W_l^T) A.
    void forward(const_device_batch_view x, float* u, workspace& ws) const {
        const int n = static_cast<int>(x.count);
        const index hidden = layers() - 1;
        const float one = 1.0f, zero = 0.0f;
        const float* input = x.data;
        for (index l = 0; l < hidden; ++l) {
            const int in = static_cast<int>(width(l)), out = static_cast<int>(width(l + 1));
            float* z = ws.pre[static_cast<std::size_t>(l)].data();
            float* a = ws.post[static_cast<std::size_t>(l)].data();
            EBM_CUBLAS_CHECK(cublasSgemm(ws.blas.get(), CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, weight(l), in,
                                         input, in, &zero, z, out));
            launch_elements(static_cast<index>(out) * n, mlp_functors::bias_leaky_relu{z, a, bias(l), out, slope_},
                            ws.get_stream());
            input = a;
        }
        const int in = static_cast<int>(width(hidden));
        EBM_CUBLAS_CHECK(cublasSgemm(ws.blas.get(), CUBLAS_OP_T, CUBLAS_OP_N, 1, n, in, &one, weight(hidden), in, input,
                                     in, &zero, u, 1));
        launch_elements(n, mlp_functors::add_scalar_bias{u, bias(hidden)}, ws.get_stream());
    }

    // From dU/da of the last hidden layer (w_L, times weights[i] when given) down to dU/dz_1; then either
    // gx = W_1^T dU/dz_1 (gradient to the input) or, with grad, the weighted parameter gradients of every layer.
    void backward(const_device_batch_view x, const float* weights, float* grad, float* gx, workspace& ws) const {
        const int n = static_cast<int>(x.count);
        const index last = layers() - 1;
        const float one = 1.0f, zero = 0.0f;
        cublasHandle_t h = ws.blas.get();
        if (grad != nullptr) {
            // Output layer: dW_L += sum_i w_i a_i (GEMV), db_L += sum_i w_i (a 1 x n GEMV against ones).
            const int in = static_cast<int>(width(last));
            EBM_CUBLAS_CHECK(cublasSgemv(h, CUBLAS_OP_N, in, n, &one, ws.post[static_cast<std::size_t>(last) - 1].data(),
                                         in, weights, 1, &one, grad + weight_offset(last), 1));
            EBM_CUBLAS_CHECK(cublasSgemv(h, CUBLAS_OP_N, 1, n, &one, weights, 1, ws.ones.data(), 1, &one,
                                         grad + bias_offset(last), 1));
        }
        float* current = ws.delta_a.data();
        float* other = ws.delta_b.data();
        launch_elements(width(last) * n,
                        mlp_functors::broadcast_last_weight{current, weight(last), weights, width(last)}, ws.get_stream());
        for (index l = last - 1; l >= 0; --l) {  // hidden layer l: weight l, in = width(l), out = width(l + 1)
            const int in = static_cast<int>(width(l)), out = static_cast<int>(width(l + 1));
            launch_elements(static_cast<index>(out) * n,
                            mlp_functors::leaky_relu_backward{current, ws.pre[static_cast<std::size_t>(l)].data(), slope_},
                            ws.get_stream());
            if (grad != nullptr) {
                const float* input = l == 0 ? x.data : ws.post[static_cast<std::size_t>(l) - 1].data();
                // dW_l (column-major in x out) += A_{l-1} D^T;  db_l += D 1.
                EBM_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &one, input, in, current, out,
                                             &one, grad + weight_offset(l), in));
                EBM_CUBLAS_CHECK(cublasSgemv(h, CUBLAS_OP_N, out, n, &one, current, out, ws.ones.data(), 1, &one,
                                             grad + bias_offset(l), 1));
                if (l == 0) break;
            }
            // next = W_l^T D  (in x n); at the first layer this is dU/dx.
            float* next = (l == 0) ? gx : other;
            EBM_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &one, weight(l), in, current, out,
                                         &zero, next, in));
            std::swap(current, other);
        }
    }

    std::vector<index> sizes_;
    float slope_ = 0.01f;
    compute_options options_;
    std::vector<index> weight_offset_, bias_offset_;
    std::vector<parameter_tensor> tensors_;
    index parameter_count_ = 0;
    device_buffer<float> parameters_;
    detail::mlp_shape shape_;
    bool fused_ = false;
};

}  // namespace ebm::cuda_backend
