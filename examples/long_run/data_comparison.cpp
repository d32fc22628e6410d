// Host-compiled part of the long run's data comparison (data_comparison.hpp).
#include "data_comparison.hpp"

#include <ebm/eval/frechet.hpp>
#include <ebm/eval/image_features.hpp>

namespace image_run {

struct data_comparison::fit {
    ebm::eval::image_features feature_map;
    ebm::index image_size;
    ebm::eval::gaussian_statistics data;
};

data_comparison::data_comparison(ebm::const_batch_view images, ebm::index channels, ebm::index image_size)
    : fit_(std::make_unique<fit>(fit{ebm::eval::image_features(channels), image_size, {}})) {
    fit_->data = ebm::eval::fit_gaussian(fit_->feature_map(images, image_size));
}
data_comparison::~data_comparison() = default;
data_comparison::data_comparison(data_comparison&&) noexcept = default;
data_comparison& data_comparison::operator=(data_comparison&&) noexcept = default;

double data_comparison::frechet_distance_to(ebm::const_batch_view states) const {
    return ebm::eval::frechet_distance(ebm::eval::fit_gaussian(fit_->feature_map(states, fit_->image_size)),
                                       fit_->data);
}

}  // namespace image_run
