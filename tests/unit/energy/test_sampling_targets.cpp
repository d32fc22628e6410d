// The benchmark targets (energy/sampling_targets.hpp): energies against the written-out formulas evaluated in double
// here, gradients against Richardson central differences of those formulas, the Gaussian's construction (P Sigma = I,
// condition number, DCT rotation), exact samplers against the stated moments, input errors.
#include <doctest/doctest.h>

#include <ebm/concepts/energy_function.hpp>
#include <ebm/energy/gaussian_mixture.hpp>
#include <ebm/energy/sampling_targets.hpp>
#include <ebm/energy/toy.hpp>

#include <cmath>
#include <functional>
#include <numbers>
#include <vector>

#include "../common/expect_error.hpp"
#include "finite_difference.hpp"

namespace {

// The Gaussian's energy from its definition, in double: U = x^T P x / 2, P = Q diag(1/lambda) Q^T (DCT-II Q).
double gaussian_formula(const float* x, int d, double condition) {
    double u = 0;
    for (int i = 0; i < d; ++i) {  // U = sum_i (q_i . x)^2 / (2 lambda_i)
        double proj = 0;
        for (int j = 0; j < d; ++j)
            proj += std::sqrt((i == 0 ? 1.0 : 2.0) / d) * std::cos(std::numbers::pi * (2 * j + 1) * i / (2.0 * d)) * x[j];
        const double lambda = d == 1 ? 1.0 : std::pow(condition, static_cast<double>(i) / (d - 1));
        u += proj * proj / (2.0 * lambda);
    }
    return u;
}
double funnel_formula(const float* x, int d) {
    double sq = 0;
    for (int k = 1; k < d; ++k) sq += static_cast<double>(x[k]) * x[k];
    const double v = x[0];
    return v * v / 18.0 + 0.5 * std::exp(-v) * sq + 0.5 * (d - 1) * v;
}
double banana_formula(const float* x) {
    const double r = x[1] - static_cast<double>(x[0]) * x[0];
    return 0.5 * x[0] * x[0] + r * r / (2.0 * 0.25);
}

template <class E>
void check_against(const E& energy, const std::function<double(const float*)>& formula, double range, double grad_tol) {
    const ebm::index d = energy.dimension(), n = 20;
    const ebm::batch x = ebm_test::dyadic_points(d, n, range, 3);
    std::vector<float> u(n), u_only(n);
    ebm::batch g(d, n);
    auto ws = energy.make_workspace(n);
    energy.energy_and_gradient(x, u, g, ws);
    energy.energy(x, u_only, ws);
    for (ebm::index i = 0; i < n; ++i) {
        const std::vector<float> xi(x.chain(i), x.chain(i) + d);
        INFO("chain " << i);
        CHECK(u[static_cast<std::size_t>(i)] == doctest::Approx(formula(xi.data())).epsilon(1e-5));
        CHECK(u_only[static_cast<std::size_t>(i)] == doctest::Approx(u[static_cast<std::size_t>(i)]).epsilon(1e-6));
        for (ebm::index k = 0; k < d; ++k) {
            const double fd = ebm_test::richardson_derivative(formula, xi, static_cast<std::size_t>(k), 1.0f / 256.0f);
            INFO("coordinate " << k << ": analytic " << g.chain(i)[k] << ", finite difference " << fd);
            CHECK(std::abs(g.chain(i)[k] - fd) <= grad_tol * (1.0 + std::abs(fd)));
        }
    }
}

// Sample mean and variance per coordinate of n exact draws against the stated moments, within 5 standard errors
// (the standard error of a variance estimate from the fourth moment of a Gaussian coordinate, 2 var^2 / n;
// `coordinates` limits the check to those with finite fourth moments where the tails are heavy).
template <class E>
void check_moments(const E& energy, ebm::index coordinates, double variance_excess = 0.0) {
    const ebm::index d = energy.dimension(), n = 200000;
    ebm::batch x(d, n);
    energy.sample(x, ebm::philox(11), ebm::purpose::evaluation, 0);
    const auto mean = energy.mean();
    const auto variance = energy.variance();
    for (ebm::index k = 0; k < coordinates; ++k) {
        double s = 0, sq = 0;
        for (ebm::index i = 0; i < n; ++i) s += x.chain(i)[k];
        const double m = s / n;
        for (ebm::index i = 0; i < n; ++i) sq += (x.chain(i)[k] - m) * (x.chain(i)[k] - m);
        const double v = sq / (n - 1);
        const auto kk = static_cast<std::size_t>(k);
        INFO("coordinate " << k << ": mean " << m << " (" << mean[kk] << "), variance " << v << " (" << variance[kk] << ")");
        CHECK(std::abs(m - mean[kk]) < 5.0 * std::sqrt(variance[kk] / n));
        CHECK(std::abs(v - variance[kk]) < 5.0 * variance[kk] * std::sqrt((2.0 + variance_excess) / n));
    }
}

// The user's density of docs/samplers.md ("Your own target on both backends"), verbatim.
struct quartic {  // U = sum_k (x_k^4 / 4 - a_k x_k^2 / 2), a_k in parameters
    ebm::index d = 0;
    const float* parameters = nullptr;
    EBM_HOST_DEVICE ebm::index dimension() const { return d; }
    EBM_HOST_DEVICE float operator()(const float* x, float* g) const {
        float u = 0;
        for (ebm::index k = 0; k < d; ++k) {
            const float a = parameters[k], x2 = x[k] * x[k];
            u += 0.25f * x2 * x2 - 0.5f * a * x2;
            if (g != nullptr) g[k] = x[k] * (x2 - a);
        }
        return u;
    }
};

}  // namespace

