#pragma once
// Data-based initialization (contrastive divergence): chains start at the positive batch of the iteration, as
// given (before data noise). Written once for both backends (a copy in the backend's memory).
#include <cstdint>

#include "../backend/execution.hpp"
#include "../batch.hpp"
#include "../error.hpp"
#include "../random/philox.hpp"

namespace ebm {

struct data_init {
    template <class Backend>
    struct state {
        typename execution<Backend>::lane lane{};
    };

    template <class Backend = cpu>
    [[nodiscard]] state<Backend> make_state(index dimension, index max_chains, const philox&, Backend = {}) const {
        detail::require_positive("data_init::make_state", "dimension", dimension);
        detail::require_positive("data_init::make_state", "max_chains", max_chains);
        return {};
    }
    /// x_i <- data_i for the first x.count positives.
    template <class Backend>
    void draw(state<Backend>& st, batch_view_for<Backend> x, const_batch_view_for<Backend> data, const philox&,
              std::uint64_t) const {
        if (data.dimension != x.dimension)
            detail::fail("data_init::draw", "data dimension must equal the chains' " + detail::to_text(x.dimension),
                         data.dimension);
        if (data.count < x.count)
            detail::fail("data_init::draw", "data must hold at least as many states as chains (" +
                                                detail::to_text(x.count) + ")", data.count);
        execution<Backend>::copy(st.lane, x.data, data.data, x.size());
    }
    template <class Backend>
    void write_back(state<Backend>&, const_batch_view_for<Backend>) const {}
};

}  // namespace ebm
