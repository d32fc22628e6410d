#pragma once
// A chain of convolutions on oneDNN v3 over whole batches: each convolution but the last followed by one activation
// (ReLU, LeakyReLU, ELU, SiLU, GELU, Tanh or Sigmoid), the last covering its whole input to one value per chain.
// ebm::network runs a network of that form (the short-run paper's ConvNets and the Anatomy code's VanillaNet among
// them) through it on the CPU (energy/network.hpp); this header is its oneDNN half.
//
// Primitives (convolutions with bias, ReLU/LeakyReLU fused as a post-op and differentiated from the stored outputs;
// the smooth units as element-wise primitives of their own after the convolution, differentiated from the stored
// pre-activations; backward-data, backward-weights) and their memory are created once per batch size in a conv_stack_state, with
// activations in the layouts oneDNN prefers (format_tag::any, or where that leaves a reference kernel at small widths,
// a reordered layout with optimised kernels: choose_level); a call only rebinds the caller's input and gradient
// buffers. Calls with fewer chains than the state was made for build (once, on first use) a second set of primitives
// for that batch size and keep it. oneDNN threads internally (OpenMP), so the whole batch goes in one call. The last
// convolution runs as an inner product (oneDNN's JIT convolutions do not serve a single output channel).
// Weights reordered into blocked copies are refreshed when the caller's parameter version or address changes.
// Without oneDNN v3 on the include path (see cmake/ebm_onednn.cmake) this header declares nothing.
#include "onednn.hpp"

#if EBM_HAVE_ONEDNN
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../../config.hpp"
#include "../../detail/aligned_buffer.hpp"
#include "../../error.hpp"
#include "../../kernels/activation.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace ebm::onednn {

/// Its scope runs oneDNN on one OpenMP thread; the caller's thread count comes back at the end of the scope.
/// oneDNN's backward-weights primitives (convolution and inner product) reduce over the batch in a split that
/// depends on the thread count they are created and run with (measured: about 20 of 44,000 weight gradients of a
/// short_run(32, n_f 8) net differ in their last bits between 1 and 2 threads), so they are created and run under
/// one of these: the parameter gradient is then the same for any thread count.
struct single_thread_scope {
#if defined(_OPENMP)
    int saved = omp_get_max_threads();
    single_thread_scope() { omp_set_num_threads(1); }
    ~single_thread_scope() { omp_set_num_threads(saved); }
#endif
    single_thread_scope(const single_thread_scope&) = delete;
    single_thread_scope& operator=(const single_thread_scope&) = delete;
};

/// One convolution of the stack: its input (channels x height x width), output channels, square kernel, stride and
/// zero padding, the activation after it (ignored for the last; one of those conv_stack_unit serves), and where its
/// weight [out, in, k, k] and bias [out] start in the caller's flat parameter vector.
struct conv_stack_layer {
    index in_channels = 0, in_height = 0, in_width = 0;
    index out_channels = 0, kernel = 1, stride = 1, padding = 0;
    kernels::activation_function unit;
    index weight_offset = 0, bias_offset = 0;
};

/// An activation as oneDNN's element-wise algorithm: the same function as kernels/activation.hpp's (PyTorch's), with
/// ReLU and LeakyReLU fused into the convolution (their derivative read from the outputs).
struct conv_stack_unit {
    dnnl::algorithm algorithm = dnnl::algorithm::eltwise_relu;
    float alpha = 0.0f;
    bool fused = true;
    const char* name = "leaky_relu";

    /// The unit for f, or none for Softplus, whose threshold oneDNN's soft_relu does not have.
    static std::optional<conv_stack_unit> of(const kernels::activation_function& f) {
        using kernels::activation_kind;
        using dnnl::algorithm;
        switch (f.kind) {
            case activation_kind::relu: return conv_stack_unit{algorithm::eltwise_relu, 0.0f, true, "relu"};
            case activation_kind::leaky_relu: return conv_stack_unit{algorithm::eltwise_relu, f.alpha, true, "leaky_relu"};
            case activation_kind::elu: return conv_stack_unit{algorithm::eltwise_elu, f.alpha, false, "elu"};
            case activation_kind::silu: return conv_stack_unit{algorithm::eltwise_swish, 1.0f, false, "silu"};
            case activation_kind::gelu: return conv_stack_unit{algorithm::eltwise_gelu_erf, 0.0f, false, "gelu"};
            case activation_kind::tanh: return conv_stack_unit{algorithm::eltwise_tanh, 0.0f, false, "tanh"};
            case activation_kind::sigmoid: return conv_stack_unit{algorithm::eltwise_logistic, 0.0f, false, "sigmoid"};
            default: return std::nullopt;
        }
    }
};

