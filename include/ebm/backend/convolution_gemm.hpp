#pragma once
// A ConvNet energy's forward and backward passes as matrix products: im2col, one GEMM per convolution over all
// chains (or chunks of them), col2im as a gather fused with LeakyReLU'. The CUDA convnet runs it on cuBLAS (its
// default engine); the CPU tests run the same code with a plain loop GEMM against the oneDNN convnet, so the layout
// and transposition logic below is checked in every build.
//
// Why: cuDNN's FP32 backward-data of the short-run net's stride-2 4x4 convolutions ran at about 3 TFLOP/s on an H200
// with its deterministic algorithms (docs/cuda.md); the same work as one SGEMM per layer runs at cuBLAS's GEMM rate,
// and every step is deterministic (fixed-order GEMMs and gathers, no atomics).
//
// Layout: the input batch is NCHW (chain-major, as every batch); hidden activations are CNHW (channel-major: one GEMM
// writes a layer's output for all chains, row c = channel c); dU/dx is written back in NCHW. Matrices below are
// named row-major; cuBLAS is column-major, so a row-major product C = A B is issued as C^T = B^T A^T.
//   forward   out[C_out][cols] = W[C_out][C_in K K] col[C_in K K][cols],   cols = chains * H_out * W_out
//             (im2col applies the previous layer's bias and LeakyReLU as it reads: no element-wise pass)
//   data      dcol = W^T dout, then col2im (gather) times LeakyReLU' of the layer below
//   filter    dW += dout col^T,  bias  db += dout 1
// Chains are processed in chunks so that an im2col matrix never exceeds `column_budget` floats.
//
// Ops (what runs the pieces): ops.gemm(transpose_a, transpose_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc) with
// cuBLAS's column-major semantics, and ops.elements(n, functor) calling functor(k) for k in [0, n).
#include <algorithm>
#include <climits>
#include <span>
#include <vector>

#include "../config.hpp"
#include "../energy/convnet_architecture.hpp"
#include "../error.hpp"
#include "../kernels/convolution.hpp"

