#pragma once
// The configured network on the CPU: a ConvNet on oneDNN, the non-local net, or a network from its description.
#include <cstdio>
#include <string>
#include <vector>

#include <ebm/energy/convnet.hpp>
#include <ebm/energy/convnet_nonlocal.hpp>
#include <ebm/energy/network.hpp>

#include "image_run.hpp"

namespace image_run {

inline ebm::convnet make_net(const ebm::train_config& c) {
    const net_request r = requested_net(c);
    ebm::convnet net = r.vanilla ? ebm::convnet::vanilla(r.channels, r.features, r.negative_slope, {}, r.init_seed)
                                 : ebm::convnet::short_run(r.image_size, r.features, r.channels, r.negative_slope, {},
                                                           r.init_seed);
    // oneDNN's reference kernels are 100-1000x slower than its optimised ones: say so before a long run.
    const std::vector<std::string> slow = net.make_workspace(c.training.batch_size).reference_kernels();
    if (!slow.empty()) {
        std::string labels;
        for (const std::string& label : slow) labels += (labels.empty() ? "" : ", ") + label;
        std::fprintf(stderr,
                     "train_images: warning: oneDNN has only its slow reference kernels on this CPU for %s of this "
                     "net (model.features %lld); training will be much slower than usual\n",
                     labels.c_str(), static_cast<long long>(r.features));
    }
    return net;
}

/// f(the configured network) on the CPU: make_net's ConvNet, ebm::nonlocal_net for model.architecture nonlocal, or
/// ebm::network for model.architecture network.
template <class F>
decltype(auto) with_net(const ebm::train_config& c, F&& f) {
    const net_request r = requested_net(c);
    if (r.nonlocal) return f(ebm::nonlocal_net(r.channels, r.features, r.negative_slope, r.init_seed));
    if (r.network) return f(ebm::network(r.spec, r.init_seed));
    return f(make_net(c));
}

}  // namespace image_run
