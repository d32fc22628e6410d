#pragma once
// ConvNet energies on the CPU through oneDNN v3: the short-run paper's networks (Appendix 7.4, Tables 4-6) and the
// Anatomy code's VanillaNet — a chain of convolutions, each but the last followed by LeakyReLU, ending in one
// scalar per chain.
//
//   short_run(32):  conv3x3 s1 p1 (C -> n_f), conv4x4 s2 p1 (n_f -> 2n_f -> 4n_f -> 8n_f), conv4x4 s1 p0 (8n_f -> 1)
//   short_run(64):  ... one more conv4x4 s2 p1 (8n_f -> 8n_f) before the last
//   short_run(128): ... two more
//   vanilla():      short_run(32) with n_f 32 and LeakyReLU 0.05 (Anatomy code's VanillaNet)
//
// Sign convention: U(x) = network output (as in the Anatomy code, where f(x) is the energy). The short-run code's
// network f is the NEGATIVE energy (its Langevin step is x += f'(x) + sigma z), so weights trained there are used with
// convnet_options{.negate_output = true}, which makes U(x) = -f(x).
//
// Parameters: one flat vector in PyTorch's state_dict order and layout — "f.<2l>.weight" (out, in, kh, kw) then
// "f.<2l>.bias" (out) for conv l — so tensors load from and save to safetensors files written by PyTorch
// (include/ebm/io/safetensors.hpp). Default initialisation is PyTorch's (kaiming_uniform a = sqrt(5)):
// weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in * kh * kw, drawn from Philox stream
// (parameter_init, tensor index, 0) of the seed.
//
// Execution: primitives (convolutions with bias and LeakyReLU fused as a post-op, backward-data, backward-weights,
// LeakyReLU backward from the stored outputs) and their memory are created once per batch size inside the
// workspace, with activations in the layouts oneDNN prefers (format_tag::any, or where that leaves a reference kernel
// at small widths, a reordered layout with optimised kernels: choose_level); a call only rebinds the caller's
// input and gradient buffers. energy_and_gradient runs forward + backward-data only (no parameter gradients).
// Calls with fewer chains than max_chains build (once, on first use) a second set of primitives for that batch
// size and keep it in the workspace. oneDNN threads internally (OpenMP), so the samplers pass the whole batch in
// one call (split_chains_across_threads = false). The last convolution covers its whole input, so it runs as an
// inner product (oneDNN's JIT convolutions do not serve a single output channel).
// Without oneDNN v3 on the include path (see cmake/ebm_onednn.cmake) this header declares nothing.
//
// Reordered (blocked) weight copies are refreshed when the parameters may have changed: every call of the
// non-const parameters() marks them stale. Code that keeps a std::span from parameters() and writes through it
// after an evaluation must call parameters_changed() before the next evaluation.
#include "../backend/cpu/onednn.hpp"

#if EBM_HAVE_ONEDNN
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../batch.hpp"
#include "../config.hpp"
#include "../detail/aligned_buffer.hpp"
#include "../error.hpp"
#include "../random/distributions.hpp"
#include "convnet_architecture.hpp"
#include "hessian_vector.hpp"
#include "parameter_tensor.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace ebm {

/// Wall time per primitive of a workspace (switch on with `ws.profiling().enabled = true`).
using convnet_profile = onednn::profile;

