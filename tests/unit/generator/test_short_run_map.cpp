// The short-run generator x = M_θ(z, u) (generator/short_run_map.hpp): map() is the sampler's run bit for bit, with
// the noise off and fixed; pullback() against central differences of the whole map along random directions (a SiLU
// MLP, a smooth ConvNet: nonzero Hessians) and against forward-mode products J v built step by step from one-step
// maps and the energy's Hessian-vector products (the short-run ConvNet preset, LeakyReLU, with and without a clamp
// box; the Anatomy non-local net); a pullback that ignores the Hessian fails the same checks (negative control);
// checkpointing changes memory and work, not the bits.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include <ebm/energy/network.hpp>
#include <ebm/energy/network_presets.hpp>
#include <ebm/generator/short_run_map.hpp>
#include <ebm/sampler/langevin.hpp>

#include "unit/common/expect_error.hpp"

namespace {

namespace l = ebm::layers;
using idx = ebm::index;

/// A smooth fully connected energy (nonzero Hessian everywhere).
ebm::network_spec silu_mlp(idx d) {
    return {.input = {d},
            .layers = {l::linear{.in_features = d, .out_features = 16}, l::silu(),
                       l::linear{.in_features = 16, .out_features = 16}, l::tanh(),
                       l::linear{.in_features = 16, .out_features = 1}}};
}

std::vector<float> normals(idx n, std::uint32_t seed_value, float scale = 1.0f) {
    std::mt19937 engine(seed_value);
    std::normal_distribution<float> normal(0.0f, scale);
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& e : v) e = normal(engine);
    return v;
}

/// Checks w . (J v) from central differences of the map against (J^T w) . v from pullback, per chain, for
/// `directions` random v; returns the largest relative error. With `identity`, (J^T w) is replaced by w (a pullback
/// that ignores the Hessian): the negative control.
template <class E, class Policy>
double pullback_error(const E& energy, const Policy& policy, ebm::short_run_map_options options, idx chains,
                      std::uint32_t seed_value, float delta, bool identity = false) {
    const idx d = energy.dimension();
    ebm::short_run_map<E> m(energy, policy, chains, options);
    const auto z = normals(d * chains, seed_value);
    const auto w = normals(d * chains, seed_value + 1);
    std::vector<float> x(z.size()), jtw(z.size());
    m.map({z.data(), d, chains}, {x.data(), d, chains});
    m.pullback({w.data(), d, chains}, {jtw.data(), d, chains});
    if (identity) jtw = w;
    double worst = 0;
    for (int t = 0; t < 3; ++t) {
        const auto v = normals(d * chains, seed_value + 10 + static_cast<std::uint32_t>(t));
        std::vector<float> zp(z), zm(z), xp(z.size()), xm(z.size());
        for (std::size_t k = 0; k < z.size(); ++k) {
            zp[k] = z[k] + delta * v[k];
            zm[k] = z[k] - delta * v[k];
        }
        m.map({zp.data(), d, chains}, {xp.data(), d, chains});
        m.map({zm.data(), d, chains}, {xm.data(), d, chains});
        for (idx i = 0; i < chains; ++i) {
            double fd = 0, ad = 0, scale = 0;
            for (idx k = i * d; k < (i + 1) * d; ++k) {
                const double jv = (static_cast<double>(xp[k]) - xm[k]) / (2.0 * delta);
                fd += w[k] * jv;
                ad += static_cast<double>(jtw[k]) * v[k];
                scale += std::abs(w[k] * jv);
            }
            worst = std::max(worst, std::abs(fd - ad) / std::max(scale, 1e-3));
        }
    }
    return worst;
}


