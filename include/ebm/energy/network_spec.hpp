#pragma once
// The description of a network energy composed from layers (energy/network.hpp evaluates it), in C++: the layers EBM
// papers use, with PyTorch's names and arguments, nested in Sequential as an nn.Sequential is. The same description
// reads from JSON (energy/network_json.hpp).
//
//   ebm::network_spec spec{.input = {3, 32, 32}, .layers = {
//       ebm::layers::conv2d{.in_channels = 3, .out_channels = 64, .kernel_size = 3, .padding = 1},
//       ebm::layers::silu(),
//       ebm::layers::avg_pool2d{.kernel_size = 2},
//       ebm::layers::flatten{},
//       ebm::layers::linear{.in_features = 16384, .out_features = 1}}};
//
// The energy is the network's output, U(x) = net(x) (one value per chain), or -net(x) with `negate` (weights trained
// with the short-run code's convention f = -U).
//
// Parameter names are those PyTorch gives the same module's state_dict: a layer's index in its Sequential ("0.weight",
// "3.1.bias" inside a nested Sequential), or its `name` where one is given (as nn.Sequential(OrderedDict(...)) names
// its modules), then the layer's own tensors ("weight", "bias"; a residual block's "conv1.weight", "conv2.weight",
// "skip.weight"). The residual block is the module
//
//   class ResidualBlock(nn.Module):            # IGEBM/JEM style, pre-activation, no normalisation
//       def __init__(self, in_channels, out_channels, kernel_size=3, activation=nn.LeakyReLU(0.2), downsample=False):
//           self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size, 1, kernel_size // 2)
//           self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size, 1, kernel_size // 2)
//           self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
//       def forward(self, x):
//           h = self.conv2(act(self.conv1(act(x))))
//           y = h + (self.skip(x) if self.skip is not None else x)
//           return F.avg_pool2d(y, 2) if self.downsample else y
//
// compile_network() checks every layer against the shape that reaches it and lays the network out for evaluation:
// the shapes, the named parameter tensors and a list of primitive operations over per-chain buffers (what the
// backends execute). A wrong field, a shape mismatch or an impossible size is an ebm::error naming the layer's path
// ("layers[2]", "layers[3].layers[1]"), its type, the field and the value.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "../kernels/activation.hpp"
#include "../kernels/convolution.hpp"
#include "../kernels/pooling.hpp"
#include "parameter_tensor.hpp"

namespace ebm {

namespace layers {

struct layer;

/// nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias): square kernels, zero padding.
struct conv2d {
    index in_channels = 0, out_channels = 0, kernel_size = 0, stride = 1, padding = 0;
    bool bias = true;
};
/// nn.Linear(in_features, out_features, bias) on a flat input (after Flatten, or a flat network input).
struct linear {
    index in_features = 0, out_features = 0;
    bool bias = true;
};
/// An element-wise activation (kernels/activation.hpp): ReLU, LeakyReLU, ELU, SiLU, GELU, Tanh, Sigmoid, Softplus.
struct activation {
    kernels::activation_function function;
};
/// nn.AvgPool2d(kernel_size, stride) / nn.MaxPool2d(kernel_size, stride); stride 0 means stride = kernel_size (as
/// PyTorch's default None). No padding; a window that does not fit is dropped (PyTorch's floor mode).
struct avg_pool2d {
    index kernel_size = 0, stride = 0;
};
struct max_pool2d {
    index kernel_size = 0, stride = 0;
};
/// nn.Flatten(): (C, H, W) -> C*H*W features, in that order (the NCHW layout of a chain, so nothing moves).
struct flatten {};
/// The residual block above (see the header comment).
struct residual_block {
    index in_channels = 0, out_channels = 0, kernel_size = 3;
    kernels::activation_function activation{kernels::activation_kind::leaky_relu, 0.2f};
    bool downsample = false;
};
/// The Anatomy code's non-local block (embedded Gaussian, Wang et al. 2018) on `channels` channels, inner width
/// c' = max(1, channels / 2): theta = W_t x, phi = maxpool2(W_p x), g = maxpool2(W_g x) (1x1 convolutions with
/// bias), A = softmax_rows(theta^T phi), y = g A^T, out = W_o y + x. Its tensors are "g.0", "W", "theta", "phi.0"
/// (weight and bias each, in that order); W_o and its bias start at zero, so the block starts as the identity.
struct nonlocal_block {
    index channels = 0;
};
/// nn.Sequential of the given layers.
struct sequential {
    std::vector<layer> layers;
};

/// One layer of a network; `name` replaces its index in the parameter names when not empty.
struct layer {
    std::variant<conv2d, linear, activation, avg_pool2d, max_pool2d, flatten, residual_block, nonlocal_block, sequential>
        node;
    std::string name;