namespace detail {

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

inline std::atomic<std::uint64_t>& convnet_parameter_version_counter() {
    static std::atomic<std::uint64_t> counter{1};
    return counter;
}

struct convnet_level {
    // geometry
    index in_channels = 0, in_h = 0, in_w = 0, out_channels = 0, out_h = 0, out_w = 0, kernel = 0;
    onednn::dims strides, padding_l, padding_r;
    bool activation = true;
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
    dnnl::eltwise_backward relu_bwd;
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
    dnnl::memory output;            // activations after LeakyReLU (layout chosen by oneDNN); energies for the last
    dnnl::memory diff;              // dU/d(output), then dU/d(pre-activation) in place; in a ping-pong buffer
    dnnl::memory diff_weights, diff_bias, user_diff_weights;
    std::string label_fwd, label_bwd_data, label_relu, label_bwd_weights, label_grad, label_src, label_diff_src;
};

/// Primitives and buffers for one batch size.
struct convnet_plan {
    index chains = 0;
    std::vector<convnet_level> levels;
    dnnl::memory input;          // caller's x (NCHW), handle set per call
    dnnl::memory input_grad;     // caller's dU/dx (NCHW), handle set per call
    dnnl::memory top_diff;       // dU/d(output) of the last conv: +-1 or +-w_i
    std::vector<std::string> reference_kernels;  // primitives left on oneDNN's reference implementation
    aligned_vector<float> ping, pong;
    std::uint64_t weights_version = 0;
    const float* weights_source = nullptr;
};

struct convnet_state {
    dnnl::stream stream{onednn::engine()};
    std::vector<std::unique_ptr<convnet_plan>> plans;
    onednn::profile prof;
};

}  // namespace detail

class convnet {
public:
    static constexpr bool split_chains_across_threads = false;  // oneDNN threads inside each call

    /// Per-run buffers and primitives; move-only. profiling() exposes per-primitive timings.
    class workspace {
    public:
        workspace() = default;
        [[nodiscard]] index capacity() const { return capacity_; }
        [[nodiscard]] convnet_profile& profiling() { return state_->prof; }
        /// Number of batch sizes that have primitives (1 after make_workspace; +1 per new smaller size used).
        [[nodiscard]] index cached_batch_sizes() const { return static_cast<index>(state_->plans.size()); }
        /// Primitives (labelled as in profiling()) that oneDNN serves only with its slow reference implementation,
        /// over every batch size built so far; empty when every level found optimised kernels.
        [[nodiscard]] std::vector<std::string> reference_kernels() const {
            std::vector<std::string> labels;
            for (const auto& plan : state_->plans)
                for (const std::string& label : plan->reference_kernels)
                    if (std::find(labels.begin(), labels.end(), label) == labels.end()) labels.push_back(label);
            return labels;
        }

    private:
        friend class convnet;
        index capacity_ = 0;
        std::unique_ptr<detail::convnet_state> state_;
    };

    convnet(convnet_architecture arch, convnet_options options = {}, seed init_seed = seed{0})
        : arch_(std::move(arch)), options_(options) {
        validate_architecture();
        tensors_ = convnet_parameter_tensors(arch_);
        parameters_.assign(static_cast<std::size_t>(tensors_.back().offset + tensors_.back().count()), 0.0f);
        reset_parameters(init_seed);
    }

    /// The short-run paper's network for image_size 32, 64 or 128 (Tables 4-6).
    static convnet short_run(index image_size = 32, index n_f = 64, index channels = 3, float negative_slope = 0.2f,
                             convnet_options options = {}, seed init_seed = seed{0}) {
        return convnet(short_run_architecture(image_size, n_f, channels, negative_slope), options, init_seed);
    }

    /// The Anatomy code's VanillaNet (32 x 32 inputs): the short-run shape with n_f 32 and LeakyReLU 0.05.
    static convnet vanilla(index channels = 3, index n_f = 32, float negative_slope = 0.05f, convnet_options options = {},
                           seed init_seed = seed{0}) {
        return convnet(vanilla_architecture(channels, n_f, negative_slope), options, init_seed);
    }

    /// PyTorch's default initialisation of nn.Conv2d from the given seed; marks the parameters changed.
    void reset_parameters(seed init_seed) {
        const philox rng(init_seed);
        for (std::size_t t = 0; t < tensors_.size(); ++t) {
            const parameter_tensor& tensor = tensors_[t];
            const parameter_tensor& weight = tensors_[t - t % 2];  // fan_in from the layer's weight
            const index fan_in = weight.shape[1] * weight.shape[2] * weight.shape[3];
            const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
            fill_uniform(rng, purpose::parameter_init, static_cast<std::uint32_t>(t), 0,
                         parameters_.data() + tensor.offset, tensor.count(), -bound, bound);
        }
        parameters_changed();
    }

