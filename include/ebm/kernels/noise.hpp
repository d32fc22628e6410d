#pragma once
// Noise functors, one Philox block (four consecutive elements of one chain) per call k: Gaussian (normal_fill) and
// uniform (uniform_fill) states of the initializers, the data noise on positives, and MALA's log-uniform. The layout
// is ebm::fill_normal's: element e of chain c at step s is word pair (e % 4) / 2 of philox::block(purpose, c, s, e / 4),
// first or second Box-Muller output by e % 2, so the numbers are the same whichever function or backend draws them.
#include <cstdint>

#include "../config.hpp"
#include "../random/philox.hpp"
#include "elements.hpp"
#include "portable_math.hpp"

namespace ebm::kernels {

/// The one function that turns two Philox words into two scaled normals in kernels/: the portable Box-Muller
/// (portable_math.hpp), which ebm::fill_normal also uses, so both give the same bits (tests/cuda/test_cuda_functors.cpp).
EBM_HOST_DEVICE inline portable::normal_pair noise_pair(std::uint32_t a, std::uint32_t b, float scale) {
    return portable::box_muller(a, b, scale);
}

/// log u for MALA's accept test, u = the first word of block 0 of (mala_accept, chain, step): portable log.
EBM_HOST_DEVICE inline float accept_log_uniform(const philox& rng, std::uint32_t chain, std::uint64_t step) {
    return portable::log_positive(portable::uniform_open01(rng.block(purpose::mala_accept, chain, step, 0)[0]));
}

/// Gaussian noise: out[c * dimension + e] = scale * z_e of chain first_chain + c (or, when `accumulate`, +=: the data
/// noise on positives, x <- x + sigma z). If `chains` is set, functor row j writes batch chain chains[j] (the
/// rejuvenated chains of a bank). Call for k in [0, rows * blocks_per_chain(dimension)).
struct normal_fill {
    float* out;
    index dimension;
    philox rng;
    purpose stream;
    std::uint32_t first_chain;
    step_counter step;
    float scale;
    bool accumulate = false;
    const std::uint32_t* chains = nullptr;

    EBM_HOST_DEVICE void operator()(index k) const {
        const block_site site = locate_block(k, dimension, chains);
        const auto w = rng.block(stream, first_chain + static_cast<std::uint32_t>(site.chain), step.value(),
                                 static_cast<std::uint32_t>(site.block));
        const portable::normal_pair p0 = noise_pair(w[0], w[1], scale);
        const portable::normal_pair p1 = noise_pair(w[2], w[3], scale);
        const float z[4] = {p0.first, p0.second, p1.first, p1.second};
        float* o = out + site.offset;
        for (index j = 0; j < site.count; ++j) o[j] = accumulate ? o[j] + z[j] : z[j];
    }
};

/// Uniform noise in (low, high): out[4b + j] = low + (high - low) u(word j of block b), fused (portable::uniform_between).
/// If `chains` is set, functor row j writes batch chain chains[j]. Call for k in [0, rows * blocks_per_chain(dimension)).
struct uniform_fill {
    float* out;
    index dimension;
    philox rng;
    purpose stream;
    std::uint32_t first_chain;
    step_counter step;
    float low;
    float high;
    const std::uint32_t* chains = nullptr;

    EBM_HOST_DEVICE void operator()(index k) const {
        const block_site site = locate_block(k, dimension, chains);
        const auto w = rng.block(stream, first_chain + static_cast<std::uint32_t>(site.chain), step.value(),
                                 static_cast<std::uint32_t>(site.block));
        float* o = out + site.offset;
        for (index j = 0; j < site.count; ++j) o[j] = portable::uniform_between(w[static_cast<std::size_t>(j)], low, high);
    }
};

}  // namespace ebm::kernels
