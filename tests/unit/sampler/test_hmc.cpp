// HMC (sampler/hmc.hpp): one step against a hand computation from the documented streams, L = 1 against MALA,
// the leapfrog integrator's reversibility and second order, non-finite trajectories rejected, the adaptation's
// target, validation.
#include <doctest/doctest.h>

#include <ebm/energy/gaussian_mixture.hpp>
#include <ebm/init/noise.hpp>
#include <ebm/kernels/hamiltonian.hpp>
#include <ebm/random/distributions.hpp>
#include <ebm/sampler/hmc.hpp>
#include <ebm/sampler/mala.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../common/expect_error.hpp"
#include "quadratic.hpp"

namespace {

ebm::gaussian_mixture correlated_gaussian() {
    const double c = 0.8 * std::sqrt(2.0);
    return {{1.0}, {{0.5, -1.0}}, {{1.0, c, c, 2.0}}};
}

// Leapfrog by the shared functors on one chain of the quadratic, from (x, p): L steps of eps; returns (x, p) at the end.
void trajectory(const ebm_test::quadratic& q, std::vector<float>& x, std::vector<float>& p, float eps, int steps) {
    const auto d = static_cast<ebm::index>(x.size());
    std::vector<float> g(x.size());
    auto gradient = [&] {
        for (std::size_t k = 0; k < x.size(); ++k) g[k] = q.c[k] * x[k];
    };
    gradient();
    for (int j = 0; j < steps; ++j) {
        const ebm::kernels::leapfrog_drift drift{x.data(), x.data(), p.data(), p.data(), g.data(), &eps, j == 0 ? 0.5f : 1.0f};
        for (ebm::index k = 0; k < d; ++k) drift(k);
        gradient();
    }
    const ebm::kernels::leapfrog_kick kick{p.data(), g.data(), &eps};
    for (ebm::index k = 0; k < d; ++k) kick(k);
}

double hamiltonian(const ebm_test::quadratic& q, const std::vector<float>& x, const std::vector<float>& p) {
    double h = 0;
    for (std::size_t k = 0; k < x.size(); ++k) h += 0.5 * q.c[k] * x[k] * x[k] + 0.5 * static_cast<double>(p[k]) * p[k];
    return h;
}

}  // namespace

TEST_CASE("hmc: each step equals a hand computation from the documented streams (momentum, leapfrog, log u)") {
    const ebm_test::quadratic energy;
    const ebm::index chains = 64, d = energy.dimension();
    const float eps = 0.9f;
    const int leapfrog = 3;
    const ebm::hmc sampler{.epsilon = eps, .leapfrog = leapfrog, .steps = 1, .chains_per_task = 16};
    const ebm::philox rng(31);
    ebm::batch x(d, chains);
    ebm::gaussian_noise{.scale = 1.5f}.fill(x, rng, ebm::purpose::user, 0);
    auto st = sampler.make_state(energy, chains);
    int accepted = 0, rejected = 0;
    for (std::uint64_t t = 0; t < 20; ++t) {
        const ebm::batch before = x;
        sampler.run(st, energy, x, rng, t);
        for (ebm::index i = 0; i < chains; ++i) {
            std::vector<float> q(before.chain(i), before.chain(i) + d), p(static_cast<std::size_t>(d));
            ebm::fill_normal(rng, ebm::purpose::langevin_noise, static_cast<std::uint32_t>(i), t, p.data(), d);
            const std::vector<float> q0 = q, p0 = p;
            trajectory(energy, q, p, eps, leapfrog);
            const double log_ratio = hamiltonian(energy, q0, p0) - hamiltonian(energy, q, p);
            const double log_u = std::log(ebm::uniform_scalar(rng, ebm::purpose::mala_accept, static_cast<std::uint32_t>(i), t));
            if (std::abs(log_u - log_ratio) < 1e-4) continue;  // too close to call in float
            const bool accept = log_u < log_ratio;
            (accept ? accepted : rejected) += 1;
            const std::vector<float>& expected = accept ? q : q0;
            for (ebm::index k = 0; k < d; ++k) {
                INFO("step " << t << " chain " << i << " element " << k);
                CHECK(x.chain(i)[k] == doctest::Approx(expected[static_cast<std::size_t>(k)]).epsilon(1e-5));
            }
        }
    }
    MESSAGE("accepted " << accepted << ", rejected " << rejected);
    CHECK(accepted > 200);
    CHECK(rejected > 50);  // both branches exercised
}

