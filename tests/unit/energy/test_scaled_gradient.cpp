// scaled_energy U = factor * F: energies, dU/dx and parameter gradients are exactly factor times the inner ones
// (up to float rounding) and match finite differences; scaled(F, eps) uses factor 2/eps^2.
#include <doctest/doctest.h>

#include <ebm/energy/gaussian_mixture.hpp>
#include <ebm/energy/mlp.hpp>
#include <ebm/energy/scaled.hpp>
#include <ebm/energy/toy.hpp>

#include <cmath>
#include <vector>

#include "finite_difference.hpp"

TEST_CASE("scaled: factor is 2 / eps^2") {
    const auto u = ebm::scaled(ebm::toy::gmm(), 0.125f);
    CHECK(u.factor() == 128.0f);
    CHECK(u.dimension() == 2);
}

TEST_CASE("scaled(gmm): energy and gradient are factor times the inner ones and match finite differences") {
    const auto inner = ebm::toy::gmm();
    const auto outer = ebm::scaled(inner, 0.5f);  // factor 8
    const ebm::index n = 16;
    const auto x = ebm_test::dyadic_points(2, n, 1.6, 31);
    auto wi = inner.make_workspace(n);
    auto wo = outer.make_workspace(n);
    std::vector<float> ui(n), uo(n), uo_only(n);
    ebm::batch gi(2, n), go(2, n);
    inner.energy_and_gradient(x, ui, gi, wi);
    outer.energy_and_gradient(x, uo, go, wo);
    outer.energy(x, uo_only, wo);
    CHECK(uo == uo_only);
    for (ebm::index i = 0; i < n; ++i) {
        CHECK(uo[static_cast<std::size_t>(i)] == 8.0f * ui[static_cast<std::size_t>(i)]);  // power of two: exact
        for (ebm::index k = 0; k < 2; ++k) {
            CHECK(go.chain(i)[k] == 8.0f * gi.chain(i)[k]);
            const std::vector<float> point(x.chain(i), x.chain(i) + 2);
            const double fd = ebm_test::richardson_derivative([&](const float* p) { return -8.0 * inner.log_density(p); },
                                                              point, static_cast<std::size_t>(k), 1.0f / 4096.0f);
            CHECK(std::abs(go.chain(i)[k] - fd) <= 1e-5 * (1.0 + std::abs(fd)));
        }
    }
}

TEST_CASE("scaled(mlp): dU/dx and the weighted parameter gradient match finite differences") {
    auto outer = ebm::scaled(ebm_test::toy_net(), 0.125f);  // factor 128, as in the Anatomy toys
    const ebm::index n = 6;
    const auto x = ebm_test::dyadic_points(2, n, 2.0, 41);
    const std::vector<float> w = {0.5f, -0.25f, 0.125f, -1.0f, 0.75f, -0.3f};
    auto ws = outer.make_workspace(n);
    std::vector<float> u(n), u_inner(n);
    ebm::batch g(2, n);
    outer.energy_and_gradient(x, u, g, ws);
    const auto params = ebm_test::to_double(outer.parameters());
    const auto& net = outer.inner();
    for (ebm::index i = 0; i < n; ++i) {
        double p[2] = {x.chain(i)[0], x.chain(i)[1]};
        CHECK(u[static_cast<std::size_t>(i)] ==
              doctest::Approx(128.0 * ebm_test::reference_mlp_energy(net, params, p)).epsilon(1e-5).scale(1e-3));
        for (int k = 0; k < 2; ++k) {
            const double keep = p[k], h = 1e-6;
            p[k] = keep + h;
            const double up = ebm_test::reference_mlp_energy(net, params, p);
            p[k] = keep - h;
            const double down = ebm_test::reference_mlp_energy(net, params, p);
            p[k] = keep;
            CHECK(g.chain(i)[k] == doctest::Approx(128.0 * (up - down) / (2 * h)).epsilon(1e-4).scale(1e-2));
        }
    }

    std::vector<float> grad(static_cast<std::size_t>(outer.parameter_count()), 0.0f);
    std::vector<float> inner_grad(grad.size(), 0.0f);
    outer.accumulate_parameter_gradient(x, w, grad, u, ws);
    auto inner_ws = net.make_workspace(n);
    net.accumulate_parameter_gradient(x, w, inner_grad, u_inner, inner_ws);
    for (ebm::index i = 0; i < n; ++i)
        CHECK(u[static_cast<std::size_t>(i)] == doctest::Approx(128.0 * u_inner[static_cast<std::size_t>(i)]).epsilon(1e-6));
    double max_grad = 0;
    for (float v : grad) max_grad = std::max(max_grad, double(std::abs(v)));
    for (std::size_t p = 0; p < grad.size(); ++p)
        CHECK(grad[p] == doctest::Approx(128.0 * inner_grad[p]).epsilon(1e-5).scale(1e-6 * max_grad));

    // Library float finite differences on a few parameters of every layer (step 1e-3; U is 128x larger, and so
    // are its rounding and its derivative: the 1e-3 tolerance of the unscaled test becomes relative to 128).
    for (ebm::index l = 0; l < net.layers(); ++l)
        for (ebm::index k : {net.weight_offset(l), net.weight_offset(l) + 1, net.bias_offset(l)}) {
            float& theta = outer.parameters()[static_cast<std::size_t>(k)];
            const float keep = theta;
            auto weighted = [&](float value) {
                theta = value;
                std::vector<float> e(n);
                outer.energy(x, e, ws);
                double s = 0;
                for (ebm::index i = 0; i < n; ++i) s += double(w[static_cast<std::size_t>(i)]) * e[static_cast<std::size_t>(i)];
                return s;
            };
            const float hi = keep + 1e-3f, lo = keep - 1e-3f;
            const double fd = (weighted(hi) - weighted(lo)) / (double(hi) - lo);
            theta = keep;
            INFO("parameter " << k << ": analytic " << grad[static_cast<std::size_t>(k)] << ", difference " << fd);
            CHECK(std::abs(grad[static_cast<std::size_t>(k)] - fd) < 128.0 * 1e-3);
        }
}
