#pragma once
// A plain C++ face of the CUDA backend for test_cuda_gpu.cpp: host vectors in, host vectors out. Implemented in
// gpu_ops.cu (the only CUDA translation unit of the tests), so the CPU side of the comparison is compiled by the
// C++ compiler with Eigen and OpenMP as usual.
#include <cstdint>
#include <string>
#include <vector>

#include <ebm/concepts/sampler.hpp>
#include <ebm/config.hpp>
#include <ebm/train/diagnostics.hpp>

namespace gpu_ops {

int device_count();
std::string device_name();

struct network {
    std::vector<ebm::index> sizes;
    float slope;
    std::vector<float> parameters;
};

/// Noise of `count` chains by the device kernel (normal_fill).
std::vector<float> noise(std::uint64_t seed, std::uint32_t purpose, std::uint64_t step, ebm::index dimension,
                         ebm::index count, float scale);

void energy_and_gradient(const network& net, const std::vector<float>& x, ebm::index count, std::vector<float>& u,
                         std::vector<float>& g);
void parameter_gradient(const network& net, const std::vector<float>& x, ebm::index count,
                        const std::vector<float>& weights, std::vector<float>& grad, std::vector<float>& u);

/// Any device energy of the backend, built with the CPU network's parameters (its flat vector, copied across).
enum class architecture { mlp, short_run, vanilla, nonlocal };
struct model {
    architecture type = architecture::mlp;
    std::vector<ebm::index> sizes;  // mlp: layer sizes
    ebm::index image_size = 32;     // short_run: 32, 64 or 128
    ebm::index n_f = 8;             // convnets (3 input channels)
    float slope = 0.2f;             // LeakyReLU negative slope
    std::vector<float> parameters;  // the CPU network's, in its flat order
};
std::string name_of(const model& m);

/// The device network's own initialisation from `seed` (to compare layout and streams with the CPU's).
std::vector<float> initial_parameters(const model& m, std::uint64_t seed);

/// Energies u and dU/dx g of `count` chains; then the weighted parameter gradient accumulated onto grad (with the
/// energies of that call in u_again).
void evaluate(const model& m, const std::vector<float>& x, ebm::index count, const std::vector<float>& weights,
              std::vector<float>& u, std::vector<float>& g, std::vector<float>& grad, std::vector<float>& u_again);

/// `steps` Langevin steps (Anatomy form, epsilon) on x in place; with or without the CUDA graph.
ebm::sampler_stats langevin(const model& m, std::vector<float>& x, ebm::index count, float epsilon, ebm::index steps,
                            std::uint64_t seed, std::uint64_t first_step, bool graph);
/// `steps` MALA steps; accepted[i] counts chain i's accepted proposals.
ebm::sampler_stats mala(const model& m, std::vector<float>& x, ebm::index count, float epsilon, ebm::index steps,
                        std::uint64_t seed, std::uint64_t first_step, std::vector<std::int64_t>& accepted);

/// A MALA warm-up with step-size adaptation on the device (cuda_backend::adapt_mala), x in place.
struct adaptation_result {
    float epsilon = 0;                                   // the averaged step the state keeps afterwards
    std::vector<double> acceptance, step, averaged_step;  // per warm-up step, from the device's records
};
adaptation_result mala_adapt(const model& m, std::vector<float>& x, ebm::index count, float epsilon,
                             ebm::index warmup_steps, ebm::index chains_per_task, std::uint64_t seed,
                             std::uint64_t first_step, bool graph);

/// Iterations of the device trainer with Langevin and either (uniform noise init, SGD) or (a persistent bank of
/// `count` states, Adam with the given epsilon); parameters updated in place, the last negatives returned.
struct training_setup {
    bool bank_and_adam = false;
    float epsilon = 0.125f;
    ebm::index steps = 20;
    float learning_rate = 1e-2f;
    float adam_epsilon = 1e-8f;
    float data_noise = 0.03f;
    std::uint64_t seed = 123;
    int iterations = 1;
};
std::vector<ebm::iteration_record> train(model& m, const std::vector<float>& positives, ebm::index count,
                                         const training_setup& setup, std::vector<float>& negatives);

/// `steps` Langevin steps (Anatomy form, epsilon) on x in place; with or without the CUDA graph.
ebm::sampler_stats langevin(const network& net, std::vector<float>& x, ebm::index count, float epsilon,
                            ebm::index steps, std::uint64_t seed, std::uint64_t first_step, bool graph);
/// `steps` MALA steps; accepted[i] counts chain i's accepted proposals.
ebm::sampler_stats mala(const network& net, std::vector<float>& x, ebm::index count, float epsilon, ebm::index steps,
                        std::uint64_t seed, std::uint64_t first_step, std::vector<std::int64_t>& accepted);

/// `steps` Adam steps (lr, default betas) with the same gradient each step, on the device.
std::vector<float> adam_steps(std::vector<float> parameters, const std::vector<float>& gradient, float learning_rate,
                              int steps);

/// `iterations` iterations of the device trainer (Langevin, uniform noise init, SGD), parameters updated in place.
std::vector<ebm::iteration_record> train(network& net, const std::vector<float>& positives, ebm::index count,
                                         float epsilon, ebm::index steps, float learning_rate, float data_noise,
                                         std::uint64_t seed, int iterations);

}  // namespace gpu_ops