    [[nodiscard]] const convnet_architecture& architecture() const { return arch_; }
    [[nodiscard]] const convnet_options& options() const { return options_; }
    [[nodiscard]] index channels() const { return arch_.channels; }
    [[nodiscard]] index height() const { return arch_.height; }
    [[nodiscard]] index width() const { return arch_.width; }
    [[nodiscard]] index dimension() const { return arch_.channels * arch_.height * arch_.width; }
    [[nodiscard]] float negative_slope() const { return arch_.negative_slope; }
    [[nodiscard]] index parameter_count() const { return static_cast<index>(parameters_.size()); }
    /// Mutable access marks the parameters changed (the workspace re-reads them at the next evaluation).
    [[nodiscard]] std::span<float> parameters() {
        parameters_changed();
        return {parameters_.data(), parameters_.size()};
    }
    [[nodiscard]] std::span<const float> parameters() const { return {parameters_.data(), parameters_.size()}; }
    /// Names, shapes and offsets of the parameter tensors, in state_dict order.
    [[nodiscard]] const std::vector<parameter_tensor>& parameter_tensors() const { return tensors_; }
    void parameters_changed() { version_ = detail::convnet_parameter_version_counter().fetch_add(1) + 1; }

    /// Multiply-adds x 2 of one forward pass per chain (backward-data costs about the same).
    [[nodiscard]] double forward_flops_per_chain() const { return forward_flops(arch_); }

    [[nodiscard]] workspace make_workspace(index max_chains) const {
        detail::require_positive("convnet::make_workspace", "max_chains", max_chains);
        workspace ws;
        ws.capacity_ = max_chains;
        try {
            ws.state_ = std::make_unique<detail::convnet_state>();
            ws.state_->plans.push_back(make_plan(max_chains));
        } catch (const dnnl::error& e) {
            onednn::rethrow("convnet::make_workspace", e);
        }
        return ws;
    }

    void energy(const_batch_view x, std::span<float> u, workspace& ws) const {
        check_call("convnet::energy", x, u, ws);
        try {
            detail::convnet_plan& plan = plan_for(ws, x.count);
            forward(plan, x, ws);
            read_energies(plan, x.count, u);
        } catch (const dnnl::error& e) {
            onednn::rethrow("convnet::energy", e);
        }
    }

    void energy_and_gradient(const_batch_view x, std::span<float> u, batch_view g, workspace& ws) const {
        check_call("convnet::energy_and_gradient", x, u, ws);
        if (g.dimension != dimension() || g.count != x.count || g.data == nullptr)
            detail::fail("convnet::energy_and_gradient", "grad must have the shape of x (" + detail::to_text(x.count) +
                                                             " chains of " + detail::to_text(dimension()) + ")",
                         g.count);
        try {
            detail::convnet_plan& plan = plan_for(ws, x.count);
            forward(plan, x, ws);
            read_energies(plan, x.count, u);
            float* top = static_cast<float*>(plan.top_diff.get_data_handle());
            const float sign = options_.negate_output ? -1.0f : 1.0f;
            for (index i = 0; i < x.count; ++i) top[i] = sign;
            plan.input_grad.set_data_handle(g.data);
            backward(plan, ws, nullptr);
        } catch (const dnnl::error& e) {
            onednn::rethrow("convnet::energy_and_gradient", e);
        }
    }

    /// hv_i = (d2U/dx2)(x_i) v_i: zero, as convolutions and LeakyReLUs make a piecewise-linear network
    /// (energy/hessian_vector.hpp).
    void hessian_vector_product(const_batch_view x, const_batch_view v, batch_view hv, workspace&) const {
        detail::piecewise_linear_hessian_vector("convnet::hessian_vector_product", dimension(), x, v, hv);
    }

