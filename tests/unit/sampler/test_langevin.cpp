// Unadjusted Langevin, both spellings: implied temperature, exact gradient descent with the noise off, the noise
// stream convention with the noise on, the clamp box, and the reported statistics.
#include <doctest/doctest.h>

#include <ebm/energy/scaled.hpp>
#include <ebm/random/distributions.hpp>
#include <ebm/sampler/langevin.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "quadratic.hpp"

namespace {

ebm::batch start_points(ebm::index chains) {
    ebm::batch x(3, chains);
    for (ebm::index i = 0; i < chains; ++i) {
        x.chain(i)[0] = 1.0f + static_cast<float>(i);
        x.chain(i)[1] = -2.0f;
        x.chain(i)[2] = 0.5f * static_cast<float>(i + 1);
    }
    return x;
}

}  // namespace

TEST_CASE("langevin_decoupled: implied temperature is sigma^2 / (2 lambda)") {
    CHECK(ebm::langevin_decoupled{.step_size_lambda = 0.5f, .noise_sigma = 0.1f}.implied_temperature() ==
          doctest::Approx(0.01));
    CHECK(ebm::langevin_decoupled{}.implied_temperature() == doctest::Approx(5e-5));  // short-run defaults
    CHECK(ebm::langevin_decoupled{.noise_sigma = 0.0f}.implied_temperature() == 0.0f);
    CHECK(ebm::langevin_decoupled{.step_size_lambda = 2.0f, .noise_sigma = 0.5f}.step_size() == 2.0f);
    CHECK(ebm::langevin_decoupled{.step_size_lambda = 2.0f, .noise_sigma = 0.5f}.noise_scale() == 0.5f);
}

TEST_CASE("langevin: Anatomy form has h = eps^2/2, noise eps, temperature 1 (0 without noise)") {
    const ebm::langevin on{.epsilon = 0.5f};
    CHECK(on.step_size() == 0.125f);
    CHECK(on.noise_scale() == 0.5f);
    CHECK(on.implied_temperature() == 1.0f);
    const ebm::langevin off{.epsilon = 0.5f, .noise = false};
    CHECK(off.noise_scale() == 0.0f);
    CHECK(off.implied_temperature() == 0.0f);
}

TEST_CASE("langevin_decoupled with sigma = 0 is exact gradient descent") {
    const ebm_test::quadratic energy;
    const ebm::index chains = 5, steps = 6;
    const ebm::langevin_decoupled sampler{.step_size_lambda = 0.25f, .noise_sigma = 0.0f, .steps = steps, .chains_per_task = 2};
    auto x = start_points(chains);
    const auto x0 = start_points(chains);
    auto st = sampler.make_state(energy, chains);
    const auto stats = sampler.run(st, energy, x, ebm::philox(1), 0);
    double norms = 0, final_energy = 0;
    for (ebm::index i = 0; i < chains; ++i) {
        std::vector<double> v(x0.chain(i), x0.chain(i) + 3);
        for (ebm::index l = 0; l <= steps; ++l) {
            double sq = 0;
            for (std::size_t k = 0; k < 3; ++k) sq += energy.c[k] * v[k] * energy.c[k] * v[k];
            norms += std::sqrt(sq);
            if (l == steps) break;
            for (std::size_t k = 0; k < 3; ++k) v[k] -= 0.25 * energy.c[k] * v[k];
        }
        for (std::size_t k = 0; k < 3; ++k) {
            CHECK(x.chain(i)[k] == v[k]);  // dyadic arithmetic: bit for bit
            final_energy += 0.5 * energy.c[k] * v[k] * v[k];
        }
    }
    CHECK(stats.mean_gradient_norm == doctest::Approx(norms / (chains * (steps + 1))).epsilon(1e-6));
    CHECK(stats.mean_displacement == doctest::Approx(0.25 * stats.mean_gradient_norm).epsilon(1e-6));
    CHECK(stats.mean_energy == doctest::Approx(final_energy / chains).epsilon(1e-6));
    CHECK(stats.acceptance == -1.0);
    CHECK(stats.non_finite_rejections == 0);
}

TEST_CASE("langevin with noise off is exact gradient descent with h = eps^2/2") {
    const ebm_test::quadratic energy;
    const ebm::langevin sampler{.epsilon = 0.5f, .steps = 4, .noise = false};
    auto x = start_points(3);
    const auto x0 = start_points(3);
    auto st = sampler.make_state(energy, 3);
    sampler.run(st, energy, x, ebm::philox(1), 0);
    for (ebm::index i = 0; i < 3; ++i)
        for (std::size_t k = 0; k < 3; ++k)
            CHECK(x.chain(i)[k] == x0.chain(i)[k] * std::pow(1.0 - 0.125 * energy.c[k], 4.0));
}

