// What every sampler must satisfy, on the toy MLP energy: the concept; the same seed gives bit-identical chains
// and another seed different ones; 1 and 2 threads agree bit for bit; the result does not depend on how chains
// are cut into tasks; two runs of k steps equal one run of 2k steps; statistics are consistent; bad batches throw.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "cases.hpp"

namespace {

constexpr ebm::index chains = 200;

void set_threads(int n) {
#if defined(_OPENMP)
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

ebm::batch start() {
    ebm::batch x(2, chains);
    ebm::uniform_noise{-1.0f, 1.0f}.fill(x, ebm::philox(17), ebm::purpose::user, 0);
    return x;
}

template <class S, class E>
ebm::batch run(const S& sampler, const E& energy, std::uint64_t seed, int threads, std::uint64_t first_step = 0,
               ebm::sampler_stats* stats = nullptr) {
    set_threads(threads);
    ebm::batch x = start();
    auto st = sampler.make_state(energy, chains);
    const auto s = sampler.run(st, energy, x, ebm::philox(seed), first_step);
    if (stats != nullptr) *stats = s;
    set_threads(2);
    return x;
}

bool identical(const ebm::batch& a, const ebm::batch& b) {
    return std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.view().size())) == 0;
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("sampler conformance", S, sampler_conformance) {
    const auto energy = ebm_conformance::toy_mlp::make();
    using E = ebm_conformance::toy_mlp::type;
    static_assert(ebm::check_sampler<S, E>());
    const S sampler = ebm_conformance::make_sampler<S>(20);
    CHECK(sampler.steps_per_run() == 20);

    SUBCASE("same seed: bit-identical; another seed: different") {
        const auto a = run(sampler, energy, 1, 2);
        const auto b = run(sampler, energy, 1, 2);
        const auto c = run(sampler, energy, 2, 2);
        CHECK(identical(a, b));
        CHECK(!identical(a, c));
        CHECK(!identical(a, start()));
    }
    SUBCASE("1 thread and 2 threads: bit-identical") {
        CHECK(identical(run(sampler, energy, 5, 1), run(sampler, energy, 5, 2)));
    }
    SUBCASE("the cut into tasks does not change any chain (on an energy evaluated chain by chain)") {
        const auto gmm = ebm_conformance::toy_gmm::make();
        const S coarse = ebm_conformance::make_sampler<S>(20, 200);
        const S fine = ebm_conformance::make_sampler<S>(20, 7);
        CHECK(identical(run(coarse, gmm, 6, 2), run(fine, gmm, 6, 2)));
    }
    SUBCASE("two runs of k steps equal one run of 2k steps (noise is indexed by the absolute step)") {
        const S half = ebm_conformance::make_sampler<S>(10);
        ebm::batch x = start();
        auto st = half.make_state(energy, chains);
        half.run(st, energy, x, ebm::philox(9), 100);
        half.run(st, energy, x, ebm::philox(9), 110);
        CHECK(identical(x, run(sampler, energy, 9, 2, 100)));
    }
    SUBCASE("statistics are finite and consistent with the final states") {
        ebm::sampler_stats stats;
        const auto x = run(sampler, energy, 3, 2, 0, &stats);
        auto ws = energy.make_workspace(chains);
        std::vector<float> u(chains);
        energy.energy(x, u, ws);
        double mean = 0;
        for (float v : u) mean += v / static_cast<double>(chains);
        CHECK(stats.mean_energy == doctest::Approx(mean).epsilon(1e-5));
        CHECK(std::isfinite(stats.mean_gradient_norm));
        CHECK(stats.mean_gradient_norm > 0.0);
        CHECK(stats.mean_displacement == doctest::Approx(sampler.step_size() * stats.mean_gradient_norm).epsilon(1e-6));
        CHECK(stats.non_finite_rejections == 0);
        if constexpr (std::is_same_v<S, ebm::mala> || std::is_same_v<S, ebm::hmc>) {
            CHECK(stats.acceptance >= 0.0);
            CHECK(stats.acceptance <= 1.0);
        } else {
            CHECK(stats.acceptance == -1.0);
        }
        for (float v : x.view().values()) CHECK(std::isfinite(v));
    }
    SUBCASE("a batch of the wrong dimension or too many chains throws ebm::error") {
        auto st = sampler.make_state(energy, chains);
        ebm::batch wrong(3, chains), many(2, chains + 1);
        CHECK_THROWS_AS(sampler.run(st, energy, wrong, ebm::philox(1), 0), ebm::error);
        CHECK_THROWS_AS(sampler.run(st, energy, many, ebm::philox(1), 0), ebm::error);
    }
}

TEST_CASE_TEMPLATE_INVOKE(sampler_conformance, ebm::langevin, ebm::langevin_decoupled, ebm::mala, ebm::hmc);
