#pragma once
// The configured ConvNet on the CPU (oneDNN).
#include <ebm/energy/convnet.hpp>

#include "image_run.hpp"

namespace image_run {

inline ebm::convnet make_net(const ebm::train_config& c) {
    const net_request r = requested_net(c);
    if (r.vanilla) return ebm::convnet::vanilla(r.channels, r.features, r.negative_slope, {}, r.init_seed);
    return ebm::convnet::short_run(r.image_size, r.features, r.channels, r.negative_slope, {}, r.init_seed);
}

}  // namespace image_run
