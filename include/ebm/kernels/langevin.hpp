#pragma once
// Per-element Langevin arithmetic, shared by the CPU and CUDA launchers.
#include <cmath>

#include "../config.hpp"

namespace ebm::kernels {

/// Optional box [low, high] that states are clamped to after each move (disabled when low > high).
struct box {
    float low = 1.0f;
    float high = -1.0f;
    [[nodiscard]] EBM_HOST_DEVICE constexpr bool enabled() const { return low <= high; }
    [[nodiscard]] EBM_HOST_DEVICE float apply(float v) const {
        return enabled() ? (v < low ? low : (v > high ? high : v)) : v;
    }
};

/// x <- clamp(x - step * g + noise * z): one unadjusted Langevin move of one element.
struct langevin_move {
    float step;   // h: eps^2/2 (Anatomy form) or lambda (decoupled form)
    float noise;  // s: tau*eps (Anatomy form) or sigma (decoupled form)
    box clamp;
    [[nodiscard]] EBM_HOST_DEVICE float operator()(float x, float g, float z) const {
        return clamp.apply(x - step * g + noise * z);
    }
};

/// Terms of the MALA log proposal ratio for one element. With y = x - h g(x) + s z the forward residual is
/// y - x + h g(x) and the backward residual is x - y + h g(y); the log ratio is
/// -(|backward|^2 - |forward|^2) / (2 s^2).
struct mala_residuals {
    float step;
    EBM_HOST_DEVICE void operator()(float x, float gx, float y, float gy, float& forward_sq, float& backward_sq) const {
        const float f = y - x + step * gx;
        const float b = x - y + step * gy;
        forward_sq += f * f;
        backward_sq += b * b;
    }
};

/// Metropolis-Hastings decision in log space; a non-finite proposal (NaN/Inf energy or ratio) is rejected.
EBM_HOST_DEVICE inline bool mh_accept(float log_u, float energy_current, float energy_proposed, float forward_sq,
                                      float backward_sq, float two_noise_sq) {
    const float log_ratio = energy_current - energy_proposed - (backward_sq - forward_sq) / two_noise_sq;
    if (!(energy_proposed == energy_proposed) || energy_proposed == INFINITY || energy_proposed == -INFINITY)
        return false;
    if (!(log_ratio == log_ratio)) return false;
    return log_u < log_ratio;
}

}  // namespace ebm::kernels
