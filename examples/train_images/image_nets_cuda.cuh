#pragma once
// The configured network on the GPU: the same architecture, parameter layout and initialisation streams as
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

/// f(the configured network) on the GPU: make_device_net's ConvNet, cuda_backend::nonlocal_net, or
/// cuda_backend::network for model.architecture network (ebm::network's layout and initialisation).
template <class F>
decltype(auto) with_device_net(const ebm::train_config& c, F&& f) {
    const net_request r = requested_net(c);
    if (r.network) return f(ebm::cuda_backend::network(r.spec, r.init_seed));
    if (r.nonlocal) return f(ebm::cuda_backend::nonlocal_net(r.channels, r.features, r.negative_slope, r.init_seed));
    return f(make_device_net(c));
}

}  // namespace image_run
