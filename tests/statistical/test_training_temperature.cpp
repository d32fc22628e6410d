// The temperature rule of long runs (examples/long_run, sample_images --sampler mala): a model trained with the
// decoupled chain x <- x - lambda dF/dx + sigma z is sampled by MALA on F/T with T = sigma^2/(2 lambda) and step
// sigma (ebm::mala_at_training_temperature). On a known energy, F = x^2/(2 s^2), that chain must sample
// exp(-F/T) = N(0, T s^2); MALA on F itself (the mistake the rule prevents) samples N(0, s^2).
#include <doctest/doctest.h>

#include <ebm/energy/gaussian_mixture.hpp>
#include <ebm/energy/scaled.hpp>
#include <ebm/sampler/mala.hpp>
#include <ebm/train/config.hpp>

#include <cmath>
#include <vector>

#include "mcmc.hpp"
#include "seed.hpp"

namespace {

// Per-chain averages of x^2 over `records` states `thin` MALA steps apart, the chains started from exact draws of
// N(0, start_variance).
template <class Energy>
std::vector<double> mala_second_moments(const Energy& energy, float epsilon, double start_variance, std::uint64_t seed) {
    const ebm::index chains = 4000, burn_in = 60, records = 100, thin = 3;
    const ebm::philox rng(seed);
    ebm::batch x(1, chains);
    ebm::gaussian_mixture({1.0}, {{0.0}}, {{start_variance}}).sample(x, rng, ebm::purpose::evaluation, 0);
    const ebm::mala burn{.epsilon = epsilon, .steps = burn_in, .chains_per_task = chains};
    const ebm::mala record{.epsilon = epsilon, .steps = thin, .chains_per_task = chains};
    return ebm_test::chain_second_moments(burn, record, energy, x, rng, records);
}

}  // namespace

TEST_CASE("MALA at the training temperature of a decoupled model samples exp(-F/T), T = sigma^2/(2 lambda)") {
    EBM_TEST_SEED_VAR(seed, 4004);
    const ebm::train_config c = ebm::parse_config("{}", {"sampler.step_size=0.5", "sampler.noise=0.2"});
    const ebm::training_temperature_mala setting = ebm::mala_at_training_temperature(c);
    REQUIRE(setting.temperature == doctest::Approx(0.04));  // 0.2^2 / (2 * 0.5)
    REQUIRE(setting.epsilon == 0.2f);
    const double s2 = 1.0;
    const double expected = setting.temperature * s2;  // the variance of exp(-F/T)
    const ebm::gaussian_mixture model({1.0}, {{0.0}}, {{s2}});  // F = x^2/(2 s^2) + const

    const auto at_t = ebm_test::independent_mean(
        mala_second_moments(ebm::tempered(model, setting.temperature), setting.epsilon, expected, seed));
    const double z = (at_t.mean - expected) / at_t.mcse;
    MESSAGE("MALA on F/T: variance " << at_t.mean << " +- " << at_t.mcse << ", expected T s^2 = " << expected
                                     << " (z " << z << ")");
    CHECK(std::abs(z) < 3.29);  // two-sided 1e-3

    // Negative control: MALA on F itself, from the same start, drifts toward s^2 = 25 T s^2.
    const auto at_one = ebm_test::independent_mean(mala_second_moments(model, setting.epsilon, expected, seed));
    const double z_wrong = (at_one.mean - expected) / at_one.mcse;
    MESSAGE("MALA on F (T = 1): variance " << at_one.mean << " +- " << at_one.mcse << " (z against T s^2: " << z_wrong
                                           << ")");
    CHECK(z_wrong > 20.0);
}