struct conv_stack_level {
    // geometry
    index in_channels = 0, in_h = 0, in_w = 0, out_channels = 0, out_h = 0, out_w = 0, kernel = 0;
    onednn::dims strides, padding_l, padding_r;
    bool activation = true;
    conv_stack_unit unit;  // the activation after it (when `activation`)
    bool inner_product = false;  // the last conv covers its whole input: run as an inner product (oneDNN's JIT
                                 // convolutions want >= 16 output channels; one output is a dot product)
    index weight_offset = 0, bias_offset = 0;
    // The input in this level's own layout when it differs from the previous output's (see choose_level): a reorder
    // before the forward pass; backward-data then writes dU/d(input) in this layout and a reorder takes it back.
    bool reorder_src = false;
    dnnl::memory src_copy;
    dnnl::reorder to_src;
    bool reorder_diff_src = false;  // backward-data's dU/d(input) layout differs from the previous level's
    dnnl::memory diff_src_copy;
    dnnl::reorder from_diff_src;
    // primitives (forward primitive descriptors are kept as hints for backward-weights, built lazily)
    dnnl::convolution_forward::primitive_desc conv_fwd_pd;
    dnnl::inner_product_forward::primitive_desc ip_fwd_pd;
    dnnl::memory::desc given_md;   // the previous level's output (the caller's NCHW x for the first level)
    dnnl::memory::desc src_md, dst_md;  // what this level reads (given_md, or a reordered copy) and writes
    dnnl::primitive_desc bwd_data_pd;
    std::vector<std::string> reference_kernels;  // its primitives served by oneDNN's reference implementation
    dnnl::primitive fwd;
    dnnl::primitive bwd_data;
    dnnl::eltwise_forward unit_fwd;   // a smooth unit after the convolution (unfused)
    dnnl::eltwise_backward unit_bwd;  // the unit's derivative, in place on diff
    bool have_bwd_weights = false;
    dnnl::primitive bwd_weights;
    dnnl::reorder diff_weights_to_user;  // diff weights (blocked) += into the caller's gradient (OIHW)
    // memory
    dnnl::memory user_weights;      // OIHW view of parameters()
    dnnl::memory user_bias;         // view of parameters()
    dnnl::memory fwd_weights;       // reordered for the forward primitive (may be user_weights itself)
    dnnl::memory bwd_weights_mem;   // reordered for backward-data (may alias fwd_weights)
    dnnl::reorder to_fwd_weights, to_bwd_weights;
    bool fwd_weights_reorder = false, bwd_weights_reorder = false, bwd_shares_fwd = false;
    dnnl::memory pre;               // an unfused unit's input (the convolution's output)
    dnnl::memory output;            // activations after the unit (layout chosen by oneDNN); energies for the last
    dnnl::memory diff;              // dU/d(output), then dU/d(pre-activation) in place; in a ping-pong buffer
    dnnl::memory diff_weights, diff_bias, user_diff_weights;
    std::string label_fwd, label_bwd_data, label_unit, label_unit_bwd, label_bwd_weights, label_grad, label_src,
        label_diff_src;
    // Every primitive's arguments, made once (bind_arguments, ensure_backward_weights): memory objects are handles,
    // so rebinding the caller's buffers with set_data_handle reaches them, and a call allocates nothing.
    std::unordered_map<int, dnnl::memory> to_fwd_weights_args, to_bwd_weights_args, to_src_args, fwd_args, unit_args,
        unit_bwd_args,
        bwd_weights_args, grad_args, bwd_data_args, from_diff_src_args;
};

/// Primitives and buffers for one batch size.
struct conv_stack_plan {
    index chains = 0;
    std::vector<conv_stack_level> levels;
    dnnl::memory input;          // caller's x (NCHW), handle set per call
    dnnl::memory input_grad;     // caller's dU/dx (NCHW), handle set per call
    dnnl::memory top_diff;       // dU/d(output) of the last conv: +-1 or +-w_i
    std::vector<std::string> reference_kernels;  // primitives left on oneDNN's reference implementation
    detail::aligned_vector<float> ping, pong;
    std::uint64_t weights_version = 0;
    const float* weights_source = nullptr;
};

