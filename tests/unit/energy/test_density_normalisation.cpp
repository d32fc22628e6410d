// The exact densities integrate to 1: midpoint rule on a fine grid covering the mass (tails beyond the box are
// below 1e-6 for these toys).
#include <doctest/doctest.h>

#include <ebm/energy/gaussian_mixture.hpp>
#include <ebm/energy/toy.hpp>

#include <cmath>

namespace {

template <class E>
double integrate_2d(const E& energy, double half_width, double cell) {
    const int n = static_cast<int>(std::lround(2 * half_width / cell));
    double total = 0;
    for (int a = 0; a < n; ++a)
        for (int b = 0; b < n; ++b) {
            const float x[2] = {static_cast<float>(-half_width + (a + 0.5) * cell),
                                static_cast<float>(-half_width + (b + 0.5) * cell)};
            total += std::exp(energy.log_density(x));
        }
    return total * cell * cell;
}

}  // namespace

TEST_CASE("toy::gmm: density integrates to 1") {
    CHECK(integrate_2d(ebm::toy::gmm(), 2.5, 0.01) == doctest::Approx(1.0).epsilon(1e-4));
}

TEST_CASE("toy::rings: density integrates to 1") {
    CHECK(integrate_2d(ebm::toy::rings(), 5.5, 0.01) == doctest::Approx(1.0).epsilon(1e-4));
}

TEST_CASE("gaussian_mixture: a full-covariance 2-D mixture integrates to 1") {
    const ebm::gaussian_mixture target({0.6, 0.4}, {{0.5, -0.25}, {-1.0, 1.0}},
                                       {{1.0, 0.6, 0.6, 0.8}, {0.3, -0.2, -0.2, 0.5}});
    CHECK(integrate_2d(target, 7.0, 0.01) == doctest::Approx(1.0).epsilon(1e-4));
}

TEST_CASE("toy::mixture_1d: density integrates to 1") {
    const auto target = ebm::toy::mixture_1d();
    const double cell = 1e-4;
    double total = 0;
    for (int a = 0; a < 30000; ++a) {
        const float x = static_cast<float>(-1.5 + (a + 0.5) * cell);
        total += std::exp(target.log_density(&x));
    }
    CHECK(total * cell == doctest::Approx(1.0).epsilon(1e-5));
}
