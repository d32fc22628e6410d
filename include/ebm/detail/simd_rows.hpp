#pragma once
// Register-blocked kernels for batches of chains on the CPU: `rows`, y_i = init + sum_k x_i[k] * M[k, :] for blocks of
// chain-major chains at once, with M row-major (K x N) and N a multiple of the vector width (the toy MLP's layers);
// `lanes_product`, the same product for a block of chains transposed into SIMD lanes (the benchmark Gaussian's
// precision matrix, detail/chain_lanes.hpp). GCC/Clang vector extensions; `available` is false for other compilers, with
// EBM_NO_SIMD, and in translation units compiled by nvcc (whose front end does not take the unroll pragmas; the CUDA
// backend does not use these kernels), and callers then take their portable path.
#include <algorithm>
#include <cstring>
#if defined(__FMA__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#endif

#include "../config.hpp"

namespace ebm {

namespace detail::simd_rows {
// Each output element is a plain sum over k in order 0..K-1, so a chain's result does not depend on which other
// chains share its block (hence not on the thread count).
#if (defined(__GNUC__) || defined(__clang__)) && !defined(EBM_NO_SIMD) && !defined(__CUDACC__)
#define EBM_SIMD_ROWS 1  // for code that needs the vector types themselves
inline constexpr bool available = true;
#if defined(__AVX512F__)
inline constexpr int lanes = 16;
inline constexpr int registers = 32;
#elif defined(__AVX__)
inline constexpr int lanes = 8;
inline constexpr int registers = 16;
#else
inline constexpr int lanes = 4;
inline constexpr int registers = 16;
#endif
typedef float vec __attribute__((vector_size(lanes * sizeof(float))));
typedef float vec_memory __attribute__((vector_size(lanes * sizeof(float)), aligned(alignof(float)), may_alias));
inline constexpr int max_vectors = 8;  // widths up to 8 vectors (128 floats with AVX-512) take the fast path

[[gnu::always_inline]] inline vec load(const float* p) { return *reinterpret_cast<const vec_memory*>(p); }
[[gnu::always_inline]] inline void store(float* p, vec v) { *reinterpret_cast<vec_memory*>(p) = v; }
/// Pairwise sum of the lanes in a fixed order: t[l] += t[l + w] for w = lanes/2, ..., 1 (halves added as vectors).
[[gnu::always_inline]] inline float horizontal_sum(vec v) {
#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define EBM_SIMD_SHUFFLE_SUM 1
#endif
#endif
#if defined(EBM_SIMD_SHUFFLE_SUM)
    typedef float v2 __attribute__((vector_size(2 * sizeof(float))));
    typedef float v4 __attribute__((vector_size(4 * sizeof(float))));
#if defined(__AVX512F__)  // lanes == 16
    typedef float v8 __attribute__((vector_size(8 * sizeof(float))));
    const v8 h = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                 __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    const v4 q = __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);
#elif defined(__AVX__)  // lanes == 8
    const v4 q = __builtin_shufflevector(v, v, 0, 1, 2, 3) + __builtin_shufflevector(v, v, 4, 5, 6, 7);
#else  // lanes == 4
    const v4 q = v;
#endif
    const v2 d = __builtin_shufflevector(q, q, 0, 1) + __builtin_shufflevector(q, q, 2, 3);
    return d[0] + d[1];
#undef EBM_SIMD_SHUFFLE_SUM
#else
    float t[lanes];
    std::memcpy(t, &v, sizeof t);
    for (int w = lanes / 2; w >= 1; w /= 2)
        for (int l = 0; l < w; ++l) t[l] += t[l + w];
    return t[0];
#endif
}

/// acc + s * r. Where the target has FMA (`fused`) with one rounding per lane, written as the instruction itself:
/// GCC forms FMAs from `acc += s * r` only from -O2 on, so a kernel that relied on it gave other bits at -O1 (the
/// sanitizer build) than at -O3. Without FMA a multiply then an add, at every level.
#if defined(__FMA__) && (defined(__x86_64__) || defined(__i386__))
inline constexpr bool fused = true;
[[gnu::always_inline]] inline vec multiply_add(float s, vec r, vec acc) {
#if defined(__AVX512F__)  // lanes == 16
    return _mm512_fmadd_ps(_mm512_set1_ps(s), r, acc);
#else  // lanes == 8 (FMA implies AVX)
    return _mm256_fmadd_ps(_mm256_set1_ps(s), r, acc);
#endif
}
[[gnu::always_inline]] inline vec multiply_add(vec a, vec b, vec acc) {
#if defined(__AVX512F__)
    return _mm512_fmadd_ps(a, b, acc);
#else
    return _mm256_fmadd_ps(a, b, acc);
#endif
}
#else
inline constexpr bool fused = false;
[[gnu::always_inline]] inline vec multiply_add(float s, vec r, vec acc) {
    const vec product = s * r;
    return acc + product;
}
[[gnu::always_inline]] inline vec multiply_add(vec a, vec b, vec acc) {
    const vec product = a * b;
    return acc + product;
}
#endif

/// Chains per register block for NV vectors of output.
template <int NV>
inline constexpr int block_chains = std::min(12, std::max(1, (registers - NV - 2) / NV));

// Block of C chains: acc_c = init + sum_k x_c[k] * M[k, :]; then finish(chain, acc_c).
template <int NV, int C, class Finish>
[[gnu::always_inline]] inline void block(const float* x, index k_count, const float* m, const float* init, index first,
                                         Finish& finish) {
    constexpr index n = NV * lanes;
    vec acc[C][NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
        const vec b = init != nullptr ? load(init + v * lanes) : vec{};
#pragma GCC unroll 12
        for (int c = 0; c < C; ++c) acc[c][v] = b;
    }
    for (index k = 0; k < k_count; ++k) {
        vec row[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) row[v] = load(m + k * n + v * lanes);
#pragma GCC unroll 12
        for (int c = 0; c < C; ++c) {
            const float s = x[c * k_count + k];  // scalar * vector: a broadcast load
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) acc[c][v] = multiply_add(s, row[v], acc[c][v]);
        }
    }
#pragma GCC unroll 12
    for (int c = 0; c < C; ++c) finish(first + c, acc[c]);
}

