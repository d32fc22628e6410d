#pragma once
// The non-local net's parameter layout: tensor names and shapes in PyTorch's state_dict order, their offsets in the
// flat parameter vector, and PyTorch's default initialisation bounds. cuda_backend::nonlocal_net lays its parameters
// out by it; ebm::nonlocal_net (the network preset nonlocal_network) has the same layout, which tests/network checks
// tensor by tensor, so parameters copy across unchanged.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "../config.hpp"
#include "parameter_tensor.hpp"

namespace ebm::detail {

struct nonlocal_layout {
    struct conv_ref {  // a weight/bias pair (convolution or linear layer): offsets and sizes
        index weight = 0, bias = 0, out = 0, in = 0, kernel = 1;
    };
    struct block_ref {  // an embedded-Gaussian non-local block on c channels, inner width c/2
        conv_ref g, w, theta, phi;
        index c = 0, inner = 0;
    };

    std::vector<parameter_tensor> tensors;
    std::vector<conv_ref> convs, fcs;
    std::vector<block_ref> blocks;
    index size = 0;  // parameter count

    nonlocal_layout() = default;
    nonlocal_layout(index channels, index n_f) {
        add_conv("convs.0", n_f, channels, 3);
        add_block("convs.3", n_f);
        add_conv("convs.4", 2 * n_f, n_f, 3);
        add_block("convs.7", 2 * n_f);
        add_conv("convs.8", 4 * n_f, 2 * n_f, 3);
        add_linear("fc.0", 8 * n_f, 4 * n_f * 16);
        add_linear("fc.2", 1, 8 * n_f);
    }

    /// Tensor t starts as U(-b, b) with b = 1/sqrt(fan_in of its weight) (PyTorch's default); b = 0 for the
    /// non-local output projections (".W."), which start at zero.
    [[nodiscard]] float init_bound(std::size_t t) const {
        if (tensors[t].name.find(".W.") != std::string::npos) return 0.0f;
        const parameter_tensor& weight = tensors[t - t % 2];
        index fan_in = 1;
        for (std::size_t k = 1; k < weight.shape.size(); ++k) fan_in *= weight.shape[k];
        return 1.0f / std::sqrt(static_cast<float>(fan_in));
    }

private:
    conv_ref add_tensor_pair(const std::string& name, std::vector<index> wshape, index out) {
        conv_ref r;
        r.out = out;
        r.in = wshape[1];
        r.kernel = wshape.size() == 4 ? wshape[2] : 1;
        tensors.push_back({name + ".weight", wshape, size});
        r.weight = size;
        size += tensors.back().count();
        tensors.push_back({name + ".bias", {out}, size});
        r.bias = size;
        size += out;
        return r;
    }
    void add_conv(const std::string& name, index out, index in, index k) {
        convs.push_back(add_tensor_pair(name, {out, in, k, k}, out));
    }
    void add_linear(const std::string& name, index out, index in) { fcs.push_back(add_tensor_pair(name, {out, in}, out)); }
    void add_block(const std::string& name, index c) {
        block_ref b;
        b.c = c;
        b.inner = std::max<index>(1, c / 2);
        b.g = add_tensor_pair(name + ".g.0", {b.inner, c, 1, 1}, b.inner);
        b.w = add_tensor_pair(name + ".W", {c, b.inner, 1, 1}, c);
        b.theta = add_tensor_pair(name + ".theta", {b.inner, c, 1, 1}, b.inner);
        b.phi = add_tensor_pair(name + ".phi.0", {b.inner, c, 1, 1}, b.inner);
        blocks.push_back(b);
    }
};

}  // namespace ebm::detail
