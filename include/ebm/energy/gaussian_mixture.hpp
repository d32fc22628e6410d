#pragma once
// Analytic Gaussian mixture q(x) = sum_k w_k N(x; mu_k, Sigma_k) in any dimension, with full covariances:
// U(x) = -log q(x), its gradient, the exact density and an exact sampler. Evaluated in double precision.
#include <Eigen/Cholesky>
#include "../detail/eigen.hpp"  // Eigen/Core, host-compiled only

#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <span>
#include <vector>

#include "../batch.hpp"
#include "../error.hpp"
#include "../random/distributions.hpp"
#include "hessian_vector.hpp"

namespace ebm {

class gaussian_mixture {
public:
    struct workspace {
        std::vector<double> log_terms;  // K: log w_k N_k(x), then their exp / max, then the responsibilities
        std::vector<double> deltas;     // K x d
        std::vector<double> solved;     // K x d: Sigma_k^{-1} (x - mu_k)
        std::vector<double> projections;  // K: (Sigma_k^{-1} (x - mu_k)) . v, for Hessian-vector products
    };

    /// weights (K, positive, normalised here), means (K vectors of d), covariances (K row-major d x d, SPD).
    gaussian_mixture(std::vector<double> weights, std::vector<std::vector<double>> means,
                     std::vector<std::vector<double>> covariances) {
        const char* where = "gaussian_mixture";
        const std::size_t k = weights.size();
        if (k == 0) detail::fail(where, "weights must not be empty", k);
        if (means.size() != k) detail::fail(where, "means must have one entry per weight (" + detail::to_text(k) + ")", means.size());
        if (covariances.size() != k)
            detail::fail(where, "covariances must have one entry per weight (" + detail::to_text(k) + ")", covariances.size());
        dimension_ = static_cast<index>(means[0].size());
        detail::require_positive(where, "dimension", dimension_);
        double total = 0;
        for (double w : weights) {
            detail::require_positive(where, "weight", w);
            detail::require_finite(where, "weight", w);
            total += w;
        }
        const auto d = static_cast<std::size_t>(dimension_);
        for (std::size_t c = 0; c < k; ++c) {
            if (means[c].size() != d) detail::fail(where, "every mean must have dimension " + detail::to_text(d), means[c].size());
            for (double m : means[c]) detail::require_finite(where, "mean entry", m);
            if (covariances[c].size() != d * d)
                detail::fail(where, "every covariance must have d*d = " + detail::to_text(d * d) + " entries", covariances[c].size());
            Eigen::MatrixXd sigma = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
                covariances[c].data(), dimension_, dimension_);
            if (!sigma.isApprox(sigma.transpose(), 1e-12)) detail::fail(where, "covariance must be symmetric; component", c);
            Eigen::LLT<Eigen::MatrixXd> llt(sigma);
            if (llt.info() != Eigen::Success) detail::fail(where, "covariance must be positive definite; component", c);
            const Eigen::MatrixXd lower = llt.matrixL();
            const Eigen::MatrixXd precision = llt.solve(Eigen::MatrixXd::Identity(dimension_, dimension_));
            double log_det = 0;
            for (index i = 0; i < dimension_; ++i) log_det += 2.0 * std::log(lower(i, i));
            log_norm_.push_back(std::log(weights[c] / total) -
                                0.5 * (static_cast<double>(dimension_) * std::log(2.0 * std::numbers::pi) + log_det));
            weights_.push_back(weights[c] / total);
            for (index i = 0; i < dimension_; ++i) {
                means_.push_back(means[c][static_cast<std::size_t>(i)]);
                for (index j = 0; j < dimension_; ++j) {
                    precision_.push_back(precision(i, j));
                    cholesky_.push_back(lower(i, j));
                }
            }
        }
    }

    /// Equal-weight mixture of isotropic components N(mu_k, sd^2 I).
    static gaussian_mixture isotropic(std::vector<std::vector<double>> means, double sd) {
        detail::require_positive("gaussian_mixture::isotropic", "sd", sd);
        if (means.empty()) detail::fail("gaussian_mixture::isotropic", "means must not be empty", means.size());
        const std::size_t d = means[0].size();
        const std::size_t k = means.size();
        std::vector<double> cov(d * d, 0.0);
        for (std::size_t i = 0; i < d; ++i) cov[i * d + i] = sd * sd;
        return {std::vector<double>(k, 1.0), std::move(means), std::vector<std::vector<double>>(k, cov)};
    }

    [[nodiscard]] index dimension() const { return dimension_; }
    [[nodiscard]] index components() const { return static_cast<index>(weights_.size()); }

    [[nodiscard]] workspace make_workspace(index) const {
        const auto k = weights_.size();
        const auto d = static_cast<std::size_t>(dimension_);
        return {std::vector<double>(k), std::vector<double>(k * d), std::vector<double>(k * d), std::vector<double>(k)};
    }

    /// log q(x) for one state.
    [[nodiscard]] double log_density(const float* x) const {
        workspace ws = make_workspace(1);
        return -evaluate(x, nullptr, ws);
    }

    void energy(const_batch_view x, std::span<float> u, workspace& ws) const {
        for (index i = 0; i < x.count; ++i) u[static_cast<std::size_t>(i)] = static_cast<float>(evaluate(x.chain(i), nullptr, ws));
    }
    void energy_and_gradient(const_batch_view x, std::span<float> u, batch_view g, workspace& ws) const {
        for (index i = 0; i < x.count; ++i)
            u[static_cast<std::size_t>(i)] = static_cast<float>(evaluate(x.chain(i), g.chain(i), ws));
    }

