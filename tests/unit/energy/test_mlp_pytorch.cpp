// mlp against PyTorch 1.13 (Debian's python3-torch, float32) on the same weights and inputs: a {2, 4, 4, 1} net
// with LeakyReLU(0.05) loaded into nn.Sequential(Linear, LeakyReLU, Linear, LeakyReLU, Linear) from the flat vector
// in state_dict order (0.weight, 0.bias, 2.weight, 2.bias, 4.weight, 4.bias). The reference values embedded here are
// printed by tests/unit/torch/mlp_reference.py (torch.autograd: U, dU/dx of sum U, and d(sum w U)/dtheta); the ctest
// entry torch_reference:mlp reruns it and checks that they still equal what is embedded.
#include <doctest/doctest.h>

#include <ebm/energy/mlp.hpp>

#include <algorithm>
#include <vector>

namespace {
// clang-format off
const std::vector<float> parameters = {
    -0x1.b2a87cp-3f, 0x1.baa790p-3f, -0x1.2d41d4p-1f, -0x1.5c13e2p-1f,
    0x1.07d970p-3f, 0x1.13f474p-2f, 0x1.0eabb8p-2f, 0x1.62caa2p-1f,
    0x1.30fd5ap-1f, 0x1.67c13ep-1f, 0x1.e3d11cp-2f, 0x1.cec44cp-2f,
    0x1.333d94p-2f, -0x1.f27f00p-8f, 0x1.f44430p-4f, 0x1.d660f0p-4f,
    0x1.3c7ad0p-4f, -0x1.e167b4p-2f, -0x1.ac346cp-2f, -0x1.8eb454p-2f,
    0x1.5e33fcp-2f, 0x1.a446a4p-2f, -0x1.9cc4b8p-3f, -0x1.bcaab8p-3f,
    0x1.928600p-9f, -0x1.868278p-3f, -0x1.c1e6b0p-4f, 0x1.bc2a98p-3f,
    -0x1.683314p-2f, 0x1.402924p-2f, -0x1.c91164p-2f, 0x1.5d20f8p-3f,
    -0x1.b8cce4p-2f, 0x1.9810a4p-2f, -0x1.2d059cp-2f, -0x1.bc98f8p-3f,
    -0x1.a21660p-5f,
};
const std::vector<float> energies = {
    -0x1.526f60p-4f, -0x1.3d1eacp-4f, -0x1.6db792p-3f,
};
const std::vector<float> state_gradient = {
    0x1.ac8e3cp-4f, 0x1.445576p-4f, -0x1.4856acp-6f, -0x1.06092cp-3f,
    -0x1.e250c0p-9f, -0x1.bea502p-4f,
};
const std::vector<float> parameter_gradient = {
    -0x1.9c59e4p-3f, -0x1.612e80p-6f, -0x1.968562p-6f, 0x1.406304p-4f,
    -0x1.094feap-5f, -0x1.b4a898p-5f, -0x1.0e6624p-3f, -0x1.164518p-4f,
    -0x1.e90f3ep-4f, -0x1.1f2e04p-4f, 0x1.f7f2b8p-8f, -0x1.938a7cp-5f,
    -0x1.25c3eep-4f, 0x1.8941d8p-4f, -0x1.02d4a8p-2f, -0x1.c4d410p-2f,
    0x1.61a364p-8f, 0x1.e932a6p-8f, 0x1.bd6940p-7f, 0x1.4d2c2ep-6f,
    -0x1.1b90e4p-5f, -0x1.731986p-3f, -0x1.36f592p-5f, -0x1.ab02d2p-7f,
    -0x1.284bc2p-5f, 0x1.8ca514p-5f, -0x1.050f70p-3f, -0x1.c8baa8p-3f,
    -0x1.ced724p-3f, 0x1.4673b8p-6f, -0x1.3c12b0p-3f, -0x1.d2d3d0p-4f,
    0x1.d07efcp-5f, -0x1.ae3c8cp-6f, 0x1.7d425ep-6f, 0x1.29d18cp-2f,
    0x1.p+0f,
};
// clang-format on
}  // namespace

TEST_CASE("mlp matches PyTorch's nn.Sequential on the same weights: energies, dU/dx, weighted parameter gradient") {
    ebm::mlp net({2, 4, 4, 1}, ebm::leaky_relu{0.05f});
    REQUIRE(net.parameter_count() == static_cast<ebm::index>(parameters.size()));
    std::copy(parameters.begin(), parameters.end(), net.parameters().begin());
    const std::vector<float> x = {0.5f, -1.25f, -0.75f, 0.375f, 1.5f, 1.0f};
    const std::vector<float> w = {0.5f, -0.25f, 0.75f};
    const ebm::const_batch_view xv(x.data(), 2, 3);
    auto ws = net.make_workspace(3);
    std::vector<float> u(3), g(6), grad(parameters.size(), 0.0f), u2(3);
    net.energy_and_gradient(xv, u, ebm::batch_view{g.data(), 2, 3}, ws);
    net.accumulate_parameter_gradient(xv, w, grad, u2, ws);
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(u[i] == doctest::Approx(energies[i]).epsilon(1e-6));
        CHECK(u2[i] == doctest::Approx(energies[i]).epsilon(1e-6));
    }
    for (std::size_t k = 0; k < 6; ++k) CHECK(g[k] == doctest::Approx(state_gradient[k]).epsilon(1e-6).scale(1e-6));
    for (std::size_t k = 0; k < grad.size(); ++k) {
        INFO("parameter " << k);
        CHECK(grad[k] == doctest::Approx(parameter_gradient[k]).epsilon(1e-6).scale(1e-6));
    }
}
