#pragma once
// parameter_tensor: one named tensor of a network's flat parameter vector (PyTorch state_dict name, shape, offset),
// shared by the ConvNet energies and the safetensors loader.
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

}  // namespace ebm
