// gaussian_mixture: dU/dx against Richardson central differences of the double-valued log density, for full
// covariances in 2-D and 3-D and for the 1-D toy mixture; energy() agrees with -log_density.
#include <doctest/doctest.h>

#include <ebm/energy/gaussian_mixture.hpp>
#include <ebm/energy/toy.hpp>

#include <cmath>
#include <vector>

#include "finite_difference.hpp"

namespace {

// Every coordinate of every point: |dU/dx - FD| <= 1e-5 (1 + |dU/dx|) (float gradient, O(h^4) difference).
template <class E>
void check_state_gradient(const E& energy, double range, float h = 1.0f / 1024.0f) {
    const ebm::index d = energy.dimension(), n = 16;
    const ebm::batch x = ebm_test::dyadic_points(d, n, range, 11);
    auto ws = energy.make_workspace(n);
    std::vector<float> u(static_cast<std::size_t>(n)), u_only(static_cast<std::size_t>(n));
    ebm::batch g(d, n);
    energy.energy_and_gradient(x, u, g, ws);
    energy.energy(x, u_only, ws);
    for (ebm::index i = 0; i < n; ++i) {
        CHECK(u[static_cast<std::size_t>(i)] == u_only[static_cast<std::size_t>(i)]);
        const double log_q = energy.log_density(x.chain(i));
        CHECK(u[static_cast<std::size_t>(i)] == doctest::Approx(-log_q).epsilon(1e-6));
        const std::vector<float> point(x.chain(i), x.chain(i) + d);
        for (ebm::index k = 0; k < d; ++k) {
            const double fd = ebm_test::richardson_derivative([&](const float* p) { return -energy.log_density(p); }, point,
                                                              static_cast<std::size_t>(k), h);
            const double analytic = g.chain(i)[k];
            INFO("chain " << i << " coordinate " << k << ": analytic " << analytic << ", difference " << fd);
            CHECK(std::abs(analytic - fd) <= 1e-5 * (1.0 + std::abs(analytic)));
        }
    }
}

}  // namespace

TEST_CASE("gaussian_mixture: gradient of a full-covariance 2-D mixture matches finite differences") {
    const ebm::gaussian_mixture target({0.6, 0.4}, {{0.5, -0.25}, {-1.0, 1.0}},
                                       {{1.0, 0.6, 0.6, 0.8}, {0.3, -0.2, -0.2, 0.5}});
    check_state_gradient(target, 2.5);
}

TEST_CASE("gaussian_mixture: gradient of a full-covariance 3-D mixture matches finite differences") {
    const ebm::gaussian_mixture target({0.5, 0.3, 0.2}, {{0.0, 1.0, -1.0}, {2.0, -1.0, 0.5}, {-1.5, 0.0, 2.0}},
                                       {{1.0, 0.3, 0.1, 0.3, 0.8, -0.2, 0.1, -0.2, 0.5},
                                        {0.4, -0.1, 0.0, -0.1, 0.6, 0.25, 0.0, 0.25, 1.2},
                                        {0.3, 0.1, 0.1, 0.1, 0.3, 0.1, 0.1, 0.1, 0.3}});
    check_state_gradient(target, 3.0);
}

TEST_CASE("toy::gmm: gradient matches finite differences") { check_state_gradient(ebm::toy::gmm(), 1.6, 1.0f / 4096.0f); }

TEST_CASE("toy::mixture_1d: gradient matches finite differences") {
    check_state_gradient(ebm::toy::mixture_1d(), 1.0, 1.0f / 4096.0f);
}

TEST_CASE("gaussian_mixture: log density of a single full-covariance Gaussian matches the closed form") {
    // Sigma = [[2, 1], [1, 3]], det 5, precision [[3, -1], [-1, 2]] / 5.
    const ebm::gaussian_mixture g({1.0}, {{1.0, -1.0}}, {{2.0, 1.0, 1.0, 3.0}});
    const float x[2] = {0.5f, 0.25f};
    const double d0 = -0.5, d1 = 1.25;
    const double quad = (3 * d0 * d0 - 2 * d0 * d1 + 2 * d1 * d1) / 5.0;
    const double expected = -0.5 * quad - std::log(2.0 * std::numbers::pi) - 0.5 * std::log(5.0);
    CHECK(g.log_density(x) == doctest::Approx(expected).epsilon(1e-12));
    CHECK(g.components() == 1);
    CHECK(g.dimension() == 2);
}

TEST_CASE("gaussian_mixture: far in the tails the energy and gradient stay finite (log-sum-exp)") {
    const auto target = ebm::toy::gmm();
    const float x[2] = {40.0f, -35.0f};
    auto ws = target.make_workspace(1);
    float u = 0, g[2] = {0, 0};
    target.energy_and_gradient(ebm::const_batch_view(x, 2, 1), std::span<float>(&u, 1), ebm::batch_view{g, 2, 1}, ws);
    CHECK(std::isfinite(u));
    CHECK(std::isfinite(g[0]));
    CHECK(std::isfinite(g[1]));
    CHECK(g[0] > 0.0f);  // pulls back toward the modes
    CHECK(g[1] < 0.0f);
}
