// exponential_decay with its floor, and the Anatomy learning-rate scaling gamma = (eps^2/2) gamma0.
#include <doctest/doctest.h>

#include <ebm/optim/schedules.hpp>

#include <cmath>

TEST_CASE("exponential_decay: lr_t = max(floor, lr_0 factor^t)") {
    const ebm::exponential_decay decay{.factor = 0.9, .floor = 0.05};
    for (std::uint64_t t = 0; t < 40; ++t) {
        const double expected = std::max(0.05, 0.1 * std::pow(0.9, static_cast<double>(t)));
        CHECK(decay.rate(0.1f, t) == doctest::Approx(expected).epsilon(1e-6));
    }
    CHECK(decay.rate(0.1f, 1000) == doctest::Approx(0.05));
}

TEST_CASE("exponential_decay: factor 1 is a constant rate, whatever the floor") {
    const ebm::exponential_decay constant{};
    CHECK(constant.rate(0.25f, 0) == 0.25f);
    CHECK(constant.rate(0.25f, 1'000'000) == 0.25f);
    CHECK(ebm::exponential_decay{.factor = 1.0, .floor = 1.0}.rate(0.25f, 10) == 0.25f);
}

TEST_CASE("anatomy_scaled_rate: gamma0 * eps^2 / 2") {
    CHECK(ebm::anatomy_scaled_rate(0.1f, 0.125f) == doctest::Approx(0.00078125).epsilon(1e-7));
    CHECK(ebm::anatomy_scaled_rate(0.0005f, 0.015f) == doctest::Approx(0.0005 * 0.015 * 0.015 / 2).epsilon(1e-6));
    CHECK(ebm::anatomy_scaled_rate(2.0f, 1.0f) == 1.0f);
}