/// The same identity against forward-mode accumulation instead of differences: J v = J_{K-1} ... J_0 v with
/// J_k v = m_k (v - h H(x_k) v), the states x_{k+1} from one-step maps (first_step k: the same noise); exact where the
/// network is piecewise linear (no kinks crossed, unlike differences). Checks also that the one-step maps compose
/// to map() bit for bit. Returns max over chains of |w . J v - (J^T w) . v| / sum |w_k (J v)_k|.
template <class E, class Policy>
double forward_mode_error(const E& energy, const Policy& policy, ebm::short_run_map_options options, idx chains,
                          std::uint32_t seed_value, bool identity = false) {
    const idx d = energy.dimension();
    ebm::short_run_map<E> m(energy, policy, chains, options);
    const auto z = normals(d * chains, seed_value);
    const auto w = normals(d * chains, seed_value + 1);
    const auto v0 = normals(d * chains, seed_value + 2);
    std::vector<float> x(z.size()), jtw(z.size());
    m.map({z.data(), d, chains}, {x.data(), d, chains});
    m.pullback({w.data(), d, chains}, {jtw.data(), d, chains});
    if (identity) jtw = w;
    Policy one = policy;
    one.steps = 1;
    std::vector<float> state(z), next(z.size()), v(v0), hv(z.size());
    auto ws = energy.make_workspace(chains);
    for (idx k = 0; k < policy.steps; ++k) {
        ebm::short_run_map_options step_options = options;
        step_options.first_step = options.first_step + static_cast<std::uint64_t>(k);
        ebm::short_run_map<E> step(energy, one, chains, step_options);
        step.map({state.data(), d, chains}, {next.data(), d, chains});
        energy.hessian_vector_product({state.data(), d, chains}, {v.data(), d, chains}, {hv.data(), d, chains}, ws);
        for (std::size_t e = 0; e < v.size(); ++e) {
            v[e] = v[e] - policy.step_size() * hv[e];
            if (policy.clamp.enabled() && !(next[e] > policy.clamp.low && next[e] < policy.clamp.high)) v[e] = 0.0f;
        }
        state = next;
    }
    CHECK(state == x);
    double worst = 0;
    for (idx i = 0; i < chains; ++i) {
        double forward = 0, reverse = 0, scale = 0;
        for (idx k = i * d; k < (i + 1) * d; ++k) {
            forward += static_cast<double>(w[k]) * v[k];
            reverse += static_cast<double>(jtw[k]) * v0[k];
            scale += std::abs(static_cast<double>(w[k]) * v[k]);
        }
        worst = std::max(worst, std::abs(forward - reverse) / scale);
    }
    return worst;
}

}  // namespace

TEST_CASE("short_run_map::map is the sampler's run bit for bit, with the noise off and fixed") {
    const ebm::network energy(silu_mlp(6), ebm::seed{3});
    const idx chains = 37, d = 6;
    std::printf("short_run_map: seeds 3 (weights), 11 (z), 7 (noise)\n");
    const auto z = normals(d * chains, 11);
    for (const bool noise : {false, true}) {
        INFO("noise " << noise);
        const ebm::langevin_decoupled policy{.step_size_lambda = 0.3f, .noise_sigma = noise ? 0.2f : 0.0f, .steps = 12,
                                             .chains_per_task = 8};
        ebm::short_run_map m(energy, policy, 50, {.noise = noise, .seed = 7, .first_step = 100});
        std::vector<float> x(z.size());
        m.map({z.data(), d, chains}, {x.data(), d, chains});
        std::vector<float> y(z);
        auto st = policy.make_state(energy, chains);
        policy.run(st, energy, {y.data(), d, chains}, ebm::philox(ebm::seed{7}), 100);
        CHECK(x == y);
        CHECK(x != z);
        // In place (x aliases z) and with checkpoints: the same bits.
        ebm::short_run_map sparse(energy, policy, 50, {.noise = noise, .seed = 7, .first_step = 100, .checkpoint_every = 5});
        std::vector<float> in_place(z);
        sparse.map({in_place.data(), d, chains}, {in_place.data(), d, chains});
        CHECK(in_place == x);
    }
    // Anatomy form with noise off: langevin{noise = false}.
    const ebm::langevin anatomy{.epsilon = 0.5f, .steps = 9, .noise = false, .chains_per_task = 50};
    ebm::short_run_map m(energy, anatomy, chains);
    std::vector<float> x(z.size()), y(z);
    m.map({z.data(), d, chains}, {x.data(), d, chains});
    auto st = anatomy.make_state(energy, chains);
    anatomy.run(st, energy, {y.data(), d, chains}, ebm::philox(ebm::seed{0}), 0);
    CHECK(x == y);
}

TEST_CASE("short_run_map::pullback against central differences of the whole map: SiLU MLP, negative control") {
    const ebm::network energy(silu_mlp(5), ebm::seed{4});
    // h large enough that the Hessian terms matter over K = 20 steps.
    const ebm::langevin_decoupled policy{.step_size_lambda = 0.4f, .noise_sigma = 0.1f, .steps = 20, .chains_per_task = 3};
    for (const bool noise : {false, true}) {
        INFO("noise " << noise);
        const double error = pullback_error(energy, policy, {.noise = noise, .seed = 5}, 7, 21, 1e-2f);
        const double ignored = pullback_error(energy, policy, {.noise = noise, .seed = 5}, 7, 21, 1e-2f, true);
        std::printf("pullback vs central differences, SiLU MLP (noise %d): rel. error %.2e, Hessian ignored %.2e\n",
                    noise ? 1 : 0, error, ignored);
        CHECK(error < 2e-3);
        CHECK(ignored > 0.05);
    }
}