    template <class Layer>
        requires(!std::is_same_v<std::remove_cvref_t<Layer>, layer>)
    layer(Layer&& l, std::string module_name = {})  // NOLINT(google-explicit-constructor): layers list as in PyTorch
        : node(std::forward<Layer>(l)), name(std::move(module_name)) {}
};

// The activations by their PyTorch names and defaults.
inline activation relu() { return {{kernels::activation_kind::relu}}; }
inline activation leaky_relu(float negative_slope = 0.01f) { return {{kernels::activation_kind::leaky_relu, negative_slope}}; }
inline activation elu(float alpha = 1.0f) { return {{kernels::activation_kind::elu, alpha}}; }
inline activation silu() { return {{kernels::activation_kind::silu}}; }
inline activation gelu() { return {{kernels::activation_kind::gelu}}; }
inline activation tanh() { return {{kernels::activation_kind::tanh}}; }
inline activation sigmoid() { return {{kernels::activation_kind::sigmoid}}; }
inline activation softplus(float beta = 1.0f, float threshold = 20.0f) {
    return {{kernels::activation_kind::softplus, 0.0f, beta, threshold}};
}

}  // namespace layers

/// A network energy: the shape of one chain ({C, H, W} for images, {D} for flat inputs), the layers, and the sign.
struct network_spec {
    std::vector<index> input;
    std::vector<layers::layer> layers;
    bool negate = false;
};

/// The primitive operations a network compiles to. Each reads one to three per-chain buffers ("slots") and writes one.
/// attention is the non-local block's y = g softmax_rows(theta^T phi)^T, from (theta, phi, g).
enum class network_op_kind { conv2d, linear, activation, avg_pool, max_pool, add, attention };

/// The shape of a slot: channels x height x width; a flat slot has height = width = 1 and `flat` set.
struct network_shape {
    index channels = 0, height = 1, width = 1;
    bool flat = false;
    [[nodiscard]] index size() const { return channels * height * width; }
    [[nodiscard]] index plane() const { return height * width; }
};

struct network_op {
    network_op_kind kind = network_op_kind::add;
    index input = 0, input2 = -1, input3 = -1, output = 0;  // slots (input2: add's second term; attention: phi, g)
    index aux = -1;  // attention: the slot of its softmax matrix A (n x m per chain; its gradient slot holds dS)
    network_shape in, out;
    index kernel = 1, stride = 1, padding = 0;
    index weight = -1, bias = -1;  // offsets in the flat parameter vector (-1: none)
    kernels::activation_function function;
    index argmax = -1;             // max_pool: offset of its switches in the per-chain integer scratch
    // In the backward pass an operation writes its input's gradient when it is the first to reach that slot (the
    // last reader in forward order) and adds to it otherwise.
    bool accumulate_input = false, accumulate_input2 = false, accumulate_input3 = false;
    [[nodiscard]] index columns_rows() const { return in.channels * kernel * kernel; }
    /// conv2d: whether it needs an im2col matrix (all but a 1x1, stride-1, unpadded convolution read their input).
    [[nodiscard]] bool needs_columns() const { return kernel != 1 || stride != 1 || padding != 0; }
    /// conv2d: its geometry for the chains [first, first + count) of a batch (kernels/convolution.hpp).
    [[nodiscard]] kernels::convolution_geometry convolution(index first = 0, index count = 1) const {
        const auto u = [](index v) { return static_cast<unsigned>(v); };
        return {u(in.channels), u(in.height), u(in.width), u(out.height), u(out.width),
                u(kernel),      u(stride),    u(padding),  u(first),      u(count)};
    }
    /// avg_pool / max_pool: its windows (kernels/pooling.hpp).
    [[nodiscard]] kernels::pool_geometry pool() const {
        return {in.channels, in.height, in.width, out.height, out.width, kernel, stride};
    }
};

/// The compiled form of a network_spec: what a backend needs to evaluate it.
struct network_layout {
    network_shape input;
    std::vector<network_shape> slots;  // slot 0 is the chain's input
    std::vector<index> slot_offset;    // per-chain float offset of each slot in a chain's activation buffer (slot 0: -)
    std::vector<index> slot_storage;   // the slot whose buffers a slot uses: itself, or a Flatten's source (0: input)
    index activation_floats = 0;       // per chain, all slots but the input
    index column_floats = 0;           // per chain, the largest im2col matrix
    index argmax_count = 0;            // per chain, the max-pool switches
    std::vector<network_op> ops;
    std::vector<parameter_tensor> tensors;  // state_dict order
    std::vector<float> init_bound;          // per tensor: starts as U(-b, b) (PyTorch's default: b = 1/sqrt(fan_in))
    index parameter_count = 0;
    index output_slot = 0;
    bool negate = false;
    bool piecewise_linear = true;  // only ReLU/LeakyReLU units, max/avg pooling and affine layers
    [[nodiscard]] index dimension() const { return input.size(); }
};

/// "[C, H, W]", or "[D]" for a flat shape.
inline std::string network_shape_text(const network_shape& s) {
    return s.flat ? "[" + detail::to_text(s.channels) + "]"
                  : "[" + detail::to_text(s.channels) + ", " + detail::to_text(s.height) + ", " +
                        detail::to_text(s.width) + "]";
}

namespace detail {

class network_compiler {
public:
    explicit network_compiler(const network_spec& spec) {
        const char* where = "network";
        if (spec.input.size() != 1 && spec.input.size() != 3)
            fail(where, "input must be [C, H, W] or [D]", to_text(spec.input.size()) + " numbers");
        for (index s : spec.input) require_positive(where, "every input size", s);
        network_shape in = spec.input.size() == 3 ? network_shape{spec.input[0], spec.input[1], spec.input[2], false}
                                                   : network_shape{spec.input[0], 1, 1, true};
        if (spec.layers.empty()) fail(where, "layers must not be empty", 0);
        out_.input = in;
        out_.negate = spec.negate;
        out_.slots.push_back(in);
        out_.slot_offset.push_back(-1);
        out_.slot_storage.push_back(0);
        const index last = sequence(spec.layers, "", "layers", 0);
        if (out_.ops.empty()) fail(where, "the network computes nothing (its layers are only Flatten)", spec.layers.size());
        const network_shape& final_shape = out_.slots[static_cast<std::size_t>(last)];
        if (final_shape.size() != 1)
            fail(where,
                 "the network must end in one value per chain (U(x)); its output has shape " +
                     network_shape_text(final_shape),
                 final_shape.size());
        out_.output_slot = last;
        mark_accumulation();
    }
    network_layout result() && { return std::move(out_); }

private:
    network_layout out_;

