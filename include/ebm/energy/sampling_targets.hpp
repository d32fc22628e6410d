#pragma once
// Standard targets for benchmarking samplers, on either backend (chain_energy.hpp), with exact samplers and known
// first two moments per coordinate:
//   gaussian_target(d, condition)  zero-mean Gaussian, covariance Q diag(lambda) Q^T, lambda_i = condition^(i/(d-1))
//                                  and Q the orthonormal DCT-II matrix (a fixed rotation: every coordinate mixes
//                                  scales); U = x^T P x / 2 with P = Q diag(1/lambda) Q^T
//   funnel(d)                      Neal's funnel: v ~ N(0, 3^2), x_i | v ~ N(0, e^v), i = 1..d-1;
//                                  U = v^2/18 + e^(-v) |x|^2 / 2 + (d-1) v / 2
//   banana()                       x1 ~ N(0, 1), x2 | x1 ~ N(x1^2, 0.5^2) (a Rosenbrock-type curved ridge);
//                                  U = x1^2/2 + (x2 - x1^2)^2 / (2 * 0.5^2)
//   isotropic_mixture(means, sd)   equal-weight mixture of N(m_c, sd^2 I), K <= 16 (ring(8, 1, 0.15): the Anatomy gmm)
// The definitions are written out so that another library can be given the very same targets (the BlackJAX
// comparison in benchmarks/samplers does). Energies are in float, as the samplers' states; the set-up (the
// Gaussian's rotation and precision) is in double on the host. The exact samplers write host batches.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numbers>
#include <span>
#include <utility>
#include <vector>

#include "../batch.hpp"
#include "../config.hpp"
#include "../detail/chain_lanes.hpp"
#include "../detail/simd_rows.hpp"
#include "../error.hpp"
#include "../kernels/portable_math.hpp"
#include "../random/distributions.hpp"
#include "chain_energy.hpp"

