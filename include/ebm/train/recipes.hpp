#pragma once
// The papers' recipes as types and factories, with the defaults of the authors' code (docs/training.md).
//   convergent_trainer      Anatomy convergent ML: U = F/(eps^2/2), persistent bank from U[-1,1], Langevin with
//                           noise, L = 500, eps = 0.125 (toys), SGD with gamma = (eps^2/2) * gamma0
//   non_convergent_trainer  Anatomy non-convergent ML: U = F/(eps^2/2), Gaussian noise init each iteration,
//                           L = 100, eps = 0.01, Adam 1e-4
//   short_run_trainer       short-run paper: uniform [-1,1] init each iteration, K = 100 decoupled Langevin
//                           (lambda 1, sigma 0.01), Adam 1e-4, data noise 0.03, batch 64
#include <utility>

#include "../energy/scaled.hpp"
#include "../init/noise.hpp"
#include "../init/persistent_bank.hpp"
#include "../optim/adam.hpp"
#include "../optim/schedules.hpp"
#include "../optim/sgd.hpp"
#include "../sampler/langevin.hpp"
#include "ml_trainer.hpp"

namespace ebm {

template <class F>
using convergent_trainer = ml_trainer<scaled_energy<F>, langevin, persistent_bank<uniform_noise>, sgd>;
template <class F>
using non_convergent_trainer = ml_trainer<scaled_energy<F>, langevin, gaussian_noise, adam>;
template <class F>
using short_run_trainer = ml_trainer<F, langevin_decoupled, uniform_noise, adam>;

struct convergent_settings {
    float epsilon = 0.125f;
    index steps = 500;
    float gamma0 = 0.1f;  // toy configs; 0.0005 for images (the authors' image configs)
    index bank_size = 10'000;
    index batch_size = 100;
    seed random_seed{123};
};

template <class F>
convergent_trainer<F> make_convergent_trainer(F net, const convergent_settings& s = {}) {
    return {scaled(std::move(net), s.epsilon), langevin{.epsilon = s.epsilon, .steps = s.steps},
            persistent_bank<uniform_noise>{.size = s.bank_size, .init = uniform_noise{-1.0f, 1.0f}},
            sgd{.learning_rate = anatomy_scaled_rate(s.gamma0, s.epsilon)},
            trainer_options{.batch_size = s.batch_size, .random_seed = s.random_seed}};
}

struct non_convergent_settings {
    float epsilon = 0.01f;
    index steps = 100;
    float learning_rate = 1e-4f;
    float init_scale = 1.0f;  // 1 for gmm, 2 for rings
    index batch_size = 100;
    seed random_seed{123};
};

template <class F>
non_convergent_trainer<F> make_non_convergent_trainer(F net, const non_convergent_settings& s = {}) {
    return {scaled(std::move(net), s.epsilon), langevin{.epsilon = s.epsilon, .steps = s.steps},
            gaussian_noise{.scale = s.init_scale}, adam{.learning_rate = s.learning_rate},
            trainer_options{.batch_size = s.batch_size, .random_seed = s.random_seed}};
}

struct short_run_settings {
    index steps = 100;
    float step_size_lambda = 1.0f;
    float noise_sigma = 0.01f;
    float learning_rate = 1e-4f;
    float data_noise = 0.03f;
    index batch_size = 64;
    seed random_seed{1};
};

template <class F>
short_run_trainer<F> make_short_run_trainer(F net, const short_run_settings& s = {}) {
    return {std::move(net),
            langevin_decoupled{.step_size_lambda = s.step_size_lambda, .noise_sigma = s.noise_sigma, .steps = s.steps},
            uniform_noise{-1.0f, 1.0f}, adam{.learning_rate = s.learning_rate},
            trainer_options{.batch_size = s.batch_size, .data_noise = s.data_noise, .random_seed = s.random_seed}};
}

}  // namespace ebm