TEST_CASE("hmc: with one leapfrog step it is MALA (same numbers, same decisions)") {
    const auto energy = correlated_gaussian();
    const ebm::index chains = 200, steps = 300;
    const ebm::philox rng(77);
    ebm::batch a(2, chains);
    energy.sample(a, rng, ebm::purpose::evaluation, 0);
    ebm::batch b = a;
    const ebm::mala mala{.epsilon = 0.8f, .steps = steps};
    const ebm::hmc hmc{.epsilon = 0.8f, .leapfrog = 1, .steps = steps};
    auto sa = mala.make_state(energy, chains);
    auto sb = hmc.make_state(energy, chains);
    const auto ma = mala.run(sa, energy, a, rng, 0);
    const auto hb = hmc.run(sb, energy, b, rng, 0);
    MESSAGE("acceptance: mala " << ma.acceptance << ", hmc(L=1) " << hb.acceptance);
    CHECK(ma.acceptance > 0.3);
    CHECK(ma.acceptance == hb.acceptance);
    float worst = 0;
    for (ebm::index i = 0; i < chains; ++i) {
        CHECK(sa.chain_accepted(i) == sb.chain_accepted(i));
        for (ebm::index k = 0; k < 2; ++k) worst = std::max(worst, std::abs(a.chain(i)[k] - b.chain(i)[k]));
    }
    MESSAGE("largest state difference after " << steps << " steps: " << worst);
    CHECK(worst < 1e-4f);
}

TEST_CASE("hmc: the leapfrog integrator is reversible and of second order") {
    const ebm_test::quadratic q;
    const std::vector<float> x0 = {1.0f, -0.5f, 0.25f}, p0 = {0.3f, 0.8f, -1.1f};
    SUBCASE("forward, momentum flipped, forward again: back at the start") {
        std::vector<float> x = x0, p = p0;
        trajectory(q, x, p, 0.3f, 12);
        for (float& v : p) v = -v;
        trajectory(q, x, p, 0.3f, 12);
        for (std::size_t k = 0; k < 3; ++k) {
            CHECK(x[k] == doctest::Approx(x0[k]).epsilon(1e-5));
            CHECK(-p[k] == doctest::Approx(p0[k]).epsilon(1e-5));
        }
    }
    SUBCASE("halving eps (same trajectory length) divides the energy error by about 4") {
        const double h0 = hamiltonian(q, x0, p0);
        double errors[3];
        for (int level = 0; level < 3; ++level) {
            std::vector<float> x = x0, p = p0;
            const int steps = 5 << level;
            trajectory(q, x, p, 1.0f / static_cast<float>(steps), steps);
            errors[level] = std::abs(hamiltonian(q, x, p) - h0);
        }
        MESSAGE("|dH| at eps 0.2, 0.1, 0.05: " << errors[0] << ", " << errors[1] << ", " << errors[2]);
        CHECK(errors[0] / errors[1] == doctest::Approx(4.0).epsilon(0.25));
        CHECK(errors[1] / errors[2] == doctest::Approx(4.0).epsilon(0.25));
    }
}

namespace {
// U = |x|^2 / 2 for x0 <= 1; NaN energy and gradient beyond: a trajectory that crosses x0 = 1 carries the NaN to its
// end (through the momentum), so the whole proposal is rejected even if it ends back inside.
struct half_plane {
    struct workspace {};
    [[nodiscard]] ebm::index dimension() const { return 2; }
    [[nodiscard]] workspace make_workspace(ebm::index) const { return {}; }
    void energy(ebm::const_batch_view x, std::span<float> u, workspace&) const {
        for (ebm::index i = 0; i < x.count; ++i) {
            const float* p = x.chain(i);
            u[static_cast<std::size_t>(i)] = p[0] > 1.0f ? std::numeric_limits<float>::quiet_NaN() : 0.5f * (p[0] * p[0] + p[1] * p[1]);
        }
    }
    void energy_and_gradient(ebm::const_batch_view x, std::span<float> u, ebm::batch_view g, workspace& ws) const {
        energy(x, u, ws);
        for (ebm::index i = 0; i < x.count; ++i)
            for (ebm::index k = 0; k < 2; ++k)
                g.chain(i)[k] = x.chain(i)[0] > 1.0f ? std::numeric_limits<float>::quiet_NaN() : x.chain(i)[k];
    }
};
}  // namespace

