#pragma once
// The Anatomy code's non-local ConvNet (ebm::nonlocal_net, energy/convnet_nonlocal.hpp) on the GPU: the same
// network, the same flat parameter vector (PyTorch's state_dict order: "convs.0.*", the block "convs.3.{g.0, W,
// theta, phi.0}.*", "convs.4.*", "convs.7.*", "convs.8.*", "fc.0.*", "fc.2.*"), the same initialisation streams
// (parameter_init, tensor index, 0) with the zeroed output projections, so parameters copy across backends as one
// array. U(x) = network output.
//
//   conv3x3(C -> n_f), LeakyReLU, maxpool 2                              32x32 -> 16x16
//   non-local block(n_f), conv3x3(n_f -> 2n_f), LeakyReLU, maxpool 2      16x16 -> 8x8
//   non-local block(2n_f), conv3x3(2n_f -> 4n_f), LeakyReLU, maxpool 2    8x8 -> 4x4
//   fully connected 16*4n_f -> 8n_f, LeakyReLU, 8n_f -> 1
//   block on x (c x N, inner c/2): theta = W_t x, phi = maxpool(W_p x), g = maxpool(W_g x); A = softmax_rows(theta^T
//   phi); y = g A^T; z = W_o y + x
//
// Execution, for the whole batch at once (NCHW, chain-major as the CPU's batches):
//   * every convolution (the three 3x3 and the eight 1x1 of the blocks) on cuDNN: forward, backward-data,
//     backward-filter and backward-bias accumulating (beta = 1) straight into the caller's flat gradient; the
//     blocks' residual sum dx = dz + W_g^T dpg + W_p^T dpp + W_t^T dtheta accumulates in place (beta = 1);
//   * bias + LeakyReLU in one element-wise pass after each convolution (see convnet.cuh for why not fused);
//   * the attention products (theta^T phi, g A^T and their four backward products) as cuBLAS strided-batched GEMMs,
//     one chain per batch entry; the two fully connected layers as plain cuBLAS GEMMs (chains are columns);
//   * softmax over rows, 2x2 max-pooling (with the CPU's first-maximum, NaN-wins choice, winner stored as a byte) and
//     the pooling's backward as small kernels; the pooling's backward is a gather, fused with LeakyReLU'.
// Every buffer of a batch size is made once (a plan: descriptors, algorithms, activations, gradients, cuDNN
// scratch); cuBLAS gets a fixed workspace; nothing is allocated during a call with a known batch size, so a sampler
// can capture its K steps in a CUDA graph. FP32 math (CUDNN_FMA_MATH, cuBLAS default math) unless
// compute_options::tf32; cuDNN algorithms timed or heuristic, deterministic ones unless allowed (compute_options.hpp).
// Batches, energies and gradients are device memory; calls are enqueued on the workspace's
// stream. Needs nvcc.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../../batch.hpp"
#include "../../config.hpp"
#include "../../energy/convnet_nonlocal_layout.hpp"
#include "../../energy/network_presets.hpp"
#include "../../energy/parameter_tensor.hpp"
#include "../../error.hpp"
#include "../../random/philox.hpp"
#include "check.cuh"
#include "convnet.cuh"
#include "cuda_tag.hpp"
#include "../../kernels/elements.hpp"
#include "../../kernels/noise.hpp"
#include "launch.cuh"
#include "memory.cuh"
#include "network_plans.cuh"
#include "mlp.cuh"

