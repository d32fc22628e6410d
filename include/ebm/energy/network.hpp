#pragma once
// ebm::network: an energy composed from layers (energy/network_spec.hpp; JSON in energy/network_json.hpp) on the CPU,
// as a learnable_energy with exact Hessian-vector products.
//
//   ebm::network net(ebm::load_network_spec("energy.json"), ebm::seed{1});
//   ebm::io::load_parameters(net, "weights.safetensors");   // PyTorch state_dict names
//
// Every operation gives its forward pass, its input gradient, its weighted parameter gradient and the two tangents of
// the Hessian-vector product (Pearlmutter's R-operator): the tangent of the forward pass along v, then the tangent
// of the backward pass, whose value at the input is (d2U/dx2) v. Through an affine layer the tangents pass as the
// values do (without the bias); through an activation a = f(z) the backward tangent picks up f''(z) z_t g
// (kernels/activation.hpp); max-pooling passes them through the switches of the forward pass. For a network of ReLU /
// LeakyReLU units, pools and affine layers the product is computed all the same and comes out zero.
//
// Execution, on one of three paths (network::execution() names it):
// - A chain of convolutions with bias, each but the last followed by one activation other than Softplus and the last
//   covering its whole input with one output — the short-run paper's ConvNets, the Anatomy code's VanillaNet — runs
//   energies and gradients as oneDNN primitives over the whole batch where oneDNN is built in
//   (backend/cpu/onednn_conv_stack.hpp: blocked layouts, bias and ReLU/LeakyReLU fused, oneDNN's threads; the former
//   specialised convnet class's code).
// - A chain of fully connected layers with bias and one ReLU/LeakyReLU after each but the last, ending in one value —
//   the Anatomy toy MLP — runs on blocks of 64 chains through the register-blocked kernels of
//   backend/cpu/dense_stack.hpp (the former specialised mlp class's).
// - Every other network (and any, with network_execution::blocks) runs layer by layer on blocks of chains (fixed by
//   the network: one for convolutional nets, up to 32 where a chain's activations are small), each block through the
//   whole network on one thread, chain-major as a batch: fully connected layers as one Eigen GEMM over the block,
//   convolutions as im2col and an Eigen GEMM per chain; units, pools and the attention's rows through the per-element
//   functors of kernels/ (activation, convolution, pooling, softmax) that the GPU's network launches
//   (backend/cuda/network.cuh over backend/network_gemm.hpp: the same layout, names and initialisation on the device).
//   The Hessian-vector product always takes this path (for the ReLU/LeakyReLU forms it is zero, the networks being
//   piecewise linear).
// Blocks are spread over OpenMP threads inside each call (split_chains_across_threads = false), each thread with its
// own scratch in the workspace, so no call allocates. Blocks start at fixed chains and the parameter gradient adds the
// blocks' sums in block order (detail/chain_threads.hpp): every result is bit-identical for any thread count.
// The oneDNN path keeps reordered copies of the weights: every call of the non-const parameters() marks them stale, and
// code that keeps a std::span from parameters() and writes through it after an evaluation calls parameters_changed().
// Parameters are one flat vector in state_dict order, initialised as PyTorch initialises nn.Conv2d and nn.Linear
// (weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))) from Philox stream (parameter_init, tensor index, 0).
#include "../detail/eigen.hpp"  // Eigen/Core, host-compiled only

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../backend/cpu/dense_stack.hpp"
#include "../backend/cpu/onednn_conv_stack.hpp"
#include "../batch.hpp"
#include "../config.hpp"
#include "../detail/aligned_buffer.hpp"
#include "../detail/chain_threads.hpp"
#include "../error.hpp"
#include "../kernels/activation.hpp"
#include "../kernels/convolution.hpp"
#include "../kernels/pooling.hpp"
#include "../kernels/softmax.hpp"
#include "../random/distributions.hpp"
#include "hessian_vector.hpp"
#include "network_spec.hpp"
#include "parameter_tensor.hpp"

namespace ebm {

namespace onednn {
class conv_stack;  // backend/cpu/onednn_conv_stack.hpp (declared there only where oneDNN is built in)
struct conv_stack_state;
}  // namespace onednn

/// How a network runs on the CPU: `automatic` runs a chain of convolutions with activations ending in one value as
/// oneDNN primitives over the whole batch where oneDNN is built in, a chain of fully connected layers with
/// ReLU/LeakyReLU on the dense kernels, and everything else layer by layer on blocks of chains; `blocks` runs every
/// network layer by layer on blocks of chains (the tests compare the paths).
enum class network_execution { automatic, blocks };

namespace detail {
/// Versions of parameter vectors, unique across objects, so that a workspace's reordered weights are refreshed when
/// the parameters (or the network) they were made from change.
inline std::atomic<std::uint64_t>& parameter_version_counter() {
    static std::atomic<std::uint64_t> counter{1};
    return counter;
}
}  // namespace detail

class network {
    using rmatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using map = Eigen::Map<rmatrix>;
    using cmap = Eigen::Map<const rmatrix>;
    using vmap = Eigen::Map<Eigen::VectorXf>;
    using cvmap = Eigen::Map<const Eigen::VectorXf>;
    using rvmap = Eigen::Map<Eigen::RowVectorXf>;
    using crvmap = Eigen::Map<const Eigen::RowVectorXf>;

public:
    static constexpr bool split_chains_across_threads = false;  // threads over blocks of chains inside each call

