#pragma once
// A composed network (energy/network_spec.hpp's compiled operation list) over a whole batch, as matrix products and
// per-element functors: the energies, dU/dx, the weighted parameter gradient and the Hessian-vector product. The CUDA network
// (backend/cuda/network.cuh) runs it on cuBLAS and kernel launches; the CPU tests run the same code with a plain-loop
// GEMM against ebm::network (energy/network.hpp), so every index and transposition below is checked in every build.
//
// Layout: the CPU network's, for a block of all the batch's chains: every slot chain-major (slot s of chain j at
// j * size(s) from the slot's start, CHW within a chain), slot 0 the caller's x and its gradient the caller's dU/dx.
// Matrices are named row-major below; the GEMMs have cuBLAS's column-major semantics, so a row-major product C = A B
// is issued as C^T = B^T A^T.
//   Conv2d    per chunk of chains: im2col (kernels/convolution.hpp) into col [C K K][chunk * plane], then for each
//             chain out_j [O][plane] = W [O][C K K] col_j, one strided-batched GEMM (a 1x1 convolution reads its input
//             directly); bias as an element pass. dU/dcol_j = W^T dout_j (batched GEMM), then col2im (a gather).
//             dW += dout col^T with dout reordered channel-major ([O][chunk * plane]), one GEMM per chunk; db += dout 1.
//   Linear    out [n][O] = in [n][F] W^T, dU/din = dout W, dW += dout^T in, db += dout^T 1: one GEMM each.
//   units, pools, sums: the per-element functors the CPU network runs (kernels/activation.hpp, kernels/pooling.hpp).
//   attention (the non-local block): per chain S = theta^T phi, A = softmax_rows(S) (kernels/softmax.hpp),
//             y = g A^T and their derivatives as strided-batched GEMMs over the chains.
// The Hessian-vector product is the CPU network's too: a tangent pass beside the forward pass (affine operations
// without their bias, the units' f', the pools' switches, the attention's product rule) and one beside the backward
// pass (the units' f'' term, the attention's second-order terms), in the tangent buffers.
// Gradients follow the CPU network's rule: the first operation to reach a slot in the backward pass writes its
// gradient, later ones add (GEMMs with beta = 1; element passes through the spare buffer). Nothing is atomic: every
// result is the same run to run.
//
// Ops (what runs the pieces): ops.gemm(transpose_a, transpose_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc) and
// ops.gemm_batched(..., A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c, batches) with cuBLAS's semantics,
// and ops.elements(n, functor) calling functor(k) for k in [0, n).
#include <algorithm>
#include <climits>
#include <cstdint>
#include <vector>

#include "../config.hpp"
#include "../energy/network_spec.hpp"
#include "../error.hpp"
#include "../kernels/activation.hpp"
#include "../kernels/convolution.hpp"
#include "../kernels/elements.hpp"
#include "../kernels/pooling.hpp"
#include "../kernels/softmax.hpp"

