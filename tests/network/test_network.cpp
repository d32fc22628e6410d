// Composed networks (ebm::network) without a reference library: descriptions in C++ and JSON, PyTorch's parameter
// names, shape checks and bad descriptions rejected with the layer's path, field and value; dU/dx, the weighted
// dU/dtheta and (d2U/dx2) v of every layer against central differences (eval/gradient_check.hpp); the toy MLP preset
// against ebm::mlp; bit-identical results for 1 and 2 threads; safetensors round trips. PyTorch parity is in
// test_network_parity.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <ebm/energy/convnet_nonlocal.hpp>
#include <ebm/energy/convnet_nonlocal_layout.hpp>
#include <ebm/energy/mlp.hpp>
#include <ebm/energy/network.hpp>
#include <ebm/energy/network_json.hpp>
#include <ebm/energy/network_presets.hpp>
#include <ebm/eval/gradient_check.hpp>
#include <ebm/io/safetensors.hpp>
#include <ebm/random/distributions.hpp>

#include "common/error_message.hpp"
#include "common/torch_support.hpp"
#include "network_test_support.hpp"

namespace {

namespace l = ebm::layers;

using ebm_test::uniform_batch;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::vector<std::string> names_of(const ebm::network& net) {
    std::vector<std::string> names;
    for (const auto& t : net.parameter_tensors()) names.push_back(t.name);
    return names;
}

// conv -> activation -> avg pool -> flatten -> linear -> activation -> linear, on 2 x 6 x 6 inputs.
ebm::network_spec small_net(l::activation a) {
    return {.input = {2, 6, 6},
            .layers = {l::conv2d{.in_channels = 2, .out_channels = 3, .kernel_size = 3, .stride = 1, .padding = 1}, a,
                       l::avg_pool2d{.kernel_size = 2}, l::flatten{}, l::linear{.in_features = 27, .out_features = 5}, a,
                       l::linear{.in_features = 5, .out_features = 1}}};
}

const char* issue_example = R"({"input": [3, 32, 32], "layers": [
  {"type": "Conv2d", "in_channels": 3, "out_channels": 64, "kernel_size": 3, "stride": 1, "padding": 1},
  {"type": "SiLU"},
  {"type": "AvgPool2d", "kernel_size": 2},
  {"type": "Flatten"},
  {"type": "Linear", "in_features": 16384, "out_features": 1}]})";

}  // namespace

TEST_CASE("network: a JSON description in PyTorch's terms builds the network it names") {
    const ebm::network net(ebm::network_spec_from_json(nlohmann::json::parse(issue_example)), ebm::seed{1});
    CHECK(net.dimension() == 3 * 32 * 32);
    CHECK(net.channels() == 3);
    CHECK(net.height() == 32);
    CHECK(net.width() == 32);
    CHECK(names_of(net) == std::vector<std::string>{"0.weight", "0.bias", "4.weight", "4.bias"});
    CHECK(net.parameter_count() == 64 * 27 + 64 + 16384 + 1);
    CHECK(!net.piecewise_linear());
    CHECK(net.parameter_tensors()[0].shape == std::vector<ebm::index>{64, 3, 3, 3});
    CHECK(net.parameter_tensors()[2].shape == std::vector<ebm::index>{1, 16384});
    // PyTorch's default initialisation bounds: 1/sqrt(fan_in) per layer.
    const auto p = net.parameters();
    float largest_conv = 0, largest_linear = 0;
    for (ebm::index k = 0; k < 64 * 27; ++k) largest_conv = std::max(largest_conv, std::abs(p[static_cast<std::size_t>(k)]));
    for (ebm::index k = 0; k < 16384; ++k)
        largest_linear = std::max(largest_linear, std::abs(p[static_cast<std::size_t>(64 * 28 + k)]));
    CHECK(largest_conv <= 1.0f / std::sqrt(27.0f));
    CHECK(largest_conv > 0.9f / std::sqrt(27.0f));
    CHECK(largest_linear <= 1.0f / std::sqrt(16384.0f));
    CHECK(largest_linear > 0.9f / std::sqrt(16384.0f));
}

TEST_CASE("network: parameter names follow PyTorch's state_dict (nested Sequential, named modules, residual blocks)") {
    const ebm::network_spec spec{
        .input = {3, 8, 8},
        .layers = {l::conv2d{.in_channels = 3, .out_channels = 4, .kernel_size = 3, .padding = 1}, l::relu(),
                   l::residual_block{.in_channels = 4, .out_channels = 8, .downsample = true},
                   l::sequential{{l::residual_block{.in_channels = 8, .out_channels = 8}, l::silu(),
                                  {l::conv2d{.in_channels = 8, .out_channels = 2, .kernel_size = 1, .bias = false}, "proj"}}},
                   {l::sequential{{l::flatten{}, l::linear{.in_features = 32, .out_features = 1}}}, "head"}}};
    const ebm::network net(spec);
    CHECK(names_of(net) == std::vector<std::string>{"0.weight", "0.bias", "2.conv1.weight", "2.conv1.bias",
                                                    "2.conv2.weight", "2.conv2.bias", "2.skip.weight", "2.skip.bias",
                                                    "3.0.conv1.weight", "3.0.conv1.bias", "3.0.conv2.weight",
                                                    "3.0.conv2.bias", "3.proj.weight", "head.1.weight", "head.1.bias"});
    CHECK(net.parameter_tensors()[6].shape == std::vector<ebm::index>{8, 4, 1, 1});
    // state_dict order is packing order
    ebm::index offset = 0;
    for (const auto& t : net.parameter_tensors()) {
        CHECK(t.offset == offset);
        offset += t.count();
    }
    CHECK(offset == net.parameter_count());
    // The description survives a round trip through JSON: same names, same energies.
    const ebm::network again(ebm::network_spec_from_json(ebm::network_spec_to_json(spec)));
    CHECK(names_of(again) == names_of(net));
    const ebm::batch x = uniform_batch(net.dimension(), 3, 11);
    std::vector<float> u(3), v(3);
    auto ws = net.make_workspace(3), ws2 = again.make_workspace(3);
    net.energy(x, u, ws);
    again.energy(x, v, ws2);
    CHECK(std::memcmp(u.data(), v.data(), sizeof(float) * 3) == 0);
}

