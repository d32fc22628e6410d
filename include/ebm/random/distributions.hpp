#pragma once
// Uniforms and normals from Philox blocks. Uniforms lie strictly inside (0, 1), so log(u) is always safe;
// normals come from Box-Muller, exactly two uniforms per pair, so element e of a chain always uses the same
// counter: block e/4, words 2*((e%4)/2) and 2*((e%4)/2)+1.
//
// Box-Muller uses ebm's own log and sin/cos (kernels/portable_math.hpp: IEEE operations and explicit fmas, no libm),
// so the one-chain functions, the batched fill_normal_chains (which the samplers use, written so that compilers
// vectorise it) and the CUDA backend give bit-identical numbers whatever the compiler flags: same counter -> same
// numbers, whichever function drew them.
#include <bit>
#include <cmath>
#include <cstdint>
#include <numbers>

#include "../config.hpp"
#include "../kernels/portable_math.hpp"
#include "philox.hpp"

namespace ebm {

/// (k + 0.5) / 2^23 for the top 23 bits k: exactly representable in float and strictly inside (0, 1)
/// (smallest 2^-24, largest 1 - 2^-24; with 24 bits the largest value would round up to 1).
EBM_HOST_DEVICE inline float uniform_open01(std::uint32_t word) {
    return (static_cast<float>(word >> 9) + 0.5f) * (1.0f / 8388608.0f);
}

namespace detail {

/// Natural log of a positive normal float (Cephes logf, relative error about 1e-7) and cos/sin of 2 pi u for u in
/// [0, 1] (exact quadrant reduction from 4u, Taylor polynomials): the portable definitions of
/// kernels/portable_math.hpp, whose multiply-adds are explicit fmas, so the numbers do not depend on compiler flags
/// (-ffp-contract, -mfma) and equal the CUDA backend's. Branch-free: loops of them vectorise (with FMA hardware).
EBM_HOST_DEVICE inline float log_positive(float x) { return portable::log_positive(x); }
EBM_HOST_DEVICE inline void cos_sin_two_pi(float u, float& c, float& s) { portable::cos_sin_two_pi(u, c, s); }

/// Philox4x32-10, written out so that a loop over many counters vectorises; equals philox::raw.
EBM_HOST_DEVICE inline void philox_rounds(std::uint32_t& c0, std::uint32_t& c1, std::uint32_t& c2, std::uint32_t& c3,
                                          std::uint32_t k0, std::uint32_t k1) {
    for (int round = 0; round < 10; ++round) {
        const std::uint64_t p0 = std::uint64_t{0xD2511F53u} * c0;
        const std::uint64_t p1 = std::uint64_t{0xCD9E8D57u} * c2;
        const std::uint32_t n0 = static_cast<std::uint32_t>(p1 >> 32) ^ c1 ^ k0;
        const std::uint32_t n2 = static_cast<std::uint32_t>(p0 >> 32) ^ c3 ^ k1;
        c0 = n0;
        c1 = static_cast<std::uint32_t>(p1);
        c2 = n2;
        c3 = static_cast<std::uint32_t>(p0);
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

}  // namespace detail

struct normal_pair {
    float first;
    float second;
};

/// Box-Muller on two words: sqrt(-2 log u1) (cos 2 pi u2, sin 2 pi u2).
EBM_HOST_DEVICE inline normal_pair box_muller(std::uint32_t a, std::uint32_t b) {
    const float radius = std::sqrt(-2.0f * detail::log_positive(uniform_open01(a)));
    float c, s;
    detail::cos_sin_two_pi(uniform_open01(b), c, s);
    return {radius * c, radius * s};
}

namespace detail {

/// Normals of `count` chains at once: out[i * dimension + e] = scale * z_e of chain first_chain + i at `step`,
/// the same numbers fill_normal gives chain by chain. Works in chunks on the stack (no allocation); the Philox and
/// Box-Muller loops are written for the compiler's vectoriser.
inline void fill_normal_chains(const philox& rng, purpose p, std::uint32_t first_chain, index count, std::uint64_t step,
                               float* out, index dimension, float scale = 1.0f) {
    constexpr int chunk = 64;  // Box-Muller pairs per pass
    const index pairs_per_chain = (dimension + 1) / 2;
    const index total_pairs = count * pairs_per_chain;
    const auto k0 = static_cast<std::uint32_t>(rng.seed_value());
    const auto k1 = static_cast<std::uint32_t>(rng.seed_value() >> 32);
    const auto w0 = static_cast<std::uint32_t>(p);
    const auto w2 = static_cast<std::uint32_t>(step);
    const std::uint32_t w3_high = static_cast<std::uint32_t>(step >> 32) << 24;
    const bool whole_pairs = dimension % 2 == 0;
    if (total_pairs <= 4) {  // a few pairs (one small chain): the scalar path, the same arithmetic
        for (index i = 0; i < count; ++i)
            for (index e = 0; e < dimension; e += 2) {
                std::uint32_t a = w0, b = first_chain + static_cast<std::uint32_t>(i), c = w2,
                              d = w3_high | static_cast<std::uint32_t>(e / 4);
                philox_rounds(a, b, c, d, k0, k1);
                const normal_pair z = (e % 4 == 0) ? box_muller(a, b) : box_muller(c, d);
                out[i * dimension + e] = scale * z.first;
                if (e + 1 < dimension) out[i * dimension + e + 1] = scale * z.second;
            }
        return;
    }
    alignas(64) std::uint32_t c0[chunk], c1[chunk], c2[chunk], c3[chunk], half[chunk];
    alignas(64) float first[chunk], second[chunk], radius[chunk];
    for (index start = 0; start < total_pairs; start += chunk) {
        const int n = static_cast<int>(total_pairs - start < chunk ? total_pairs - start : chunk);
        // Counter of each pair: chain, block = pair / 2; even pairs use words 0-1, odd pairs words 2-3. Pairs of
        // one block each run the (cheap, vectorised) rounds themselves rather than sharing.
        if (pairs_per_chain == 1) {  // one pair per chain (dimension 1 or 2): pair j is chain start + j, block 0
#pragma omp simd
            for (int j = 0; j < n; ++j) {
                c0[j] = w0;
                c1[j] = first_chain + static_cast<std::uint32_t>(start + j);
                c2[j] = w2;
                c3[j] = w3_high;
                half[j] = 0;
            }
        } else {
            index chain = start / pairs_per_chain;
            index local = start - chain * pairs_per_chain;
            for (int j = 0; j < n; ++j) {
                c0[j] = w0;
                c1[j] = first_chain + static_cast<std::uint32_t>(chain);
                c2[j] = w2;
                c3[j] = w3_high | static_cast<std::uint32_t>(local / 2);
                half[j] = static_cast<std::uint32_t>(local % 2);  // which half of the block
                if (++local == pairs_per_chain) {
                    local = 0;
                    ++chain;
                }
            }
        }
#pragma omp simd
        for (int j = 0; j < n; ++j) {
            std::uint32_t a = c0[j], b = c1[j], c = c2[j], d = c3[j];
            philox_rounds(a, b, c, d, k0, k1);
            const bool odd = half[j] != 0;
            c0[j] = odd ? c : a;
            c1[j] = odd ? d : b;
        }
#pragma omp simd
        for (int j = 0; j < n; ++j) {
            radius[j] = -2.0f * log_positive(uniform_open01(c0[j]));
            cos_sin_two_pi(uniform_open01(c1[j]), first[j], second[j]);
        }
        // sqrt apart: with errno semantics (the default) compilers do not vectorise it; IEEE sqrt is correctly
        // rounded, so any sqrt instruction gives the same bits.
        for (int j = 0; j < n; ++j) radius[j] = std::sqrt(radius[j]);
#pragma omp simd
        for (int j = 0; j < n; ++j) {
            first[j] = scale * (radius[j] * first[j]);
            second[j] = scale * (radius[j] * second[j]);
        }
        if (whole_pairs) {
            float* o = out + 2 * start;
            for (int j = 0; j < n; ++j) {
                o[2 * j] = first[j];
                o[2 * j + 1] = second[j];
            }
        } else {
            index chain = start / pairs_per_chain;
            index e = 2 * (start - chain * pairs_per_chain);
            for (int j = 0; j < n; ++j) {
                float* o = out + chain * dimension + e;
                o[0] = first[j];
                if (e + 1 < dimension) o[1] = second[j];
                e += 2;
                if (e >= dimension) {
                    e = 0;
                    ++chain;
                }
            }
        }
    }
}

/// out[i] = log u_i, u_i = uniform_scalar(rng, p, first_chain + i, step), for i in [0, count): the log-uniforms of
/// MALA's accept tests, with Philox and the log vectorised across chains.
inline void fill_log_uniforms(const philox& rng, purpose p, std::uint32_t first_chain, index count, std::uint64_t step,
                              float* out) {
    const auto k0 = static_cast<std::uint32_t>(rng.seed_value());
    const auto k1 = static_cast<std::uint32_t>(rng.seed_value() >> 32);
    const auto w0 = static_cast<std::uint32_t>(p);
    const auto w2 = static_cast<std::uint32_t>(step);
    const std::uint32_t w3 = static_cast<std::uint32_t>(step >> 32) << 24;
#pragma omp simd
    for (index i = 0; i < count; ++i) {
        std::uint32_t a = w0, b = first_chain + static_cast<std::uint32_t>(i), c = w2, d = w3;
        philox_rounds(a, b, c, d, k0, k1);
        out[i] = log_positive(uniform_open01(a));
    }
}

}  // namespace detail

/// out[e] = scale * z_e, z ~ N(0, 1), for e in [0, n): the noise of one chain at one step.
inline void fill_normal(const philox& rng, purpose p, std::uint32_t chain, std::uint64_t step, float* out, index n,
                        float scale = 1.0f) {
    detail::fill_normal_chains(rng, p, chain, 1, step, out, n, scale);
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
