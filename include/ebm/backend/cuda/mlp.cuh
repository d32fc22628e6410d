#pragma once
// The MLP energy on the GPU: U(x) = W_L a_{L-1} + b_L, a_l = LeakyReLU(W_l a_{l-1} + b_l), exactly the network and the
// flat parameter layout of ebm::mlp (energy/mlp.hpp: per layer weight out x in row-major, then bias, PyTorch's
// state_dict order), so parameters copy across backends as one array. Networks of up to 8 layers whose activations fit
// in 48 KiB of shared memory (the toy networks) run as per-chain kernels, a team of four warps per chain, and a whole
// unadjusted Langevin chain as one kernel; others run layer by layer on cuBLAS.
//
// It satisfies the same concepts as ebm::mlp (energy_function, learnable_energy) with the same signatures; the
// difference is where the pointers point: batches (const_device_batch_view / device_batch_view), energies and parameter spans
// (device_span) are DEVICE memory, and every call is enqueued on the workspace's stream (asynchronous; synchronise the stream
// before reading results on the host). A workspace owns its stream, cuBLAS handle and cuBLAS workspace, so a
// sampler can capture a K-step chain of these calls in one CUDA graph.
//
// The per-chain kernels compute in FP32 whatever compute_options say; cuBLAS (larger networks) runs in FP32 unless
// compute_options::tf32 (set_compute_options). Needs nvcc.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <utility>  // std::integer_sequence
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
#include "mlp_layout.hpp"
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
        a[k] = v > slope * v ? v : slope * v;  // max(v, slope v): LeakyReLU for the slopes in [0, 1] it takes
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

// Device copies for the compiled kernel: constant objects with known values, so the compiler folds every read.
__device__ constexpr mlp_shape toy_flat_on_device = toy_flat;
__device__ constexpr mlp_shape toy_shared_on_device = toy_shared;

/// A team's barrier: the named barrier `id` (1..15) for its team_threads threads (0 is __syncthreads').
struct team_barrier {
    int id;
    __device__ void operator()() const { asm volatile("bar.sync %0, %1;" ::"r"(id), "n"(team_threads) : "memory"); }
};

/// f(l) for l = 0, ..., count - 1 in order. Fixed: count is a compile-time constant after inlining, and so is every
/// l (one copy of f per layer, so the layers' sizes and offsets fold into the code); otherwise a loop.
template <bool Fixed, class F, int... L>
__device__ __forceinline__ void for_each_layer(int count, F f, std::integer_sequence<int, L...>) {
    if constexpr (Fixed) {
        ((L < count ? f(L) : void()), ...);
    } else {
        for (int l = 0; l < count; ++l) f(l);
    }
}
template <bool Fixed, class F>
__device__ __forceinline__ void for_each_layer(int count, F f) {
    for_each_layer<Fixed>(count, f, std::make_integer_sequence<int, mlp_shape::max_layers>{});
}