namespace {

// The dense path (backend/cpu/dense_stack.hpp) against the layer-by-layer blocks path of the same network: the same
// energies, dU/dx and weighted dU/dtheta up to float rounding, and the Hessian-vector product (always the blocks
// path) exactly zero for these piecewise-linear nets.
void compare_dense(const char* label, const ebm::network_spec& spec, std::uint64_t seed, ebm::index n) {
    const ebm::network dense(spec, ebm::seed{seed}), reference(spec, ebm::seed{seed}, ebm::network_execution::blocks);
    REQUIRE(std::string(dense.execution()) == "dense stack");
    REQUIRE(std::string(reference.execution()) == "blocks of chains");
    network_test::check_same_parameters(dense, reference);
    CHECK(dense.piecewise_linear());
    const ebm::index d = dense.dimension();
    const ebm::batch x = uniform_batch(d, n, 5, -2.0f, 2.0f);
    auto ws = dense.make_workspace(n);
    auto wr = reference.make_workspace(n);
    std::vector<float> u(static_cast<std::size_t>(n)), ur(u), e(u), weights(u);
    ebm::batch g(d, n), gr(d, n);
    dense.energy_and_gradient(x, u, g, ws);
    reference.energy_and_gradient(x, ur, gr, wr);
    dense.energy(x, e, ws);
    CHECK(e == u);
    for (ebm::index i = 0; i < n; ++i) weights[static_cast<std::size_t>(i)] = (i % 2 == 0 ? 1.0f : -1.0f) / static_cast<float>(n);
    std::vector<float> theta(static_cast<std::size_t>(dense.parameter_count()), 0.0f), theta_r(theta);
    dense.accumulate_parameter_gradient(x, weights, theta, e, ws);
    reference.accumulate_parameter_gradient(x, weights, theta_r, ur, wr);
    CHECK(e == u);
    const double e_u = ebm_test::relative_error(u, ur);
    const double e_g = ebm_test::relative_error(g.view().values(), gr.view().values());
    const double e_t = ebm_test::relative_error(theta, theta_r);
    std::printf("%-34s dense vs blocks: energies %.2e, dU/dx %.2e, dU/dtheta %.2e (relative)\n", label, e_u, e_g, e_t);
    CHECK(e_u < 1e-5);
    CHECK(e_g < 1e-5);
    CHECK(e_t < 1e-5);
    ebm::batch v = uniform_batch(d, n, 6), hv(d, n);
    dense.hessian_vector_product(x, v, hv, ws);
    for (float h : hv.view().values()) CHECK(h == 0.0f);
}

}  // namespace

TEST_CASE("network: the toy MLP preset is ebm::mlp, on the dense kernels, and agrees with the blocks path") {
    const ebm::mlp reference({2, 32, 64, 64, 64, 1}, ebm::leaky_relu{0.05f}, ebm::seed{3});
    const ebm::network net(ebm::mlp_network({2, 32, 64, 64, 64, 1}, 0.05f), ebm::seed{3});
    network_test::check_same_parameters(net, reference);
    CHECK(std::string(reference.execution()) == "dense stack");
    const ebm::index n = 130;  // three blocks of chains, the last partial
    const ebm::batch x = uniform_batch(2, n, 5, -2.0f, 2.0f);
    auto ws = net.make_workspace(n);
    auto wr = reference.make_workspace(n);
    std::vector<float> u(n), ur(n);
    ebm::batch g(2, n), gr(2, n);
    net.energy_and_gradient(x, u, g, ws);
    reference.energy_and_gradient(x, ur, gr, wr);
    CHECK(u == ur);
    CHECK(std::memcmp(g.data(), gr.data(), sizeof(float) * 2 * n) == 0);
    compare_dense("toy MLP {2, 32, 64, 64, 64, 1}", ebm::mlp_network({2, 32, 64, 64, 64, 1}, 0.05f), 3, n);
}

