#pragma once
// The toy densities of the papers, with exact densities and exact samplers:
//   toy::gmm()        Anatomy Fig. 6: 8 equal components at (cos 2 pi k/8, sin 2 pi k/8), sd 0.15
//   toy::rings()      Anatomy Fig. 6: 4 equal rings, radii 1..4, radius ~ N(r_k, 0.15^2), uniform angle
//   toy::mixture_1d() short-run paper Appendix 7.7 (1D): three components on [-1, 1] (our choice of modes,
//                     the paper does not list them: weights 0.3/0.4/0.3, means -0.6/0/0.6, sd 0.1)
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <span>
#include <string>
#include <vector>

#include "../batch.hpp"
#include "../error.hpp"
#include "../random/distributions.hpp"
#include "gaussian_mixture.hpp"
#include "hessian_vector.hpp"

namespace ebm {

/// Rings: radius ~ sum_k w_k N(r_k, sd^2), angle uniform; q(x) = sum_k w_k N(|x|; r_k, sd^2) / (2 pi |x|).
class ring_mixture {
public:
    struct workspace {};

    ring_mixture(std::vector<double> radii, double sd) : radii_(std::move(radii)), sd_(sd) {
        if (radii_.empty()) detail::fail("ring_mixture", "radii must not be empty", radii_.size());
        for (double r : radii_) detail::require_positive("ring_mixture", "radius", r);
        detail::require_positive("ring_mixture", "sd", sd);
    }
    [[nodiscard]] index dimension() const { return 2; }
    [[nodiscard]] workspace make_workspace(index) const { return {}; }

