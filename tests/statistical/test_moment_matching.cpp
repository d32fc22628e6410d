// Moment matching (short-run paper §4.1): an energy linear in its parameters, U_θ(x) = ⟨θ, h(x)⟩ (ebm::feature_energy,
// h the 1,024 fixed filter responses of eval::image_features), learned with non-persistent short-run chains (uniform
// noise, K Langevin steps, Algorithm 1 with Adam at a decaying rate; the mean of the last half of the iterates). At a
// fixed point of learning the K-step samples' feature means equal the data's: the test draws fresh short-run samples
// and fresh data and requires every feature's gap within the Bonferroni bound of its standard errors (family-wise
// α = 0.001 over the 1,024 features: 4.9 standard errors), and the mean z² near 1. Negative controls: the untrained
// chain, and the trained energy run for K/2 and 2K steps (the match belongs to the K-step chain the model was learned
// with, not to p_θ), each more than twice the bound.
//
// Data: 8 x 8 grey stripe images, x(r, c) = tanh(3 sin(1.4 (c cos φ + r sin φ) + ψ)), φ one of 4 orientations, ψ
// uniform; fixed seeds (EBM_TEST_SEED moves the training, sampling and data streams together).
#include <doctest/doctest.h>

#include <ebm/ebm.hpp>
#include <ebm/energy/feature_energy.hpp>
#include <ebm/eval/moment_gap.hpp>
#include <ebm/optim/parameter_average.hpp>

#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "seed.hpp"

namespace {

constexpr ebm::index side = 8;

ebm::batch stripes(ebm::index n, std::uint64_t seed_value) {
    ebm::batch x(side * side, n);
    const ebm::philox rng(ebm::seed{seed_value});
    for (ebm::index i = 0; i < n; ++i) {
        float r[2];
        ebm::fill_uniform(rng, ebm::purpose::user, static_cast<std::uint32_t>(i), 0, r, 2, 0.0f, 1.0f);
        const float phi = std::numbers::pi_v<float> * std::floor(4.0f * r[0]) / 4.0f;
        const float psi = 2.0f * std::numbers::pi_v<float> * r[1];
        for (ebm::index row = 0; row < side; ++row)
            for (ebm::index col = 0; col < side; ++col)
                x.chain(i)[row * side + col] = std::tanh(
                    3.0f * std::sin(1.4f * (static_cast<float>(col) * std::cos(phi) + static_cast<float>(row) * std::sin(phi)) + psi));
    }
    return x;
}

ebm::langevin_decoupled chain_policy(ebm::index steps) {
    return {.step_size_lambda = 0.25f, .noise_sigma = 0.05f, .steps = steps};
}

/// Features of n short-run samples: uniform noise on [-1, 1], then `steps` moves of the energy.
Eigen::MatrixXf short_run_features(const ebm::feature_energy& energy, ebm::index steps, ebm::index n, std::uint64_t s) {
    ebm::batch x(energy.dimension(), n);
    ebm::uniform_noise{-1.0f, 1.0f}.fill(x, ebm::philox(ebm::seed{s}), ebm::purpose::user, 0);
    ebm::markov_chain chain(chain_policy(steps), energy, x.view(), ebm::philox(ebm::seed{s + 1}));
    (void)chain.run();
    return energy.features()(x.view(), side);
}

}  // namespace