TEST_CASE("hmc: trajectories through NaN are rejected, counted, and leave the chain unchanged") {
    const half_plane energy;
    const ebm::index chains = 300;
    const ebm::hmc sampler{.epsilon = 0.4f, .leapfrog = 6, .steps = 1, .chains_per_task = 64};
    const ebm::philox rng(12);
    ebm::batch x(2, chains);
    for (ebm::index i = 0; i < chains; ++i) {
        x.chain(i)[0] = 0.6f + 0.3f * static_cast<float>(i % 4) / 3.0f;
        x.chain(i)[1] = 0.1f * static_cast<float>(i % 9) - 0.4f;
    }
    auto st = sampler.make_state(energy, chains);
    std::int64_t counted = 0, unchanged_after_nan = 0;
    for (std::uint64_t t = 0; t < 40; ++t) {
        const ebm::batch before = x;
        const auto stats = sampler.run(st, energy, x, rng, t);
        counted += stats.non_finite_rejections;
        for (ebm::index i = 0; i < chains; ++i) {
            if (st.host_non_finite[static_cast<std::size_t>(i)] > 0) {
                CHECK(std::memcmp(before.chain(i), x.chain(i), 2 * sizeof(float)) == 0);
                ++unchanged_after_nan;
            }
            CHECK(x.chain(i)[0] <= 1.0f);
            CHECK(std::isfinite(x.chain(i)[1]));
        }
    }
    MESSAGE("non-finite trajectories: " << counted);
    CHECK(counted > 500);
    CHECK(unchanged_after_nan == counted);
}

TEST_CASE("hmc: adapt() reaches the target acceptance 0.65 by default, and another target when asked") {
    // A 50-D standard Gaussian: acceptance falls smoothly with eps, far from the leapfrog's stability limit eps = 2.
    const ebm::index d = 50, chains = 100;
    std::vector<double> cov(static_cast<std::size_t>(d * d), 0.0);
    for (ebm::index k = 0; k < d; ++k) cov[static_cast<std::size_t>(k * (d + 1))] = 1.0;
    const ebm::gaussian_mixture energy({1.0}, {std::vector<double>(static_cast<std::size_t>(d), 0.0)}, {cov});
    const ebm::hmc sampler{.epsilon = 0.05f, .leapfrog = 5, .steps = 400, .chains_per_task = 25};
    for (double target : {0.65, 0.9}) {
        const ebm::philox rng(41);
        ebm::batch x(d, chains);
        energy.sample(x, rng, ebm::purpose::evaluation, 0);
        auto st = sampler.make_state(energy, chains);
        const float eps = target == 0.65 ? sampler.adapt(st, energy, x, rng, 0, 600)
                                         : sampler.adapt(st, energy, x, rng, 0, 600, {.target_acceptance = target});
        const auto stats = sampler.run(st, energy, x, rng, 600);
        MESSAGE("target " << target << ": adapted eps " << eps << ", acceptance " << stats.acceptance);
        CHECK(st.adaptation_records().size() == 600);
        // 40,000 decisions: the standard error of the acceptance is ~0.003; the averaged step is not exactly the
        // step of the target (dual averaging's bias over a finite warm-up), hence 0.04.
        CHECK(std::abs(stats.acceptance - target) < 0.04);
    }
}

TEST_CASE("hmc: invalid hyper-parameters fail naming the policy, the argument and the value") {
    const ebm_test::quadratic energy;
    EBM_CHECK_ERROR((ebm::hmc{.leapfrog = 0}.validate()), "hmc", "leapfrog", "0");
    EBM_CHECK_ERROR((ebm::hmc{.epsilon = -0.5f}.validate()), "hmc", "epsilon", "-0.5");
    EBM_CHECK_ERROR((ebm::hmc{.steps = -1}.make_state(energy, 4)), "hmc", "steps", "-1");
    const ebm::hmc ok{};
    auto st = ok.make_state(energy, 4);
    ebm::batch x(3, 4);
    EBM_CHECK_ERROR((ok.adapt(st, energy, x, ebm::philox(1), 0, 0)), "hmc::adapt", "warmup_steps", "0");
    ebm::batch wrong(2, 4);
    EBM_CHECK_ERROR((ok.run(st, energy, wrong, ebm::philox(1), 0)), "hmc::run", "dimension", "2");
}