    /// One pass's buffers for a block of chains: the activations of every slot and their gradients (chain-major, as
    /// a batch: slot s of chain j follows chain j - 1's), the im2col matrix of one chain, and a spare gradient (for an
    /// operation adding into an input gradient that another operation also writes).
    struct pass_buffers {
        detail::aligned_vector<float> values, grads, columns, spare;
    };
    /// Scratch of one thread: the values pass, the tangent pass (same layout), the max-pool switches and the
    /// thread's block of the parameter gradient.
    struct scratch {
        pass_buffers value, tangent;
        std::vector<std::int32_t> argmax;
        detail::aligned_vector<float> grad;
        detail::dense_stack::workspace dense;  // the dense kernels' buffers for a block (empty on other paths)
    };
    struct workspace {
        index capacity = 0;
        index parameter_count = 0, activation_floats = 0;  // of the network that made it (checked at each call)
        std::vector<scratch> threads;
        /// The oneDNN primitives of a convolution stack (null on blocks of chains).
        std::unique_ptr<onednn::conv_stack_state, void (*)(onednn::conv_stack_state*)> stack{nullptr, nullptr};

        /// Labels of the oneDNN primitives served only by oneDNN's slow reference implementation (empty when every
        /// one found optimised kernels, and on blocks of chains).
        [[nodiscard]] std::vector<std::string> reference_kernels() const {
#if EBM_HAVE_ONEDNN
            if (stack) return onednn::conv_stack::reference_kernels(*stack);
#endif
            return {};
        }
#if EBM_HAVE_ONEDNN
        /// Number of batch sizes that have oneDNN primitives (1 after make_workspace; +1 per new smaller size used).
        [[nodiscard]] index cached_batch_sizes() const { return stack ? onednn::conv_stack::cached_batch_sizes(*stack) : 0; }
        /// Wall times per oneDNN primitive (switch on with `profiling().enabled = true`); requires the oneDNN path.
        [[nodiscard]] onednn::profile& profiling() {
            if (!stack) detail::fail("network::workspace::profiling", "this network runs on blocks of chains, not oneDNN", 0);
            return stack->prof;
        }
#endif
    };

    explicit network(const network_spec& spec, seed init_seed = seed{0},
                     network_execution execution = network_execution::automatic)
        : network(spec, init_seed, "network", execution) {}

protected:
    /// For presets with a class of their own (convnet, nonlocal_net): `name` starts their error messages.
    network(const network_spec& spec, seed init_seed, const std::string& name,
            network_execution execution = network_execution::automatic)
        : spec_(spec),
          layout_(compile_network(spec)),
          where_{name + "::make_workspace", name + "::energy", name + "::energy_and_gradient",
                 name + "::hessian_vector_product", name + "::accumulate_parameter_gradient"} {
        parameters_.assign(static_cast<std::size_t>(layout_.parameter_count), 0.0f);
        for (const network_shape& s : layout_.slots) largest_slot_ = std::max(largest_slot_, s.size());
        // Chains per block: as many as keep a block's activations near 64 KiB (at most 32), so that fully connected
        // layers run as matrix products over the block; convolutional nets, whose chains are large, take one.
        block_ = std::clamp<index>(16384 / std::max<index>(layout_.activation_floats, 1), 1, 32);
        if (execution == network_execution::automatic) {
            stack_ = conv_stack_of(layout_);
            dense_ = dense_stack_of(layout_);
        }
        // The dense kernels take blocks of 64 chains: for the toy MLP at 100 chains, 64 gave the fastest parameter
        // gradient (0.047 ms against 0.084 at 32 and 0.062 at 128 or more, one thread) and dU/dx (0.019 ms).
        if (dense_) block_ = 64;
        reset_parameters(init_seed);
    }

public:
    /// PyTorch's default initialisation of nn.Conv2d and nn.Linear from the given seed (the non-local blocks' output
    /// projections start at zero).
    void reset_parameters(seed init_seed) {
        const philox rng(init_seed);
        for (std::size_t t = 0; t < layout_.tensors.size(); ++t) {
            const parameter_tensor& tensor = layout_.tensors[t];
            const float bound = layout_.init_bound[t];
            float* values = parameters_.data() + tensor.offset;
            if (bound == 0.0f)  // the non-local blocks' output projections start at zero
                std::fill(values, values + tensor.count(), 0.0f);
            else
                fill_uniform(rng, purpose::parameter_init, static_cast<std::uint32_t>(t), 0, values, tensor.count(), -bound,
                             bound);
        }
        parameters_changed();
    }

    [[nodiscard]] const network_spec& spec() const { return spec_; }
    [[nodiscard]] const network_layout& layout() const { return layout_; }
    [[nodiscard]] index dimension() const { return layout_.dimension(); }
    /// The input's shape: channels x height x width (a flat input has height = width = 1).
    [[nodiscard]] index channels() const { return layout_.input.channels; }
    [[nodiscard]] index height() const { return layout_.input.height; }
    [[nodiscard]] index width() const { return layout_.input.width; }
    [[nodiscard]] bool negated() const { return layout_.negate; }
    /// True when every unit is ReLU or LeakyReLU (the Hessian is then zero wherever it exists).
    [[nodiscard]] bool piecewise_linear() const { return layout_.piecewise_linear; }
    [[nodiscard]] index parameter_count() const { return layout_.parameter_count; }
    /// Mutable access marks the parameters changed (a workspace re-reads them at its next evaluation).
    [[nodiscard]] std::span<float> parameters() {
        parameters_changed();
        return {parameters_.data(), parameters_.size()};
    }
    [[nodiscard]] std::span<const float> parameters() const { return {parameters_.data(), parameters_.size()}; }
    /// Names (PyTorch's state_dict names), shapes and offsets of the parameter tensors, in state_dict order.
    [[nodiscard]] const std::vector<parameter_tensor>& parameter_tensors() const { return layout_.tensors; }
    /// Chains evaluated together by one thread (fixed by the network, so results do not depend on the thread count).
    [[nodiscard]] index chains_per_block() const { return block_; }
    /// For code that wrote through a span kept from parameters() after an evaluation.
    void parameters_changed() { version_ = detail::parameter_version_counter().fetch_add(1) + 1; }
    /// How energies and gradients run: "oneDNN convolution stack", "dense stack" or "blocks of chains".
    [[nodiscard]] const char* execution() const {
        return stack_ ? "oneDNN convolution stack" : dense_ ? "dense stack" : "blocks of chains";
    }