TEST_CASE("network: fully connected stacks of any width, ReLU, slopes above 1, negated, or after a Flatten take the dense path") {
    namespace l = ebm::layers;
    compare_dense("widths 20, 7 (Eigen), ReLU, -U",
                  {.input = {3}, .layers = {l::linear{3, 20}, l::relu(), l::linear{20, 7}, l::leaky_relu(0.2f), l::linear{7, 1}},
                   .negate = true},
                  4, 70);
    // PyTorch takes LeakyReLU slopes above 1, where max(z, slope z) is not LeakyReLU (found by
    // tests/fuzz/network_fuzz.cpp): slope 5.2 on Eigen (width 8) and on the SIMD kernels (widths 16, 32).
    compare_dense("slope 5.2, width 8 (Eigen)",
                  {.input = {2}, .layers = {l::linear{2, 8}, l::leaky_relu(5.2f), l::linear{8, 1}}}, 5, 71);
    compare_dense("slope 5.2, widths 16, 32 (SIMD)",
                  {.input = {2}, .layers = {l::linear{2, 16}, l::leaky_relu(5.2f), l::linear{16, 32},
                                            l::leaky_relu(1.5f), l::linear{32, 1}}},
                  6, 33);
    compare_dense("image input, Flatten, width 16",
                  {.input = {1, 2, 3}, .layers = {l::flatten{}, l::linear{6, 16}, l::leaky_relu(0.1f), l::linear{16, 1}}}, 5, 9);
    for (const ebm::network_spec& other :
         {ebm::network_spec{.input = {3}, .layers = {l::linear{3, 1}}},
          ebm::network_spec{.input = {3}, .layers = {l::linear{3, 8}, l::silu(), l::linear{8, 1}}},
          ebm::network_spec{.input = {3}, .layers = {l::linear{3, 8, false}, l::relu(), l::linear{8, 1}}},
          ebm::network_spec{.input = {3}, .layers = {l::linear{3, 8}, l::relu(), l::linear{8, 1}, l::relu()}}})
        CHECK(std::string(ebm::network(other).execution()) == "blocks of chains");
}

TEST_CASE("network: the NonlocalNet preset has the parameter layout the CUDA nonlocal_net shares") {
    // ebm::nonlocal_net is this preset; cuda_backend::nonlocal_net lays its parameters out by detail::nonlocal_layout.
    // The same names, shapes, offsets and initial bounds make checkpoints and parameters move between the two.
    for (const ebm::index n_f : {4, 32}) {
        const ebm::nonlocal_net net(3, n_f, 0.05f, ebm::seed{61});
        const ebm::detail::nonlocal_layout cuda_layout(3, n_f);
        REQUIRE(net.parameter_tensors().size() == cuda_layout.tensors.size());
        CHECK(net.parameter_count() == cuda_layout.size);
        for (std::size_t t = 0; t < cuda_layout.tensors.size(); ++t) {
            CHECK(net.parameter_tensors()[t].name == cuda_layout.tensors[t].name);
            CHECK(net.parameter_tensors()[t].shape == cuda_layout.tensors[t].shape);
            CHECK(net.parameter_tensors()[t].offset == cuda_layout.tensors[t].offset);
            CHECK(net.layout().init_bound[t] == cuda_layout.init_bound(t));
        }
        // cuda_backend::nonlocal_net's Hessian-vector product runs this preset's engine on its own parameters.
        CHECK_FALSE(net.layout().piecewise_linear);
    }
}

TEST_CASE("network: the ConvNet presets have the parameter layout the CUDA convnet shares") {
    // ebm::convnet is convnet_network(arch); cuda_backend::convnet lays its parameters out by convnet_parameter_tensors
    // and runs its Hessian-vector product through convnet_network(arch)'s layout on them: the lists must agree.
    const std::vector<std::pair<std::string, ebm::convnet_architecture>> architectures = {
        {"short_run 32", ebm::short_run_architecture(32, 8, 3, 0.2f)},
        {"short_run 64", ebm::short_run_architecture(64, 4, 1, 0.2f)},
        {"short_run 128", ebm::short_run_architecture(128, 4, 3, 0.2f)},
        {"vanilla", ebm::vanilla_architecture(3, 8, 0.05f)}};
    for (const auto& [name, arch] : architectures) {
        INFO(name);
        const std::vector<ebm::parameter_tensor> cuda_tensors = ebm::convnet_parameter_tensors(arch);
        for (const bool negate : {false, true}) {
            const ebm::network_layout layout = ebm::compile_network(ebm::convnet_network(arch, negate));
            REQUIRE(layout.tensors.size() == cuda_tensors.size());
            CHECK(layout.parameter_count == cuda_tensors.back().offset + cuda_tensors.back().count());
            for (std::size_t t = 0; t < cuda_tensors.size(); ++t) {
                CHECK(layout.tensors[t].name == cuda_tensors[t].name);
                CHECK(layout.tensors[t].shape == cuda_tensors[t].shape);
                CHECK(layout.tensors[t].offset == cuda_tensors[t].offset);
            }
            CHECK(layout.piecewise_linear);
            CHECK(layout.negate == negate);
        }
    }
}

