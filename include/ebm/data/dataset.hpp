#pragma once
// An in-memory image dataset for training: float images in [-1, 1] (byte b -> b / 127.5 - 1), NCHW, each image one
// chain of a batch. `fit` brings images to the network's size (zero-padding in [-1,1] terms, i.e. with -1 =
// black, centred; or bilinear resizing as PIL/torchvision's Resize with antialiasing off) and channel count
// (grey -> RGB by replication, RGB -> grey by ITU-R 601 luma). `shuffled_batches` cuts the data into batches in
// an order drawn with Philox: the batch of iteration t is a pure function of (seed, t), so a resumed run sees
// exactly the batches an uninterrupted one would have seen.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "../batch.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../random/philox.hpp"
#include "idx.hpp"

namespace ebm::data {

struct image_shape {
    index channels = 1;
    index height = 28;
    index width = 28;
    [[nodiscard]] index dimension() const { return channels * height * width; }
    friend bool operator==(const image_shape&, const image_shape&) = default;
};

inline std::string to_string(const image_shape& s) {
    return std::to_string(s.channels) + "x" + std::to_string(s.height) + "x" + std::to_string(s.width);
}

enum class fit_mode { pad, resize };

class dataset {
public:
    dataset() = default;

    /// Bytes -> [-1, 1]; labels are kept when present.
    explicit dataset(const byte_images& images) {
        if (images.count <= 0) ebm::detail::fail("dataset", "images must not be empty", images.count);
        shape_ = {images.channels, images.height, images.width};
        ebm::detail::require_positive("dataset", "image dimension", shape_.dimension());
        if (static_cast<index>(images.pixels.size()) != images.count * shape_.dimension())
            ebm::detail::fail("dataset", "pixels must hold count * channels * height * width = " +
                                             ebm::detail::to_text(images.count * shape_.dimension()) + " bytes",
                              images.pixels.size());
        images_.resize(shape_.dimension(), images.count);
        float* out = images_.data();
        for (std::size_t k = 0; k < images.pixels.size(); ++k)
            out[k] = static_cast<float>(images.pixels[k]) / 127.5f - 1.0f;  // 0 -> -1 and 255 -> 1 exactly
        labels_ = images.labels;
    }

    /// Already scaled float images (values must be finite).
    dataset(image_shape shape, std::span<const float> values, std::vector<std::uint8_t> labels = {}) : shape_(shape) {
        ebm::detail::require_positive("dataset", "image dimension", shape.dimension());
        if (values.empty() || values.size() % static_cast<std::size_t>(shape.dimension()) != 0)
            ebm::detail::fail("dataset", "values must hold a positive whole number of " + to_string(shape) + " images",
                              values.size());
        const index n = static_cast<index>(values.size()) / shape.dimension();
        images_.resize(shape.dimension(), n);
        std::copy(values.begin(), values.end(), images_.data());
        ebm::detail::require_batch("dataset", "values", images_.view(), shape.dimension());
        labels_ = std::move(labels);
    }

    [[nodiscard]] index size() const { return images_.count(); }
    [[nodiscard]] const image_shape& shape() const { return shape_; }
    [[nodiscard]] index dimension() const { return shape_.dimension(); }
    [[nodiscard]] const_batch_view images() const { return images_.view(); }
    [[nodiscard]] const float* image(index i) const { return images_.chain(i); }
    [[nodiscard]] const std::vector<std::uint8_t>& labels() const { return labels_; }

    /// Keeps the first n images (n <= size()).
    void truncate(index n) {
        ebm::detail::require_positive("dataset::truncate", "n", n);
        if (n >= size()) return;
        batch kept(dimension(), n);
        std::copy(images_.data(), images_.data() + n * dimension(), kept.data());
        images_ = std::move(kept);
        if (!labels_.empty()) labels_.resize(static_cast<std::size_t>(n));
    }

