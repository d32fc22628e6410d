// The device network's engine (backend/network_gemm.hpp: im2col and strided-batched GEMMs with cuBLAS's column-major
// semantics, the per-element functors of kernels/) run on the host with a plain-loop GEMM in double, against
// ebm::network on blocks of chains: energies, dU/dx, the weighted parameter gradient and the Hessian-vector product
// for every operation kind (convolutions with stride, padding, 1x1 and without bias; Linear on a flat input and after
// a Flatten; every unit; average and overlapping max pools; residual blocks with and without skip; the non-local
// block; a negated output), with the whole batch in one im2col chunk and in chunks of 1 and 2 chains. The CUDA network runs exactly this code
// with cuBLAS and kernel launches.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <ebm/backend/network_gemm.hpp>
#include <ebm/energy/network.hpp>
#include <ebm/energy/network_presets.hpp>
#include <ebm/random/distributions.hpp>

#include "common/host_blas.hpp"
#include "common/network_gemm_host.hpp"
#include "common/torch_support.hpp"

namespace {

namespace l = ebm::layers;
namespace ng = ebm::network_gemm;
using idx = ebm::index;

using host_plan = ebm_test::network_gemm_host;

/// max |a - b| / max(1, max |b|).
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    double diff = 0.0, scale = 1.0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
        scale = std::max(scale, std::abs(static_cast<double>(b[i])));
    }
    return diff / scale;
}

/// The engine against ebm::network (blocks of chains) on `chains` random inputs, random parameters (seed) and
/// weights, for column budgets of one chain, two chains and the whole batch.
void compare(const char* name, const ebm::network_spec& spec, idx chains, std::uint64_t seed_value) {
    ebm::network net(spec, ebm::seed{seed_value}, ebm::network_execution::blocks);
    {  // random weights everywhere (the non-local output projections start at zero otherwise)
        auto theta = net.parameters();
        ebm::fill_uniform(ebm::philox(seed_value + 1), ebm::purpose::user, 0, 0, theta.data(), net.parameter_count(),
                          -0.4f, 0.4f);
    }
    const ebm::network_layout& layout = net.layout();
    const idx d = net.dimension();
    const ebm::batch x = ebm_test::uniform_batch(d, chains, seed_value + 2);
    const ebm::batch v = ebm_test::uniform_batch(d, chains, seed_value + 3);
    std::vector<float> weights(static_cast<std::size_t>(chains));
    for (idx j = 0; j < chains; ++j) weights[static_cast<std::size_t>(j)] = 0.5f + 0.25f * static_cast<float>(j % 3);

    auto ws = net.make_workspace(chains);
    std::vector<float> u(static_cast<std::size_t>(chains)), g(static_cast<std::size_t>(d * chains));
    std::vector<float> grad(static_cast<std::size_t>(net.parameter_count()), 0.25f), u2(u.size());
    ebm::batch gx(d, chains);
    net.energy_and_gradient(x.view(), u, gx.view(), ws);
    net.accumulate_parameter_gradient(x.view(), weights, grad, u2, ws);
    const std::vector<float> g_ref(gx.data(), gx.data() + d * chains);
    ebm::batch hv(d, chains);
    net.hessian_vector_product(x.view(), v.view(), hv.view(), ws);
    const std::vector<float> hv_ref(hv.data(), hv.data() + d * chains);

    idx largest_chunk_rows = 1;
    for (const ebm::network_op& op : layout.ops)
        if (op.kind == ebm::network_op_kind::conv2d)
            largest_chunk_rows = std::max(largest_chunk_rows, op.columns_rows() * op.out.plane());
    const ebm_test::host_ops ops;
    const std::vector<float> parameters(net.parameters().begin(), net.parameters().end());
    for (const idx budget : {idx{1}, 2 * largest_chunk_rows, idx{1} << 30}) {
        CAPTURE(name);
        CAPTURE(budget);
        host_plan hp(layout, chains, budget);
        std::vector<float> u_e(u.size(), -9.0f), g_e(g.size(), -9.0f), grad_e(grad.size(), 0.25f), u_e2(u.size(), -9.0f);
        ng::forward(layout, hp.p, hp.b, ops, parameters.data(), x.data(), u_e.data());
        ng::backward(layout, hp.p, hp.b, ops, parameters.data(), x.data(), nullptr, nullptr, g_e.data());
        ng::forward(layout, hp.p, hp.b, ops, parameters.data(), x.data(), u_e2.data());
        ng::backward(layout, hp.p, hp.b, ops, parameters.data(), x.data(), weights.data(), grad_e.data(), nullptr);
        std::vector<float> hv_e(hv_ref.size(), -9.0f);
        ng::hessian_vector_product(layout, hp.p, hp.b, ops, parameters.data(), x.data(), v.data(), hv_e.data());
        const double eu = relative_error(u_e, u), eg = relative_error(g_e, g_ref), ep = relative_error(grad_e, grad);
        const double eh = relative_error(hv_e, hv_ref);
        std::printf("network_gemm %-44s budget %-10lld energy %.1e  dU/dx %.1e  dU/dtheta %.1e  Hv %.1e\n", name,
                    static_cast<long long>(budget), eu, eg, ep, eh);
        CHECK(eu < 2e-5);
        CHECK(eg < 2e-5);
        CHECK(ep < 2e-5);
        CHECK(eh < 2e-5);
        CHECK(u_e2 == u_e);  // the same energies from the parameter-gradient call
    }
}