TEST_CASE("activation functors: first and second derivatives against central differences (every kind, kinks avoided)") {
    // Each unit alone, in float, on z = -4 ... 4 in steps of 1/64 with h = 1/64: the truncation error (h^2 times the
    // third derivative / 6) and the rounding (1e-7 |f| / h) stay below 1e-3. Points within 2h of a kink (0; Softplus's
    // threshold) are skipped: there f' or f'' jumps, as in PyTorch.
    using ebm::kernels::activation_function;
    const std::vector<std::pair<const char*, activation_function>> units = {
        {"ReLU", l::relu().function},          {"LeakyReLU", l::leaky_relu(0.1f).function},
        {"ELU", l::elu(0.7f).function},        {"SiLU", l::silu().function},
        {"GELU", l::gelu().function},          {"Tanh", l::tanh().function},
        {"Sigmoid", l::sigmoid().function},    {"Softplus", l::softplus(2.0f, 5.0f).function}};
    const float h = 1.0f / 64.0f;
    for (const auto& [label, f] : units) {
        const std::string name = label;
        CAPTURE(name);
        int checked = 0;
        for (int k = -256; k <= 256; ++k) {
            const float z = static_cast<float>(k) / 64.0f;
            const float kink = f.kind == ebm::kernels::activation_kind::softplus ? f.threshold / f.beta : 0.0f;
            if (std::abs(z) < 2 * h || std::abs(z - kink) < 2 * h) continue;
            const auto at = f.at(z), up = f.at(z + h), down = f.at(z - h);
            const double first = (double(up.value) - down.value) / (2.0 * h);
            const double second = (double(up.first) - down.first) / (2.0 * h);
            CHECK(std::abs(at.first - first) <= 1e-3 * std::max(1.0, std::abs(first)));
            CHECK(std::abs(at.second - second) <= 1e-3 * std::max(1.0, std::abs(second)));
            ++checked;
        }
        CHECK(checked > 480);
    }
}

TEST_CASE("network: dU/dx, weighted dU/dtheta and (d2U/dx2) v against central differences (SiLU, GELU, Tanh nets, 8 seeds)") {
    // The checker compares with differences of the float energies and gradients, whose rounding (terms of many units
    // cancelling) is divided by the step: steps of 1e-2 keep it below the tolerance, where the truncation error is
    // still far below it. Swept over 40 seeds at -O1 and -O3: no failure. Units with kinks in f' or f'' (ReLU,
    // LeakyReLU, ELU, Softplus's threshold) fail differences that straddle one; those are checked unit by unit above,
    // through every layer by PyTorch's double backward (test_network_parity.cpp), and the network's wiring, the same
    // for every unit, here. Seeds: parameters s, states 1000 + s, the checker's directions 0.
    ebm::gradient_check_options options;
    options.input_step = 1e-2;
    options.hessian_step = 1e-2;
    for (const auto& [label, a] : std::vector<std::pair<const char*, l::activation>>{
             {"SiLU", l::silu()}, {"GELU", l::gelu()}, {"Tanh", l::tanh()}}) {
        const std::string name = label;
        for (std::uint64_t s = 0; s < 8; ++s) {
            CAPTURE(name);
            CAPTURE(s);
            ebm::network net(small_net(a), ebm::seed{s});
            const ebm::batch x = uniform_batch(net.dimension(), 6, 1000 + s);
            const std::vector<float> w{0.5f, 0.3f, 0.1f, -0.1f, -0.3f, -0.5f};
            const ebm::gradient_check_result r = ebm::check_gradients(net, x.view(), w, options);
            if (s == 0) std::printf("%-5s %s", name.c_str(), r.report().c_str());
            CHECK(r.input_checks > 0);
            CHECK(r.parameter_checks > 0);
            CHECK(r.hessian_checks > 0);
            CHECK(r.worst_hessian_error > 0);  // not trivially zero
            CHECK_MESSAGE(r.passed(), r.report());
        }
    }
}

TEST_CASE("network: a unit applied to the input itself - dU/dx, dU/dtheta and (d2U/dx2) v against central differences") {
    // The tangent pass reads the unit's input, the chains' x (a null pointer before the fix that added this case).
    // Seeds: parameters 20 + s, states 1020 + s; steps as above.
    ebm::gradient_check_options options;
    options.input_step = 1e-2;
    options.hessian_step = 1e-2;
    const ebm::network_spec spec{
        .input = {2, 5, 5},
        .layers = {l::tanh(), l::conv2d{.in_channels = 2, .out_channels = 3, .kernel_size = 3}, l::silu(), l::flatten{},
                   l::linear{.in_features = 27, .out_features = 1}}};
    for (std::uint64_t s = 0; s < 8; ++s) {
        CAPTURE(s);
        ebm::network net(spec, ebm::seed{20 + s});
        const ebm::batch x = uniform_batch(net.dimension(), 4, 1020 + s);
        const std::vector<float> w{0.5f, -0.25f, 0.75f, 1.0f};
        const ebm::gradient_check_result r = ebm::check_gradients(net, x.view(), w, options);
        CHECK(r.hessian_checks > 0);
        CHECK(r.worst_hessian_error > 0);
        CHECK_MESSAGE(r.passed(), r.report());
    }
}

TEST_CASE("network: the Hessian-vector product of a piecewise-linear network is exactly zero (ReLU, LeakyReLU)") {
    for (const l::activation& a : {l::relu(), l::leaky_relu(0.1f)}) {
        const ebm::network net(small_net(a), ebm::seed{7});
        CHECK(net.piecewise_linear());
        const ebm::batch x = uniform_batch(net.dimension(), 6, 8), v = uniform_batch(net.dimension(), 6, 10);
        ebm::batch hv(net.dimension(), 6);
        auto ws = net.make_workspace(6);
        net.hessian_vector_product(x, v, hv, ws);
        for (float h : hv.view().values()) CHECK(h == 0.0f);
    }
}

