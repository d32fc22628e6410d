#pragma once
// A fully connected energy network U(x) = W_L a_{L-1} + b_L, a_l = LeakyReLU(W_l a_{l-1} + b_l): the Anatomy toy net
// is mlp({2, 32, 64, 64, 64, 1}, 0.05). It is the network preset mlp_network (energy/network_presets.hpp), a thin class
// over ebm::network that keeps its constructor, checks and layer queries; its energies and gradients run on blocks of
// chains through the dense kernels of backend/cpu/dense_stack.hpp (register-blocked SIMD rows where every hidden width
// is a whole number of vectors, Eigen otherwise); the samplers give each thread its own chains (see
// split_chains_across_threads below).
// Parameters are one flat vector in PyTorch's state_dict order: per layer weight (out x in, row-major), bias
// (parameter_tensors() names them as nn.Sequential does: "0.weight", "0.bias", "2.weight", ...), initialised as
// nn.Linear is, U(-1/sqrt(in), 1/sqrt(in)), from the Philox stream (parameter_init, tensor index, 0) of the seed.
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "network.hpp"
#include "network_presets.hpp"

namespace ebm {

struct leaky_relu {
    float negative_slope = 0.01f;
};

class mlp : public network {
public:
    /// A call on the toy MLP takes microseconds, less than a fork and join of threads per Langevin step: the samplers
    /// run whole chains per thread instead (the former class's model; a network spreads blocks over threads inside
    /// each call). Measured with 2 threads, 100 chains x 100 steps: 1.64 ms this way, 2.06 ms with blocks per call.
    static constexpr bool split_chains_across_threads = true;

    /// sizes = {input, hidden..., 1}.
    mlp(std::vector<index> sizes, leaky_relu activation, seed init_seed = seed{0})
        : network(checked_spec(sizes, activation.negative_slope), init_seed, "mlp"),
          sizes_(std::move(sizes)),
          slope_(activation.negative_slope) {
        for (std::size_t l = 0; l + 1 < sizes_.size(); ++l) {
            weight_offset_.push_back(parameter_tensors()[2 * l].offset);
            bias_offset_.push_back(parameter_tensors()[2 * l + 1].offset);
        }
    }

    [[nodiscard]] const std::vector<index>& layer_sizes() const { return sizes_; }
    [[nodiscard]] float negative_slope() const { return slope_; }
    [[nodiscard]] index layers() const { return static_cast<index>(sizes_.size()) - 1; }
    /// Offsets of layer l's weight and bias in the flat vector (for loaders using state_dict names).
    [[nodiscard]] index weight_offset(index l) const { return weight_offset_[static_cast<std::size_t>(l)]; }
    [[nodiscard]] index bias_offset(index l) const { return bias_offset_[static_cast<std::size_t>(l)]; }

private:
    static network_spec checked_spec(const std::vector<index>& sizes, float slope) {
        if (sizes.size() < 3) detail::fail("mlp", "sizes must list input, at least one hidden layer and output", sizes.size());
        for (index s : sizes) detail::require_positive("mlp", "layer size", s);
        if (sizes.back() != 1) detail::fail("mlp", "the last layer size must be 1 (one energy per chain)", sizes.back());
        detail::require_in_closed("mlp", "negative_slope", slope, 0.0f, 1.0f);
        return mlp_network(sizes, slope);
    }

    std::vector<index> sizes_;
    float slope_;
    std::vector<index> weight_offset_, bias_offset_;
};

}  // namespace ebm