    /// A copy with images brought to `target`: channels converted, then padded (centred, with -1) or resized
    /// (bilinear). Padding to a smaller size is an error; resize accepts any size.
    [[nodiscard]] dataset fit(image_shape target, fit_mode mode) const {
        const char* where = "dataset::fit";
        ebm::detail::require_positive(where, "target height", target.height);
        ebm::detail::require_positive(where, "target width", target.width);
        if (target.channels != 1 && target.channels != 3)
            ebm::detail::fail(where, "target channels must be 1 or 3", target.channels);
        if (mode == fit_mode::pad && (target.height < shape_.height || target.width < shape_.width))
            ebm::detail::fail(where, "cannot pad " + to_string(shape_) + " images to the smaller size " +
                                         std::to_string(target.height) + "x" + std::to_string(target.width) +
                                         " (use fit_mode::resize)", to_string(shape_));
        if (shape_.channels != 1 && shape_.channels != 3)
            ebm::detail::fail(where, "can convert only 1- or 3-channel images", shape_.channels);
        dataset result;
        result.shape_ = target;
        result.labels_ = labels_;
        result.images_.resize(target.dimension(), size());
        std::vector<float> converted(static_cast<std::size_t>(target.channels * shape_.height * shape_.width));
        const index plane = shape_.height * shape_.width;
        for (index i = 0; i < size(); ++i) {
            const float* src = image(i);
            // Channels first.
            if (target.channels == shape_.channels) {
                std::copy(src, src + dimension(), converted.begin());
            } else if (target.channels == 3) {
                for (index c = 0; c < 3; ++c) std::copy(src, src + plane, converted.begin() + c * plane);
            } else {
                for (index p = 0; p < plane; ++p)
                    converted[static_cast<std::size_t>(p)] = 0.299f * src[p] + 0.587f * src[plane + p] + 0.114f * src[2 * plane + p];
            }
            float* dst = result.images_.chain(i);
            for (index c = 0; c < target.channels; ++c) {
                const float* in = converted.data() + c * plane;
                float* out = dst + c * target.height * target.width;
                if (mode == fit_mode::pad)
                    pad_plane(in, shape_.height, shape_.width, out, target.height, target.width);
                else
                    resize_plane(in, shape_.height, shape_.width, out, target.height, target.width);
            }
        }
        return result;
    }

private:
    static void pad_plane(const float* in, index h, index w, float* out, index th, index tw) {
        std::fill(out, out + th * tw, -1.0f);
        const index top = (th - h) / 2, left = (tw - w) / 2;
        for (index y = 0; y < h; ++y) std::copy(in + y * w, in + (y + 1) * w, out + (top + y) * tw + left);
    }
    // Bilinear with half-pixel centres (align_corners = false), edge-clamped.
    static void resize_plane(const float* in, index h, index w, float* out, index th, index tw) {
        const double sy = static_cast<double>(h) / static_cast<double>(th);
        const double sx = static_cast<double>(w) / static_cast<double>(tw);
        for (index y = 0; y < th; ++y) {
            const double fy = std::clamp((static_cast<double>(y) + 0.5) * sy - 0.5, 0.0, static_cast<double>(h - 1));
            const auto y0 = static_cast<index>(fy);
            const index y1 = std::min(y0 + 1, h - 1);
            const double wy = fy - static_cast<double>(y0);
            for (index x = 0; x < tw; ++x) {
                const double fx = std::clamp((static_cast<double>(x) + 0.5) * sx - 0.5, 0.0, static_cast<double>(w - 1));
                const auto x0 = static_cast<index>(fx);
                const index x1 = std::min(x0 + 1, w - 1);
                const double wx = fx - static_cast<double>(x0);
                const double top = (1 - wx) * in[y0 * w + x0] + wx * in[y0 * w + x1];
                const double bottom = (1 - wx) * in[y1 * w + x0] + wx * in[y1 * w + x1];
                out[y * tw + x] = static_cast<float>((1 - wy) * top + wy * bottom);
            }
        }
    }

    image_shape shape_{};
    batch images_;
    std::vector<std::uint8_t> labels_;
};

/// Batches of a dataset in epochs, each epoch in a fresh Philox order (Fisher-Yates with the stream
/// (purpose::data_sample, chain `stream`, step = epoch); streams 0 (the positives) and 1 (independent chain starts of
/// contrastive divergence, train_images' init.kind data) of one seed are independent orders). An epoch has
/// size() / batch_size batches (the rest is dropped); iteration t uses batch t mod per_epoch of epoch t / per_epoch. Stateless apart from a cache of the current
/// epoch's order, so batch(t) for any t is reproducible.
class shuffled_batches {
public:
    shuffled_batches(const dataset& data, index batch_size, seed shuffle_seed, std::uint32_t stream = 0)
        : data_(&data), batch_size_(batch_size), rng_(shuffle_seed), stream_(stream),
          order_(static_cast<std::size_t>(data.size())) {
        ebm::detail::require_positive("shuffled_batches", "batch_size", batch_size);
        if (batch_size > data.size())
            ebm::detail::fail("shuffled_batches", "batch_size must not exceed the dataset size " +
                                                      ebm::detail::to_text(data.size()), batch_size);
        if (data.size() > static_cast<index>(4) * max_philox_block)
            ebm::detail::fail("shuffled_batches", "dataset too large for one Philox stream per epoch", data.size());
    }

    [[nodiscard]] index batches_per_epoch() const { return data_->size() / batch_size_; }
    [[nodiscard]] index batch_size() const { return batch_size_; }

    /// The image order of an epoch.
    [[nodiscard]] std::span<const std::uint32_t> epoch_order(std::uint64_t epoch) {
        if (!cached_ || epoch != cached_epoch_) {
            std::iota(order_.begin(), order_.end(), std::uint32_t{0});
            const std::size_t n = order_.size();
            philox::block_type words{};
            for (std::size_t i = n - 1; i > 0; --i) {
                const std::size_t k = n - 1 - i;  // draw number
                if (k % 4 == 0) words = rng_.block(purpose::data_sample, stream_, epoch, static_cast<std::uint32_t>(k / 4));
                const std::uint64_t word = words[k % 4];
                const auto j = static_cast<std::size_t>((word * static_cast<std::uint64_t>(i + 1)) >> 32);
                std::swap(order_[i], order_[j]);
            }
            cached_epoch_ = epoch;
            cached_ = true;
        }
        return order_;
    }

    /// Copies the positives of iteration t into out (out.count must equal batch_size()).
    void batch(std::uint64_t t, batch_view out) {
        if (out.dimension != data_->dimension() || out.count != batch_size_)
            ebm::detail::fail("shuffled_batches::batch", "out must be " + ebm::detail::to_text(batch_size_) +
                                                             " chains of dimension " + ebm::detail::to_text(data_->dimension()),
                              out.count);
        const auto per_epoch = static_cast<std::uint64_t>(batches_per_epoch());
        const auto order = epoch_order(t / per_epoch);
        const std::size_t first = static_cast<std::size_t>((t % per_epoch) * static_cast<std::uint64_t>(batch_size_));
        for (index i = 0; i < batch_size_; ++i) {
            const float* src = data_->image(order[first + static_cast<std::size_t>(i)]);
            std::copy(src, src + data_->dimension(), out.chain(i));
        }
    }

private:
    const dataset* data_;
    index batch_size_;
    philox rng_;
    std::uint32_t stream_ = 0;
    std::vector<std::uint32_t> order_;
    std::uint64_t cached_epoch_ = 0;
    bool cached_ = false;
};

}  // namespace ebm::data
