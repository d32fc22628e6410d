// Interpolation (generator/interpolation.hpp): the ends ρ = 1 and ρ = 0 are M_θ(z₁) and M_θ(z₂) exactly, the middle
// keeps the latent's variance; reconstruction (generator/reconstruction.hpp): gradient descent through the map lowers
// the loss on a fixed model, on average monotonically, and recovers an image the map can produce far better than
// the start; bad arguments are clear errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <ebm/energy/network.hpp>
#include <ebm/energy/network_presets.hpp>
#include <ebm/generator/interpolation.hpp>
#include <ebm/generator/reconstruction.hpp>
#include <ebm/optim/adam.hpp>
#include <ebm/sampler/langevin.hpp>

#include "unit/common/expect_error.hpp"

namespace {

namespace l = ebm::layers;
using idx = ebm::index;

ebm::network_spec smooth_mlp(idx d) {
    return {.input = {d},
            .layers = {l::linear{.in_features = d, .out_features = 24}, l::silu(),
                       l::linear{.in_features = 24, .out_features = 1}}};
}

std::vector<float> normals(idx n, std::uint32_t seed_value) {
    std::mt19937 engine(seed_value);
    std::normal_distribution<float> normal;
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& e : v) e = normal(engine);
    return v;
}

}  // namespace

TEST_CASE("interpolate: rho = 1 and rho = 0 give M(z1) and M(z2) exactly, with the noise off and fixed") {
    const ebm::network energy(ebm::short_run_network(32, 4, 1), ebm::seed{21});
    const idx d = energy.dimension(), pairs = 3;
    std::printf("interpolate: seeds 21 (weights), 22 and 23 (z1, z2), 24 (noise)\n");
    const auto z1 = normals(d * pairs, 22), z2 = normals(d * pairs, 23);
    for (const bool noise : {false, true}) {
        INFO("noise " << noise);
        const ebm::langevin_decoupled policy{.step_size_lambda = 1.0f, .noise_sigma = 0.01f, .steps = 5, .chains_per_task = 2};
        ebm::short_run_map m(energy, policy, pairs, {.noise = noise, .seed = 24});
        const std::vector<float> rho = {1.0f, 0.6f, 0.0f};
        std::vector<float> out(3 * z1.size()), x1(z1.size()), x2(z1.size());
        ebm::interpolate(m, {z1.data(), d, pairs}, {z2.data(), d, pairs}, rho, {out.data(), d, 3 * pairs});
        m.map({z1.data(), d, pairs}, {x1.data(), d, pairs});
        m.map({z2.data(), d, pairs}, {x2.data(), d, pairs});
        CHECK(std::vector<float>(out.begin(), out.begin() + d * pairs) == x1);
        CHECK(std::vector<float>(out.begin() + 2 * d * pairs, out.end()) == x2);
        // The middle is M(0.6 z1 + 0.8 z2).
        std::vector<float> zm(z1.size()), xm(z1.size());
        for (std::size_t k = 0; k < zm.size(); ++k) zm[k] = 0.6f * z1[k] + std::sqrt(1.0f - 0.6f * 0.6f) * z2[k];
        m.map({zm.data(), d, pairs}, {xm.data(), d, pairs});
        CHECK(std::vector<float>(out.begin() + d * pairs, out.begin() + 2 * d * pairs) == xm);
    }
}

TEST_CASE("interpolate: bad arguments are clear errors") {
    const ebm::network energy(smooth_mlp(4), ebm::seed{1});
    ebm::short_run_map m(energy, ebm::langevin_decoupled{.steps = 3}, 4);
    std::vector<float> z(4 * 2, 0.1f), out(4 * 4);
    const std::vector<float> rho = {0.5f, 1.5f}, good = {0.0f, 1.0f}, none = {};
    EBM_CHECK_ERROR(ebm::interpolate(m, {z.data(), 4, 2}, {z.data(), 4, 2}, rho, {out.data(), 4, 4}), "interpolate",
                    "rho[1] must lie in [0, 1]", "1.5");
    EBM_CHECK_ERROR(ebm::interpolate(m, {z.data(), 4, 2}, {z.data(), 4, 2}, none, {out.data(), 4, 4}), "interpolate",
                    "rho must hold at least one value");
    EBM_CHECK_ERROR(ebm::interpolate(m, {z.data(), 4, 2}, {z.data(), 4, 1}, good, {out.data(), 4, 4}), "interpolate",
                    "z2 must hold as many chains as z1", "1");
    EBM_CHECK_ERROR(ebm::interpolate(m, {z.data(), 4, 2}, {z.data(), 4, 2}, good, {out.data(), 4, 3}), "interpolate",
                    "out must hold rho.size() x z1.count = 4", "3");
    EBM_CHECK_ERROR(ebm::interpolate(m, {z.data(), 2, 4}, {z.data(), 2, 4}, good, {out.data(), 2, 8}), "interpolate",
                    "dimension 4", "2");
}

