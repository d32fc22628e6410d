#pragma once
// What train_images and sample_images share on either backend: the configured data set, the configured network
// (which one, checked once; image_nets.hpp builds it on the CPU, image_nets_cuda.cuh on the GPU), sample grids.
#include <ebm/data/cifar.hpp>
#include <ebm/data/dataset.hpp>
#include <ebm/data/idx.hpp>
#include <ebm/data/image_folder.hpp>
#include <ebm/backend/execution.hpp>
#include <ebm/energy/network_json.hpp>
#include <ebm/io/png.hpp>
#include <ebm/train/config.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

namespace image_run {

/// The data set of the configuration, in [-1, 1], brought to channels x image_size x image_size.
inline ebm::data::dataset load_data(const ebm::train_config& c) {
    namespace fs = std::filesystem;
    ebm::data::byte_images bytes;
    const auto& d = c.data;
    if (d.source == "fashion_mnist") {
        const fs::path folder = d.path.empty() ? ebm::data::debian_fashion_mnist_folder : fs::path(d.path);
        const std::string split = d.train_split ? "train" : "t10k";
        bytes = ebm::data::read_idx_dataset(folder / (split + "-images-idx3-ubyte.gz"), folder / (split + "-labels-idx1-ubyte.gz"));
    } else if (d.source == "idx") {
        bytes = d.labels.empty() ? ebm::data::read_idx_images(d.path) : ebm::data::read_idx_dataset(d.path, d.labels);
    } else if (d.source == "cifar10") {
        bytes = ebm::data::read_cifar10_folder(d.path, d.train_split);
    } else {
        bytes = ebm::data::read_image_folder(d.path, d.channels);
    }
    ebm::data::dataset data(bytes);
    if (d.limit > 0) data.truncate(d.limit);
    return data.fit({d.channels, d.image_size, d.image_size},
                    d.fit == "pad" ? ebm::data::fit_mode::pad : ebm::data::fit_mode::resize);
}

/// The network a configuration asks for: "convnet" is the short-run paper's ConvNet (32, 64 or 128 px), "vanilla"
/// the Anatomy code's VanillaNet and "nonlocal" its NonlocalNet for convergent learning (both 32 px), "network" the
/// description in model.network (any size; model.features and model.negative_slope do not apply). Checked here
/// once for both backends.
struct net_request {
    bool vanilla = false;
    bool nonlocal = false;
    bool network = false;
    ebm::network_spec spec;  // network
    ebm::index image_size = 32;
    ebm::index channels = 3;
    ebm::index features = 64;
    float negative_slope = 0.2f;
    ebm::seed init_seed{0};
};

inline net_request requested_net(const ebm::train_config& c) {
    const auto& m = c.model;
    net_request r{m.architecture == "vanilla", m.architecture == "nonlocal", m.architecture == "network", {},
                  c.data.image_size, c.data.channels, m.features, m.negative_slope, ebm::seed{m.init_seed}};
    if (!r.vanilla && !r.nonlocal && !r.network && m.architecture != "convnet")
        ebm::detail::fail("train_images", "model.architecture must be convnet, vanilla, nonlocal or network",
                          m.architecture);
    if ((r.vanilla || r.nonlocal) && c.data.image_size != 32)
        ebm::detail::fail("train_images", "model.architecture " + m.architecture + " needs data.image_size 32",
                          c.data.image_size);
    if (r.network) {
        r.spec = ebm::network_spec_from_json(m.network);
        const ebm::network_shape data{c.data.channels, c.data.image_size, c.data.image_size, false};
        const ebm::network_shape input = ebm::compile_network(r.spec).input;
        if (input.flat || input.channels != data.channels || input.height != data.height || input.width != data.width)
            ebm::detail::fail("train_images", "model.network's input must be the data's shape [data.channels, "
                                              "data.image_size, data.image_size] = " + ebm::network_shape_text(data),
                              ebm::network_shape_text(input));
    }
    return r;
}

/// A grid of the first `count` chains (values in [-1, 1], CHW) as one picture.
inline ebm::io::image grid(ebm::const_batch_view x, ebm::index channels, ebm::index side, ebm::index count) {
    count = std::min(count, x.count);
    std::vector<ebm::io::image> panels;
    const ebm::index plane = side * side;
    for (ebm::index i = 0; i < count; ++i) {
        ebm::io::image img(side, side, channels == 1 ? 1 : 3);
        const float* chain = x.chain(i);
        for (ebm::index p = 0; p < plane; ++p)
            for (ebm::index ch = 0; ch < img.channels; ++ch) {
                const float v = std::clamp((chain[ch * plane + p] + 1.0f) * 127.5f, 0.0f, 255.0f);
                img.pixels[static_cast<std::size_t>(p * img.channels + ch)] = static_cast<std::uint8_t>(std::lround(v));
            }
        panels.push_back(std::move(img));
    }
    const auto columns = static_cast<ebm::index>(std::ceil(std::sqrt(static_cast<double>(count))));
    return ebm::io::compose(panels, columns, 2, {0, 0, 0});
}

/// The same for chains in device memory (copied to the host first; a template, so CPU-only programs never need the
/// CUDA execution).
template <class Space>
    requires std::same_as<Space, ebm::device_space>
ebm::io::image grid(ebm::basic_const_batch_view<Space> states, ebm::index channels, ebm::index side, ebm::index count) {
    count = std::min(count, states.count);
    ebm::batch host(states.dimension, count);
    ebm::copy_to_host(states.chains(0, count), host.view());
    return grid(host.view(), channels, side, count);
}

}  // namespace image_run
