#pragma once
// The configured ConvNet on the GPU (cuDNN): the same architecture, parameter layout and initialisation streams as
// image_nets.hpp's, so checkpoints move between the backends.
#include <ebm/backend/cuda/cuda.cuh>

#include "image_run.hpp"

namespace image_run {

inline ebm::cuda_backend::convnet make_device_net(const ebm::train_config& c) {
    const net_request r = requested_net(c);
    if (r.vanilla) return ebm::cuda_backend::convnet::vanilla(r.channels, r.features, r.negative_slope, r.init_seed);
    return ebm::cuda_backend::convnet::short_run(r.image_size, r.features, r.channels, r.negative_slope, false,
                                                 r.init_seed);
}

}  // namespace image_run
