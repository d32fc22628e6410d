// The GPU convnet's default engine (backend/convolution_gemm.hpp: im2col, GEMMs with cuBLAS's column-major
// semantics, col2im fused with LeakyReLU') run on the host with a plain-loop GEMM in double, against the oneDNN
// convnet: energies, dU/dx and the weighted parameter gradient, with one chunk and with chunks of 1 and 2 chains
// (a column budget that splits the batch), for odd shapes (stride 2 and 3, padding 0-2, 3 channels) and the
// short-run and VanillaNet presets. The CUDA build runs exactly this code with cuBLAS and launch_elements.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <span>
#include <vector>

#include <ebm/backend/convolution_gemm.hpp>
#include <ebm/energy/convnet.hpp>
#include <ebm/random/distributions.hpp>

#include "common/host_blas.hpp"

namespace cg = ebm::convolution_gemm;
using idx = ebm::index;

namespace {

using ebm_test::host_ops;

/// A plan with its host memory.
struct host_plan {
    cg::plan p;
    std::vector<std::vector<float>> activations;
    std::vector<float> columns, diff0, diff1, ones, top;
    cg::buffers b;
    host_plan(const ebm::convnet_architecture& arch, idx chains, bool negate, idx budget)
        : p(cg::make_plan(arch, chains, negate, budget)) {
        for (std::size_t l = 0; l < p.levels.size(); ++l) {
            activations.emplace_back(static_cast<std::size_t>(p.activation_elements(l)), -9.0f);
            b.activations.push_back(activations.back().data());
        }
        columns.assign(static_cast<std::size_t>(p.column_elements), -9.0f);
        diff0.assign(static_cast<std::size_t>(p.diff_elements), -9.0f);
        diff1.assign(static_cast<std::size_t>(p.diff_elements), -9.0f);
        ones.assign(static_cast<std::size_t>(p.ones_elements), 1.0f);
        top.assign(static_cast<std::size_t>(chains), -9.0f);
        b.columns = columns.data();
        b.diff[0] = diff0.data();
        b.diff[1] = diff1.data();
        b.ones = ones.data();
        b.top = top.data();
    }
};

double max_abs(std::span<const float> v) {
    double m = 0;
    for (float e : v) m = std::max(m, static_cast<double>(std::abs(e)));
    return m;
}

/// max |a - b| / max |b|.
double relative_error(std::span<const float> a, std::span<const float> b) {
    double e = 0;
    for (std::size_t k = 0; k < a.size(); ++k) e = std::max(e, std::abs(static_cast<double>(a[k]) - b[k]));
    return e / std::max(max_abs(b), 1e-30);
}

void check_against_onednn(const ebm::convnet_architecture& arch, bool negate, idx chains, idx budget) {
    const ebm::convnet net(arch, {.negate_output = negate}, ebm::seed{11});
    auto ws = net.make_workspace(chains);
    const idx d = net.dimension();
    ebm::batch x(d, chains);
    for (idx n = 0; n < chains; ++n)
        ebm::fill_normal(ebm::philox(ebm::seed{12}), ebm::purpose::init_noise, static_cast<std::uint32_t>(n), 0,
                         x.chain(n), d);
    std::vector<float> u(static_cast<std::size_t>(chains)), w(static_cast<std::size_t>(chains));
    for (idx n = 0; n < chains; ++n) w[static_cast<std::size_t>(n)] = 0.5f + 0.25f * static_cast<float>(n % 3) - 0.3f * static_cast<float>(n % 2);
    ebm::batch gx(d, chains);
    net.energy_and_gradient(x.view(), u, gx.view(), ws);
    std::vector<float> grad(static_cast<std::size_t>(net.parameter_count()), 0.25f), u2(u.size());
    net.accumulate_parameter_gradient(x.view(), w, grad, u2, ws);

    host_plan hp(arch, chains, negate, budget);
    const host_ops ops;
    const float* theta = net.parameters().data();
    std::vector<float> hu(u.size(), -9.0f), hgx(static_cast<std::size_t>(d * chains), -9.0f);
    std::vector<float> hgrad(grad.size(), 0.25f), hu2(u.size(), -9.0f);
    cg::forward(hp.p, hp.b, ops, theta, x.data(), hu.data());
    cg::backward(hp.p, hp.b, ops, theta, x.data(), nullptr, nullptr, hgx.data());
    cg::forward(hp.p, hp.b, ops, theta, x.data(), hu2.data());
    cg::backward(hp.p, hp.b, ops, theta, x.data(), w.data(), hgrad.data(), nullptr);

    idx smallest_chunk = chains;
    for (const auto& v : hp.p.levels) smallest_chunk = std::min(smallest_chunk, v.chunk);
    INFO(arch.name << ", chains " << chains << ", column budget " << budget << " (smallest chunk " << smallest_chunk
                   << "), negate " << negate << ", seeds 11/12");
    CHECK(relative_error(hu, u) < 2e-6);
    CHECK(relative_error(hu2, u) < 2e-6);
    CHECK(relative_error(hgx, std::span<const float>(gx.data(), hgx.size())) < 2e-5);
    CHECK(relative_error(hgrad, grad) < 2e-5);
    // Per tensor, so that a wrong bias gradient cannot hide under the weights' magnitude.
    for (const auto& t : net.parameter_tensors()) {
        INFO("tensor " << t.name);
        const std::span<const float> a(hgrad.data() + t.offset, static_cast<std::size_t>(t.count()));
        const std::span<const float> r(grad.data() + t.offset, static_cast<std::size_t>(t.count()));
        CHECK(relative_error(a, r) < 2e-5);
    }
}

ebm::convnet_architecture odd_architecture() {
    ebm::convnet_architecture arch;
    arch.name = "odd";
    arch.channels = 3;
    arch.height = 11;
    arch.width = 9;
    // stride 2 with padding 2, stride 3 with padding 0, a 1x1, then a last layer covering what is left (2 x 2)
    arch.layers = {{5, 3, 2, 2}, {6, 2, 3, 0}, {4, 1, 1, 0}, {1, 2, 1, 0}};
    arch.negative_slope = 0.1f;
    return arch;
}

}  // namespace