namespace ebm::cuda_backend {

namespace nonlocal_functors {

/// 2x2 max-pool, stride 2, over NCHW planes of side x side, choosing as the CPU does (the first maximum in row-major
/// window order; a NaN wins) and recording the winner 0..3. Call for k over the pooled elements.
struct max_pool2 {
    const float* in;
    float* out;
    std::uint8_t* winner;
    index side;
    EBM_HOST_DEVICE void operator()(index k) const {
        const index half = side / 2;
        const index plane = k / (half * half);
        const index r = k - plane * half * half;
        const index y = r / half, x = r - (r / half) * half;
        const float* base = in + (plane * side + 2 * y) * side + 2 * x;
        const float v[4] = {base[0], base[1], base[side], base[side + 1]};
        int best = 0;
        for (int j = 1; j < 4; ++j)
            if (v[j] > v[best] || v[j] != v[j]) best = j;
        out[k] = v[best];
        winner[k] = static_cast<std::uint8_t>(best);
    }
};

/// The max-pool's backward as a gather: din[k] = dout[window of k] when k won its window, else 0; with `act` set,
/// times LeakyReLU' read from the activation's sign (the conv stages: unpool and LeakyReLU' in one pass, the CPU's
/// unpool2 then leaky_back). Call for k over the unpooled elements (planes of side x side).
struct max_unpool2 {
    const float* dout;
    const std::uint8_t* winner;
    float* din;
    index side;
    const float* act;
    float slope;
    EBM_HOST_DEVICE void operator()(index k) const {
        const index hw = side * side, half = side / 2;
        const index plane = k / hw;
        const index r = k - plane * hw;
        const index y = r / side, x = r - (r / side) * side;
        const index o = (plane * half + y / 2) * half + x / 2;
        const int position = static_cast<int>((y % 2) * 2 + x % 2);
        float d = static_cast<int>(winner[o]) == position ? dout[o] : 0.0f;
        if (act != nullptr) d = act[k] > 0.0f ? d : slope * d;
        din[k] = d;
    }
};

/// z <- (z + b[channel]) + x: the output projection's bias, then the residual, in the CPU's order.
struct bias_residual {
    float* z;
    const float* bias;
    const float* x;
    index plane;
    index channels;
    EBM_HOST_DEVICE void operator()(index k) const { z[k] = (z[k] + bias[(k / plane) % channels]) + x[k]; }
};

}  // namespace nonlocal_functors

namespace device {

__device__ inline float warp_max(float v) {
    for (int offset = 16; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}
__device__ inline float warp_sum(float v) {
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

/// Row-wise softmax in place, one warp per row of m (the CPU's: subtract the row maximum, exp, divide by the sum).
template <class = void>
__global__ void __launch_bounds__(cuda::block_threads) softmax_rows_kernel(float* a, index rows, index m) {
    const index row = (static_cast<index>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
    const index lane = threadIdx.x % 32;
    if (row >= rows) return;  // the whole warp leaves together (one row per warp)
    float* r = a + row * m;
    float top = -INFINITY;
    for (index j = lane; j < m; j += 32) top = fmaxf(top, r[j]);
    top = warp_max(top);
    float sum = 0.0f;
    for (index j = lane; j < m; j += 32) {
        const float e = expf(r[j] - top);
        r[j] = e;
        sum += e;
    }
    sum = warp_sum(sum);
    for (index j = lane; j < m; j += 32) r[j] = r[j] / sum;
}

/// Softmax backward in place, one warp per row: d <- a .* (d - sum(d .* a)).
template <class = void>
__global__ void __launch_bounds__(cuda::block_threads) softmax_rows_backward_kernel(float* d, const float* a,
                                                                                    index rows, index m) {
    const index row = (static_cast<index>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
    const index lane = threadIdx.x % 32;
    if (row >= rows) return;
    float* dr = d + row * m;
    const float* ar = a + row * m;
    float dot = 0.0f;
    for (index j = lane; j < m; j += 32) dot = fmaf(dr[j], ar[j], dot);
    dot = warp_sum(dot);
    for (index j = lane; j < m; j += 32) dr[j] = ar[j] * (dr[j] - dot);
}

}  // namespace device

namespace detail {

inline unsigned int warp_row_blocks(index rows) {
    return static_cast<unsigned int>((rows * 32 + cuda::block_threads - 1) / cuda::block_threads);
}

inline void softmax_rows(float* a, index rows, index m, cudaStream_t stream) {
    device::softmax_rows_kernel<void><<<warp_row_blocks(rows), cuda::block_threads, 0, stream>>>(a, rows, m);
    EBM_CUDA_CHECK(cudaGetLastError());
}

inline void softmax_rows_backward(float* d, const float* a, index rows, index m, cudaStream_t stream) {
    device::softmax_rows_backward_kernel<void><<<warp_row_blocks(rows), cuda::block_threads, 0, stream>>>(d, a, rows, m);
    EBM_CUDA_CHECK(cudaGetLastError());
}

/// C_i = op(A_i) op(B_i) (+ beta C_i) for every chain i: column-major, strides in floats (cuBLAS strided batch).
inline void gemm_chains(cublasHandle_t h, cublasOperation_t op_a, cublasOperation_t op_b, index m, index n, index k,
                        const float* a, index lda, index stride_a, const float* b, index ldb, index stride_b, float* c,
                        index ldc, index stride_c, index chains) {
    const float one = 1.0f, zero = 0.0f;
    EBM_CUBLAS_CHECK(cublasSgemmStridedBatched(h, op_a, op_b, static_cast<int>(m), static_cast<int>(n),
                                               static_cast<int>(k), &one, a, static_cast<int>(lda), stride_a, b,
                                               static_cast<int>(ldb), stride_b, &zero, c, static_cast<int>(ldc),
                                               stride_c, static_cast<int>(chains)));
}

/// One convolution of the non-local net (3x3 pad 1, or 1x1) for one batch size: descriptors and algorithms.
struct nonlocal_conv {
    index in_c = 0, out_c = 0, side = 0, kernel = 1, weight_offset = 0, bias_offset = 0;
    tensor_descriptor input, output, bias;
    filter_descriptor filter;
    convolution_descriptor conv;
    cudnnConvolutionFwdAlgo_t fwd_algo{};
    cudnnConvolutionBwdDataAlgo_t bwd_data_algo{};
    cudnnConvolutionBwdFilterAlgo_t bwd_filter_algo{};

    void set(cudnnHandle_t h, index chains, const compute_options& options, std::size_t& scratch) {
        const cudnnMathType_t math = options.tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
        const index padding = kernel / 2;
        input.set(chains, in_c, side, side);
        output.set(chains, out_c, side, side);
        bias.set(1, out_c, 1, 1);
        EBM_CUDNN_CHECK(cudnnSetFilter4dDescriptor(filter.d, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, static_cast<int>(out_c),
                                                   static_cast<int>(in_c), static_cast<int>(kernel),
                                                   static_cast<int>(kernel)));
        EBM_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv.d, static_cast<int>(padding), static_cast<int>(padding), 1, 1,
                                                        1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
        EBM_CUDNN_CHECK(cudnnSetConvolutionMathType(conv.d, math));
        choose_conv_algorithms("cuda::nonlocal_net", h, input.d, filter.d, conv.d, output.d, options, fwd_algo,
                               bwd_data_algo, bwd_filter_algo, scratch);
    }
};

/// Activations of one non-local block (c x n in, inner ci, n = side^2, m = n / 4), chains x ...
struct nonlocal_block_buffers {
    device_buffer<float> theta, pg, pp, g, phi, att, y, z;  // ci n, ci n, ci n, ci m, ci m, n m, ci n, c n
    device_buffer<std::uint8_t> winner_g, winner_phi;        // ci m each
};

/// Everything one batch size needs: descriptors, algorithms, activations, gradient buffers and the cuDNN scratch.
struct nonlocal_plan {
    index chains = 0;
    nonlocal_conv convs[3];          // the 3x3 convolutions
    nonlocal_conv blocks[2][4];      // per block: g, W (output projection), theta, phi
    device_buffer<float> a[3], p[3];  // conv outputs (after bias and LeakyReLU) and their pooled outputs
    device_buffer<std::uint8_t> winner[3];
    nonlocal_block_buffers block[2];
    device_buffer<float> hidden;      // fc.0 output after LeakyReLU, 8 n_f x chains
    // Gradients: dU/d(hidden), dU/d(pooled conv 3), dU/d(conv output), dU/d(conv input) = the block's dz, turned in
    // place into dU/d(block input); the blocks' own (shared by both blocks, sized for the larger).
    device_buffer<float> d_hidden, d_p2, d_a, d_z;
    device_buffer<float> d_y, d_g, d_att, d_theta, d_phi, d_pg, d_pp;
    device_buffer<unsigned char> scratch;
};

}  // namespace detail

class nonlocal_net {
public:
    using memory_space = ebm::device_space;  // its data lives in device memory: the backend is ebm::cuda
    static constexpr bool split_chains_across_threads = false;  // one workspace drives the whole batch on the GPU

    class workspace {
    public:
        [[nodiscard]] index capacity() const { return capacity_; }
        [[nodiscard]] cudaStream_t get_stream() const { return lane_.get(); }

    private:
        friend class nonlocal_net;
        index capacity_ = 0;
        compute_options options_;
        detail::blas_lane lane_;  // stream, cuBLAS handle and its fixed workspace
        std::unique_ptr<detail::cudnn_handle_owner> handle_;
        device_buffer<float> ones_;                     // capacity ones (bias gradients of the FC layers as GEMV)
        std::vector<std::unique_ptr<detail::nonlocal_plan>> plans_;
        detail::network_plans hessian_plans_;  // made by the first Hessian-vector product for a batch size
    };

    /// As ebm::nonlocal_net(channels, n_f, negative_slope, init_seed): 32 x 32 inputs with 1 or 3 channels.
    explicit nonlocal_net(index channels = 3, index n_f = 32, float negative_slope = 0.05f, seed init_seed = seed{0})
        : channels_(channels), n_f_(n_f), slope_(negative_slope) {
        if (channels != 1 && channels != 3) ebm::detail::fail("cuda::nonlocal_net", "channels must be 1 or 3", channels);
        ebm::detail::require_positive("cuda::nonlocal_net", "n_f", n_f);
        if (n_f < 2) ebm::detail::fail("cuda::nonlocal_net", "n_f must be >= 2 (the non-local blocks halve it)", n_f);
        ebm::detail::require_in_closed("cuda::nonlocal_net", "negative_slope", negative_slope, 0.0f, 1.0f);
        arch_ = ebm::detail::nonlocal_layout(channels, n_f);
        hessian_layout_ = compile_network(nonlocal_network(channels, n_f, negative_slope));
        parameters_.resize(arch_.size);
        reset_parameters(init_seed);
    }
    nonlocal_net(const nonlocal_net& other)
        : channels_(other.channels_), n_f_(other.n_f_), slope_(other.slope_), options_(other.options_),
          arch_(other.arch_), hessian_layout_(other.hessian_layout_), parameters_(other.arch_.size) {
        EBM_CUDA_CHECK(cudaMemcpy(parameters_.data(), other.parameters_.data(), parameters_.bytes(),
                                  cudaMemcpyDeviceToDevice));
    }
    nonlocal_net(nonlocal_net&&) noexcept = default;
    nonlocal_net& operator=(const nonlocal_net& other) {
        if (this != &other) {
            nonlocal_net copy(other);
            *this = std::move(copy);
        }
        return *this;
    }
    nonlocal_net& operator=(nonlocal_net&&) noexcept = default;

    /// PyTorch's default initialisation from the seed (the CPU net's streams); the output projections (".W.") zero.
    void reset_parameters(seed init_seed) {
        const philox rng(init_seed);
        for (std::size_t t = 0; t < arch_.tensors.size(); ++t) {
            const parameter_tensor& tensor = arch_.tensors[t];
            float* p = parameters_.data() + tensor.offset;
            const float bound = arch_.init_bound(t);
            if (bound == 0.0f) {
                EBM_CUDA_CHECK(cudaMemset(p, 0, static_cast<std::size_t>(tensor.count()) * sizeof(float)));
                continue;
            }
            launch_elements(kernels::blocks_per_chain(tensor.count()),
                            kernels::uniform_fill{p, tensor.count(), rng, purpose::parameter_init, static_cast<std::uint32_t>(t),
                                         {}, -bound, bound});
        }
        EBM_CUDA_CHECK(cudaDeviceSynchronize());
    }

    [[nodiscard]] index channels() const { return channels_; }
    [[nodiscard]] index height() const { return 32; }
    [[nodiscard]] index width() const { return 32; }
    [[nodiscard]] index n_f() const { return n_f_; }
    [[nodiscard]] float negative_slope() const { return slope_; }
    [[nodiscard]] index dimension() const { return channels_ * 32 * 32; }
    [[nodiscard]] index parameter_count() const { return arch_.size; }
    /// Device spans: the flat parameters in ebm::nonlocal_net's order.
    [[nodiscard]] device_span<float> parameters() { return {parameters_.data(), static_cast<std::size_t>(arch_.size)}; }
    [[nodiscard]] device_span<const float> parameters() const {
        return {parameters_.data(), static_cast<std::size_t>(arch_.size)};
    }
    /// Names, shapes and offsets: the same list as ebm::nonlocal_net::parameter_tensors().
    [[nodiscard]] const std::vector<parameter_tensor>& parameter_tensors() const { return arch_.tensors; }
    /// Host -> device copy of all parameters (e.g. ebm::nonlocal_net::parameters() of a CPU network).
    void upload_parameters(std::span<const float> host) {
        if (static_cast<index>(host.size()) != arch_.size)
            ebm::detail::fail("cuda::nonlocal_net::upload_parameters",
                              "host must have parameter_count() = " + ebm::detail::to_text(arch_.size) + " entries",
                              host.size());
        parameters_.upload(host);
    }
    void download_parameters(std::span<float> host) const {
        if (static_cast<index>(host.size()) != arch_.size)
            ebm::detail::fail("cuda::nonlocal_net::download_parameters",
                              "host must have parameter_count() = " + ebm::detail::to_text(arch_.size) + " entries",
                              host.size());
        parameters_.download(host);
    }

    /// A workspace for up to max_chains chains with its own stream, cuDNN and cuBLAS handles, and the plan for
    /// max_chains (other batch sizes get theirs on first use).
    /// Arithmetic and cuDNN algorithm choice (compute_options.hpp; `convolutions` does not apply, gemm_column_floats
    /// only to the Hessian-vector product) of the workspaces made from now on.
    void set_compute_options(const compute_options& options) {
        const char* where = "cuda::nonlocal_net::set_compute_options";
        if (options.search_workspace_limit == 0) ebm::detail::fail(where, "search_workspace_limit must be positive", 0);
        if (options.gemm_column_floats == 0 || options.gemm_column_floats > (std::size_t{1} << 31))
            ebm::detail::fail(where, "gemm_column_floats must be in [1, 2^31]", options.gemm_column_floats);
        options_ = options;
    }
    [[nodiscard]] const compute_options& get_compute_options() const { return options_; }

    [[nodiscard]] workspace make_workspace(index max_chains) const {
        ebm::detail::require_positive("cuda::nonlocal_net::make_workspace", "max_chains", max_chains);
        workspace ws;
        ws.capacity_ = max_chains;
        ws.options_ = options_;
        ws.lane_ = detail::blas_lane(options_.tf32);
        ws.handle_ = std::make_unique<detail::cudnn_handle_owner>();
        EBM_CUDNN_CHECK(cudnnSetStream(ws.handle_->h, ws.lane_.get()));
        ws.ones_.resize(max_chains);
        launch_elements(max_chains, kernels::fill_value{ws.ones_.data(), 1.0f}, ws.get_stream());
        ws.plans_.push_back(make_plan(ws, max_chains));
        ws.lane_.synchronize();
        return ws;
    }

    /// u[i] = U(x_i) (device pointers), enqueued on ws's stream.
    void energy(const_device_batch_view x, device_span<float> u, workspace& ws) const {
        check_call("cuda::nonlocal_net::energy", x, u, ws);
        detail::nonlocal_plan& plan = plan_for(ws, x.count);
        forward(plan, x, u.data(), ws);
    }

    /// u[i] = U(x_i), g_i = dU/dx(x_i) (device pointers), enqueued on ws's stream.
    void energy_and_gradient(const_device_batch_view x, device_span<float> u, device_batch_view g, workspace& ws) const {
        const char* where = "cuda::nonlocal_net::energy_and_gradient";
        check_call(where, x, u, ws);
        if (g.dimension != dimension() || g.count != x.count || g.data == nullptr)
            ebm::detail::fail(where, "grad must have the shape of x (" + ebm::detail::to_text(x.count) + " chains of " +
                                         ebm::detail::to_text(dimension()) + ")", g.count);
        detail::nonlocal_plan& plan = plan_for(ws, x.count);
        forward(plan, x, u.data(), ws);
        backward(plan, x, nullptr, nullptr, g.data, ws);
    }

    /// grad += sum_i weights[i] dU(x_i)/dtheta, u[i] = U(x_i) (all device pointers), enqueued on ws's stream.
    void accumulate_parameter_gradient(const_device_batch_view x, device_span<const float> weights, device_span<float> grad,
                                       device_span<float> u, workspace& ws) const {
        const char* where = "cuda::nonlocal_net::accumulate_parameter_gradient";
        check_call(where, x, u, ws);
        if (static_cast<index>(weights.size()) != x.count || weights.data() == nullptr)
            ebm::detail::fail(where, "weights must have one entry per chain (" + ebm::detail::to_text(x.count) + ")",
                              weights.size());
        if (static_cast<index>(grad.size()) != arch_.size || grad.data() == nullptr)
            ebm::detail::fail(where, "grad must have parameter_count() = " + ebm::detail::to_text(arch_.size) + " entries",
                              grad.size());
        detail::nonlocal_plan& plan = plan_for(ws, x.count);
        forward(plan, x, u.data(), ws);
        backward(plan, x, weights.data(), grad.data(), nullptr, ws);
    }

    /// False: the attention's softmax has curvature.
    [[nodiscard]] bool piecewise_linear() const { return hessian_layout_.piecewise_linear; }

    /// hv_i = (d2U/dx2)(x_i) v_i, exact: the composed network's tangent passes (backend/network_gemm.hpp, as
    /// cuda_backend::network and the CPU ebm::nonlocal_net compute it) on these parameters, in its flat order. The
    /// first call for a batch size makes that engine's buffers; FP32 or TF32 as the workspace.
    void hessian_vector_product(const_device_batch_view x, const_device_batch_view v, device_batch_view hv,
                                workspace& ws) const {
        ws.hessian_plans_.hessian_vector_product("cuda::nonlocal_net::hessian_vector_product", ws.capacity_, hessian_layout_,
                                                 ws.lane_, ws.options_.gemm_column_floats, parameters_.data(), x, v, hv);
    }

private:
    using conv_ref = ebm::detail::nonlocal_layout::conv_ref;
    using block_ref = ebm::detail::nonlocal_layout::block_ref;

    void check_call(const char* where, const_device_batch_view x, device_span<float> u, const workspace& ws) const {
        if (ws.plans_.empty()) ebm::detail::fail(where, "the workspace is empty (make it with make_workspace)", 0);
        if (x.dimension != dimension())
            ebm::detail::fail(where, "x dimension must equal channels x 32 x 32 = " + ebm::detail::to_text(dimension()),
                              x.dimension);
        if (x.count <= 0 || x.count > ws.capacity_ || x.data == nullptr)
            ebm::detail::fail(where, "x must hold between 1 and the workspace capacity " +
                                         ebm::detail::to_text(ws.capacity_) + " chains", x.count);
        if (static_cast<index>(u.size()) < x.count || u.data() == nullptr)
            ebm::detail::fail(where, "u must have one entry per chain (" + ebm::detail::to_text(x.count) + ")", u.size());
    }

    detail::nonlocal_plan& plan_for(workspace& ws, index chains) const {
        for (auto& p : ws.plans_)
            if (p->chains == chains) return *p;
        ws.plans_.push_back(make_plan(ws, chains));
        return *ws.plans_.back();
    }

    static void set_conv(detail::nonlocal_conv& v, const conv_ref& r, index side) {
        v.in_c = r.in;
        v.out_c = r.out;
        v.kernel = r.kernel;
        v.side = side;
        v.weight_offset = r.weight;
        v.bias_offset = r.bias;
    }

    std::unique_ptr<detail::nonlocal_plan> make_plan(workspace& ws, index chains) const {
        auto plan = std::make_unique<detail::nonlocal_plan>();
        detail::nonlocal_plan& p = *plan;
        p.chains = chains;
        cudnnHandle_t h = ws.handle_->h;
        std::size_t scratch = 0;
        for (int st = 0; st < 3; ++st) {
            const index side = 32 >> st;
            const conv_ref& c = arch_.convs[static_cast<std::size_t>(st)];
            set_conv(p.convs[st], c, side);
            p.convs[st].set(h, chains, ws.options_, scratch);
            p.a[st].resize(chains * c.out * side * side);
            p.p[st].resize(chains * c.out * side * side / 4);
            p.winner[st].resize(chains * c.out * side * side / 4);
        }
        for (int b = 0; b < 2; ++b) {
            const block_ref& bl = arch_.blocks[static_cast<std::size_t>(b)];
            const index side = 16 >> b, n = side * side, m = n / 4, ci = bl.inner;
            const conv_ref* refs[4] = {&bl.g, &bl.w, &bl.theta, &bl.phi};
            for (int k = 0; k < 4; ++k) {
                set_conv(p.blocks[b][k], *refs[k], side);
                p.blocks[b][k].set(h, chains, ws.options_, scratch);
            }
            detail::nonlocal_block_buffers& buf = p.block[b];
            buf.theta.resize(chains * ci * n);
            buf.pg.resize(chains * ci * n);
            buf.pp.resize(chains * ci * n);
            buf.g.resize(chains * ci * m);
            buf.phi.resize(chains * ci * m);
            buf.att.resize(chains * n * m);
            buf.y.resize(chains * ci * n);
            buf.z.resize(chains * bl.c * n);
            buf.winner_g.resize(chains * ci * m);
            buf.winner_phi.resize(chains * ci * m);
        }
        p.hidden.resize(chains * arch_.fcs[0].out);
        p.d_hidden.resize(chains * arch_.fcs[0].out);
        p.d_p2.resize(chains * arch_.fcs[0].in);
        index widest_a = 0, widest_z = 0, block_cn = 0, block_cm = 0, block_nm = 0;
        for (int st = 0; st < 3; ++st) {
            const index side = 32 >> st;
            widest_a = std::max(widest_a, arch_.convs[static_cast<std::size_t>(st)].out * side * side);
            if (st > 0) widest_z = std::max(widest_z, arch_.convs[static_cast<std::size_t>(st)].in * side * side);
        }
        for (int b = 0; b < 2; ++b) {
            const block_ref& bl = arch_.blocks[static_cast<std::size_t>(b)];
            const index n = (16 >> b) * (16 >> b), m = n / 4;
            block_cn = std::max(block_cn, bl.inner * n);
            block_cm = std::max(block_cm, bl.inner * m);
            block_nm = std::max(block_nm, n * m);
        }
        p.d_a.resize(chains * widest_a);
        p.d_z.resize(chains * widest_z);
        p.d_y.resize(chains * block_cn);
        p.d_g.resize(chains * block_cm);
        p.d_att.resize(chains * block_nm);
        p.d_theta.resize(chains * block_cn);
        p.d_phi.resize(chains * block_cm);
        p.d_pg.resize(chains * block_cn);
        p.d_pp.resize(chains * block_cn);
        p.scratch.resize(static_cast<index>(std::max<std::size_t>(scratch, 1)));
        return plan;
    }

    [[nodiscard]] const float* param(index offset) const { return parameters_.data() + offset; }

    // ---- cuDNN calls of one convolution ------------------------------------------------------------------------
    void conv_forward(detail::nonlocal_plan& p, const detail::nonlocal_conv& v, cudnnHandle_t h, const float* in,
                      float* out) const {
        const float one = 1.0f, zero = 0.0f;
        EBM_CUDNN_CHECK(cudnnConvolutionForward(h, &one, v.input.d, in, v.filter.d, param(v.weight_offset), v.conv.d,
                                                v.fwd_algo, p.scratch.data(), static_cast<std::size_t>(p.scratch.size()),
                                                &zero, v.output.d, out));
    }
    // din = W^T dout (accumulate: din += W^T dout)
    void conv_backward_data(detail::nonlocal_plan& p, const detail::nonlocal_conv& v, cudnnHandle_t h, const float* dout,
                            float* din, bool accumulate) const {
        const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
        EBM_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, v.filter.d, param(v.weight_offset), v.output.d, dout,
                                                     v.conv.d, v.bwd_data_algo, p.scratch.data(),
                                                     static_cast<std::size_t>(p.scratch.size()), &beta, v.input.d, din));
    }
    // grad[W] += dout x^T summed over chains, grad[b] += sum of dout
    void conv_backward_parameters(detail::nonlocal_plan& p, const detail::nonlocal_conv& v, cudnnHandle_t h,
                                  const float* in, const float* dout, float* grad) const {
        const float one = 1.0f;
        EBM_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, v.input.d, in, v.output.d, dout, v.conv.d,
                                                       v.bwd_filter_algo, p.scratch.data(),
                                                       static_cast<std::size_t>(p.scratch.size()), &one, v.filter.d,
                                                       grad + v.weight_offset));
        EBM_CUDNN_CHECK(cudnnConvolutionBackwardBias(h, &one, v.output.d, dout, &one, v.bias.d, grad + v.bias_offset));
    }
    // out += b per channel, then LeakyReLU when `activation`
    void add_bias(const detail::nonlocal_conv& v, index chains, float* out, bool activation, cudaStream_t s) const {
        launch_elements(chains * v.out_c * v.side * v.side,
                        convnet_functors::bias_leaky_relu{out, param(v.bias_offset), v.side * v.side, v.out_c, slope_,
                                                          activation}, s);
    }

