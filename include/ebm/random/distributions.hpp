#pragma once
// Uniforms and normals from Philox blocks. Uniforms lie strictly inside (0, 1), so log(u) is always safe;
// normals come from Box-Muller, exactly two uniforms per pair, so element e of a chain always uses the same
// counter: block e/4, words 2*((e%4)/2) and 2*((e%4)/2)+1.
#include <cmath>
#include <cstdint>
#include <numbers>

#include "../config.hpp"
#include "philox.hpp"

namespace ebm {

/// (k + 0.5) / 2^23 for the top 23 bits k: exactly representable in float and strictly inside (0, 1)
/// (smallest 2^-24, largest 1 - 2^-24; with 24 bits the largest value would round up to 1).
EBM_HOST_DEVICE inline float uniform_open01(std::uint32_t word) {
    return (static_cast<float>(word >> 9) + 0.5f) * (1.0f / 8388608.0f);
}

struct normal_pair {
    float first;
    float second;
};

/// Box-Muller on two words.
EBM_HOST_DEVICE inline normal_pair box_muller(std::uint32_t a, std::uint32_t b) {
    const float radius = std::sqrt(-2.0f * std::log(uniform_open01(a)));
    const float angle = 2.0f * std::numbers::pi_v<float> * uniform_open01(b);
    return {radius * std::cos(angle), radius * std::sin(angle)};
}

/// out[e] = scale * z_e, z ~ N(0, 1), for e in [0, n): the noise of one chain at one step.
inline void fill_normal(const philox& rng, purpose p, std::uint32_t chain, std::uint64_t step, float* out, index n,
                        float scale = 1.0f) {
    const index full = n / 4;
    for (index b = 0; b < full; ++b) {
        const auto w = rng.block(p, chain, step, static_cast<std::uint32_t>(b));
        const normal_pair z0 = box_muller(w[0], w[1]);
        const normal_pair z1 = box_muller(w[2], w[3]);
        float* o = out + 4 * b;
        o[0] = scale * z0.first;
        o[1] = scale * z0.second;
        o[2] = scale * z1.first;
        o[3] = scale * z1.second;
    }
    if (const index rest = n - 4 * full; rest > 0) {
        const auto w = rng.block(p, chain, step, static_cast<std::uint32_t>(full));
        const normal_pair z0 = box_muller(w[0], w[1]);
        const normal_pair z1 = box_muller(w[2], w[3]);
        const float z[4] = {z0.first, z0.second, z1.first, z1.second};
        for (index e = 0; e < rest; ++e) out[4 * full + e] = scale * z[e];
    }
}

/// out[e] ~ U(low, high), open at both ends in the limit of float rounding.
inline void fill_uniform(const philox& rng, purpose p, std::uint32_t chain, std::uint64_t step, float* out, index n,
                         float low, float high) {
    for (index b = 0; 4 * b < n; ++b) {
        const auto w = rng.block(p, chain, step, static_cast<std::uint32_t>(b));
        for (index k = 0; k < 4 && 4 * b + k < n; ++k)
            out[4 * b + k] = low + (high - low) * uniform_open01(w[static_cast<std::size_t>(k)]);
    }
}

/// One uniform in (0, 1) for (purpose, chain, step): the first word of block 0.
inline float uniform_scalar(const philox& rng, purpose p, std::uint32_t chain, std::uint64_t step) {
    return uniform_open01(rng.block(p, chain, step, 0)[0]);
}

/// One normal for (purpose, chain, step): the first of block 0's Box-Muller pair.
inline float normal_scalar(const philox& rng, purpose p, std::uint32_t chain, std::uint64_t step) {
    const auto w = rng.block(p, chain, step, 0);
    return box_muller(w[0], w[1]).first;
}

}  // namespace ebm