    /// Multiply-adds x 2 of one forward pass per chain: the affine layers' and the attention's products (backward-data
    /// costs about the same).
    [[nodiscard]] double forward_flops_per_chain() const {
        double flops = 0;
        for (const network_op& op : layout_.ops) {
            if (op.kind == network_op_kind::conv2d || op.kind == network_op_kind::linear)
                flops += 2.0 * static_cast<double>(op.out.size()) * static_cast<double>(op.columns_rows());
            if (op.kind == network_op_kind::attention)  // theta^T phi and g A^T
                flops += 4.0 * static_cast<double>(layout_.slots[static_cast<std::size_t>(op.aux)].size()) *
                         static_cast<double>(op.in.channels);
        }
        return flops;
    }

    [[nodiscard]] workspace make_workspace(index max_chains) const {
        detail::require_positive(where_.make_workspace, "max_chains", max_chains);
        workspace ws;
        ws.capacity = max_chains;
        ws.parameter_count = layout_.parameter_count;
        ws.activation_floats = layout_.activation_floats;
        ws.threads.resize(static_cast<std::size_t>(detail::chain_threads()));
        const auto size = [](index n) { return static_cast<std::size_t>(std::max<index>(n, 1)); };
        for (scratch& s : ws.threads) {
            for (pass_buffers* p : {&s.value, &s.tangent}) {
                p->values.assign(size(block_ * layout_.activation_floats), 0.0f);
                p->grads.assign(size(block_ * layout_.activation_floats), 0.0f);
                p->columns.assign(size(layout_.column_floats), 0.0f);
                p->spare.assign(size(block_ * largest_slot_), 0.0f);
            }
            s.argmax.assign(size(block_ * layout_.argmax_count), 0);
            s.grad.assign(size(layout_.parameter_count), 0.0f);
            if (dense_) s.dense = dense_->make_workspace(block_);
        }
#if EBM_HAVE_ONEDNN
        if (stack_) {
            try {
                ws.stack = {stack_->make_state(max_chains).release(), [](onednn::conv_stack_state* st) { delete st; }};
            } catch (const dnnl::error& e) {
                onednn::rethrow(where_.make_workspace, e);
            }
        }
#endif
        return ws;
    }

    void energy(const_batch_view x, std::span<float> u, workspace& ws) const {
        check_call(where_.energy.c_str(), x, u, ws);
        if (run_stack(where_.energy, ws, x, u, nullptr, nullptr, nullptr)) return;
        if (dense_) {
            for_blocks(ws, x.count, [&](index first, index count, scratch& s) {
                dense_->energy(parameters_.data(), x.chain(first), count, sign(), &u[first], s.dense);
            });
            return;
        }
        for_blocks(ws, x.count, [&](index first, index count, scratch& s) { forward(x.chain(first), count, s, &u[first]); });
    }

    void energy_and_gradient(const_batch_view x, std::span<float> u, batch_view g, workspace& ws) const {
        const char* where = where_.energy_and_gradient.c_str();
        check_call(where, x, u, ws);
        if (g.dimension != dimension() || g.count != x.count || g.data == nullptr)
            detail::fail(where, "grad must have the shape of x (" + detail::to_text(x.count) + " chains of " +
                                    detail::to_text(dimension()) + ")",
                         g.count);
        if (run_stack(where_.energy_and_gradient, ws, x, u, nullptr, g.data, nullptr)) return;
        if (dense_) {
            for_blocks(ws, x.count, [&](index first, index count, scratch& s) {
                dense_->energy_and_gradient(parameters_.data(), x.chain(first), count, sign(), &u[first], g.chain(first),
                                            s.dense);
            });
            return;
        }
        for_blocks(ws, x.count, [&](index first, index count, scratch& s) {
            forward(x.chain(first), count, s, &u[first]);
            backward(x.chain(first), count, nullptr, s, g.chain(first), nullptr, nullptr, nullptr);
        });
    }

    /// hv_i = (d2U/dx2)(x_i) v_i, exact (see the header comment); zero for piecewise-linear networks.
    void hessian_vector_product(const_batch_view x, const_batch_view v, batch_view hv, workspace& ws) const {
        const char* where = where_.hessian_vector_product.c_str();
        detail::check_hessian_vector_call(where, dimension(), x, v, hv);
        check_capacity(where, x.count, ws);
        for_blocks(ws, x.count, [&](index first, index count, scratch& s) {
            forward(x.chain(first), count, s, nullptr);
            forward_tangent(x.chain(first), v.chain(first), count, s);
            backward(x.chain(first), count, nullptr, s, nullptr, nullptr, v.chain(first), hv.chain(first));
        });
    }

