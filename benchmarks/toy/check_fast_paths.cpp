// Checks that the fast paths the benchmarks time give the numbers of their plain definitions:
//   - batched noise (detail::fill_normal_chains, detail::fill_log_uniforms) == fill_normal / uniform_scalar chain
//     by chain, == Box-Muller on philox::block words (counter layout: element e uses block e/4, words
//     2*((e%4)/2), 2*((e%4)/2)+1), for several dimensions, counts and steps beyond 2^32;
//   - the vectorised Philox rounds == philox::raw;
//   - the mlp's chain results do not depend on which chains share the call (so not on the task split);
//   - ULA and MALA runs are bit-identical with 1 and 2 OpenMP threads.
#include <omp.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include <ebm/ebm.hpp>

namespace {

int passed = 0, failed = 0;

void check(bool ok, const char* what) {
    if (ok) {
        ++passed;
    } else {
        ++failed;
        std::printf("FAILED: %s\n", what);
    }
}

void check_noise() {
    const ebm::philox rng(ebm::seed{0x123456789abcdefull});
    bool rounds_ok = true;
    for (std::uint32_t i = 0; i < 20000; ++i) {
        std::uint32_t a = i * 2654435761u, b = ~i, c = i ^ 0x5bd1e995u, d = i * 31u;
        const auto r = ebm::philox::raw({a, b, c, d}, {0xdeadbeefu, i});
        ebm::detail::philox_rounds(a, b, c, d, 0xdeadbeefu, i);
        rounds_ok = rounds_ok && r[0] == a && r[1] == b && r[2] == c && r[3] == d;
    }
    check(rounds_ok, "philox_rounds equals philox::raw");

    for (const std::uint64_t step : {std::uint64_t{0}, std::uint64_t{77}, (std::uint64_t{1} << 32) + 5}) {
        for (const ebm::index dim : {1, 2, 3, 4, 5, 6, 7, 8, 9, 31, 64, 3072}) {
            for (const ebm::index count : {1, 2, 3, 50, 100}) {
                std::vector<float> batched(static_cast<std::size_t>(dim * count)), single(batched.size());
                ebm::detail::fill_normal_chains(rng, ebm::purpose::langevin_noise, 11, count, step, batched.data(), dim, 0.25f);
                bool layout_ok = true;
                for (ebm::index i = 0; i < count; ++i) {
                    ebm::fill_normal(rng, ebm::purpose::langevin_noise, static_cast<std::uint32_t>(11 + i), step,
                                     single.data() + i * dim, dim, 0.25f);
                    for (ebm::index e = 0; e < dim; ++e) {
                        const auto w = rng.block(ebm::purpose::langevin_noise, static_cast<std::uint32_t>(11 + i), step,
                                                 static_cast<std::uint32_t>(e / 4));
                        const auto k = static_cast<std::size_t>(2 * ((e % 4) / 2));
                        const auto z = ebm::box_muller(w[k], w[k + 1]);
                        layout_ok = layout_ok && batched[static_cast<std::size_t>(i * dim + e)] ==
                                                     0.25f * (e % 2 == 0 ? z.first : z.second);
                    }
                }
                check(batched == single, "fill_normal_chains equals fill_normal chain by chain");
                check(layout_ok, "fill_normal_chains follows the counter layout");
            }
        }
        std::vector<float> log_u(100);
        ebm::detail::fill_log_uniforms(rng, ebm::purpose::mala_accept, 3, 100, step, log_u.data());
        bool log_ok = true;
        for (std::uint32_t i = 0; i < 100; ++i)
            log_ok = log_ok && log_u[i] == ebm::detail::log_positive(ebm::uniform_scalar(rng, ebm::purpose::mala_accept, 3 + i, step));
        check(log_ok, "fill_log_uniforms equals log_positive(uniform_scalar) chain by chain");
    }
}

ebm::mlp toy_net() { return ebm::mlp({2, 32, 64, 64, 64, 1}, ebm::leaky_relu{0.05f}, ebm::seed{123}); }

void check_mlp_subsets() {
    const auto net = toy_net();
    ebm::batch x(2, 100);
    ebm::toy::gmm().sample(x.view(), ebm::philox(7), ebm::purpose::evaluation, 0);
    auto ws = net.make_workspace(100);
    std::vector<float> u(100);
    ebm::batch g(2, 100);
    net.energy_and_gradient(x.view(), u, g.view(), ws);
    bool same = true;
    for (const ebm::index first : {0, 1, 13, 50, 93}) {
        for (const ebm::index n : {1, 5, 7, 50}) {
            if (first + n > 100) continue;
            auto ws2 = net.make_workspace(n);
            std::vector<float> u2(static_cast<std::size_t>(n));
            ebm::batch g2(2, n);
            net.energy_and_gradient(x.view().chains(first, n), u2, g2.view(), ws2);
            for (ebm::index i = 0; i < n; ++i)
                same = same && u2[static_cast<std::size_t>(i)] == u[static_cast<std::size_t>(first + i)] &&
                       std::memcmp(g2.chain(i), g.chain(first + i), 2 * sizeof(float)) == 0;
        }
    }
    check(same, "mlp results of a chain do not depend on the other chains of the call");
    // Changing the parameters after a call is seen by the next call with the same workspace.
    auto changed = net;
    changed.parameters()[200] += 0.25f;
    std::vector<float> u_changed(100), u_fresh(100);
    changed.energy(x.view(), u_changed, ws);
    auto fresh = changed.make_workspace(100);
    changed.energy(x.view(), u_fresh, fresh);
    check(u_changed == u_fresh && u_changed != u, "mlp sees parameter changes between calls");
}

template <class S>
void check_threads(const S& sampler, const char* what) {
    const auto energy = ebm::scaled(toy_net(), 0.125f);
    std::vector<std::vector<float>> finals;
    for (const int threads : {1, 2}) {
        omp_set_num_threads(threads);
        auto st = sampler.make_state(energy, 100);
        ebm::batch x(2, 100);
        ebm::uniform_noise{-1.0f, 1.0f}.fill(x.view(), ebm::philox(5), ebm::purpose::init_noise, 0);
        sampler.run(st, energy, x.view(), ebm::philox(9), 0);
        finals.emplace_back(x.data(), x.data() + x.view().size());
    }
    check(finals[0] == finals[1], what);
}

}  // namespace

int main() {
    check_noise();
    check_mlp_subsets();
    check_threads(ebm::langevin{.epsilon = 0.125f, .steps = 50}, "langevin: 1 and 2 threads give identical chains");
    check_threads(ebm::mala{.epsilon = 0.125f, .steps = 50}, "mala: 1 and 2 threads give identical chains");
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
