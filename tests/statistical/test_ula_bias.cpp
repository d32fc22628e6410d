// Unadjusted Langevin is biased (docs/samplers.md): on N(0, s^2) with gradient step h = eps^2/2 the chain is the AR(1)
// x' = (1 - h/s^2) x + eps z, whose stationary variance is s^2 / (1 - h/(2 s^2)), not s^2.
#include <doctest/doctest.h>

#include <ebm/energy/gaussian_mixture.hpp>
#include <ebm/sampler/langevin.hpp>

#include <cmath>
#include <vector>

#include "mcmc.hpp"
#include "seed.hpp"

namespace {

// Per-chain averages of x^2 over `records` states `thin` steps apart (independent across chains).
std::vector<double> chain_second_moments(const ebm::gaussian_mixture& target, float step_h_or_eps, bool decoupled,
                                         float sigma, std::uint64_t seed) {
    const ebm::index chains = 4000, burn_in = 60, records = 100, thin = 3;
    const ebm::philox rng(seed);
    ebm::batch x(1, chains);
    target.sample(x, rng, ebm::purpose::evaluation, 0);
    auto run = [&](const auto& burn, const auto& record) {
        return ebm_test::chain_second_moments(burn, record, target, x, rng, records);
    };
    if (decoupled)
        return run(ebm::langevin_decoupled{.step_size_lambda = step_h_or_eps, .noise_sigma = sigma, .steps = burn_in, .chains_per_task = chains},
            ebm::langevin_decoupled{.step_size_lambda = step_h_or_eps, .noise_sigma = sigma, .steps = thin, .chains_per_task = chains});
    return run(ebm::langevin{.epsilon = step_h_or_eps, .steps = burn_in, .chains_per_task = chains}, ebm::langevin{.epsilon = step_h_or_eps, .steps = thin, .chains_per_task = chains});
}

}  // namespace

TEST_CASE("langevin (unadjusted): stationary variance on N(0, s^2) is s^2 / (1 - h/(2 s^2)), not s^2") {
    EBM_TEST_SEED_VAR(seed, 3003);
    const double s = 0.8;
    const float epsilon = 0.8f;  // h = 0.32, h/(2 s^2) = 0.25: variance 0.8533 instead of 0.64
    const double h = 0.5 * epsilon * epsilon;
    const double biased = s * s / (1.0 - h / (2.0 * s * s));
    const ebm::gaussian_mixture target({1.0}, {{0.0}}, {{s * s}});
    const auto e = ebm_test::independent_mean(chain_second_moments(target, epsilon, false, 0.0f, seed));
    const double z_biased = (e.mean - biased) / e.mcse;
    const double z_exact = (e.mean - s * s) / e.mcse;
    MESSAGE("variance " << e.mean << " +- " << e.mcse << "; biased value " << biased << " (z " << z_biased
                        << "), s^2 " << s * s << " (z " << z_exact << ")");
    CHECK(std::abs(z_biased) < 3.29);  // two-sided 1e-3
    CHECK(std::abs(z_exact) > 20.0);
}

TEST_CASE("langevin_decoupled: stationary variance on N(0, s^2) is sigma^2 / (1 - (1 - lambda/s^2)^2)") {
    EBM_TEST_SEED_VAR(seed, 3004);
    const double s = 0.5;
    const float lambda = 0.1f, sigma = 0.3f;  // T = sigma^2/(2 lambda) = 0.45; small-step variance T s^2 = 0.1125
    const double a = 1.0 - lambda / (s * s);
    const double exact_ar1 = sigma * sigma / (1.0 - a * a);
    const double small_step = sigma * sigma / (2.0 * lambda) * s * s;
    const ebm::gaussian_mixture target({1.0}, {{0.0}}, {{s * s}});
    const auto e = ebm_test::independent_mean(chain_second_moments(target, lambda, true, sigma, seed));
    const double z = (e.mean - exact_ar1) / e.mcse;
    MESSAGE("variance " << e.mean << " +- " << e.mcse << "; AR(1) value " << exact_ar1 << " (z " << z
                        << "), small-step value T s^2 = " << small_step);
    CHECK(std::abs(z) < 3.29);
    CHECK(std::abs(e.mean - small_step) / e.mcse > 20.0);
}
