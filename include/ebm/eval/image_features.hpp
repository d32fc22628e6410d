#pragma once
// A fixed random-feature map for scoring images (FD, KID): the same numbers on every build and machine, so that
// scores from different runs can be compared. Definition, version 1 (`image_features::version`):
//
//   input    C x S x S floats per image (NCHW chain of a batch), S a multiple of 8, finite; images are meant
//            to be in [-1, 1] but the map does not clip.
//   filters  64 filters of C x 5 x 5 weights. Filter f (f = 0..63) takes the 25C standard normals of
//            ebm::fill_normal(philox(seed 0x45424D4645415431), purpose::evaluation, chain f, step 0), in the order
//            (channel, row, column); the normals are made zero-mean and unit-L2-norm over all 25C weights (in
//            double, then rounded to float). The normals are ebm's portable Box-Muller, so the filters are the
//            same on every machine. (The seed is "EBMFEAT1" in ASCII.)
//   conv     stride 2, padding 2 by edge replication (numpy.pad mode 'edge'; a zero-mean filter then answers 0
//            on flat borders instead of inventing an edge there), no bias: an S/2 x S/2 map per filter.
//   ReLU     max(0, response).
//   pool     mean over a 4 x 4 grid of (S/8) x (S/8) cells of that map.
//   output   64 * 16 = 1024 features per image, index f * 16 + 4 * cell_row + cell_column; returned as a
//            1024 x N float matrix (one column per image, the batch convention).
//
// Zero-mean filters make the features blind to a constant brightness shift inside a 5x5 patch; they measure
// local edges and textures and where in the image they occur, which is what separates short-run samples from
// data and from noise. The map is deliberately small (one layer, 1024 dimensions): a 1024 x 1024 covariance is
// well estimated from 10,000 images.
//
// Cost: 409,600 multiply-adds per 32x32 grey image (one 64 x 25 x 256 float product per image, Eigen); images
// are spread over OpenMP threads, each image computed alone with the same product shape, so an image's
// features are bit-identical whatever the batch it is in and whatever the thread count.
#include "../detail/eigen.hpp"  // Eigen/Core, host-compiled only

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "../batch.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../random/distributions.hpp"
#include "../random/philox.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace ebm::eval {

class image_features {
public:
    static constexpr int version = 1;
    static constexpr index filter_count = 64;
    static constexpr index kernel_size = 5;
    static constexpr index stride = 2;
    static constexpr index padding = 2;
    static constexpr index grid = 4;                               // pooling grid per side
    static constexpr index dimension = filter_count * grid * grid;  // 1024
    static constexpr std::uint64_t default_seed = 0x45424D4645415431ull;  // "EBMFEAT1"

    /// The map for images with `channels` channels (1 grey, 3 RGB, any positive count). Only the default seed
    /// gives the documented, comparable features; other seeds are for experiments.
    explicit image_features(index channels, seed filter_seed = seed{default_seed}) : channels_(channels) {
        const char* where = "eval::image_features";
        detail::require_positive(where, "channels", channels);
        if (channels > 4096) detail::fail(where, "channels must be at most 4096", channels);
        const index taps = patch_size();
        weights_.resize(filter_count, taps);
        std::vector<float> normals(static_cast<std::size_t>(taps));
        const philox rng(filter_seed);
        for (index f = 0; f < filter_count; ++f) {
            fill_normal(rng, purpose::evaluation, static_cast<std::uint32_t>(f), 0, normals.data(), taps);
            double mean = 0;
            for (float z : normals) mean += z;
            mean /= static_cast<double>(taps);
            double squares = 0;
            for (float z : normals) squares += (z - mean) * (z - mean);
            const double norm = std::sqrt(squares);
            for (index k = 0; k < taps; ++k)
                weights_(f, k) = static_cast<float>((normals[static_cast<std::size_t>(k)] - mean) / norm);
        }
    }

    [[nodiscard]] index channels() const { return channels_; }
    [[nodiscard]] index patch_size() const { return channels_ * kernel_size * kernel_size; }
    /// The filters, one per row, columns in (channel, row, column) order.
    [[nodiscard]] const Eigen::MatrixXf& filters() const { return weights_; }

    /// Features of `images` (chains of channels x image_size x image_size floats): a dimension x count matrix.
    [[nodiscard]] Eigen::MatrixXf operator()(const_batch_view images, index image_size) const {
        Eigen::MatrixXf out(dimension, images.count > 0 ? images.count : 0);
        compute(images, image_size, out);
        return out;
    }

    /// The same into a caller's dimension x images.count matrix (column i = image i).
    void compute(const_batch_view images, index image_size, Eigen::Ref<Eigen::MatrixXf> out) const {
        const char* where = "eval::image_features";
        check_image_size(where, image_size);
        detail::require_batch(where, "images", images, channels_ * image_size * image_size);
        if (out.rows() != dimension || out.cols() != images.count)
            detail::fail(where, "out must be " + detail::to_text(dimension) + " x " + detail::to_text(images.count),
                         detail::to_text(out.rows()) + " x " + detail::to_text(out.cols()));
        const index count = images.count;
#pragma omp parallel
        {
            scratch s = make_scratch(image_size);  // per thread, once per call
#pragma omp for schedule(static)
            for (index i = 0; i < count; ++i) compute_one(images.chain(i), s, &out(0, i));
        }
    }