struct conv_stack_state {
    dnnl::stream stream{onednn::engine()};
    std::vector<std::unique_ptr<conv_stack_plan>> plans;
    onednn::profile prof;
};


class conv_stack {
public:
    /// The layers, in order (validated by the caller: shapes chain, the last gives 1 x 1 x 1 unpadded).
    explicit conv_stack(std::vector<conv_stack_layer> layers) : layers_(std::move(layers)) {
        for (std::size_t l = 0; l + 1 < layers_.size(); ++l)
            if (!conv_stack_unit::of(layers_[l].unit))
                detail::fail("onednn::conv_stack", "layer " + std::to_string(l) + "'s activation has no oneDNN form (kind)",
                             static_cast<int>(layers_[l].unit.kind));
    }

    [[nodiscard]] const std::vector<conv_stack_layer>& layers() const { return layers_; }

    /// Primitives and buffers for batches of `max_chains` (smaller batches get theirs on first use).
    [[nodiscard]] std::unique_ptr<conv_stack_state> make_state(index max_chains) const {
        auto st = std::make_unique<conv_stack_state>();
        st->plans.push_back(make_plan(max_chains));
        return st;
    }

    /// u[i] = sign x the stack's output for chain i of the n chains at x, with the weights at `parameters` (version:
    /// changes whenever they may have). With gx or grad given the backward pass follows from dU/d output = sign x
    /// chain_weights[i] (1 without them): dU/dx into gx, or (grad given, gx null) += every weighted parameter gradient
    /// into grad.
    void run(conv_stack_state& st, const float* parameters, std::uint64_t version, const float* x, index n, float sign,
             float* u, const float* chain_weights, float* gx, float* grad) const {
        conv_stack_plan& plan = plan_for(st, n);
        sync_weights(plan, st, parameters, version);
        forward(plan, st, x);
        const float* out = static_cast<const float*>(plan.levels.back().output.get_data_handle());
        for (index i = 0; i < n; ++i) u[i] = sign * out[i];
        if (gx == nullptr && grad == nullptr) return;
        float* top = static_cast<float*>(plan.top_diff.get_data_handle());
        for (index i = 0; i < n; ++i) top[i] = chain_weights != nullptr ? sign * chain_weights[i] : sign;
        if (gx != nullptr) plan.input_grad.set_data_handle(gx);
        backward(plan, st, grad);
    }

    /// Primitives built so far: one per batch size used.
    [[nodiscard]] static index cached_batch_sizes(const conv_stack_state& st) { return static_cast<index>(st.plans.size()); }

    /// Labels of the primitives oneDNN serves only with its slow reference implementation, over every batch size
    /// built so far; empty when every level found optimised kernels.
    [[nodiscard]] static std::vector<std::string> reference_kernels(const conv_stack_state& st) {
        std::vector<std::string> labels;
        for (const auto& plan : st.plans)
            for (const std::string& label : plan->reference_kernels)
                if (std::find(labels.begin(), labels.end(), label) == labels.end()) labels.push_back(label);
        return labels;
    }

private:
    conv_stack_plan& plan_for(conv_stack_state& st, index n) const {
        for (auto& plan : st.plans)
            if (plan->chains == n) return *plan;
        st.plans.push_back(make_plan(n));
        return *st.plans.back();
    }

    // Layouts. oneDNN picks each level's output layout (format_tag::any) for that level alone; where a width is not
    // a multiple of its SIMD block (n_f 4, 8, 12) the next level may then find no optimised kernel for that input and
    // fall back to its reference implementation (ref:any, 100-1000x slower: 3.7 s instead of 13 ms per gradient of a
    // short_run(32, n_f 8) net at batch 64, one thread). So each level first tries the previous output's layout with an output
    // layout of oneDNN's choice (what every n_f >= 16 net gets, unchanged), then the input reordered to NHWC or a
    // channel-blocked layout and other output layouts, and keeps the first choice whose forward, backward-data and
    // backward-weights primitives all have optimised kernels (else the one with the fewest reference kernels,
    // listed by reference_kernels()).
    void choose_level(conv_stack_level& lv, const dnnl::memory::desc& given, index n, bool first) const {
        using onednn::tag;
        std::vector<dnnl::memory::desc> sources = {given};
        for (tag t : {tag::nhwc, tag::nChw16c, tag::nChw8c}) {
            const dnnl::memory::desc md = onednn::f32(given.get_dims(), t);
            if (md != given) sources.push_back(md);
        }
        const std::vector<tag> outputs = lv.inner_product ? std::vector<tag>{tag::nc}
                                                          : std::vector<tag>{tag::any, tag::nhwc, tag::nChw16c, tag::nChw8c};
        std::size_t best_refs = SIZE_MAX;
        const dnnl::memory::desc* best_src = nullptr;
        tag best_dst = tag::any;
        for (const dnnl::memory::desc& src : sources)
            for (tag dst : outputs) {
                const std::size_t refs = describe_level(lv, src, dst, n, first).size();
                if (refs == 0) return;
                if (refs < best_refs) {
                    best_refs = refs;
                    best_src = &src;
                    best_dst = dst;
                }
            }
        lv.reference_kernels = describe_level(lv, *best_src, best_dst, n, first);
    }