TEST_CASE("moment matching: short-run learning of an energy linear in θ matches the K-step samples' feature means "
          "to the data's") {
    EBM_TEST_SEED_VAR(seed_value, 20261207);
    constexpr ebm::index steps = 20, batch_size = 100, iterations = 800, draws = 4000;
    const ebm::batch training = stripes(iterations * batch_size, seed_value);

    // Adam from 0.03 down to 0.001 (exponential decay), then the mean of the last half of the iterates
    // (Polyak-Ruppert): the iterates move around the fixed point by about the rate, their mean settles at it.
    ebm::ml_trainer trainer(ebm::feature_energy(1, side), chain_policy(steps), ebm::uniform_noise{-1.0f, 1.0f},
                            ebm::adam{.learning_rate = 0.03f, .schedule = {.factor = 0.995757, .floor = 0.0}},
                            ebm::trainer_options{.batch_size = batch_size, .random_seed = ebm::seed{seed_value}});
    ebm::parameter_average average(ebm::feature_energy::feature_count);
    for (ebm::index t = 0; t < iterations; ++t) {
        (void)trainer.step(ebm::const_batch_view{training.chain(t * batch_size), side * side, batch_size});
        if (t >= iterations / 2) average.add(trainer.energy().parameters());
    }
    ebm::feature_energy learned = trainer.energy();
    average.write_mean(learned.parameters());

    const ebm::batch fresh_data = stripes(draws, seed_value + 1);
    const Eigen::MatrixXf data = learned.features()(fresh_data.view(), side);
    const double bound = ebm::eval::moment_gap_bound(ebm::feature_energy::feature_count, 0.001);

    const ebm::eval::moment_gap_result matched = ebm::eval::moment_gap(short_run_features(learned, steps, draws, seed_value + 2), data);
    MESSAGE("K-step samples: max |z| = " << matched.max_abs_z << " (feature " << matched.worst_feature << "), mean z^2 = "
                                         << matched.mean_square_z << ", bound " << bound);
    CHECK(matched.max_abs_z < bound);
    CHECK(matched.mean_square_z < 2.0);

    const ebm::feature_energy untrained(1, side);
    const ebm::eval::moment_gap_result before = ebm::eval::moment_gap(short_run_features(untrained, steps, draws, seed_value + 4), data);
    const ebm::eval::moment_gap_result half = ebm::eval::moment_gap(short_run_features(learned, steps / 2, draws, seed_value + 6), data);
    const ebm::eval::moment_gap_result twice = ebm::eval::moment_gap(short_run_features(learned, 2 * steps, draws, seed_value + 8), data);
    MESSAGE("controls, max |z|: untrained " << before.max_abs_z << ", K/2 steps " << half.max_abs_z << ", 2K steps "
                                            << twice.max_abs_z);
    CHECK(before.max_abs_z > 2 * bound);
    CHECK(half.max_abs_z > 2 * bound);
    CHECK(twice.max_abs_z > 2 * bound);
}

TEST_CASE("parameter_average: the mean of the iterates, bad input") {
    ebm::parameter_average average(2);
    std::vector<float> theta = {1.0f, -2.0f};
    average.add(theta);
    theta = {2.0f, 4.0f};
    average.add(theta);
    std::vector<float> mean(2);
    average.write_mean(mean);
    CHECK(mean == std::vector<float>{1.5f, 1.0f});
    CHECK(average.count() == 2);
    average.reset();
    CHECK_THROWS_WITH_AS(average.write_mean(mean), doctest::Contains("no iterate"), ebm::error);
    CHECK_THROWS_WITH_AS(average.add(std::vector<float>(3)), doctest::Contains("parameter_average::add"), ebm::error);
    CHECK_THROWS_WITH_AS(average.add(std::vector<float>{1.0f, NAN}), doctest::Contains("finite"), ebm::error);
    CHECK_THROWS_WITH_AS(ebm::parameter_average(0), doctest::Contains("parameter_count"), ebm::error);
}

TEST_CASE("moment_gap: z-scores against a hand computation, bad input") {
    Eigen::MatrixXf a(2, 3), b(2, 2);
    a << 1, 2, 3, 5, 5, 5;
    b << 0, 2, 5, 5;
    // Feature 0: means 2 and 1, variances 1 and 2: z = 1 / sqrt(1/3 + 2/2). Feature 1: constant and equal: z = 0.
    const ebm::eval::moment_gap_result r = ebm::eval::moment_gap(a, b);
    CHECK(r.z[0] == doctest::Approx(1.0 / std::sqrt(1.0 / 3.0 + 1.0)));
    CHECK(r.z[1] == 0.0);
    CHECK(r.worst_feature == 0);
    CHECK(r.mean_square_z == doctest::Approx(r.z[0] * r.z[0] / 2));
    CHECK(r.max_abs_difference == doctest::Approx(1.0));
    b(1, 0) = 6;
    b(1, 1) = 6;
    CHECK(std::isinf(ebm::eval::moment_gap(a, b).z[1]));
    CHECK(ebm::eval::moment_gap_bound(1, 0.05) == doctest::Approx(1.959964).epsilon(1e-6));
    CHECK_THROWS_WITH_AS((void)ebm::eval::moment_gap(a, Eigen::MatrixXf(3, 2)), doctest::Contains("b must have as many features"), ebm::error);
    CHECK_THROWS_WITH_AS((void)ebm::eval::moment_gap(a, Eigen::MatrixXf::Zero(2, 1)), doctest::Contains("at least 2 draws"), ebm::error);
    CHECK_THROWS_WITH_AS((void)ebm::eval::moment_gap_bound(4, 1.5), doctest::Contains("alpha"), ebm::error);
}
