// Bad input to the chain initializers: ebm::error naming the function, the argument and the value.
#include <doctest/doctest.h>

#include <cmath>

#include <ebm/init/data.hpp>
#include <ebm/init/noise.hpp>
#include <ebm/init/persistent_bank.hpp>

#include "../common/expect_error.hpp"

TEST_CASE("noise initializers: bad ranges, scales and sizes") {
    EBM_CHECK_ERROR(ebm::uniform_noise({1.0f, -1.0f}).make_state(2, 4, ebm::philox(1)), "uniform_noise", "low", "(got 1)");
    EBM_CHECK_ERROR(ebm::uniform_noise({0.5f, 0.5f}).validate(), "uniform_noise", "low", "(got 0.5)");
    EBM_CHECK_ERROR(ebm::uniform_noise({-INFINITY, 1.0f}).validate(), "uniform_noise", "low", "inf");
    EBM_CHECK_ERROR(ebm::uniform_noise{}.make_state(0, 4, ebm::philox(1)), "uniform_noise::make_state", "dimension", "(got 0)");
    EBM_CHECK_ERROR(ebm::uniform_noise{}.make_state(2, -1, ebm::philox(1)), "uniform_noise::make_state", "max_chains",
                    "(got -1)");
    EBM_CHECK_ERROR(ebm::gaussian_noise{.scale = 0.0f}.make_state(2, 4, ebm::philox(1)), "gaussian_noise", "scale", "(got 0)");
    EBM_CHECK_ERROR(ebm::gaussian_noise{}.make_state(2, 0, ebm::philox(1)), "gaussian_noise::make_state", "max_chains",
                    "(got 0)");
}

TEST_CASE("data_init: sizes and mismatched data") {
    EBM_CHECK_ERROR(ebm::data_init{.noise = -0.1f}.make_state(2, 4, ebm::philox(1)), "data_init", "noise", "(got -0.1)");
    EBM_CHECK_ERROR(ebm::data_init{.noise = NAN}.validate(), "data_init", "noise", "(got nan)");
    const ebm::data_init init;
    EBM_CHECK_ERROR(init.make_state(0, 4, ebm::philox(1)), "data_init::make_state", "dimension", "(got 0)");
    EBM_CHECK_ERROR(init.make_state(2, 0, ebm::philox(1)), "data_init::make_state", "max_chains", "(got 0)");
    auto st = init.make_state(2, 4, ebm::philox(1));
    ebm::batch x(2, 4), few(2, 3), wide(3, 4);
    EBM_CHECK_ERROR(init.draw(st, x, wide, ebm::philox(1), 0), "data_init::draw", "data dimension", "(got 3)");
    EBM_CHECK_ERROR(init.draw(st, x, few, ebm::philox(1), 0), "data_init::draw", "data", "(got 3)");
}

TEST_CASE("persistent_bank: bank smaller than the batch, bad rejuvenation, mismatched batches") {
    const ebm::persistent_bank<ebm::uniform_noise> small{.size = 50};
    EBM_CHECK_ERROR(small.make_state(2, 100, ebm::philox(1)), "persistent_bank::make_state", "size", "(100)", "(got 50)");
    EBM_CHECK_ERROR(ebm::persistent_bank<>{.size = 0}.make_state(2, 1, ebm::philox(1)), "persistent_bank", "size", "(got 0)");
    EBM_CHECK_ERROR(ebm::persistent_bank<>{.rejuvenation = 1.5f}.validate(), "persistent_bank", "rejuvenation", "(got 1.5)");
    EBM_CHECK_ERROR((ebm::persistent_bank<>{.init = {2.0f, 1.0f}}.validate()), "uniform_noise", "low", "(got 2)");
    EBM_CHECK_ERROR(small.make_state(0, 10, ebm::philox(1)), "persistent_bank::make_state", "dimension", "(got 0)");
    EBM_CHECK_ERROR(small.make_state(2, 0, ebm::philox(1)), "persistent_bank::make_state", "max_chains", "(got 0)");
    auto st = small.make_state(2, 10, ebm::philox(1));
    ebm::batch x(2, 10), wide(3, 10), many(2, 11), other(2, 5);
    EBM_CHECK_ERROR(small.draw(st, wide, {}, ebm::philox(1), 0), "persistent_bank::draw", "x dimension", "(got 3)");
    EBM_CHECK_ERROR(small.draw(st, many, {}, ebm::philox(1), 0), "persistent_bank::draw", "max_chains", "(got 11)");
    small.draw(st, x, {}, ebm::philox(1), 0);
    EBM_CHECK_ERROR(small.write_back(st, other), "persistent_bank::write_back", "x", "(got 5)");
}
