// Invariance test of MALA and HMC: exact samples pushed through ONE step must still be exact
// samples; a two-sample KS test against fresh exact samples passes (p > 1e-3) for the right target and
// fails (p < 1e-6) when the step targets a wrong energy.
#include <doctest/doctest.h>

#include <ebm/energy/gaussian_mixture.hpp>
#include <ebm/sampler/hmc.hpp>
#include <ebm/sampler/mala.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "ks.hpp"
#include "seed.hpp"

namespace {

constexpr ebm::index samples = 20000;
constexpr float epsilon = 1.1f;  // large: about half of the proposals are rejected

ebm::gaussian_mixture correlated_target(double shift = 0.0, double widen = 1.0) {
    const double var1 = 1.0 * widen, var2 = 2.0 * widen, c = 0.8 * std::sqrt(1.0 * 2.0) * widen;
    return {{1.0}, {{0.5 + shift, -1.0 + shift}}, {{var1, c, c, var2}}};
}

struct invariance_outcome {
    double acceptance;
    double min_p;
};

// Exact samples of `target`, one step of `step` (steps = 1) on `sampler_energy`, KS per coordinate against fresh
// exact samples.
template <class Sampler = ebm::mala>
invariance_outcome one_step_ks(const ebm::gaussian_mixture& target, const ebm::gaussian_mixture& sampler_energy,
                               std::uint64_t seed, const Sampler& step = ebm::mala{.epsilon = epsilon, .steps = 1}) {
    const ebm::philox rng(seed);
    ebm::batch x(2, samples), fresh(2, samples);
    target.sample(x, rng, ebm::purpose::evaluation, 0);
    target.sample(fresh, rng, ebm::purpose::evaluation, 1);
    auto st = step.make_state(sampler_energy, samples);
    const auto stats = step.run(st, sampler_energy, x, rng, 0);
    double min_p = 1.0;
    for (ebm::index k = 0; k < 2; ++k) {
        std::vector<double> a, b;
        for (ebm::index i = 0; i < samples; ++i) {
            a.push_back(x.chain(i)[k]);
            b.push_back(fresh.chain(i)[k]);
        }
        const auto ks = ebm_test::ks_two_sample(a, b);
        MESSAGE("coordinate " << k << ": D = " << ks.statistic << ", p = " << ks.p_value);
        min_p = std::min(min_p, ks.p_value);
    }
    return {stats.acceptance, min_p};
}

}  // namespace

TEST_CASE("mala: one step leaves exact samples exact (two-sample KS, p > 1e-3)") {
    EBM_TEST_SEED_VAR(seed, 2002);
    const auto target = correlated_target();
    const auto outcome = one_step_ks(target, target, seed);
    MESSAGE("acceptance " << outcome.acceptance);
    CHECK(outcome.acceptance > 0.3);
    CHECK(outcome.acceptance < 0.7);
    CHECK(outcome.min_p > 1e-3);
}

TEST_CASE("mala: one step on a wrong energy is detected by the same test (p < 1e-6)") {
    EBM_TEST_SEED_VAR(seed, 2003);
    const auto target = correlated_target();
    SUBCASE("shifted mean") { CHECK(one_step_ks(target, correlated_target(1.0, 1.0), seed).min_p < 1e-6); }
    SUBCASE("wider covariance") { CHECK(one_step_ks(target, correlated_target(0.0, 3.0), seed).min_p < 1e-6); }
}

// HMC: a trajectory of 3 leapfrog steps of 0.95, long enough that about half of the proposals are rejected.
const ebm::hmc hmc_step{.epsilon = 0.95f, .leapfrog = 3, .steps = 1};

TEST_CASE("hmc: one step leaves exact samples exact (two-sample KS, p > 1e-3)") {
    EBM_TEST_SEED_VAR(seed, 2004);
    const auto target = correlated_target();
    const auto outcome = one_step_ks(target, target, seed, hmc_step);
    MESSAGE("acceptance " << outcome.acceptance);
    CHECK(outcome.acceptance > 0.3);
    CHECK(outcome.acceptance < 0.8);
    CHECK(outcome.min_p > 1e-3);
}

TEST_CASE("hmc: one step on a wrong energy is detected by the same test (p < 1e-6)") {
    EBM_TEST_SEED_VAR(seed, 2005);
    const auto target = correlated_target();
    SUBCASE("shifted mean") { CHECK(one_step_ks(target, correlated_target(1.0, 1.0), seed, hmc_step).min_p < 1e-6); }
    SUBCASE("wider covariance") { CHECK(one_step_ks(target, correlated_target(0.0, 3.0), seed, hmc_step).min_p < 1e-6); }
}