    [[noreturn]] static void bad(const std::string& path, const char* type, const std::string& what, const auto& value) {
        fail("network", path + " (" + type + "): " + what, value);
    }

    static void require_image(const network_shape& s, const std::string& at, const char* type) {
        if (s.flat) bad(at, type, "needs an image input [C, H, W]; it gets a flat one " + network_shape_text(s), s.channels);
    }

    index new_slot(network_shape shape) {
        // The element kernels (kernels/convolution.hpp) index a chain's tensors in 32 bits.
        if (shape.size() >= (index{1} << 31))
            fail("network", "a layer's output would hold 2^31 or more values per chain", network_shape_text(shape));
        out_.slots.push_back(shape);
        out_.slot_offset.push_back(out_.activation_floats);
        out_.slot_storage.push_back(static_cast<index>(out_.slots.size()) - 1);
        out_.activation_floats += (shape.size() + 15) / 16 * 16;  // 64-byte aligned slots
        return static_cast<index>(out_.slots.size()) - 1;
    }
    // fan_in 0: the tensor starts at zero.
    index add_tensor(const std::string& name, std::vector<index> shape, index fan_in) {
        parameter_tensor t{name, std::move(shape), out_.parameter_count};
        out_.parameter_count += t.count();
        out_.tensors.push_back(std::move(t));
        out_.init_bound.push_back(fan_in > 0 ? 1.0f / std::sqrt(static_cast<float>(fan_in)) : 0.0f);
        return out_.tensors.back().offset;
    }

    // The layers of one Sequential from slot `x`; returns the slot of its output. `prefix` is the parameter-name prefix
    // ("", "3.", "f."), `path` the layer path for messages.
    index sequence(const std::vector<layers::layer>& list, const std::string& prefix, const std::string& path, index x) {
        for (std::size_t i = 0; i < list.size(); ++i) {
            const layers::layer& l = list[i];
            const std::string module = prefix + (l.name.empty() ? std::to_string(i) : l.name) + ".";
            const std::string at = path + "[" + std::to_string(i) + "]";
            x = std::visit([&](const auto& node) { return one(node, module, at, x); }, l.node);
        }
        return x;
    }

