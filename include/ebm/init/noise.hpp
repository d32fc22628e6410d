#pragma once
// Noise initializers: every iteration starts fresh chains from U[low, high]^d or N(0, scale^2 I)
// (short-run paper: uniform [-1, 1]; Anatomy toys: Gaussian with scale 1 or 2).
#include <cstdint>

#include "../batch.hpp"
#include "../error.hpp"
#include "../random/distributions.hpp"

namespace ebm {

struct uniform_noise {
    float low = -1.0f;
    float high = 1.0f;
    struct state {};

    void validate() const {
        detail::require_finite("uniform_noise", "low", low);
        detail::require_finite("uniform_noise", "high", high);
        if (!(low < high)) detail::fail("uniform_noise", "low must be < high = " + detail::to_text(high), low);
    }
    /// Chain i of x gets the stream (p, first_chain + i, step).
    void fill(batch_view x, const philox& rng, purpose p, std::uint64_t step, index first_chain = 0) const {
        for (index i = 0; i < x.count; ++i)
            fill_uniform(rng, p, static_cast<std::uint32_t>(first_chain + i), step, x.chain(i), x.dimension, low, high);
    }
    [[nodiscard]] state make_state(index dimension, index max_chains, const philox&) const {
        validate();
        detail::require_positive("uniform_noise::make_state", "dimension", dimension);
        detail::require_positive("uniform_noise::make_state", "max_chains", max_chains);
        return {};
    }
    void draw(state&, batch_view x, const_batch_view, const philox& rng, std::uint64_t iteration) const {
        fill(x, rng, purpose::init_noise, iteration);
    }
    void write_back(state&, const_batch_view) const {}
};

struct gaussian_noise {
    float scale = 1.0f;
    struct state {};

    void validate() const {
        detail::require_positive("gaussian_noise", "scale", scale);
        detail::require_finite("gaussian_noise", "scale", scale);
    }
    void fill(batch_view x, const philox& rng, purpose p, std::uint64_t step, index first_chain = 0) const {
        for (index i = 0; i < x.count; ++i)
            fill_normal(rng, p, static_cast<std::uint32_t>(first_chain + i), step, x.chain(i), x.dimension, scale);
    }
    [[nodiscard]] state make_state(index dimension, index max_chains, const philox&) const {
        validate();
        detail::require_positive("gaussian_noise::make_state", "dimension", dimension);
        detail::require_positive("gaussian_noise::make_state", "max_chains", max_chains);
        return {};
    }
    void draw(state&, batch_view x, const_batch_view, const philox& rng, std::uint64_t iteration) const {
        fill(x, rng, purpose::init_noise, iteration);
    }
    void write_back(state&, const_batch_view) const {}
};

}  // namespace ebm