namespace ebm {

namespace targets {

/// U = x^T P x / 2, P row-major in `parameters`. dU/dx = P x accumulates column by column (element-wise, so the
/// CPU vectorises it without reordering a sum); U = x . (P x) / 2.
struct gaussian {
    index d = 0;
    const float* parameters = nullptr;
    [[nodiscard]] EBM_HOST_DEVICE index dimension() const { return d; }
    EBM_HOST_DEVICE float operator()(const float* x, float* g) const { return evaluate<0>(x, g); }
    /// hv = P v.
    EBM_HOST_DEVICE void hessian_vector(const float*, const float* v, float* hv) const {
        for (index j = 0; j < d; ++j) {
            float s = 0;
            for (index k = 0; k < d; ++k) s = portable::fused_multiply_add(parameters[j * d + k], v[k], s);
            hv[j] = s;
        }
    }
    /// The host's batch path (chain_energy uses it on the CPU): blocks of chains transposed into SIMD lanes
    /// (detail/chain_lanes.hpp) and the register-blocked lane-major product (detail/simd_rows.hpp), g = P x for
    /// 48 chains at a time with AVX-512. Each g_i[j] and u_i is the same k-ordered sum of fused multiply-adds as in
    /// operator(), so the bits are operator()'s at any optimisation level; targets without FMA instructions (where
    /// the kernel rounds twice), energies without gradients and d > max_batch_dimension take the per-chain loop.
    static constexpr index max_batch_dimension = 128;
    void batch(const float* x, index count, float* u, float* g) const {
        if (d == 2) {  // the loops unrolled and vectorised across chains: cheaper than a transposition
            if (g == nullptr) {
                for (index i = 0; i < count; ++i) u[i] = evaluate<2>(x + 2 * i, nullptr);
                return;
            }
#pragma omp simd
            for (index i = 0; i < count; ++i) u[i] = with_gradient<2>(x + 2 * i, g + 2 * i);
            return;
        }
#if defined(EBM_SIMD_ROWS)  // detail/simd_rows.hpp: GCC/Clang on the host
        namespace simd = detail::simd_rows;
        if (simd::fused && g != nullptr && d <= max_batch_dimension) {
            // Blocks of three vectors of chains; the rest in one block of one, two or three vectors.
            constexpr index wide = 3 * simd::lanes;
            const index bulk = count / wide * wide, rest = count - bulk;
            lanes_blocks<3>(x, bulk, u, g);
            if (rest > 2 * simd::lanes) lanes_blocks<3>(x + bulk * d, rest, u + bulk, g + bulk * d);
            else if (rest > simd::lanes) lanes_blocks<2>(x + bulk * d, rest, u + bulk, g + bulk * d);
            else if (rest > 0) lanes_blocks<1>(x + bulk * d, rest, u + bulk, g + bulk * d);
            return;
        }
#endif
        for (index i = 0; i < count; ++i) u[i] = (*this)(x + i * d, g != nullptr ? g + i * d : nullptr);
    }

private:
    /// operator()'s arithmetic; D > 0 is the dimension known at compile time (the loops unrolled), D = 0 takes d.
    template <index D>
    EBM_HOST_DEVICE float evaluate(const float* x, float* g) const {
        const index n = D > 0 ? D : d;
        float u = 0;
        if (g == nullptr) {
            for (index j = 0; j < n; ++j) {
                float s = 0;
                for (index k = 0; k < n; ++k) s = portable::fused_multiply_add(parameters[j * n + k], x[k], s);
                u = portable::fused_multiply_add(x[j], s, u);
            }
            return 0.5f * u;
        }
        return with_gradient<D>(x, g);
    }
    /// evaluate() with a gradient.
    template <index D>
    EBM_HOST_DEVICE float with_gradient(const float* x, float* g) const {
        const index n = D > 0 ? D : d;
        for (index j = 0; j < n; ++j) g[j] = 0;
        for (index k = 0; k < n; ++k) {  // P is symmetric: row k is column k
            const float xk = x[k];
            const float* column = parameters + k * n;
            for (index j = 0; j < n; ++j) g[j] = portable::fused_multiply_add(column[j], xk, g[j]);
        }
        float u = 0;
        for (index j = 0; j < n; ++j) u = portable::fused_multiply_add(x[j], g[j], u);
        return 0.5f * u;
    }
#if defined(EBM_SIMD_ROWS)
    /// Blocks of V vectors of chains: g = P x (P symmetric, so row k is column k) lane by lane, then u = x . g / 2
    /// in operator()'s order.
    template <int V>
    void lanes_blocks(const float* x, index count, float* u, float* g) const {
        namespace simd = detail::simd_rows;
        constexpr index width = V * simd::lanes;
        detail::for_chain_lanes<max_batch_dimension, false, width>(
            x, d, count, u, g, [&](const float (*xt)[width], float (*gt)[width], float* ut) {
                simd::lanes_product<V>(xt[0], d, parameters, d, gt[0]);
                for (index l = 0; l < width; ++l) ut[l] = 0;
                for (index j = 0; j < d; ++j)
#pragma omp simd
                    for (index l = 0; l < width; ++l) ut[l] = portable::fused_multiply_add(xt[j][l], gt[j][l], ut[l]);
                for (index l = 0; l < width; ++l) ut[l] *= 0.5f;
            });
    }
#endif
};

/// Neal's funnel, v = x[0]. exp is the portable one (the same bits on both backends, and it vectorises).
struct funnel {
    index d = 0;
    const float* parameters = nullptr;  // none
    [[nodiscard]] EBM_HOST_DEVICE index dimension() const { return d; }
    EBM_HOST_DEVICE float operator()(const float* x, float* g) const { return evaluate(x, g, portable::exp(-x[0])); }
    /// With e = e^(-v) and s = sum_k x_k^2: d2U/dv2 = 1/9 + e s / 2, d2U/dv dx_k = -e x_k, d2U/dx_k2 = e.
    EBM_HOST_DEVICE void hessian_vector(const float* x, const float* v, float* hv) const {
        const float e = portable::exp(-x[0]);
        float sq = 0, xv = 0;
        for (index k = 1; k < d; ++k) {
            sq = portable::fused_multiply_add(x[k], x[k], sq);
            xv = portable::fused_multiply_add(x[k], v[k], xv);
        }
        hv[0] = portable::fused_multiply_add(portable::fused_multiply_add(0.5f * e, sq, 1.0f / 9.0f), v[0], -e * xv);
        for (index k = 1; k < d; ++k) hv[k] = e * portable::fused_multiply_add(-x[k], v[0], v[k]);
    }
    /// The host's batch path: for a block of chains, e^(-v) in one vectorised pass and the sums of squares with the
    /// chains interleaved (each chain's sum in operator()'s order: a sum alone waits for each addition), then
    /// operator()'s remaining arithmetic.
    void batch(const float* x, index count, float* u, float* g) const {
        constexpr index block = 64, interleave = 16;
        alignas(64) float e[block], sq[block];
        for (index first = 0; first < count; first += block) {
            const index n = count - first < block ? count - first : block;
            const float* xb = x + first * d;
#pragma omp simd
            for (index l = 0; l < n; ++l) e[l] = portable::exp(-xb[l * d]);
            for (index l0 = 0; l0 < n; l0 += interleave) {
                const index m = n - l0 < interleave ? n - l0 : interleave;
                float s[interleave] = {};
                for (index k = 1; k < d; ++k)
                    for (index l = 0; l < m; ++l) {
                        const float xk = xb[(l0 + l) * d + k];
                        s[l] = portable::fused_multiply_add(xk, xk, s[l]);
                    }
                for (index l = 0; l < m; ++l) sq[l0 + l] = s[l];
            }
            for (index l = 0; l < n; ++l) {
                const index i = first + l;
                u[i] = finish(x + i * d, g != nullptr ? g + i * d : nullptr, e[l], sq[l]);
            }
        }
    }

private:
    EBM_HOST_DEVICE float evaluate(const float* x, float* g, float e) const {  // e = e^(-v)
        float sq = 0;
        for (index k = 1; k < d; ++k) sq = portable::fused_multiply_add(x[k], x[k], sq);
        return finish(x, g, e, sq);
    }
    /// The rest of evaluate() given sq = sum_{k >= 1} x_k^2.
    EBM_HOST_DEVICE float finish(const float* x, float* g, float e, float sq) const {
        const float v = x[0];
        const float half_rest = 0.5f * static_cast<float>(d - 1);
        if (g != nullptr) {
            g[0] = portable::fused_multiply_add(-0.5f * e, sq, v / 9.0f) + half_rest;
            for (index k = 1; k < d; ++k) g[k] = e * x[k];
        }
        return portable::fused_multiply_add(half_rest, v, portable::fused_multiply_add(0.5f * e, sq, v * v / 18.0f));
    }
};

/// The banana, x2 | x1 ~ N(curvature x1^2, width^2).
struct banana {
    float curvature = 1.0f;
    float width = 0.5f;
    const float* parameters = nullptr;  // none
    [[nodiscard]] EBM_HOST_DEVICE index dimension() const { return 2; }
    EBM_HOST_DEVICE float operator()(const float* x, float* g) const {
        float g0, g1;
        const float u = evaluate(x[0], x[1], g0, g1);
        if (g != nullptr) {
            g[0] = g0;
            g[1] = g1;
        }
        return u;
    }
    /// The host's batch path: operator()'s arithmetic across chains, which the compiler vectorises (a chain at a
    /// time, its dozen scalar operations were most of an HMC step's time).
    void batch(const float* x, index count, float* u, float* g) const {
        if (g == nullptr) {
            for (index i = 0; i < count; ++i) u[i] = (*this)(x + 2 * i, nullptr);
            return;
        }
#pragma omp simd
        for (index i = 0; i < count; ++i) u[i] = evaluate(x[2 * i], x[2 * i + 1], g[2 * i], g[2 * i + 1]);
    }
    /// With r = x2 - c x1^2 and s = 1/width^2: d2U/dx1^2 = 1 + s (4 c^2 x1^2 - 2 c r), d2U/dx1 dx2 = -2 c x1 s,
    /// d2U/dx2^2 = s.
    EBM_HOST_DEVICE void hessian_vector(const float* x, const float* v, float* hv) const {
        const float r = portable::fused_multiply_add(-(curvature * x[0]), x[0], x[1]);
        const float inv = 1.0f / (width * width);
        const float cross = -2.0f * curvature * x[0] * inv;
        const float first = portable::fused_multiply_add(
            inv, portable::fused_multiply_add(4.0f * curvature * curvature * x[0], x[0], -2.0f * curvature * r), 1.0f);
        hv[0] = portable::fused_multiply_add(first, v[0], cross * v[1]);
        hv[1] = portable::fused_multiply_add(cross, v[0], inv * v[1]);
    }

private:
    /// U at (x0, x1), and dU/dx into g0, g1.
    EBM_HOST_DEVICE float evaluate(float x0, float x1, float& g0, float& g1) const {
        const float r = portable::fused_multiply_add(-(curvature * x0), x0, x1);
        const float inv = 1.0f / (width * width);
        g0 = portable::fused_multiply_add(-(2.0f * curvature * x0 * r), inv, x0);
        g1 = r * inv;
        return portable::fused_multiply_add(0.5f * r * r, inv, 0.5f * x0 * x0);
    }
};

/// An equal-weight mixture of K <= 16 isotropic Gaussians N(m_c, sd^2 I), means K x d in `parameters`:
/// U = -log((1/K) sum_c N(x; m_c, sd^2 I)) by log-sum-exp, dU/dx = sum_c r_c (x - m_c) / sd^2 with the
/// responsibilities r_c, in float with the portable exp and log (the same bits on every backend).
struct isotropic_mixture {
    static constexpr index max_components = 16;
    index d = 0;
    index k = 0;
    float inverse_variance = 1.0f;
    float log_normaliser = 0.0f;  // -log K - (d/2) log(2 pi sd^2)
    const float* parameters = nullptr;
    [[nodiscard]] EBM_HOST_DEVICE index dimension() const { return d; }
    EBM_HOST_DEVICE float operator()(const float* x, float* g) const {
        float t[max_components];
        float largest = -INFINITY;
        for (index c = 0; c < k; ++c) {
            const float* m = parameters + c * d;
            float sq = 0;
            for (index j = 0; j < d; ++j) sq = portable::fused_multiply_add(x[j] - m[j], x[j] - m[j], sq);
            t[c] = -0.5f * inverse_variance * sq;
            largest = t[c] > largest ? t[c] : largest;
        }
        float sum = 0;
        for (index c = 0; c < k; ++c) sum += (t[c] = portable::exp(t[c] - largest));
        if (g != nullptr) {
            for (index j = 0; j < d; ++j) g[j] = 0;
            for (index c = 0; c < k; ++c) {
                const float w = t[c] / sum * inverse_variance;
                const float* m = parameters + c * d;
                for (index j = 0; j < d; ++j) g[j] = portable::fused_multiply_add(w, x[j] - m[j], g[j]);
            }
        }
        return -(log_normaliser + largest + portable::log_positive(sum));
    }
    /// With s the inverse variance, d_c = x - m_c, r_c the responsibilities and m = sum_c r_c d_c:
    /// d2U/dx2 = s I - s^2 (sum_c r_c d_c d_c^T - m m^T).
    EBM_HOST_DEVICE void hessian_vector(const float* x, const float* v, float* hv) const {
        float r[max_components], p[max_components];  // responsibilities, d_c . v
        float largest = -INFINITY;
        for (index c = 0; c < k; ++c) {
            const float* m = parameters + c * d;
            float sq = 0, dv = 0;
            for (index j = 0; j < d; ++j) {
                sq = portable::fused_multiply_add(x[j] - m[j], x[j] - m[j], sq);
                dv = portable::fused_multiply_add(x[j] - m[j], v[j], dv);
            }
            r[c] = -0.5f * inverse_variance * sq;
            p[c] = dv;
            largest = r[c] > largest ? r[c] : largest;
        }
        float sum = 0, mv = 0;
        for (index c = 0; c < k; ++c) sum += (r[c] = portable::exp(r[c] - largest));
        for (index c = 0; c < k; ++c) {
            r[c] /= sum;
            mv = portable::fused_multiply_add(r[c], p[c], mv);  // m . v
        }
        const float s2 = inverse_variance * inverse_variance;
        for (index j = 0; j < d; ++j) {
            float spread = 0, mj = 0;  // (sum_c r_c d_c (d_c . v))_j, m_j
            for (index c = 0; c < k; ++c) {
                const float dj = x[j] - parameters[c * d + j];
                spread = portable::fused_multiply_add(r[c] * p[c], dj, spread);
                mj = portable::fused_multiply_add(r[c], dj, mj);
            }
            hv[j] = portable::fused_multiply_add(inverse_variance, v[j], -s2 * portable::fused_multiply_add(-mj, mv, spread));
        }
    }
    /// The host's batch path: operator()'s arithmetic with one chain per SIMD lane (detail/chain_lanes.hpp), for
    /// d <= max_batch_dimension (d = 2, the toys' case, with the loops over the coordinates unrolled).
    static constexpr index max_batch_dimension = 16;
    void batch(const float* x, index count, float* u, float* g) const {
        constexpr index lanes = detail::chain_lanes;
        if (d == 2) {
            detail::for_chain_lanes<2, true>(x, d, count, u, g, [&](const float (*xt)[lanes], float (*gt)[lanes], float* ut) {
                lanes_block<2>(xt, gt, ut);
            });
        } else if (d <= max_batch_dimension) {
            detail::for_chain_lanes<max_batch_dimension>(x, d, count, u, g, [&](const float (*xt)[lanes], float (*gt)[lanes], float* ut) {
                lanes_block<0>(xt, gt, ut);
            });
        } else {
            for (index i = 0; i < count; ++i) u[i] = (*this)(x + i * d, g != nullptr ? g + i * d : nullptr);
        }
    }

private:
    /// One block of lanes; D > 0 is the dimension known at compile time, D = 0 takes d.
    template <index D>
    void lanes_block(const float (*xt)[detail::chain_lanes], float (*gt)[detail::chain_lanes], float* ut) const {
        constexpr index lanes = detail::chain_lanes;
        const index dim = D > 0 ? D : d;
        alignas(64) float t[max_components][lanes], largest[lanes], sum[lanes] = {};
        for (index l = 0; l < lanes; ++l) largest[l] = -INFINITY;
        for (index c = 0; c < k; ++c) {
            const float* m = parameters + c * dim;
            alignas(64) float sq[lanes] = {};
            for (index j = 0; j < dim; ++j)
#pragma omp simd
                for (index l = 0; l < lanes; ++l)
                    sq[l] = portable::fused_multiply_add(xt[j][l] - m[j], xt[j][l] - m[j], sq[l]);
#pragma omp simd
            for (index l = 0; l < lanes; ++l) {
                t[c][l] = -0.5f * inverse_variance * sq[l];
                largest[l] = t[c][l] > largest[l] ? t[c][l] : largest[l];
            }
        }
        for (index c = 0; c < k; ++c)
#pragma omp simd
            for (index l = 0; l < lanes; ++l) sum[l] += (t[c][l] = portable::exp(t[c][l] - largest[l]));
        if (gt != nullptr) {
            for (index j = 0; j < dim; ++j)
                for (index l = 0; l < lanes; ++l) gt[j][l] = 0;
            for (index c = 0; c < k; ++c) {
                const float* m = parameters + c * dim;
                alignas(64) float w[lanes];
#pragma omp simd
                for (index l = 0; l < lanes; ++l) w[l] = t[c][l] / sum[l] * inverse_variance;
                for (index j = 0; j < dim; ++j)
#pragma omp simd
                    for (index l = 0; l < lanes; ++l)
                        gt[j][l] = portable::fused_multiply_add(w[l], xt[j][l] - m[j], gt[j][l]);
            }
        }
#pragma omp simd
        for (index l = 0; l < lanes; ++l) ut[l] = -(log_normaliser + largest[l] + portable::log_positive(sum[l]));
    }
};

/// The Gaussian target's set-up in double: eigenvalues, rotation, precision (float, row-major), sampling root and
/// the covariance's diagonal.
struct gaussian_setup {
    std::vector<double> lambda, root, variance;
    std::vector<float> precision;  // P row-major (symmetric to the bit: (j, k) and (k, j) sum the same terms)