TEST_CASE("chain_energy: a user's density (the docs' quartic) is an energy, with its parameters copied in") {
    std::vector<float> a = {1.0f, 2.0f, 0.5f};
    const ebm::chain_energy<quartic> energy(quartic{3}, a);
    static_assert(ebm::check_energy_function<ebm::chain_energy<quartic>>());
    a.assign(3, 100.0f);  // the energy holds its own copy
    check_against(energy, [](const float* x) {
        const double c[3] = {1.0, 2.0, 0.5};
        double u = 0;
        for (int k = 0; k < 3; ++k) u += 0.25 * std::pow(x[k], 4) - 0.5 * c[k] * x[k] * x[k];
        return u;
    }, 2.0, 1e-4);
    const ebm::chain_energy<quartic> copy = energy;  // copies share the parameter storage
    CHECK(copy.density().parameters == energy.density().parameters);
    // Shapes are checked before anything is read.
    auto ws = energy.make_workspace(4);
    ebm::batch x(2, 4), g(3, 4), g_short(3, 3);
    std::vector<float> u(4), u_short(2);
    ebm::batch x3(3, 4);
    EBM_CHECK_ERROR(energy.energy(x, u, ws), "chain_energy::energy", "dimension", "2");
    EBM_CHECK_ERROR(energy.energy_and_gradient(x3, u, g_short, ws), "chain_energy::energy_and_gradient", "gradient", "3 x 3");
    EBM_CHECK_ERROR(energy.energy(x3, u_short, ws), "chain_energy::energy", "u", "2");
    EBM_CHECK_ERROR(ebm::chain_energy<quartic>(quartic{0}, a), "chain_energy", "dimension", "0");
}

TEST_CASE("gaussian_target: energy, gradient, construction and exact draws") {
    for (int d : {2, 7, 100}) {
        CAPTURE(d);
        const ebm::gaussian_target target(d, 100.0);
        check_against(target, [d](const float* x) { return gaussian_formula(x, d, 100.0); }, 2.0, 1e-4);
        CHECK(target.eigenvalues().front() == doctest::Approx(1.0));
        CHECK(target.eigenvalues().back() == doctest::Approx(100.0));
        check_moments(target, d);
    }
    // d = 2: Q is the rotation by 45 degrees, so Sigma = [[50.5, -49.5], [-49.5, 50.5]].
    const ebm::gaussian_target two(2, 100.0);
    CHECK(two.variance()[0] == doctest::Approx(50.5));
    CHECK(two.variance()[1] == doctest::Approx(50.5));
}

