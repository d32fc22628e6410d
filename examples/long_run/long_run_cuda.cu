// long_run --device cuda: the same long run (long_run_program.hpp) on the GPU's network.
#include "common/cuda_device.cuh"
#include "long_run_program.hpp"
#include "train_images/image_nets_cuda.cuh"

void run_long_cuda(const image_run::long_program_options& o, const std::filesystem::path& path,
                   const ebm::checkpoint_info& info, const ebm::train_config& c, const std::filesystem::path& folder) {
    image_run::with_device_net(c, [&](auto net) {
        image_run::run_long(o, path, info, c, std::move(net), folder);
        return 0;
    });
}
