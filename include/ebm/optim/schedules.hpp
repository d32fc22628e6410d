#pragma once
// Learning-rate schedules and the Anatomy learning-rate scaling.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "../error.hpp"

namespace ebm {

/// lr_t = max(floor, lr_0 * factor^t) after t completed steps (factor 1: constant). As in the Anatomy code's
/// lr_decay / lr_min.
struct exponential_decay {
    double factor = 1.0;
    double floor = 0.0;

    void validate(const char* where) const {
        detail::require_in_closed(where, "schedule.factor", factor, 0.0, 1.0);
        detail::require_non_negative(where, "schedule.floor", floor);
    }
    [[nodiscard]] float rate(float initial, std::uint64_t completed_steps) const {
        if (factor == 1.0) return initial;
        return static_cast<float>(std::max(floor, initial * std::pow(factor, static_cast<double>(completed_steps))));
    }
};

/// gamma = (eps^2/2) * gamma_0: the SGD rate for the rescaled energy U = F/(eps^2/2) (Anatomy Eq. 13).
inline float anatomy_scaled_rate(float gamma0, float epsilon) {
    detail::require_positive("anatomy_scaled_rate", "gamma0", gamma0);
    detail::require_positive("anatomy_scaled_rate", "epsilon", epsilon);
    return gamma0 * 0.5f * epsilon * epsilon;
}

}  // namespace ebm