TEST_CASE("gaussian_target: the CPU's batch path (chains in SIMD lanes) computes what the per-chain density does") {
    // d: the unrolled loops, one vector, whole vectors, a remainder of outputs, the widest fast path, beyond it.
    // n: blocks of one, two and three vectors of chains (a tail of 5, 29 or 40 chains with AVX-512), whole blocks
    // of three plus a tail (101 = 2 x 48 + 5).
    for (int d : {2, 16, 37, 100, 128, 130}) {
        for (ebm::index n : {5, 29, 40, 101}) {
            CAPTURE(d);
            CAPTURE(n);
            const ebm::gaussian_target target(d, 100.0);
            const ebm::batch x = ebm_test::dyadic_points(d, n, 2.0, 5);
            std::vector<float> u(static_cast<std::size_t>(n)), u_chain(static_cast<std::size_t>(n));
            ebm::batch g(d, n), g_chain(d, n);
            auto ws = target.make_workspace(n);
            target.energy_and_gradient(x, u, g, ws);  // chain_energy takes the batch path on the CPU
            std::size_t differing = 0;
            for (ebm::index i = 0; i < n; ++i) {
                u_chain[static_cast<std::size_t>(i)] = target.density()(x.chain(i), g_chain.chain(i));
                CHECK(u[static_cast<std::size_t>(i)] == doctest::Approx(u_chain[static_cast<std::size_t>(i)]).epsilon(1e-6));
                differing += u[static_cast<std::size_t>(i)] != u_chain[static_cast<std::size_t>(i)];
                for (ebm::index k = 0; k < d; ++k) {
                    CHECK(g.chain(i)[k] == doctest::Approx(g_chain.chain(i)[k]).epsilon(1e-6).scale(1e-6));
                    differing += g.chain(i)[k] != g_chain.chain(i)[k];
                }
            }
            // Same fused multiply-adds in the same order: equal bits in every build (the kernel writes its FMAs
            // explicitly; without FMA instructions the batch path is the per-chain loop).
            CHECK_MESSAGE(differing == 0, "d = " << d << ", n = " << n << ": " << differing << " of " << n * (d + 1)
                                                 << " values differ in their bits");
        }
    }
}

/// Values (energies from both calls, gradients) where chain_energy's CPU batch path and the per-chain density differ
/// in their bits at the states x.
template <class Target>
std::size_t batch_path_differences(const Target& target, const ebm::batch& x) {
    const ebm::index d = target.dimension(), n = x.count();
    std::vector<float> u(static_cast<std::size_t>(n)), u_energy(u.size());
    ebm::batch g(d, n);
    auto ws = target.make_workspace(n);
    target.energy_and_gradient(x, u, g, ws);  // chain_energy takes the batch path on the CPU
    target.energy(x, u_energy, ws);
    std::size_t differing = 0;
    std::vector<float> g_chain(static_cast<std::size_t>(d));
    for (ebm::index i = 0; i < n; ++i) {
        const float u_chain = target.density()(x.chain(i), g_chain.data());
        differing += u[static_cast<std::size_t>(i)] != u_chain;
        differing += u_energy[static_cast<std::size_t>(i)] != u_chain;
        for (ebm::index k = 0; k < d; ++k) differing += g.chain(i)[k] != g_chain[static_cast<std::size_t>(k)];
    }
    return differing;
}

TEST_CASE("isotropic_mixture: the CPU's batch path (chains across SIMD lanes) gives the per-chain density's bits") {
    for (int d : {1, 2, 3, 16, 17}) {  // up to the lanes path's dimension, and one past it (the per-chain loop)
        for (int components : {1, 8, 16}) {
            CAPTURE(d);
            CAPTURE(components);
            std::vector<std::vector<double>> means;
            for (int c = 0; c < components; ++c) {
                std::vector<double> m(static_cast<std::size_t>(d));
                for (int j = 0; j < d; ++j) m[static_cast<std::size_t>(j)] = std::sin(1.7 * c + 0.9 * j);
                means.push_back(m);
            }
            const ebm::isotropic_mixture target(means, 0.3);
            for (const ebm::index n : {1, 15, 16, 29, 64})  // a part block, whole blocks, whole and part
                CHECK(batch_path_differences(target, ebm_test::dyadic_points(d, n, 2.0, 7)) == 0);
        }
    }
}

TEST_CASE("banana and funnel: the CPU's batch paths (vectorised across chains) give the per-chain density's bits") {
    const auto check_bits = [](const auto& target, ebm::index n, std::uint64_t seed) {
        const ebm::index d = target.dimension();
        CAPTURE(d);
        CAPTURE(n);
        const std::size_t differing = batch_path_differences(target, ebm_test::dyadic_points(d, n, 3.0, seed));
        CHECK_MESSAGE(differing == 0, differing << " of " << n * (d + 2) << " values differ in their bits");
    };
    for (const ebm::index n : {1, 15, 16, 17, 64, 101}) {
        check_bits(ebm::banana(), n, 11);
        check_bits(ebm::banana(1.7f, 0.3f), n, 12);
    }
    for (const ebm::index n : {1, 63, 64, 65, 130}) check_bits(ebm::funnel(10), n, 13);
}

