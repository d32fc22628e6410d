#pragma once
// The long run's comparison with data on the fixed feature map (ebm/eval/image_features.hpp): the Gaussian fit of
// the data images' features, and the Frechet distance of a batch of states to it. Its Eigen code is compiled by
// the host compiler only (data_comparison.cpp), so that the programs' nvcc translation units, which run the chains,
// never include Eigen (see ebm/detail/eigen.hpp).
#include <ebm/batch.hpp>

#include <memory>

namespace image_run {

class data_comparison {
public:
    /// Fits the features of `images` (host, C x size x size each, at least 2).
    data_comparison(ebm::const_batch_view images, ebm::index channels, ebm::index image_size);
    ~data_comparison();
    data_comparison(data_comparison&&) noexcept;
    data_comparison& operator=(data_comparison&&) noexcept;

    /// FD between the features of `states` (host) and the data's.
    [[nodiscard]] double frechet_distance_to(ebm::const_batch_view states) const;

private:
    struct fit;
    std::unique_ptr<fit> fit_;
};

}  // namespace image_run