TEST_CASE("short_run_map::pullback against central differences: a smooth ConvNet") {
    // Conv, SiLU, strided conv, Tanh, average pool, Linear: smooth everywhere, so central differences converge.
    // (Through a non-local block's softmax the float map's differences stall near 1e-3 for every step size; the
    // non-local nets are checked against forward-mode products below, and the block's Hessian-vector product
    // against PyTorch's double backward in tests/network.)
    const ebm::network_spec spec{
        .input = {1, 8, 8},
        .layers = {l::conv2d{.in_channels = 1, .out_channels = 4, .kernel_size = 3, .padding = 1}, l::silu(),
                   l::conv2d{.in_channels = 4, .out_channels = 4, .kernel_size = 3, .stride = 2, .padding = 1},
                   l::tanh(), l::avg_pool2d{.kernel_size = 2}, l::flatten{}, l::linear{.in_features = 16, .out_features = 1}}};
    ebm::network energy(spec, ebm::seed{6});
    auto p = energy.parameters();
    const auto values = normals(static_cast<idx>(p.size()), 61, 0.15f);
    std::copy(values.begin(), values.end(), p.begin());
    energy.parameters_changed();
    const ebm::langevin_decoupled policy{.step_size_lambda = 0.2f, .noise_sigma = 0.05f, .steps = 10, .chains_per_task = 2};
    const ebm::short_run_map_options options{.noise = true, .seed = 62, .checkpoint_every = 4};
    const double error = pullback_error(energy, policy, options, 5, 63, 1e-2f);
    const double ignored = pullback_error(energy, policy, options, 5, 63, 1e-2f, true);
    std::printf("pullback vs central differences, smooth ConvNet: rel. error %.2e, Hessian ignored %.2e\n", error, ignored);
    CHECK(error < 1e-4);
    CHECK(ignored > 1e-3);
}

TEST_CASE("short_run_map::pullback against forward-mode products: the short-run ConvNet and the Anatomy non-local net") {
    SUBCASE("short-run ConvNet preset (32 px, n_f 4, LeakyReLU), with and without the clamp box [-1, 1]") {
        const ebm::network energy(ebm::short_run_network(32, 4, 1), ebm::seed{8});
        for (const bool clamp : {false, true}) {
            INFO("clamp " << clamp);
            ebm::langevin_decoupled policy{.step_size_lambda = 1.0f, .noise_sigma = 0.01f, .steps = 8, .chains_per_task = 2};
            if (clamp) policy.clamp = {-1.0f, 1.0f};
            const double error = forward_mode_error(energy, policy, {.noise = true, .seed = 9, .checkpoint_every = 3}, 3, 41);
            // LeakyReLU: the Hessian vanishes, so the pullback computes no products (the reference above does).
            const ebm::short_run_map<ebm::network> m(energy, policy, 3, {.checkpoint_every = 3});
            CHECK(m.pullback_products() == 0);
            CHECK(m.pullback_gradients() == (clamp ? 8 - 3 : 0));
            std::printf("pullback vs forward mode, short-run ConvNet (clamp %d): rel. error %.2e\n", clamp ? 1 : 0, error);
            CHECK(error < 1e-5);
        }
    }
    SUBCASE("the Anatomy non-local net (n_f 4): softmax attention, nonzero Hessian, max pools") {
        ebm::network energy(ebm::nonlocal_network(1, 4), ebm::seed{6});
        auto p = energy.parameters();
        const auto values = normals(static_cast<idx>(p.size()), 61, 0.2f);
        std::copy(values.begin(), values.end(), p.begin());
        energy.parameters_changed();
        const ebm::langevin_decoupled policy{.step_size_lambda = 0.5f, .noise_sigma = 0.0f, .steps = 6, .chains_per_task = 2};
        const double error = forward_mode_error(energy, policy, {}, 3, 31);
        const double ignored = forward_mode_error(energy, policy, {}, 3, 31, true);
        std::printf("pullback vs forward mode, non-local net: rel. error %.2e, Hessian ignored %.2e\n", error, ignored);
        CHECK(error < 1e-5);
        CHECK(ignored > 100 * error);
    }
}

