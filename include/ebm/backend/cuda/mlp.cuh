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
#include "../../kernels/langevin.hpp"
#include "../../kernels/noise.hpp"
#include "launch.cuh"
#include "memory.cuh"
#include "reductions.cuh"

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

/// Threads per block of the per-chain kernels (a multiple of 32: the row products shuffle within warps).
inline constexpr int chain_block_threads = 512;

/// The barrier of the threads that evaluate the network (the first chain_block_threads of a block): the whole-chain
/// kernel's noise warp, which computes the next step's normals meanwhile, does not wait at it.
__device__ inline void network_barrier() { asm volatile("bar.sync 1, %0;" ::"n"(chain_block_threads) : "memory"); }

/// How many lanes share one row's dot product when `rows` rows are spread over `threads` threads: the largest power of
/// two, at most 32 (one warp), with split * rows <= threads; 1 when there are more rows than threads.
EBM_HOST_DEVICE inline int row_split(int rows, int threads) {
    int split = 1;
    while (split < 32 && 2 * split * rows <= threads) split *= 2;
    return split;
}

/// A matrix in memory: element (r, c) at data[r * row_stride + c * column_stride].
struct matrix_layout {
    int offset = 0;
    int row_stride = 0;
    int column_stride = 1;
};

/// Layer sizes and where an MLP's parameters lie, passed by value to the per-chain kernels. Layer l's weight is read
/// as W_l (out x in) by the forward pass and as W_l^T (in x out) by the backward pass: in the flat parameters these
/// are two views of one array; the whole-chain kernel keeps a copy of each in shared memory with rows padded so that
/// a warp's reads hit 32 different banks.
struct mlp_shape {
    static constexpr int max_layers = 8;
    int layers = 0;                 // weight layers
    int sizes[max_layers + 1] = {};
    matrix_layout forward[max_layers] = {};   // W_l
    matrix_layout backward[max_layers] = {};  // W_l^T
    int bias_offset[max_layers] = {};
    int parameter_floats = 0;       // of this layout
    int hidden_floats = 0;          // sum of the hidden widths
    int widest = 0;
};

/// f(r, sum_c M(r, c) v(c)) for every row r < rows of M (rows x columns), by the network's threads: row_split lanes of one
/// warp share a row, lane k summing the columns c = k, k + split, ... in increasing order, then the lanes' sums are
/// added by a fixed shuffle tree. The order depends only on the sizes (and chain_block_threads), so results are
/// deterministic and the same in every kernel that calls this.
template <class Value, class Store>
__device__ void row_products(const float* m, matrix_layout layout, int rows, int columns, Value value, Store store) {
    constexpr int threads = chain_block_threads;
    const int split = row_split(rows, threads);
    const int shift = __ffs(split) - 1;  // split is a power of two: shifts, not divisions
    const int groups = threads >> shift;
    const int lane = static_cast<int>(threadIdx.x) & (split - 1), group = static_cast<int>(threadIdx.x) >> shift;
    const float* base = m + layout.offset;
    for (int first = 0; first < rows; first += groups) {  // the same trip count in every thread: full-warp shuffles
        const int r = first + group;
        float acc = 0.0f;
        if (r < rows) {
            const float* row = base + r * layout.row_stride;
#pragma unroll 4  // the loads of four terms issue together; the sum keeps its order
            for (int c = lane; c < columns; c += split) acc = __fmaf_rn(row[c * layout.column_stride], value(c), acc);
        }
        for (int offset = split / 2; offset > 0; offset /= 2) acc += __shfl_down_sync(0xffffffffu, acc, offset, split);
        if (lane == 0 && r < rows) store(r, acc);
    }
}

/// The forward pass of one chain by one block: z_l = W_l a_{l-1} + b_l for the hidden layers (pre-activations, into
/// z, layer after layer), then *energy = W_L a_{L-1} + b_L; a = max(z, slope z) as ebm::mlp. `input` and z are shared
/// memory; the parameters global or shared. Called by the network's threads only.
template <class = void>
__device__ void mlp_chain_forward(const mlp_shape& s, const float* parameters, const float* input, float* z,
                                  float slope, float* energy) {
    const float* previous = input;
    bool previous_hidden = false;
    float* current = z;
    for (int l = 0; l < s.layers; ++l) {
        const int in = s.sizes[l], out = s.sizes[l + 1];
        const float* b = parameters + s.bias_offset[l];
        const bool last = l + 1 == s.layers;
        row_products(parameters, s.forward[l], out, in,
                     [=](int i) {
                         const float v = previous[i];
                         return previous_hidden ? (v > slope * v ? v : slope * v) : v;  // max(v, slope v), as ebm::mlp
                     },
                     [=](int j, float sum) {
                         if (last)
                             *energy = sum + b[j];
                         else
                             current[j] = sum + b[j];
                     });
        network_barrier();
        if (!last) {
            previous = current;
            previous_hidden = true;
            current += out;
        }
    }
}

