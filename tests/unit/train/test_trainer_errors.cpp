// Bad input to the trainer, batches and diagnostics: ebm::error naming the function, the argument and the value.
#include <doctest/doctest.h>

#include <ebm/batch.hpp>
#include <ebm/energy/mlp.hpp>
#include <ebm/init/noise.hpp>
#include <ebm/optim/sgd.hpp>
#include <ebm/sampler/langevin.hpp>
#include <ebm/train/diagnostics.hpp>
#include <ebm/train/ml_trainer.hpp>
#include <ebm/train/recipes.hpp>

#include <cmath>
#include <vector>

#include "../common/expect_error.hpp"

namespace {
auto small_trainer() {
    return ebm::make_convergent_trainer(ebm::mlp({2, 8, 1}, {0.05f}),
                                        ebm::convergent_settings{.steps = 2, .bank_size = 20, .batch_size = 10});
}
}  // namespace

TEST_CASE("ml_trainer::step: NaN/Inf in positives, wrong dimension, too many or no positives") {
    auto trainer = small_trainer();
    ebm::batch positives(2, 10);
    positives.chain(3)[1] = NAN;
    EBM_CHECK_ERROR(trainer.step(positives), "ml_trainer::step", "positives", "element 7", "nan");
    positives.chain(3)[1] = -INFINITY;
    EBM_CHECK_ERROR(trainer.step(positives), "ml_trainer::step", "positives", "element 7", "-inf");
    ebm::batch wide(3, 10), many(2, 11), some(2, 4);
    EBM_CHECK_ERROR(trainer.step(wide), "ml_trainer::step", "positives dimension", "(got 3)");
    EBM_CHECK_ERROR(trainer.step(many), "ml_trainer::step", "batch_size", "(got 11)");
    EBM_CHECK_ERROR(trainer.step(some.view().chains(0, 0)), "ml_trainer::step", "positives", "(got 0)");
    CHECK(trainer.iteration() == 0);  // no failed call counted as an iteration
    trainer.step(some);               // fewer positives than batch_size are fine
    CHECK(trainer.iteration() == 1);
}

TEST_CASE("ml_trainer: bad options") {
    EBM_CHECK_ERROR(ebm::make_convergent_trainer(ebm::mlp({2, 8, 1}, {0.05f}), ebm::convergent_settings{.batch_size = 0}),
                    "ml_trainer", "batch_size", "(got 0)");
    EBM_CHECK_ERROR(ebm::ml_trainer(ebm::mlp({2, 8, 1}, {0.05f}), ebm::langevin{}, ebm::uniform_noise{}, ebm::sgd{},
                                    ebm::trainer_options{.batch_size = 4, .data_noise = -0.03f}),
                    "ml_trainer", "data_noise", "(got -0.03)");
    EBM_CHECK_ERROR(ebm::make_convergent_trainer(ebm::mlp({2, 8, 1}, {0.05f}), ebm::convergent_settings{.epsilon = 0.0f}),
                    "epsilon", "(got 0)");
    EBM_CHECK_ERROR(ebm::make_convergent_trainer(ebm::mlp({2, 8, 1}, {0.05f}),
                                                 ebm::convergent_settings{.bank_size = 50, .batch_size = 100}),
                    "persistent_bank::make_state", "size", "(got 50)");
    EBM_CHECK_ERROR(ebm::make_short_run_trainer(ebm::mlp({2, 8, 1}, {0.05f}), ebm::short_run_settings{.steps = -1}),
                    "langevin_decoupled", "steps", "(got -1)");
    EBM_CHECK_ERROR(ebm::make_non_convergent_trainer(ebm::mlp({2, 8, 1}, {0.05f}), ebm::non_convergent_settings{.init_scale = 0}),
                    "gaussian_noise", "scale", "(got 0)");
}

TEST_CASE("batch: non-positive dimension, negative count") {
    EBM_CHECK_ERROR(ebm::batch(0, 4), "ebm::batch:", "dimension", "(got 0)");
    EBM_CHECK_ERROR(ebm::batch(2, -1), "ebm::batch:", "count", "(got -1)");
}

TEST_CASE("diagnostics: mismatched or short series, negative lag, unwritable CSV path") {
    const std::vector<double> a = {1, 2, 3, 4}, b = {1, 2, 3}, tiny = {1, 2};
    EBM_CHECK_ERROR(ebm::cross_correlation(a, b, 1), "cross_correlation", "b", "(got 3)");
    EBM_CHECK_ERROR(ebm::cross_correlation(tiny, tiny, 1), "cross_correlation", "3 values", "(got 2)");
    EBM_CHECK_ERROR(ebm::cross_correlation(a, a, -2), "cross_correlation", "max_lag", "(got -2)");
    const std::vector<ebm::iteration_record> records(2);
    CHECK_THROWS_AS(ebm::write_csv("/nonexistent-directory/log.csv", records), ebm::runtime_error);
}
