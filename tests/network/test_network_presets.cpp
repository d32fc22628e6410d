// The two CPU executions of a ConvNet-shaped network against each other: a chain of convolutions with activations
// ending in one value runs on oneDNN primitives over the whole batch (backend/cpu/onednn_conv_stack.hpp), any network
// can run on blocks of chains with Eigen (network_execution::blocks). For the short-run nets at 32, 64 and 128 px
// (negated output too), the Anatomy VanillaNet and user-composed nets (ReLU, mixed slopes, SiLU, ELU, GELU, Tanh,
// Sigmoid), the two give the same energies, dU/dx and weighted dU/dtheta up to float rounding (they sum in different
// orders); the convnet class is the preset bit for bit; networks of any other form take blocks of chains.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <ebm/energy/convnet.hpp>
#include <ebm/energy/network.hpp>
#include <ebm/energy/network_presets.hpp>
#include <ebm/random/distributions.hpp>

#include "common/torch_support.hpp"
#include "network_test_support.hpp"

namespace {

using ebm_test::relative_error;
constexpr const char* onednn_path = "oneDNN convolution stack";
constexpr const char* blocks_path = "blocks of chains";

// The oneDNN path of `spec` against its blocks path, over batches of n and of n - 1 chains (a second set of primitives).
void compare(const char* label, const ebm::network_spec& spec, std::uint64_t seed, ebm::index n) {
    const ebm::network fast(spec, ebm::seed{seed}), reference(spec, ebm::seed{seed}, ebm::network_execution::blocks);
    REQUIRE(std::string(fast.execution()) == onednn_path);
    REQUIRE(std::string(reference.execution()) == blocks_path);
    network_test::check_same_parameters(fast, reference);
    const ebm::index d = fast.dimension();
    auto ws = fast.make_workspace(n);
    auto wr = reference.make_workspace(n);
    for (const ebm::index m : {n, n - 1}) {
        const ebm::batch x = ebm_test::uniform_batch(d, m, 77);  // states U(-1, 1), Philox seed 77
        std::vector<float> u(static_cast<std::size_t>(m)), ur(u), w(u), e(u);
        for (ebm::index i = 0; i < m; ++i) w[static_cast<std::size_t>(i)] = 0.5f - 0.25f * static_cast<float>(i);
        ebm::batch g(d, m), gr(d, m);
        fast.energy_and_gradient(x, u, g, ws);
        reference.energy_and_gradient(x, ur, gr, wr);
        std::vector<float> theta(static_cast<std::size_t>(fast.parameter_count()), 0.0f), theta_r(theta);
        fast.accumulate_parameter_gradient(x, w, theta, e, ws);
        reference.accumulate_parameter_gradient(x, w, theta_r, ur, wr);
        CHECK(e == u);
        fast.energy(x, e, ws);
        CHECK(e == u);
        const double e_u = relative_error(u, ur), e_g = relative_error(g.view().values(), gr.view().values()),
                     e_t = relative_error(theta, theta_r);
        std::printf("%-26s batch %3td: oneDNN vs blocks: energy %.2e  dU/dx %.2e  dU/dtheta %.2e\n", label, m, e_u, e_g,
                    e_t);
        CHECK(e_u < 1e-5);
        CHECK(e_g < 1e-5);
        CHECK(e_t < 1e-5);
    }
    CHECK(ws.cached_batch_sizes() == 2);
}

}  // namespace

TEST_CASE("network presets: the short-run nets (32, 64, 128 px, negated) and VanillaNet on oneDNN and on blocks") {
    compare("short_run(32, n_f 8)", ebm::short_run_network(32, 8, 3, 0.2f), 1, 5);
    compare("short_run(32, grey, -U)", ebm::short_run_network(32, 8, 1, 0.2f, true), 2, 4);
    compare("short_run(64, n_f 4)", ebm::short_run_network(64, 4, 3, 0.2f), 3, 3);
    compare("short_run(128, n_f 2)", ebm::short_run_network(128, 2, 1, 0.2f), 4, 2);
    compare("vanilla(n_f 8)", ebm::vanilla_network(3, 8, 0.05f), 5, 3);
}

