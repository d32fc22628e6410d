// MALA rejects proposals whose energy or gradient is NaN/Inf: the chain stays exactly where it was and the
// rejection is counted in non_finite_rejections.
#include <doctest/doctest.h>

#include <ebm/random/distributions.hpp>
#include <ebm/sampler/mala.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace {

// U = |x|^2 / 2 inside the strip |x0| <= 1. Outside: x0 > 1 gives a NaN energy; x0 < -1 with x1 > 0 gives -Inf
// energy (which would be accepted by a careless ratio); x0 < -1 with x1 <= 0 gives a finite energy with a NaN
// (x1 < -0.5) or +Inf gradient.
struct holey_energy {
    struct workspace {};
    [[nodiscard]] ebm::index dimension() const { return 2; }
    [[nodiscard]] workspace make_workspace(ebm::index) const { return {}; }

    enum class region { good, nan_energy, minus_inf_energy, nan_gradient, inf_gradient };
    static region classify(const float* x) {
        if (x[0] > 1.0f) return region::nan_energy;
        if (x[0] < -1.0f) {
            if (x[1] > 0.0f) return region::minus_inf_energy;
            return x[1] < -0.5f ? region::nan_gradient : region::inf_gradient;
        }
        return region::good;
    }
    static float value(const float* x) {
        switch (classify(x)) {
            case region::nan_energy: return std::numeric_limits<float>::quiet_NaN();
            case region::minus_inf_energy: return -std::numeric_limits<float>::infinity();
            default: return 0.5f * (x[0] * x[0] + x[1] * x[1]);
        }
    }
    void energy(ebm::const_batch_view x, std::span<float> u, workspace&) const {
        for (ebm::index i = 0; i < x.count; ++i) u[static_cast<std::size_t>(i)] = value(x.chain(i));
    }
    void energy_and_gradient(ebm::const_batch_view x, std::span<float> u, ebm::batch_view g, workspace&) const {
        for (ebm::index i = 0; i < x.count; ++i) {
            const float* p = x.chain(i);
            u[static_cast<std::size_t>(i)] = value(p);
            g.chain(i)[0] = p[0];
            g.chain(i)[1] = p[1];
            if (classify(p) == region::nan_gradient) g.chain(i)[1] = std::numeric_limits<float>::quiet_NaN();
            if (classify(p) == region::inf_gradient) g.chain(i)[0] = std::numeric_limits<float>::infinity();
        }
    }
};

}  // namespace

TEST_CASE("mala: proposals with NaN/Inf energy or gradient are rejected, counted, and leave the chain unchanged") {
    static_assert(ebm::energy_function<holey_energy>);
    const holey_energy energy;
    const ebm::index chains = 400, steps = 60;
    const float eps = 0.9f;
    const ebm::mala sampler{.epsilon = eps, .steps = 1, .chains_per_task = 64};
    const ebm::philox rng(2024);
    ebm::batch x(2, chains);
    for (ebm::index i = 0; i < chains; ++i) {  // start near the walls of the strip
        x.chain(i)[0] = (i % 2 == 0 ? 0.8f : -0.8f);
        x.chain(i)[1] = -0.6f + 1.2f * static_cast<float>(i % 7) / 6.0f;
    }
    auto st = sampler.make_state(energy, chains);
    std::int64_t expected_rejections = 0, counted = 0, ambiguous = 0;
    std::int64_t per_region[5] = {0, 0, 0, 0, 0};
    for (ebm::index t = 0; t < steps; ++t) {
        const ebm::batch before = x;
        const auto stats = sampler.run(st, energy, x, rng, static_cast<std::uint64_t>(t));
        counted += stats.non_finite_rejections;
        for (ebm::index i = 0; i < chains; ++i) {
            // The proposal, rebuilt from the documented noise stream: y = x - (eps^2/2) x + eps z (gradient x inside).
            float z[2];
            ebm::fill_normal(rng, ebm::purpose::langevin_noise, static_cast<std::uint32_t>(i), static_cast<std::uint64_t>(t), z, 2);
            float y[2];
            bool near_wall = false;
            for (int k = 0; k < 2; ++k) {
                y[k] = before.chain(i)[k] - 0.5f * eps * eps * before.chain(i)[k] + eps * z[k];
                near_wall = near_wall || std::abs(std::abs(y[k]) - 1.0f) < 1e-4f || std::abs(y[k]) < 1e-4f ||
                            std::abs(y[k] + 0.5f) < 1e-4f;
            }
            if (near_wall) {
                ++ambiguous;
                continue;
            }
            const auto where = holey_energy::classify(y);
            ++per_region[static_cast<int>(where)];
            if (where != holey_energy::region::good) {
                ++expected_rejections;
                INFO("chain " << i << " step " << t);
                CHECK(std::memcmp(before.chain(i), x.chain(i), 2 * sizeof(float)) == 0);
            }
        }
        for (ebm::index i = 0; i < chains; ++i) {
            CHECK(holey_energy::classify(x.chain(i)) == holey_energy::region::good);
            CHECK(std::isfinite(x.chain(i)[0]));
            CHECK(std::isfinite(x.chain(i)[1]));
        }
    }
    MESSAGE("proposals per region (good, NaN U, -Inf U, NaN grad, Inf grad): " << per_region[0] << ", " << per_region[1]
            << ", " << per_region[2] << ", " << per_region[3] << ", " << per_region[4] << "; near a wall: " << ambiguous);
    for (int r = 1; r < 5; ++r) CHECK(per_region[r] > 50);  // every kind of bad proposal happened many times
    CHECK(counted >= expected_rejections);
    CHECK(counted <= expected_rejections + ambiguous);
}

namespace {
// Finite (U = 0, zero gradient) only on the diagonal x0 == x1; every continuous proposal lands off it (NaN).
struct diagonal_only {
    struct workspace {};
    [[nodiscard]] ebm::index dimension() const { return 2; }
    [[nodiscard]] workspace make_workspace(ebm::index) const { return {}; }
    void energy(ebm::const_batch_view x, std::span<float> u, workspace&) const {
        for (ebm::index i = 0; i < x.count; ++i)
            u[static_cast<std::size_t>(i)] = x.chain(i)[0] == x.chain(i)[1] ? 0.0f : std::numeric_limits<float>::quiet_NaN();
    }
    void energy_and_gradient(ebm::const_batch_view x, std::span<float> u, ebm::batch_view g, workspace& ws) const {
        energy(x, u, ws);
        for (ebm::index k = 0; k < g.size(); ++k) g.data[k] = 0.0f;
    }
};
}  // namespace

TEST_CASE("mala: a run whose every proposal is non-finite leaves the batch bit-identical") {
    const diagonal_only energy;
    const ebm::mala sampler{.epsilon = 0.5f, .steps = 20, .chains_per_task = 7};
    ebm::batch x(2, 30);
    for (ebm::index i = 0; i < 30; ++i) x.chain(i)[0] = x.chain(i)[1] = 0.1f * static_cast<float>(i) - 1.0f;
    const ebm::batch before = x;
    auto st = sampler.make_state(energy, 30);
    const auto stats = sampler.run(st, energy, x, ebm::philox(5), 0);
    CHECK(std::memcmp(before.data(), x.data(), sizeof(float) * 60) == 0);
    CHECK(stats.acceptance == 0.0);
    CHECK(stats.non_finite_rejections == 30 * 20);
    CHECK(stats.mean_energy == 0.0);
}