template <int NV, class Finish>
inline void rows_fixed(const float* x, index k_count, const float* m, const float* init, index count, Finish& finish) {
    constexpr int C = block_chains<NV>;
    index i = 0;
    for (; i + C <= count; i += C) block<NV, C>(x + i * k_count, k_count, m, init, i, finish);
    for (; i < count; ++i) block<NV, 1>(x + i * k_count, k_count, m, init, i, finish);
}

/// For i in [0, count): finish(i, acc) with acc (vectors = N / lanes of them) = init + sum_k x_i[k] * M[k, :].
template <class Finish>
inline void rows(int vectors, const float* x, index k_count, const float* m, const float* init, index count,
                 Finish&& finish) {
    switch (vectors) {
        case 1: rows_fixed<1>(x, k_count, m, init, count, finish); break;
        case 2: rows_fixed<2>(x, k_count, m, init, count, finish); break;
        case 3: rows_fixed<3>(x, k_count, m, init, count, finish); break;
        case 4: rows_fixed<4>(x, k_count, m, init, count, finish); break;
        case 5: rows_fixed<5>(x, k_count, m, init, count, finish); break;
        case 6: rows_fixed<6>(x, k_count, m, init, count, finish); break;
        case 7: rows_fixed<7>(x, k_count, m, init, count, finish); break;
        default: rows_fixed<8>(x, k_count, m, init, count, finish); break;
    }
}

/// Outputs per register block of lanes_product for V vectors of chains: J x V accumulators, the V vectors of a row
/// of xt and one broadcast fill the registers (24 at most: more gains nothing on AVX-512).
template <int V>
inline constexpr int lanes_block_outputs = std::min(24, (registers - V - 1) / V);

template <int V, int J>
[[gnu::always_inline]] inline void lanes_block(const float* xt, index k_count, const float* m, index n, index j0,
                                               float* yt) {
    constexpr index width = V * lanes;
    vec acc[J][V] = {};
    for (index k = 0; k < k_count; ++k) {
        vec a[V];
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) a[v] = load(xt + k * width + v * lanes);
        const float* mk = m + k * n + j0;
#pragma GCC unroll 24
        for (int j = 0; j < J; ++j) {
#pragma GCC unroll 4
            for (int v = 0; v < V; ++v) acc[j][v] = multiply_add(mk[j], a[v], acc[j][v]);
        }
    }
#pragma GCC unroll 24
    for (int j = 0; j < J; ++j) {
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) store(yt + (j0 + j) * width + v * lanes, acc[j][v]);
    }
}

/// Chains in lanes: yt[j][l] = sum_k M[k, j] xt[k][l] for j < n and the V * lanes chains l of a block, xt and yt
/// lane-major (row k of xt, row j of yt hold the block's chains), M row-major (k_count x n). Each element is the
/// k-ordered sum of fused multiply-adds from 0, as in a per-chain loop over k, and M needs no padding. Against the
/// chain-major `rows` on the 100-D benchmark Gaussian (Zen 4, AVX-512): 86 against 60 GFLOP/s per core, as each
/// element of M, broadcast once, serves V vectors of chains and no padded columns are computed.
template <int V>
inline void lanes_product(const float* xt, index k_count, const float* m, index n, float* yt) {
    constexpr int J = lanes_block_outputs<V>;
    index j = 0;
    for (; j + J <= n; j += J) lanes_block<V, J>(xt, k_count, m, n, j, yt);
    for (; j + 4 <= n; j += 4) lanes_block<V, 4>(xt, k_count, m, n, j, yt);
    for (; j < n; ++j) lanes_block<V, 1>(xt, k_count, m, n, j, yt);
}
#else
inline constexpr bool available = false;
inline constexpr bool fused = false;
inline constexpr int lanes = 1;
inline constexpr int max_vectors = 0;
#endif
}  // namespace detail::simd_rows

}  // namespace ebm
