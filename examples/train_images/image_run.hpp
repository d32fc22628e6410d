#pragma once
// What train_images and sample_images share: the configured data set, the configured ConvNet, and sample grids.
#include <ebm/data/cifar.hpp>
#include <ebm/data/dataset.hpp>
#include <ebm/data/idx.hpp>
#include <ebm/data/image_folder.hpp>
#include <ebm/energy/convnet.hpp>
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

/// The ConvNet of the configuration: "convnet" is the short-run paper's network (32, 64 or 128 px), "vanilla"
/// the Anatomy code's (32 px).
inline ebm::convnet make_net(const ebm::train_config& c) {
    const auto& m = c.model;
    if (m.architecture == "vanilla") {
        if (c.data.image_size != 32) ebm::detail::fail("train_images", "model.architecture vanilla needs data.image_size 32", c.data.image_size);
        return ebm::convnet::vanilla(c.data.channels, m.features, m.negative_slope, {}, ebm::seed{m.init_seed});
    }
    if (m.architecture != "convnet")
        ebm::detail::fail("train_images", "model.architecture must be convnet or vanilla", m.architecture);
    return ebm::convnet::short_run(c.data.image_size, m.features, c.data.channels, m.negative_slope, {},
                                   ebm::seed{m.init_seed});
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

}  // namespace image_run