    void accumulate_parameter_gradient(const_batch_view x, std::span<const float> weights, std::span<float> grad,
                                       std::span<float> u, workspace& ws) const {
        const char* where = "convnet::accumulate_parameter_gradient";
        check_call(where, x, u, ws);
        if (static_cast<index>(weights.size()) != x.count)
            detail::fail(where, "weights must have one entry per chain (" + detail::to_text(x.count) + ")",
                         weights.size());
        if (static_cast<index>(grad.size()) != parameter_count())
            detail::fail(where, "grad must have parameter_count() = " + detail::to_text(parameter_count()) + " entries",
                         grad.size());
        try {
            detail::convnet_plan& plan = plan_for(ws, x.count);
            forward(plan, x, ws);
            read_energies(plan, x.count, u);
            float* top = static_cast<float*>(plan.top_diff.get_data_handle());
            const float sign = options_.negate_output ? -1.0f : 1.0f;
            for (index i = 0; i < x.count; ++i) top[i] = sign * weights[static_cast<std::size_t>(i)];
            backward(plan, ws, grad.data());
        } catch (const dnnl::error& e) {
            onednn::rethrow(where, e);
        }
    }

private:
    void validate_architecture() const {
        const char* where = "convnet";
        detail::require_positive(where, "channels", arch_.channels);
        detail::require_positive(where, "height", arch_.height);
        detail::require_positive(where, "width", arch_.width);
        if (arch_.layers.empty()) detail::fail(where, "the architecture needs at least one convolution", 0);
        detail::require_in_closed(where, "negative_slope", arch_.negative_slope, 0.0f, 1.0f);
        index h = arch_.height, w = arch_.width;
        for (const conv_layer& layer : arch_.layers) {
            if (&layer == &arch_.layers.back() && (layer.kernel != h || layer.kernel != w))
                detail::fail(where, "the last convolution's kernel must cover its whole " + std::to_string(h) + " x " +
                                        std::to_string(w) + " input",
                             layer.kernel);
            detail::require_positive(where, "out_channels", layer.out_channels);
            detail::require_positive(where, "kernel", layer.kernel);
            detail::require_positive(where, "stride", layer.stride);
            detail::require_non_negative(where, "padding", layer.padding);
            if (h + 2 * layer.padding < layer.kernel || w + 2 * layer.padding < layer.kernel)
                detail::fail(where, "a convolution's kernel is larger than its padded input", layer.kernel);
            h = (h + 2 * layer.padding - layer.kernel) / layer.stride + 1;
            w = (w + 2 * layer.padding - layer.kernel) / layer.stride + 1;
        }
        if (arch_.layers.back().out_channels != 1 || h != 1 || w != 1)
            detail::fail(where, "the last convolution must give 1 x 1 x 1 per chain (one energy); output channels x height x width",
                         std::to_string(arch_.layers.back().out_channels) + "x" + std::to_string(h) + "x" +
                             std::to_string(w));
        if (arch_.layers.back().padding != 0)
            detail::fail(where, "the last convolution must be unpadded (it covers its whole input)", arch_.layers.back().padding);
    }

    void check_call(const char* where, const_batch_view x, std::span<float> u, const workspace& ws) const {
        if (!ws.state_) detail::fail(where, "the workspace is empty (make it with make_workspace)", 0);
        if (x.dimension != dimension())
            detail::fail(where, "x dimension must equal channels x height x width = " + detail::to_text(arch_.channels) +
                                    " x " + detail::to_text(arch_.height) + " x " + detail::to_text(arch_.width) +
                                    " = " + detail::to_text(dimension()),
                         x.dimension);
        if (x.count <= 0 || x.data == nullptr) detail::fail(where, "x must hold at least one chain", x.count);
        if (x.count > ws.capacity_)
            detail::fail(where, "x holds more chains than the workspace capacity " + detail::to_text(ws.capacity_),
                         x.count);
        if (static_cast<index>(u.size()) < x.count)
            detail::fail(where, "u must have one entry per chain (" + detail::to_text(x.count) + ")", u.size());
    }

