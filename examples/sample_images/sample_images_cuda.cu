// sample_images --device cuda: the same sampling run (sample_run.hpp) on the GPU's network.
#include "common/cuda_device.cuh"
#include "sample_run.hpp"
#include "train_images/image_nets_cuda.cuh"

int run_sampling_cuda(const image_run::sample_options& o, const std::filesystem::path& path,
                      const ebm::checkpoint_info& info, const ebm::train_config& c) {
    return image_run::with_device_net(c, [&](auto net) { return image_run::run_sampling(o, path, info, c, std::move(net)); });
}
