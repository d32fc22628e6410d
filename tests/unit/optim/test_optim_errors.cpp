// Bad input to the optimizers and schedules: ebm::error naming the function, the argument and the value.
#include <doctest/doctest.h>

#include <ebm/optim/adam.hpp>
#include <ebm/optim/schedules.hpp>
#include <ebm/optim/sgd.hpp>

#include <vector>

#include "../common/expect_error.hpp"

TEST_CASE("sgd: bad hyper-parameters and sizes") {
    EBM_CHECK_ERROR(ebm::sgd{.learning_rate = 0.0f}.make_state(3), "sgd", "learning_rate", "(got 0)");
    EBM_CHECK_ERROR(ebm::sgd{.learning_rate = -0.1f}.validate(), "sgd", "learning_rate", "(got -0.1)");
    EBM_CHECK_ERROR(ebm::sgd{.momentum = 1.5f}.validate(), "sgd", "momentum", "(got 1.5)");
    EBM_CHECK_ERROR(ebm::sgd{.schedule = {.factor = 2.0}}.validate(), "sgd", "schedule.factor", "(got 2)");
    EBM_CHECK_ERROR((ebm::sgd{.schedule = {.factor = 0.5, .floor = -1.0}}.validate()), "sgd", "schedule.floor", "(got -1)");
    EBM_CHECK_ERROR(ebm::sgd{}.make_state(0), "sgd::make_state", "parameter_count", "(got 0)");
    const ebm::sgd opt{};
    auto st = opt.make_state(3);
    std::vector<float> p(3), g(2);
    EBM_CHECK_ERROR(opt.step(st, p, g), "sgd::step", "grad", "(got 2)");
}

TEST_CASE("adam: bad hyper-parameters and sizes") {
    EBM_CHECK_ERROR(ebm::adam{.learning_rate = -1.0f}.make_state(3), "adam", "learning_rate", "(got -1)");
    EBM_CHECK_ERROR(ebm::adam{.beta1 = 1.5f}.validate(), "adam", "beta1", "(got 1.5)");
    EBM_CHECK_ERROR(ebm::adam{.beta2 = -0.5f}.validate(), "adam", "beta2", "(got -0.5)");
    EBM_CHECK_ERROR(ebm::adam{.epsilon = 0.0f}.validate(), "adam", "epsilon", "(got 0)");
    EBM_CHECK_ERROR(ebm::adam{.schedule = {.factor = -0.5}}.validate(), "adam", "schedule.factor", "(got -0.5)");
    EBM_CHECK_ERROR(ebm::adam{}.make_state(-4), "adam::make_state", "parameter_count", "(got -4)");
    const ebm::adam opt{};
    auto st = opt.make_state(3);
    std::vector<float> p(3), g(5), p4(4), g4(4);
    EBM_CHECK_ERROR(opt.step(st, p, g), "adam::step", "grad", "(got 5)");
    EBM_CHECK_ERROR(opt.step(st, p4, g4), "adam::step", "state's size 3", "(got 4)");
}

TEST_CASE("anatomy_scaled_rate: non-positive arguments") {
    EBM_CHECK_ERROR(ebm::anatomy_scaled_rate(0.0f, 0.1f), "anatomy_scaled_rate", "gamma0", "(got 0)");
    EBM_CHECK_ERROR(ebm::anatomy_scaled_rate(0.1f, -0.125f), "anatomy_scaled_rate", "epsilon", "(got -0.125)");
}

TEST_CASE("sgd with momentum: params of another size than the state") {
    const ebm::sgd opt{.momentum = 0.9f};
    auto st = opt.make_state(3);
    std::vector<float> p(4), g(4);
    EBM_CHECK_ERROR(opt.step(st, p, g), "sgd::step", "state's size 3", "(got 4)");
}
