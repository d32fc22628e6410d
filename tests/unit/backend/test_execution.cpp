// The CPU execution (backend/cpu/execution.hpp) primitive by primitive, against plain loops, and the host <-> space
// helpers of backend/execution.hpp. The samplers' and trainer's own tests exercise them in context.
#include <doctest/doctest.h>

#include <ebm/backend/execution.hpp>
#include <ebm/kernels/elements.hpp>
#include <ebm/kernels/noise.hpp>
#include <ebm/random/distributions.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../common/expect_error.hpp"

using X = ebm::execution<ebm::cpu>;

TEST_CASE("execution<cpu>: buffers are zeroed and 64-byte aligned, transfers copy, set/get") {
    auto b = X::make_buffer<float>(37);
    CHECK(b.size() == 37);
    CHECK(reinterpret_cast<std::uintptr_t>(b.data()) % 64 == 0);
    for (float v : b) CHECK(v == 0.0f);
    const std::vector<float> host{1, 2, 3, 4, 5};
    X::upload({}, b.data() + 2, host.data(), 5);
    std::vector<float> back(5);
    X::download({}, back.data(), b.data() + 2, 5);
    CHECK(back == host);
    X::copy({}, b.data() + 10, b.data() + 2, 5);
    CHECK(b[10] == 1.0f);
    CHECK(b[14] == 5.0f);
    X::set({}, b.data(), 7.5f);
    CHECK(X::get({}, b.data()) == 7.5f);
}

TEST_CASE("execution<cpu>: for_each, reductions in a fixed order, non-finite counts") {
    auto b = X::make_buffer<float>(10);
    X::for_each({}, 10, ebm::kernels::fill_value{b.data(), 0.25f});
    X::for_each({}, 10, ebm::kernels::scale_values{b.data(), b.data(), 4.0f});
    for (float v : b) CHECK(v == 1.0f);
    double total = 0.5;
    X::add_sum({}, b.data(), 10, &total);
    CHECK(total == 10.5);
    // Two chains of dimension 3: norms 5 (3, 4, 0) and 13 (5, 12, 0).
    const std::vector<float> g{3, 4, 0, 5, 12, 0};
    std::vector<float> norms(2);
    X::chain_norms({}, g.data(), 3, 2, norms.data());
    CHECK(norms == std::vector<float>{5.0f, 13.0f});
    double sum = 1.0;
    X::add_chain_norms({}, g.data(), 3, 2, norms.data(), &sum);
    CHECK(sum == 19.0);
    std::vector<float> v{1.0f, std::numeric_limits<float>::quiet_NaN(), 2.0f, std::numeric_limits<float>::infinity()};
    unsigned long long bad = 3;
    X::count_non_finite({}, v.data(), 4, &bad);
    CHECK(bad == 5);
}

TEST_CASE("execution<cpu>: chains are cut into fixed tasks, or kept whole for energies that thread themselves") {
    const auto tasks = X::grouping(120, 50, true);
    CHECK(tasks.groups() == 3);
    CHECK(tasks.range(2).first == 100);
    CHECK(tasks.range(2).count == 20);
    CHECK(X::max_groups(120, 50, true) == 3);
    const auto whole = X::grouping(120, 50, false);
    CHECK(whole.groups() == 1);
    CHECK(whole.range(0).count == 120);
    std::vector<int> seen(3, 0);
    X::for_groups(tasks, [&](ebm::index g) { seen[static_cast<std::size_t>(g)] += 1; });
    CHECK(seen == std::vector<int>{1, 1, 1});
}