    gaussian_setup(index dimension, double condition) {
        detail::require_positive("gaussian_target", "dimension", dimension);
        detail::require_finite("gaussian_target", "condition", condition);
        if (!(condition >= 1.0)) detail::fail("gaussian_target", "condition must be at least 1", condition);
        const auto d = static_cast<std::size_t>(dimension);
        lambda.resize(d);
        for (std::size_t i = 0; i < d; ++i)
            lambda[i] = d == 1 ? 1.0 : std::pow(condition, static_cast<double>(i) / static_cast<double>(d - 1));
        std::vector<double> q(d * d);  // DCT-II, column i = eigenvector i: q[j * d + i]
        for (std::size_t j = 0; j < d; ++j)
            for (std::size_t i = 0; i < d; ++i)
                q[j * d + i] = std::sqrt((i == 0 ? 1.0 : 2.0) / static_cast<double>(d)) *
                               std::cos(std::numbers::pi * static_cast<double>((2 * j + 1) * i) / static_cast<double>(2 * d));
        root.resize(d * d);
        variance.assign(d, 0.0);
        precision.resize(d * d);
        for (std::size_t j = 0; j < d; ++j) {
            for (std::size_t i = 0; i < d; ++i) {
                root[j * d + i] = q[j * d + i] * std::sqrt(lambda[i]);
                variance[j] += q[j * d + i] * q[j * d + i] * lambda[i];
            }
            for (std::size_t k = 0; k < d; ++k) {
                double p = 0;
                for (std::size_t i = 0; i < d; ++i) p += q[j * d + i] * q[k * d + i] / lambda[i];
                precision[j * d + k] = static_cast<float>(p);
            }
        }
    }
};

}  // namespace targets

/// Zero-mean Gaussian with condition number `condition` and a dense (rotated) covariance.
template <class Backend = cpu>
class gaussian_target : public chain_energy<targets::gaussian, Backend> {
public:
    explicit gaussian_target(index dimension, double condition = 100.0)
        : gaussian_target(targets::gaussian_setup(dimension, condition)) {}