    // Primitive descriptors of level lv reading `src` and writing `dst` (any: oneDNN's choice); returns the labels
    // of those served by oneDNN's reference implementation.
    std::vector<std::string> describe_level(conv_stack_level& lv, const dnnl::memory::desc& src, onednn::tag dst,
                                            index n, bool first) const {
        using namespace dnnl;
        using onednn::f32;
        using onednn::tag;
        const dnnl::engine& eng = onednn::engine();
        const memory::dims wdims = {lv.out_channels, lv.in_channels, lv.kernel, lv.kernel};
        const memory::desc any_w_md = f32(wdims, tag::any);
        const memory::desc bias_md = f32({lv.out_channels}, tag::x);
        std::vector<std::string> reference;
        const auto check = [&reference](const primitive_desc_base& pd, const std::string& label) {
            if (std::string_view(pd.impl_info_str()).starts_with("ref")) reference.push_back(label);
        };
        lv.src_md = src;
        if (lv.inner_product) {
            lv.ip_fwd_pd = inner_product_forward::primitive_desc(eng, prop_kind::forward_training, src, any_w_md,
                                                                 bias_md, f32({n, 1}, dst));
            lv.dst_md = lv.ip_fwd_pd.dst_desc();
            lv.bwd_data_pd = inner_product_backward_data::primitive_desc(eng, src, any_w_md, lv.dst_md, lv.ip_fwd_pd);
            check(lv.ip_fwd_pd, lv.label_fwd);
            const single_thread_scope one_thread;  // as ensure_backward_weights creates it
            check(inner_product_backward_weights::primitive_desc(eng, src, any_w_md, bias_md, lv.dst_md, lv.ip_fwd_pd),
                  lv.label_bwd_weights);
        } else {
            primitive_attr attr;
            if (lv.unit.fused) {
                post_ops ops;
                ops.append_eltwise(algorithm::eltwise_relu, lv.unit.alpha, 0.0f);
                attr.set_post_ops(ops);
            }
            const memory::desc dst_md = f32({n, lv.out_channels, lv.out_h, lv.out_w}, dst);
            lv.conv_fwd_pd = convolution_forward::primitive_desc(eng, prop_kind::forward_training,
                                                                 algorithm::convolution_direct, src, any_w_md, bias_md,
                                                                 dst_md, lv.strides, lv.padding_l, lv.padding_r, attr);
            lv.dst_md = lv.conv_fwd_pd.dst_desc();
            // dU/d(input) in the layout the previous output has; for the caller's x (and a reordered input) the
            // layout oneDNN prefers (forcing NCHW for 3 channels selects a reference kernel), then a reorder.
            const memory::desc diff_src_md = first || src != lv.given_md ? f32(src.get_dims(), tag::any) : src;
            lv.bwd_data_pd = convolution_backward_data::primitive_desc(eng, algorithm::convolution_direct, diff_src_md,
                                                                       any_w_md, lv.dst_md, lv.strides, lv.padding_l,
                                                                       lv.padding_r, lv.conv_fwd_pd);
            check(lv.conv_fwd_pd, lv.label_fwd);
            const single_thread_scope one_thread;  // as ensure_backward_weights creates it
            check(convolution_backward_weights::primitive_desc(eng, algorithm::convolution_direct, src, any_w_md,
                                                               bias_md, lv.dst_md, lv.strides, lv.padding_l,
                                                               lv.padding_r, lv.conv_fwd_pd),
                  lv.label_bwd_weights);
        }
        check(lv.bwd_data_pd, lv.label_bwd_data);
        return reference;
    }