TEST_CASE("short_run_map checkpointing: every c keeps ceil(K/c) + 1 states, recomputes the rest, the same bits") {
    const ebm::network energy(silu_mlp(4), ebm::seed{12});
    const idx chains = 9, d = 4;
    const ebm::langevin_decoupled policy{.step_size_lambda = 0.3f, .noise_sigma = 0.05f, .steps = 10, .chains_per_task = 4};
    const auto z = normals(d * chains, 13);
    const auto w = normals(d * chains, 14);
    std::vector<float> reference;
    for (const idx c : {1, 3, 4, 10, 16}) {
        INFO("checkpoint_every " << c);
        ebm::short_run_map m(energy, policy, chains, {.noise = true, .seed = 2, .checkpoint_every = c});
        CHECK(m.stored_batches() == (10 + c - 1) / c + 1 + std::min<idx>(c, 10) - 1);
        CHECK(m.pullback_gradients() == 10 - (10 + c - 1) / c);
        CHECK(m.pullback_products() == 10);
        std::vector<float> x(z.size()), dz(z.size());
        m.map({z.data(), d, chains}, {x.data(), d, chains});
        m.pullback({w.data(), d, chains}, {dz.data(), d, chains});
        if (reference.empty()) reference = dz;
        CHECK(dz == reference);
        // pullback may alias w and dz.
        std::vector<float> in_place(w);
        m.pullback({in_place.data(), d, chains}, {in_place.data(), d, chains});
        CHECK(in_place == reference);
    }
}

TEST_CASE("short_run_map: bad arguments are clear errors") {
    const ebm::network energy(silu_mlp(3), ebm::seed{1});
    const ebm::langevin_decoupled policy{.steps = 4};
    std::vector<float> z(3 * 5, 0.5f), x(3 * 5), wrong(4 * 5);
    EBM_CHECK_ERROR(ebm::short_run_map(energy, policy, 0), "short_run_map", "max_chains", "0");
    EBM_CHECK_ERROR(ebm::short_run_map(energy, policy, 5, {.checkpoint_every = 0}), "short_run_map",
                    "options.checkpoint_every", "0");
    EBM_CHECK_ERROR(ebm::short_run_map(energy, ebm::langevin_decoupled{.steps = 0}, 5), "short_run_map", "policy.steps");
    EBM_CHECK_ERROR(ebm::short_run_map(energy, ebm::langevin_decoupled{.step_size_lambda = -1.0f}, 5),
                    "langevin_decoupled", "step_size_lambda", "-1");
    ebm::short_run_map m(energy, policy, 5);
    EBM_CHECK_ERROR(m.pullback({z.data(), 3, 5}, {x.data(), 3, 5}), "short_run_map::pullback", "map() must run first");
    EBM_CHECK_ERROR(m.map({wrong.data(), 4, 5}, {x.data(), 3, 5}), "short_run_map::map", "z dimension", "3", "4");
    EBM_CHECK_ERROR(m.map({z.data(), 3, 6}, {x.data(), 3, 6}), "short_run_map::map", "max_chains = 5", "6");
    EBM_CHECK_ERROR(m.map({z.data(), 3, 5}, {x.data(), 3, 4}), "short_run_map::map", "as many chains as z", "4");
    z[7] = std::nanf("");
    EBM_CHECK_ERROR(m.map({z.data(), 3, 5}, {x.data(), 3, 5}), "short_run_map::map", "z must be finite", "element 7");
    z[7] = 0.5f;
    m.map({z.data(), 3, 4}, {x.data(), 3, 4});
    EBM_CHECK_ERROR(m.pullback({z.data(), 3, 5}, {x.data(), 3, 5}), "short_run_map::pullback", "last map()'s 4 chains", "5");
    EBM_CHECK_ERROR(m.pullback({wrong.data(), 4, 4}, {x.data(), 3, 4}), "short_run_map::pullback", "w dimension", "4");
}

TEST_CASE("short_run_map: the Hessian vanishes for ReLU/LeakyReLU networks, also scaled, and for no other energy") {
    CHECK(ebm::detail::hessian_vanishes(ebm::network(ebm::short_run_network(32, 4, 1))));
    CHECK(ebm::detail::hessian_vanishes(ebm::scaled(ebm::network(ebm::mlp_network({2, 8, 1}, 0.2f)), 0.1f)));
    CHECK_FALSE(ebm::detail::hessian_vanishes(ebm::network(silu_mlp(3))));
    CHECK_FALSE(ebm::detail::hessian_vanishes(ebm::scaled(ebm::network(silu_mlp(3)), 0.1f)));
    CHECK_FALSE(ebm::detail::hessian_vanishes(ebm::network(ebm::nonlocal_network(1, 4))));  // softmax attention
}