    /// The eigenvalues of the covariance (variances along the principal axes), smallest first.
    [[nodiscard]] const std::vector<double>& eigenvalues() const { return setup_.lambda; }
    [[nodiscard]] std::vector<double> mean() const { return std::vector<double>(setup_.lambda.size(), 0.0); }
    [[nodiscard]] std::vector<double> variance() const { return setup_.variance; }

    /// Exact draws into a host batch: x = Q diag(sqrt(lambda)) z, z from ebm::fill_normal(rng, p, chain, step).
    void sample(batch_view out, const philox& rng, purpose p, std::uint64_t step, index first_chain = 0) const {
        const index d = this->dimension();
        if (out.dimension != d) detail::fail("gaussian_target::sample", "out dimension must equal " + detail::to_text(d), out.dimension);
        std::vector<float> z(static_cast<std::size_t>(d));
        for (index i = 0; i < out.count; ++i) {
            fill_normal(rng, p, static_cast<std::uint32_t>(first_chain + i), step, z.data(), d);
            for (index j = 0; j < d; ++j) {
                double v = 0;
                for (index k = 0; k < d; ++k) v += setup_.root[static_cast<std::size_t>(j * d + k)] * z[static_cast<std::size_t>(k)];
                out.chain(i)[j] = static_cast<float>(v);
            }
        }
    }

private:
    explicit gaussian_target(targets::gaussian_setup setup)
        : chain_energy<targets::gaussian, Backend>(targets::gaussian{static_cast<index>(setup.lambda.size())},
                                                   setup.precision),
          setup_(std::move(setup)) {}

