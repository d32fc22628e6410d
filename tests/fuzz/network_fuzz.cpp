// Fuzz harness: network descriptions (ebm::load_network_spec). Input: the JSON file.
// A description that loads must come back unchanged through network_spec_to_json -> network_spec_from_json. A small
// network (at most 4,096 parameters, input values and activation floats per chain) is then evaluated on 3 chains:
// energies, dU/dx, the parameter gradient and the Hessian-vector product on the CPU (on whichever path the network
// takes there), and the same through the device network's engine (backend/network_gemm.hpp) with the reference ops
// that hold every GEMM to cuBLAS's argument rules, with the whole batch in one im2col chunk and in chunks of one
// chain. Any layout a description can make thus runs through both under the sanitizers, and the two must agree
// (relative to the largest activation, loosely: float sums in other orders).
#include <ebm/backend/network_gemm.hpp>
#include <ebm/energy/network.hpp>
#include <ebm/energy/network_json.hpp>
#include <ebm/random/distributions.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "../common/host_blas.hpp"
#include "../common/network_gemm_host.hpp"
#include "fuzz_common.hpp"

namespace {

constexpr ebm::index chains = 3, largest = 4096;

void evaluate(const ebm::network_spec& spec) {
    ebm::network net(spec, ebm::seed{1});
    const ebm::network_layout& layout = net.layout();
    if (net.parameter_count() > largest || net.dimension() > largest || layout.activation_floats > largest) return;
    const ebm::index d = net.dimension();
    ebm::batch x(d, chains), v(d, chains), g(d, chains), hv(d, chains);
    ebm::fill_uniform(ebm::philox(2), ebm::purpose::user, 0, 0, x.data(), d * chains, -1.0f, 1.0f);
    ebm::fill_uniform(ebm::philox(3), ebm::purpose::user, 0, 0, v.data(), d * chains, -1.0f, 1.0f);
    std::vector<float> u(chains), u2(chains), grad(static_cast<std::size_t>(net.parameter_count()), 0.0f);
    const std::vector<float> weights{1.0f, -0.5f, 0.25f};
    auto ws = net.make_workspace(chains);
    net.energy_and_gradient(x.view(), u, g.view(), ws);
    net.accumulate_parameter_gradient(x.view(), weights, grad, u2, ws);
    net.hessian_vector_product(x.view(), v.view(), hv.view(), ws);

    const ebm_test::host_ops ops;
    const std::vector<float> theta(net.parameters().begin(), net.parameters().end());
    for (const ebm::index budget : {ebm::index{1}, ebm::index{1} << 30}) {
        const ebm_test::network_gemm_host host(layout, chains, budget);
        const auto n = [](ebm::index k) { return static_cast<std::size_t>(k); };
        const ebm::network_gemm::plan& p = host.p;
        const ebm::network_gemm::buffers& b = host.b;
        std::vector<float> ue(chains), ge(n(d * chains)), grad_e(grad.size(), 0.0f), hve(n(d * chains));
        ebm::network_gemm::forward(layout, p, b, ops, theta.data(), x.data(), ue.data());
        ebm::network_gemm::backward(layout, p, b, ops, theta.data(), x.data(), nullptr, nullptr, ge.data());
        ebm::network_gemm::forward(layout, p, b, ops, theta.data(), x.data(), ue.data());
        ebm::network_gemm::backward(layout, p, b, ops, theta.data(), x.data(), weights.data(), grad_e.data(), nullptr);
        ebm::network_gemm::hessian_vector_product(layout, p, b, ops, theta.data(), x.data(), v.data(), hve.data());
        // Loose agreement: relative to the largest activation of the forward pass (cancellation makes a small
        // result's float error scale with the terms, not with the result); non-finite values are left alone.
        double scale = 1.0;
        for (float a : host.values) scale = std::max(scale, std::isfinite(a) ? static_cast<double>(std::fabs(a)) : 0.0);
        const auto agree = [scale](const float* a, const float* r, std::size_t count, const char* what) {
            double largest_r = 1.0;
            for (std::size_t k = 0; k < count; ++k)
                if (std::isfinite(r[k])) largest_r = std::max(largest_r, static_cast<double>(std::fabs(r[k])));
            for (std::size_t k = 0; k < count; ++k)
                if (std::isfinite(a[k]) && std::isfinite(r[k]))
                    ebm_fuzz::check(std::fabs(static_cast<double>(a[k]) - r[k]) <= 1e-2 * largest_r * scale, what);
        };
        agree(ue.data(), u.data(), u.size(), "network_gemm: energies == ebm::network's");
        agree(ge.data(), g.data(), ge.size(), "network_gemm: dU/dx == ebm::network's");
        agree(grad_e.data(), grad.data(), grad.size(), "network_gemm: dU/dtheta == ebm::network's");
        agree(hve.data(), hv.data(), hve.size(), "network_gemm: Hv == ebm::network's");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto path = ebm_fuzz::write_file("network.json", data, size);
    ebm_fuzz::expect_ebm_errors([&] {
        const ebm::network_spec spec = ebm::load_network_spec(path);
        const nlohmann::json once = ebm::network_spec_to_json(spec);
        try {
            const nlohmann::json twice = ebm::network_spec_to_json(ebm::network_spec_from_json(once));
            ebm_fuzz::check(once == twice, "network_spec_to_json -> network_spec_from_json changes the description");
        } catch (const std::exception& e) {
            std::fprintf(stderr, "the description of an accepted network was refused: %s\n", e.what());
            std::abort();
        }
        evaluate(spec);
    });
    return 0;
}