TEST_CASE("network: residual blocks (identity and 1x1 skip, downsample), strides, overlapping pools - central differences") {
    const ebm::network_spec spec{
        .input = {3, 9, 9},
        .layers = {l::conv2d{.in_channels = 3, .out_channels = 4, .kernel_size = 3, .stride = 2, .padding = 1},  // 5x5
                   l::residual_block{.in_channels = 4, .out_channels = 4, .activation = l::silu().function},
                   l::residual_block{.in_channels = 4, .out_channels = 6, .kernel_size = 5,
                                     .activation = l::tanh().function, .downsample = true},  // 2x2
                   l::avg_pool2d{.kernel_size = 2, .stride = 1},                              // 1x1
                   l::flatten{},
                   l::linear{.in_features = 6, .out_features = 1}},
        .negate = true};
    // Overlapping average pools (stride < kernel) add into their inputs' gradients.
    const ebm::network_spec pools{.input = {2, 7, 7},
                                  .layers = {l::avg_pool2d{.kernel_size = 3, .stride = 2}, l::gelu(),
                                             l::conv2d{.in_channels = 2, .out_channels = 1, .kernel_size = 3}}};
    ebm::gradient_check_options options;  // steps as in the test above
    options.input_step = 1e-2;
    options.hessian_step = 1e-2;
    for (std::uint64_t s = 0; s < 8; ++s) {  // parameters s, states 2000 + s
        CAPTURE(s);
        ebm::network net(spec, ebm::seed{s}), pooled(pools, ebm::seed{s});
        const ebm::gradient_check_result r = ebm::check_gradients(
            net, uniform_batch(net.dimension(), 5, 2000 + s).view(), std::vector<float>{1.0f, -0.5f, 0.25f, 2.0f, -1.0f},
            options);
        if (s == 0) std::printf("residual %s", r.report().c_str());
        CHECK(r.hessian_checks > 0);
        CHECK(r.worst_hessian_error > 0);
        CHECK_MESSAGE(r.passed(), r.report());
        const auto rp = ebm::check_gradients(pooled, uniform_batch(pooled.dimension(), 3, 2000 + s).view(),
                                             std::vector<float>{1.0f, 0.5f, -1.0f}, options);
        CHECK_MESSAGE(rp.passed(), rp.report());
    }
}

TEST_CASE("network: a non-local block's parameter names") {
    // Its derivatives: dU/dx and dU/dtheta of the NonlocalNet preset against central differences of a double-precision
    // reference (tests/convnet, nonlocal_net), (d2U/dx2) v by the symmetry test below and PyTorch's double backward
    // (test_network_parity.cpp). Differences of float values cannot check it robustly: its max-pooled g and phi put
    // kinks everywhere, and its gradients carry rounding from cancelling terms.
    const ebm::network net({.input = {2, 6, 6},
                            .layers = {l::conv2d{.in_channels = 2, .out_channels = 4, .kernel_size = 3, .padding = 1},
                                       l::tanh(), l::nonlocal_block{4}, l::avg_pool2d{.kernel_size = 3}, l::silu(),
                                       l::flatten{}, l::linear{.in_features = 16, .out_features = 1}}});
    CHECK(names_of(net) == std::vector<std::string>{"0.weight", "0.bias", "2.g.0.weight", "2.g.0.bias", "2.W.weight",
                                                    "2.W.bias", "2.theta.weight", "2.theta.bias", "2.phi.0.weight",
                                                    "2.phi.0.bias", "6.weight", "6.bias"});
    CHECK(!net.piecewise_linear());
    const auto p = net.parameters();  // the output projection starts at zero: the block is the identity
    for (const auto& t : net.parameter_tensors())
        if (t.name.starts_with("2.W."))
            for (ebm::index k = 0; k < t.count(); ++k) CHECK(p[static_cast<std::size_t>(t.offset + k)] == 0.0f);
}

