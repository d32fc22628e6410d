#pragma once
// The persistent bank's element moves: gather the drawn slots into the batch, scatter the sampled chains back.
// Call for k in [0, count * dimension).
#include <cstdint>

#include "../config.hpp"

namespace ebm::kernels {

/// x[i] = bank[slots[i]], element by element.
struct bank_gather {
    float* x;
    const float* bank;
    const std::uint32_t* slots;
    index dimension;
    EBM_HOST_DEVICE void operator()(index k) const {
        const index i = k / dimension;
        const index e = k - i * dimension;
        x[k] = bank[static_cast<index>(slots[i]) * dimension + e];
    }
};

/// bank[slots[i]] = x[i], element by element.
struct bank_scatter {
    float* bank;
    const float* x;
    const std::uint32_t* slots;
    index dimension;
    EBM_HOST_DEVICE void operator()(index k) const {
        const index i = k / dimension;
        const index e = k - i * dimension;
        bank[static_cast<index>(slots[i]) * dimension + e] = x[k];
    }
};

}  // namespace ebm::kernels