    targets::gaussian_setup setup_;
};

/// Neal's funnel in `dimension` coordinates (v first), v ~ N(0, 3^2), x_i | v ~ N(0, e^v).
template <class Backend = cpu>
class funnel : public chain_energy<targets::funnel, Backend> {
public:
    explicit funnel(index dimension = 10)
        : chain_energy<targets::funnel, Backend>(targets::funnel{checked(dimension)}, std::span<const float>{}) {}

    /// Exact draws into a host batch from normals of (rng, p, chain, step): v = 3 z_0, x_i = e^(v/2) z_i.
    void sample(batch_view out, const philox& rng, purpose p, std::uint64_t step, index first_chain = 0) const {
        const index d = this->dimension();
        if (out.dimension != d) detail::fail("funnel::sample", "out dimension must equal " + detail::to_text(d), out.dimension);
        for (index i = 0; i < out.count; ++i) {
            float* x = out.chain(i);
            fill_normal(rng, p, static_cast<std::uint32_t>(first_chain + i), step, x, d);
            x[0] *= 3.0f;
            const float s = std::exp(0.5f * x[0]);
            for (index k = 1; k < d; ++k) x[k] *= s;
        }
    }
    [[nodiscard]] std::vector<double> mean() const { return std::vector<double>(static_cast<std::size_t>(this->dimension()), 0.0); }
    /// Var v = 9, Var x_i = E[e^v] = e^(9/2).
    [[nodiscard]] std::vector<double> variance() const {
        std::vector<double> v(static_cast<std::size_t>(this->dimension()), std::exp(4.5));
        v[0] = 9.0;
        return v;
    }

private:
    static index checked(index dimension) {
        if (dimension < 2) detail::fail("funnel", "dimension must be at least 2", dimension);
        return dimension;
    }
};

/// The banana: x1 ~ N(0, 1), x2 | x1 ~ N(curvature x1^2, width^2) (defaults 1 and 0.5).
template <class Backend = cpu>
class banana : public chain_energy<targets::banana, Backend> {
public:
    explicit banana(float curvature = 1.0f, float width = 0.5f)
        : chain_energy<targets::banana, Backend>(checked(curvature, width), std::span<const float>{}) {}