namespace ebm::convolution_gemm {

/// One convolution: shapes, where its parameters sit in the flat vector, and chains per im2col chunk.
struct level {
    index in_c = 0, in_h = 0, in_w = 0, out_c = 0, out_h = 0, out_w = 0, kernel = 1, stride = 1, padding = 0;
    index weight_offset = 0, bias_offset = 0;
    bool activation = true;
    index chunk = 1;
    [[nodiscard]] index rows() const { return in_c * kernel * kernel; }
    [[nodiscard]] index in_plane() const { return in_h * in_w; }
    [[nodiscard]] index out_plane() const { return out_h * out_w; }
    [[nodiscard]] kernels::convolution_geometry geometry(index first_chain, index chunk_chains) const {
        const auto u = [](index v) { return static_cast<unsigned>(v); };
        return {u(in_c), u(in_h), u(in_w), u(out_h), u(out_w), u(kernel), u(stride), u(padding), u(first_chain),
                u(chunk_chains)};
    }
};

/// Everything about one batch size that is not memory: the levels and the sizes of the buffers the caller owns.
struct plan {
    index chains = 0;
    float slope = 0.2f;
    float sign = 1.0f;  // U = sign * network output
    std::vector<level> levels;
    index column_elements = 0;  // the im2col / dcol buffer (largest chunk over the levels)
    index diff_elements = 0;    // each of the two dU/d(activation) buffers
    index ones_elements = 0;    // a vector of ones for the bias gradients (chains * largest output plane)
    [[nodiscard]] index activation_elements(std::size_t l) const {
        return levels[l].out_c * levels[l].out_plane() * chains;
    }
};

/// The caller's memory for one plan (device or host): each level's GEMM output (CNHW, before its bias and
/// LeakyReLU), the column buffer, two gradient buffers, the ones (filled with 1) and the top gradient (chains).
struct buffers {
    std::vector<float*> activations;
    float* columns = nullptr;
    float* diff[2] = {nullptr, nullptr};
    const float* ones = nullptr;
    float* top = nullptr;
};

/// The levels of `arch`: shapes, parameter offsets (convnet_parameter_tensors) and which apply LeakyReLU; one chain
/// per chunk (make_plan sets the chunks). The cuDNN path of the CUDA convnet describes its layers from these too.
inline std::vector<level> levels_of(const convnet_architecture& arch) {
    const std::vector<parameter_tensor> tensors = convnet_parameter_tensors(arch);
    std::vector<level> levels;
    index c = arch.channels, h = arch.height, w = arch.width;
    for (std::size_t l = 0; l < arch.layers.size(); ++l) {
        const conv_layer& layer = arch.layers[l];
        level v;
        v.in_c = c;
        v.in_h = h;
        v.in_w = w;
        v.out_c = layer.out_channels;
        v.kernel = layer.kernel;
        v.stride = layer.stride;
        v.padding = layer.padding;
        v.out_h = (h + 2 * layer.padding - layer.kernel) / layer.stride + 1;
        v.out_w = (w + 2 * layer.padding - layer.kernel) / layer.stride + 1;
        v.weight_offset = tensors[2 * l].offset;
        v.bias_offset = tensors[2 * l + 1].offset;
        v.activation = l + 1 < arch.layers.size();
        levels.push_back(v);
        c = v.out_c;
        h = v.out_h;
        w = v.out_w;
    }
    return levels;
}

/// The plan of `arch` for `chains` chains. column_budget bounds the im2col matrix (floats); every extent must stay
/// below 2^31 (the element kernels index in 32 bits).
inline plan make_plan(const convnet_architecture& arch, index chains, bool negate_output, index column_budget) {
    const char* where = "convolution_gemm::make_plan";
    detail::require_positive(where, "chains", chains);
    detail::require_positive(where, "column_budget", column_budget);
    plan p;
    p.chains = chains;
    p.slope = arch.negative_slope;
    p.sign = negate_output ? -1.0f : 1.0f;
    p.levels = levels_of(arch);
    constexpr index limit = INT_MAX;
    for (level& v : p.levels) {
        const index per_chain = v.rows() * v.out_plane();
        v.chunk = std::clamp<index>(column_budget / per_chain, 1, chains);
        p.column_elements = std::max(p.column_elements, per_chain * v.chunk);
        p.diff_elements = std::max({p.diff_elements, v.in_c * v.in_plane() * chains, v.out_c * v.out_plane() * chains});
        p.ones_elements = std::max(p.ones_elements, v.out_plane() * chains);
        if (p.column_elements >= limit || p.diff_elements >= limit)
            detail::fail(where, "a layer's activations or im2col matrix would exceed 2^31 elements; use fewer chains",
                         chains);
    }
    return p;
}

/// u[n] = sign * network(x_n) for the plan's chains; x is NCHW. Each level's GEMM output is kept as it is (before
/// bias and LeakyReLU): the next level's im2col adds the bias and applies LeakyReLU as it reads, the read-out adds the
/// last bias, and the backward pass takes LeakyReLU' from the same values, so no element-wise pass is needed.
template <class Ops>
void forward(const plan& p, const buffers& b, Ops& ops, const float* parameters, const float* x, float* u) {
    const index n = p.chains;
    const float* input = x;
    const float* input_bias = nullptr;  // the previous level's bias (nullptr: x itself)
    kernels::activation_layout input_layout = kernels::nchw_layout(p.levels.front().in_c, p.levels.front().in_plane());
    for (std::size_t l = 0; l < p.levels.size(); ++l) {
        const level& v = p.levels[l];
        float* out = b.activations[l];
        const index all_columns = n * v.out_plane();
        for (index first = 0; first < n; first += v.chunk) {
            const index count = std::min(v.chunk, n - first);
            const kernels::convolution_geometry g = v.geometry(first, count);
            const index cols = static_cast<index>(g.columns());
            ops.elements(v.in_c * cols, kernels::im2col{b.columns, input, input_layout, g, input_bias, p.slope});
            // out^T[cols x C_out] = col^T[cols x rows] W^T[rows x C_out], written into columns first.. of each row
            ops.gemm(false, false, cols, v.out_c, v.rows(), 1.0f, b.columns, cols, parameters + v.weight_offset,
                     v.rows(), 0.0f, out + first * v.out_plane(), all_columns);
        }
        input = out;
        input_bias = parameters + v.bias_offset;
        input_layout = kernels::cnhw_layout(n, v.out_plane());
    }
    ops.elements(n, kernels::read_energy{u, b.activations.back(), p.sign, input_bias});
}

/// After forward() on the same x: dU/d(output) = sign (times weights[n] when given) down through every layer; the
/// parameter gradient accumulates into grad when given (+=); dU/dx (NCHW) is written to gx when given.
template <class Ops>
void backward(const plan& p, const buffers& b, Ops& ops, const float* parameters, const float* x,
              const float* weights, float* grad, float* gx) {
    const index n = p.chains;
    ops.elements(n, kernels::top_gradient{b.top, weights, p.sign});
    const float* diff = b.top;  // dU/d(output of level l), CNHW
    int next = 0;
    for (index l = static_cast<index>(p.levels.size()) - 1; l >= 0; --l) {
        const level& v = p.levels[static_cast<std::size_t>(l)];
        const bool data = l > 0 || gx != nullptr;
        if (grad == nullptr && !data) break;
        const float* input = l == 0 ? x : b.activations[static_cast<std::size_t>(l) - 1];
        const float* input_bias = l == 0 ? nullptr : parameters + p.levels[static_cast<std::size_t>(l) - 1].bias_offset;
        const kernels::activation_layout input_layout =
            l == 0 ? kernels::nchw_layout(v.in_c, v.in_plane()) : kernels::cnhw_layout(n, v.in_plane());
        const float* below = l == 0 ? nullptr : b.activations[static_cast<std::size_t>(l) - 1];
        float* target = l == 0 ? gx : b.diff[next];
        const index all_columns = n * v.out_plane();
        if (grad != nullptr)  // db[C_out] += dout[C_out x all] 1
            ops.gemm(true, false, v.out_c, 1, all_columns, 1.0f, diff, all_columns, b.ones, all_columns, 1.0f,
                     grad + v.bias_offset, v.out_c);
        for (index first = 0; first < n; first += v.chunk) {
            const index count = std::min(v.chunk, n - first);
            const kernels::convolution_geometry g = v.geometry(first, count);
            const index cols = static_cast<index>(g.columns());
            const float* dout = diff + first * v.out_plane();
            if (grad != nullptr) {
                ops.elements(v.in_c * cols, kernels::im2col{b.columns, input, input_layout, g, input_bias, p.slope});
                // dW^T[rows x C_out] += col[rows x cols] dout^T[cols x C_out]
                ops.gemm(true, false, v.rows(), v.out_c, cols, 1.0f, b.columns, cols, dout, all_columns, 1.0f,
                         grad + v.weight_offset, v.rows());
            }
            if (!data) continue;
            // dcol^T[cols x rows] = dout^T[cols x C_out] W[C_out x rows]
            ops.gemm(false, true, cols, v.rows(), v.out_c, 1.0f, dout, all_columns, parameters + v.weight_offset,
                     v.rows(), 0.0f, b.columns, cols);
            ops.elements(v.in_c * count * v.in_plane(),
                         kernels::col2im{target, input_layout, b.columns, below, p.slope, g, input_bias});
        }
        diff = target;
        next ^= 1;
    }
}

}  // namespace ebm::convolution_gemm