TEST_CASE("network: the Hessian-vector product is symmetric and linear in v (GELU net, non-local block)") {
    ebm::network with_block({.input = {2, 6, 6},
                             .layers = {l::conv2d{.in_channels = 2, .out_channels = 4, .kernel_size = 3, .padding = 1},
                                        l::nonlocal_block{4}, l::max_pool2d{.kernel_size = 2}, l::flatten{},
                                        l::linear{.in_features = 36, .out_features = 1}}},
                            ebm::seed{35});
    for (const auto& t : with_block.parameter_tensors())  // switch the output projection on (seed 36)
        if (t.name.starts_with("1.W."))
            ebm::fill_uniform(ebm::philox(36), ebm::purpose::user, 0, static_cast<std::uint32_t>(t.offset),
                              with_block.parameters().data() + t.offset, t.count(), -0.5f, 0.5f);
    for (const ebm::network& net : {ebm::network(small_net(l::gelu()), ebm::seed{31}), with_block}) {
        const ebm::index n = 4, d = net.dimension();
        const ebm::batch x = uniform_batch(d, n, 32), a = uniform_batch(d, n, 33), b = uniform_batch(d, n, 34);
        ebm::batch ha(d, n), hb(d, n), hab(d, n), sum(d, n);
        for (ebm::index k = 0; k < d * n; ++k) sum.view().data[k] = 2.0f * a.view().data[k] + b.view().data[k];
        auto ws = net.make_workspace(n);
        net.hessian_vector_product(x, a, ha, ws);
        net.hessian_vector_product(x, b, hb, ws);
        net.hessian_vector_product(x, sum, hab, ws);
        for (ebm::index i = 0; i < n; ++i) {
            double ahb = 0, bha = 0, terms = 0, lin = 0, scale = 0;
            for (ebm::index k = 0; k < d; ++k) {
                ahb += double(a.chain(i)[k]) * hb.chain(i)[k];
                bha += double(b.chain(i)[k]) * ha.chain(i)[k];
                terms += std::abs(double(a.chain(i)[k]) * hb.chain(i)[k]);
                lin = std::max(lin, std::abs(double(hab.chain(i)[k]) - 2.0 * ha.chain(i)[k] - hb.chain(i)[k]));
                scale = std::max(scale, std::abs(double(hab.chain(i)[k])));
            }
            CHECK(terms > 0);
            CHECK(std::abs(ahb - bha) <= 1e-5 * terms);
            CHECK(lin <= 1e-5 * scale);
        }
    }
}

TEST_CASE("network: 1 thread and 2 threads give the same bits (energies, dU/dx, dU/dtheta, Hv)") {
#if defined(_OPENMP)
    const ebm::network_spec spec{
        .input = {2, 8, 8},
        .layers = {l::conv2d{.in_channels = 2, .out_channels = 4, .kernel_size = 3, .padding = 1}, l::silu(),
                   l::residual_block{.in_channels = 4, .out_channels = 4, .activation = l::elu().function,
                                     .downsample = true},
                   l::flatten{}, l::linear{.in_features = 64, .out_features = 1}}};
    const ebm::index n = 13;  // blocks of 4 chains: three whole blocks and a tail
    const auto run = [&](int threads) {
        const int saved = omp_get_max_threads();
        omp_set_num_threads(threads);
        const ebm::network net(spec, ebm::seed{41});
        const ebm::index d = net.dimension();
        const ebm::batch x = uniform_batch(d, n, 42), v = uniform_batch(d, n, 43);
        auto ws = net.make_workspace(n);
        CHECK(ws.threads.size() == static_cast<std::size_t>(threads));
        std::vector<float> u(n), out;
        ebm::batch g(d, n), hv(d, n);
        net.energy_and_gradient(x, u, g, ws);
        out.insert(out.end(), u.begin(), u.end());
        out.insert(out.end(), g.view().data, g.view().data + d * n);
        std::vector<float> w(n), theta(static_cast<std::size_t>(net.parameter_count()), 0.125f);
        for (ebm::index i = 0; i < n; ++i) w[static_cast<std::size_t>(i)] = (i % 3 == 0 ? -1.0f : 1.0f) / static_cast<float>(n);
        net.accumulate_parameter_gradient(x, w, theta, u, ws);
        out.insert(out.end(), theta.begin(), theta.end());
        net.hessian_vector_product(x, v, hv, ws);
        out.insert(out.end(), hv.view().data, hv.view().data + d * n);
        omp_set_num_threads(saved);
        return out;
    };
    const auto one = run(1), two = run(2);
    REQUIRE(one.size() == two.size());
    CHECK(std::memcmp(one.data(), two.data(), sizeof(float) * one.size()) == 0);
#else
    FAIL("this test needs OpenMP: the build should have it (the thread promise is the README's)");
#endif
}