TEST_CASE("langevin: the noise of chain i at step t is fill_normal(langevin_noise, i, t) times the noise scale") {
    const ebm_test::quadratic energy;
    const ebm::langevin_decoupled sampler{.step_size_lambda = 0.25f, .noise_sigma = 0.3f, .steps = 1};
    const ebm::philox rng(99);
    auto x = start_points(4);
    const auto x0 = start_points(4);
    auto st = sampler.make_state(energy, 4);
    sampler.run(st, energy, x, rng, 17);
    for (ebm::index i = 0; i < 4; ++i) {
        float z[3];
        ebm::fill_normal(rng, ebm::purpose::langevin_noise, static_cast<std::uint32_t>(i), 17, z, 3);
        for (std::size_t k = 0; k < 3; ++k) {
            const double expected = x0.chain(i)[k] - 0.25 * energy.c[k] * x0.chain(i)[k] + 0.3 * z[k];
            CHECK(x.chain(i)[k] == doctest::Approx(expected).epsilon(1e-6));
        }
    }
}

TEST_CASE("langevin: states are clamped to the box after every move") {
    const ebm_test::quadratic energy;
    const ebm::langevin sampler{.epsilon = 1.0f, .steps = 20, .clamp = {-0.25f, 0.25f}};
    auto x = start_points(10);
    auto st = sampler.make_state(energy, 10);
    sampler.run(st, energy, x, ebm::philox(3), 0);
    for (float v : x.view().values()) {
        CHECK(v >= -0.25f);
        CHECK(v <= 0.25f);
    }
}

TEST_CASE("langevin: zero steps leave the chains unchanged and report the start") {
    const ebm_test::quadratic energy;
    const ebm::langevin sampler{.epsilon = 0.5f, .steps = 0};
    auto x = start_points(2);
    const auto x0 = start_points(2);
    auto st = sampler.make_state(energy, 2);
    const auto stats = sampler.run(st, energy, x, ebm::philox(3), 0);
    CHECK(std::equal(x0.view().values().begin(), x0.view().values().end(), x.view().values().begin()));
    CHECK(stats.mean_gradient_norm > 0.0);
}

TEST_CASE("langevin: chains whose final energy is not finite are counted in non_finite_chains") {
    const ebm_test::quadratic energy;  // with lambda = 8 every coordinate is multiplied by -3, -7 or -11 per step
    const ebm::index chains = 5;
    for (const ebm::index steps : {ebm::index{3}, ebm::index{120}}) {
        const ebm::langevin_decoupled sampler{.step_size_lambda = 8.0f, .noise_sigma = 0.0f, .steps = steps,
                                              .chains_per_task = 2};
        auto x = start_points(chains);
        for (ebm::index k = 0; k < 3; ++k) x.chain(2)[k] = 0.0f;  // a fixed point: stays finite
        auto st = sampler.make_state(energy, chains);
        const auto stats = sampler.run(st, energy, x, ebm::philox(1), 0);
        if (steps == 3) {  // 11^3 x 5 stays far below FLT_MAX: nothing to report
            CHECK(stats.non_finite_chains == 0);
            CHECK(std::isfinite(stats.mean_energy));
        } else {  // 3^120 overflows: every chain but the one at the fixed point
            CHECK(stats.non_finite_chains == chains - 1);
            CHECK_FALSE(std::isfinite(stats.mean_energy));
            CHECK(x.chain(2)[0] == 0.0f);
        }
    }
}

TEST_CASE("langevin_decoupled(lambda, sigma) is the Anatomy langevin(eps = sigma) on U/T, T = sigma^2/(2 lambda)") {
    // The fact behind sampling a decoupled model at its training temperature (ebm::mala_at_training_temperature).
    const ebm_test::quadratic energy;
    const ebm::index chains = 4, steps = 7;
    struct setting {
        float lambda, sigma;
        bool exact;  // dyadic: both moves compute the same float operations
    };
    for (const setting s : {setting{0.5f, 0.5f, true}, setting{1.0f, 0.01f, false}, setting{0.25f, 0.05f, false}}) {
        const ebm::langevin_decoupled decoupled{.step_size_lambda = s.lambda, .noise_sigma = s.sigma, .steps = steps};
        const ebm::langevin anatomy{.epsilon = s.sigma, .steps = steps};
        const auto tempered = ebm::tempered(energy, decoupled.implied_temperature());
        auto x1 = start_points(chains);
        auto x2 = start_points(chains);
        auto st1 = decoupled.make_state(energy, chains);
        auto st2 = anatomy.make_state(tempered, chains);
        const ebm::philox rng(ebm::seed{31});
        (void)decoupled.run(st1, energy, x1, rng, 5);
        (void)anatomy.run(st2, tempered, x2, rng, 5);
        double worst = 0, scale = 0;
        for (ebm::index i = 0; i < chains; ++i)
            for (ebm::index k = 0; k < 3; ++k) {
                worst = std::max(worst, std::abs(static_cast<double>(x1.chain(i)[k]) - x2.chain(i)[k]));
                scale = std::max(scale, std::abs(static_cast<double>(x1.chain(i)[k])));
            }
        INFO("lambda " << s.lambda << ", sigma " << s.sigma << ", seed 31, first step 5");
        if (s.exact)
            CHECK(worst == 0.0);
        else
            CHECK(worst <= 1e-5 * scale);
    }
}
