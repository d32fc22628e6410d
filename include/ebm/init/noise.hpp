#pragma once
// Noise initializers: every iteration starts fresh chains from U[low, high]^d or N(0, scale^2 I)
// (short-run paper: uniform [-1, 1]; Anatomy toys: Gaussian with scale 1 or 2). Written once for both backends:
// the numbers come from the kernels/noise.hpp functors, run by the backend's execution (backend/execution.hpp).
#include <cstdint>

#include "../backend/execution.hpp"
#include "../batch.hpp"
#include "../error.hpp"
#include "../kernels/noise.hpp"
#include "../random/philox.hpp"

namespace ebm {

namespace detail {

/// The state of a noise initializer: nothing but the lane its work is ordered on.
template <class Backend>
struct noise_state {
    typename execution<Backend>::lane lane{};
};

/// Fills `rows` chains of x (all when rows < 0, or those listed in `chains`, memory of x's space, which then name the
/// streams) with init's noise of stream (p, first_chain + chain, step), on `lane`.
template <class Init, class Space>
void fill_noise(const Init& init, basic_batch_view<Space> x, const philox& rng, purpose p, std::uint64_t step,
                index first_chain, typename execution<typename backend_of_space<Space>::type>::lane lane, index rows,
                const std::uint32_t* chains) {
    using X = execution<typename backend_of_space<Space>::type>;
    if (rows < 0) rows = x.count;
    X::for_each(lane, rows * kernels::blocks_per_chain(x.dimension),
                init.functor(x.data, x.dimension, rng, p, step, static_cast<std::uint32_t>(first_chain), chains));
}

template <class Init, class Backend>
noise_state<Backend> make_noise_state(const Init& init, const char* where, index dimension, index max_chains) {
    init.validate();
    require_positive(where, "dimension", dimension);
    require_positive(where, "max_chains", max_chains);
    return {};
}

}  // namespace detail

// The members both noise initializers have: state, make_state, fill (chain i of x gets the stream
// (p, first_chain + i, step)), draw (stream (init_noise, chain, iteration)) and an empty write_back.
#define EBM_NOISE_INITIALIZER_MEMBERS(NAME)                                                                            \
    template <class Backend>                                                                                           \
    using state = detail::noise_state<Backend>;                                                                        \
    template <class Backend = cpu>                                                                                     \
    [[nodiscard]] state<Backend> make_state(index dimension, index max_chains, const philox&, Backend = {}) const {    \
        return detail::make_noise_state<NAME, Backend>(*this, #NAME "::make_state", dimension, max_chains);            \
    }                                                                                                                  \
    void fill(batch_view x, const philox& rng, purpose p, std::uint64_t step, index first_chain = 0) const {           \
        detail::fill_noise(*this, x, rng, p, step, first_chain, {}, -1, nullptr);                                      \
    }                                                                                                                  \
    template <class Space>                                                                                             \
    void fill(basic_batch_view<Space> x, const philox& rng, purpose p, std::uint64_t step, index first_chain = 0,      \
              typename execution<typename backend_of_space<Space>::type>::lane lane = {}, index rows = -1,             \
              const std::uint32_t* chains = nullptr) const {                                                           \
        detail::fill_noise(*this, x, rng, p, step, first_chain, lane, rows, chains);                                   \
    }                                                                                                                  \
    template <class Backend>                                                                                           \
    void draw(state<Backend>& st, batch_view_for<Backend> x, const_batch_view_for<Backend>, const philox& rng,         \
              std::uint64_t iteration) const {                                                                         \
        fill(x, rng, purpose::init_noise, iteration, 0, st.lane);                                                      \
    }                                                                                                                  \
    template <class Backend>                                                                                           \
    void write_back(state<Backend>&, const_batch_view_for<Backend>) const {}

struct uniform_noise {
    float low = -1.0f;
    float high = 1.0f;

    void validate() const {
        detail::require_finite("uniform_noise", "low", low);
        detail::require_finite("uniform_noise", "high", high);
        if (!(low < high)) detail::fail("uniform_noise", "low must be < high = " + detail::to_text(high), low);
    }
    /// The functor that draws the noise (kernels/noise.hpp).
    [[nodiscard]] kernels::uniform_fill functor(float* out, index dimension, const philox& rng, purpose p,
                                                std::uint64_t step, std::uint32_t first_chain,
                                                const std::uint32_t* chains) const {
        return {out, dimension, rng, p, first_chain, {nullptr, step}, low, high, chains};
    }
    EBM_NOISE_INITIALIZER_MEMBERS(uniform_noise)
};

struct gaussian_noise {
    float scale = 1.0f;

    void validate() const {
        detail::require_positive("gaussian_noise", "scale", scale);
        detail::require_finite("gaussian_noise", "scale", scale);
    }
    /// The functor that draws the noise (kernels/noise.hpp).
    [[nodiscard]] kernels::normal_fill functor(float* out, index dimension, const philox& rng, purpose p,
                                               std::uint64_t step, std::uint32_t first_chain,
                                               const std::uint32_t* chains) const {
        return {out, dimension, rng, p, first_chain, {nullptr, step}, scale, false, chains};
    }
    EBM_NOISE_INITIALIZER_MEMBERS(gaussian_noise)
};

#undef EBM_NOISE_INITIALIZER_MEMBERS

}  // namespace ebm
