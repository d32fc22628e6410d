// generate --device cuda: the same runs (generate_run.hpp) on the GPU's network.
#include "common/cuda_device.cuh"
#include "generate_run.hpp"
#include "train_images/image_nets_cuda.cuh"

int run_generate_cuda(const image_run::generate_options& o, const std::filesystem::path& path,
                      const ebm::checkpoint_info& info, const ebm::train_config& c) {
    return image_run::with_device_net(c, [&](auto net) { return image_run::run_generate(o, path, info, c, std::move(net)); });
}
