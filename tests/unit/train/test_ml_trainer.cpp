// ml_trainer::step is Algorithm 1: negatives from the initializer and the sampler, the ML gradient
// (1/n) sum dU(x+)/dtheta - (1/m) sum dU(x-)/dtheta, one optimizer step; d_t = mean U(x+) - mean U(x-).
#include <doctest/doctest.h>

#include <ebm/energy/mlp.hpp>
#include <ebm/energy/toy.hpp>
#include <ebm/init/data.hpp>
#include <ebm/init/noise.hpp>
#include <ebm/init/persistent_bank.hpp>
#include <ebm/optim/sgd.hpp>
#include <ebm/sampler/langevin.hpp>
#include <ebm/train/ml_trainer.hpp>
#include <ebm/train/recipes.hpp>

#include <cmath>
#include <vector>

TEST_CASE("ml_trainer::step: the update is SGD on the ML gradient of the states it used") {
    const ebm::mlp net({2, 16, 16, 1}, {0.05f}, ebm::seed{3});
    const ebm::index m = 40, n = 25;
    const float lr = 0.01f;
    ebm::ml_trainer trainer(net, ebm::langevin{.epsilon = 0.1f, .steps = 5}, ebm::uniform_noise{}, ebm::sgd{.learning_rate = lr},
                            ebm::trainer_options{.batch_size = m, .random_seed = ebm::seed{9}});
    ebm::batch positives(2, n);
    ebm::toy::gmm().sample(positives, ebm::philox(4), ebm::purpose::user, 0);
    const ebm::mlp before = trainer.energy();
    const auto rec = trainer.step(positives);

    // Recompute from the negatives the trainer reports.
    auto ws = before.make_workspace(m);
    std::vector<float> grad(static_cast<std::size_t>(before.parameter_count()), 0.0f), up(n), un(m);
    before.accumulate_parameter_gradient(positives, std::vector<float>(n, 1.0f / n), grad, up, ws);
    before.accumulate_parameter_gradient(trainer.negatives(), std::vector<float>(m, -1.0f / m), grad, un, ws);
    double mean_pos = 0, mean_neg = 0;
    for (float v : up) mean_pos += v / n;
    for (float v : un) mean_neg += v / m;
    CHECK(rec.positive_energy == doctest::Approx(mean_pos).epsilon(1e-6));
    CHECK(rec.negative_energy == doctest::Approx(mean_neg).epsilon(1e-6));
    CHECK(rec.d == doctest::Approx(mean_pos - mean_neg).epsilon(1e-5).scale(1e-6));
    CHECK(rec.learning_rate == lr);
    CHECK(rec.iteration == 0);
    CHECK(!rec.diverged);
    CHECK(rec.acceptance == -1.0);
    CHECK(rec.r == doctest::Approx(0.005 * rec.v).epsilon(1e-6));
    const auto after = trainer.energy().parameters();
    for (std::size_t k = 0; k < grad.size(); ++k)
        CHECK(after[k] == doctest::Approx(before.parameters()[k] - lr * grad[k]).epsilon(1e-6).scale(1e-6));
    CHECK(trainer.iteration() == 1);
    CHECK(trainer.sampler_steps() == 5);
}

TEST_CASE("ml_trainer: the persistent bank receives the negatives of each iteration") {
    auto trainer = ebm::make_convergent_trainer(ebm::mlp({2, 8, 1}, {0.05f}),
                                                ebm::convergent_settings{.steps = 3, .bank_size = 64, .batch_size = 16});
    ebm::batch positives(2, 16);
    ebm::toy::gmm().sample(positives, ebm::philox(4), ebm::purpose::user, 0);
    trainer.step(positives);
    const auto& st = trainer.initializer_state();
    const auto negatives = trainer.negatives();
    for (ebm::index i = 0; i < 16; ++i) {
        const auto slot = st.drawn_slots()[static_cast<std::size_t>(i)];
        for (ebm::index k = 0; k < 2; ++k) CHECK(st.bank().chain(slot)[k] == negatives.chain(i)[k]);
    }
}

TEST_CASE("make_convergent_trainer: the Anatomy recipe's policies") {
    const auto trainer = ebm::make_convergent_trainer(ebm::mlp({2, 8, 1}, {0.05f}),
                                                      ebm::convergent_settings{.steps = 3, .bank_size = 64, .batch_size = 16});
    CHECK(trainer.energy().factor() == doctest::Approx(2.0 / (0.125 * 0.125)));
    CHECK(trainer.sampler().epsilon == 0.125f);
    CHECK(trainer.sampler().noise);
    CHECK(trainer.optimizer().learning_rate == doctest::Approx(0.1 * 0.125 * 0.125 / 2));
    CHECK(trainer.initializer().size == 64);
    CHECK(trainer.options().batch_size == 16);
}

TEST_CASE("ml_trainer::step(positives, chain_data): data_init starts the chains from the independent batch") {
    const ebm::mlp net({2, 8, 1}, {0.05f}, ebm::seed{3});
    const ebm::index m = 6;
    ebm::batch positives(2, m), chain_data(2, m);
    ebm::toy::gmm().sample(positives, ebm::philox(4), ebm::purpose::user, 0);
    ebm::toy::gmm().sample(chain_data, ebm::philox(4), ebm::purpose::user, 1);
    INFO("gmm samples, seeds 4 (stream user, steps 0 and 1); Langevin with 0 steps: negatives = the chain starts");
    auto make = [&] {
        return ebm::ml_trainer(net, ebm::langevin{.epsilon = 0.1f, .steps = 0}, ebm::data_init{},
                               ebm::sgd{.learning_rate = 1e-3f}, ebm::trainer_options{.batch_size = m});
    };
    auto trainer = make();
    trainer.step(positives, chain_data);
    for (ebm::index k = 0; k < chain_data.view().size(); ++k) CHECK(trainer.negatives().data[k] == chain_data.data()[k]);
    auto plain = make();
    const auto rec = plain.step(positives);  // without chain data: the positives as given
    for (ebm::index k = 0; k < positives.view().size(); ++k) CHECK(plain.negatives().data[k] == positives.data()[k]);
    CHECK(rec.d == 0.0);
    // The positives are still the positives: the same d_t as a trainer whose chains start elsewhere would see for them.
    auto other = make();
    const auto rec_other = other.step(positives, chain_data);
    CHECK(rec_other.positive_energy == rec.positive_energy);
    CHECK(rec_other.negative_energy != rec.negative_energy);
}
