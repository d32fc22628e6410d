#pragma once
// The shape of a ConvNet energy, shared by the oneDNN (energy/convnet.hpp) and cuDNN (backend/cuda/convnet.cuh)
// implementations, and the short-run paper's networks (Appendix 7.4, Tables 4-6):
//   short_run(32):  conv3x3 s1 p1 (C -> n_f), conv4x4 s2 p1 (n_f -> 2n_f -> 4n_f -> 8n_f), conv4x4 s1 p0 (8n_f -> 1)
//   short_run(64/128): one/two more conv4x4 s2 p1 (8n_f -> 8n_f) before the last
#include <string>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "parameter_tensor.hpp"

namespace ebm {

/// One convolution of a convnet: out_channels, square kernel, stride and zero padding.
struct conv_layer {
    index out_channels = 1;
    index kernel = 3;
    index stride = 1;
    index padding = 0;
};

/// Options of a ConvNet energy, the same on both backends.
struct convnet_options {
    bool negate_output = false;  // U = -network(x): for weights trained with the short-run code (f = -U)
};

/// The shape of a convnet: input image (channels x height x width), the convolutions (all but the last followed
/// by LeakyReLU(negative_slope); the last must produce 1 x 1 x 1 per chain), and the state_dict prefix of the
/// nn.Sequential holding them (conv l is "<prefix>.<2l>").
struct convnet_architecture {
    std::string name = "convnet";
    index channels = 3;
    index height = 32;
    index width = 32;
    std::vector<conv_layer> layers;
    float negative_slope = 0.2f;
    std::string module_prefix = "f";
};

/// The flat parameter layout of a convnet, the same on both backends: per convolution l its weight
/// "<prefix>.<2l>.weight" [out, in, k, k], then its bias "<prefix>.<2l>.bias" [out] (PyTorch's state_dict order).
inline std::vector<parameter_tensor> convnet_parameter_tensors(const convnet_architecture& arch) {
    std::vector<parameter_tensor> tensors;
    index offset = 0;
    index c = arch.channels;
    for (std::size_t l = 0; l < arch.layers.size(); ++l) {
        const conv_layer& layer = arch.layers[l];
        const std::string module = arch.module_prefix + "." + std::to_string(2 * l);
        tensors.push_back({module + ".weight", {layer.out_channels, c, layer.kernel, layer.kernel}, offset});
        offset += tensors.back().count();
        tensors.push_back({module + ".bias", {layer.out_channels}, offset});
        offset += tensors.back().count();
        c = layer.out_channels;
    }
    return tensors;
}

/// Multiply-adds x 2 of one forward pass of one chain through the convolutions (backward-data costs about the same).
inline double forward_flops(const convnet_architecture& arch) {
    double flops = 0;
    index c = arch.channels, h = arch.height, w = arch.width;
    for (const conv_layer& layer : arch.layers) {
        const index oh = (h + 2 * layer.padding - layer.kernel) / layer.stride + 1;
        const index ow = (w + 2 * layer.padding - layer.kernel) / layer.stride + 1;
        flops += 2.0 * static_cast<double>(oh * ow * layer.out_channels * c * layer.kernel * layer.kernel);
        c = layer.out_channels;
        h = oh;
        w = ow;
    }
    return flops;
}

/// The short-run paper's network for image_size 32, 64 or 128 with width n_f and 1 or 3 input channels.
inline convnet_architecture short_run_architecture(index image_size, index n_f, index channels, float negative_slope) {
    if (image_size != 32 && image_size != 64 && image_size != 128)
        detail::fail("convnet::short_run", "image_size must be 32, 64 or 128", image_size);
    detail::require_positive("convnet::short_run", "n_f", n_f);
    if (channels != 1 && channels != 3) detail::fail("convnet::short_run", "channels must be 1 or 3", channels);
    convnet_architecture arch;
    arch.name = "short_run_" + std::to_string(image_size);
    arch.channels = channels;
    arch.height = arch.width = image_size;
    arch.negative_slope = negative_slope;
    arch.layers.push_back({n_f, 3, 1, 1});
    arch.layers.push_back({2 * n_f, 4, 2, 1});
    arch.layers.push_back({4 * n_f, 4, 2, 1});
    arch.layers.push_back({8 * n_f, 4, 2, 1});
    for (index size = 4; size < image_size / 8; size *= 2) arch.layers.push_back({8 * n_f, 4, 2, 1});
    arch.layers.push_back({1, 4, 1, 0});
    return arch;
}

/// The Anatomy code's VanillaNet (32 x 32 inputs): the short-run shape, by default with n_f 32 and LeakyReLU 0.05.
inline convnet_architecture vanilla_architecture(index channels, index n_f, float negative_slope) {
    if (channels != 1 && channels != 3) detail::fail("convnet::vanilla", "channels must be 1 or 3", channels);
    convnet_architecture arch = short_run_architecture(32, n_f, channels, negative_slope);
    arch.name = "vanilla";
    return arch;
}

}  // namespace ebm