/// The backward pass of one chain by one block, from the pre-activations z of mlp_chain_forward: dU/da of the last
/// hidden layer is the output weight row; then dU/da_{l-1} = W_l^T (dU/dz_l) with dU/dz = z > 0 ? dU/da : slope dU/da;
/// the last product is dU/dx, written to `gradient`. delta and delta_next: widest floats each. Called by the network's
/// threads only.
template <class = void>
__device__ void mlp_chain_backward(const mlp_shape& s, const float* parameters, const float* z, float slope,
                                   float* delta, float* delta_next, float* gradient) {
    const int t = static_cast<int>(threadIdx.x), threads = chain_block_threads;
    const int last = s.layers - 1;
    const matrix_layout w_out = s.forward[last];  // 1 x in: a row
    for (int i = t; i < s.sizes[last]; i += threads) delta[i] = parameters[w_out.offset + i * w_out.column_stride];
    network_barrier();
    const float* z_of = z + s.hidden_floats;  // one past the last hidden layer's z
    for (int l = last - 1; l >= 0; --l) {
        const int in = s.sizes[l], out = s.sizes[l + 1];
        z_of -= out;  // z_l
        float* target = l == 0 ? gradient : delta_next;
        const float* zl = z_of;
        const float* dl = delta;
        row_products(parameters, s.backward[l], in, out, [=](int j) { return zl[j] > 0.0f ? dl[j] : slope * dl[j]; },
                     [=](int i, float sum) { target[i] = sum; });
        network_barrier();
        float* swap = delta;
        delta = delta_next;
        delta_next = swap;
    }
}

/// U(x) and dU/dx of one chain per block (chain_block_threads threads), the whole network in one launch: the input,
/// every hidden layer's pre-activation and two dU/da buffers live in shared memory. g == nullptr: the energy alone.
/// (Kernels are templates, so that a header-defined kernel can be included in several translation units.)
template <class = void>
__global__ void __launch_bounds__(chain_block_threads) mlp_chain_kernel(mlp_shape s, const float* __restrict__ parameters,
                                                                      const float* __restrict__ x, float slope,
                                                                      float* __restrict__ u, float* __restrict__ g) {
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
    mlp_chain_forward(s, parameters, input, z, slope, u + chain);
    if (g != nullptr) mlp_chain_backward(s, parameters, z, slope, delta, delta_next, g + chain * d);
}

/// Sum over the block of one value per thread in a fixed order (warps by shuffle, then warp totals in warp order);
/// the total is valid in thread 0. `partial`: 32 floats of shared memory.
template <class = void>
__device__ float block_total(float value, float* partial) {
    for (int offset = 16; offset > 0; offset /= 2) value += __shfl_down_sync(0xffffffffu, value, offset);
    const int warp = static_cast<int>(threadIdx.x) / 32, warps = (static_cast<int>(blockDim.x) + 31) / 32;
    if (threadIdx.x % 32 == 0) partial[warp] = value;
    __syncthreads();
    float total = 0.0f;
    if (threadIdx.x == 0)
        for (int k = 0; k < warps; ++k) total += partial[k];
    __syncthreads();
    return total;
}