TEST_CASE("execution<cpu>: the Langevin move equals its definition with fill_normal's noise") {
    const ebm::index d = 5, n = 3;
    std::vector<float> x(d * n), g(d * n), y(d * n), z(d * n), scratch(d * n);
    for (std::size_t k = 0; k < x.size(); ++k) {
        x[k] = std::sin(0.3f * static_cast<float>(k));
        g[k] = std::cos(0.7f * static_cast<float>(k));
    }
    const ebm::philox rng(ebm::seed{9});
    const std::uint64_t first = 40;
    const ebm::kernels::langevin_move move{0.01f, 0.2f, ebm::kernels::box{}};
    X::langevin_move({}, ebm::kernels::langevin_step{y.data(), x.data(), g.data(), d, rng, 7, {&first, 2}, move, true},
                     n, scratch.data());
    for (ebm::index i = 0; i < n; ++i)
        ebm::fill_normal(rng, ebm::purpose::langevin_noise, static_cast<std::uint32_t>(7 + i), 42, z.data() + i * d, d);
    for (std::size_t k = 0; k < x.size(); ++k) CHECK(y[k] == move(x[k], g[k], z[k]));
}

TEST_CASE("execution<cpu>: Gaussian noise through for_each (the batched fill) equals the per-block functor") {
    // for_each(normal_fill) takes fill_normal_chains for whole chains; with a chain list or accumulate it runs the
    // functor. Either way every value must be the functor's, block by block.
    const ebm::philox rng(ebm::seed{0xfeedull});
    const std::uint64_t base = (std::uint64_t{1} << 32) + 3;
    for (const ebm::index d : {1, 2, 3, 4, 5, 7, 10, 100}) {
        for (const ebm::index n : {1, 2, 17, 64, 65, 300}) {
            CAPTURE(d);
            CAPTURE(n);
            const ebm::index calls = n * ebm::kernels::blocks_per_chain(d);
            std::vector<float> fast(static_cast<std::size_t>(d * n), 1.0f), plain = fast;
            const ebm::kernels::normal_fill f{fast.data(), d, rng, ebm::purpose::init_noise, 5, {&base, 4}, 0.5f};
            X::for_each({}, calls, f);
            ebm::kernels::normal_fill g = f;
            g.out = plain.data();
            for (ebm::index k = 0; k < calls; ++k) g(k);
            CHECK(std::memcmp(fast.data(), plain.data(), fast.size() * sizeof(float)) == 0);
            // accumulate (the data noise on positives) keeps the functor's path and adds.
            std::vector<float> added(fast.size(), 1.0f);
            ebm::kernels::normal_fill h = f;
            h.out = added.data();
            h.accumulate = true;
            X::for_each({}, calls, h);
            bool sums = true;
            for (std::size_t k = 0; k < added.size(); ++k) sums = sums && added[k] == 1.0f + plain[k];
            CHECK(sums);
        }
    }
}

TEST_CASE("copy_to_host, copy_from_host, to_host_vector and batch_in on the host, their errors") {
    ebm::batch_in<ebm::cpu> x(3, 4);
    CHECK(x.dimension() == 3);
    CHECK(x.count() == 4);
    ebm::batch host(3, 4);
    for (ebm::index k = 0; k < 12; ++k) host.data()[k] = static_cast<float>(k);
    ebm::copy_from_host(host.view(), x.view());
    ebm::batch back(3, 4);
    ebm::copy_to_host(x.view(), back.view());
    CHECK(std::memcmp(back.data(), host.data(), 12 * sizeof(float)) == 0);
    const auto v = ebm::to_host_vector(x.view().values());
    CHECK(v.size() == 12);
    CHECK(v[11] == 11.0f);
    ebm::batch small(3, 2);
    EBM_CHECK_ERROR(ebm::copy_to_host(x.view(), small.view()), "copy_to_host", "size 12", "(got 6)");
    EBM_CHECK_ERROR(ebm::copy_from_host(small.view(), x.view()), "copy_from_host", "size 6", "(got 12)");
    EBM_CHECK_ERROR(ebm::batch_in<ebm::cpu>(0, 4), "batch_in", "dimension", "(got 0)");
    EBM_CHECK_ERROR(ebm::batch_in<ebm::cpu>(3, -1), "batch_in", "count", "(got -1)");
}