    index one(const layers::sequential& s, const std::string& module, const std::string& at, index x) {
        if (s.layers.empty()) bad(at, "Sequential", "layers must not be empty", 0);
        return sequence(s.layers, module, at + ".layers", x);
    }

    index conv(index in_channels, index out_channels, index kernel, index stride, index padding, bool bias,
               const std::string& module, const std::string& at, const char* type, index x) {
        check_conv(in_channels, out_channels, kernel, stride, padding, at, type, x);
        const index fan_in = in_channels * kernel * kernel;
        const index weight = add_tensor(module + "weight", {out_channels, in_channels, kernel, kernel}, fan_in);
        const index bias_offset = bias ? add_tensor(module + "bias", {out_channels}, fan_in) : -1;
        return emit_conv(out_channels, kernel, stride, padding, weight, bias_offset, at, x);
    }
    void check_conv(index in_channels, index out_channels, index kernel, index stride, index padding,
                    const std::string& at, const char* type, index x) const {
        const network_shape s = out_.slots[static_cast<std::size_t>(x)];
        require_image(s, at, type);
        if (in_channels != s.channels)
            bad(at, type, "in_channels must equal the channels of its input " + network_shape_text(s), in_channels);
        if (out_channels <= 0) bad(at, type, "out_channels must be > 0", out_channels);
        if (kernel <= 0) bad(at, type, "kernel_size must be > 0", kernel);
        if (stride <= 0) bad(at, type, "stride must be > 0", stride);
        if (padding < 0) bad(at, type, "padding must be >= 0", padding);
        if (s.height + 2 * padding < kernel || s.width + 2 * padding < kernel)
            bad(at, type, "kernel_size is larger than its padded input " + network_shape_text(s), kernel);
    }
    // The operation of a checked convolution whose tensors sit at `weight` and `bias` (-1: none).
    index emit_conv(index out_channels, index kernel, index stride, index padding, index weight, index bias,
                    const std::string& at, index x) {
        const network_shape s = out_.slots[static_cast<std::size_t>(x)];
        network_op op;
        op.kind = network_op_kind::conv2d;
        op.input = x;
        op.in = s;
        op.out = {out_channels, (s.height + 2 * padding - kernel) / stride + 1, (s.width + 2 * padding - kernel) / stride + 1,
                  false};
        op.kernel = kernel;
        op.stride = stride;
        op.padding = padding;
        op.weight = weight;
        op.bias = bias;
        op.output = new_slot(op.out);
        if (kernel != 1 || stride != 1 || padding != 0) {
            if (op.columns_rows() * op.out.plane() >= (index{1} << 31))
                fail("network", at + " (Conv2d): its im2col matrix would hold 2^31 or more values per chain",
                     op.columns_rows() * op.out.plane());
            out_.column_floats = std::max(out_.column_floats, op.columns_rows() * op.out.plane());
        }
        out_.ops.push_back(op);
        return op.output;
    }

    index one(const layers::conv2d& c, const std::string& module, const std::string& at, index x) {
        return conv(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding, c.bias, module, at, "Conv2d", x);
    }

    index one(const layers::linear& c, const std::string& module, const std::string& at, index x) {
        const network_shape s = out_.slots[static_cast<std::size_t>(x)];
        if (!s.flat)
            bad(at, "Linear", "needs a flat input; its input has shape " + network_shape_text(s) + " (add a Flatten before it)",
                s.size());
        if (c.in_features != s.channels)
            bad(at, "Linear", "in_features must equal the size of its input " + network_shape_text(s), c.in_features);
        if (c.out_features <= 0) bad(at, "Linear", "out_features must be > 0", c.out_features);
        network_op op;
        op.kind = network_op_kind::linear;
        op.input = x;
        op.in = s;
        op.out = {c.out_features, 1, 1, true};
        op.weight = add_tensor(module + "weight", {c.out_features, c.in_features}, c.in_features);
        if (c.bias) op.bias = add_tensor(module + "bias", {c.out_features}, c.in_features);
        op.output = new_slot(op.out);
        out_.ops.push_back(op);
        return op.output;
    }