TEST_CASE("network: bad descriptions are rejected with the layer's path, field and value") {
    struct bad_case {
        const char* json;
        std::vector<const char*> parts;
    };
    const std::vector<bad_case> cases = {
        {R"({"input": [3, 8, 8], "layers": [{"type": "Conv2d", "in_channels": 4, "out_channels": 2, "kernel_size": 3}]})",
         {"layers[0] (Conv2d)", "in_channels must equal the channels of its input [3, 8, 8]", "(got 4)"}},
        {R"({"input": [3, 8, 8], "layers": [{"type": "Conv2d", "in_channels": 3, "out_channels": 2, "kernal_size": 3}]})",
         {"layers[0] (Conv2d)", "unknown field 'kernal_size'"}},
        {R"({"input": [3, 8, 8], "layers": [{"type": "Conv2d", "in_channels": 3, "out_channels": 2}]})",
         {"layers[0] (Conv2d)", "field 'kernel_size' is required"}},
        {R"({"input": [3, 8, 8], "layers": [{"type": "Conv2d", "in_channels": 3, "out_channels": 2, "kernel_size": -3}]})",
         {"field 'kernel_size' must be a positive integer", "(got '-3')"}},
        {R"({"input": [3, 8, 8], "layers": [{"type": "Conv2d", "in_channels": 3, "out_channels": 2, "kernel_size": [3, 5]}]})",
         {"field 'kernel_size' must be a number or a pair of equal numbers", "[3,5]"}},
        {R"({"input": [3, 8, 8], "layers": [{"type": "Conv2d", "in_channels": 3, "out_channels": 2, "kernel_size": 3, "groups": 3}]})",
         {"field 'groups' is only supported as 1", "(got '3')"}},
        {R"({"input": [3, 8, 8], "layers": [{"type": "Conv2d", "in_channels": 3, "out_channels": 2, "kernel_size": 9}]})",
         {"layers[0] (Conv2d)", "kernel_size is larger than its padded input [3, 8, 8]", "(got 9)"}},
        {R"({"input": [3, 8, 8], "layers": [{"type": "Flatten"}, {"type": "Linear", "in_features": 100, "out_features": 1}]})",
         {"layers[1] (Linear)", "in_features must equal the size of its input [192]", "(got 100)"}},
        {R"({"input": [3, 8, 8], "layers": [{"type": "Linear", "in_features": 192, "out_features": 1}]})",
         {"layers[0] (Linear)", "needs a flat input", "add a Flatten"}},
        {R"({"input": [3, 8, 8], "layers": [{"type": "BatchNorm2d", "num_features": 3}]})",
         {"layers[0]", "unknown layer type 'BatchNorm2d'"}},
        {R"({"input": [3, 8, 8], "layers": [{"type": "Sequential", "layers": [{"type": "ReLU"}, {"type": "Swish"}]}]})",
         {"layers[0].layers[1]", "unknown layer type 'Swish'"}},
        {R"({"input": [3, 8, 8], "layers": [{"type": "Sequential", "layers": [{"type": "Conv2d", "in_channels": 3,
             "out_channels": 2, "kernel_size": 3}, {"type": "MaxPool2d", "kernel_size": 7}]}]})",
         {"layers[0].layers[1] (MaxPool2d)", "kernel_size is larger than its input [2, 6, 6]", "(got 7)"}},
        {R"({"input": [3, 8, 8], "layers": [{"type": "Conv2d", "in_channels": 3, "out_channels": 2, "kernel_size": 3}]})",
         {"the network must end in one value per chain", "[2, 6, 6]", "(got 72)"}},
        {R"({"input": [3, 8, 8], "layers": [{"type": "ResidualBlock", "in_channels": 3, "out_channels": 4,
             "activation": {"type": "Conv2d"}}]})",
         {"layers[0] (ResidualBlock)", "field 'activation' must be an activation"}},
        {R"({"input": [3, 8, 8], "layers": [{"type": "ResidualBlock", "in_channels": 3, "out_channels": 4, "kernel_size": 4}]})",
         {"layers[0] (ResidualBlock)", "kernel_size must be odd", "(got 4)"}},
        {R"({"input": [3, 8, 8], "layers": [{"type": "LeakyReLU", "negative_slope": "0.2"}]})",
         {"layers[0] (LeakyReLU)", "field 'negative_slope' must be a number", "\"0.2\""}},
        {R"({"input": [3, 8, 8], "layers": [{"type": "GELU", "approximate": "tanh"}]})",
         {"layers[0] (GELU)", "field 'approximate' is only supported as \"none\""}},
        {R"({"input": [3, 8, 8], "layers": [{"type": "Softplus", "beta": 0}]})",
         {"layers[0] (Softplus)", "beta must be finite and > 0"}},
        {R"({"input": [3, 8, 8], "layers": [{"type": "ReLU", "name": "a.b"}]})", {"field 'name' must be a non-empty string"}},
        {R"({"input": [3, 8], "layers": [{"type": "ReLU"}]})", {"input must be [C, H, W] or [D]", "[3,8]"}},
        {R"({"input": [3, 8, 8], "layers": []})", {"layers must be a non-empty array"}},
        {R"({"input": [3, 8, 8], "layers": [{"type": "ReLU"}], "negative": true})", {"unknown top-level field 'negative'"}},
        {R"({"layers": [{"type": "ReLU"}]})", {"missing field 'input'"}},
        {R"({"input": [1, 1, 1], "layers": [{"type": "Flatten"}]})", {"the network computes nothing"}},
        {R"({"input": [1, 65536, 65536], "layers": [{"type": "Conv2d", "in_channels": 1, "out_channels": 2,
             "kernel_size": 1}]})",
         {"a layer's output would hold 2^31 or more values per chain", "[2, 65536, 65536]"}},
        {R"([1, 2])", {"the description must be a JSON object"}},
        {R"({"input": [4], "layers": [{"type": "AvgPool2d", "kernel_size": 2}]})",
         {"layers[0] (AvgPool2d)", "needs an image input [C, H, W]; it gets a flat one [4]"}},
        {R"({"input": [3, 4, 4], "layers": [{"type": "ResidualBlock", "in_channels": 3, "out_channels": 3,
             "downsample": true}, {"type": "ResidualBlock", "in_channels": 3, "out_channels": 3, "downsample": true},
             {"type": "ResidualBlock", "in_channels": 3, "out_channels": 3, "downsample": true}]})",
         {"layers[2] (ResidualBlock)", "downsample needs an input of at least 2 x 2"}},
    };
    for (const bad_case& c : cases) {
        const std::string message = ebm_test::message_of([&] { (void)ebm::network_spec_from_json(nlohmann::json::parse(c.json)); });
        CAPTURE(c.json);
        CAPTURE(message);
        CHECK(message.starts_with("ebm::"));
        for (const char* part : c.parts) CHECK_MESSAGE(contains(message, part), part);
    }
    // The same checks guard the C++ description.
    const std::string message = ebm_test::message_of([] {
        ebm::network net({.input = {1, 4, 4}, .layers = {l::flatten{}, l::linear{.in_features = 15, .out_features = 1}}});
    });
    CHECK(contains(message, "ebm::network: layers[1] (Linear): in_features must equal the size of its input [16] (got 15)"));
}

