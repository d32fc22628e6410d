#pragma once
// Float math that gives the same bits on every backend: natural log, cos/sin of 2 pi u and Box-Muller, built only
// from IEEE operations that are correctly rounded everywhere (+, -, *, explicit fused multiply-add, sqrt) and bit
// manipulation. libm (glibc) and CUDA's libdevice implement logf/cosf/sinf differently, and compilers fuse a*b + c
// into an FMA at their own discretion (nvcc by default, g++ with -ffp-contract=fast and an FMA-capable -march),
// so the CPU and the GPU only agree bit for bit when
//   * no libm function is called (the polynomials below replace them),
//   * every multiply whose result feeds an addition is written as an explicit fma (fused_multiply_add), so there
//     is nothing left for a compiler to contract, whatever -ffp-contract / -fmad says,
//   * sqrt is the IEEE one (std::sqrt on the host, __fsqrt_rn on the device, so even --use_fast_math keeps it).
// Accuracy, measured exhaustively over the 2^23 values uniform_open01 can return (tests/cuda/test_portable_math.cpp):
// see docs/cuda.md ("Bitwise identical noise") for the numbers; both are within a few ulp of the correctly
// rounded result, far below what the Langevin noise needs.
#include <bit>
#include <cmath>
#include <cstdint>

#include "../config.hpp"

namespace ebm::portable {

/// a * b + c with a single rounding (IEEE fusedMultiplyAdd): the same bits on any host and any GPU.
EBM_HOST_DEVICE EBM_ALWAYS_INLINE float fused_multiply_add(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
    return __fmaf_rn(a, b, c);
#else
    return std::fma(a, b, c);
#endif
}

/// The same in double (dual averaging, sampler/adaptation.hpp).
EBM_HOST_DEVICE EBM_ALWAYS_INLINE double fused_multiply_add(double a, double b, double c) {
#if defined(__CUDA_ARCH__)
    return __fma_rn(a, b, c);
#else
    return std::fma(a, b, c);
#endif
}

/// Correctly rounded square root (IEEE), also under nvcc's --use_fast_math.
EBM_HOST_DEVICE EBM_ALWAYS_INLINE float square_root(float x) {
#if defined(__CUDA_ARCH__)
    return __fsqrt_rn(x);
#else
    return std::sqrt(x);
#endif
}

EBM_HOST_DEVICE EBM_ALWAYS_INLINE std::uint32_t float_bits(float x) {
#if defined(__CUDA_ARCH__)
    return __float_as_uint(x);
#else
    return std::bit_cast<std::uint32_t>(x);
#endif
}

EBM_HOST_DEVICE EBM_ALWAYS_INLINE float bits_float(std::uint32_t b) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(b);
#else
    return std::bit_cast<float>(b);
#endif
}

/// (k + 0.5) / 2^23 for the top 23 bits k of a Philox word: strictly inside (0, 1), exact (the same formula as
/// ebm::uniform_open01 in random/distributions.hpp; repeated here so that this header depends on nothing).
EBM_HOST_DEVICE EBM_ALWAYS_INLINE float uniform_open01(std::uint32_t word) {
    return (static_cast<float>(word >> 9) + 0.5f) * (1.0f / 8388608.0f);
}

/// Natural log of a positive normal float: the Cephes logf reduction and polynomial, every multiply-add fused.
/// Branch-free (selects only), so loops of it vectorise on the CPU. Not for 0, denormals, Inf or NaN.
EBM_HOST_DEVICE EBM_ALWAYS_INLINE float log_positive(float x) {
    const std::uint32_t bits = float_bits(x);
    int exponent = static_cast<int>((bits >> 23) & 0xffu) - 126;             // x = m 2^exponent, m in [0.5, 1)
    float m = bits_float((bits & 0x007fffffu) | 0x3f000000u);
    const bool small = m < 0.707106781186547524f;
    exponent -= small ? 1 : 0;
    m = (small ? m + m : m) - 1.0f;                                           // exact; in [sqrt(1/2) - 1, sqrt(2) - 1)
    const float e = static_cast<float>(exponent);
    const float z = m * m;
    float p = 7.0376836292e-2f;
    p = fused_multiply_add(p, m, -1.1514610310e-1f);
    p = fused_multiply_add(p, m, 1.1676998740e-1f);
    p = fused_multiply_add(p, m, -1.2420140846e-1f);
    p = fused_multiply_add(p, m, 1.4249322787e-1f);
    p = fused_multiply_add(p, m, -1.6668057665e-1f);
    p = fused_multiply_add(p, m, 2.0000714765e-1f);
    p = fused_multiply_add(p, m, -2.4999993993e-1f);
    p = fused_multiply_add(p, m, 3.3333331174e-1f);
    float y = (m * z) * p;                                                    // products only: nothing to contract
    y = fused_multiply_add(e, -2.12194440e-4f, y);                            // low part of e * ln 2
    y = fused_multiply_add(-0.5f, z, y);
    return fused_multiply_add(e, 0.693359375f, m + y);                        // high part of e * ln 2 (exact product)
}

