// What every energy must satisfy: the concept, energy() == energy_and_gradient()'s energies, per-chain results
// independent of the batch, repeatable calls, the same bits with 1 and 2 threads, finite differences, sub-batches of
// the workspace capacity.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "cases.hpp"

namespace {

ebm::batch points(ebm::index d, ebm::index n, double range, std::uint64_t seed) {
    ebm::batch x(d, n);
    ebm::uniform_noise{static_cast<float>(-range), static_cast<float>(range)}.fill(x, ebm::philox(seed), ebm::purpose::user, 0);
    for (ebm::index k = 0; k < x.view().size(); ++k) x.data()[k] = std::round(x.data()[k] * 256.0f) / 256.0f;
    return x;
}

void set_threads(int threads) {
#if defined(_OPENMP)
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("energy conformance", T, energy_conformance) {
    using E = typename T::type;
    static_assert(ebm::check_energy_function<E>());
    const E energy = T::make();
    const ebm::index d = energy.dimension(), n = 24;
    const auto x = points(d, n, T::range, 1234);
    auto ws = energy.make_workspace(n);
    ebm::detail::aligned_vector<float> u(n), u_only(n), u_again(n);
    ebm::batch g(d, n), g_again(d, n);
    energy.energy_and_gradient(x, u, g, ws);
    energy.energy(x, u_only, ws);
    energy.energy_and_gradient(x, u_again, g_again, ws);

    SUBCASE("energy() equals the energies of energy_and_gradient(), bit for bit, and calls repeat exactly") {
        CHECK(std::memcmp(u.data(), u_only.data(), sizeof(float) * n) == 0);
        CHECK(std::memcmp(u.data(), u_again.data(), sizeof(float) * n) == 0);
        CHECK(std::memcmp(g.data(), g_again.data(), sizeof(float) * static_cast<std::size_t>(d * n)) == 0);
        for (float v : u) CHECK(std::isfinite(v));
        for (float v : g.view().values()) CHECK(std::isfinite(v));
    }
    SUBCASE("each chain's energy and gradient do not depend on the rest of the batch") {
        auto ws1 = energy.make_workspace(1);
        for (ebm::index i = 0; i < n; ++i) {
            float ui = 0;
            std::vector<float> gi(static_cast<std::size_t>(d));
            energy.energy_and_gradient(x.view().chains(i, 1), std::span<float>(&ui, 1), ebm::batch_view{gi.data(), d, 1}, ws1);
            CHECK(ui == doctest::Approx(u[static_cast<std::size_t>(i)]).epsilon(1e-6));
            // Relative to the chain's largest component: a batch may sum in another order (a network's fully
            // connected layers are one product over a block of chains), and a float sum is exact to rounding relative
            // to its terms, which a component far below the others does not show (seen at -O1: a component of 6.0e-6
            // differing by 2.8e-10 between a batch of 24 chains and one chain).
            double largest = 1e-30;
            for (ebm::index k = 0; k < d; ++k) largest = std::max(largest, std::abs(static_cast<double>(g.chain(i)[k])));
            for (ebm::index k = 0; k < d; ++k)
                CHECK(gi[static_cast<std::size_t>(k)] == doctest::Approx(g.chain(i)[k]).epsilon(1e-5).scale(largest));
        }
    }
    SUBCASE("a workspace serves any batch up to its capacity") {
        ebm::detail::aligned_vector<float> part(5);
        energy.energy(x.view().chains(3, 5), part, ws);
        for (ebm::index i = 0; i < 5; ++i)
            CHECK(part[static_cast<std::size_t>(i)] == doctest::Approx(u[static_cast<std::size_t>(i + 3)]).epsilon(1e-6));
    }
    SUBCASE("1 thread and 2 threads: the same bits (energy, dU/dx, and dU/dtheta for learnable energies)") {
        // The README's promise: a run is bit-identical for any thread count. Energy and workspace made afresh
        // under each count (OpenMP), weights +-1/n, grad starting at 0.25 (seed 1234 for x).
        auto under = [&](int threads) {
            set_threads(threads);
            const E e = T::make();
            auto w1 = e.make_workspace(n);
            // 64-byte aligned buffers, as the trainers' (backend make_buffer): Eigen's vectorised sums peel their
            // loops by the address, so mlp's parameter gradient can differ in the last bit between a caller's
            // buffers at different alignments (seen with std::vector under ctest); this subcase is about threads.
            ebm::detail::aligned_vector<float> out(static_cast<std::size_t>(n)), grad_x(static_cast<std::size_t>(d * n));
            e.energy_and_gradient(x, out, ebm::batch_view{grad_x.data(), d, n}, w1);
            std::vector<float> result(out.begin(), out.end());
            result.insert(result.end(), grad_x.begin(), grad_x.end());
            if constexpr (ebm::learnable_energy<E>) {
                ebm::detail::aligned_vector<float> weights(static_cast<std::size_t>(n)),
                    theta(static_cast<std::size_t>(e.parameter_count()), 0.25f);
                for (ebm::index i = 0; i < n; ++i)
                    weights[static_cast<std::size_t>(i)] = (i % 3 == 0 ? -1.0f : 1.0f) / static_cast<float>(n);
                e.accumulate_parameter_gradient(x, weights, theta, out, w1);
                result.insert(result.end(), theta.begin(), theta.end());
                result.insert(result.end(), out.begin(), out.end());
            }
            set_threads(2);
            return result;
        };
        const auto one = under(1), two = under(2);
        REQUIRE(one.size() == two.size());
        std::size_t first = one.size();
        for (std::size_t k = 0; k < one.size() && first == one.size(); ++k)
            if (std::memcmp(&one[k], &two[k], sizeof(float)) != 0) first = k;
        // Layout: n energies, d * n of dU/dx, then (learnable) the parameter gradient and n energies again.
        INFO("first difference at element " << first << " of " << one.size() << " (n " << n << ", d " << d << ")"
             << (first < one.size() ? ": " + std::to_string(one[first]) + " vs " + std::to_string(two[first]) : ""));
        CHECK(first == one.size());
    }
    SUBCASE("dU/dx matches central differences of the float energies") {
        // Step 2^-10 on dyadic points (x +- h exact in float). Float rounding of U (~1e-7 |U|) over 2h adds
        // ~5e-5 |U|; smooth energies have O(h^2 U''') ~ 1e-4 truncation; piecewise-linear ones none unless a kink
        // lies within +-h, which may happen for a few coordinates (allowed: at most 1 in 16).
        const float h = 1.0f / 1024.0f;
        auto ws2 = energy.make_workspace(2);
        int failures = 0, total = 0;
        for (ebm::index i = 0; i < n; ++i)
            for (ebm::index k = 0; k < d; ++k) {
                ebm::batch p(d, 2);
                std::copy(x.chain(i), x.chain(i) + d, p.chain(0));
                std::copy(x.chain(i), x.chain(i) + d, p.chain(1));
                p.chain(0)[k] += h;
                p.chain(1)[k] -= h;
                float e2[2];
                energy.energy(p, std::span<float>(e2, 2), ws2);
                const double fd = (double(e2[0]) - e2[1]) / (2.0 * h);
                const double analytic = g.chain(i)[k];
                const double tolerance = 2e-3 * (1.0 + std::abs(analytic)) + 1e-7 * std::abs(u[static_cast<std::size_t>(i)]) / h;
                ++total;
                if (std::abs(fd - analytic) > tolerance) {
                    ++failures;
                    MESSAGE("chain " << i << " coordinate " << k << ": analytic " << analytic << ", difference " << fd);
                }
            }
        if (T::piecewise_linear)
            CHECK(failures * 16 <= total);
        else
            CHECK(failures == 0);
    }
}

TEST_CASE_TEMPLATE_INVOKE(energy_conformance, ebm_conformance::gmm_3d, ebm_conformance::toy_gmm, ebm_conformance::toy_rings,
                          ebm_conformance::toy_mixture_1d, ebm_conformance::toy_mlp, ebm_conformance::scaled_mlp,
                          ebm_conformance::scaled_gmm, ebm_conformance::tempered_gmm, ebm_conformance::magnetized_mlp,
                          ebm_conformance::network_mlp, ebm_conformance::network_residual);