TEST_CASE("network presets: user-composed convolution stacks (ReLU, mixed slopes, a 1x1 input) take the oneDNN path") {
    namespace l = ebm::layers;
    // Smooth units run as oneDNN's element-wise primitives after the convolution (from the stored pre-activations):
    // the same functions as the blocks path's (PyTorch's), up to oneDNN's own approximations of exp, tanh and erf.
    const auto smooth = [](const ebm::layers::activation& first, const ebm::layers::activation& second) {
        return ebm::network_spec{
            .input = {3, 10, 10},
            .layers = {l::conv2d{.in_channels = 3, .out_channels = 16, .kernel_size = 3, .stride = 1, .padding = 1}, first,
                       l::conv2d{.in_channels = 16, .out_channels = 32, .kernel_size = 4, .stride = 2, .padding = 1}, second,
                       l::conv2d{.in_channels = 32, .out_channels = 1, .kernel_size = 5}}};
    };
    compare("SiLU, SiLU", smooth(l::silu(), l::silu()), 8, 4);
    compare("ELU(0.7), GELU", smooth(l::elu(0.7f), l::gelu()), 9, 3);
    compare("Tanh, Sigmoid", smooth(l::tanh(), l::sigmoid()), 10, 3);
    compare("LeakyReLU(0.2), SiLU", smooth(l::leaky_relu(0.2f), l::silu()), 11, 3);
    compare("ReLU, LeakyReLU(0.1)",
            {.input = {2, 12, 12},
             .layers = {l::conv2d{.in_channels = 2, .out_channels = 16, .kernel_size = 3, .stride = 1, .padding = 1},
                        l::relu(), l::conv2d{.in_channels = 16, .out_channels = 16, .kernel_size = 4, .stride = 2, .padding = 1},
                        l::leaky_relu(0.1f), l::conv2d{.in_channels = 16, .out_channels = 1, .kernel_size = 6}}},
            6, 4);
    compare("one convolution", {.input = {3, 5, 5}, .layers = {l::conv2d{.in_channels = 3, .out_channels = 1, .kernel_size = 5}}},
            7, 3);
}

TEST_CASE("network presets: networks of any other form run on blocks of chains") {
    namespace l = ebm::layers;
    const auto conv = [](ebm::index in, ebm::index out, ebm::index k, bool bias = true) {
        return l::conv2d{.in_channels = in, .out_channels = out, .kernel_size = k, .bias = bias};
    };
    const std::vector<std::pair<const char*, ebm::network_spec>> others = {
        {"Softplus", {.input = {1, 6, 6}, .layers = {conv(1, 4, 3), l::softplus(), conv(4, 1, 4)}}},
        {"a convolution without bias", {.input = {1, 6, 6}, .layers = {conv(1, 4, 3, false), l::relu(), conv(4, 1, 4)}}},
        {"two activations in a row", {.input = {1, 6, 6}, .layers = {conv(1, 4, 3), l::relu(), l::relu(), conv(4, 1, 4)}}},
        {"an activation last", {.input = {1, 4, 4}, .layers = {conv(1, 1, 4), l::relu()}}},
        {"a pool", {.input = {1, 8, 8}, .layers = {conv(1, 4, 3), l::relu(), l::avg_pool2d{2}, conv(4, 1, 3)}}},
        {"a Linear head", {.input = {1, 6, 6}, .layers = {conv(1, 4, 3), l::relu(), l::flatten{}, l::linear{64, 1}}}},
        {"a flat input", {.input = {4}, .layers = {l::linear{4, 1}}}},
    };
    for (const auto& [label, spec] : others) {
        INFO(label);
        CHECK(std::string(ebm::network(spec).execution()) == blocks_path);
    }
}

TEST_CASE("network presets: ebm::convnet is the preset, on the oneDNN path, bit for bit") {
    const auto net = ebm::convnet::short_run(32, 8, 3, 0.2f, {.negate_output = true}, ebm::seed{8});
    const ebm::network preset(ebm::short_run_network(32, 8, 3, 0.2f, true), ebm::seed{8});
    CHECK(std::string(net.execution()) == onednn_path);
    network_test::check_same_parameters(preset, net);
    const ebm::batch x = ebm_test::uniform_batch(net.dimension(), 3, 9);
    std::vector<float> u(3), up(3);
    ebm::batch g(net.dimension(), 3), gp(net.dimension(), 3);
    auto ws = net.make_workspace(3);
    auto wp = preset.make_workspace(3);
    net.energy_and_gradient(x, u, g, ws);
    preset.energy_and_gradient(x, up, gp, wp);
    CHECK(u == up);
    CHECK(std::memcmp(g.data(), gp.data(), sizeof(float) * static_cast<std::size_t>(g.view().values().size())) == 0);
}