    [[nodiscard]] double log_density(const float* x) const {
        double unused[2];
        return -evaluate(x, unused);
    }
    void energy(const_batch_view x, std::span<float> u, workspace&) const {
        double unused[2];
        for (index i = 0; i < x.count; ++i) u[static_cast<std::size_t>(i)] = static_cast<float>(evaluate(x.chain(i), unused));
    }
    void energy_and_gradient(const_batch_view x, std::span<float> u, batch_view g, workspace&) const {
        for (index i = 0; i < x.count; ++i) {
            double grad[2];
            u[static_cast<std::size_t>(i)] = static_cast<float>(evaluate(x.chain(i), grad));
            g.chain(i)[0] = static_cast<float>(grad[0]);
            g.chain(i)[1] = static_cast<float>(grad[1]);
        }
    }
    /// hv_i = (d2U/dx2)(x_i) v_i: with n = x / |x|, d2U/dx2 = U''(r) n n^T + U'(r) / r (I - n n^T).
    void hessian_vector_product(const_batch_view x, const_batch_view v, batch_view hv, workspace&) const {
        detail::check_hessian_vector_call("ring_mixture::hessian_vector_product", 2, x, v, hv);
        for (index i = 0; i < x.count; ++i) {
            double grad[2], hessian[4];
            (void)evaluate(x.chain(i), grad, hessian);
            const float* vi = v.chain(i);
            hv.chain(i)[0] = static_cast<float>(hessian[0] * vi[0] + hessian[1] * vi[1]);
            hv.chain(i)[1] = static_cast<float>(hessian[2] * vi[0] + hessian[3] * vi[1]);
        }
    }
    void sample(batch_view out, const philox& rng, purpose p, std::uint64_t step, index first_chain = 0) const {
        if (out.dimension != 2) detail::fail("ring_mixture::sample", "out dimension must equal 2", out.dimension);
        for (index i = 0; i < out.count; ++i) {
            const auto chain = static_cast<std::uint32_t>(first_chain + i);
            const auto w = rng.block(p, chain, step, max_philox_block);
            const auto ring = std::min(radii_.size() - 1,
                                       static_cast<std::size_t>(uniform_open01(w[0]) * static_cast<float>(radii_.size())));
            const double radius = radii_[ring] + sd_ * normal_scalar(rng, p, chain, step);
            const double angle = 2.0 * std::numbers::pi * uniform_open01(w[1]);
            out.chain(i)[0] = static_cast<float>(radius * std::cos(angle));
            out.chain(i)[1] = static_cast<float>(radius * std::sin(angle));
        }
    }

private:
    // U = -log q and dU/dx; when `hessian` is given, also d2U/dx2 (2 x 2, row-major).
    double evaluate(const float* x, double* grad, double* hessian = nullptr) const {
        const double x0 = x[0], x1 = x[1];
        const double r = std::max(std::sqrt(x0 * x0 + x1 * x1), 1e-12);
        const double w = 1.0 / static_cast<double>(radii_.size());
        double max_term = -std::numeric_limits<double>::infinity();
        double terms[16];
        const std::size_t k = std::min<std::size_t>(radii_.size(), 16);
        for (std::size_t c = 0; c < k; ++c) {
            const double z = (r - radii_[c]) / sd_;
            terms[c] = std::log(w) - 0.5 * z * z - std::log(sd_ * std::sqrt(2.0 * std::numbers::pi));
            max_term = std::max(max_term, terms[c]);
        }
        double sum = 0;
        for (std::size_t c = 0; c < k; ++c) sum += std::exp(terms[c] - max_term);
        const double log_radial = max_term + std::log(sum);
        // d/dr log q = -1/r + sum_c resp_c * (-(r - r_c)/sd^2)
        double dlog_dr = -1.0 / r;
        for (std::size_t c = 0; c < k; ++c)
            dlog_dr -= std::exp(terms[c] - log_radial) * (r - radii_[c]) / (sd_ * sd_);
        grad[0] = -dlog_dr * x0 / r;
        grad[1] = -dlog_dr * x1 / r;
        if (hessian != nullptr) {
            // With a_c = -(r - r_c)/sd^2: d/dr log q = -1/r + E_resp[a], d2/dr2 log q = 1/r^2 + Var_resp[a] - 1/sd^2.
            double mean = 0, second = 0;
            for (std::size_t c = 0; c < k; ++c) {
                const double responsibility = std::exp(terms[c] - log_radial);
                const double a = -(r - radii_[c]) / (sd_ * sd_);
                mean += responsibility * a;
                second += responsibility * a * a;
            }
            const double d2u = -(1.0 / (r * r) + (second - mean * mean) - 1.0 / (sd_ * sd_));  // U''(r)
            const double tangential = -dlog_dr / r;                                           // U'(r) / r
            const double n[2] = {x0 / r, x1 / r};
            for (int a = 0; a < 2; ++a)
                for (int b = 0; b < 2; ++b)
                    hessian[2 * a + b] = (d2u - tangential) * n[a] * n[b] + (a == b ? tangential : 0.0);
        }
        return -(log_radial - std::log(2.0 * std::numbers::pi * r));
    }

    std::vector<double> radii_;
    double sd_;
};

namespace toy {

inline gaussian_mixture gmm(int components = 8, double radius = 1.0, double sd = 0.15) {
    std::vector<std::vector<double>> means;
    for (int k = 0; k < components; ++k) {
        const double a = 2.0 * std::numbers::pi * k / components;
        means.push_back({radius * std::cos(a), radius * std::sin(a)});
    }
    return gaussian_mixture::isotropic(std::move(means), sd);
}

inline ring_mixture rings(int count = 4, double spacing = 1.0, double sd = 0.15) {
    if (count < 1 || count > 16) detail::fail("toy::rings", "count must lie in [1, 16]", count);
    std::vector<double> radii;
    for (int k = 1; k <= count; ++k) radii.push_back(spacing * k);
    return {std::move(radii), sd};
}

inline gaussian_mixture mixture_1d() {
    return {{0.3, 0.4, 0.3}, {{-0.6}, {0.0}, {0.6}}, {{0.01}, {0.01}, {0.01}}};
}

/// Half-width of the square the Anatomy code plots a toy on: radius + 4 sd (gmm 1.6, rings 4.6).
inline double plot_extent(const std::string& name) {
    if (name == "gmm") return 1.0 + 4 * 0.15;
    if (name == "rings") return 4.0 + 4 * 0.15;
    if (name == "mixture_1d") return 1.0;
    detail::fail("toy::plot_extent", "toy name must be gmm, rings or mixture_1d", name);
}

}  // namespace toy
}  // namespace ebm