TEST_CASE("funnel: energy, gradient and exact draws") {
    const ebm::funnel target(10);
    check_against(target, [](const float* x) { return funnel_formula(x, 10); }, 2.0, 1e-4);
    // v is Gaussian; x_i are Gaussian scale mixtures (kurtosis 3 e^9: too heavy for a variance check at this n).
    check_moments(target, 1);
    ebm::batch x(10, 100000);
    target.sample(x, ebm::philox(3), ebm::purpose::evaluation, 0);
    double s = 0;
    for (ebm::index i = 0; i < x.count(); ++i) s += x.chain(i)[4];
    CHECK(std::abs(s / x.count()) < 5.0 * std::sqrt(std::exp(4.5) / x.count()));
}

TEST_CASE("banana: energy, gradient and exact draws") {
    const ebm::banana target;
    check_against(target, banana_formula, 1.5, 1e-4);
    CHECK(target.variance()[1] == doctest::Approx(2.25));
    // Var x2 estimate: x2 = x1^2 + 0.5 z has excess kurtosis (12 + ...)/2.25^2; allow it.
    check_moments(target, 2, 20.0);
}

TEST_CASE("isotropic_mixture: the float energy of gaussian_mixture's isotropic mixtures (the Anatomy gmm), exact draws") {
    const auto ring = ebm::isotropic_mixture<>::ring(8, 1.0, 0.15);
    const auto reference = ebm::toy::gmm();  // the double-precision, full-covariance reference
    check_against(ring, [&](const float* x) { return -reference.log_density(x); }, 1.3, 2e-4);
    check_moments(ring, 2, 2.0);  // a mixture: the variance estimate's spread exceeds a Gaussian's; allow for it
    CHECK(ring.variance()[0] == doctest::Approx(0.5 + 0.0225));
    // Far from every mean (where a naive exp would underflow): finite energy, gradient pointing back.
    ebm::batch far(2, 1);
    far.chain(0)[0] = 6.0f, far.chain(0)[1] = 0.0f;
    std::vector<float> u(1);
    ebm::batch g(2, 1);
    auto ws = ring.make_workspace(1);
    ring.energy_and_gradient(far, u, g, ws);
    CHECK(u[0] == doctest::Approx(-reference.log_density(far.chain(0))).epsilon(1e-5));
    CHECK(g.chain(0)[0] == doctest::Approx(5.0 / 0.0225).epsilon(1e-4));
    // A 3-D mixture with unequal spacing, against the reference too.
    const std::vector<std::vector<double>> means = {{0.0, 0.5, -1.0}, {1.0, 0.0, 0.25}, {-0.5, -0.5, 0.5}};
    const ebm::isotropic_mixture three(means, 0.4);
    const auto reference3 = ebm::gaussian_mixture::isotropic(means, 0.4);
    check_against(three, [&](const float* x) { return -reference3.log_density(x); }, 1.5, 2e-4);
}

TEST_CASE("sampling targets: invalid arguments fail naming the target, the argument and the value") {
    EBM_CHECK_ERROR(ebm::gaussian_target(0), "gaussian_target", "dimension", "0");
    EBM_CHECK_ERROR(ebm::gaussian_target(3, 0.5), "gaussian_target", "condition", "0.5");
    EBM_CHECK_ERROR(ebm::funnel(1), "funnel", "dimension", "1");
    EBM_CHECK_ERROR(ebm::banana(1.0f, -1.0f), "banana", "width", "-1");
    EBM_CHECK_ERROR(ebm::isotropic_mixture<>::ring(17, 1.0, 0.1), "isotropic_mixture::ring", "components", "17");
    EBM_CHECK_ERROR(ebm::isotropic_mixture<>({{0.0, 1.0}, {1.0}}, 0.1), "isotropic_mixture", "dimension", "1");
    EBM_CHECK_ERROR(ebm::isotropic_mixture<>({{0.0, 1.0}}, 0.0), "isotropic_mixture", "sd", "0");
    ebm::batch wrong(3, 2);
    EBM_CHECK_ERROR(ebm::banana().sample(wrong, ebm::philox(1), ebm::purpose::evaluation, 0), "banana::sample", "3");
}
