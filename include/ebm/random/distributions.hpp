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

#if !defined(__CUDACC__) && (defined(__AVX512F__) || defined(__AVX__))
#include <immintrin.h>
#endif

namespace ebm {

/// (k + 0.5) / 2^23 for the top 23 bits k: exactly representable in float and strictly inside (0, 1)
/// (smallest 2^-24, largest 1 - 2^-24; with 24 bits the largest value would round up to 1).
EBM_HOST_DEVICE EBM_ALWAYS_INLINE float uniform_open01(std::uint32_t word) {
    return (static_cast<float>(word >> 9) + 0.5f) * (1.0f / 8388608.0f);
}

namespace detail {

/// Natural log of a positive normal float (Cephes logf, relative error about 1e-7) and cos/sin of 2 pi u for u in
/// [0, 1] (exact quadrant reduction from 4u, Taylor polynomials): the portable definitions of
/// kernels/portable_math.hpp, whose multiply-adds are explicit fmas, so the numbers do not depend on compiler flags
/// (-ffp-contract, -mfma) and equal the CUDA backend's. Branch-free: loops of them vectorise (with FMA hardware).
EBM_HOST_DEVICE EBM_ALWAYS_INLINE float log_positive(float x) { return portable::log_positive(x); }
EBM_HOST_DEVICE EBM_ALWAYS_INLINE void cos_sin_two_pi(float u, float& c, float& s) { portable::cos_sin_two_pi(u, c, s); }

/// Philox4x32-10, written out so that a loop over many counters vectorises; equals philox::raw.
EBM_HOST_DEVICE EBM_ALWAYS_INLINE void philox_rounds(std::uint32_t& c0, std::uint32_t& c1, std::uint32_t& c2, std::uint32_t& c3,
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
EBM_HOST_DEVICE EBM_ALWAYS_INLINE normal_pair box_muller(std::uint32_t a, std::uint32_t b) {
    const float radius = std::sqrt(-2.0f * detail::log_positive(uniform_open01(a)));
    float c, s;
    detail::cos_sin_two_pi(uniform_open01(b), c, s);
    return {radius * c, radius * s};
}

namespace detail {

/// Philox4x32-10 on n counters held as four word arrays (64-byte aligned, n a multiple of 16), in place: the
/// numbers of philox_rounds. With AVX-512 the 32 x 32 -> 64-bit products of even and odd lanes are two
/// _mm512_mul_epu32 each (what compilers make of the portable loop is about 1.7 times slower); otherwise that loop.
inline void philox_rounds_arrays(std::uint32_t* c0, std::uint32_t* c1, std::uint32_t* c2, std::uint32_t* c3, index n,
                                 std::uint32_t k0, std::uint32_t k1) {
#if !defined(__CUDACC__) && defined(__AVX512F__)
    const __m512i m0 = _mm512_set1_epi64(0xD2511F53u), m1 = _mm512_set1_epi64(0xCD9E8D57u);
    // The zero-masking forms with every lane selected are the plain instructions; the plain intrinsics make GCC 12
    // warn about their undefined pass-through operand (GCC bug 105593).
    constexpr __mmask8 all = 0xFF;
    const auto products = [](__m512i a, __m512i m, __m512i& high, __m512i& low) {
        const __m512i even = _mm512_maskz_mul_epu32(all, a, m);                                  // lanes 0, 2, ...
        const __m512i odd = _mm512_maskz_mul_epu32(all, _mm512_maskz_srli_epi64(all, a, 32), m);  // lanes 1, 3, ...
        low = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_maskz_slli_epi64(all, odd, 32));
        high = _mm512_mask_blend_epi32(0xAAAA, _mm512_maskz_srli_epi64(all, even, 32), odd);
    };
    for (index j = 0; j < n; j += 16) {
        __m512i a = _mm512_load_si512(c0 + j), b = _mm512_load_si512(c1 + j), c = _mm512_load_si512(c2 + j),
                d = _mm512_load_si512(c3 + j);
        std::uint32_t key0 = k0, key1 = k1;
        for (int round = 0; round < 10; ++round) {
            __m512i high0, low0, high1, low1;
            products(a, m0, high0, low0);
            products(c, m1, high1, low1);
            a = _mm512_xor_si512(_mm512_xor_si512(high1, b), _mm512_set1_epi32(static_cast<int>(key0)));
            c = _mm512_xor_si512(_mm512_xor_si512(high0, d), _mm512_set1_epi32(static_cast<int>(key1)));
            b = low1;
            d = low0;
            key0 += 0x9E3779B9u;
            key1 += 0xBB67AE85u;
        }
        _mm512_store_si512(c0 + j, a);
        _mm512_store_si512(c1 + j, b);
        _mm512_store_si512(c2 + j, c);
        _mm512_store_si512(c3 + j, d);
    }
#else
#pragma omp simd
    for (index j = 0; j < n; ++j) philox_rounds(c0[j], c1[j], c2[j], c3[j], k0, k1);
#endif
}

/// v[j] = sqrt(v[j]) for j in [0, n), n a multiple of 16, v 64-byte aligned. IEEE sqrt is correctly rounded, so
/// the vector instruction gives std::sqrt's bits; compilers do not vectorise std::sqrt themselves while it may set
/// errno (the default), hence the intrinsics.
inline void square_roots(float* v, int n) {
#if !defined(__CUDACC__) && defined(__AVX512F__)
    for (int j = 0; j < n; j += 16)  // the zero-masking form, as in philox_rounds_arrays
        _mm512_store_ps(v + j, _mm512_maskz_sqrt_ps(0xFFFF, _mm512_load_ps(v + j)));
#elif !defined(__CUDACC__) && defined(__AVX__)
    for (int j = 0; j < n; j += 8) _mm256_store_ps(v + j, _mm256_sqrt_ps(_mm256_load_ps(v + j)));
#else
    for (int j = 0; j < n; ++j) v[j] = std::sqrt(v[j]);
#endif
}

/// Box-Muller over `lanes` word pairs (a multiple of 16): first[j], second[j] = scale * (sqrt(-2 log u(a[j])) *
/// (cos, sin)(2 pi u(b[j]))), the radius from the first word and the angle from the second. radius: scratch.
inline void box_muller_lanes(const std::uint32_t* a, const std::uint32_t* b, int lanes, float scale, float* radius,
                             float* first, float* second) {
#pragma omp simd
    for (int j = 0; j < lanes; ++j) {
        radius[j] = -2.0f * log_positive(uniform_open01(a[j]));
        cos_sin_two_pi(uniform_open01(b[j]), first[j], second[j]);
    }
    square_roots(radius, lanes);
#pragma omp simd
    for (int j = 0; j < lanes; ++j) {
        first[j] = scale * (radius[j] * first[j]);
        second[j] = scale * (radius[j] * second[j]);
    }
}

/// Normals of `count` chains at once: out[i * dimension + e] = scale * z_e of chain first_chain + i at `step`,
/// the same numbers fill_normal gives chain by chain. One Philox block gives four normals (kernels/noise.hpp's
/// layout); the blocks are drawn in chunks on the stack (no allocation), and the Philox, Box-Muller and sqrt loops
/// run across the blocks of a chunk, written for the compiler's vectoriser.
inline void fill_normal_chains(const philox& rng, purpose p, std::uint32_t first_chain, index count, std::uint64_t step,
                               float* out, index dimension, float scale = 1.0f) {
    constexpr int chunk = 64;  // Philox blocks per pass
    const index per_chain = (dimension + 3) / 4;
    const index total = count * per_chain;
    const auto k0 = static_cast<std::uint32_t>(rng.seed_value());
    const auto k1 = static_cast<std::uint32_t>(rng.seed_value() >> 32);
    const auto w0 = static_cast<std::uint32_t>(p);
    const auto w2 = static_cast<std::uint32_t>(step);
    const std::uint32_t w3_high = static_cast<std::uint32_t>(step >> 32) << 24;
    if (total <= 2) {  // one small chain: block by block, the same arithmetic
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
    const bool second_pair = dimension > 2;  // blocks of 1- and 2-D chains use only their first two words
    alignas(64) std::uint32_t c0[chunk], c1[chunk], c2[chunk], c3[chunk];
    alignas(64) float radius[chunk], z0[chunk], z1[chunk], z2[chunk], z3[chunk];
    for (index start = 0; start < total; start += chunk) {
        const int n = static_cast<int>(total - start < chunk ? total - start : chunk);
        const int lanes = (n + 15) / 16 * 16;  // whole vectors; the lanes past n are drawn and not written
        // The counter of block j: (purpose, chain, step, block), chains and blocks in batch order.
        if (per_chain == 1) {
#pragma omp simd
            for (int j = 0; j < lanes; ++j) {
                c1[j] = first_chain + static_cast<std::uint32_t>(start + j);
                c3[j] = w3_high;
            }
        } else {
            index chain = start / per_chain;
            index block = start - chain * per_chain;
            for (int j = 0; j < lanes; ++j) {
                c1[j] = first_chain + static_cast<std::uint32_t>(chain);
                c3[j] = w3_high | static_cast<std::uint32_t>(block);
                if (++block == per_chain) {
                    block = 0;
                    ++chain;
                }
            }
        }
#pragma omp simd
        for (int j = 0; j < lanes; ++j) {
            c0[j] = w0;
            c2[j] = w2;
        }
        philox_rounds_arrays(c0, c1, c2, c3, lanes, k0, k1);
        box_muller_lanes(c0, c1, lanes, scale, radius, z0, z1);
        if (second_pair) box_muller_lanes(c2, c3, lanes, scale, radius, z2, z3);
        if (dimension == 2 || dimension % 4 == 0) {  // the chunk's normals are contiguous in out
            float* o = out + static_cast<index>(dimension == 2 ? 2 : 4) * start;
            if (dimension == 2) {
                for (int j = 0; j < n; ++j) {
                    o[2 * j] = z0[j];
                    o[2 * j + 1] = z1[j];
                }
            } else {
                for (int j = 0; j < n; ++j) {
                    o[4 * j] = z0[j];
                    o[4 * j + 1] = z1[j];
                    o[4 * j + 2] = z2[j];
                    o[4 * j + 3] = z3[j];
                }
            }
        } else {
            const float* z[4] = {z0, z1, z2, z3};
            index chain = start / per_chain;
            index block = start - chain * per_chain;
            for (int j = 0; j < n; ++j) {
                float* o = out + chain * dimension + 4 * block;
                const index m = dimension - 4 * block < 4 ? dimension - 4 * block : 4;
                for (index e = 0; e < m; ++e) o[e] = z[e][j];
                if (++block == per_chain) {
                    block = 0;
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
    constexpr int chunk = 64;
    const auto k0 = static_cast<std::uint32_t>(rng.seed_value());
    const auto k1 = static_cast<std::uint32_t>(rng.seed_value() >> 32);
    const auto w0 = static_cast<std::uint32_t>(p);
    const auto w2 = static_cast<std::uint32_t>(step);
    const std::uint32_t w3 = static_cast<std::uint32_t>(step >> 32) << 24;
    alignas(64) std::uint32_t c0[chunk], c1[chunk], c2[chunk], c3[chunk];
    for (index start = 0; start < count; start += chunk) {
        const int n = static_cast<int>(count - start < chunk ? count - start : chunk);
        const int lanes = (n + 15) / 16 * 16;
#pragma omp simd
        for (int j = 0; j < lanes; ++j) {
            c0[j] = w0;
            c1[j] = first_chain + static_cast<std::uint32_t>(start + j);
            c2[j] = w2;
            c3[j] = w3;
        }
        philox_rounds_arrays(c0, c1, c2, c3, lanes, k0, k1);
#pragma omp simd
        for (int j = 0; j < n; ++j) out[start + j] = log_positive(uniform_open01(c0[j]));
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
