// Bad input to the samplers and the adaptation: ebm::error naming the function, the argument and the value.
#include <doctest/doctest.h>

#include <ebm/energy/toy.hpp>
#include <ebm/sampler/adaptation.hpp>
#include <ebm/sampler/langevin.hpp>
#include <ebm/sampler/mala.hpp>

#include "../common/expect_error.hpp"

TEST_CASE("langevin: non-positive epsilon, negative steps, bad chunking and clamp") {
    const auto e = ebm::toy::gmm();
    EBM_CHECK_ERROR(ebm::langevin{.epsilon = 0.0f}.make_state(e, 4), "ebm::langevin:", "epsilon", "(got 0)");
    EBM_CHECK_ERROR(ebm::langevin{.epsilon = -0.5f}.validate(), "ebm::langevin:", "epsilon", "(got -0.5)");
    EBM_CHECK_ERROR(ebm::langevin{.epsilon = NAN}.validate(), "ebm::langevin:", "epsilon", "nan");
    EBM_CHECK_ERROR(ebm::langevin{.steps = -3}.make_state(e, 4), "ebm::langevin:", "steps", "(got -3)");
    EBM_CHECK_ERROR(ebm::langevin{.chains_per_task = 0}.make_state(e, 4), "ebm::langevin:", "chains_per_task", "(got 0)");
    EBM_CHECK_ERROR((ebm::langevin{.clamp = {1.0f, 1.0f}}.make_state(e, 4)), "ebm::langevin:", "clamp", "(got 1)");
    EBM_CHECK_ERROR(ebm::langevin{}.make_state(e, 0), "langevin::make_state", "max_chains", "(got 0)");
}

TEST_CASE("langevin_decoupled: non-positive lambda, negative sigma") {
    const auto e = ebm::toy::gmm();
    EBM_CHECK_ERROR(ebm::langevin_decoupled{.step_size_lambda = 0.0f}.make_state(e, 4), "langevin_decoupled",
                    "step_size_lambda", "(got 0)");
    EBM_CHECK_ERROR(ebm::langevin_decoupled{.noise_sigma = -0.01f}.make_state(e, 4), "langevin_decoupled", "noise_sigma",
                    "(got -0.01)");
    EBM_CHECK_ERROR(ebm::langevin_decoupled{.steps = -1}.make_state(e, 4), "langevin_decoupled", "steps", "(got -1)");
    EBM_CHECK_ERROR(ebm::langevin_decoupled{}.make_state(e, -2), "langevin_decoupled::make_state", "max_chains", "(got -2)");
}

TEST_CASE("mala: non-positive epsilon and steps, bad max_chains and warm-up") {
    const auto e = ebm::toy::gmm();
    EBM_CHECK_ERROR(ebm::mala{.epsilon = -1.0f}.make_state(e, 4), "ebm::mala:", "epsilon", "(got -1)");
    EBM_CHECK_ERROR(ebm::mala{.steps = -7}.make_state(e, 4), "ebm::mala:", "steps", "(got -7)");
    EBM_CHECK_ERROR(ebm::mala{}.make_state(e, 0), "mala::make_state", "max_chains", "(got 0)");
    const ebm::mala m{};
    auto st = m.make_state(e, 4);
    ebm::batch x(2, 4);
    EBM_CHECK_ERROR(m.adapt(st, e, x, ebm::philox(1), 0, 0), "mala::adapt", "warmup_steps", "(got 0)");
    EBM_CHECK_ERROR(m.adapt(st, e, x, ebm::philox(1), 0, 10, ebm::dual_averaging{.target_acceptance = 1.5}), "dual_averaging",
                    "target_acceptance", "(got 1.5)");
}

TEST_CASE("sampler runs: dimension mismatch, too many or no chains, step counter overflow") {
    const auto e = ebm::toy::gmm();
    ebm::batch x3(3, 4), x2(2, 4), big(2, 9);
    const ebm::langevin lan{.steps = 2};
    auto sl = lan.make_state(e, 8);
    EBM_CHECK_ERROR(lan.run(sl, e, x3, ebm::philox(1), 0), "langevin::run", "x dimension", "(got 3)");
    EBM_CHECK_ERROR(lan.run(sl, e, big, ebm::philox(1), 0), "langevin::run", "chains", "(got 9)");
    EBM_CHECK_ERROR(lan.run(sl, e, x2.view().chains(0, 0), ebm::philox(1), 0), "langevin::run", "chains", "(got 0)");
    EBM_CHECK_ERROR(lan.run(sl, e, x2, ebm::philox(1), ebm::max_philox_step), "langevin::run", "first_step",
                    std::to_string(ebm::max_philox_step));
    const ebm::langevin_decoupled dec{.steps = 2};
    auto sd = dec.make_state(e, 8);
    EBM_CHECK_ERROR(dec.run(sd, e, x3, ebm::philox(1), 0), "langevin_decoupled::run", "x dimension", "(got 3)");
    const ebm::mala mala{.steps = 2};
    auto sm = mala.make_state(e, 8);
    EBM_CHECK_ERROR(mala.run(sm, e, x3, ebm::philox(1), 0), "mala::run", "x dimension", "(got 3)");
    EBM_CHECK_ERROR(mala.run(sm, e, big, ebm::philox(1), 0), "mala::run", "chains", "(got 9)");
}

TEST_CASE("dual_averaging: settings and initial step") {
    EBM_CHECK_ERROR(ebm::dual_averaging{.target_acceptance = 0.0}.validate(), "dual_averaging", "target_acceptance", "(got 0)");
    EBM_CHECK_ERROR(ebm::dual_averaging{.gamma = -1}.validate(), "dual_averaging", "gamma", "(got -1)");
    EBM_CHECK_ERROR(ebm::dual_averaging{.t0 = -1}.validate(), "dual_averaging", "t0", "(got -1)");
    EBM_CHECK_ERROR(ebm::dual_averaging{.kappa = 0.25}.validate(), "dual_averaging", "kappa", "(got 0.25)");
    EBM_CHECK_ERROR(ebm::dual_averaging_state({}, 0.0), "dual_averaging_state", "initial_epsilon", "(got 0)");
}
