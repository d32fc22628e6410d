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

/// The short-run ConvNet (image_size, n_f, slope, 3 channels) on cuDNN: energies and dU/dx, then the weighted
/// parameter gradient accumulated onto grad.
void convnet_short_run(ebm::index image_size, ebm::index n_f, float slope, const std::vector<float>& parameters,
                       const std::vector<float>& x, ebm::index count, const std::vector<float>& weights,
                       std::vector<float>& u, std::vector<float>& g, std::vector<float>& grad);

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