    detail::convnet_plan& plan_for(const workspace& ws, index n) const {
        for (auto& plan : ws.state_->plans)
            if (plan->chains == n) return *plan;
        ws.state_->plans.push_back(make_plan(n));
        return *ws.state_->plans.back();
    }

    // Layouts. oneDNN picks each level's output layout (format_tag::any) for that level alone; where a width is not
    // a multiple of its SIMD block (n_f 4, 8, 12) the next level may then find no optimised kernel for that input and
    // fall back to its reference implementation (ref:any, 100-1000x slower: 3.7 s instead of 13 ms per gradient of a
    // short_run(32, n_f 8) net at batch 64, one thread). So each level first tries the previous output's layout with an output
    // layout of oneDNN's choice (what every n_f >= 16 net gets, unchanged), then the input reordered to NHWC or a
    // channel-blocked layout and other output layouts, and keeps the first choice whose forward, backward-data and
    // backward-weights primitives all have optimised kernels (else the one with the fewest reference kernels,
    // listed by workspace::reference_kernels()).
    void choose_level(detail::convnet_level& lv, const dnnl::memory::desc& given, index n, bool first) const {
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
    std::vector<std::string> describe_level(detail::convnet_level& lv, const dnnl::memory::desc& src, onednn::tag dst,
                                            index n, bool first) const {
        using namespace dnnl;
        using onednn::f32;
        using onednn::tag;
        const engine& eng = onednn::engine();
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
            const detail::single_thread_scope one_thread;  // as ensure_backward_weights creates it
            check(inner_product_backward_weights::primitive_desc(eng, src, any_w_md, bias_md, lv.dst_md, lv.ip_fwd_pd),
                  lv.label_bwd_weights);
        } else {
            primitive_attr attr;
            post_ops ops;
            ops.append_eltwise(algorithm::eltwise_relu, arch_.negative_slope, 0.0f);
            attr.set_post_ops(ops);
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
            const detail::single_thread_scope one_thread;  // as ensure_backward_weights creates it
            check(convolution_backward_weights::primitive_desc(eng, algorithm::convolution_direct, src, any_w_md,
                                                               bias_md, lv.dst_md, lv.strides, lv.padding_l,
                                                               lv.padding_r, lv.conv_fwd_pd),
                  lv.label_bwd_weights);
        }
        check(lv.bwd_data_pd, lv.label_bwd_data);
        return reference;
    }