/// store(r, sum_c M(r, c) v[c]) for every row r of the product m, by a team (thread t of team_threads); v is shared
/// memory, 16-byte aligned. 2^split_shift lanes of a warp share a row; lane k takes the column groups 4g..4g+3 with
/// g = k, k + split, ... in increasing order into four partial sums (column 4g + q into sum q; a last, partial group
/// element by element), adds them as (p0 + p1) + (p2 + p3), and a fixed shuffle tree adds the lanes' sums. The order
/// depends only on the sizes, so results are deterministic and the same in every kernel that calls this, whether M
/// is in global or shared memory and whether rows are read as float4s or element by element.
template <bool Fixed, class Store>
__device__ void team_row_products(const float* parameters, const row_product& m, const float* v, int t, Store store) {
    const int split = 1 << m.split_shift;
    const int k = t & (split - 1);
    const int per_pass = team_threads >> m.split_shift;
    const int whole = m.columns >> 2;  // full groups of four columns
    const int groups = (whole + split - 1) >> m.split_shift;  // per lane, at most
    const float* base = parameters + m.offset;
#pragma unroll(Fixed ? 64 : 1)
    for (int first = 0; first < m.rows; first += per_pass) {
        if (first + ((t & ~31) >> m.split_shift) >= m.rows) continue;  // the warp's rows all lie past the last
        const int r = first + (t >> m.split_shift);
        const float* row = base + (r < m.rows ? r : 0) * m.row_stride;  // a lane past the last row reads row 0
        float p0 = 0.0f, p1 = 0.0f, p2 = 0.0f, p3 = 0.0f;
        if (m.vector) {
            const float4* row4 = reinterpret_cast<const float4*>(row);
            const float4* v4 = reinterpret_cast<const float4*>(v);
#pragma unroll(Fixed ? 64 : 4)
            for (int i = 0; i < groups; ++i) {  // g = k, k + split, ...: a constant trip count when the sizes are
                const int g = k + (i << m.split_shift);
                if (g >= whole) break;
                const float4 w = row4[g], x = v4[g];
                p0 = __fmaf_rn(w.x, x.x, p0);
                p1 = __fmaf_rn(w.y, x.y, p1);
                p2 = __fmaf_rn(w.z, x.z, p2);
                p3 = __fmaf_rn(w.w, x.w, p3);
            }
        } else {
            const int cs = m.column_stride;
#pragma unroll(Fixed ? 64 : 2)
            for (int i = 0; i < groups; ++i) {
                const int g = k + (i << m.split_shift);
                if (g >= whole) break;
                const float* w = row + 4 * g * cs;
                const float4 x = reinterpret_cast<const float4*>(v)[g];
                p0 = __fmaf_rn(w[0], x.x, p0);
                p1 = __fmaf_rn(w[cs], x.y, p1);
                p2 = __fmaf_rn(w[2 * cs], x.z, p2);
                p3 = __fmaf_rn(w[3 * cs], x.w, p3);
            }
        }
        if (4 * whole < m.columns && (whole & (split - 1)) == k) {  // the partial group: one, two or three columns
            const int c = 4 * whole, cs = m.column_stride;
            p0 = __fmaf_rn(row[c * cs], v[c], p0);
            if (c + 1 < m.columns) p1 = __fmaf_rn(row[(c + 1) * cs], v[c + 1], p1);
            if (c + 2 < m.columns) p2 = __fmaf_rn(row[(c + 2) * cs], v[c + 2], p2);
        }
        float acc = (p0 + p1) + (p2 + p3);
        for (int offset = split / 2; offset > 0; offset /= 2) acc += __shfl_down_sync(0xffffffffu, acc, offset, split);
        if (k == 0 && r < m.rows) store(r, acc);
    }
}

/// One chain's working vectors in shared memory (each a multiple of 4 floats): the hidden pre-activations layer after
/// layer, and two vectors of the widest size that the forward pass uses for activations and the backward pass for
/// dU/dz.
struct chain_vectors {
    float* z;
    float* first;
    float* second;
    EBM_HOST_DEVICE chain_vectors(const mlp_shape& s, float* at) : z(at), first(at + s.hidden_floats), second(first + s.widest) {}
};

/// The forward pass of one chain by a team: z_l = W_l a_{l-1} + b_l for the hidden layers (into v.z), a_l =
/// max(z_l, slope z_l) as ebm::mlp, then *energy = W_L a_{L-1} + b_L. `input` is shared memory (padded4), the
/// parameters global or shared memory; the team's barrier follows every layer.
template <bool Fixed>
__device__ void team_mlp_forward(const mlp_shape& s, const float* parameters, const float* input, chain_vectors v,
                                 float slope, float* energy, int t, team_barrier sync) {
    for_each_layer<Fixed>(s.layers, [&](int l) {
        const float* previous = l == 0 ? input : ((l & 1) == 0 ? v.second : v.first);  // a_{l-1}
        const float* b = parameters + s.bias_offset[l];
        const bool last = l + 1 == s.layers;
        float* z = v.z + s.z_offset[l];
        float* a = (l & 1) == 0 ? v.first : v.second;
        team_row_products<Fixed>(parameters, s.forward[l], previous, t, [=](int j, float sum) {
            const float value = sum + b[j];
            if (last) {
                *energy = value;
            } else {
                z[j] = value;
                a[j] = value > slope * value ? value : slope * value;
            }
        });
        sync();
    });
}

