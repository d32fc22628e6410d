// What every optimizer must satisfy: the concept; a zero gradient from a fresh state changes nothing; step()
// returns the rate it used (the configured one, where an optimizer documents it); it minimises a convex
// quadratic; it is deterministic; bad sizes throw.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "cases.hpp"

TEST_CASE_TEMPLATE_DEFINE("optimizer conformance", T, optimizer_conformance) {
    using O = typename T::type;
    static_assert(ebm::check_optimizer<O>());
    const O opt = T::make();

    SUBCASE("a zero gradient from a fresh state leaves the parameters unchanged") {
        auto st = opt.make_state(3);
        std::vector<float> p = {1.0f, -2.0f, 0.5f};
        const std::vector<float> zero(3, 0.0f);
        opt.step(st, p, zero);
        CHECK(p == std::vector<float>{1.0f, -2.0f, 0.5f});
    }
    SUBCASE("the first step returns the rate it used and moves against the gradient") {
        // The concept: step() returns the learning rate it used. A fresh state's first rate does not depend on the
        // gradient or the parameter count; an optimizer that documents `learning_rate` must return it.
        auto st = opt.make_state(1);
        std::vector<float> p = {0.0f};
        const std::vector<float> g = {1.0f};
        const float rate = opt.step(st, p, g);
        CHECK(std::isfinite(rate));
        CHECK(rate > 0.0f);
        CHECK(p[0] < 0.0f);  // moves against the gradient
        auto other = opt.make_state(3);
        std::vector<float> q = {1.0f, 2.0f, 3.0f};
        const std::vector<float> h = {-0.5f, 0.25f, 4.0f};
        CHECK(opt.step(other, q, h) == rate);
        CHECK(q[0] > 1.0f);
        CHECK(q[1] < 2.0f);
        CHECK(q[2] < 3.0f);
        if constexpr (requires { { opt.learning_rate } -> std::convertible_to<float>; }) CHECK(rate == opt.learning_rate);
    }
    SUBCASE("minimises f(p) = 1/2 sum c_k (p_k - t_k)^2") {
        const std::vector<float> c = {1.0f, 0.5f, 2.0f, 0.25f}, t = {1.0f, -1.0f, 0.5f, 2.0f};
        auto f = [&](const std::vector<float>& p) {
            double s = 0;
            for (std::size_t k = 0; k < 4; ++k) s += 0.5 * c[k] * (p[k] - t[k]) * (p[k] - t[k]);
            return s;
        };
        auto st = opt.make_state(4);
        std::vector<float> p(4, 0.0f), g(4);
        const double f0 = f(p);
        for (int it = 0; it < 500; ++it) {
            for (std::size_t k = 0; k < 4; ++k) g[k] = c[k] * (p[k] - t[k]);
            opt.step(st, p, g);
        }
        MESSAGE("f: " << f0 << " -> " << f(p));
        CHECK(f(p) < 1e-2 * f0);
    }
    SUBCASE("the same gradients give the same parameters") {
        auto a = opt.make_state(2), b = opt.make_state(2);
        std::vector<float> pa = {0.3f, -0.7f}, pb = pa;
        for (int it = 0; it < 20; ++it) {
            const std::vector<float> g = {std::sin(float(it)), std::cos(float(it))};
            opt.step(a, pa, g);
            opt.step(b, pb, g);
        }
        CHECK(pa == pb);
    }
    SUBCASE("bad sizes throw ebm::error") {
        CHECK_THROWS_AS((void)opt.make_state(0), ebm::error);
        auto st = opt.make_state(2);
        std::vector<float> p(2), g(3);
        CHECK_THROWS_AS(opt.step(st, p, g), ebm::error);
    }
}

TEST_CASE_TEMPLATE_INVOKE(optimizer_conformance, ebm_conformance::plain_sgd, ebm_conformance::momentum_sgd,
                          ebm_conformance::decaying_sgd, ebm_conformance::default_adam);