    index one(const layers::activation& a, const std::string&, const std::string& at, index x) {
        return activate(a.function, at, x);
    }
    index activate(const kernels::activation_function& f, const std::string& at, index x) {
        check_activation(f, at);
        network_op op;
        op.kind = network_op_kind::activation;
        op.input = x;
        op.in = op.out = out_.slots[static_cast<std::size_t>(x)];
        op.function = f;
        op.output = new_slot(op.out);
        if (!f.piecewise_linear()) out_.piecewise_linear = false;
        out_.ops.push_back(op);
        return op.output;
    }
    static void check_activation(const kernels::activation_function& f, const std::string& at) {
        using kernels::activation_kind;
        if (f.kind == activation_kind::leaky_relu && !(f.alpha >= 0.0f && f.alpha < 1e30f))
            bad(at, "LeakyReLU", "negative_slope must be finite and >= 0", f.alpha);
        if (f.kind == activation_kind::elu && !(f.alpha >= 0.0f && f.alpha < 1e30f))
            bad(at, "ELU", "alpha must be finite and >= 0", f.alpha);
        if (f.kind == activation_kind::softplus) {
            if (!(f.beta > 0.0f && f.beta < 1e30f)) bad(at, "Softplus", "beta must be finite and > 0", f.beta);
            if (!(f.threshold > 0.0f && f.threshold < 1e30f)) bad(at, "Softplus", "threshold must be finite and > 0", f.threshold);
        }
    }

    index pool(network_op_kind kind, index kernel, index stride, const std::string& at, const char* type, index x) {
        const network_shape s = out_.slots[static_cast<std::size_t>(x)];
        require_image(s, at, type);
        if (kernel <= 0) bad(at, type, "kernel_size must be > 0", kernel);
        if (stride < 0) bad(at, type, "stride must be > 0 (or 0 for stride = kernel_size)", stride);
        if (stride == 0) stride = kernel;
        if (kernel > s.height || kernel > s.width)
            bad(at, type, "kernel_size is larger than its input " + network_shape_text(s), kernel);
        network_op op;
        op.kind = kind;
        op.input = x;
        op.in = s;
        op.out = {s.channels, (s.height - kernel) / stride + 1, (s.width - kernel) / stride + 1, false};
        op.kernel = kernel;
        op.stride = stride;
        if (kind == network_op_kind::max_pool) {
            op.argmax = out_.argmax_count;
            out_.argmax_count += op.out.size();
        }
        op.output = new_slot(op.out);
        out_.ops.push_back(op);
        return op.output;
    }
    index one(const layers::avg_pool2d& p, const std::string&, const std::string& at, index x) {
        return pool(network_op_kind::avg_pool, p.kernel_size, p.stride, at, "AvgPool2d", x);
    }
    index one(const layers::max_pool2d& p, const std::string&, const std::string& at, index x) {
        return pool(network_op_kind::max_pool, p.kernel_size, p.stride, at, "MaxPool2d", x);
    }

    index one(const layers::flatten&, const std::string&, const std::string&, index x) {
        const network_shape s = out_.slots[static_cast<std::size_t>(x)];
        // Flatten re-reads the same per-chain buffer as features (NCHW order): a new slot sharing its storage.
        network_shape flat{s.size(), 1, 1, true};
        out_.slots.push_back(flat);
        out_.slot_offset.push_back(out_.slot_offset[static_cast<std::size_t>(x)]);
        out_.slot_storage.push_back(out_.slot_storage[static_cast<std::size_t>(x)]);
        return static_cast<index>(out_.slots.size()) - 1;
    }

    index one(const layers::residual_block& r, const std::string& module, const std::string& at, index x) {
        const network_shape s = out_.slots[static_cast<std::size_t>(x)];
        const char* type = "ResidualBlock";
        require_image(s, at, type);
        if (r.in_channels != s.channels)
            bad(at, type, "in_channels must equal the channels of its input " + network_shape_text(s), r.in_channels);
        if (r.out_channels <= 0) bad(at, type, "out_channels must be > 0", r.out_channels);
        if (r.kernel_size <= 0 || r.kernel_size % 2 == 0) bad(at, type, "kernel_size must be odd and > 0", r.kernel_size);
        const index pad = r.kernel_size / 2;
        index h = activate(r.activation, at + ".activation", x);
        h = conv(r.in_channels, r.out_channels, r.kernel_size, 1, pad, true, module + "conv1.", at + ".conv1", "Conv2d", h);
        h = activate(r.activation, at + ".activation", h);
        h = conv(r.out_channels, r.out_channels, r.kernel_size, 1, pad, true, module + "conv2.", at + ".conv2", "Conv2d", h);
        index skip = x;
        if (r.in_channels != r.out_channels)
            skip = conv(r.in_channels, r.out_channels, 1, 1, 0, true, module + "skip.", at + ".skip", "Conv2d", x);
        network_op add;
        add.kind = network_op_kind::add;
        add.input = h;
        add.input2 = skip;
        add.in = add.out = out_.slots[static_cast<std::size_t>(h)];
        add.output = new_slot(add.out);
        out_.ops.push_back(add);
        if (!r.downsample) return add.output;
        if (add.out.height < 2 || add.out.width < 2)
            bad(at, type, "downsample needs an input of at least 2 x 2", network_shape_text(s));
        return pool(network_op_kind::avg_pool, 2, 2, at + ".downsample", "AvgPool2d", add.output);
    }