/// A whole unadjusted Langevin chain (kernels::langevin_chain) of one chain per block, with no launch per step: the
/// parameters are copied once into shared memory (layout `in_shared`: W and W^T), then every step evaluates U and dU/dx
/// with the functions of mlp_chain_kernel, multiplies them by the factors of scaled_energy wrappers as those do, and
/// moves x with kernels::langevin_step (the same Philox numbers). The block's last warp computes each step's normals
/// while the others evaluate the network. Per chain, the sum of ||dU/dx|| over the steps + 1 states goes to
/// chain_norm_sums (double, in step order). blockDim.x must be chain_block_threads + 32.
template <class = void>
__global__ void __launch_bounds__(chain_block_threads + 32) mlp_langevin_chain_kernel(
    mlp_shape flat, mlp_shape in_shared, const float* __restrict__ parameters, float slope, kernels::langevin_chain c,
    double* __restrict__ chain_norm_sums) {
    extern __shared__ float shared[];
    __shared__ float partial[32];
    __shared__ float energy;
    const index chain = blockIdx.x;
    const int t = static_cast<int>(threadIdx.x), threads = static_cast<int>(blockDim.x);
    const bool noise_warp = t >= chain_block_threads;
    const int d = flat.sizes[0];
    float* p = shared;
    float* x = p + in_shared.parameter_floats;
    float* g = x + d;
    float* z = g + d;
    float* delta = z + in_shared.hidden_floats;
    float* delta_next = delta + in_shared.widest;
    float* normals = delta_next + in_shared.widest;  // 4 per block of the state
    for (int l = 0; l < flat.layers; ++l) {
        const int in = flat.sizes[l], out = flat.sizes[l + 1];
        const matrix_layout w = in_shared.forward[l], wt = in_shared.backward[l];
        for (int k = t; k < in * out; k += threads) {
            const int j = k / in, i = k - j * in;
            const float v = parameters[flat.forward[l].offset + k];
            p[w.offset + j * w.row_stride + i * w.column_stride] = v;
            p[wt.offset + i * wt.row_stride + j * wt.column_stride] = v;
        }
        for (int j = t; j < out; j += threads) p[in_shared.bias_offset[l] + j] = parameters[flat.bias_offset[l] + j];
    }
    float* x_out = c.x + chain * d;
    float* g_out = c.g + chain * d;
    for (int i = t; i < d; i += threads) {
        x[i] = x_out[i];
        if (c.cached) g[i] = g_out[i];
    }
    if (t == 0 && c.cached) energy = c.u[chain];
    kernels::langevin_step move{x, x, g, d, c.rng, c.first_chain + static_cast<std::uint32_t>(chain), {}, c.move, c.noise};
    const std::uint64_t first_step = *c.first_step;
    const index blocks = kernels::blocks_per_chain(d);
    __syncthreads();
    double norm_sum = 0.0;
    float norm = 0.0f;
    for (index l = 0;; ++l) {
        const bool evaluate = l > 0 || !c.cached;
        if (noise_warp) {  // step l's normals, while the network runs
            if (l < c.steps) {
                move.step = {nullptr, first_step + static_cast<std::uint64_t>(l)};
                for (index b = t - chain_block_threads; b < blocks; b += 32) {
                    float zb[4];
                    move.normals(b, zb);
                    for (int j = 0; j < 4; ++j) normals[4 * b + j] = zb[j];
                }
            }
        } else if (evaluate) {
            mlp_chain_forward(in_shared, p, x, z, slope, &energy);
            mlp_chain_backward(in_shared, p, z, slope, delta, delta_next, g);
        }
        __syncthreads();
        float sq = 0.0f;
        for (int i = t; i < d; i += threads) {
            if (evaluate)
                for (int k = c.factor_count - 1; k >= 0; --k) g[i] = c.factors[k] * g[i];  // innermost first
            sq = fmaf(g[i], g[i], sq);
        }
        if (t == 0 && evaluate)
            for (int k = c.factor_count - 1; k >= 0; --k) energy = c.factors[k] * energy;
        norm = sqrtf(block_total(sq, partial));  // its barriers order g before the move
        norm_sum += norm;
        if (l == c.steps) break;
        for (index b = t; b < blocks; b += threads) {
            const float zb[4] = {normals[4 * b], normals[4 * b + 1], normals[4 * b + 2], normals[4 * b + 3]};
            move.apply(b, zb);
        }
        __syncthreads();
    }
    for (int i = t; i < d; i += threads) {
        x_out[i] = x[i];
        g_out[i] = g[i];
    }
    if (t == 0) {
        c.u[chain] = energy;
        c.norms[chain] = norm;
        chain_norm_sums[chain] = norm_sum;
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
        device_buffer<double> chain_norm_sums;                // capacity: per chain, of a whole-chain run

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
        ws.chain_norm_sums.resize(max_chains);
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

    /// Whether run_langevin_chain can run: compute_options::whole_chain is on and the parameters, one chain's
    /// activations and its state fit in one block's shared memory (the toy network takes 93 KB of the 227 KB a block
    /// may have on an H100 or H200).
    [[nodiscard]] bool runs_langevin_chain() const { return options_.whole_chain && whole_chain_bytes_ != 0; }

    /// A whole unadjusted Langevin chain as one kernel, enqueued on ws's stream (ebm::langevin and
    /// ebm::langevin_decoupled call it when runs_langevin_chain()): the states, gradients and energies of the
    /// step-by-step chain, bit for bit; c.norm_total gets the same sum in another order.
    void run_langevin_chain(const kernels::langevin_chain& c, workspace& ws) const {
        constexpr const char* where = "cuda::mlp::run_langevin_chain";
        if (!runs_langevin_chain())
            ebm::detail::fail(where, "the network must fit one block's shared memory with compute_options::whole_chain on "
                                     "(runs_langevin_chain())", whole_chain_bytes_);
        if (c.dimension != dimension())
            ebm::detail::fail(where, "chain dimension must equal " + ebm::detail::to_text(dimension()), c.dimension);
        if (c.count <= 0 || c.count > ws.capacity)
            ebm::detail::fail(where, "chain count must be between 1 and the workspace capacity " +
                                         ebm::detail::to_text(ws.capacity), c.count);
        ebm::detail::require_non_negative(where, "steps", c.steps);
        detail::mlp_langevin_chain_kernel<><<<static_cast<unsigned>(c.count), chain_threads() + 32, whole_chain_bytes_,
                                             ws.get_stream()>>>(shape_, shared_shape_, parameters_.data(), slope_, c,
                                                                ws.chain_norm_sums.data());
        EBM_CUDA_CHECK(cudaGetLastError());
        accumulate_total(ws.chain_norm_sums.data(), c.count, 1.0, c.norm_total, ws.get_stream());
    }

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
                const int in = static_cast<int>(sizes_[l]), offset = static_cast<int>(weight_offset_[l]);
                shape_.forward[l] = {offset, in, 1};
                shape_.backward[l] = {offset, 1, in};
                shape_.bias_offset[l] = static_cast<int>(bias_offset_[l]);
                if (l + 2 < sizes_.size()) shape_.hidden_floats += static_cast<int>(sizes_[l + 1]);
            }
            shape_.widest = static_cast<int>(*std::max_element(sizes_.begin(), sizes_.end()));
            shape_.parameter_floats = static_cast<int>(parameter_count_);
            fused_ = chain_kernel_shared_bytes() <= std::size_t{48} << 10;
        }
        plan_whole_chain();
    }

    // The shared-memory layout of the whole-chain kernel (W and W^T, rows padded) and its size; 0 when it does not fit
    // the device's opt-in limit (the kernel is then never launched).
    void plan_whole_chain() {
        whole_chain_bytes_ = 0;
        if (!fused_) return;
        shared_shape_ = shape_;
        // A row read by row_products: a warp holds 32 / split rows of `split` lanes each, lane k at column k + split m;
        // a row stride = split (mod 32) puts those 32 reads in 32 banks.
        const auto padded = [](int columns, int rows) {
            const int split = detail::row_split(rows, detail::chain_block_threads);
            int stride = columns;
            while (stride % 32 != split % 32) ++stride;
            return stride;
        };
        int offset = 0;
        for (int l = 0; l < shape_.layers; ++l) {
            const int in = shape_.sizes[l], out = shape_.sizes[l + 1];
            const int stride = padded(in, out), stride_t = padded(out, in);
            shared_shape_.forward[l] = {offset, stride, 1};
            offset += out * stride;
            shared_shape_.backward[l] = {offset, stride_t, 1};
            offset += in * stride_t;
            shared_shape_.bias_offset[l] = offset;
            offset += out;
        }
        shared_shape_.parameter_floats = offset;
        const std::size_t bytes =
            sizeof(float) * static_cast<std::size_t>(offset + 2 * shape_.sizes[0] + shape_.hidden_floats + 2 * shape_.widest +
                                                     4 * static_cast<int>(kernels::blocks_per_chain(shape_.sizes[0])));
        int device = 0, limit = 0;
        EBM_CUDA_CHECK(cudaGetDevice(&device));
        EBM_CUDA_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
        // The kernel's static shared memory (33 floats) comes on top of the dynamic size.
        if (bytes + 64 * sizeof(float) > static_cast<std::size_t>(limit)) return;
        EBM_CUDA_CHECK(cudaFuncSetAttribute(detail::mlp_langevin_chain_kernel<void>,
                                            cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
        whole_chain_bytes_ = bytes;
    }

    [[nodiscard]] static unsigned chain_threads() { return static_cast<unsigned>(detail::chain_block_threads); }

    [[nodiscard]] std::size_t chain_kernel_shared_bytes() const {
        return sizeof(float) * static_cast<std::size_t>(shape_.sizes[0] + shape_.hidden_floats + 2 * shape_.widest);
    }

    void launch_chains(const_device_batch_view x, float* u, float* g, workspace& ws) const {
        detail::mlp_chain_kernel<><<<static_cast<unsigned>(x.count), chain_threads(), chain_kernel_shared_bytes(),
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
    detail::mlp_shape shape_;         // the flat parameters' layout
    detail::mlp_shape shared_shape_;  // the whole-chain kernel's shared-memory copy
    bool fused_ = false;
    std::size_t whole_chain_bytes_ = 0;
};

}  // namespace ebm::cuda_backend
