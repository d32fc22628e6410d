#pragma once
// parameter_tensor: one named tensor of a network's flat parameter vector (PyTorch state_dict name, shape, offset),
// shared by the networks (mlp, ConvNets, either backend), the safetensors loader and checkpoints.
#include <span>
#include <string>
#include <vector>

#include "../config.hpp"

namespace ebm {

struct parameter_tensor {
    std::string name;
    std::vector<index> shape;
    index offset = 0;
    [[nodiscard]] index count() const {
        index n = 1;
        for (index s : shape) n *= s;
        return n;
    }
};

/// The tensors of a fully connected network with layer sizes {input, hidden..., output}, named as PyTorch names
/// those of nn.Sequential(Linear, LeakyReLU, Linear, ..., Linear): "<2l>.weight" [out, in] (row-major), then
/// "<2l>.bias" [out], packed in that order. The layout of ebm::mlp and ebm::cuda::mlp.
inline std::vector<parameter_tensor> mlp_parameter_tensors(std::span<const index> sizes) {
    std::vector<parameter_tensor> tensors;
    index offset = 0;
    for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
        const std::string module = std::to_string(2 * l);
        tensors.push_back({module + ".weight", {sizes[l + 1], sizes[l]}, offset});
        offset += sizes[l + 1] * sizes[l];
        tensors.push_back({module + ".bias", {sizes[l + 1]}, offset});
        offset += sizes[l + 1];
    }
    return tensors;
}

}  // namespace ebm