    // ---- forward ----------------------------------------------------------------------------------------------
    void forward(detail::nonlocal_plan& p, const_device_batch_view x, float* u, workspace& ws) const {
        cudnnHandle_t h = ws.handle_->h;
        cublasHandle_t blas = ws.lane_.blas();
        cudaStream_t s = ws.get_stream();
        const index n = x.count;
        const float* in = x.data;
        for (int st = 0; st < 3; ++st) {
            const detail::nonlocal_conv& v = p.convs[st];
            if (st > 0) in = block_forward(p, st - 1, p.p[st - 1].data(), n, ws);
            conv_forward(p, v, h, in, p.a[st].data());
            add_bias(v, n, p.a[st].data(), true, s);
            launch_elements(n * v.out_c * v.side * v.side / 4,
                            nonlocal_functors::max_pool2{p.a[st].data(), p.p[st].data(), p.winner[st].data(), v.side}, s);
        }
        // fc.0 (chains are columns: the pooled 4n_f x 4 x 4 of a chain is one column of 16 * 4n_f), LeakyReLU, fc.2.
        const conv_ref& f1 = arch_.fcs[0];
        const conv_ref& f2 = arch_.fcs[1];
        const float one = 1.0f, zero = 0.0f;
        EBM_CUBLAS_CHECK(cublasSgemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(f1.out), static_cast<int>(n),
                                     static_cast<int>(f1.in), &one, param(f1.weight), static_cast<int>(f1.in),
                                     p.p[2].data(), static_cast<int>(f1.in), &zero, p.hidden.data(),
                                     static_cast<int>(f1.out)));
        launch_elements(n * f1.out, convnet_functors::bias_leaky_relu{p.hidden.data(), param(f1.bias), 1, f1.out, slope_,
                                                                      true}, s);
        EBM_CUBLAS_CHECK(cublasSgemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, 1, static_cast<int>(n), static_cast<int>(f2.in), &one,
                                     param(f2.weight), static_cast<int>(f2.in), p.hidden.data(), static_cast<int>(f2.in),
                                     &zero, u, 1));
        launch_elements(n, mlp_functors::add_scalar_bias{u, param(f2.bias)}, s);
    }

    // Non-local block b on x (chains x c x n); returns z (chains x c x n).
    const float* block_forward(detail::nonlocal_plan& p, int b, const float* x, index chains, workspace& ws) const {
        cudnnHandle_t h = ws.handle_->h;
        cublasHandle_t blas = ws.lane_.blas();
        cudaStream_t s = ws.get_stream();
        const block_ref& bl = arch_.blocks[static_cast<std::size_t>(b)];
        const index side = 16 >> b, n = side * side, m = n / 4, ci = bl.inner;
        detail::nonlocal_block_buffers& buf = p.block[b];
        const detail::nonlocal_conv& conv_g = p.blocks[b][0];
        const detail::nonlocal_conv& conv_w = p.blocks[b][1];
        const detail::nonlocal_conv& conv_theta = p.blocks[b][2];
        const detail::nonlocal_conv& conv_phi = p.blocks[b][3];
        conv_forward(p, conv_theta, h, x, buf.theta.data());
        add_bias(conv_theta, chains, buf.theta.data(), false, s);
        conv_forward(p, conv_g, h, x, buf.pg.data());
        add_bias(conv_g, chains, buf.pg.data(), false, s);
        conv_forward(p, conv_phi, h, x, buf.pp.data());
        add_bias(conv_phi, chains, buf.pp.data(), false, s);
        launch_elements(chains * ci * m, nonlocal_functors::max_pool2{buf.pg.data(), buf.g.data(), buf.winner_g.data(), side}, s);
        launch_elements(chains * ci * m,
                        nonlocal_functors::max_pool2{buf.pp.data(), buf.phi.data(), buf.winner_phi.data(), side}, s);
        // A (n x m, row-major) = theta^T phi: column-major A^T (m x n) = phi^T theta.
        detail::gemm_chains(blas, CUBLAS_OP_N, CUBLAS_OP_T, m, n, ci, buf.phi.data(), m, ci * m, buf.theta.data(), n,
                            ci * n, buf.att.data(), m, n * m, chains);
        detail::softmax_rows(buf.att.data(), chains * n, m, s);
        // y (ci x n) = g A^T: column-major y^T (n x ci) = A g^T.
        detail::gemm_chains(blas, CUBLAS_OP_T, CUBLAS_OP_N, n, ci, m, buf.att.data(), m, n * m, buf.g.data(), m, ci * m,
                            buf.y.data(), n, ci * n, chains);
        conv_forward(p, conv_w, h, buf.y.data(), buf.z.data());
        launch_elements(chains * bl.c * n,
                        nonlocal_functors::bias_residual{buf.z.data(), param(conv_w.bias_offset), x, n, bl.c}, s);
        return buf.z.data();
    }

    // ---- backward (after forward): dU/dx into gx and/or sum_i weights[i] dU(x_i)/dtheta into grad ------------
    void backward(detail::nonlocal_plan& p, const_device_batch_view x, const float* weights, float* grad, float* gx,
                  workspace& ws) const {
        cudnnHandle_t h = ws.handle_->h;
        cublasHandle_t blas = ws.lane_.blas();
        cudaStream_t s = ws.get_stream();
        const index n = x.count;
        const int nc = static_cast<int>(n);
        const conv_ref& f1 = arch_.fcs[0];
        const conv_ref& f2 = arch_.fcs[1];
        const float one = 1.0f, zero = 0.0f;
        const int hid = static_cast<int>(f1.out), flat = static_cast<int>(f1.in);
        if (grad != nullptr) {
            // fc.2: dW += sum_i w_i hidden_i, db += sum_i w_i.
            EBM_CUBLAS_CHECK(cublasSgemv(blas, CUBLAS_OP_N, hid, nc, &one, p.hidden.data(), hid, weights, 1, &one,
                                         grad + f2.weight, 1));
            EBM_CUBLAS_CHECK(cublasSgemv(blas, CUBLAS_OP_N, 1, nc, &one, weights, 1, ws.ones_.data(), 1, &one,
                                         grad + f2.bias, 1));
        }
        // dU/d(hidden)_i = W_2 (times w_i), through LeakyReLU'.
        launch_elements(n * f1.out, mlp_functors::broadcast_last_weight{p.d_hidden.data(), param(f2.weight), weights, f1.out}, s);
        launch_elements(n * f1.out, convnet_functors::leaky_relu_backward{p.d_hidden.data(), p.hidden.data(), slope_}, s);
        if (grad != nullptr) {
            // fc.0: dW (column-major flat x hid) += P2 D^T, db += D 1.
            EBM_CUBLAS_CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_T, flat, hid, nc, &one, p.p[2].data(), flat,
                                         p.d_hidden.data(), hid, &one, grad + f1.weight, flat));
            EBM_CUBLAS_CHECK(cublasSgemv(blas, CUBLAS_OP_N, hid, nc, &one, p.d_hidden.data(), hid, ws.ones_.data(), 1,
                                         &one, grad + f1.bias, 1));
        }
        EBM_CUBLAS_CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, flat, nc, hid, &one, param(f1.weight), flat,
                                     p.d_hidden.data(), hid, &zero, p.d_p2.data(), flat));
        const float* dp = p.d_p2.data();  // dU/d(pooled output of the stage)
        for (int st = 2; st >= 0; --st) {
            const detail::nonlocal_conv& v = p.convs[st];
            launch_elements(n * v.out_c * v.side * v.side,
                            nonlocal_functors::max_unpool2{dp, p.winner[st].data(), p.d_a.data(), v.side, p.a[st].data(),
                                                           slope_}, s);
            const float* in = st == 0 ? x.data : p.block[st - 1].z.data();
            if (grad != nullptr) conv_backward_parameters(p, v, h, in, p.d_a.data(), grad);
            if (st == 0 && gx == nullptr) break;
            conv_backward_data(p, v, h, p.d_a.data(), st == 0 ? gx : p.d_z.data(), false);
            if (st == 0) break;
            block_backward(p, st - 1, p.p[st - 1].data(), n, grad, ws);  // d_z becomes dU/d(block input) in place
            dp = p.d_z.data();
        }
    }

    // Block b on x: on entry p.d_z holds dU/dz (chains x c x n); on return dU/dx = dz + the three paths through
    // theta, phi and g (accumulated in place), and grad (when given) has the block's parameter gradients added.
    void block_backward(detail::nonlocal_plan& p, int b, const float* x, index chains, float* grad, workspace& ws) const {
        cudnnHandle_t h = ws.handle_->h;
        cublasHandle_t blas = ws.lane_.blas();
        cudaStream_t s = ws.get_stream();
        const block_ref& bl = arch_.blocks[static_cast<std::size_t>(b)];
        const index side = 16 >> b, n = side * side, m = n / 4, ci = bl.inner;
        const detail::nonlocal_block_buffers& buf = p.block[b];
        const detail::nonlocal_conv& conv_g = p.blocks[b][0];
        const detail::nonlocal_conv& conv_w = p.blocks[b][1];
        const detail::nonlocal_conv& conv_theta = p.blocks[b][2];
        const detail::nonlocal_conv& conv_phi = p.blocks[b][3];
        float* dz = p.d_z.data();
        // Output projection: dy = W_o^T dz; dW_o, db_o.
        conv_backward_data(p, conv_w, h, dz, p.d_y.data(), false);
        if (grad != nullptr) conv_backward_parameters(p, conv_w, h, buf.y.data(), dz, grad);
        // dg (ci x m) = dy A: column-major dg^T (m x ci) = A^T dy^T.
        detail::gemm_chains(blas, CUBLAS_OP_N, CUBLAS_OP_N, m, ci, n, buf.att.data(), m, n * m, p.d_y.data(), n, ci * n,
                            p.d_g.data(), m, ci * m, chains);
        // dA (n x m) = dy^T g: column-major dA^T (m x n) = g^T dy.
        detail::gemm_chains(blas, CUBLAS_OP_N, CUBLAS_OP_T, m, n, ci, buf.g.data(), m, ci * m, p.d_y.data(), n, ci * n,
                            p.d_att.data(), m, n * m, chains);
        detail::softmax_rows_backward(p.d_att.data(), buf.att.data(), chains * n, m, s);
        // dtheta (ci x n) = phi dA^T: column-major dtheta^T (n x ci) = dA phi^T.
        detail::gemm_chains(blas, CUBLAS_OP_T, CUBLAS_OP_N, n, ci, m, p.d_att.data(), m, n * m, buf.phi.data(), m, ci * m,
                            p.d_theta.data(), n, ci * n, chains);
        // dphi (ci x m) = theta dA: column-major dphi^T (m x ci) = dA^T theta^T.
        detail::gemm_chains(blas, CUBLAS_OP_N, CUBLAS_OP_N, m, ci, n, p.d_att.data(), m, n * m, buf.theta.data(), n,
                            ci * n, p.d_phi.data(), m, ci * m, chains);
        launch_elements(chains * ci * n, nonlocal_functors::max_unpool2{p.d_g.data(), buf.winner_g.data(), p.d_pg.data(),
                                                                        side, nullptr, 0.0f}, s);
        launch_elements(chains * ci * n, nonlocal_functors::max_unpool2{p.d_phi.data(), buf.winner_phi.data(),
                                                                        p.d_pp.data(), side, nullptr, 0.0f}, s);
        // dx = dz + W_g^T dpg + W_p^T dpp + W_t^T dtheta (the CPU's order), parameter gradients of the three.
        if (grad != nullptr) conv_backward_parameters(p, conv_g, h, x, p.d_pg.data(), grad);
        conv_backward_data(p, conv_g, h, p.d_pg.data(), dz, true);
        if (grad != nullptr) conv_backward_parameters(p, conv_phi, h, x, p.d_pp.data(), grad);
        conv_backward_data(p, conv_phi, h, p.d_pp.data(), dz, true);
        if (grad != nullptr) conv_backward_parameters(p, conv_theta, h, x, p.d_theta.data(), grad);
        conv_backward_data(p, conv_theta, h, p.d_theta.data(), dz, true);
    }

    index channels_ = 3, n_f_ = 32;
    float slope_ = 0.05f;
    compute_options options_;
    ebm::detail::nonlocal_layout arch_;  // the CPU net's tensor list, in its order (so the offsets agree)
    network_layout hessian_layout_;      // the same net as a composed network (nonlocal_network): its Hv product
    device_buffer<float> parameters_;
};

}  // namespace ebm::cuda_backend