    std::unique_ptr<conv_stack_plan> make_plan(index n) const {
        using namespace dnnl;
        using onednn::f32;
        using onednn::tag;
        const dnnl::engine& eng = onednn::engine();
        auto plan = std::make_unique<conv_stack_plan>();
        plan->chains = n;
        const index levels = static_cast<index>(layers_.size());
        plan->levels.resize(static_cast<std::size_t>(levels));
        index c = layers_.front().in_channels, h = layers_.front().in_height, w = layers_.front().in_width;
        memory::desc src_md = f32({n, c, h, w}, tag::nchw);
        const memory::desc input_md = src_md;
        index ping_floats = 0, pong_floats = 0;
        for (index l = 0; l < levels; ++l) {
            const conv_stack_layer& layer = layers_[static_cast<std::size_t>(l)];
            auto& lv = plan->levels[static_cast<std::size_t>(l)];
            const bool last = l == levels - 1;
            lv.in_channels = c;
            lv.in_h = h;
            lv.in_w = w;
            lv.out_channels = layer.out_channels;
            lv.kernel = layer.kernel;
            lv.out_h = (h + 2 * layer.padding - layer.kernel) / layer.stride + 1;
            lv.out_w = (w + 2 * layer.padding - layer.kernel) / layer.stride + 1;
            lv.strides = {layer.stride, layer.stride};
            lv.padding_l = {layer.padding, layer.padding};
            // PyTorch pads symmetrically; oneDNN wants the right padding that makes the output size come out.
            const index pad_r_h = (lv.out_h - 1) * layer.stride + layer.kernel - h - layer.padding;
            const index pad_r_w = (lv.out_w - 1) * layer.stride + layer.kernel - w - layer.padding;
            lv.padding_r = {pad_r_h, pad_r_w};
            lv.activation = !last;
            lv.unit = *conv_stack_unit::of(layer.unit);  // checked by the constructor
            lv.weight_offset = layer.weight_offset;
            lv.bias_offset = layer.bias_offset;
            const std::string name = "conv" + std::to_string(l) + (l == levels - 1 ? "(inner_product)" : "");
            lv.label_fwd = name + ".forward";
            lv.label_bwd_data = name + ".backward_data";
            lv.label_unit = name + "." + lv.unit.name;
            lv.label_unit_bwd = name + "." + lv.unit.name + "_backward";
            lv.label_bwd_weights = name + ".backward_weights";
            lv.label_grad = name + ".weight_gradient_reorder";
            lv.label_src = name + ".input_reorder";
            lv.label_diff_src = name + ".input_gradient_reorder";

            const memory::dims wdims = {layer.out_channels, c, layer.kernel, layer.kernel};
            const memory::desc user_w_md = f32(wdims, tag::oihw);
            const memory::desc bias_md = f32({layer.out_channels}, tag::x);
            lv.inner_product = last;
            lv.given_md = src_md;
            choose_level(lv, src_md, n, l == 0);
            for (const std::string& label : lv.reference_kernels) plan->reference_kernels.push_back(label);
            if (lv.inner_product)
                lv.fwd = inner_product_forward(lv.ip_fwd_pd);
            else
                lv.fwd = convolution_forward(lv.conv_fwd_pd);
            lv.bwd_data = primitive(lv.bwd_data_pd);
            const memory::desc fwd_w_md = lv.inner_product ? lv.ip_fwd_pd.weights_desc() : lv.conv_fwd_pd.weights_desc();
            const memory::desc bwd_w_md = lv.bwd_data_pd.weights_desc();
            lv.reorder_src = lv.src_md != src_md;
            if (lv.reorder_src) {
                lv.src_copy = memory(lv.src_md, eng);
                lv.to_src = reorder(reorder::primitive_desc(eng, src_md, eng, lv.src_md));
            }
            const memory::desc diff_src_md = lv.bwd_data_pd.diff_src_desc();
            lv.reorder_diff_src = diff_src_md != src_md;
            if (lv.reorder_diff_src) {
                lv.diff_src_copy = memory(diff_src_md, eng);
                lv.from_diff_src = reorder(reorder::primitive_desc(eng, diff_src_md, eng, src_md));
            }
            const memory::desc out_md = lv.dst_md;

            // Views of the caller's parameters, bound by sync_weights.
            lv.user_weights = memory(user_w_md, eng, DNNL_MEMORY_NONE);
            lv.user_bias = memory(bias_md, eng, DNNL_MEMORY_NONE);
            if (fwd_w_md != user_w_md) {
                lv.fwd_weights = memory(fwd_w_md, eng);
                lv.to_fwd_weights = reorder(lv.user_weights, lv.fwd_weights);
                lv.fwd_weights_reorder = true;
            } else {
                lv.fwd_weights = lv.user_weights;
            }
            if (bwd_w_md == fwd_w_md) {
                lv.bwd_weights_mem = lv.fwd_weights;
                lv.bwd_shares_fwd = true;
            } else if (bwd_w_md == user_w_md) {
                lv.bwd_weights_mem = lv.user_weights;
            } else {
                lv.bwd_weights_mem = memory(bwd_w_md, eng);
                lv.to_bwd_weights = reorder(lv.user_weights, lv.bwd_weights_mem);
                lv.bwd_weights_reorder = true;
            }
            lv.output = memory(out_md, eng);
            // dU/d(output) lives in ping (even levels) or pong (odd levels); the handles are set below.
            const index diff_floats = onednn::floats(out_md);
            (l % 2 == 0 ? ping_floats : pong_floats) = std::max(l % 2 == 0 ? ping_floats : pong_floats, diff_floats);
            if (lv.activation && lv.unit.fused) {  // the derivative from the outputs (slope >= 0: same sign as z)
                const auto hint = eltwise_forward::primitive_desc(eng, prop_kind::forward_training,
                                                                  algorithm::eltwise_relu_use_dst_for_bwd, out_md,
                                                                  out_md, lv.unit.alpha, 0.0f);
                lv.unit_bwd = eltwise_backward(eltwise_backward::primitive_desc(
                    eng, algorithm::eltwise_relu_use_dst_for_bwd, out_md, out_md, out_md, lv.unit.alpha, 0.0f, hint));
            } else if (lv.activation) {  // the convolution writes pre; the unit reads it, forward and backward
                lv.pre = memory(out_md, eng);
                const auto unit_pd = eltwise_forward::primitive_desc(eng, prop_kind::forward_training,
                                                                     lv.unit.algorithm, out_md, out_md, lv.unit.alpha, 0.0f);
                lv.unit_fwd = eltwise_forward(unit_pd);
                lv.unit_bwd = eltwise_backward(eltwise_backward::primitive_desc(
                    eng, lv.unit.algorithm, out_md, out_md, out_md, lv.unit.alpha, 0.0f, unit_pd));
            }
            src_md = out_md;
            c = layer.out_channels;
            h = lv.out_h;
            w = lv.out_w;
        }
        plan->ping.assign(static_cast<std::size_t>(std::max<index>(ping_floats, 1)), 0.0f);
        plan->pong.assign(static_cast<std::size_t>(std::max<index>(pong_floats, 1)), 0.0f);
        for (index l = 0; l < levels; ++l) {
            auto& lv = plan->levels[static_cast<std::size_t>(l)];
            float* buffer = l % 2 == 0 ? plan->ping.data() : plan->pong.data();
            lv.diff = memory(lv.dst_md, eng, buffer);
        }
        plan->input = memory(input_md, eng, DNNL_MEMORY_NONE);
        plan->input_grad = memory(input_md, eng, DNNL_MEMORY_NONE);
        plan->top_diff = memory(plan->levels.back().dst_md, eng);
        bind_arguments(*plan);
        return plan;
    }