    /// hv_i = (d2U/dx2)(x_i) v_i. With P_k = Sigma_k^{-1}, s_k = P_k (x - mu_k), the responsibilities r_k and the
    /// gradient g = sum_k r_k s_k: d2U/dx2 = sum_k r_k (P_k - s_k s_k^T) + g g^T.
    void hessian_vector_product(const_batch_view x, const_batch_view v, batch_view hv, workspace& ws) const {
        detail::check_hessian_vector_call("gaussian_mixture::hessian_vector_product", dimension_, x, v, hv);
        const auto d = static_cast<std::size_t>(dimension_);
        const std::size_t k = weights_.size();
        for (index i = 0; i < x.count; ++i) {
            const float* vi = v.chain(i);
            float* out = hv.chain(i);
            (void)evaluate(x.chain(i), out, ws);  // out as scratch: leaves r_k in log_terms and s_k in solved
            double gv = 0;
            for (std::size_t c = 0; c < k; ++c) {
                double p = 0;
                for (std::size_t a = 0; a < d; ++a) p += ws.solved[c * d + a] * vi[a];
                ws.projections[c] = p;
                gv += ws.log_terms[c] * p;
            }
            for (std::size_t a = 0; a < d; ++a) {
                double g = 0, h = 0;
                for (std::size_t c = 0; c < k; ++c) {
                    double pv = 0;
                    for (std::size_t b = 0; b < d; ++b) pv += precision_[(c * d + a) * d + b] * vi[b];
                    g += ws.log_terms[c] * ws.solved[c * d + a];
                    h += ws.log_terms[c] * (pv - ws.solved[c * d + a] * ws.projections[c]);
                }
                out[a] = static_cast<float>(h + g * gv);
            }
        }
    }

    /// Exact samples: chain i of out uses the stream (p, first_chain + i, step).
    void sample(batch_view out, const philox& rng, purpose p, std::uint64_t step, index first_chain = 0) const {
        if (out.dimension != dimension_)
            detail::fail("gaussian_mixture::sample", "out dimension must equal " + detail::to_text(dimension_), out.dimension);
        std::vector<float> z(static_cast<std::size_t>(dimension_));  // per call, not per chain
        for (index i = 0; i < out.count; ++i) {
            const auto chain = static_cast<std::uint32_t>(first_chain + i);
            const float u = uniform_open01(rng.block(p, chain, step, max_philox_block)[0]);
            const std::size_t c = pick_component(u);
            fill_normal(rng, p, chain, step, z.data(), dimension_);
            for (index a = 0; a < dimension_; ++a) {
                double v = means_[c * static_cast<std::size_t>(dimension_) + static_cast<std::size_t>(a)];
                for (index b = 0; b <= a; ++b)
                    v += cholesky_[(c * static_cast<std::size_t>(dimension_) + static_cast<std::size_t>(a)) *
                                       static_cast<std::size_t>(dimension_) + static_cast<std::size_t>(b)] *
                         z[static_cast<std::size_t>(b)];
                out.chain(i)[a] = static_cast<float>(v);
            }
        }
    }

private:
    [[nodiscard]] std::size_t pick_component(float u) const {
        double cumulative = 0;
        for (std::size_t c = 0; c + 1 < weights_.size(); ++c) {
            cumulative += weights_[c];
            if (u < cumulative) return c;
        }
        return weights_.size() - 1;
    }

    // Returns U(x) = -log q(x); writes dU/dx to grad when given.
    double evaluate(const float* x, float* grad, workspace& ws) const {
        const auto d = static_cast<std::size_t>(dimension_);
        double max_term = -std::numeric_limits<double>::infinity();
        for (std::size_t c = 0; c < weights_.size(); ++c) {
            double* delta = ws.deltas.data() + c * d;
            double* solved = ws.solved.data() + c * d;
            for (std::size_t a = 0; a < d; ++a) delta[a] = static_cast<double>(x[a]) - means_[c * d + a];
            double quad = 0;
            for (std::size_t a = 0; a < d; ++a) {
                double s = 0;
                for (std::size_t b = 0; b < d; ++b) s += precision_[(c * d + a) * d + b] * delta[b];
                solved[a] = s;
                quad += delta[a] * s;
            }
            ws.log_terms[c] = log_norm_[c] - 0.5 * quad;
            max_term = std::max(max_term, ws.log_terms[c]);
        }
        double sum = 0;
        for (double& t : ws.log_terms) sum += (t = std::exp(t - max_term));
        const double log_q = max_term + std::log(sum);
        if (grad != nullptr) {  // dU/dx = sum_k r_k Sigma_k^{-1} (x - mu_k), r_k the responsibilities
            for (std::size_t c = 0; c < weights_.size(); ++c) ws.log_terms[c] /= sum;
            for (std::size_t a = 0; a < d; ++a) {
                double g = 0;
                for (std::size_t c = 0; c < weights_.size(); ++c) g += ws.log_terms[c] * ws.solved[c * d + a];
                grad[a] = static_cast<float>(g);
            }
        }
        return -log_q;
    }

    index dimension_ = 0;
    std::vector<double> weights_;
    std::vector<double> log_norm_;   // log w_k - log((2 pi)^{d/2} |Sigma_k|^{1/2})
    std::vector<double> means_;      // K x d
    std::vector<double> precision_;  // K x d x d
    std::vector<double> cholesky_;   // K x d x d, lower
};

}  // namespace ebm