    /// Exact draws into a host batch from normals of (rng, p, chain, step): x1 = z_0, x2 = curvature x1^2 + width z_1.
    void sample(batch_view out, const philox& rng, purpose p, std::uint64_t step, index first_chain = 0) const {
        if (out.dimension != 2) detail::fail("banana::sample", "out dimension must equal 2", out.dimension);
        const auto& b = this->density();
        for (index i = 0; i < out.count; ++i) {
            float* x = out.chain(i);
            fill_normal(rng, p, static_cast<std::uint32_t>(first_chain + i), step, x, 2);
            x[1] = b.curvature * x[0] * x[0] + b.width * x[1];
        }
    }
    /// E x1 = 0, E x2 = curvature.
    [[nodiscard]] std::vector<double> mean() const { return {0.0, static_cast<double>(this->density().curvature)}; }
    /// Var x1 = 1, Var x2 = width^2 + curvature^2 Var(x1^2) = width^2 + 2 curvature^2.
    [[nodiscard]] std::vector<double> variance() const {
        const double c = this->density().curvature, w = this->density().width;
        return {1.0, w * w + 2.0 * c * c};
    }

private:
    static targets::banana checked(float curvature, float width) {
        detail::require_finite("banana", "curvature", curvature);
        detail::require_positive("banana", "width", width);
        detail::require_finite("banana", "width", width);
        return {curvature, width};
    }
};

/// An equal-weight mixture of isotropic Gaussians N(m_c, sd^2 I) (the Anatomy toy gmm: 8 means on the unit circle,
/// sd 0.15, is isotropic_mixture<>::ring(8, 1.0, 0.15)), in float on either backend. gaussian_mixture is the
/// double-precision, full-covariance reference; the two agree to float rounding (tests/unit/energy).
template <class Backend = cpu>
class isotropic_mixture : public chain_energy<targets::isotropic_mixture, Backend> {
public:
    isotropic_mixture(const std::vector<std::vector<double>>& means, double sd)
        : chain_energy<targets::isotropic_mixture, Backend>(checked(means, sd), flat(means)), means_(means), sd_(sd) {}