    // The arguments of the forward, backward-data and weight-reorder primitives (backward-weights: on first use).
    static void bind_arguments(conv_stack_plan& plan) {
        const std::size_t levels = plan.levels.size();
        for (std::size_t l = 0; l < levels; ++l) {
            conv_stack_level& lv = plan.levels[l];
            lv.to_fwd_weights_args = {{DNNL_ARG_FROM, lv.user_weights}, {DNNL_ARG_TO, lv.fwd_weights}};
            lv.to_bwd_weights_args = {{DNNL_ARG_FROM, lv.user_weights}, {DNNL_ARG_TO, lv.bwd_weights_mem}};
            lv.to_src_args = {{DNNL_ARG_FROM, given_input(plan, l)}, {DNNL_ARG_TO, lv.src_copy}};
            const bool separate_unit = lv.activation && !lv.unit.fused;
            lv.fwd_args = {{DNNL_ARG_SRC, level_input(plan, l)}, {DNNL_ARG_WEIGHTS, lv.fwd_weights},
                           {DNNL_ARG_BIAS, lv.user_bias}, {DNNL_ARG_DST, separate_unit ? lv.pre : lv.output}};
            lv.unit_args = {{DNNL_ARG_SRC, lv.pre}, {DNNL_ARG_DST, lv.output}};
            if (separate_unit)
                lv.unit_bwd_args = {{DNNL_ARG_SRC, lv.pre}, {DNNL_ARG_DIFF_DST, lv.diff}, {DNNL_ARG_DIFF_SRC, lv.diff}};
            else
                lv.unit_bwd_args = {{DNNL_ARG_DST, lv.output}, {DNNL_ARG_DIFF_DST, lv.diff}, {DNNL_ARG_DIFF_SRC, lv.diff}};
            // dU/d(input) goes to the caller's gradient (first level) or the previous level's diff buffer, through
            // this level's own layout and a reorder where they differ.
            const dnnl::memory& target = l == 0 ? plan.input_grad : plan.levels[l - 1].diff;
            lv.bwd_data_args = {{DNNL_ARG_DIFF_DST, diff_output(plan, l)}, {DNNL_ARG_WEIGHTS, lv.bwd_weights_mem},
                                {DNNL_ARG_DIFF_SRC, lv.reorder_diff_src ? lv.diff_src_copy : target}};
            lv.from_diff_src_args = {{DNNL_ARG_FROM, lv.diff_src_copy}, {DNNL_ARG_TO, target}};
        }
    }