    // ---- One image at a time, with the caller's scratch (energy/feature_energy.hpp evaluates and differentiates
    // the map inside a sampling loop, where nothing may be allocated).

    /// Row-major, so that im2col writes and the pooling reads run along memory.
    using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    /// Buffers for one image of one size: its patches (patch_size() x positions) and its filter responses
    /// (filter_count x positions), positions = (image_size / 2)².
    struct scratch {
        index image_size = 0;
        row_matrix patches, response;
    };
    [[nodiscard]] scratch make_scratch(index image_size) const {
        check_image_size("eval::image_features::make_scratch", image_size);
        const index positions = (image_size / stride) * (image_size / stride);
        return {image_size, row_matrix(patch_size(), positions), row_matrix(filter_count, positions)};
    }

    /// The features of one image (channels x s.image_size x s.image_size floats) into out[0, dimension). Leaves the
    /// image's responses in s for vector_jacobian().
    void compute_one(const float* image, scratch& s, float* out) const {
        check_scratch("eval::image_features::compute_one", s);
        const index side = s.image_size / stride, cell = side / grid;
        const float cell_scale = 1.0f / static_cast<float>(cell * cell);
        im2col(image, s.image_size, side, s.patches);
        s.response.noalias() = weights_ * s.patches;
        for (index f = 0; f < filter_count; ++f)
            for (index cy = 0; cy < grid; ++cy)
                for (index cx = 0; cx < grid; ++cx) {
                    float sum = 0.0f;
                    for (index y = cy * cell; y < (cy + 1) * cell; ++y)
                        for (index x = cx * cell; x < (cx + 1) * cell; ++x)
                            sum += std::max(s.response(f, y * side + x), 0.0f);
                    out[f * grid * grid + cy * grid + cx] = sum * cell_scale;
                }
    }

    /// g = Σ_j c_j ∂h_j/∂x (c: dimension weights; g: one image) for the image compute_one() last saw with this
    /// scratch: the cell means spread c back over their cells, ReLU passes where a response is positive (its
    /// derivative is taken as 0 at 0, as PyTorch's), the filters' transpose gives the patches' gradient, and each
    /// patch entry adds to the pixel it was read from (the edge replication sends a border's copies back to it).
    /// Overwrites the scratch.
    void vector_jacobian(const float* c, scratch& s, float* g) const {
        check_scratch("eval::image_features::vector_jacobian", s);
        const index size = s.image_size, side = size / stride, cell = side / grid;
        const float cell_scale = 1.0f / static_cast<float>(cell * cell);
        for (index f = 0; f < filter_count; ++f)
            for (index y = 0; y < side; ++y)
                for (index x = 0; x < side; ++x) {
                    float& r = s.response(f, y * side + x);
                    r = r > 0.0f ? c[f * grid * grid + (y / cell) * grid + x / cell] * cell_scale : 0.0f;
                }
        s.patches.noalias() = weights_.transpose() * s.response;
        col2im(s.patches, size, side, g);
    }

private:
    // A scratch made by make_scratch() of a map with this many channels (its image size is then valid).
    void check_scratch(const char* where, const scratch& s) const {
        const index side = s.image_size / stride;
        if (s.image_size <= 0 || s.image_size % 8 != 0 || s.patches.rows() != patch_size() ||
            s.patches.cols() != side * side || s.response.rows() != filter_count || s.response.cols() != side * side)
            detail::fail(where, "the scratch was not made by this map's make_scratch(); its image_size", s.image_size);
    }

    void check_image_size(const char* where, index image_size) const {
        detail::require_positive(where, "image_size", image_size);
        if (image_size % 8 != 0) detail::fail(where, "image_size must be a multiple of 8", image_size);
    }

    // The patches' index map, walked once for both directions: f(row, position, pixel) for every entry, where
    // patches(c * 25 + ky * 5 + kx, oy * side + ox) = image[c, clamp(2 oy + ky - 2), clamp(2 ox + kx - 2)] and pixel
    // is that element's index in the image.
    template <class F>
    void for_each_patch_entry(index size, index side, F&& f) const {
        const index plane = size * size;
        for (index c = 0; c < channels_; ++c)
            for (index ky = 0; ky < kernel_size; ++ky)
                for (index kx = 0; kx < kernel_size; ++kx) {
                    const index row = (c * kernel_size + ky) * kernel_size + kx;
                    for (index oy = 0; oy < side; ++oy) {
                        const index y = std::clamp(oy * stride + ky - padding, index{0}, size - 1);
                        for (index ox = 0; ox < side; ++ox) {
                            const index x = std::clamp(ox * stride + kx - padding, index{0}, size - 1);
                            f(row, oy * side + ox, c * plane + y * size + x);
                        }
                    }
                }
    }

    void im2col(const float* image, index size, index side, row_matrix& patches) const {
        for_each_patch_entry(size, side, [&](index row, index position, index pixel) { patches(row, position) = image[pixel]; });
    }

    // The adjoint of im2col: image = 0, then each patch entry adds to the pixel it was read from.
    void col2im(const row_matrix& patches, index size, index side, float* image) const {
        std::fill(image, image + channels_ * size * size, 0.0f);
        for_each_patch_entry(size, side, [&](index row, index position, index pixel) { image[pixel] += patches(row, position); });
    }

    index channels_;
    Eigen::MatrixXf weights_;
};

}  // namespace ebm::eval
