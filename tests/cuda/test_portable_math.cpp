// kernels/portable_math.hpp: accuracy against libm (in double), measured exhaustively over the 2^23 values that
// uniform_open01 can produce (the only inputs Box-Muller ever sees), and independence from the compiler's
// floating-point contraction (two translation units built with opposite -ffp-contract flags must agree).
#include <doctest/doctest.h>

#include <ebm/kernels/portable_math.hpp>
#include <ebm/random/distributions.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <numbers>
#include <string>

#include "noise_digest.hpp"

namespace {

/// Distance in units in the last place of float between a float result and the exact (double) value.
double ulps(float value, double exact) {
    const float nearest = static_cast<float>(exact);
    const double ulp = std::fabs(static_cast<double>(std::nextafter(nearest, INFINITY)) - nearest);
    return std::fabs(static_cast<double>(value) - exact) / ulp;
}

/// The digest noise_digest.inc takes of ebm::fill_normal(seed 77, langevin_noise, chain 1, step 2, 2^20 elements),
/// rebuilt element by element from the documented layout (element e: Box-Muller pair (e % 4) / 2 of Philox block
/// e / 4) with kernels/portable_math.hpp's box_muller.
std::uint64_t fill_normal_reference_digest() {
    const ebm::philox rng(ebm::seed{77});
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (std::uint32_t e = 0; e < (1u << 20); ++e) {
        const auto w = rng.block(ebm::purpose::langevin_noise, 1, 2, e / 4);
        const std::uint32_t pair = (e % 4) / 2;
        const auto z = ebm::portable::box_muller(w[2 * pair], w[2 * pair + 1]);
        const float v = e % 2 == 0 ? z.first : z.second;
        std::uint32_t b;
        std::memcpy(&b, &v, 4);
        h = (h ^ b) * 0x100000001b3ull;
    }
    return h;
}

}  // namespace

TEST_CASE("portable log: within 2 ulp of log over every uniform_open01 value") {
    double max_ulp = 0, max_abs = 0, libm_max_ulp = 0;
    for (std::uint32_t k = 0; k < (1u << 23); ++k) {
        const float u = ebm::portable::uniform_open01(k << 9);
        const double exact = std::log(static_cast<double>(u));
        const float value = ebm::portable::log_positive(u);
        max_ulp = std::max(max_ulp, ulps(value, exact));
        max_abs = std::max(max_abs, std::fabs(value - exact));
        libm_max_ulp = std::max(libm_max_ulp, ulps(std::log(u), exact));
    }
    MESSAGE("portable log over 2^23 inputs: max error " << max_ulp << " ulp, " << max_abs << " absolute (glibc logf: "
            << libm_max_ulp << " ulp)");
    CHECK(max_ulp <= 2.0);
    CHECK(max_abs < 1e-6);  // |log u| reaches 16.6, where one ulp is 9.5e-7
}

TEST_CASE("portable exp: within 2 ulp of exp over [-87, 88], 0 below the float range, +Inf above, NaN kept") {
    double max_ulp = 0;
    float worst = 0;
    for (std::uint32_t k = 0; k <= 4'000'000; ++k) {
        const float x = -87.0f + 175.0f * static_cast<float>(k) / 4'000'000.0f;
        const double exact = std::exp(static_cast<double>(x));
        const double e = ulps(ebm::portable::exp(x), exact);
        if (e > max_ulp) max_ulp = e, worst = x;
    }
    MESSAGE("portable exp over 4e6 points of [-87, 88]: max error " << max_ulp << " ulp (at " << worst << ")");
    CHECK(max_ulp <= 2.0);
    CHECK(ebm::portable::exp(0.0f) == 1.0f);
    CHECK(ebm::portable::exp(-100.0f) == 0.0f);
    CHECK(ebm::portable::exp(100.0f) == INFINITY);
    CHECK(std::isnan(ebm::portable::exp(NAN)));
}