    void accumulate_parameter_gradient(const_batch_view x, std::span<const float> weights, std::span<float> grad,
                                       std::span<float> u, workspace& ws) const {
        const char* where = where_.accumulate_parameter_gradient.c_str();
        check_call(where, x, u, ws);
        if (static_cast<index>(weights.size()) != x.count)
            detail::fail(where, "weights must have one entry per chain (" + detail::to_text(x.count) + ")", weights.size());
        if (static_cast<index>(grad.size()) != parameter_count())
            detail::fail(where, "grad must have parameter_count() = " + detail::to_text(parameter_count()) + " entries",
                         grad.size());
        if (run_stack(where_.accumulate_parameter_gradient, ws, x, u, weights.data(), nullptr, grad.data())) return;
        if (dense_) {
            detail::accumulate_chain_blocks(ws.threads, x.count, block_, grad, [&](index begin, index end, scratch& s, float* g) {
                const auto at = static_cast<std::size_t>(begin);
                dense_->accumulate_parameter_gradient(parameters_.data(), x.chain(begin), end - begin, sign(),
                                                      &weights[at], g, &u[at], s.dense);
            });
            return;
        }
        detail::accumulate_chain_blocks(ws.threads, x.count, block_, grad, [&](index begin, index end, scratch& s, float* g) {
            forward(x.chain(begin), end - begin, s, &u[static_cast<std::size_t>(begin)]);
            backward(x.chain(begin), end - begin, &weights[static_cast<std::size_t>(begin)], s, nullptr, g, nullptr,
                     nullptr);
        });
    }

private:
    // The oneDNN path (when this network has one and the workspace its primitives): energies, and dU/dx into gx or
    // the weighted parameter gradient into grad; false when the network runs on blocks of chains.
    bool run_stack(const std::string& where, workspace& ws, const_batch_view x, std::span<float> u,
                   const float* chain_weights, float* gx, float* grad) const {
#if EBM_HAVE_ONEDNN
        if (!stack_ || !ws.stack) return false;
        try {
            stack_->run(*ws.stack, parameters_.data(), version_, x.data, x.count, sign(), u.data(), chain_weights, gx,
                        grad);
        } catch (const dnnl::error& e) {
            onednn::rethrow(where, e);
        }
        return true;
#else
        (void)where, (void)ws, (void)x, (void)u, (void)chain_weights, (void)gx, (void)grad;
        return false;
#endif
    }

    // The oneDNN form of a chain of convolutions, each but the last followed by one activation oneDNN has (all but
    // Softplus), whose last covers its whole input
    // with one output channel and a bias; null for any other network (or without oneDNN).
    static std::shared_ptr<const onednn::conv_stack> conv_stack_of(const network_layout& l) {
#if EBM_HAVE_ONEDNN
        if (l.input.flat || l.ops.size() % 2 == 0) return nullptr;
        std::vector<onednn::conv_stack_layer> layers;
        index slot = 0;
        for (std::size_t i = 0; i < l.ops.size(); i += 2) {
            const network_op& conv = l.ops[i];
            if (conv.kind != network_op_kind::conv2d || conv.input != slot || conv.bias < 0) return nullptr;
            slot = conv.output;
            kernels::activation_function f{kernels::activation_kind::relu};
            if (i + 1 < l.ops.size()) {
                const network_op& unit = l.ops[i + 1];
                if (unit.kind != network_op_kind::activation || unit.input != slot ||
                    !onednn::conv_stack_unit::of(unit.function))
                    return nullptr;
                f = unit.function;
                slot = unit.output;
            }
            layers.push_back({conv.in.channels, conv.in.height, conv.in.width, conv.out.channels, conv.kernel,
                              conv.stride, conv.padding, f, conv.weight, conv.bias});
        }
        const network_op& last = l.ops.back();
        if (last.out.size() != 1 || last.padding != 0 || last.kernel != last.in.height || last.kernel != last.in.width ||
            l.slot_storage[static_cast<std::size_t>(l.output_slot)] != last.output)
            return nullptr;
        return std::make_shared<const onednn::conv_stack>(std::move(layers));
#else
        (void)l;
        return nullptr;
#endif
    }

    [[nodiscard]] float sign() const { return layout_.negate ? -1.0f : 1.0f; }

    // The dense form of a chain of fully connected layers (with bias) with one ReLU/LeakyReLU after each but the last,
    // at least one hidden layer, ending in one value; null for any other network.
    static std::shared_ptr<const detail::dense_stack> dense_stack_of(const network_layout& l) {
        if (l.ops.size() < 3 || l.ops.size() % 2 == 0) return nullptr;
        const auto storage = [&](index slot) { return l.slot_storage[static_cast<std::size_t>(slot)]; };
        std::vector<index> sizes = {l.input.size()}, weights, biases;
        std::vector<float> slopes;
        index slot = 0;
        for (std::size_t i = 0; i < l.ops.size(); i += 2) {
            const network_op& affine = l.ops[i];
            if (affine.kind != network_op_kind::linear || storage(affine.input) != storage(slot) || affine.bias < 0)
                return nullptr;
            sizes.push_back(affine.out.size());
            weights.push_back(affine.weight);
            biases.push_back(affine.bias);
            slot = affine.output;
            if (i + 1 < l.ops.size()) {
                const network_op& unit = l.ops[i + 1];
                const kernels::activation_function& f = unit.function;
                if (unit.kind != network_op_kind::activation || unit.input != slot) return nullptr;
                if (f.kind == kernels::activation_kind::leaky_relu && f.alpha >= 0.0f && std::isfinite(f.alpha))
                    slopes.push_back(f.alpha);
                else if (f.kind == kernels::activation_kind::relu)
                    slopes.push_back(0.0f);
                else
                    return nullptr;
                slot = unit.output;
            }
        }
        if (sizes.back() != 1 || storage(l.output_slot) != l.ops.back().output) return nullptr;
        return std::make_shared<const detail::dense_stack>(std::move(sizes), std::move(slopes), std::move(weights),
                                                           std::move(biases), l.parameter_count);
    }

