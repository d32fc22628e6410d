#pragma once
// The policies every conformance suite is instantiated for, each with a factory.
#include <ebm/ebm.hpp>

#include <vector>

namespace ebm_conformance {

// ---- energies -----------------------------------------------------------------------------------------------
struct gmm_3d {
    using type = ebm::gaussian_mixture;
    static constexpr bool piecewise_linear = false;
    static constexpr double range = 2.0;
    static type make() {
        return {{0.5, 0.3, 0.2},
                {{0.0, 1.0, -1.0}, {2.0, -1.0, 0.5}, {-1.5, 0.0, 2.0}},
                {{1.0, 0.3, 0.1, 0.3, 0.8, -0.2, 0.1, -0.2, 0.5},
                 {0.4, -0.1, 0.0, -0.1, 0.6, 0.25, 0.0, 0.25, 1.2},
                 {0.3, 0.1, 0.1, 0.1, 0.3, 0.1, 0.1, 0.1, 0.3}}};
    }
};
struct toy_gmm {
    using type = ebm::gaussian_mixture;
    static constexpr bool piecewise_linear = false;
    static constexpr double range = 1.5;
    static type make() { return ebm::toy::gmm(); }
};
struct toy_rings {
    using type = ebm::ring_mixture;
    static constexpr bool piecewise_linear = false;
    static constexpr double range = 4.5;
    static type make() { return ebm::toy::rings(); }
};
struct toy_mixture_1d {
    using type = ebm::gaussian_mixture;
    static constexpr bool piecewise_linear = false;
    static constexpr double range = 1.0;
    static type make() { return ebm::toy::mixture_1d(); }
};
struct toy_mlp {
    using type = ebm::mlp;
    static constexpr bool piecewise_linear = true;
    static constexpr double range = 2.0;
    static type make() { return ebm::mlp({2, 32, 64, 64, 64, 1}, ebm::leaky_relu{0.05f}, ebm::seed{3}); }
};
struct scaled_mlp {
    using type = ebm::scaled_energy<ebm::mlp>;
    static constexpr bool piecewise_linear = true;
    static constexpr double range = 2.0;
    static type make() { return ebm::scaled(toy_mlp::make(), 0.125f); }
};
struct scaled_gmm {
    using type = ebm::scaled_energy<ebm::gaussian_mixture>;
    static constexpr bool piecewise_linear = false;
    static constexpr double range = 1.5;
    static type make() { return ebm::scaled(ebm::toy::gmm(), 0.5f); }
};

struct tempered_gmm {
    using type = ebm::scaled_energy<ebm::gaussian_mixture>;
    static constexpr bool piecewise_linear = false;
    static constexpr double range = 1.5;
    static type make() { return ebm::tempered(ebm::toy::gmm(), 0.5f); }
};
struct magnetized_mlp {  // landscape mapping's wrapper over a tempered network
    using type = ebm::magnetized_energy<ebm::scaled_energy<ebm::mlp>>;
    static constexpr bool piecewise_linear = true;
    static constexpr double range = 2.0;
    static type make() {
        const std::vector<float> target{0.25f, -0.5f};
        return ebm::magnetized(ebm::tempered(toy_mlp::make(), 0.5f), target, 1.5f);
    }
};

struct network_mlp {  // the toy MLP as a composed network (energy/network_presets.hpp)
    using type = ebm::network;
    static constexpr bool piecewise_linear = true;
    static constexpr double range = 2.0;
    static type make() { return ebm::network(ebm::mlp_network({2, 32, 64, 64, 64, 1}, 0.05f), ebm::seed{3}); }
};
struct network_residual {  // a smooth composed network on 2 x 6 x 6 inputs: convolution, residual block, average pools
    using type = ebm::network;
    static constexpr bool piecewise_linear = false;
    static constexpr double range = 1.0;
    static type make() {
        namespace l = ebm::layers;
        return ebm::network({.input = {2, 6, 6},
                             .layers = {l::conv2d{.in_channels = 2, .out_channels = 4, .kernel_size = 3, .padding = 1},
                                        l::silu(),
                                        l::residual_block{.in_channels = 4, .out_channels = 6,
                                                          .activation = l::gelu().function, .downsample = true},
                                        l::avg_pool2d{.kernel_size = 3},
                                        l::flatten{},
                                        l::linear{.in_features = 6, .out_features = 3},
                                        l::softplus(),
                                        l::linear{.in_features = 3, .out_features = 1}}},
                            ebm::seed{5});
    }
};

// ---- samplers ------------------------------------------------------------------------------------------------
template <class S>
S make_sampler(ebm::index steps, ebm::index chains_per_task = 50);
template <>
inline ebm::langevin make_sampler<ebm::langevin>(ebm::index steps, ebm::index per_task) {
    return {.epsilon = 0.05f, .steps = steps, .chains_per_task = per_task};
}
template <>
inline ebm::langevin_decoupled make_sampler<ebm::langevin_decoupled>(ebm::index steps, ebm::index per_task) {
    return {.step_size_lambda = 1e-3f, .noise_sigma = 0.05f, .steps = steps, .chains_per_task = per_task};
}
template <>
inline ebm::mala make_sampler<ebm::mala>(ebm::index steps, ebm::index per_task) {
    return {.epsilon = 0.05f, .steps = steps, .chains_per_task = per_task};
}
template <>
inline ebm::hmc make_sampler<ebm::hmc>(ebm::index steps, ebm::index per_task) {
    return {.epsilon = 0.05f, .leapfrog = 3, .steps = steps, .chains_per_task = per_task};
}

// ---- initializers --------------------------------------------------------------------------------------------
template <class I>
I make_initializer();
template <>
inline ebm::uniform_noise make_initializer<ebm::uniform_noise>() { return {-1.0f, 1.0f}; }
template <>
inline ebm::gaussian_noise make_initializer<ebm::gaussian_noise>() { return {.scale = 2.0f}; }
template <>
inline ebm::data_init make_initializer<ebm::data_init>() { return {}; }
template <>
inline ebm::persistent_bank<ebm::uniform_noise> make_initializer<ebm::persistent_bank<ebm::uniform_noise>>() {
    return {.size = 300, .init = {-1.0f, 1.0f}, .rejuvenation = 0.05f};
}
template <>
inline ebm::persistent_bank<ebm::gaussian_noise> make_initializer<ebm::persistent_bank<ebm::gaussian_noise>>() {
    return {.size = 300, .init = {.scale = 1.0f}};
}

// ---- optimizers ----------------------------------------------------------------------------------------------
struct plain_sgd {
    using type = ebm::sgd;
    static type make() { return {.learning_rate = 0.05f}; }
};
struct momentum_sgd {
    using type = ebm::sgd;
    static type make() { return {.learning_rate = 0.02f, .momentum = 0.9f}; }
};
struct decaying_sgd {
    using type = ebm::sgd;
    static type make() { return {.learning_rate = 0.05f, .schedule = {.factor = 0.99, .floor = 0.01}}; }
};
struct default_adam {
    using type = ebm::adam;
    static type make() { return {.learning_rate = 0.05f}; }
};

}  // namespace ebm_conformance
