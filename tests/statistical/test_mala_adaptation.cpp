// Step-size adaptation: mala::adapt with dual averaging reaches an acceptance near the 0.574 target on a 10-D
// Gaussian, and the adapted step is then used by run().
#include <doctest/doctest.h>

#include <ebm/energy/gaussian_mixture.hpp>
#include <ebm/sampler/mala.hpp>

#include <cmath>
#include <vector>

#include "seed.hpp"

TEST_CASE("mala::adapt with dual_averaging reaches acceptance near 0.574 on a 10-D Gaussian") {
    EBM_TEST_SEED_VAR(seed, 4004);
    const ebm::index d = 10, chains = 100;
    std::vector<double> cov(static_cast<std::size_t>(d * d), 0.0);
    for (ebm::index k = 0; k < d; ++k) cov[static_cast<std::size_t>(k * d + k)] = 0.5 + 0.15 * static_cast<double>(k);
    const ebm::gaussian_mixture target({1.0}, {std::vector<double>(static_cast<std::size_t>(d), 0.0)}, {cov});
    const ebm::philox rng(seed);
    ebm::batch x(d, chains);
    target.sample(x, rng, ebm::purpose::evaluation, 0);

    // One task: adaptation runs a parallel region per step, which only costs time on a loaded machine.
    const ebm::mala sampler{.epsilon = 0.05f, .steps = 1000, .chains_per_task = chains};
    auto st = sampler.make_state(target, chains);
    const float adapted = sampler.adapt(st, target, x, rng, 0, 1000, ebm::dual_averaging{});
    CHECK(st.epsilon == adapted);
    CHECK(adapted > 0.05f);  // started far too small
    const auto stats = sampler.run(st, target, x, rng, 1000);
    MESSAGE("adapted epsilon " << adapted << ", acceptance " << stats.acceptance);
    CHECK(stats.acceptance > 0.574 - 0.03);
    CHECK(stats.acceptance < 0.574 + 0.03);

    SUBCASE("another target acceptance is reached too") {
        auto st2 = sampler.make_state(target, chains);
        const float eps2 = sampler.adapt(st2, target, x, rng, 5000, 1000, ebm::dual_averaging{.target_acceptance = 0.8});
        const auto stats2 = sampler.run(st2, target, x, rng, 6000);
        MESSAGE("target 0.8: epsilon " << eps2 << ", acceptance " << stats2.acceptance);
        CHECK(eps2 < adapted);
        CHECK(stats2.acceptance > 0.8 - 0.03);
        CHECK(stats2.acceptance < 0.8 + 0.03);
    }
}