l::conv2d conv(idx in, idx out, idx k, idx stride = 1, idx padding = 0, bool bias = true) {
    return l::conv2d{.in_channels = in, .out_channels = out, .kernel_size = k, .stride = stride, .padding = padding,
                     .bias = bias};
}

}  // namespace

TEST_CASE("network_gemm == ebm::network: fully connected nets (flat input, every unit, no bias)") {
    compare("MLP LeakyReLU", ebm::mlp_network({2, 16, 16, 1}, 0.2f), 5, 11);
    compare("Linear + SiLU, GELU, no bias",
            {.input = {7},
             .layers = {l::linear{.in_features = 7, .out_features = 9}, l::silu(),
                        l::linear{.in_features = 9, .out_features = 6, .bias = false}, l::gelu(),
                        l::linear{.in_features = 6, .out_features = 1}}},
            4, 12);
    compare("Tanh, Sigmoid, Softplus, ELU, negated",
            {.input = {5},
             .layers = {l::linear{.in_features = 5, .out_features = 8}, l::tanh(),
                        l::linear{.in_features = 8, .out_features = 8}, l::sigmoid(),
                        l::linear{.in_features = 8, .out_features = 8}, l::softplus(2.0f, 3.0f),
                        l::linear{.in_features = 8, .out_features = 8}, l::elu(0.7f),
                        l::linear{.in_features = 8, .out_features = 1}},
             .negate = true},
            3, 13);
}

TEST_CASE("network_gemm == ebm::network: convolutions (stride, padding, 1x1, no bias), pools, Flatten + Linear") {
    compare("conv s2 p1, 1x1, conv without bias",
            {.input = {3, 9, 9},
             .layers = {conv(3, 5, 3, 2, 1), l::leaky_relu(0.1f), conv(5, 4, 1), l::relu(), conv(4, 6, 2, 1, 0, false),
                        l::elu(), l::flatten{}, l::linear{.in_features = 6 * 4 * 4, .out_features = 1}}},
            5, 21);
    compare("avg pool, overlapping max pool, SiLU",
            {.input = {2, 10, 10},
             .layers = {conv(2, 4, 3, 1, 1), l::silu(), l::avg_pool2d{.kernel_size = 2}, conv(4, 6, 3, 1, 1), l::gelu(),
                        l::max_pool2d{.kernel_size = 3, .stride = 2}, l::flatten{},
                        l::linear{.in_features = 6 * 2 * 2, .out_features = 3}, l::tanh(),
                        l::linear{.in_features = 3, .out_features = 1}}},
            4, 22);
    compare("a unit on the input, max pool stride 1",
            {.input = {1, 6, 6},
             .layers = {l::softplus(), l::max_pool2d{.kernel_size = 2, .stride = 1}, conv(1, 3, 3), l::sigmoid(),
                        conv(3, 1, 3)}},
            3, 23);
    compare("short-run 32 px (n_f 4), negated", ebm::short_run_network(32, 4, 3, 0.2f, true), 3, 24);
    compare("VanillaNet (n_f 4)", ebm::vanilla_network(3, 4), 2, 25);
}

TEST_CASE("network_gemm == ebm::network: residual blocks and the non-local block") {
    compare("residual blocks (skip, identity, downsample)",
            {.input = {2, 8, 8},
             .layers = {l::residual_block{.in_channels = 2, .out_channels = 4, .downsample = true},
                        l::residual_block{.in_channels = 4, .out_channels = 4,
                                          .activation = {ebm::kernels::activation_kind::silu}},
                        l::flatten{}, l::linear{.in_features = 4 * 4 * 4, .out_features = 1}}},
            3, 31);
    compare("non-local block",
            {.input = {3, 8, 8},
             .layers = {conv(3, 4, 3, 1, 1), l::leaky_relu(0.05f), l::nonlocal_block{.channels = 4}, conv(4, 2, 4, 2, 1),
                        l::leaky_relu(0.05f), conv(2, 1, 4)}},
            3, 32);
    compare("the Anatomy non-local net (n_f 4)", ebm::nonlocal_network(3, 4), 2, 33);
}

TEST_CASE("network_gemm::make_plan: bad arguments and extents beyond 32-bit indexing are clear errors") {
    const ebm::network net(ebm::short_run_network(32, 4, 3));
    CHECK_THROWS_WITH_AS(ng::make_plan(net.layout(), 0, 1 << 20), doctest::Contains("network_gemm::make_plan: chains"),
                         ebm::error);
    CHECK_THROWS_WITH_AS(ng::make_plan(net.layout(), 4, 0),
                         doctest::Contains("network_gemm::make_plan: column_budget"), ebm::error);
    CHECK_THROWS_WITH_AS(ng::make_plan(net.layout(), idx{1} << 22, idx{1} << 30),
                         doctest::Contains("exceed 2^31 elements"), ebm::error);
    const ng::plan p = ng::make_plan(net.layout(), 10, 3 * 3 * 3 * 32 * 32 * 4);
    CHECK(p.chunk.front() == 4);  // the first convolution's im2col matrix: 4 chains within the budget
}