/// The backward pass of one chain by a team, from the pre-activations of team_mlp_forward: dU/dz of the last hidden
/// layer is the output weight row times LeakyReLU'(z); then dU/da_{l-1} = W_l^T (dU/dz_l), times LeakyReLU'(z_{l-1})
/// below the first layer; the last product is dU/dx, written to `gradient` (global or shared memory; nullptr: not
/// computed). `deltas` (nullptr: none) receives every hidden layer's dU/dz in z's layout, for the parameter gradient.
template <bool Fixed>
__device__ void team_mlp_backward(const mlp_shape& s, const float* parameters, chain_vectors v, float slope,
                                  float* gradient, int t, team_barrier sync, float* deltas = nullptr) {
    const int last = s.layers - 1;
    const row_product& w_out = s.forward[last];  // 1 x in: a row
    const float* z_top = v.z + s.z_offset[last - 1];
    for (int i = t; i < w_out.columns; i += team_threads) {
        const float w = parameters[w_out.offset + i * w_out.column_stride];
        v.first[i] = z_top[i] > 0.0f ? w : slope * w;
        if (deltas != nullptr) deltas[s.z_offset[last - 1] + i] = v.first[i];
    }
    sync();
    for_each_layer<Fixed>(last, [&](int step) {
        const int l = last - 1 - step;  // layer l's weight, from the top
        // dU/dz of layer l + 1 is in `first` when last - 1 - l is even: the two vectors alternate from the top.
        const bool from_first = ((last - 1 - l) & 1) == 0;
        const float* delta = from_first ? v.first : v.second;
        float* target = l > 0 ? (from_first ? v.second : v.first) : gradient;
        const float* z_in = l > 0 ? v.z + s.z_offset[l - 1] : nullptr;  // z_{l-1}
        if (l == 0 && gradient == nullptr) return;
        float* record = l > 0 && deltas != nullptr ? deltas + s.z_offset[l - 1] : nullptr;
        team_row_products<Fixed>(parameters, s.backward[l], delta, t, [=](int i, float sum) {
            target[i] = z_in == nullptr ? sum : (z_in[i] > 0.0f ? sum : slope * sum);
            if (record != nullptr) record[i] = target[i];
        });
        sync();
    });
}

/// U(x) into u and, unless g is null, dU/dx into g, one chain per block of team_threads: the input and the chain's
/// vectors live in shared memory, the parameters are read from global memory. For the weighted parameter gradient
/// (records non-null) also the chain's hidden pre-activations into z_out and its hidden layers' dU/dz into delta_out
/// (hidden_floats per chain, z's layout).
/// (Kernels are templates, so that a header-defined kernel can be included in several translation units.)
template <class = void>
__global__ void __launch_bounds__(team_threads) mlp_chain_kernel(mlp_shape s, const float* __restrict__ parameters,
                                                                 const float* __restrict__ x, float slope,
                                                                 float* __restrict__ u, float* __restrict__ g,
                                                                 float* __restrict__ z_out, float* __restrict__ delta_out) {
    extern __shared__ float4 shared_vectors[];
    float* input = reinterpret_cast<float*>(shared_vectors);
    const index chain = blockIdx.x;
    const int t = static_cast<int>(threadIdx.x), d = s.input, h = s.hidden_floats;
    const team_barrier sync{1};
    const chain_vectors v(s, input + padded4(d));
    for (int i = t; i < d; i += team_threads) input[i] = x[chain * d + i];
    sync();
    team_mlp_forward<false>(s, parameters, input, v, slope, u + chain, t, sync);
    const bool records = z_out != nullptr;
    if (records)
        for (int i = t; i < h; i += team_threads) z_out[chain * h + i] = v.z[i];
    if (g != nullptr || records)
        team_mlp_backward<false>(s, parameters, v, slope, g != nullptr ? g + chain * d : nullptr, t, sync,
                                 records ? delta_out + chain * h : nullptr);
}

