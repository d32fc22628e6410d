#pragma once
// What generate reconstruct compares with: the held-out images of the checkpoint's data set (the test split of
// Fashion-MNIST or CIFAR-10), and two reconstructions that need no model, per pixel in [-1, 1]: the mean training
// image, and each image's nearest training image in pixel space (the best any lookup of training data can do).
#include <ebm/data/dataset.hpp>
#include <ebm/error.hpp>
#include <ebm/train/config.hpp>

#include "train_images/image_run.hpp"

namespace image_run {

/// The first `count` images of the test split of the checkpoint's data set (fashion_mnist or cifar10), prepared as
/// in training (channels, size, fit).
inline ebm::data::dataset load_held_out(ebm::train_config c, ebm::index count) {
    if (c.data.source != "fashion_mnist" && c.data.source != "cifar10")
        ebm::detail::fail("generate reconstruct",
                          "held-out images need a data set with a test split (data.source fashion_mnist or cifar10)",
                          c.data.source);
    c.data.train_split = false;
    c.data.limit = count;
    ebm::data::dataset test = load_data(c);
    if (test.size() < count)
        ebm::detail::fail("generate reconstruct", "--images must not exceed the test split's " + ebm::detail::to_text(test.size()) + " images",
                          count);
    return test;
}

struct baseline_errors {
    double mean_image = 0;     // MSE per pixel of the mean training image
    double nearest_image = 0;  // MSE per pixel of each image's nearest training image
    ebm::index training_images = 0;
};

/// Both baselines for the images of `test` against the first `limit` training images (0: all); generate_baselines.cpp,
/// compiled by the host compiler (Eigen stays out of the CUDA translation unit).
baseline_errors pixel_baselines(ebm::train_config c, const ebm::data::dataset& test, ebm::index limit);

}  // namespace image_run