    void check_capacity(const char* where, index n, const workspace& ws) const {
        if (ws.threads.empty()) detail::fail(where, "the workspace is empty (make it with make_workspace)", 0);
        if (ws.parameter_count != layout_.parameter_count || ws.activation_floats != layout_.activation_floats)
            detail::fail(where, "the workspace was made by a network of another shape; its parameter count",
                         ws.parameter_count);
        if (n > ws.capacity)
            detail::fail(where, "x holds more chains than the workspace capacity " + detail::to_text(ws.capacity), n);
    }
    void check_call(const char* where, const_batch_view x, std::span<float> u, const workspace& ws) const {
        if (x.dimension != dimension())
            detail::fail(where,
                         "x dimension must equal the network's input " + network_shape_text(layout_.input) + " = " +
                             detail::to_text(dimension()),
                         x.dimension);
        if (x.count <= 0 || x.data == nullptr) detail::fail(where, "x must hold at least one chain", x.count);
        check_capacity(where, x.count, ws);
        if (static_cast<index>(u.size()) < x.count)
            detail::fail(where, "u must have one entry per chain (" + detail::to_text(x.count) + ")", u.size());
    }

    // f(first chain, chains, scratch) for the blocks of block_ chains at fixed boundaries, spread over the threads.
    template <class F>
    void for_blocks(workspace& ws, index n, F&& f) const {
        const index blocks = (n + block_ - 1) / block_;
        detail::for_chains(ws.threads, blocks, [&](index b, scratch& s) {
            const index first = b * block_;
            f(first, std::min(block_, n - first), s);
        });
    }

    // A pass over a block of chains: where each slot's values and gradients live (chain-major, chain j of slot s at
    // j * size(s) from the slot's start). Slot 0 (and a Flatten of it) is the chains' input (x, or v for tangents) and
    // its gradient the caller's (dU/dx, hv, or none).
    struct pass {
        const float* input;
        float* input_grad;
        pass_buffers* buffers;
        index block;
        [[nodiscard]] bool is_input(const network_layout& l, index slot) const {
            return l.slot_storage[static_cast<std::size_t>(slot)] == 0;
        }
        [[nodiscard]] index start(const network_layout& l, index slot) const {
            return block * l.slot_offset[static_cast<std::size_t>(slot)];
        }
        [[nodiscard]] const float* value(const network_layout& l, index slot) const {
            return is_input(l, slot) ? input : buffers->values.data() + start(l, slot);
        }
        [[nodiscard]] float* mutable_value(const network_layout& l, index slot) const {
            return buffers->values.data() + start(l, slot);
        }
        [[nodiscard]] float* grad(const network_layout& l, index slot) const {
            return is_input(l, slot) ? input_grad : buffers->grads.data() + start(l, slot);
        }
    };

    [[nodiscard]] const float* param(index offset) const { return parameters_.data() + offset; }


    // The input of one chain's convolution as the GEMM's right factor: the im2col matrix (rows x plane), or the
    // input itself.
    const float* columns_of(const network_op& op, const float* in, float* columns) const {
        if (!op.needs_columns()) return in;
        const kernels::im2col fill{columns, in, kernels::nchw_layout(op.in.channels, op.in.plane()), op.convolution()};
        const index n = op.in.channels * op.out.plane();
        for (index k = 0; k < n; ++k) fill(k);
        return columns;
    }

    // out = op(in) for `count` chains (values), or its derivative along in's tangent (with_bias false: affine layers
    // without the bias). Max-pooling is forward()'s and forward_tangent()'s.
    void forward_op(const network_op& op, const pass& p, index count, bool with_bias) const {
        const float* in = p.value(layout_, op.input);
        float* out = p.mutable_value(layout_, op.output);
        const index n_in = op.in.size(), n_out = op.out.size();
        switch (op.kind) {
            case network_op_kind::conv2d:
                for (index j = 0; j < count; ++j) {
                    const index rows = op.columns_rows(), plane = op.out.plane();
                    map o(out + j * n_out, op.out.channels, plane);
                    o.noalias() = cmap(param(op.weight), op.out.channels, rows) *
                                  cmap(columns_of(op, in + j * n_in, p.buffers->columns.data()), rows, plane);
                    if (with_bias && op.bias >= 0) o.colwise() += cvmap(param(op.bias), op.out.channels);
                }
                break;
            case network_op_kind::linear: {  // chains as rows: out (count x O) = in (count x F) W^T
                map o(out, count, n_out);
                o.noalias() = cmap(in, count, n_in) * cmap(param(op.weight), n_out, n_in).transpose();
                if (with_bias && op.bias >= 0) o.rowwise() += crvmap(param(op.bias), n_out);
                break;
            }
            case network_op_kind::activation: {
                kernels::for_each_unit(kernels::activation_forward{out, in, op.function}, count * n_out);
                break;
            }
            case network_op_kind::avg_pool: {
                const kernels::average_pool pool{out, in, op.pool()};
                for (index k = 0; k < count * n_out; ++k) pool(k);
                break;
            }
            case network_op_kind::max_pool: break;
            case network_op_kind::add: {
                const float* b = p.value(layout_, op.input2);
                for (index k = 0; k < count * n_out; ++k) out[k] = in[k] + b[k];
                break;
            }
            case network_op_kind::attention: attention_forward(op, p, count); break;
        }
    }