    index one(const layers::nonlocal_block& b, const std::string& module, const std::string& at, index x) {
        const network_shape s = out_.slots[static_cast<std::size_t>(x)];
        const char* type = "NonLocalBlock";
        require_image(s, at, type);
        if (b.channels != s.channels)
            bad(at, type, "channels must equal the channels of its input " + network_shape_text(s), b.channels);
        if (s.height < 2 || s.width < 2)
            bad(at, type, "needs an input of at least 2 x 2 (g and phi are max-pooled)", network_shape_text(s));
        const index c = b.channels, inner = std::max<index>(1, c / 2);
        // PyTorch's registration order: g, W, theta, phi; the output projection W starts at zero.
        const index g_w = add_tensor(module + "g.0.weight", {inner, c, 1, 1}, c);
        const index g_b = add_tensor(module + "g.0.bias", {inner}, c);
        const index w_w = add_tensor(module + "W.weight", {c, inner, 1, 1}, 0);
        const index w_b = add_tensor(module + "W.bias", {c}, 0);
        const index t_w = add_tensor(module + "theta.weight", {inner, c, 1, 1}, c);
        const index t_b = add_tensor(module + "theta.bias", {inner}, c);
        const index p_w = add_tensor(module + "phi.0.weight", {inner, c, 1, 1}, c);
        const index p_b = add_tensor(module + "phi.0.bias", {inner}, c);
        const index theta = emit_conv(inner, 1, 1, 0, t_w, t_b, at + ".theta", x);
        const index phi = pool(network_op_kind::max_pool, 2, 2, at + ".phi.1", "MaxPool2d",
                               emit_conv(inner, 1, 1, 0, p_w, p_b, at + ".phi.0", x));
        const index g = pool(network_op_kind::max_pool, 2, 2, at + ".g.1", "MaxPool2d",
                             emit_conv(inner, 1, 1, 0, g_w, g_b, at + ".g.0", x));
        const network_shape pooled = out_.slots[static_cast<std::size_t>(phi)];
        network_op attention;
        attention.kind = network_op_kind::attention;
        attention.input = theta;
        attention.input2 = phi;
        attention.input3 = g;
        attention.in = out_.slots[static_cast<std::size_t>(theta)];
        attention.out = attention.in;
        attention.aux = new_slot({1, s.plane(), pooled.plane(), false});
        attention.output = new_slot(attention.out);
        out_.ops.push_back(attention);
        out_.piecewise_linear = false;
        const index projected = emit_conv(c, 1, 1, 0, w_w, w_b, at + ".W", attention.output);
        network_op add;
        add.kind = network_op_kind::add;
        add.input = projected;
        add.input2 = x;
        add.in = add.out = s;
        add.output = new_slot(s);
        out_.ops.push_back(add);
        return add.output;
    }

    index storage(index slot) const { return out_.slot_storage[static_cast<std::size_t>(slot)]; }

    void mark_accumulation() {
        std::vector<bool> reached(out_.slots.size(), false);
        for (auto op = out_.ops.rbegin(); op != out_.ops.rend(); ++op) {
            const std::size_t a = static_cast<std::size_t>(storage(op->input));
            op->accumulate_input = reached[a];
            reached[a] = true;
            if (op->input2 >= 0) {
                const std::size_t b = static_cast<std::size_t>(storage(op->input2));
                op->accumulate_input2 = reached[b];
                reached[b] = true;
            }
            if (op->input3 >= 0) {
                const std::size_t c = static_cast<std::size_t>(storage(op->input3));
                op->accumulate_input3 = reached[c];
                reached[c] = true;
            }
        }
    }
};

}  // namespace detail

/// Checks `spec` and lays it out for evaluation (see the header comment).
inline network_layout compile_network(const network_spec& spec) { return detail::network_compiler(spec).result(); }

}  // namespace ebm