TEST_CASE("portable cos/sin of 2 pi u: within 2.5e-7 of the exact values over every uniform_open01 value") {
    double max_cos = 0, max_sin = 0, libm_max = 0;
    for (std::uint32_t k = 0; k < (1u << 23); ++k) {
        const float u = ebm::portable::uniform_open01(k << 9);
        const double angle = 2.0 * std::numbers::pi * static_cast<double>(u);
        float c, s;
        ebm::portable::cos_sin_two_pi(u, c, s);
        max_cos = std::max(max_cos, std::fabs(c - std::cos(angle)));
        max_sin = std::max(max_sin, std::fabs(s - std::sin(angle)));
        const float angle_f = 2.0f * std::numbers::pi_v<float> * u;  // what a libm-based Box-Muller computes
        libm_max = std::max(libm_max, std::fabs(std::cos(angle_f) - std::cos(angle)));
    }
    MESSAGE("portable cos/sin(2 pi u) over 2^23 inputs: max absolute error cos " << max_cos << ", sin " << max_sin
            << " (cosf(2 pi_f u) of glibc: " << libm_max << ")");
    CHECK(max_cos < 2.5e-7);
    CHECK(max_sin < 2.5e-7);
}

TEST_CASE("portable Box-Muller: close to the exact transform, and finite for the extreme uniforms") {
    double max_relative = 0;
    const ebm::philox rng(ebm::seed{5});
    for (std::uint32_t b = 0; b < (1u << 16); ++b) {
        const auto w = rng.block(ebm::purpose::langevin_noise, 0, 0, b);
        const auto z = ebm::portable::box_muller(w[0], w[1]);
        const double r = std::sqrt(-2.0 * std::log(static_cast<double>(ebm::portable::uniform_open01(w[0]))));
        const double a = 2.0 * std::numbers::pi * static_cast<double>(ebm::portable::uniform_open01(w[1]));
        max_relative = std::max(max_relative, std::fabs(z.first - r * std::cos(a)) / std::max(r, 1e-3));
        max_relative = std::max(max_relative, std::fabs(z.second - r * std::sin(a)) / std::max(r, 1e-3));
    }
    MESSAGE("portable Box-Muller: max error relative to the radius " << max_relative);
    CHECK(max_relative < 1e-6);
    for (std::uint32_t a : {0u, 0xffffffffu})
        for (std::uint32_t b : {0u, 0x7fffffffu, 0xffffffffu}) {
            const auto z = ebm::portable::box_muller(a, b);
            CHECK(std::isfinite(z.first));
            CHECK(std::isfinite(z.second));
        }
    // The largest normal Box-Muller can return: sqrt(-2 log 2^-24) = 5.77.
    CHECK(std::fabs(ebm::portable::box_muller(0u, 0u).first) == doctest::Approx(5.7686).epsilon(1e-4));
}

TEST_CASE("portable math and ebm::fill_normal give the same bits whatever the compiler's contraction flags") {
    // digest_contract_off.cpp is built with -ffp-contract=off, digest_contract_fast.cpp with -ffp-contract=fast -mfma
    // (x86-64): the same source, so any difference is the compiler contracting a*b+c differently.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (!__builtin_cpu_supports("fma")) {
        // Reported by ctest as "Skipped" (SKIP_REGULAR_EXPRESSION in tests/cuda/CMakeLists.txt), never as passed.
        std::printf("EBM_TEST_SKIPPED: this CPU has no FMA, so the -mfma translation unit cannot run here; the "
                    "flag-independence of the noise is not checked\n");
        std::fflush(stdout);
        return;
    }
#endif
    const auto off = ebm_test::digest_contract_off();
    const auto fast = ebm_test::digest_contract_fast();
    INFO("seed 77: portable Box-Muller digests " << off.portable << " / " << fast.portable
         << "; fill_normal digests " << off.distributions << " / " << fast.distributions);
    CHECK(off.portable == fast.portable);
    // The promise of random/distributions.hpp: fill_normal (the batched path the samplers use) has the same bits
    // under any flags.
    CHECK(off.distributions == fast.distributions);
    // Both translation units give the portable functions' numbers (not merely the same wrong numbers).
    CHECK(off.distributions == fill_normal_reference_digest());
}