/// The weighted parameter gradient from mlp_chain_kernel's records, one thread per parameter: grad[p] += sum_i weights[i] dU(x_i)/dtheta_p over the chains in order,
/// from the records: dU/dW_l(j, k) = dU/dz_l(j) a_{l-1}(k) (a_{-1} = x, a = LeakyReLU(z)), dU/db_l(j) = dU/dz_l(j), and
/// dU/dz = 1 at the output.
template <class = void>
__global__ void mlp_parameter_gradient_kernel(mlp_shape s, const float* __restrict__ x, const float* __restrict__ z,
                                              const float* __restrict__ delta, const float* __restrict__ weights,
                                              index n, float slope, float* __restrict__ grad) {
    const index p = static_cast<index>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (p >= s.parameter_floats) return;
    int l = 0, j = 0, k = -1;  // k < 0: a bias
    for (; l < s.layers; ++l) {
        const row_product& w = s.forward[l];
        const index at = p - w.offset;
        if (at >= 0 && at < static_cast<index>(w.rows) * w.columns) {
            j = static_cast<int>(at / w.columns);
            k = static_cast<int>(at - static_cast<index>(j) * w.columns);
            break;
        }
        if (p >= s.bias_offset[l] && p < s.bias_offset[l] + w.rows) {
            j = static_cast<int>(p - s.bias_offset[l]);
            break;
        }
    }
    const int h = s.hidden_floats, d = s.input;
    const bool output = l == s.layers - 1;
    float total = 0.0f;
    for (index i = 0; i < n; ++i) {
        const float dz = output ? weights[i] : weights[i] * delta[i * h + s.z_offset[l] + j];
        float a = 1.0f;
        if (k >= 0) {
            if (l == 0) {
                a = x[i * d + k];
            } else {
                const float zk = z[i * h + s.z_offset[l - 1] + k];
                a = zk > slope * zk ? zk : slope * zk;
            }
        }
        total = __fmaf_rn(dz, a, total);
    }
    grad[p] += total;
}

