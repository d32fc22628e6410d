#pragma once
// One chain per SIMD lane: the host batch path of a per-chain density (energy/chain_energy.hpp) may run its
// arithmetic across a block of chains, the coordinates transposed (xt[j][l] = coordinate j of chain l of the block),
// so that its loops over the lanes vectorise (the mixture's exp and log) instead of running one chain at a time.
// Worth it where the arithmetic per chain outweighs the transposition (not for a few multiply-adds per chain).
// A lane computes what the density's operator() computes for its chain, in the same order, so the bits are the
// same; a block at the end with fewer chains fills its spare lanes with its first chain.
#include <algorithm>

#include "../config.hpp"

namespace ebm::detail {

inline constexpr int chain_lanes = 16;  // an AVX-512 vector of floats (two AVX ones)

/// For each block of Lanes chains of the chain-major batch x (count chains of `dimension` <= MaxDimension):
/// body(xt, gt, ut) with xt the block transposed, gt (null when g is) and ut to fill with the gradients and
/// energies of the block's lanes, which are then written to g and u. With Exact, dimension is MaxDimension (the
/// transposition's loops are unrolled). Lanes is one vector by default; a multiple of it gives a kernel several
/// vectors of chains per coordinate (the Gaussian's matrix product reuses each matrix element across them).
template <index MaxDimension, bool Exact = false, index Lanes = chain_lanes, class Body>
void for_chain_lanes(const float* x, index dimension, index count, float* u, float* g, Body&& body) {
    constexpr index lanes = Lanes;
    const index dim = Exact ? MaxDimension : dimension;
    alignas(64) float xt[MaxDimension][lanes];
    alignas(64) float gt[MaxDimension][lanes];
    alignas(64) float ut[lanes];
    for (index first = 0; first < count; first += lanes) {
        const index n = std::min(lanes, count - first);
        const float* xb = x + first * dim;
        if (n == lanes) {
            for (index l = 0; l < lanes; ++l)
                for (index j = 0; j < dim; ++j) xt[j][l] = xb[l * dim + j];
        } else {
            for (index j = 0; j < dim; ++j)
                for (index l = 0; l < lanes; ++l) xt[j][l] = xb[(l < n ? l : 0) * dim + j];
        }
        body(xt, g != nullptr ? gt : nullptr, ut);
        std::copy(ut, ut + n, u + first);
        if (g == nullptr) continue;
        float* gb = g + first * dim;
        for (index l = 0; l < n; ++l)
            for (index j = 0; j < dim; ++j) gb[l * dim + j] = gt[j][l];
    }
}

}  // namespace ebm::detail