    // The forward pass of `count` chains from x; u (when given) gets their energies.
    void forward(const float* x, index count, scratch& s, float* u) const {
        const pass p{x, nullptr, &s.value, block_};
        for (const network_op& op : layout_.ops) {
            if (op.kind == network_op_kind::max_pool) {
                const kernels::max_pool pool{p.mutable_value(layout_, op.output), switches(op, s),
                                             p.value(layout_, op.input), op.pool()};
                for (index k = 0; k < count * op.out.size(); ++k) pool(k);
            } else {
                forward_op(op, p, count, true);
            }
        }
        if (u == nullptr) return;
        const float* out = p.value(layout_, layout_.output_slot);
        for (index j = 0; j < count; ++j) u[j] = layout_.negate ? -out[j] : out[j];
    }

    // The max-pool switches of a block's chains (chain j's at j * output size).
    std::int32_t* switches(const network_op& op, scratch& s) const { return s.argmax.data() + block_ * op.argmax; }

    // The tangents of every slot along v, after forward() on the same chains x.
    void forward_tangent(const float* x, const float* v, index count, scratch& s) const {
        const pass values{x, nullptr, &s.value, block_};  // x: a unit may read the chains' input itself
        const pass t{v, nullptr, &s.tangent, block_};
        for (const network_op& op : layout_.ops) {
            if (op.kind == network_op_kind::activation) {
                kernels::for_each_unit(kernels::activation_tangent{t.mutable_value(layout_, op.output),
                                                                   t.value(layout_, op.input),
                                                                   values.value(layout_, op.input), op.function},
                                       count * op.out.size());
            } else if (op.kind == network_op_kind::max_pool) {
                const kernels::gather_switches gather{t.mutable_value(layout_, op.output), t.value(layout_, op.input),
                                                      switches(op, s), op.pool()};
                for (index k = 0; k < count * op.out.size(); ++k) gather(k);
            } else if (op.kind == network_op_kind::attention) {
                attention_tangent(op, values, t, count);
            } else {
                forward_op(op, t, count, false);
            }
        }
    }

    // After forward() (and forward_tangent() when v is given): the backward pass of `count` chains from
    // dU/d(output) = sign * weight (weights: nullptr for 1). gx: dU/dx (nullptr: not wanted); grad: += the weighted
    // dU/dtheta (nullptr: not wanted); v and hv: the tangent of the backward pass beside it, whose value at the
    // input is hv.
    void backward(const float* x, index count, const float* weights, scratch& s, float* gx, float* grad, const float* v,
                  float* hv) const {
        const pass values{x, gx, &s.value, block_};
        const pass tangents{v, hv, &s.tangent, block_};
        const bool tangent = hv != nullptr;
        float* top = values.grad(layout_, layout_.output_slot);
        const float sign = layout_.negate ? -1.0f : 1.0f;
        for (index j = 0; j < count; ++j) top[j] = weights != nullptr ? sign * weights[j] : sign;
        if (tangent) std::fill(tangents.grad(layout_, layout_.output_slot), tangents.grad(layout_, layout_.output_slot) + count, 0.0f);
        for (auto it = layout_.ops.rbegin(); it != layout_.ops.rend(); ++it) {
            const network_op& op = *it;
            if (grad != nullptr && (op.kind == network_op_kind::conv2d || op.kind == network_op_kind::linear))
                parameter_gradient(op, values, count, grad);
            backward_op(op, values, values, s, count, false);
            if (tangent) backward_op(op, tangents, values, s, count, true);
        }
    }