/// A whole unadjusted Langevin chain (kernels::langevin_chain) with no launch per step: (blockDim.x - 32) /
/// team_threads chains per block, a team each, and a last warp that computes the normals of the next step while the
/// teams evaluate. The parameters are copied once into shared memory (layout `in_shared`: W and W^T), then every step
/// evaluates U and dU/dx with the functions of mlp_chain_kernel (the same sums in the same order), multiplies them by
/// the factors of scaled_energy wrappers as those do, and moves x with kernels::langevin_step (the same Philox
/// numbers). Per chain, the sum of ||dU/dx|| over the steps + 1 states goes to chain_norm_sums (double, in step
/// order).
template <bool Fixed>
__device__ void whole_langevin_chain(const mlp_shape& in_shared, const float* __restrict__ parameters,
                                     const mlp_shape& flat, float slope, const kernels::langevin_chain& c,
                                     double* __restrict__ chain_norm_sums) {
    extern __shared__ float4 shared_vectors[];
    const int chains = (static_cast<int>(blockDim.x) - 32) / team_threads;
    const int all = static_cast<int>(blockDim.x);
    const int thread = static_cast<int>(threadIdx.x), lane = thread & 31;
    const int team = thread / team_threads, t = thread - team * team_threads;
    const bool noise_warp = team == chains;
    const index first_chain = static_cast<index>(blockIdx.x) * chains;
    const int d = flat.input;
    const index blocks = kernels::blocks_per_chain(d);
    float* p = reinterpret_cast<float*>(shared_vectors);
    for (int l = 0; l < flat.layers; ++l) {
        const int in = flat.forward[l].columns, out = flat.forward[l].rows;
        const row_product& w = in_shared.forward[l];
        const row_product& wt = in_shared.backward[l];
        for (int k = thread; k < in * out; k += all) {
            const int j = k / in, i = k - j * in;
            const float value = parameters[flat.forward[l].offset + k];
            p[w.offset + j * w.row_stride + i] = value;
            p[wt.offset + i * wt.row_stride + j] = value;
        }
        for (int j = thread; j < out; j += all) p[in_shared.bias_offset[l] + j] = parameters[flat.bias_offset[l] + j];
    }
    const std::uint64_t first_step = *c.first_step;
    const int chain_floats = whole_chain_floats(in_shared);
    const int normals_at = 2 * padded4(d) + chain_vector_floats(in_shared);  // in a chain's floats
    // The normals of step `step` into set step % 2 of every chain of the block (the noise warp).
    const auto draw_normals = [=](index step) {
        for (index k = lane; k < chains * blocks; k += 32) {
            const int which = static_cast<int>(k / blocks);
            const index b = k - which * blocks, chain = first_chain + which;
            if (chain >= c.count) break;
            const kernels::langevin_step move{nullptr, nullptr, nullptr, d, c.rng,
                                              c.first_chain + static_cast<std::uint32_t>(chain),
                                              {nullptr, first_step + static_cast<std::uint64_t>(step)}, c.move, c.noise};
            float zb[4];
            move.normals(b, zb);
            float* normals = p + in_shared.parameter_floats + which * chain_floats + normals_at + (step & 1) * 4 * blocks;
            for (int j = 0; j < 4; ++j) normals[4 * b + j] = zb[j];
        }
    };
    const index chain = first_chain + team;
    const bool active = !noise_warp && chain < c.count;
    const team_barrier sync{1 + team};
    float* x = p + in_shared.parameter_floats + (noise_warp ? 0 : team) * chain_floats;
    float* g = x + padded4(d);
    const chain_vectors v(in_shared, g + padded4(d));
    float* normals = v.second + in_shared.widest;
    float* energy = normals + 2 * 4 * blocks;
    float* x_out = active ? c.x + chain * d : nullptr;
    float* g_out = active ? c.g + chain * d : nullptr;
    if (active) {
        for (int i = t; i < d; i += team_threads) {
            x[i] = x_out[i];
            if (c.cached) g[i] = g_out[i];
        }
        if (t == 0 && c.cached) *energy = c.u[chain];
    }
    if (noise_warp && c.steps > 0) draw_normals(0);
    const kernels::langevin_step move{x, x, g, d, c.rng, c.first_chain + static_cast<std::uint32_t>(chain), {}, c.move,
                                      c.noise};
    __syncthreads();
    double norm_sum = 0.0;
    float norm = 0.0f;
    for (index l = 0;; ++l) {
        if (noise_warp) {
            if (l + 1 < c.steps) draw_normals(l + 1);
        } else if (active) {
            if (l > 0 || !c.cached) {
                team_mlp_forward<Fixed>(in_shared, p, x, v, slope, energy, t, sync);
                team_mlp_backward<Fixed>(in_shared, p, v, slope, g, t, sync);
                // Innermost first; the loop over every slot keeps the factors' indices constant (no local copy of c).
#pragma unroll
                for (int k = kernels::langevin_chain::max_factors - 1; k >= 0; --k) {
                    if (k >= c.factor_count) continue;
                    for (int i = t; i < d; i += team_threads) g[i] = c.factors[k] * g[i];
                    if (t == 0) *energy = c.factors[k] * *energy;
                }
                sync();
            }
            if (t < 32) {  // ||dU/dx|| by the team's first warp (its lane 0 keeps the sums)
                float sq = 0.0f;
                for (int i = t; i < d; i += 32) sq = fmaf(g[i], g[i], sq);
                for (int offset = 16; offset > 0; offset /= 2) sq += __shfl_xor_sync(0xffffffffu, sq, offset);
                norm = sqrtf(sq);
                norm_sum += norm;
            }
            if (l < c.steps) {
                const float* z = normals + (l & 1) * 4 * blocks;
                for (index b = t; b < blocks; b += team_threads) {
                    const float zb[4] = {z[4 * b], z[4 * b + 1], z[4 * b + 2], z[4 * b + 3]};
                    move.apply(b, zb);
                }
            }
        }
        if (l == c.steps) break;
        __syncthreads();  // the moves are done; the next step's normals are drawn and this step's read
    }
    if (!active) return;
    sync();  // the last state's x and g, whichever threads wrote them
    for (int i = t; i < d; i += team_threads) {
        x_out[i] = x[i];
        g_out[i] = g[i];
    }
    if (t == 0) {
        c.u[chain] = *energy;
        c.norms[chain] = norm;
        chain_norm_sums[chain] = norm_sum;
    }
}

/// The whole-chain kernel for any sizes (read at run time from the kernel's parameters).
template <class = void>
__global__ void __launch_bounds__(team_threads * max_chains_per_block + 32, 1) mlp_langevin_chain_kernel(
    mlp_shape in_shared, const float* __restrict__ parameters, mlp_shape flat, float slope, kernels::langevin_chain c,
    double* __restrict__ chain_norm_sums) {
    whole_langevin_chain<false>(in_shared, parameters, flat, slope, c, chain_norm_sums);
}