    std::unique_ptr<detail::convnet_plan> make_plan(index n) const {
        using namespace dnnl;
        using onednn::f32;
        using onednn::tag;
        const engine& eng = onednn::engine();
        auto plan = std::make_unique<detail::convnet_plan>();
        plan->chains = n;
        const index levels = static_cast<index>(arch_.layers.size());
        plan->levels.resize(static_cast<std::size_t>(levels));
        index c = arch_.channels, h = arch_.height, w = arch_.width;
        memory::desc src_md = f32({n, c, h, w}, tag::nchw);
        const memory::desc input_md = src_md;
        index ping_floats = 0, pong_floats = 0;
        for (index l = 0; l < levels; ++l) {
            const conv_layer& layer = arch_.layers[static_cast<std::size_t>(l)];
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
            lv.weight_offset = tensors_[static_cast<std::size_t>(2 * l)].offset;
            lv.bias_offset = tensors_[static_cast<std::size_t>(2 * l + 1)].offset;
            const std::string name = "conv" + std::to_string(l) + (l == levels - 1 ? "(inner_product)" : "");
            lv.label_fwd = name + ".forward";
            lv.label_bwd_data = name + ".backward_data";
            lv.label_relu = name + ".leaky_relu_backward";
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

            float* params = const_cast<float*>(parameters_.data());  // read-only use by oneDNN
            lv.user_weights = memory(user_w_md, eng, params + lv.weight_offset);
            lv.user_bias = memory(bias_md, eng, params + lv.bias_offset);
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
            if (lv.activation) {
                const auto relu_fwd_hint = eltwise_forward::primitive_desc(
                    eng, prop_kind::forward_training, algorithm::eltwise_relu_use_dst_for_bwd, out_md, out_md,
                    arch_.negative_slope, 0.0f);
                const auto relu_bwd_pd = eltwise_backward::primitive_desc(
                    eng, algorithm::eltwise_relu_use_dst_for_bwd, out_md, out_md, out_md, arch_.negative_slope, 0.0f,
                    relu_fwd_hint);
                lv.relu_bwd = eltwise_backward(relu_bwd_pd);
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
        return plan;
    }

    // Backward-weights primitives are built on the first parameter-gradient call of a plan.
    void ensure_backward_weights(detail::convnet_plan& plan) const {
        using namespace dnnl;
        using onednn::f32;
        using onednn::tag;
        const engine& eng = onednn::engine();
        for (std::size_t l = 0; l < plan.levels.size(); ++l) {
            auto& lv = plan.levels[l];
            if (lv.have_bwd_weights) continue;
            const detail::single_thread_scope one_thread;  // the primitive's thread split is fixed at creation
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
            lv.have_bwd_weights = true;
        }
    }

    void sync_weights(detail::convnet_plan& plan, workspace& ws) const {
        if (plan.weights_version == version_ && plan.weights_source == parameters_.data()) return;
        float* params = const_cast<float*>(parameters_.data());
        for (auto& lv : plan.levels) {
            lv.user_weights.set_data_handle(params + lv.weight_offset);
            lv.user_bias.set_data_handle(params + lv.bias_offset);
            onednn::profile* prof = &ws.state_->prof;
            if (lv.fwd_weights_reorder)
                onednn::execute(lv.to_fwd_weights, ws.state_->stream,
                                {{DNNL_ARG_FROM, lv.user_weights}, {DNNL_ARG_TO, lv.fwd_weights}}, prof, "weights.reorder");
            if (lv.bwd_weights_reorder)
                onednn::execute(lv.to_bwd_weights, ws.state_->stream,
                                {{DNNL_ARG_FROM, lv.user_weights}, {DNNL_ARG_TO, lv.bwd_weights_mem}}, prof,
                                "weights.reorder");
        }
        plan.weights_version = version_;
        plan.weights_source = parameters_.data();
    }

    // The previous level's output (the caller's x for the first level), and what level l reads: that, or its copy
    // in the level's own layout.
    static const dnnl::memory& given_input(const detail::convnet_plan& plan, std::size_t l) {
        return l == 0 ? plan.input : plan.levels[l - 1].output;
    }
    static const dnnl::memory& level_input(const detail::convnet_plan& plan, std::size_t l) {
        return plan.levels[l].reorder_src ? plan.levels[l].src_copy : given_input(plan, l);
    }

    void forward(detail::convnet_plan& plan, const_batch_view x, workspace& ws) const {
        sync_weights(plan, ws);
        plan.input.set_data_handle(const_cast<float*>(x.data));
        dnnl::stream& s = ws.state_->stream;
        onednn::profile* prof = &ws.state_->prof;
        for (std::size_t l = 0; l < plan.levels.size(); ++l) {
            auto& lv = plan.levels[l];
            if (lv.reorder_src)
                onednn::execute(lv.to_src, s, {{DNNL_ARG_FROM, given_input(plan, l)}, {DNNL_ARG_TO, lv.src_copy}}, prof,
                                lv.label_src.c_str());
            const dnnl::memory& src = level_input(plan, l);
            onednn::execute(lv.fwd, s,
                            {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, lv.fwd_weights}, {DNNL_ARG_BIAS, lv.user_bias},
                             {DNNL_ARG_DST, lv.output}},
                            prof, lv.label_fwd.c_str());
        }
        s.wait();
    }

    void read_energies(const detail::convnet_plan& plan, index n, std::span<float> u) const {
        const float* out = static_cast<const float*>(plan.levels.back().output.get_data_handle());
        const float sign = options_.negate_output ? -1.0f : 1.0f;
        for (index i = 0; i < n; ++i) u[static_cast<std::size_t>(i)] = sign * out[i];
    }

    // From top_diff (dU/d network output per chain) down to the caller's input gradient (grad == nullptr) or,
    // with grad != nullptr, adding every parameter gradient into grad (no input gradient).
    void backward(detail::convnet_plan& plan, workspace& ws, float* grad) const {
        if (grad != nullptr) ensure_backward_weights(plan);
        dnnl::stream& s = ws.state_->stream;
        onednn::profile* prof = &ws.state_->prof;
        const index levels = static_cast<index>(plan.levels.size());
        for (index l = levels - 1; l >= 0; --l) {
            auto& lv = plan.levels[static_cast<std::size_t>(l)];
            const dnnl::memory& diff_dst = l == levels - 1 ? plan.top_diff : lv.diff;
            if (lv.activation)
                onednn::execute(lv.relu_bwd, s,
                                {{DNNL_ARG_DST, lv.output}, {DNNL_ARG_DIFF_DST, lv.diff}, {DNNL_ARG_DIFF_SRC, lv.diff}},
                                prof, lv.label_relu.c_str());
            if (grad != nullptr) {
                const dnnl::memory& src = level_input(plan, static_cast<std::size_t>(l));
                {
                    // One thread: the same reduction order for any thread count (detail::single_thread_scope).
                    const detail::single_thread_scope one_thread;
                    onednn::execute(lv.bwd_weights, s,
                                    {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, diff_dst},
                                     {DNNL_ARG_DIFF_WEIGHTS, lv.diff_weights}, {DNNL_ARG_DIFF_BIAS, lv.diff_bias}},
                                    prof, lv.label_bwd_weights.c_str());
                    s.wait();
                }
                lv.user_diff_weights.set_data_handle(grad + lv.weight_offset);
                onednn::execute(lv.diff_weights_to_user, s,
                                {{DNNL_ARG_FROM, lv.diff_weights}, {DNNL_ARG_TO, lv.user_diff_weights}}, prof,
                                lv.label_grad.c_str());
                s.wait();
                const float* db = static_cast<const float*>(lv.diff_bias.get_data_handle());
                for (index o = 0; o < lv.out_channels; ++o) grad[lv.bias_offset + o] += db[o];
                if (l == 0) break;  // no input gradient wanted
            }
            // dU/d(input) goes to the caller's gradient (first level) or the previous level's diff buffer, through
            // this level's own layout and a reorder where they differ.
            const dnnl::memory& target = l == 0 ? plan.input_grad : plan.levels[static_cast<std::size_t>(l) - 1].diff;
            onednn::execute(lv.bwd_data, s,
                            {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_WEIGHTS, lv.bwd_weights_mem},
                             {DNNL_ARG_DIFF_SRC, lv.reorder_diff_src ? lv.diff_src_copy : target}},
                            prof, lv.label_bwd_data.c_str());
            if (lv.reorder_diff_src)
                onednn::execute(lv.from_diff_src, s, {{DNNL_ARG_FROM, lv.diff_src_copy}, {DNNL_ARG_TO, target}}, prof,
                                lv.label_diff_src.c_str());
        }
        s.wait();
    }

    convnet_architecture arch_;
    convnet_options options_;
    std::vector<parameter_tensor> tensors_;
    detail::aligned_vector<float> parameters_;
    std::uint64_t version_ = 0;
};

}  // namespace ebm
#endif  // EBM_HAVE_ONEDNN