    /// `components` means equally spaced on the circle of `radius` in 2-D.
    static isotropic_mixture ring(int components, double radius, double sd) {
        if (components < 1 || components > targets::isotropic_mixture::max_components)
            detail::fail("isotropic_mixture::ring", "components must lie in [1, 16]", components);
        std::vector<std::vector<double>> means;
        for (int c = 0; c < components; ++c) {
            const double a = 2.0 * std::numbers::pi * c / components;
            means.push_back({radius * std::cos(a), radius * std::sin(a)});
        }
        return {means, sd};
    }

    /// Exact draws into a host batch: the component from the first word of block 2^24 - 1 of (p, chain, step), then
    /// m_c + sd z with z from ebm::fill_normal(rng, p, chain, step) (gaussian_mixture's layout).
    void sample(batch_view out, const philox& rng, purpose p, std::uint64_t step, index first_chain = 0) const {
        const index d = this->dimension();
        if (out.dimension != d) detail::fail("isotropic_mixture::sample", "out dimension must equal " + detail::to_text(d), out.dimension);
        const auto k = means_.size();
        for (index i = 0; i < out.count; ++i) {
            const auto chain = static_cast<std::uint32_t>(first_chain + i);
            const float u = uniform_open01(rng.block(p, chain, step, max_philox_block)[0]);
            const std::size_t c = std::min(k - 1, static_cast<std::size_t>(u * static_cast<float>(k)));
            float* x = out.chain(i);
            fill_normal(rng, p, chain, step, x, d);
            for (index j = 0; j < d; ++j)
                x[j] = static_cast<float>(means_[c][static_cast<std::size_t>(j)] + sd_ * x[j]);
        }
    }
    [[nodiscard]] std::vector<double> mean() const {
        std::vector<double> m(means_[0].size(), 0.0);
        for (const auto& c : means_)
            for (std::size_t j = 0; j < m.size(); ++j) m[j] += c[j] / static_cast<double>(means_.size());
        return m;
    }
    /// sd^2 plus the variance of the means.
    [[nodiscard]] std::vector<double> variance() const {
        const auto m = mean();
        std::vector<double> v(m.size(), sd_ * sd_);
        for (const auto& c : means_)
            for (std::size_t j = 0; j < m.size(); ++j) v[j] += (c[j] - m[j]) * (c[j] - m[j]) / static_cast<double>(means_.size());
        return v;
    }

private:
    static targets::isotropic_mixture checked(const std::vector<std::vector<double>>& means, double sd) {
        const char* where = "isotropic_mixture";
        if (means.empty() || means.size() > static_cast<std::size_t>(targets::isotropic_mixture::max_components))
            detail::fail(where, "the number of means must lie in [1, 16]", means.size());
        const std::size_t d = means[0].size();
        if (d == 0) detail::fail(where, "the means must not be empty", d);
        for (const auto& m : means) {
            if (m.size() != d) detail::fail(where, "every mean must have dimension " + detail::to_text(d), m.size());
            for (double v : m) detail::require_finite(where, "mean entry", v);
        }
        detail::require_positive(where, "sd", sd);
        detail::require_finite(where, "sd", sd);
        const double k = static_cast<double>(means.size());
        return {static_cast<index>(d), static_cast<index>(means.size()), static_cast<float>(1.0 / (sd * sd)),
                static_cast<float>(-std::log(k) - 0.5 * static_cast<double>(d) * std::log(2.0 * std::numbers::pi * sd * sd))};
    }
    static std::vector<float> flat(const std::vector<std::vector<double>>& means) {
        std::vector<float> out;
        for (const auto& m : means)
            for (double v : m) out.push_back(static_cast<float>(v));
        return out;
    }

    std::vector<std::vector<double>> means_;
    double sd_;
};

}  // namespace ebm