/// The same kernel with the layouts of toy_sizes compiled in: the same operations in the same order, with constant
/// loop bounds and offsets.
template <class = void>
__global__ void __launch_bounds__(team_threads * max_chains_per_block + 32, 1) mlp_langevin_chain_kernel_toy(
    const float* __restrict__ parameters, float slope, kernels::langevin_chain c, double* __restrict__ chain_norm_sums) {
    whole_langevin_chain<true>(toy_shared_on_device, parameters, toy_flat_on_device, slope, c, chain_norm_sums);
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
        // Layer by layer on cuBLAS (networks too large for the per-chain kernels):
        device_buffer<unsigned char> blas_workspace;          // fixed cuBLAS workspace: graph capture never allocates
        std::vector<device_buffer<float>> pre, post;          // z_l, a_l per hidden layer: width x capacity
        device_buffer<float> delta_a, delta_b;                // widest x capacity
        device_buffer<float> ones;                            // capacity ones (bias gradients as GEMV)
        device_buffer<double> chain_norm_sums;                // capacity: per chain, of a whole-chain run
        device_buffer<float> z_record, delta_record;          // fused networks: per chain z and dU/dz (hidden floats)

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
        ws.chain_norm_sums.resize(max_chains);
        if (fused_) {  // the per-chain kernels: their records for the parameter gradient
            ws.z_record.resize(static_cast<index>(shape_.hidden_floats) * max_chains);
            ws.delta_record.resize(static_cast<index>(shape_.hidden_floats) * max_chains);
        } else {  // layer by layer on cuBLAS
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
        }
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

    /// Whether the network runs as per-chain kernels (networks of at most mlp_shape::max_layers layers whose
    /// activations fit in 48 KiB of shared memory): energy and energy_and_gradient are one kernel with a team of four
    /// warps per chain, the weighted parameter gradient two (each chain's pre-activations and dU/dz, then one thread
    /// per parameter summing over the chains in order), rather than layer by layer on cuBLAS.
    [[nodiscard]] bool fused() const { return fused_; }

    /// Whether run_langevin_chain can run: compute_options::whole_chain is on and the parameters, one chain's
    /// activations and its state fit in one block's shared memory (the toy network takes 99 KB of the 227 KB a block
    /// may have on an H100 or H200, 1.5 KB of it per chain).
    [[nodiscard]] bool runs_langevin_chain() const { return options_.whole_chain && chains_per_block_ != 0; }

    /// Whether run_langevin_chain uses the kernel compiled for this network's sizes (the Anatomy toy network,
    /// 2-32-64-64-64-1: constant loop bounds and offsets, 1.9x the speed of the kernel that reads the sizes at run
    /// time; the same operations in the same order, so the same bits).
    [[nodiscard]] bool compiled_sizes() const { return runs_langevin_chain() && compiled_sizes_; }

    /// A whole unadjusted Langevin chain as one kernel, enqueued on ws's stream (ebm::langevin and
    /// ebm::langevin_decoupled call it when runs_langevin_chain()): the states, gradients and energies of the
    /// step-by-step chain, bit for bit; c.norm_total gets the same sum in another order.
    void run_langevin_chain(const kernels::langevin_chain& c, workspace& ws) const {
        constexpr const char* where = "cuda::mlp::run_langevin_chain";
        if (!runs_langevin_chain())
            ebm::detail::fail(where, "the network must fit one block's shared memory with compute_options::whole_chain on "
                                     "(runs_langevin_chain())", whole_chain_bytes(1));
        if (c.dimension != dimension())
            ebm::detail::fail(where, "chain dimension must equal " + ebm::detail::to_text(dimension()), c.dimension);
        if (c.count <= 0 || c.count > ws.capacity)
            ebm::detail::fail(where, "chain count must be between 1 and the workspace capacity " +
                                         ebm::detail::to_text(ws.capacity), c.count);
        ebm::detail::require_non_negative(where, "steps", c.steps);
        // Chains share a block (and its copy of the parameters) only when there are more chains than SMs.
        const index per_block = std::clamp<index>((c.count + multiprocessors_ - 1) / multiprocessors_, 1, chains_per_block_);
        const index blocks = (c.count + per_block - 1) / per_block;
        const std::size_t bytes = whole_chain_bytes(static_cast<int>(per_block));
        const dim3 grid(static_cast<unsigned>(blocks)), block(static_cast<unsigned>(detail::team_threads * per_block + 32));
        if (compiled_sizes_)
            detail::mlp_langevin_chain_kernel_toy<><<<grid, block, bytes, ws.get_stream()>>>(parameters_.data(), slope_, c,
                                                                                           ws.chain_norm_sums.data());
        else
            detail::mlp_langevin_chain_kernel<><<<grid, block, bytes, ws.get_stream()>>>(
                shared_shape_, parameters_.data(), shape_, slope_, c, ws.chain_norm_sums.data());
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
        if (fused_) {  // two kernels instead of a GEMM chain: at the toy's sizes, launches cost more than the arithmetic
            detail::mlp_chain_kernel<><<<static_cast<unsigned>(x.count), detail::team_threads, chain_kernel_shared_bytes(),
                                       ws.get_stream()>>>(shape_, parameters_.data(), x.data, slope_, u.data(), nullptr,
                                                          ws.z_record.data(), ws.delta_record.data());
            EBM_CUDA_CHECK(cudaGetLastError());
            const unsigned blocks = static_cast<unsigned>((parameter_count_ + 127) / 128);
            detail::mlp_parameter_gradient_kernel<><<<blocks, 128, 0, ws.get_stream()>>>(
                shape_, x.data, ws.z_record.data(), ws.delta_record.data(), weights.data(), x.count, slope_, grad.data());
            EBM_CUDA_CHECK(cudaGetLastError());
            return;
        }
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
            std::vector<int> sizes(sizes_.begin(), sizes_.end());
            shape_ = detail::flat_shape(sizes.data(), static_cast<int>(sizes.size()));
            fused_ = chain_kernel_shared_bytes() <= std::size_t{48} << 10;
        }
        plan_whole_chain();
    }

    // The shared-memory layout of the whole-chain kernel (W and W^T, rows padded) and how many chains a block can run;
    // chains_per_block_ = 0 when not even one fits the device's opt-in limit (the kernel is then never launched).
    void plan_whole_chain() {
        chains_per_block_ = 0;
        if (!fused_) return;
        shared_shape_ = detail::shared_shape(shape_);
        compiled_sizes_ = shape_ == detail::toy_flat;
        int device = 0, limit = 0;
        EBM_CUDA_CHECK(cudaGetDevice(&device));
        EBM_CUDA_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
        EBM_CUDA_CHECK(cudaDeviceGetAttribute(&multiprocessors_, cudaDevAttrMultiProcessorCount, device));
        int chains = detail::max_chains_per_block;
        while (chains > 0 && whole_chain_bytes(chains) > static_cast<std::size_t>(limit)) --chains;
        if (chains == 0) return;
        const int bytes = static_cast<int>(whole_chain_bytes(chains));
        if (compiled_sizes_)
            EBM_CUDA_CHECK(cudaFuncSetAttribute(detail::mlp_langevin_chain_kernel_toy<void>,
                                                cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
        else
            EBM_CUDA_CHECK(cudaFuncSetAttribute(detail::mlp_langevin_chain_kernel<void>,
                                                cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
        chains_per_block_ = chains;
    }

    [[nodiscard]] std::size_t whole_chain_bytes(int chains) const {
        return sizeof(float) * static_cast<std::size_t>(shared_shape_.parameter_floats +
                                                        chains * detail::whole_chain_floats(shared_shape_));
    }

    [[nodiscard]] std::size_t chain_kernel_shared_bytes() const {
        return sizeof(float) *
               static_cast<std::size_t>(detail::padded4(shape_.input) + detail::chain_vector_floats(shape_));
    }

    void launch_chains(const_device_batch_view x, float* u, float* g, workspace& ws) const {
        detail::mlp_chain_kernel<><<<static_cast<unsigned>(x.count), detail::team_threads, chain_kernel_shared_bytes(),
                                   ws.get_stream()>>>(shape_, parameters_.data(), x.data, slope_, u, g, nullptr, nullptr);
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
    int chains_per_block_ = 0;     // of the whole-chain kernel; 0: it cannot run
    bool compiled_sizes_ = false;  // the whole-chain kernel with the sizes compiled in (detail::toy_sizes)
    int multiprocessors_ = 1;
};

}  // namespace ebm::cuda_backend
