// ring_mixture (toy::rings): dU/dx against Richardson central differences of the double-valued log density.
#include <doctest/doctest.h>

#include <ebm/energy/toy.hpp>

#include <cmath>
#include <vector>

#include "finite_difference.hpp"

TEST_CASE("toy::rings: gradient matches finite differences away from the origin") {
    const auto rings = ebm::toy::rings();
    const ebm::index n = 32;
    const ebm::batch x = ebm_test::dyadic_points(2, n, 4.8, 12);
    auto ws = rings.make_workspace(n);
    std::vector<float> u(static_cast<std::size_t>(n)), u_only(static_cast<std::size_t>(n));
    ebm::batch g(2, n);
    rings.energy_and_gradient(x, u, g, ws);
    rings.energy(x, u_only, ws);
    int checked = 0;
    for (ebm::index i = 0; i < n; ++i) {
        CHECK(u[static_cast<std::size_t>(i)] == u_only[static_cast<std::size_t>(i)]);
        CHECK(u[static_cast<std::size_t>(i)] == doctest::Approx(-rings.log_density(x.chain(i))).epsilon(1e-6));
        if (std::hypot(x.chain(i)[0], x.chain(i)[1]) < 0.25) continue;  // U has a log singularity at 0
        ++checked;
        const std::vector<float> point(x.chain(i), x.chain(i) + 2);
        for (std::size_t k = 0; k < 2; ++k) {
            const double fd = ebm_test::richardson_derivative([&](const float* p) { return -rings.log_density(p); }, point,
                                                              k, 1.0f / 4096.0f);
            const double analytic = g.chain(i)[k];
            INFO("chain " << i << " coordinate " << k << ": analytic " << analytic << ", difference " << fd);
            CHECK(std::abs(analytic - fd) <= 1e-5 * (1.0 + std::abs(analytic)));
        }
    }
    CHECK(checked > 25);
}

TEST_CASE("ring_mixture: density matches the closed form at a point") {
    const ebm::ring_mixture one({2.0}, 0.5);
    const float x[2] = {1.5f, 2.0f};  // r = 2.5
    const double z = (2.5 - 2.0) / 0.5;
    const double expected = -0.5 * z * z - std::log(0.5 * std::sqrt(2.0 * std::numbers::pi)) - std::log(2.0 * std::numbers::pi * 2.5);
    CHECK(one.log_density(x) == doctest::Approx(expected).epsilon(1e-12));
    CHECK(one.dimension() == 2);
}
