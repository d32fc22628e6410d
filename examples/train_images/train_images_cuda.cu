// train_images --device cuda: the same training run (train_run.hpp) on the GPU's network.
#include "common/cuda_device.cuh"
#include "image_nets_cuda.cuh"
#include "train_run.hpp"

int run_training_cuda(const ebm::train_config& config, const std::optional<std::filesystem::path>& resume_from,
                      const ebm::data::dataset& data, double max_seconds) {
    return image_run::with_device_net(config, [&](auto net) {
        return image_run::run_training(config, resume_from, data, std::move(net), max_seconds);
    });
}
