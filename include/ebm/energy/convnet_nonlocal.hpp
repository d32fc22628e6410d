#pragma once
// The Anatomy code's non-local ConvNet for convergent learning (NonlocalNet, 32 x 32 inputs), as a network composed
// from layers (energy/network.hpp, the preset energy/network_presets.hpp's nonlocal_network):
//   conv3x3(C -> n_f), LeakyReLU, maxpool 2                      32x32 -> 16x16
//   non-local block(n_f), conv3x3(n_f -> 2n_f), LeakyReLU, maxpool 2   16x16 -> 8x8
//   non-local block(2n_f), conv3x3(2n_f -> 4n_f), LeakyReLU, maxpool 2  8x8 -> 4x4
//   fully connected 16*4n_f -> 8n_f, LeakyReLU, 8n_f -> 1        (n_f 32: 2048 -> 256 -> 1)
// Non-local block (embedded Gaussian, Wang et al. 2018) on x (c x N), inner width c/2:
//   theta = W_t x, phi = maxpool(W_p x), g = maxpool(W_g x)   (1x1 convolutions with bias)
//   A = softmax_rows(theta^T phi), y = g A^T, z = W_o y + x     (W_o and its bias start at zero: identity block)
// U(x) = network output (the Anatomy convention). Parameters are one flat vector in PyTorch's state_dict order of
// that NonlocalNet ("convs.0.weight", "convs.3.g.0.weight", "convs.3.W.weight", "convs.3.theta.weight",
// "convs.3.phi.0.weight", ..., "fc.2.bias"): the layout of energy/convnet_nonlocal_layout.hpp, which the CUDA
// nonlocal_net shares; initialisation is PyTorch's default (U(+-1/sqrt(fan_in))) except the zeroed output projections.
// The Hessian-vector product is exact (the R-operator through the attention: network.hpp).
#include "network.hpp"
#include "network_presets.hpp"

namespace ebm {

class nonlocal_net : public network {
public:
    explicit nonlocal_net(index channels = 3, index n_f = 32, float negative_slope = 0.05f, seed init_seed = seed{0})
        : network(checked_spec(channels, n_f, negative_slope), init_seed, "nonlocal_net"),
          n_f_(n_f),
          slope_(negative_slope) {}

    [[nodiscard]] index n_f() const { return n_f_; }
    [[nodiscard]] float negative_slope() const { return slope_; }

private:
    static network_spec checked_spec(index channels, index n_f, float negative_slope) {
        if (channels != 1 && channels != 3) detail::fail("nonlocal_net", "channels must be 1 or 3", channels);
        detail::require_positive("nonlocal_net", "n_f", n_f);
        if (n_f < 2) detail::fail("nonlocal_net", "n_f must be >= 2 (the non-local blocks halve it)", n_f);
        detail::require_in_closed("nonlocal_net", "negative_slope", negative_slope, 0.0f, 1.0f);
        return nonlocal_network(channels, n_f, negative_slope);
    }

    index n_f_;
    float slope_;
};

}  // namespace ebm