    // dU/d(output) of level l: the caller's weights for the last, else the level's diff buffer.
    static const dnnl::memory& diff_output(const conv_stack_plan& plan, std::size_t l) {
        return l + 1 == plan.levels.size() ? plan.top_diff : plan.levels[l].diff;
    }

    // Backward-weights primitives are built on the first parameter-gradient call of a plan.
    static void ensure_backward_weights(conv_stack_plan& plan) {
        using namespace dnnl;
        using onednn::f32;
        using onednn::tag;
        const dnnl::engine& eng = onednn::engine();
        for (std::size_t l = 0; l < plan.levels.size(); ++l) {
            auto& lv = plan.levels[l];
            if (lv.have_bwd_weights) continue;
            const single_thread_scope one_thread;  // the primitive's thread split is fixed at creation
            const memory::dims wdims = {lv.out_channels, lv.in_channels, lv.kernel, lv.kernel};
            const memory::desc bias_md = f32({lv.out_channels}, tag::x);
            memory::desc diff_w_md, diff_b_md;
            if (lv.inner_product) {
                const auto pd = inner_product_backward_weights::primitive_desc(eng, lv.src_md, f32(wdims, tag::any),
                                                                               bias_md, lv.dst_md, lv.ip_fwd_pd);
                lv.bwd_weights = inner_product_backward_weights(pd);
                diff_w_md = pd.diff_weights_desc();
                diff_b_md = pd.diff_bias_desc();
            } else {
                const auto pd = convolution_backward_weights::primitive_desc(
                    eng, algorithm::convolution_direct, lv.src_md, f32(wdims, tag::any), bias_md, lv.dst_md, lv.strides,
                    lv.padding_l, lv.padding_r, lv.conv_fwd_pd);
                lv.bwd_weights = convolution_backward_weights(pd);
                diff_w_md = pd.diff_weights_desc();
                diff_b_md = pd.diff_bias_desc();
            }
            lv.diff_weights = memory(diff_w_md, eng);
            lv.diff_bias = memory(diff_b_md, eng);
            lv.user_diff_weights = memory(f32(wdims, tag::oihw), eng, DNNL_MEMORY_NONE);
            primitive_attr sum_attr;
            post_ops ops;
            ops.append_sum(1.0f);
            sum_attr.set_post_ops(ops);
            lv.diff_weights_to_user = reorder(reorder::primitive_desc(lv.diff_weights, lv.user_diff_weights, sum_attr));
            lv.bwd_weights_args = {{DNNL_ARG_SRC, level_input(plan, l)}, {DNNL_ARG_DIFF_DST, diff_output(plan, l)},
                                   {DNNL_ARG_DIFF_WEIGHTS, lv.diff_weights}, {DNNL_ARG_DIFF_BIAS, lv.diff_bias}};
            lv.grad_args = {{DNNL_ARG_FROM, lv.diff_weights}, {DNNL_ARG_TO, lv.user_diff_weights}};
            lv.have_bwd_weights = true;
        }
    }

