#pragma once
// The shipped architectures as network descriptions (energy/network_spec.hpp): the short-run paper's ConvNets, the
// Anatomy code's VanillaNet and NonlocalNet, and the toy MLP, with the parameter names and order of the specialised
// classes (convnet, nonlocal_net, mlp) and of the PyTorch modules they mirror, so weights move between them unchanged.
#include <string>
#include <vector>

#include "../error.hpp"
#include "convnet_architecture.hpp"
#include "network_spec.hpp"

namespace ebm {

/// A chain of convolutions, each but the last followed by LeakyReLU, in a Sequential named arch.module_prefix
/// ("f.0.weight", "f.2.weight", ...), as convnet names its tensors.
inline network_spec convnet_network(const convnet_architecture& arch, bool negate = false) {
    layers::sequential body;
    index c = arch.channels;
    for (std::size_t l = 0; l < arch.layers.size(); ++l) {
        const conv_layer& conv = arch.layers[l];
        body.layers.emplace_back(layers::conv2d{c, conv.out_channels, conv.kernel, conv.stride, conv.padding});
        if (l + 1 < arch.layers.size()) body.layers.emplace_back(layers::leaky_relu(arch.negative_slope));
        c = conv.out_channels;
    }
    network_spec spec{{arch.channels, arch.height, arch.width}, {}, negate};
    spec.layers.emplace_back(std::move(body), arch.module_prefix);
    return spec;
}

/// The short-run paper's network for image_size 32, 64 or 128 (convnet::short_run's architecture).
inline network_spec short_run_network(index image_size = 32, index n_f = 64, index channels = 3,
                                      float negative_slope = 0.2f, bool negate = false) {
    return convnet_network(short_run_architecture(image_size, n_f, channels, negative_slope), negate);
}

/// The Anatomy code's VanillaNet (convnet::vanilla's architecture).
inline network_spec vanilla_network(index channels = 3, index n_f = 32, float negative_slope = 0.05f) {
    return convnet_network(vanilla_architecture(channels, n_f, negative_slope));
}

/// The Anatomy code's NonlocalNet for 32 x 32 inputs (ebm::nonlocal_net's architecture and names: "convs.0",
/// "convs.3.g.0", ..., "fc.2"): conv3x3, LeakyReLU, maxpool 2, then twice (non-local block, conv3x3, LeakyReLU,
/// maxpool 2), widths n_f, 2 n_f, 4 n_f; then Linear(16 * 4 n_f, 8 n_f), LeakyReLU, Linear(8 n_f, 1).
inline network_spec nonlocal_network(index channels = 3, index n_f = 32, float negative_slope = 0.05f) {
    detail::require_positive("nonlocal_network", "n_f", n_f);
    const auto conv = [](index in, index out) { return layers::conv2d{in, out, 3, 1, 1}; };
    const layers::activation leaky = layers::leaky_relu(negative_slope);
    const layers::max_pool2d pool{2, 2};
    layers::sequential convs{{conv(channels, n_f), leaky, pool, layers::nonlocal_block{n_f}, conv(n_f, 2 * n_f), leaky,
                              pool, layers::nonlocal_block{2 * n_f}, conv(2 * n_f, 4 * n_f), leaky, pool}};
    layers::sequential fc{{layers::linear{4 * n_f * 16, 8 * n_f}, leaky, layers::linear{8 * n_f, 1}}};
    network_spec spec{{channels, 32, 32}, {}, false};
    spec.layers.emplace_back(std::move(convs), "convs");
    spec.layers.emplace_back(layers::flatten{}, "flatten");
    spec.layers.emplace_back(std::move(fc), "fc");
    return spec;
}

/// A fully connected network {input, hidden..., 1}: nn.Sequential(Linear, LeakyReLU, ..., Linear), named "0.weight",
/// "0.bias", "2.weight", ... as ebm::mlp names its tensors (the Anatomy toy net is mlp_network({2, 32, 64, 64, 64, 1},
/// 0.05)).
inline network_spec mlp_network(const std::vector<index>& sizes, float negative_slope) {
    if (sizes.size() < 2) detail::fail("mlp_network", "sizes must list at least the input and the output", sizes.size());
    network_spec spec{{sizes.front()}, {}, false};
    for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
        spec.layers.emplace_back(layers::linear{sizes[l], sizes[l + 1]});
        if (l + 2 < sizes.size()) spec.layers.emplace_back(layers::leaky_relu(negative_slope));
    }
    return spec;
}

}  // namespace ebm
