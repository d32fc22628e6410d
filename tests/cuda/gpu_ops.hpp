#pragma once
// A plain C++ face of the CUDA backend for test_cuda_gpu.cpp: host vectors in, host vectors out. Implemented in
// gpu_ops.cu (the only CUDA translation unit of the tests), so the CPU side of the comparison is compiled by the
// C++ compiler with Eigen, oneDNN and OpenMP as usual. Every call has finished on the device when it returns.
#include <cstdint>
#include <string>
#include <vector>

#include <ebm/backend/cuda/compute_options.hpp>
#include <ebm/concepts/sampler.hpp>
#include <ebm/config.hpp>
#include <ebm/energy/network_spec.hpp>
#include <ebm/init/noise.hpp>
#include <ebm/init/persistent_bank.hpp>
#include <ebm/optim/adam.hpp>
#include <ebm/optim/sgd.hpp>
#include <ebm/sampler/langevin.hpp>
#include <ebm/sampler/hmc.hpp>
#include <ebm/sampler/mala.hpp>
#include <ebm/train/diagnostics.hpp>
#include <ebm/train/ml_trainer.hpp>
#include <ebm/train/recipes.hpp>

namespace gpu_ops {

int device_count();
std::string device_name();

/// Any device energy of the backend, built with the CPU network's parameters (its flat vector, copied across).
enum class architecture { mlp, short_run, vanilla, nonlocal, composed };
struct model {
    architecture type = architecture::mlp;
    std::vector<ebm::index> sizes;  // mlp: layer sizes
    ebm::index image_size = 32;     // short_run: 32, 64 or 128
    ebm::index n_f = 8;             // convnets (3 input channels)
    float slope = 0.2f;             // LeakyReLU negative slope
    ebm::network_spec spec;         // composed: the layers (cuda_backend::network)
    std::vector<float> parameters;  // the CPU network's, in its flat order
    ebm::cuda_backend::compute_options compute;  // engine, algorithms, TF32 (convnets and the non-local net)
};
std::string name_of(const model& m);

/// An energy wrapper over the device MLP (the model must be an mlp): scaled(E, value) (value = epsilon),
/// tempered(E, value) (value = T) or magnetized(E, target, value) (value = alpha).
enum class wrapper_kind { scaled, tempered, magnetized };
struct wrapper {
    wrapper_kind kind = wrapper_kind::scaled;
    float value = 1.0f;
    std::vector<float> target;  // magnetized: x*, one value per dimension
};

/// Noise of `count` chains by the device kernel (kernels::normal_fill).
std::vector<float> noise(std::uint64_t seed, std::uint32_t purpose, std::uint64_t step, ebm::index dimension,
                         ebm::index count, float scale);

/// The device network's own initialisation from `seed` (to compare layout and streams with the CPU's).
std::vector<float> initial_parameters(const model& m, std::uint64_t seed);

/// Energies u and dU/dx g of `count` chains; then the weighted parameter gradient accumulated onto grad (with the
/// energies of that call in u_again). With `wrap`, of the wrapped MLP.
void evaluate(const model& m, const std::vector<float>& x, ebm::index count, const std::vector<float>& weights,
              std::vector<float>& u, std::vector<float>& g, std::vector<float>& grad, std::vector<float>& u_again,
              const wrapper* wrap = nullptr);

/// `steps` Langevin steps (Anatomy form, epsilon) on x in place; with or without the CUDA graph.
ebm::sampler_stats langevin(const model& m, std::vector<float>& x, ebm::index count, float epsilon, ebm::index steps,
                            std::uint64_t seed, std::uint64_t first_step, bool graph);
/// `runs` consecutive runs of `policy` (ebm::langevin) on x in place, from first_step, the later runs starting from the
/// cached energies and gradients of the one before (as ebm::markov_chain runs them); u and g: the final states'.
/// The MLP's compute options say whether it runs the whole chain as one kernel (compute_options::whole_chain); with
/// `wrap`, the chain runs on the wrapped MLP.
ebm::sampler_stats langevin_runs(const model& m, std::vector<float>& x, ebm::index count, const ebm::langevin& policy,
                                 int runs, std::uint64_t seed, std::uint64_t first_step, std::vector<float>& u,
                                 std::vector<float>& g, bool* whole_chain = nullptr, const wrapper* wrap = nullptr);
/// Whether the MLP's whole-chain kernel is the one compiled for its sizes (cuda_backend::mlp::compiled_sizes);
/// false for the other architectures.
bool mlp_compiled_sizes(const model& m);
/// `steps` MALA steps; accepted[i] counts chain i's accepted proposals.
ebm::sampler_stats mala(const model& m, std::vector<float>& x, ebm::index count, float epsilon, ebm::index steps,
                        std::uint64_t seed, std::uint64_t first_step, std::vector<std::int64_t>& accepted);
/// The benchmark targets (energy/sampling_targets.hpp) on the device: "gauss" (dimension d, condition 100), "funnel"
/// (dimension d), "banana" (d = 2), "gmm" (isotropic_mixture::ring(8, 1, 0.15), d = 2): energies u, gradients g and
/// Hessian-vector products hv along each chain's own state, (d2U/dx2)(x_i) x_i, of `count` chains x; then `steps` HMC
/// steps (L = 3, eps) from x in place, accepted[i] per chain.
void target_on_device(const std::string& name, ebm::index dimension, std::vector<float>& x, ebm::index count,
                      std::vector<float>& u, std::vector<float>& g, std::vector<float>& hv, float epsilon,
                      ebm::index steps, std::vector<std::int64_t>& accepted);

/// Hessian-vector products hv_i = (d2U/dx2)(x_i) v_i of `count` chains of a device network (every architecture but
/// mlp: the composed network, and the ConvNet and non-local presets through the same engine).
std::vector<float> network_hessian_vector(const model& m, const std::vector<float>& x, const std::vector<float>& v,
                                          ebm::index count);

/// `steps` HMC steps of `leapfrog` leapfrog steps each; accepted[i] counts chain i's accepted trajectories.
ebm::sampler_stats hmc(const model& m, std::vector<float>& x, ebm::index count, float epsilon, ebm::index leapfrog,
                       ebm::index steps, std::uint64_t seed, std::uint64_t first_step,
                       std::vector<std::int64_t>& accepted);

/// A MALA warm-up of `warmup` steps with step-size adaptation (ebm::mala::adapt, default dual averaging) on x in
/// place, then (run_steps > 0) a run of run_steps steps with the adapted step from first_step + warmup.
struct adaptation_result {
    float epsilon = 0;                                    // what adapt returned (the state's step afterwards)
    std::vector<double> acceptance, step, averaged_step;  // per warm-up step, from st.adaptation_records()
    ebm::sampler_stats run;                               // the run after the warm-up
};
adaptation_result mala_adapt(const model& m, std::vector<float>& x, ebm::index count, float epsilon,
                             ebm::index warmup, std::uint64_t seed, std::uint64_t first_step, bool graph,
                             ebm::index run_steps = 0, const wrapper* wrap = nullptr);

/// `steps` Adam steps (lr, default betas) with the same gradient each step, on the device.
std::vector<float> adam_steps(std::vector<float> parameters, const std::vector<float>& gradient, float learning_rate,
                              int steps);

/// The policies of a trainer (the same on both backends; test_cuda_gpu.cpp builds the CPU twin).
enum class policies {
    langevin_uniform_sgd,  // langevin, uniform_noise{-1, 1}, sgd
    langevin_bank_adam,    // langevin, persistent_bank<uniform_noise>{.size = batch}, adam
    mala_uniform_sgd,      // mala, uniform_noise{-1, 1}, sgd
};
struct training_setup {
    policies kind = policies::langevin_uniform_sgd;
    float epsilon = 0.125f;
    ebm::index steps = 20;
    float learning_rate = 1e-2f;
    float momentum = 0.0f;      // sgd
    float adam_epsilon = 1e-8f;
    float data_noise = 0.03f;
    std::uint64_t seed = 123;
};
/// Calls f(sampler, initializer, optimizer, options) with the policies of `setup` for batches of `count`: both
/// sides build their ebm::ml_trainer from here, so the CPU and the GPU trainer cannot differ in a policy.
template <class F>
auto with_policies(const training_setup& s, ebm::index count, F&& f) {
    const ebm::trainer_options options{.batch_size = count, .data_noise = s.data_noise,
                                       .random_seed = ebm::seed{s.seed}};
    switch (s.kind) {
        case policies::langevin_bank_adam:
            return f(ebm::langevin{.epsilon = s.epsilon, .steps = s.steps},
                     ebm::persistent_bank<ebm::uniform_noise>{.size = count},
                     ebm::adam{.learning_rate = s.learning_rate, .epsilon = s.adam_epsilon}, options);
        case policies::mala_uniform_sgd:
            return f(ebm::mala{.epsilon = s.epsilon, .steps = s.steps}, ebm::uniform_noise{-1.0f, 1.0f},
                     ebm::sgd{.learning_rate = s.learning_rate, .momentum = s.momentum}, options);
        case policies::langevin_uniform_sgd:
        default:
            return f(ebm::langevin{.epsilon = s.epsilon, .steps = s.steps}, ebm::uniform_noise{-1.0f, 1.0f},
                     ebm::sgd{.learning_rate = s.learning_rate, .momentum = s.momentum}, options);
    }
}

/// What a run of the device trainer does besides iterating: load a checkpoint first, save one after some iterations.
struct training_run {
    int iterations = 1;
    std::string load_from{};  // non-empty: ebm::load_checkpoint before the first iteration
    std::string save_to{};    // non-empty: ebm::save_checkpoint after save_after iterations
    int save_after = 0;
};
struct training_result {
    std::vector<ebm::iteration_record> records;
    std::vector<float> parameters;            // after the last iteration
    std::vector<float> negatives;             // of the last iteration
    std::vector<std::uint8_t> loaded_state;   // ebm::checkpoint_bytes right after the load (load_from only)
    std::vector<std::uint8_t> final_state;    // ebm::checkpoint_bytes after the last iteration
};
/// The device trainer (ebm::ml_trainer with the device energy) on `count` positives (the same every iteration).
training_result train(const model& m, const std::vector<float>& positives, ebm::index count,
                      const training_setup& setup, const training_run& run);

/// The recipes of train/recipes.hpp with a device MLP, `iterations` iterations on the same positives; the recipe's
/// defaults except the number of sampler steps and the batch size.
enum class recipe { convergent, short_run };
inline ebm::convergent_settings convergent_settings(ebm::index steps, ebm::index batch_size) {
    return {.steps = steps, .batch_size = batch_size};
}
inline ebm::short_run_settings short_run_settings(ebm::index steps, ebm::index batch_size) {
    return {.steps = steps, .batch_size = batch_size};
}
std::vector<ebm::iteration_record> run_recipe(const model& m, recipe kind, ebm::index steps, ebm::index batch_size,
                                              const std::vector<float>& positives, int iterations);

}  // namespace gpu_ops