    // dU/d(input) of one operation from dU/d(output) for `count` chains, in pass p; `values` holds the forward values
    // (the activations' inputs); `tangent` adds the activations' second-derivative term (p then holds the tangents).
    // An input whose gradient nobody wants (the chains' input without dU/dx) is skipped.
    void backward_op(const network_op& op, const pass& p, const pass& values, scratch& s, index count,
                     bool tangent) const {
        const float* g_out = p.grad(layout_, op.output);
        float* g_in = p.grad(layout_, op.input);
        const index n_in = op.in.size(), n_out = op.out.size();
        if (g_in == nullptr && op.kind != network_op_kind::add) return;
        if (op.kind == network_op_kind::attention) {
            if (tangent)
                attention_backward_tangent(op, values, p, count);
            else
                attention_backward(op, p, count);
            return;
        }
        // Where the new gradient goes: g_in itself, or the spare buffer when it is added to what another operation
        // wrote there (then added below).
        float* target = op.accumulate_input ? p.buffers->spare.data() : g_in;
        switch (op.kind) {
            case network_op_kind::conv2d: {
                const index rows = op.columns_rows(), plane = op.out.plane();
                for (index j = 0; j < count; ++j) {
                    const auto product = cmap(param(op.weight), op.out.channels, rows).transpose() *
                                         cmap(g_out + j * n_out, op.out.channels, plane);
                    if (!op.needs_columns()) {
                        map(target + j * n_in, rows, plane).noalias() = product;
                        continue;
                    }
                    float* columns = p.buffers->columns.data();
                    map(columns, rows, plane).noalias() = product;
                    const kernels::col2im gather{target + j * n_in, kernels::nchw_layout(op.in.channels, op.in.plane()),
                                                 columns, nullptr, 0.0f, op.convolution()};
                    for (index k = 0; k < n_in; ++k) gather(k);
                }
                break;
            }
            case network_op_kind::linear:  // g_in (count x F) = g_out (count x O) W
                map(target, count, n_in).noalias() = cmap(g_out, count, n_out) * cmap(param(op.weight), n_out, n_in);
                break;
            case network_op_kind::activation: {
                const float* z = values.value(layout_, op.input);
                if (!tangent)
                    kernels::for_each_unit(kernels::activation_backward{target, g_out, z, op.function}, count * n_in);
                else
                    kernels::for_each_unit(kernels::activation_backward_tangent{target, g_out,
                                                                                values.grad(layout_, op.output),
                                                                                p.value(layout_, op.input), z, op.function},
                                           count * n_in);
                break;
            }
            case network_op_kind::avg_pool: {
                const kernels::average_pool_backward gather{target, g_out, op.pool()};
                for (index k = 0; k < count * n_in; ++k) gather(k);
                break;
            }
            case network_op_kind::max_pool: {
                const kernels::max_pool_backward gather{target, g_out, switches(op, s), op.pool()};
                for (index k = 0; k < count * n_in; ++k) gather(k);
                break;
            }
            case network_op_kind::attention: return;  // above
            case network_op_kind::add: {
                const index n = count * n_out;
                if (g_in != nullptr) pass_through(g_out, g_in, n, op.accumulate_input);
                if (float* g_in2 = p.grad(layout_, op.input2); g_in2 != nullptr)
                    pass_through(g_out, g_in2, n, op.accumulate_input2);
                return;
            }
        }
        if (op.accumulate_input)
            for (index k = 0; k < count * n_in; ++k) g_in[k] += target[k];
    }

    static void pass_through(const float* from, float* to, index n, bool accumulate) {
        if (accumulate)
            for (index k = 0; k < n; ++k) to[k] += from[k];
        else
            std::copy(from, from + n, to);
    }

    // grad += dU/dW and dU/db of one affine operation over `count` chains (g_out already carries the chains' weights).
    void parameter_gradient(const network_op& op, const pass& values, index count, float* grad) const {
        const float* g_out = values.grad(layout_, op.output);
        const float* in = values.value(layout_, op.input);
        const index n_in = op.in.size(), n_out = op.out.size();
        if (op.kind == network_op_kind::linear) {  // dW (O x F) += g_out^T in, db += column sums of g_out
            const cmap g(g_out, count, n_out);
            map(grad + op.weight, n_out, n_in).noalias() += g.transpose() * cmap(in, count, n_in);
            if (op.bias >= 0) rvmap(grad + op.bias, n_out) += g.colwise().sum();
            return;
        }
        const index rows = op.columns_rows(), plane = op.out.plane();
        for (index j = 0; j < count; ++j) {  // dW += g_out columns^T, db += row sums of g_out, chain by chain
            const cmap g(g_out + j * n_out, op.out.channels, plane);
            const float* columns = columns_of(op, in + j * n_in, values.buffers->columns.data());
            map(grad + op.weight, op.out.channels, rows).noalias() += g * cmap(columns, rows, plane).transpose();
            if (op.bias >= 0) vmap(grad + op.bias, op.out.channels) += g.rowwise().sum();
        }
    }

    // ---- the non-local block's attention, chain by chain: theta (c' x n), phi and g (c' x m), A (n x m), y (c' x n) ----
    struct attention_shape {
        index inner, n, m;
    };
    attention_shape shape_of(const network_op& op) const {
        const network_shape& a = layout_.slots[static_cast<std::size_t>(op.aux)];
        return {op.in.channels, a.height, a.width};
    }
    // target = value, or += value when the slot's gradient already holds another operation's part.
    template <class Target, class Value>
    static void assign(Target&& target, const Value& value, bool accumulate) {
        if (accumulate)
            target.noalias() += value;
        else
            target.noalias() = value;
    }

    // A = softmax_rows(theta^T phi), y = g A^T.
    void attention_forward(const network_op& op, const pass& p, index count) const {
        const auto [ci, n, m] = shape_of(op);
        for (index j = 0; j < count; ++j) {
            map a(p.mutable_value(layout_, op.aux) + j * n * m, n, m);
            a.noalias() = cmap(p.value(layout_, op.input) + j * ci * n, ci, n).transpose() *
                          cmap(p.value(layout_, op.input2) + j * ci * m, ci, m);
            const kernels::softmax_rows softmax{a.data(), m};
            for (index r = 0; r < n; ++r) softmax(r);
            map(p.mutable_value(layout_, op.output) + j * ci * n, ci, n).noalias() =
                cmap(p.value(layout_, op.input3) + j * ci * m, ci, m) * a.transpose();
        }
    }

