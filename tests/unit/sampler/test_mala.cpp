// MALA mechanics: the proposal uses the documented noise stream, the accept decision follows the MH ratio
// (a proposal that lowers U with a symmetric ratio is accepted), statistics are consistent.
#include <doctest/doctest.h>

#include <ebm/energy/gaussian_mixture.hpp>
#include <ebm/init/noise.hpp>
#include <ebm/random/distributions.hpp>
#include <ebm/sampler/mala.hpp>

#include <algorithm>
#include <cmath>
#include <span>
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
        // One step: the chain's acceptance is 1 if it moved to its proposal, 0 if it stayed.
        CHECK(st.chain_acceptance(i, 1) == (at_proposal && !stayed ? 1.0 : 0.0));
    }
    INFO("seed 31: " << moved << " of " << chains << " chains moved");
    CHECK(moved > 0);
    CHECK(moved < chains);  // eps 0.7 on this target: some proposals rejected, so both branches above were checked
    CHECK(stats.acceptance == static_cast<double>(moved) / chains);
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

namespace {
/// U(x) = a . x (a = (0.5, -0.25, 1)): a constant gradient, for which the MALA ratio is exactly 1: with d = y - x and
/// h = eps^2 / 2, log r = a.(x - y) + (|y - x + h a|^2 - |x - y + h a|^2) / (2 eps^2) = -a.d + 2 h a.d / eps^2 = 0.
struct linear {
    struct workspace {};
    static constexpr float a[3] = {0.5f, -0.25f, 1.0f};
    [[nodiscard]] ebm::index dimension() const { return 3; }
    [[nodiscard]] workspace make_workspace(ebm::index) const { return {}; }
    void energy(ebm::const_batch_view x, std::span<float> u, workspace&) const {
        for (ebm::index i = 0; i < x.count; ++i)
            u[static_cast<std::size_t>(i)] = a[0] * x.chain(i)[0] + a[1] * x.chain(i)[1] + a[2] * x.chain(i)[2];
    }
    void energy_and_gradient(ebm::const_batch_view x, std::span<float> u, ebm::batch_view g, workspace& ws) const {
        energy(x, u, ws);
        for (ebm::index i = 0; i < x.count; ++i)
            for (int k = 0; k < 3; ++k) g.chain(i)[k] = a[k];
    }
};
}  // namespace

TEST_CASE("mala: on a linear energy the MH ratio is exactly 1, so every proposal is accepted") {
    const linear energy;
    const ebm::mala sampler{.epsilon = 0.5f, .steps = 20};
    const ebm::index chains = 64;
    ebm::batch x(3, chains);
    auto st = sampler.make_state(energy, chains);
    const auto stats = sampler.run(st, energy, x, ebm::philox(41), 0);  // seed 41
    CHECK(stats.acceptance == 1.0);
    for (ebm::index i = 0; i < chains; ++i) CHECK(st.chain_acceptance(i, 20) == 1.0);
}

TEST_CASE("mala: one-step acceptance on a standard Gaussian from stationarity equals E min(1, r) by quadrature") {
    // U(x) = x^2 / 2 started at stationarity (x ~ N(0, 1)): with h = eps^2 / 2 the proposal is y = (1 - h) x + eps z,
    // and log r = (x^2 - y^2) / 2 + ((y - (1 - h) x)^2 - (x - (1 - h) y)^2) / (2 eps^2). The expected acceptance of the
    // first step, E min(1, r) over x, z ~ N(0, 1), is a 2-D Gaussian integral, computed here in double by a midpoint
    // rule on [-8, 8]^2 (1600^2 cells; the integrand is continuous, so the rule's error is far below the sampling
    // error), independently of the sampler. The sampler's one-step acceptance over 20,000 chains must match it
    // within 4 standard errors of a Bernoulli mean.
    const ebm_test::quadratic energy{.c = {1.0f}};
    const float eps = 1.5f;
    const double h = 0.5 * eps * eps;
    double expected = 0, mass = 0;
    const int n = 1600;
    const double lo = -8, step = 16.0 / n;
    for (int a = 0; a < n; ++a) {
        const double x = lo + (a + 0.5) * step, wx = std::exp(-0.5 * x * x);
        for (int b = 0; b < n; ++b) {
            const double z = lo + (b + 0.5) * step, w = wx * std::exp(-0.5 * z * z);
            const double y = (1 - h) * x + eps * z;
            const double log_r = 0.5 * (x * x - y * y) +
                                 (std::pow(y - (1 - h) * x, 2) - std::pow(x - (1 - h) * y, 2)) / (2 * eps * eps);
            expected += w * std::min(1.0, std::exp(log_r));
            mass += w;
        }
    }
    expected /= mass;
    const ebm::index chains = 20000;
    ebm::batch x(1, chains);
    ebm::gaussian_noise{}.fill(x, ebm::philox(57), ebm::purpose::user, 0);  // seed 57
    const ebm::mala sampler{.epsilon = eps, .steps = 1};
    auto st = sampler.make_state(energy, chains);
    const auto stats = sampler.run(st, energy, x, ebm::philox(57), 0);
    const double se = std::sqrt(expected * (1 - expected) / static_cast<double>(chains));
    INFO("expected acceptance " << expected << ", measured " << stats.acceptance << ", standard error " << se);
    CHECK(std::abs(stats.acceptance - expected) < 4 * se);
}
