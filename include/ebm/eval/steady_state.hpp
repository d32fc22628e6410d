#pragma once
// Steady-state measures of long-run MCMC samples (Anatomy Sec. 4): what a long run of the learned density looks
// like next to the data. Non-convergent ML leaves a density whose long-run samples oversaturate: pixels pile up at
// the edges of [-1, 1] and the energy falls far below the data's; convergent ML keeps both near the data's.
//   saturated_fraction(x)     the fraction of values with |v| > 0.99 (the threshold is an argument)
// The other two measures are composed from what exists: the mean energy of the states against the mean energy of
// data (an energy's energy() on both), and FD on the fixed feature map (eval/image_features.hpp, eval/frechet.hpp);
// sample_images writes all three along a long run.
#include <cmath>

#include "../batch.hpp"
#include "../error.hpp"

namespace ebm::eval {

/// The fraction of the values of x (host memory, at least one value, finite) with |v| > threshold (> 0).
[[nodiscard]] inline double saturated_fraction(const_batch_view x, float threshold = 0.99f) {
    const char* where = "eval::saturated_fraction";
    detail::require_positive(where, "threshold", threshold);
    detail::require_finite(where, "threshold", threshold);
    if (x.data == nullptr || x.size() <= 0) detail::fail(where, "x must hold at least one value", x.size());
    index saturated = 0;
    for (index k = 0; k < x.size(); ++k) {
        const float v = x.data[k];
        if (!std::isfinite(v)) detail::fail(where, "x must be finite; value " + detail::to_text(k) + " is", v);
        saturated += std::fabs(v) > threshold ? 1 : 0;
    }
    return static_cast<double>(saturated) / static_cast<double>(x.size());
}

}  // namespace ebm::eval
