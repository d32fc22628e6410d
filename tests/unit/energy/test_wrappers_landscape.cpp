// The wrappers of energy-landscape mapping: tempered(F, T) = F / T and magnetized(E, x*, alpha) =
// E + alpha ||x - x*||. Checked against closed forms on the exact gmm toy (the magnetic term alone, its gradient
// alpha (x - x*) / ||x - x*||, zero at x*), against Richardson finite differences of the added term, and for the
// parameter gradient against the inner network's.
#include <doctest/doctest.h>

#include <ebm/energy/magnetized.hpp>
#include <ebm/energy/mlp.hpp>
#include <ebm/energy/scaled.hpp>
#include <ebm/energy/toy.hpp>

#include <cmath>
#include <vector>

#include "../common/expect_error.hpp"
#include "finite_difference.hpp"

TEST_CASE("tempered: the factor is 1 / T, and it validates T") {
    const auto t = ebm::tempered(ebm::toy::gmm(), 0.25f);
    CHECK(t.factor() == 4.0f);
    EBM_CHECK_ERROR(ebm::tempered(ebm::toy::gmm(), 0.0f), "tempered", "temperature", "(got 0)");
    EBM_CHECK_ERROR(ebm::tempered(ebm::toy::gmm(), NAN), "tempered", "temperature");
}

TEST_CASE("magnetized(gmm): the magnetic term and its gradient in closed form, and finite differences") {
    const auto inner = ebm::tempered(ebm::toy::gmm(), 0.5f);
    const std::vector<float> target{0.375f, -0.25f};
    const float alpha = 1.5f;
    const auto outer = ebm::magnetized(inner, target, alpha);
    const ebm::index n = 16;
    auto x = ebm_test::dyadic_points(2, n, 1.6, 47);
    std::copy(target.begin(), target.end(), x.chain(3));  // one chain exactly at x*: no pull there
    auto wi = inner.make_workspace(n);
    auto wo = outer.make_workspace(n);
    std::vector<float> ui(n), uo(n), uo_only(n);
    ebm::batch gi(2, n), go(2, n);
    inner.energy_and_gradient(x, ui, gi, wo.inner);
    outer.energy_and_gradient(x, uo, go, wo);
    outer.energy(x, uo_only, wo);
    CHECK(uo == uo_only);
    for (ebm::index i = 0; i < n; ++i) {
        const double dx = x.chain(i)[0] - target[0], dy = x.chain(i)[1] - target[1];
        const double r = std::hypot(dx, dy);
        CHECK(uo[static_cast<std::size_t>(i)] == doctest::Approx(ui[static_cast<std::size_t>(i)] + alpha * r).epsilon(1e-6));
        const double pull[2] = {r > 0 ? alpha * dx / r : 0.0, r > 0 ? alpha * dy / r : 0.0};
        for (ebm::index k = 0; k < 2; ++k) {
            CHECK(go.chain(i)[k] == doctest::Approx(gi.chain(i)[k] + pull[k]).epsilon(1e-6).scale(1e-6));
            // The norm has a kink at x*, and its derivatives grow like 1/r^k near it: finite differences with step h
            // need r >> h (the closed form above covers every chain).
            if (r < 0.05) continue;
            // What the wrapper adds, against finite differences of the magnetic term alone (the inner gradient is
            // the inner energy's, tested with it).
            const std::vector<float> point(x.chain(i), x.chain(i) + 2);
            const double fd = ebm_test::richardson_derivative(
                [&](const float* p) {
                    return alpha * std::hypot(double(p[0]) - target[0], double(p[1]) - target[1]);
                },
                point,
                static_cast<std::size_t>(k), 1.0f / 4096.0f);
            const double added = static_cast<double>(go.chain(i)[k]) - gi.chain(i)[k];
            CHECK_MESSAGE(std::abs(added - fd) <= 1e-5 * (1.0 + std::abs(fd)), "chain " << i << ", coordinate " << k
                                                                                      << ": added " << added << ", fd " << fd);
        }
    }
    CHECK(go.chain(3)[0] == gi.chain(3)[0]);
    CHECK(go.chain(3)[1] == gi.chain(3)[1]);
}

TEST_CASE("magnetized(mlp): parameters and the weighted parameter gradient are the inner network's") {
    ebm::mlp net({2, 8, 8, 1}, ebm::leaky_relu{0.05f}, ebm::seed{5});
    const std::vector<float> target{0.5f, 0.5f};
    auto outer = ebm::magnetized(net, target, 2.0f);
    CHECK(outer.parameter_count() == net.parameter_count());
    CHECK(outer.parameters().data() != net.parameters().data());  // it owns a copy of the network
    const ebm::index n = 6;
    const auto x = ebm_test::dyadic_points(2, n, 1.0, 3);
    std::vector<float> w(n, 1.0f / n), grad_inner(net.parameter_count(), 0.0f), grad_outer(grad_inner);
    std::vector<float> u_inner(n), u_outer(n);
    auto wi = net.make_workspace(n);
    auto wo = outer.make_workspace(n);
    net.accumulate_parameter_gradient(x, w, grad_inner, u_inner, wi);
    outer.accumulate_parameter_gradient(x, w, grad_outer, u_outer, wo);
    CHECK(grad_inner == grad_outer);
    for (ebm::index i = 0; i < n; ++i) {
        const double r = std::hypot(x.chain(i)[0] - 0.5, x.chain(i)[1] - 0.5);
        CHECK(u_outer[static_cast<std::size_t>(i)] == doctest::Approx(u_inner[static_cast<std::size_t>(i)] + 2.0 * r).epsilon(1e-6));
    }
    // A copy is independent and equal.
    const auto copy = outer;
    CHECK(copy.alpha() == 2.0f);
    CHECK(std::vector<float>(copy.target().begin(), copy.target().end()) == target);
}

TEST_CASE("magnetized: bad target or alpha is a clear error") {
    const std::vector<float> three{0.0f, 0.0f, 0.0f}, bad{0.0f, NAN};
    EBM_CHECK_ERROR(ebm::magnetized(ebm::toy::gmm(), three, 1.0f), "magnetized_energy", "target", "dimension 2", "(got 3)");
    EBM_CHECK_ERROR(ebm::magnetized(ebm::toy::gmm(), bad, 1.0f), "magnetized_energy", "target must be finite", "element 1");
    const std::vector<float> ok{0.0f, 0.0f};
    EBM_CHECK_ERROR(ebm::magnetized(ebm::toy::gmm(), ok, -1.0f), "magnetized_energy", "alpha", "(got -1)");
}