    static void sync_weights(conv_stack_plan& plan, conv_stack_state& st, const float* parameters,
                             std::uint64_t version) {
        if (plan.weights_version == version && plan.weights_source == parameters) return;
        float* params = const_cast<float*>(parameters);  // read-only use by oneDNN
        for (auto& lv : plan.levels) {
            lv.user_weights.set_data_handle(params + lv.weight_offset);
            lv.user_bias.set_data_handle(params + lv.bias_offset);
            onednn::profile* prof = &st.prof;
            if (lv.fwd_weights_reorder)
                onednn::execute(lv.to_fwd_weights, st.stream, lv.to_fwd_weights_args, prof, "weights.reorder");
            if (lv.bwd_weights_reorder)
                onednn::execute(lv.to_bwd_weights, st.stream, lv.to_bwd_weights_args, prof, "weights.reorder");
        }
        plan.weights_version = version;
        plan.weights_source = parameters;
    }

    // The previous level's output (the caller's x for the first level), and what level l reads: that, or its copy
    // in the level's own layout.
    static const dnnl::memory& given_input(const conv_stack_plan& plan, std::size_t l) {
        return l == 0 ? plan.input : plan.levels[l - 1].output;
    }
    static const dnnl::memory& level_input(const conv_stack_plan& plan, std::size_t l) {
        return plan.levels[l].reorder_src ? plan.levels[l].src_copy : given_input(plan, l);
    }

    static void forward(conv_stack_plan& plan, conv_stack_state& st, const float* x) {
        plan.input.set_data_handle(const_cast<float*>(x));
        dnnl::stream& s = st.stream;
        onednn::profile* prof = &st.prof;
        for (std::size_t l = 0; l < plan.levels.size(); ++l) {
            auto& lv = plan.levels[l];
            if (lv.reorder_src) onednn::execute(lv.to_src, s, lv.to_src_args, prof, lv.label_src.c_str());
            onednn::execute(lv.fwd, s, lv.fwd_args, prof, lv.label_fwd.c_str());
            if (lv.activation && !lv.unit.fused) onednn::execute(lv.unit_fwd, s, lv.unit_args, prof, lv.label_unit.c_str());
        }
        s.wait();
    }

    // From top_diff (dU/d network output per chain) down to the caller's input gradient (grad == nullptr) or,
    // with grad != nullptr, adding every parameter gradient into grad (no input gradient).
    static void backward(conv_stack_plan& plan, conv_stack_state& st, float* grad) {
        if (grad != nullptr) ensure_backward_weights(plan);
        dnnl::stream& s = st.stream;
        onednn::profile* prof = &st.prof;
        const index levels = static_cast<index>(plan.levels.size());
        for (index l = levels - 1; l >= 0; --l) {
            auto& lv = plan.levels[static_cast<std::size_t>(l)];
            if (lv.activation) onednn::execute(lv.unit_bwd, s, lv.unit_bwd_args, prof, lv.label_unit_bwd.c_str());
            if (grad != nullptr) {
                {
                    // One thread: the same reduction order for any thread count (single_thread_scope).
                    const single_thread_scope one_thread;
                    onednn::execute(lv.bwd_weights, s, lv.bwd_weights_args, prof, lv.label_bwd_weights.c_str());
                    s.wait();
                }
                lv.user_diff_weights.set_data_handle(grad + lv.weight_offset);
                onednn::execute(lv.diff_weights_to_user, s, lv.grad_args, prof, lv.label_grad.c_str());
                s.wait();
                const float* db = static_cast<const float*>(lv.diff_bias.get_data_handle());
                for (index o = 0; o < lv.out_channels; ++o) grad[lv.bias_offset + o] += db[o];
                if (l == 0) break;  // no input gradient wanted
            }
            onednn::execute(lv.bwd_data, s, lv.bwd_data_args, prof, lv.label_bwd_data.c_str());
            if (lv.reorder_diff_src)
                onednn::execute(lv.from_diff_src, s, lv.from_diff_src_args, prof, lv.label_diff_src.c_str());
        }
        s.wait();
    }

    std::vector<conv_stack_layer> layers_;
};

}  // namespace ebm::onednn
#endif  // EBM_HAVE_ONEDNN
