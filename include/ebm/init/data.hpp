#pragma once
// Data-based initialization (contrastive divergence): chains start at a batch of data, as given, plus optional
// Gaussian noise (sigma z, stream init_noise of chain i at iteration t). The trainer hands it the positives of the
// iteration, or an independent batch (ml_trainer::step(positives, chain_data), as the Anatomy code draws its CD
// starts). Written once for both backends (a copy in the backend's memory).
#include <cstdint>

#include "../backend/execution.hpp"
#include "../batch.hpp"
#include "../error.hpp"
#include "../kernels/noise.hpp"
#include "../random/philox.hpp"

namespace ebm {

struct data_init {
    float noise = 0.0f;  // sigma of the noise added to the data (0: the data exactly)

    template <class Backend>
    struct state {
        typename execution<Backend>::lane lane{};
    };

    void validate() const {
        detail::require_non_negative("data_init", "noise", noise);
        detail::require_finite("data_init", "noise", noise);
    }
    template <class Backend = cpu>
    [[nodiscard]] state<Backend> make_state(index dimension, index max_chains, const philox&, Backend = {}) const {
        validate();
        detail::require_positive("data_init::make_state", "dimension", dimension);
        detail::require_positive("data_init::make_state", "max_chains", max_chains);
        return {};
    }
    /// x_i <- data_i (+ noise z_i) for the first x.count states of data.
    template <class Backend>
    void draw(state<Backend>& st, batch_view_for<Backend> x, const_batch_view_for<Backend> data, const philox& rng,
              std::uint64_t t) const {
        if (data.dimension != x.dimension)
            detail::fail("data_init::draw", "data dimension must equal the chains' " + detail::to_text(x.dimension),
                         data.dimension);
        if (data.count < x.count)
            detail::fail("data_init::draw", "data must hold at least as many states as chains (" +
                                                detail::to_text(x.count) + ")", data.count);
        using X = execution<Backend>;
        X::copy(st.lane, x.data, data.data, x.size());
        if (noise > 0.0f)
            X::for_each(st.lane, x.count * kernels::blocks_per_chain(x.dimension),
                        kernels::normal_fill{x.data, x.dimension, rng, purpose::init_noise, 0, {nullptr, t}, noise, true});
    }
    template <class Backend>
    void write_back(state<Backend>&, const_batch_view_for<Backend>) const {}
};

}  // namespace ebm