TEST_CASE("convolution_gemm (im2col + GEMM + col2im) equals the oneDNN convnet: odd shapes, chunks of 1, 2 and all chains") {
    const auto arch = odd_architecture();
    // The shapes the engine derives: 11x9 -> 7x6 -> 2x2 -> 2x2 -> 1x1.
    const cg::plan p = cg::make_plan(arch, 5, false, 1 << 20);
    REQUIRE(p.levels.size() == 4);
    CHECK(p.levels[0].out_h == 7);
    CHECK(p.levels[0].out_w == 6);
    CHECK(p.levels[1].out_h == 2);
    CHECK(p.levels[1].out_w == 2);
    CHECK(p.levels[3].out_h == 1);
    CHECK(p.levels[0].chunk == 5);
    for (idx budget : {idx{1} << 20, idx{27 * 42 * 2}, idx{1}}) {
        check_against_onednn(arch, false, 5, budget);
        check_against_onednn(arch, true, 5, budget);
    }
    // A budget of one float still gives one chain per chunk.
    CHECK(cg::make_plan(arch, 5, false, 1).levels[0].chunk == 1);
}

TEST_CASE("convolution_gemm equals the oneDNN convnet on the short-run (n_f 8) and VanillaNet (n_f 4) presets") {
    check_against_onednn(ebm::short_run_architecture(32, 8, 3, 0.2f), true, 3, idx{1} << 24);
    check_against_onednn(ebm::short_run_architecture(32, 8, 1, 0.2f), false, 4, 4096);
    check_against_onednn(ebm::vanilla_architecture(3, 4, 0.05f), false, 3, idx{1} << 24);
}

TEST_CASE("convolution_gemm::make_plan: bad arguments and extents beyond 32-bit indexing are clear errors") {
    const auto arch = ebm::short_run_architecture(32, 8, 3, 0.2f);
    CHECK_THROWS_WITH_AS(cg::make_plan(arch, 0, false, 1 << 20),
                         doctest::Contains("convolution_gemm::make_plan: chains"), ebm::error);
    CHECK_THROWS_WITH_AS(cg::make_plan(arch, 4, false, 0),
                         doctest::Contains("convolution_gemm::make_plan: column_budget"), ebm::error);
    // 8 x 32 x 32 floats per chain in the first activation: 2^31 / 8192 = 262144 chains reach the limit.
    CHECK_THROWS_WITH_AS(cg::make_plan(arch, 262144, false, 1 << 20), doctest::Contains("exceed 2^31"),
                         ebm::error);
}