namespace ebm::network_gemm {

/// The sizes of everything one batch size needs (the caller owns the memory: buffers).
struct plan {
    index chains = 0;
    std::vector<index> chunk;          // per operation: chains per im2col chunk (convolutions; 0 for the others)
    index value_elements = 0;          // chains x the network's activation floats (the values; the gradients alike)
    index column_elements = 0;         // the im2col / dcol matrix of a chunk (largest over the convolutions)
    index channel_major_elements = 0;  // a chunk's dU/d(output) of a convolution, channel-major
    index spare_elements = 0;          // chains x the largest slot
    index argmax_elements = 0;         // chains x the max-pool switches
    index ones_elements = 0;           // a vector of ones (bias gradients)
};

/// The caller's memory for one plan (device or host); ones filled with 1.
struct buffers {
    float* values = nullptr;
    float* grads = nullptr;
    float* columns = nullptr;
    float* channel_major = nullptr;
    float* spare = nullptr;
    std::int32_t* argmax = nullptr;
    const float* ones = nullptr;
    float* tangent_values = nullptr;  // the tangent passes (value_elements each; only the Hessian-vector product)
    float* tangent_grads = nullptr;
};

/// The plan of `layout` for `chains` chains; column_budget bounds a convolution's im2col matrix (floats). The
/// convolution functors index in 32 bits: every extent must stay below 2^31.
inline plan make_plan(const network_layout& layout, index chains, index column_budget) {
    const char* where = "network_gemm::make_plan";
    detail::require_positive(where, "chains", chains);
    detail::require_positive(where, "column_budget", column_budget);
    constexpr index limit = INT_MAX;
    plan p;
    p.chains = chains;
    p.value_elements = chains * std::max<index>(layout.activation_floats, 1);
    p.argmax_elements = std::max<index>(chains * layout.argmax_count, 1);
    p.ones_elements = chains;
    index largest_slot = 1;
    for (const network_shape& s : layout.slots) largest_slot = std::max(largest_slot, s.size());
    p.spare_elements = chains * largest_slot;
    for (const network_op& op : layout.ops) {
        index chunk = 0;
        if (op.kind == network_op_kind::conv2d) {
            const index per_chain = op.columns_rows() * op.out.plane();
            chunk = std::clamp<index>(column_budget / per_chain, 1, chains);
            p.column_elements = std::max(p.column_elements, per_chain * chunk);
            p.channel_major_elements = std::max(p.channel_major_elements, op.out.size() * chunk);
            p.ones_elements = std::max(p.ones_elements, op.out.plane() * chunk);
            if (p.column_elements >= limit || op.in.size() * chunk >= limit)
                detail::fail(where, "a convolution's im2col matrix would exceed 2^31 elements; use fewer chains", chains);
        }
        p.chunk.push_back(chunk);
    }
    if (p.value_elements >= limit || p.spare_elements >= limit)
        detail::fail(where, "the activations would exceed 2^31 elements; use fewer chains", chains);
    p.column_elements = std::max<index>(p.column_elements, 1);
    p.channel_major_elements = std::max<index>(p.channel_major_elements, 1);
    return p;
}

namespace detail {

/// Where a slot's values and gradients live for one call (slot 0 and a Flatten of it: the caller's x and dU/dx).
struct slots {
    const network_layout& layout;
    const plan& p;
    const buffers& b;
    const float* x;
    float* gx;
    [[nodiscard]] bool is_input(index slot) const { return layout.slot_storage[static_cast<std::size_t>(slot)] == 0; }
    [[nodiscard]] index start(index slot) const { return p.chains * layout.slot_offset[static_cast<std::size_t>(slot)]; }
    [[nodiscard]] const float* value(index slot) const { return is_input(slot) ? x : b.values + start(slot); }
    [[nodiscard]] float* mutable_value(index slot) const { return b.values + start(slot); }
    [[nodiscard]] float* grad(index slot) const { return is_input(slot) ? gx : b.grads + start(slot); }
    /// Chains per im2col chunk of a convolution of the layout.
    [[nodiscard]] index chunk(const network_op& op) const {
        return p.chunk[static_cast<std::size_t>(&op - layout.ops.data())];
    }
};

/// The tangent pass's slots: the same layout in the tangent buffers, slot 0 the direction v (and hv its gradient).
inline buffers tangent_buffers(const buffers& b) {
    buffers t = b;
    t.values = b.tangent_values;
    t.grads = b.tangent_grads;
    return t;
}

/// The attention's per-chain products over the batch (row-major ci x n, ci x m and n x m matrices, chain j's at
/// j times their size), each one strided-batched GEMM; beta 1 adds to out.
template <class Ops>
struct attention_products {
    Ops& ops;
    index ci, pn, pm, chains;
    /// out [n x m] = left^T [n x ci] right [ci x m]  (S = theta^T phi; dA = dy^T g)
    void scores(const float* left, const float* right, float beta, float* out) const {
        ops.gemm_batched(false, true, pm, pn, ci, 1.0f, right, pm, ci * pm, left, pn, ci * pn, beta, out, pm, pn * pm,
                         chains);
    }
    /// out [ci x n] = right [ci x m] a^T [m x n]  (y = g A^T; dtheta = phi dS^T)
    void mix(const float* a, const float* right, float beta, float* out) const {
        ops.gemm_batched(true, false, pn, ci, pm, 1.0f, a, pm, pn * pm, right, pm, ci * pm, beta, out, pn, ci * pn,
                         chains);
    }
    /// out [ci x m] = left [ci x n] a [n x m]  (dg = dy A; dphi = theta dS)
    void spread(const float* a, const float* left, float beta, float* out) const {
        ops.gemm_batched(false, false, pm, ci, pn, 1.0f, a, pm, pn * pm, left, pn, ci * pn, beta, out, pm, ci * pm,
                         chains);
    }
};
template <class Ops>
attention_products<Ops> attention_of(const network_op& op, const slots& s, Ops& ops) {
    const network_shape& a = s.layout.slots[static_cast<std::size_t>(op.aux)];
    return {ops, op.in.channels, a.height, a.width, s.p.chains};
}

inline float beta_of(bool accumulate) { return accumulate ? 1.0f : 0.0f; }

// out = op(in) over the batch, or (with_bias false) its derivative along in's tangent for the affine operations.
template <class Ops>
void forward_op(const network_op& op, const slots& s, Ops& ops, const float* parameters, bool with_bias = true) {
    const index n = s.p.chains, n_in = op.in.size(), n_out = op.out.size();
    const float* in = s.value(op.input);
    float* out = s.mutable_value(op.output);
    switch (op.kind) {
        case network_op_kind::conv2d: {
            const index plane = op.out.plane(), rows = op.columns_rows();
            const index chunk = s.chunk(op);
            for (index first = 0; first < n; first += chunk) {
                const index count = std::min(chunk, n - first);
                if (op.needs_columns()) {
                    const kernels::convolution_geometry g = op.convolution(first, count);
                    const index cols = count * plane;
                    ops.elements(op.in.channels * cols,
                                 kernels::im2col{s.b.columns, in, kernels::nchw_layout(op.in.channels, op.in.plane()), g});
                    // out_j^T [plane x O] = col_j^T [plane x rows] W^T [rows x O]; col_j = columns j * plane on
                    ops.gemm_batched(false, false, plane, op.out.channels, rows, 1.0f, s.b.columns, cols, plane,
                                     parameters + op.weight, rows, 0, 0.0f, out + first * n_out, plane, n_out, count);
                } else {  // a 1x1 convolution: in_j [C x plane] is its own im2col matrix
                    ops.gemm_batched(false, false, plane, op.out.channels, rows, 1.0f, in + first * n_in, plane, n_in,
                                     parameters + op.weight, rows, 0, 0.0f, out + first * n_out, plane, n_out, count);
                }
            }
            if (with_bias && op.bias >= 0)
                ops.elements(n * n_out, kernels::bias_leaky_relu{out, parameters + op.bias, plane, op.out.channels,
                                                                 0.0f, false});
            return;
        }
        case network_op_kind::linear:  // out^T [O x n] = W [O x F] in^T [F x n]
            ops.gemm(true, false, n_out, n, n_in, 1.0f, parameters + op.weight, n_in, in, n_in, 0.0f, out, n_out);
            if (with_bias && op.bias >= 0)
                ops.elements(n * n_out, kernels::bias_leaky_relu{out, parameters + op.bias, 1, n_out, 0.0f, false});
            return;
        case network_op_kind::activation: ops.elements(n * n_out, kernels::activation_forward{out, in, op.function}); return;
        case network_op_kind::avg_pool: ops.elements(n * n_out, kernels::average_pool{out, in, op.pool()}); return;
        case network_op_kind::max_pool:
            ops.elements(n * n_out, kernels::max_pool{out, s.b.argmax + n * op.argmax, in, op.pool()});
            return;
        case network_op_kind::add: ops.elements(n * n_out, kernels::add_values{out, in, s.value(op.input2)}); return;
        case network_op_kind::attention: {  // A = softmax_rows(theta^T phi), y = g A^T
            const attention_products<Ops> at = attention_of(op, s, ops);
            float* a = s.mutable_value(op.aux);
            at.scores(in, s.value(op.input2), 0.0f, a);
            ops.elements(n * at.pn, kernels::softmax_rows{a, at.pm});
            at.mix(a, s.value(op.input3), 0.0f, out);
            return;
        }
    }
}

// The tangent of one operation's output along its inputs' tangents (t), from the values (v) of the forward pass.
template <class Ops>
void forward_op_tangent(const network_op& op, const slots& v, const slots& t, Ops& ops, const float* parameters) {
    const index n = v.p.chains, n_out = op.out.size();
    switch (op.kind) {
        case network_op_kind::activation:
            ops.elements(n * n_out, kernels::activation_tangent{t.mutable_value(op.output), t.value(op.input),
                                                                v.value(op.input), op.function});
            return;
        case network_op_kind::max_pool:
            ops.elements(n * n_out, kernels::gather_switches{t.mutable_value(op.output), t.value(op.input),
                                                             v.b.argmax + n * op.argmax, op.pool()});
            return;
        case network_op_kind::attention: {  // S_t = theta_t^T phi + theta^T phi_t, A_t = J(A) S_t, y_t = g_t A^T + g A_t^T
            const attention_products<Ops> at = attention_of(op, v, ops);
            const float* a = v.value(op.aux);
            float* a_t = t.mutable_value(op.aux);
            at.scores(t.value(op.input), v.value(op.input2), 0.0f, a_t);
            at.scores(v.value(op.input), t.value(op.input2), 1.0f, a_t);
            ops.elements(n * at.pn, kernels::softmax_rows_backward{a_t, a, at.pm});
            float* y_t = t.mutable_value(op.output);
            at.mix(a, t.value(op.input3), 0.0f, y_t);
            at.mix(a_t, v.value(op.input3), 1.0f, y_t);
            return;
        }
        default: forward_op(op, t, ops, parameters, false); return;
    }
}

// dW and db of one affine operation over the batch (dU/d(output) already carries the chains' weights).
template <class Ops>
void parameter_gradient(const network_op& op, const slots& s, Ops& ops, float* grad) {
    const index n = s.p.chains, n_in = op.in.size(), n_out = op.out.size();
    const float* in = s.value(op.input);
    const float* g_out = s.grad(op.output);
    if (op.kind == network_op_kind::linear) {
        // dW^T [F x O] += in^T [F x n] dout [n x O];  db [O] += dout^T [O x n] 1
        ops.gemm(false, true, n_in, n_out, n, 1.0f, in, n_in, g_out, n_out, 1.0f, grad + op.weight, n_in);
        if (op.bias >= 0) ops.gemm(false, false, n_out, 1, n, 1.0f, g_out, n_out, s.b.ones, n, 1.0f, grad + op.bias, n_out);
        return;
    }
    const index plane = op.out.plane(), rows = op.columns_rows();
    const index chunk = s.chunk(op);
    for (index first = 0; first < n; first += chunk) {
        const index count = std::min(chunk, n - first);
        const index cols = count * plane;
        ops.elements(op.out.channels * cols,
                     kernels::nchw_to_cnhw{s.b.channel_major, g_out + first * n_out, op.out.channels, plane, count});
        ops.elements(op.in.channels * cols, kernels::im2col{s.b.columns, in, kernels::nchw_layout(op.in.channels, op.in.plane()),
                                                            op.convolution(first, count)});
        // dW^T [rows x O] += col [rows x cols] dout^T [cols x O];  db [O] += dout [O x cols] 1
        ops.gemm(true, false, rows, op.out.channels, cols, 1.0f, s.b.columns, cols, s.b.channel_major, cols, 1.0f,
                 grad + op.weight, rows);
        if (op.bias >= 0)
            ops.gemm(true, false, op.out.channels, 1, cols, 1.0f, s.b.channel_major, cols, s.b.ones, cols, 1.0f,
                     grad + op.bias, op.out.channels);
    }
}

// to = from (copy) or to += from.
template <class Ops>
void pass_on(Ops& ops, index n, const float* from, float* to, bool accumulate) {
    if (accumulate)
        ops.elements(n, kernels::add_values{to, to, from});
    else
        ops.elements(n, kernels::scale_values{to, from, 1.0f});
}

// dU/d(input) of one operation from dU/d(output) over the batch, in the slots s. With `values` (the forward and
// backward values beside s's tangents): the tangent of that backward step, with the units' second-derivative terms
// and the attention's product rule.
template <class Ops>
void backward_op(const network_op& op, const slots& s, Ops& ops, const float* parameters,
                 const slots* values = nullptr) {
    const index n = s.p.chains, n_in = op.in.size(), n_out = op.out.size();
    const float* g_out = s.grad(op.output);
    float* g_in = s.grad(op.input);
    if (g_in == nullptr && op.kind != network_op_kind::add) return;
    const float beta = beta_of(op.accumulate_input);
    // Element passes write the spare buffer when the input's gradient already holds another operation's part.
    float* target = op.accumulate_input ? s.b.spare : g_in;
    switch (op.kind) {
        case network_op_kind::conv2d: {
            const index plane = op.out.plane(), rows = op.columns_rows();
            const index chunk = s.chunk(op);
            for (index first = 0; first < n; first += chunk) {
                const index count = std::min(chunk, n - first);
                if (!op.needs_columns()) {  // din_j^T [plane x C] = dout_j^T [plane x O] W [O x C]
                    ops.gemm_batched(false, true, plane, rows, op.out.channels, 1.0f, g_out + first * n_out, plane,
                                     n_out, parameters + op.weight, rows, 0, beta, g_in + first * n_in, plane, n_in,
                                     count);
                    continue;
                }
                const index cols = count * plane;
                // dcol_j^T [plane x rows] = dout_j^T [plane x O] W [O x rows], then the gather
                ops.gemm_batched(false, true, plane, rows, op.out.channels, 1.0f, g_out + first * n_out, plane, n_out,
                                 parameters + op.weight, rows, 0, 0.0f, s.b.columns, cols, plane, count);
                ops.elements(op.in.channels * count * op.in.plane(),
                             kernels::col2im{target, kernels::nchw_layout(op.in.channels, op.in.plane()), s.b.columns,
                                             nullptr, 0.0f, op.convolution(first, count)});
            }
            if (!op.needs_columns()) return;
            break;
        }
        case network_op_kind::linear:  // din^T [F x n] = W^T [F x O] dout^T [O x n]
            ops.gemm(false, false, n_in, n, n_out, 1.0f, parameters + op.weight, n_in, g_out, n_out, beta, g_in, n_in);
            return;
        case network_op_kind::activation:
            if (values == nullptr)
                ops.elements(n * n_in, kernels::activation_backward{target, g_out, s.value(op.input), op.function});
            else
                ops.elements(n * n_in, kernels::activation_backward_tangent{target, g_out, values->grad(op.output),
                                                                            s.value(op.input), values->value(op.input),
                                                                            op.function});
            break;
        case network_op_kind::avg_pool:
            ops.elements(n * n_in, kernels::average_pool_backward{target, g_out, op.pool()});
            break;
        case network_op_kind::max_pool:
            ops.elements(n * n_in, kernels::max_pool_backward{target, g_out, s.b.argmax + n * op.argmax, op.pool()});
            break;
        case network_op_kind::add:
            if (g_in != nullptr) pass_on(ops, n * n_out, g_out, g_in, op.accumulate_input);
            if (float* g_in2 = s.grad(op.input2); g_in2 != nullptr)
                pass_on(ops, n * n_out, g_out, g_in2, op.accumulate_input2);
            return;
        case network_op_kind::attention: {
            const attention_products<Ops> at = attention_of(op, s, ops);
            if (values == nullptr) {
                // dg = dy A; dS = A .* (dA - rowsum(dA .* A)) with dA = dy^T g, in the A slot's gradient;
                // dtheta = phi dS^T, dphi = theta dS
                const float* a = s.value(op.aux);
                float* ds = s.grad(op.aux);
                at.spread(a, g_out, beta_of(op.accumulate_input3), s.grad(op.input3));
                at.scores(g_out, s.value(op.input3), 0.0f, ds);
                ops.elements(n * at.pn, kernels::softmax_rows_backward{ds, a, at.pm});
                at.mix(ds, s.value(op.input2), beta_of(op.accumulate_input), g_in);
                at.spread(ds, s.value(op.input), beta_of(op.accumulate_input2), s.grad(op.input2));
                return;
            }
            // The tangent (s: tangents, v: values): dg_t = dy_t A + dy A_t; dS_t from dA = dy^T g (in the spare
            // buffer) and dA_t = dy_t^T g + dy^T g_t; dtheta_t = phi_t dS^T + phi dS_t^T; dphi_t = theta_t dS + theta dS_t
            const slots& v = *values;
            const float *a = v.value(op.aux), *a_t = s.value(op.aux), *dy = v.grad(op.output), *ds = v.grad(op.aux);
            float* ds_t = s.grad(op.aux);
            float* d_att = s.b.spare;
            at.spread(a, g_out, beta_of(op.accumulate_input3), s.grad(op.input3));
            at.spread(a_t, dy, 1.0f, s.grad(op.input3));
            at.scores(dy, v.value(op.input3), 0.0f, d_att);
            at.scores(g_out, v.value(op.input3), 0.0f, ds_t);
            at.scores(dy, s.value(op.input3), 1.0f, ds_t);
            ops.elements(n * at.pn, kernels::softmax_rows_backward_tangent{ds_t, d_att, a, a_t, at.pm});
            at.mix(ds, s.value(op.input2), beta_of(op.accumulate_input), g_in);
            at.mix(ds_t, v.value(op.input2), 1.0f, g_in);
            at.spread(ds, s.value(op.input), beta_of(op.accumulate_input2), s.grad(op.input2));
            at.spread(ds_t, v.value(op.input), 1.0f, s.grad(op.input2));
            return;
        }
    }
    if (op.accumulate_input) ops.elements(n * n_in, kernels::add_values{g_in, g_in, target});
}

}  // namespace detail

/// u[j] = U(x_j) for the plan's chains (x chain-major, as every batch); the activations stay in b.values for
/// backward().
template <class Ops>
void forward(const network_layout& layout, const plan& p, const buffers& b, Ops& ops, const float* parameters,
             const float* x, float* u) {
    const detail::slots s{layout, p, b, x, nullptr};
    for (const network_op& op : layout.ops) detail::forward_op(op, s, ops, parameters);
    ops.elements(p.chains, kernels::read_energy{u, s.value(layout.output_slot), layout.negate ? -1.0f : 1.0f});
}

/// After forward() on the same x: dU/d(output) = sign (times weights[j] when given) down through every operation; the
/// weighted parameter gradient accumulates into grad when given (+=); dU/dx goes to gx when given.
template <class Ops>
void backward(const network_layout& layout, const plan& p, const buffers& b, Ops& ops, const float* parameters,
              const float* x, const float* weights, float* grad, float* gx) {
    const detail::slots s{layout, p, b, x, gx};
    ops.elements(p.chains, kernels::top_gradient{s.grad(layout.output_slot), weights, layout.negate ? -1.0f : 1.0f});
    for (auto it = layout.ops.rbegin(); it != layout.ops.rend(); ++it) {
        const network_op& op = *it;
        if (grad != nullptr && (op.kind == network_op_kind::conv2d || op.kind == network_op_kind::linear))
            detail::parameter_gradient(op, s, ops, grad);
        detail::backward_op(op, s, ops, parameters);
    }
}

/// hv_j = (d2U/dx2)(x_j) v_j for the plan's chains (x, v and hv chain-major); needs b.tangent_values and
/// b.tangent_grads. Exact, as the CPU network's: zero for networks of ReLU/LeakyReLU units, pools and affine layers.
template <class Ops>
void hessian_vector_product(const network_layout& layout, const plan& p, const buffers& b, Ops& ops,
                            const float* parameters, const float* x, const float* v, float* hv) {
    const detail::slots values{layout, p, b, x, nullptr};
    for (const network_op& op : layout.ops) detail::forward_op(op, values, ops, parameters);
    const buffers tb = detail::tangent_buffers(b);
    const detail::slots tangents{layout, p, tb, v, hv};
    for (const network_op& op : layout.ops) detail::forward_op_tangent(op, values, tangents, ops, parameters);
    // dU/dx itself is not wanted (values has no gx): only its tangent, hv
    ops.elements(p.chains, kernels::top_gradient{values.grad(layout.output_slot), nullptr, layout.negate ? -1.0f : 1.0f});
    ops.elements(p.chains, kernels::fill_value{tangents.grad(layout.output_slot), 0.0f});
    for (auto it = layout.ops.rbegin(); it != layout.ops.rend(); ++it) {
        detail::backward_op(*it, values, ops, parameters);
        detail::backward_op(*it, tangents, ops, parameters, &values);
    }
}

}  // namespace ebm::network_gemm