/// e^x in float: the Cephes expf reduction (x = n ln 2 + r, |r| <= ln 2 / 2, ln 2 in two parts) and polynomial,
/// every multiply-add fused, 2^n put in the exponent bits. Within 2 ulp of exp. Below -87.3 it returns 0 and above
/// 88.7 +Inf; NaN gives NaN. Branch-free and without float-to-integer conversions (which GCC will not execute
/// speculatively, since they may trap), so loops of it vectorise on the CPU.
EBM_HOST_DEVICE EBM_ALWAYS_INLINE float exp(float x) {
    const bool under = x < -87.33654f, over = x > 88.72283f, nan = x != x;
    const float clamped = (under || over || nan) ? 0.0f : x;
    // n = y truncated toward zero, y = x log2(e) +- 1/2 (n = x log2(e) rounded half away from zero): y rounded to an
    // integer by adding and subtracting 1.5 * 2^23 (exact for |y| < 2^22), then moved one toward zero if it went past.
    const float y = fused_multiply_add(clamped, 1.44269504088896341f, clamped < 0 ? -0.5f : 0.5f);
    const float nearest = (y + 12582912.0f) - 12582912.0f;
    const float n = y >= 0 ? (nearest > y ? nearest - 1.0f : nearest) : (nearest < y ? nearest + 1.0f : nearest);
    float r = fused_multiply_add(n, -0.693359375f, clamped);                  // high part of n ln 2 (exact product)
    r = fused_multiply_add(n, 2.12194440e-4f, r);                             // low part
    float p = 1.9875691500e-4f;
    p = fused_multiply_add(p, r, 1.3981999507e-3f);
    p = fused_multiply_add(p, r, 8.3334519073e-3f);
    p = fused_multiply_add(p, r, 4.1665795894e-2f);
    p = fused_multiply_add(p, r, 1.6666665459e-1f);
    p = fused_multiply_add(p, r, 5.0000001201e-1f);
    const float e = fused_multiply_add(p, r * r, r) + 1.0f;
    // 2^n, n in [-126, 127]: n + 127 is the low mantissa bits of n + 127 + 2^23 (exact), shifted into the exponent.
    const float scale = bits_float((float_bits(n + 8388735.0f) & 0x7fffffu) << 23);
    const float result = e * scale;
    return nan ? x : (under ? 0.0f : (over ? INFINITY : result));
}

/// cos(2 pi u) and sin(2 pi u) for u in [0, 1]: the quadrant comes from 4u exactly (no rounding of pi in the
/// reduction), then Taylor polynomials on [-pi/4, pi/4] in Horner form with fused steps.
EBM_HOST_DEVICE EBM_ALWAYS_INLINE void cos_sin_two_pi(float u, float& c, float& s) {
    const float t = 4.0f * u;                                                 // exact
    const int nearest = static_cast<int>(t + 0.5f);                           // 0..4 (t >= 0: truncation floors)
    const float q = static_cast<float>(nearest);
    const float theta = (t - q) * 1.57079632679489662f;                       // t - q exact, in [-1/2, 1/2]
    const float z = theta * theta;
    float sp = 2.7557319224e-6f;                                              // 1/9!
    sp = fused_multiply_add(sp, z, -1.9841269841e-4f);                        // 1/7!
    sp = fused_multiply_add(sp, z, 8.3333333333e-3f);                         // 1/5!
    sp = fused_multiply_add(sp, z, -1.6666666667e-1f);                        // 1/3!
    const float sine = fused_multiply_add(theta * z, sp, theta);
    float cp = -2.7557319224e-7f;                                             // -1/10!
    cp = fused_multiply_add(cp, z, 2.4801587302e-5f);                         // 1/8!
    cp = fused_multiply_add(cp, z, -1.3888888889e-3f);                        // 1/6!
    cp = fused_multiply_add(cp, z, 4.1666666667e-2f);                         // 1/4!
    cp = fused_multiply_add(cp, z, -0.5f);                                    // 1/2!
    const float cosine = fused_multiply_add(z, cp, 1.0f);
    const int quadrant = nearest & 3;                                         // rotate by quadrant * pi/2
    const bool swap = (quadrant & 1) != 0;
    const float a = swap ? sine : cosine;
    const float b = swap ? cosine : sine;
    c = (quadrant == 1 || quadrant == 2) ? -a : a;
    s = (quadrant >= 2) ? -b : b;
}

struct normal_pair {
    float first;
    float second;
};

/// Box-Muller on two Philox words, times `scale`: scale * (sqrt(-2 log u1) * (cos 2 pi u2, sin 2 pi u2)).
/// The operation order is that of ebm::detail::fill_normal_chains (radius first, then the scale).
EBM_HOST_DEVICE EBM_ALWAYS_INLINE normal_pair box_muller(std::uint32_t a, std::uint32_t b, float scale = 1.0f) {
    const float radius = square_root(-2.0f * log_positive(uniform_open01(a)));
    float c, s;
    cos_sin_two_pi(uniform_open01(b), c, s);
    return {scale * (radius * c), scale * (radius * s)};
}

/// low + (high - low) * u, fused (fill_uniform's formula, with no room for a compiler to fuse differently).
EBM_HOST_DEVICE EBM_ALWAYS_INLINE float uniform_between(std::uint32_t word, float low, float high) {
    return fused_multiply_add(high - low, uniform_open01(word), low);
}

}  // namespace ebm::portable