TEST_CASE("reconstruct: gradient descent through the map recovers an image the map produces") {
    const idx d = 8, images = 6;
    const ebm::network energy(smooth_mlp(d), ebm::seed{31});
    std::printf("reconstruct: seeds 31 (weights), 32 (z*), 33 (z0)\n");
    const ebm::langevin_decoupled policy{.step_size_lambda = 0.3f, .noise_sigma = 0.0f, .steps = 15, .chains_per_task = 2};
    ebm::short_run_map m(energy, policy, images);
    // Observed images the map can produce: x = M(z*).
    const auto z_star = normals(d * images, 32);
    std::vector<float> observed(z_star.size());
    m.map({z_star.data(), d, images}, {observed.data(), d, images});
    for (const char* name : {"sgd", "adam"}) {
        INFO(std::string(name));
        std::vector<float> z = normals(d * images, 33);
        idx seen = 0;
        auto each = [&](idx t, ebm::const_batch_view x) {
            CHECK(t == seen++);
            CHECK(x.count == images);
        };
        const ebm::reconstruction_result r =
            std::string(name) == "sgd"
                ? ebm::reconstruct(m, ebm::reconstruction<ebm::sgd>{.iterations = 60, .optimizer = {.learning_rate = 0.1f}},
                                   ebm::const_batch_view{observed.data(), d, images}, ebm::batch_view{z.data(), d, images}, each)
                : ebm::reconstruct(m, ebm::reconstruction<ebm::adam>{.iterations = 60, .optimizer = {.learning_rate = 0.05f}},
                                   ebm::const_batch_view{observed.data(), d, images}, ebm::batch_view{z.data(), d, images}, each);
        REQUIRE(r.mse.size() == 61);
        CHECK(seen == 61);
        std::printf("reconstruct (%s): MSE per coordinate %.4f -> %.2e after 60 iterations\n", name, r.mse.front(), r.mse.back());
        // Monotone on average: every block of ten iterations ends lower than it started, and the end is far lower.
        for (std::size_t t = 10; t < r.mse.size(); t += 10) CHECK(r.mse[t] < r.mse[t - 10]);
        CHECK(r.mse.back() < (std::string(name) == "sgd" ? 1e-6 : 0.1) * r.mse.front());
        // The returned z is the final latent: mapping it gives the last iterate's loss.
        std::vector<float> x(z.size());
        m.map({z.data(), d, images}, {x.data(), d, images});
        double sum = 0;
        for (std::size_t k = 0; k < x.size(); ++k) {
            const float residual = x[k] - observed[k];  // in float, as reconstruct forms it
            sum += static_cast<double>(residual) * residual;
        }
        CHECK(sum / static_cast<double>(x.size()) == doctest::Approx(r.mse.back()).epsilon(1e-9));
    }
}

TEST_CASE("reconstruct: bad arguments are clear errors") {
    const ebm::network energy(smooth_mlp(4), ebm::seed{1});
    ebm::short_run_map m(energy, ebm::langevin_decoupled{.steps = 3}, 4);
    std::vector<float> x(4 * 4, 0.1f), z(4 * 4), wrong(5 * 4);
    const ebm::reconstruction<> policy{.iterations = 2};
    EBM_CHECK_ERROR(ebm::reconstruct(m, ebm::reconstruction<>{.iterations = 0}, ebm::const_batch_view{x.data(), 4, 4},
                                     ebm::batch_view{z.data(), 4, 4}),
                    "reconstruction", "iterations", "0");
    EBM_CHECK_ERROR(ebm::reconstruct(m, policy, ebm::const_batch_view{wrong.data(), 5, 4}, ebm::batch_view{z.data(), 4, 4}),
                    "reconstruct", "observed images must have the generator's dimension 4", "5");
    EBM_CHECK_ERROR(ebm::reconstruct(m, policy, ebm::const_batch_view{x.data(), 4, 4}, ebm::batch_view{z.data(), 4, 3}),
                    "reconstruct", "z must hold one latent", "3");
    EBM_CHECK_ERROR(ebm::reconstruct(m, ebm::reconstruction<>{.optimizer = {.learning_rate = -1.0f}},
                                     ebm::const_batch_view{x.data(), 4, 4}, ebm::batch_view{z.data(), 4, 4}),
                    "sgd", "learning_rate", "-1");
}