TEST_CASE("network: load_network_spec names the file it cannot open or parse") {
    const std::filesystem::path folder = std::filesystem::temp_directory_path() / "ebm_network_spec_test";
    std::filesystem::create_directories(folder);
    const auto write = [&](const char* name, const char* text) {
        std::ofstream(folder / name) << text;
        return folder / name;
    };
    CHECK(contains(ebm_test::message_of([&] { (void)ebm::load_network_spec(folder / "missing.json"); }), "cannot open"));
    const auto broken = write("broken.json", R"({"input": [1, 4, 4], "layers": [{"type": "ReLU"},]})");
    const std::string message = ebm_test::message_of([&] { (void)ebm::load_network_spec(broken); });
    CHECK(contains(message, "broken.json is not valid JSON"));
    // A number beyond double is nlohmann's out_of_range, not a parse_error (found by tests/fuzz/network_fuzz.cpp).
    const auto overflow = write("overflow.json", R"({"input": [1e4444], "layers": []})");
    CHECK(contains(ebm_test::message_of([&] { (void)ebm::load_network_spec(overflow); }), "overflow.json is not valid JSON"));
    const auto good = write("good.json", R"({"input": [1, 4, 4], "negate": true, "layers": [{"type": "Flatten"},
        {"type": "Linear", "in_features": 16, "out_features": 1, "bias": false}]})");
    const ebm::network net(ebm::load_network_spec(good));
    CHECK(net.negated());
    CHECK(names_of(net) == std::vector<std::string>{"1.weight"});
    std::filesystem::remove_all(folder);
}

TEST_CASE("network: safetensors round trip under PyTorch's names - wrong names or shapes rejected whole") {
    const ebm::network_spec spec = small_net(l::silu());
    const ebm::network a(spec, ebm::seed{51});
    ebm::network b(spec, ebm::seed{52});
    const std::filesystem::path file = std::filesystem::temp_directory_path() / "ebm_network_weights.safetensors";
    ebm::io::save_parameters(a, file);
    ebm::io::load_parameters(b, file);
    CHECK(std::memcmp(a.parameters().data(), b.parameters().data(), sizeof(float) * static_cast<std::size_t>(a.parameter_count())) == 0);

    // A network whose second linear layer is wider: the file's "4.weight" has the wrong shape; nothing is loaded.
    ebm::network_spec wider = spec;
    wider.layers[4] = l::linear{.in_features = 27, .out_features = 6};
    wider.layers[6] = l::linear{.in_features = 6, .out_features = 1};
    ebm::network c(wider, ebm::seed{53});
    const std::vector<float> before(c.parameters().begin(), c.parameters().end());
    const std::string message = ebm_test::message_of([&] { ebm::io::load_parameters(c, file); });
    CHECK(contains(message, "tensor '4.weight'"));
    CHECK(contains(message, "[6, 27]"));
    CHECK(std::equal(before.begin(), before.end(), c.parameters().begin()));
    // Named differently (a named head): the missing name is reported.
    ebm::network_spec named = spec;
    named.layers[6].name = "head";
    ebm::network d(named);
    CHECK(contains(ebm_test::message_of([&] { ebm::io::load_parameters(d, file); }), "tensor 'head.weight'"));
    std::filesystem::remove(file);
}

TEST_CASE("network: calls with the wrong shapes name the argument") {
    const ebm::network net(small_net(l::tanh()));
    auto ws = net.make_workspace(2);
    ebm::batch x(net.dimension(), 3), wrong(net.dimension() - 1, 2), g(net.dimension(), 2);
    std::vector<float> u(3);
    CHECK(contains(ebm_test::message_of([&] { net.energy(x, u, ws); }), "more chains than the workspace capacity 2"));
    CHECK(contains(ebm_test::message_of([&] { net.energy(wrong, u, ws); }), "x dimension must equal the network's input [2, 6, 6] = 72"));
    CHECK(contains(ebm_test::message_of([&] { net.energy_and_gradient(x.view().chains(0, 2), u, wrong.view(), ws); }),
                   "grad must have the shape of x"));
    std::vector<float> w(1), theta(static_cast<std::size_t>(net.parameter_count()));
    CHECK(contains(ebm_test::message_of([&] { net.accumulate_parameter_gradient(x.view().chains(0, 2), w, theta, u, ws); }),
                   "weights must have one entry per chain"));
    CHECK(contains(ebm_test::message_of([] { (void)ebm::network(ebm::network_spec{}).make_workspace(1); }), "input must be"));
    CHECK(contains(ebm_test::message_of([&] { (void)net.make_workspace(0); }), "max_chains must be > 0"));
}