    // Suffix _t: tangent. S = theta^T phi: S_t = theta_t^T phi + theta^T phi_t; A_t = A .* (S_t - rowsum(A .* S_t));
    // y_t = g_t A^T + g A_t^T.
    void attention_tangent(const network_op& op, const pass& v, const pass& t, index count) const {
        const auto [ci, n, m] = shape_of(op);
        for (index j = 0; j < count; ++j) {
            const cmap a(v.value(layout_, op.aux) + j * n * m, n, m);
            map a_t(t.mutable_value(layout_, op.aux) + j * n * m, n, m);
            a_t.noalias() = cmap(t.value(layout_, op.input) + j * ci * n, ci, n).transpose() *
                            cmap(v.value(layout_, op.input2) + j * ci * m, ci, m);
            a_t.noalias() += cmap(v.value(layout_, op.input) + j * ci * n, ci, n).transpose() *
                             cmap(t.value(layout_, op.input2) + j * ci * m, ci, m);
            const kernels::softmax_rows_backward jacobian{a_t.data(), a.data(), m};  // A_t = J(A) S_t
            for (index r = 0; r < n; ++r) jacobian(r);
            map y_t(t.mutable_value(layout_, op.output) + j * ci * n, ci, n);
            y_t.noalias() = cmap(t.value(layout_, op.input3) + j * ci * m, ci, m) * a.transpose();
            y_t.noalias() += cmap(v.value(layout_, op.input3) + j * ci * m, ci, m) * a_t.transpose();
        }
    }

    // From dy: dg = dy A; dS = A .* (dA - rowsum(dA .* A)) with dA = dy^T g (kept in the gradient of the A slot);
    // dtheta = phi dS^T, dphi = theta dS.
    void attention_backward(const network_op& op, const pass& p, index count) const {
        const auto [ci, n, m] = shape_of(op);
        for (index j = 0; j < count; ++j) {
            const cmap dy(p.grad(layout_, op.output) + j * ci * n, ci, n);
            const cmap a(p.value(layout_, op.aux) + j * n * m, n, m);
            assign(map(p.grad(layout_, op.input3) + j * ci * m, ci, m), dy * a, op.accumulate_input3);
            map ds(p.grad(layout_, op.aux) + j * n * m, n, m);
            ds.noalias() = dy.transpose() * cmap(p.value(layout_, op.input3) + j * ci * m, ci, m);
            const kernels::softmax_rows_backward jacobian{ds.data(), a.data(), m};
            for (index r = 0; r < n; ++r) jacobian(r);
            assign(map(p.grad(layout_, op.input) + j * ci * n, ci, n),
                   cmap(p.value(layout_, op.input2) + j * ci * m, ci, m) * ds.transpose(), op.accumulate_input);
            assign(map(p.grad(layout_, op.input2) + j * ci * m, ci, m),
                   cmap(p.value(layout_, op.input) + j * ci * n, ci, n) * ds, op.accumulate_input2);
        }
    }

    // The tangent of attention_backward (after it ran on the values): dg_t = dy_t A + dy A_t; with dA = dy^T g and
    // c = rowsum(dA .* A), dS_t = A_t .* (dA - c) + A .* (dA_t - c_t), dA_t = dy_t^T g + dy^T g_t,
    // c_t = rowsum(dA_t .* A + dA .* A_t); dtheta_t = phi_t dS^T + phi dS_t^T, dphi_t = theta_t dS + theta dS_t.
    void attention_backward_tangent(const network_op& op, const pass& v, const pass& t, index count) const {
        const auto [ci, n, m] = shape_of(op);
        for (index j = 0; j < count; ++j) {
            const cmap dy(v.grad(layout_, op.output) + j * ci * n, ci, n), dy_t(t.grad(layout_, op.output) + j * ci * n, ci, n);
            const cmap a(v.value(layout_, op.aux) + j * n * m, n, m), a_t(t.value(layout_, op.aux) + j * n * m, n, m);
            const cmap g(v.value(layout_, op.input3) + j * ci * m, ci, m), g_t(t.value(layout_, op.input3) + j * ci * m, ci, m);
            map dg_t(t.grad(layout_, op.input3) + j * ci * m, ci, m);
            assign(dg_t, dy_t * a, op.accumulate_input3);
            dg_t.noalias() += dy * a_t;
            map d_att(t.buffers->spare.data(), n, m);
            d_att.noalias() = dy.transpose() * g;
            map ds_t(t.grad(layout_, op.aux) + j * n * m, n, m);
            ds_t.noalias() = dy_t.transpose() * g;
            ds_t.noalias() += dy.transpose() * g_t;
            const kernels::softmax_rows_backward_tangent jacobian_t{ds_t.data(), d_att.data(), a.data(), a_t.data(), m};
            for (index r = 0; r < n; ++r) jacobian_t(r);
            const cmap ds(v.grad(layout_, op.aux) + j * n * m, n, m);
            map dtheta_t(t.grad(layout_, op.input) + j * ci * n, ci, n);
            const cmap phi(v.value(layout_, op.input2) + j * ci * m, ci, m), phi_t(t.value(layout_, op.input2) + j * ci * m, ci, m);
            assign(dtheta_t, phi_t * ds.transpose(), op.accumulate_input);
            dtheta_t.noalias() += phi * ds_t.transpose();
            map dphi_t(t.grad(layout_, op.input2) + j * ci * m, ci, m);
            const cmap theta(v.value(layout_, op.input) + j * ci * n, ci, n), theta_t(t.value(layout_, op.input) + j * ci * n, ci, n);
            assign(dphi_t, theta_t * ds, op.accumulate_input2);
            dphi_t.noalias() += theta * ds_t;
        }
    }


    network_spec spec_;
    network_layout layout_;
    struct call_names {  // the error messages' "where", made once
        std::string make_workspace, energy, energy_and_gradient, hessian_vector_product, accumulate_parameter_gradient;
    } where_;
    index largest_slot_ = 1;
    index block_ = 1;
    detail::aligned_vector<float> parameters_;
    std::uint64_t version_ = 0;
    std::shared_ptr<const onednn::conv_stack> stack_;  // the oneDNN path, or null
    std::shared_ptr<const detail::dense_stack> dense_;  // the dense path, or null
};

}  // namespace ebm
