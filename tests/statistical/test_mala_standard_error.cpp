// Standard-error test of MALA and HMC: on a correlated 2-D Gaussian the chain
// averages of x1, x2, (x1-mu1)^2, (x2-mu2)^2 and the standardised product (x1-mu1)(x2-mu2)/(s1 s2) must lie
// within 2.33 Monte Carlo standard errors (batch means, ESS ~ 1e5) of the exact mean, variance and correlation.
//
// A calibrated z-test at 2.33 fails by chance with probability 2% per quantity, ~7% per run of five correlated
// quantities (measured: z is N(0, 1) to within sampling error over 80 seeds). So that the test does not flake, it
// runs two independent replicates: a quantity fails when it is beyond 2.33 MCSE in BOTH (chance 4e-4), or when the
// pooled estimate of the two is beyond 3.29 MCSE (two-sided 1e-3), which keeps the power against a moderate bias.
#include <doctest/doctest.h>

#include <ebm/energy/gaussian_mixture.hpp>
#include <ebm/sampler/hmc.hpp>
#include <ebm/sampler/mala.hpp>

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "mcmc.hpp"
#include "seed.hpp"

namespace {

const double mu1 = 1.0, mu2 = -0.5, var1 = 1.0, var2 = 2.0, rho = 0.8;
const std::array<std::string, 5> names = {"mean x1", "mean x2", "var x1", "var x2", "correlation"};
const std::array<double, 5> truth = {mu1, mu2, var1, var2, rho};

// make(steps): the sampler under test, running `steps` steps per run.
template <class Make>
std::array<ebm_test::mc_estimate, 5> replicate(std::uint64_t seed, Make make) {
    const double s1 = std::sqrt(var1), s2 = std::sqrt(var2), c = rho * s1 * s2;
    const ebm::gaussian_mixture target({1.0}, {{mu1, mu2}}, {{var1, c, c, var2}});

    const ebm::index chains = 200, burn_in = 500, length = 4000, batches = 10;
    const ebm::philox rng(seed);
    ebm::batch x(2, chains);
    target.sample(x, rng, ebm::purpose::evaluation, 0);
    // Started from exact draws; the burn-in is a safeguard only. steps = 2: every other state is recorded.
    // One task (chains_per_task = chains): thousands of short runs pay no thread start-up.
    const auto burn = make(burn_in);
    const auto thin = make(2);
    auto st = thin.make_state(target, chains);
    burn.run(st, target, x, rng, 0);
    std::uint64_t step = static_cast<std::uint64_t>(burn_in);

    const std::size_t n = static_cast<std::size_t>(chains * length);
    std::array<std::vector<double>, 5> f;
    for (auto& v : f) v.resize(n);
    double acceptance = 0;
    for (ebm::index t = 0; t < length; ++t) {
        acceptance += thin.run(st, target, x, rng, step).acceptance;
        step += 2;
        for (ebm::index i = 0; i < chains; ++i) {
            const double a = x.chain(i)[0] - mu1, b = x.chain(i)[1] - mu2;
            const std::size_t k = static_cast<std::size_t>(i * length + t);
            f[0][k] = x.chain(i)[0];
            f[1][k] = x.chain(i)[1];
            f[2][k] = a * a;
            f[3][k] = b * b;
            f[4][k] = a * b / (s1 * s2);
        }
    }
    acceptance /= static_cast<double>(length);
    MESSAGE("replicate seed " << seed << ": acceptance " << acceptance);
    CHECK(acceptance > 0.4);
    CHECK(acceptance < 0.95);

    std::array<ebm_test::mc_estimate, 5> out;
    for (std::size_t q = 0; q < 5; ++q) {
        out[q] = ebm_test::batch_means(f[q], static_cast<std::size_t>(chains), static_cast<std::size_t>(length),
                                       static_cast<std::size_t>(batches));
        MESSAGE(names[q] << ": estimate " << out[q].mean << ", truth " << truth[q] << ", MCSE " << out[q].mcse << ", ESS "
                         << out[q].ess << ", z " << (out[q].mean - truth[q]) / out[q].mcse);
        CHECK(out[q].ess > 10000);  // enough for the normal approximation of z and a tight test
    }
    return out;
}

template <class Make>
void standard_error_test(std::uint64_t seed, Make make) {
    const auto first = replicate(seed, make);
    const auto second = replicate(seed ^ 0x9e3779b97f4a7c15ULL, make);
    for (std::size_t q = 0; q < 5; ++q) {
        const double z1 = (first[q].mean - truth[q]) / first[q].mcse;
        const double z2 = (second[q].mean - truth[q]) / second[q].mcse;
        const double pooled_mean = 0.5 * (first[q].mean + second[q].mean);
        const double pooled_mcse = 0.5 * std::sqrt(first[q].mcse * first[q].mcse + second[q].mcse * second[q].mcse);
        const double z = (pooled_mean - truth[q]) / pooled_mcse;
        INFO(names[q] << ": z " << z1 << " and " << z2 << ", pooled z " << z);
        CHECK((std::abs(z1) < 2.33 || std::abs(z2) < 2.33));
        CHECK(std::abs(z) < 3.29);
    }
}

}  // namespace

TEST_CASE("mala: chain averages on a correlated 2-D Gaussian are within 2.33 MCSE of the truth") {
    EBM_TEST_SEED_VAR(seed, 1001);
    standard_error_test(seed, [](ebm::index steps) { return ebm::mala{.epsilon = 0.8f, .steps = steps, .chains_per_task = 200}; });
}

TEST_CASE("hmc: chain averages on a correlated 2-D Gaussian are within 2.33 MCSE of the truth") {
    EBM_TEST_SEED_VAR(seed, 1004);
    standard_error_test(seed, [](ebm::index steps) {
        return ebm::hmc{.epsilon = 0.75f, .leapfrog = 3, .steps = steps, .chains_per_task = 200};
    });
}
