#pragma once
// Data-based initialization (contrastive divergence): chains start at the positive batch of the iteration.
#include <algorithm>
#include <cstdint>

#include "../batch.hpp"
#include "../error.hpp"
#include "../random/philox.hpp"

namespace ebm {

struct data_init {
    struct state {};

    [[nodiscard]] state make_state(index dimension, index max_chains, const philox&) const {
        detail::require_positive("data_init::make_state", "dimension", dimension);
        detail::require_positive("data_init::make_state", "max_chains", max_chains);
        return {};
    }
    /// x_i <- data_i for the first x.count positives.
    void draw(state&, batch_view x, const_batch_view data, const philox&, std::uint64_t) const {
        if (data.dimension != x.dimension)
            detail::fail("data_init::draw", "data dimension must equal the chains' " + detail::to_text(x.dimension),
                         data.dimension);
        if (data.count < x.count)
            detail::fail("data_init::draw", "data must hold at least as many states as chains (" +
                                                detail::to_text(x.count) + ")", data.count);
        std::copy(data.data, data.data + x.size(), x.data);
    }
    void write_back(state&, const_batch_view) const {}
};

}  // namespace ebm
