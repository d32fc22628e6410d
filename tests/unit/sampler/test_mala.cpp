// MALA mechanics: the proposal uses the documented noise stream, the accept decision follows the MH ratio
// (a proposal that lowers U with a symmetric ratio is accepted), statistics are consistent.
#include <doctest/doctest.h>

#include <ebm/energy/gaussian_mixture.hpp>
#include <ebm/init/noise.hpp>
#include <ebm/random/distributions.hpp>
#include <ebm/sampler/mala.hpp>

#include <cmath>
#include <vector>

#include "quadratic.hpp"

TEST_CASE("mala: each chain either stays or moves to the proposal x - h dU/dx + eps z") {
    const ebm_test::quadratic energy;
    const float eps = 0.7f;
    const ebm::mala sampler{.epsilon = eps, .steps = 1};
    const ebm::philox rng(31);
    const ebm::index chains = 64;
    ebm::batch x(3, chains);
    ebm::gaussian_noise{}.fill(x, rng, ebm::purpose::user, 0);
    const ebm::batch x0 = x;
    auto st = sampler.make_state(energy, chains);
    const auto stats = sampler.run(st, energy, x, rng, 5);
    ebm::index moved = 0;
    for (ebm::index i = 0; i < chains; ++i) {
        float z[3];
        ebm::fill_normal(rng, ebm::purpose::langevin_noise, static_cast<std::uint32_t>(i), 5, z, 3);
        bool stayed = true, at_proposal = true;
        double log_ratio = 0, u_x = 0, u_y = 0, forward = 0, backward = 0;
        for (std::size_t k = 0; k < 3; ++k) {
            const double c = energy.c[k], a = x0.chain(i)[k];
            const double y = a - 0.5 * eps * eps * c * a + eps * z[k];
            stayed = stayed && x.chain(i)[k] == x0.chain(i)[k];
            at_proposal = at_proposal && std::abs(x.chain(i)[k] - y) < 1e-5 * (1 + std::abs(y));
            u_x += 0.5 * c * a * a;
            u_y += 0.5 * c * y * y;
            forward += std::pow(y - a + 0.5 * eps * eps * c * a, 2);
            backward += std::pow(a - y + 0.5 * eps * eps * c * y, 2);
        }
        log_ratio = u_x - u_y - (backward - forward) / (2.0 * eps * eps);
        const double log_u = std::log(ebm::uniform_scalar(rng, ebm::purpose::mala_accept, static_cast<std::uint32_t>(i), 5));
        CHECK((stayed || at_proposal));
        if (std::abs(log_u - log_ratio) > 1e-3) {  // away from the decision boundary the decision is determined
            INFO("chain " << i << ": log u " << log_u << ", log ratio " << log_ratio);
            CHECK(at_proposal == (log_u < log_ratio));
        }
        moved += at_proposal ? 1 : 0;
    }
    CHECK(stats.acceptance == doctest::Approx(static_cast<double>(moved) / chains));
    CHECK(st.chain_acceptance(0, 1) >= 0.0);
    CHECK(stats.non_finite_rejections == 0);
}

TEST_CASE("mala: steps_per_run, step_size and the state's epsilon") {
    const ebm::mala sampler{.epsilon = 0.5f, .steps = 7};
    CHECK(sampler.steps_per_run() == 7);
    CHECK(sampler.step_size() == 0.125f);
    const ebm_test::quadratic energy;
    auto st = sampler.make_state(energy, 4);
    CHECK(st.epsilon == 0.5f);
    CHECK(st.max_chains == 4);
}

TEST_CASE("mala: on the exact target from its mode a tiny step is almost always accepted") {
    const ebm_test::quadratic energy;
    const ebm::mala sampler{.epsilon = 1e-3f, .steps = 50};
    ebm::batch x(3, 20);
    auto st = sampler.make_state(energy, 20);
    const auto stats = sampler.run(st, energy, x, ebm::philox(8), 0);
    CHECK(stats.acceptance > 0.99);
}
