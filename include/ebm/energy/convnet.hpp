#pragma once
// ConvNet energies: the short-run paper's networks (Appendix 7.4, Tables 4-6) and the Anatomy code's VanillaNet — a
// chain of convolutions, each but the last followed by LeakyReLU, ending in one scalar per chain — as networks
// composed from layers (energy/network.hpp; the preset is energy/network_presets.hpp's convnet_network).
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
// Execution: with oneDNN built in, energies and gradients run as oneDNN primitives over the whole batch
// (backend/cpu/onednn_conv_stack.hpp: convolutions with bias and LeakyReLU fused, blocked layouts, oneDNN's threads;
// the workspace's reference_kernels() and profiling() show what oneDNN chose); without it, on blocks of chains with
// Eigen. The Hessian-vector product is computed exactly (energy/network.hpp) and is zero, the network being
// piecewise linear. Every call of the non-const parameters() marks oneDNN's reordered weight copies stale; code that
// keeps a std::span from parameters() and writes through it after an evaluation calls parameters_changed().
#include <string>
#include <utility>

#include "../error.hpp"
#include "convnet_architecture.hpp"
#include "network.hpp"
#include "network_presets.hpp"

namespace ebm {

class convnet : public network {
public:
    convnet(convnet_architecture arch, convnet_options options = {}, seed init_seed = seed{0})
        : network(checked_spec(arch, options), init_seed, "convnet"), arch_(std::move(arch)), options_(options) {}

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

    [[nodiscard]] const convnet_architecture& architecture() const { return arch_; }
    [[nodiscard]] const convnet_options& options() const { return options_; }
    [[nodiscard]] float negative_slope() const { return arch_.negative_slope; }

private:
    // The architecture's own rules (the messages name convnet and its fields), then its network.
    static network_spec checked_spec(const convnet_architecture& arch, const convnet_options& options) {
        const char* where = "convnet";
        detail::require_positive(where, "channels", arch.channels);
        detail::require_positive(where, "height", arch.height);
        detail::require_positive(where, "width", arch.width);
        if (arch.layers.empty()) detail::fail(where, "the architecture needs at least one convolution", 0);
        detail::require_in_closed(where, "negative_slope", arch.negative_slope, 0.0f, 1.0f);
        index h = arch.height, w = arch.width;
        for (const conv_layer& layer : arch.layers) {
            if (&layer == &arch.layers.back() && (layer.kernel != h || layer.kernel != w))
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
        if (arch.layers.back().out_channels != 1 || h != 1 || w != 1)
            detail::fail(where, "the last convolution must give 1 x 1 x 1 per chain (one energy); output channels x height x width",
                         std::to_string(arch.layers.back().out_channels) + "x" + std::to_string(h) + "x" +
                             std::to_string(w));
        if (arch.layers.back().padding != 0)
            detail::fail(where, "the last convolution must be unpadded (it covers its whole input)", arch.layers.back().padding);
        return convnet_network(arch, options.negate_output);
    }

    convnet_architecture arch_;
    convnet_options options_;
};

}  // namespace ebm
