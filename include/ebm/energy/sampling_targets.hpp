#pragma once
// Standard targets for benchmarking samplers, with exact samplers and known first two moments (per coordinate):
//   gaussian_target(d, condition)  zero-mean Gaussian, covariance Q diag(lambda) Q^T, lambda_i = condition^(i/(d-1))
//                                  and Q the orthonormal DCT-II matrix (a fixed rotation: every coordinate mixes
//                                  scales); U = x^T P x / 2 with P = Q diag(1/lambda) Q^T
//   funnel(d)                      Neal's funnel: v ~ N(0, 3^2), x_i | v ~ N(0, e^v), i = 1..d-1;
//                                  U = v^2/18 + e^(-v) |x|^2 / 2 + (d-1) v / 2
//   banana()                       x1 ~ N(0, 1), x2 | x1 ~ N(x1^2, 0.5^2) (a Rosenbrock-type curved ridge);
//                                  U = x1^2/2 + (x2 - x1^2)^2 / (2 * 0.5^2)
// The definitions are written out so that another library can be given the very same targets (the BlackJAX
// comparison in benchmarks/samplers does). Energies are in float (as the samplers' states); the Gaussian's
// gradient is one matrix product per batch (Eigen).
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <span>
#include <vector>

#include "../batch.hpp"
#include "../error.hpp"
#include "../random/distributions.hpp"

namespace ebm {

/// Zero-mean Gaussian with condition number `condition` and a dense (rotated) covariance.
class gaussian_target {
public:
    struct workspace {
        Eigen::MatrixXf product;  // P x, one column per chain
    };

    explicit gaussian_target(index dimension, double condition = 100.0) : dimension_(dimension) {
        detail::require_positive("gaussian_target", "dimension", dimension);
        detail::require_finite("gaussian_target", "condition", condition);
        if (!(condition >= 1.0)) detail::fail("gaussian_target", "condition must be at least 1", condition);
        const index d = dimension;
        lambda_.resize(static_cast<std::size_t>(d));
        for (index i = 0; i < d; ++i)
            lambda_[static_cast<std::size_t>(i)] = d == 1 ? 1.0 : std::pow(condition, static_cast<double>(i) / static_cast<double>(d - 1));
        Eigen::MatrixXd q(d, d);  // DCT-II, column i = eigenvector i
        for (index j = 0; j < d; ++j)
            for (index i = 0; i < d; ++i)
                q(j, i) = std::sqrt((i == 0 ? 1.0 : 2.0) / static_cast<double>(d)) *
                          std::cos(std::numbers::pi * static_cast<double>((2 * j + 1) * i) / static_cast<double>(2 * d));
        const Eigen::VectorXd l = Eigen::Map<const Eigen::VectorXd>(lambda_.data(), d);
        covariance_ = q * l.asDiagonal() * q.transpose();
        precision_ = (q * l.cwiseInverse().asDiagonal() * q.transpose()).cast<float>();
        root_ = q * l.cwiseSqrt().asDiagonal();  // x = root z
    }
    [[nodiscard]] index dimension() const { return dimension_; }
    [[nodiscard]] workspace make_workspace(index max_chains) const {
        return {Eigen::MatrixXf(dimension_, std::max<index>(max_chains, 1))};
    }
    /// The eigenvalues of the covariance (variances along the principal axes), smallest first.
    [[nodiscard]] const std::vector<double>& eigenvalues() const { return lambda_; }

    void energy(const_batch_view x, std::span<float> u, workspace& ws) const {
        gradient_into(x, u, nullptr, ws);
    }
    void energy_and_gradient(const_batch_view x, std::span<float> u, batch_view g, workspace& ws) const {
        gradient_into(x, u, g.data, ws);
    }
    /// Exact draws: x = Q diag(sqrt(lambda)) z, z from ebm::fill_normal(rng, p, chain, step).
    void sample(batch_view out, const philox& rng, purpose p, std::uint64_t step, index first_chain = 0) const {
        if (out.dimension != dimension_) detail::fail("gaussian_target::sample", "out dimension must equal " + detail::to_text(dimension_), out.dimension);
        std::vector<float> z(static_cast<std::size_t>(dimension_));
        for (index i = 0; i < out.count; ++i) {
            fill_normal(rng, p, static_cast<std::uint32_t>(first_chain + i), step, z.data(), dimension_);
            const Eigen::VectorXd x = root_ * Eigen::Map<const Eigen::VectorXf>(z.data(), dimension_).cast<double>();
            for (index k = 0; k < dimension_; ++k) out.chain(i)[k] = static_cast<float>(x(k));
        }
    }
    [[nodiscard]] std::vector<double> mean() const { return std::vector<double>(static_cast<std::size_t>(dimension_), 0.0); }
    [[nodiscard]] std::vector<double> variance() const {
        std::vector<double> v(static_cast<std::size_t>(dimension_));
        for (index k = 0; k < dimension_; ++k) v[static_cast<std::size_t>(k)] = covariance_(k, k);
        return v;
    }

private:
    void gradient_into(const_batch_view x, std::span<float> u, float* g, workspace& ws) const {
        using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic>;
        if (x.count > ws.product.cols())
            detail::fail("gaussian_target", "the batch holds more chains than the workspace was made for", x.count);
        const Eigen::Map<const matrix> xs(x.data, dimension_, x.count);  // one chain per column
        Eigen::Map<matrix> gs(g != nullptr ? g : ws.product.data(), dimension_, x.count);
        gs.noalias() = precision_ * xs;
        for (index i = 0; i < x.count; ++i) u[static_cast<std::size_t>(i)] = 0.5f * xs.col(i).dot(gs.col(i));
    }

    index dimension_;
    std::vector<double> lambda_;
    Eigen::MatrixXd covariance_;
    Eigen::MatrixXd root_;
    Eigen::MatrixXf precision_;
};

/// Neal's funnel in `dimension` coordinates (v first), v ~ N(0, 3^2), x_i | v ~ N(0, e^v).
class funnel {
public:
    struct workspace {};

    explicit funnel(index dimension = 10) : dimension_(dimension) {
        if (dimension < 2) detail::fail("funnel", "dimension must be at least 2", dimension);
    }
    [[nodiscard]] index dimension() const { return dimension_; }
    [[nodiscard]] workspace make_workspace(index) const { return {}; }

    void energy(const_batch_view x, std::span<float> u, workspace&) const {
        for (index i = 0; i < x.count; ++i) u[static_cast<std::size_t>(i)] = evaluate(x.chain(i), nullptr);
    }
    void energy_and_gradient(const_batch_view x, std::span<float> u, batch_view g, workspace&) const {
        for (index i = 0; i < x.count; ++i) u[static_cast<std::size_t>(i)] = evaluate(x.chain(i), g.chain(i));
    }
    /// Exact draws from normals of (rng, p, chain, step): v = 3 z_0, x_i = e^(v/2) z_i.
    void sample(batch_view out, const philox& rng, purpose p, std::uint64_t step, index first_chain = 0) const {
        if (out.dimension != dimension_) detail::fail("funnel::sample", "out dimension must equal " + detail::to_text(dimension_), out.dimension);
        for (index i = 0; i < out.count; ++i) {
            float* x = out.chain(i);
            fill_normal(rng, p, static_cast<std::uint32_t>(first_chain + i), step, x, dimension_);
            x[0] *= 3.0f;
            const float s = std::exp(0.5f * x[0]);
            for (index k = 1; k < dimension_; ++k) x[k] *= s;
        }
    }
    [[nodiscard]] std::vector<double> mean() const { return std::vector<double>(static_cast<std::size_t>(dimension_), 0.0); }
    /// Var v = 9, Var x_i = E[e^v] = e^(9/2).
    [[nodiscard]] std::vector<double> variance() const {
        std::vector<double> v(static_cast<std::size_t>(dimension_), std::exp(4.5));
        v[0] = 9.0;
        return v;
    }

private:
    float evaluate(const float* x, float* g) const {
        const float v = x[0];
        const float e = std::exp(-v);
        float sq = 0;
        for (index k = 1; k < dimension_; ++k) sq += x[k] * x[k];
        const float half_rest = 0.5f * static_cast<float>(dimension_ - 1);
        if (g != nullptr) {
            g[0] = v / 9.0f - 0.5f * e * sq + half_rest;
            for (index k = 1; k < dimension_; ++k) g[k] = e * x[k];
        }
        return v * v / 18.0f + 0.5f * e * sq + half_rest * v;
    }

    index dimension_;
};

/// The banana: x1 ~ N(0, 1), x2 | x1 ~ N(curvature x1^2, width^2) (defaults 1 and 0.5).
class banana {
public:
    struct workspace {};

    explicit banana(float curvature = 1.0f, float width = 0.5f) : curvature_(curvature), width_(width) {
        detail::require_finite("banana", "curvature", curvature);
        detail::require_positive("banana", "width", width);
    }
    [[nodiscard]] index dimension() const { return 2; }
    [[nodiscard]] workspace make_workspace(index) const { return {}; }

    void energy(const_batch_view x, std::span<float> u, workspace&) const {
        for (index i = 0; i < x.count; ++i) u[static_cast<std::size_t>(i)] = evaluate(x.chain(i), nullptr);
    }
    void energy_and_gradient(const_batch_view x, std::span<float> u, batch_view g, workspace&) const {
        for (index i = 0; i < x.count; ++i) u[static_cast<std::size_t>(i)] = evaluate(x.chain(i), g.chain(i));
    }
    /// Exact draws from normals of (rng, p, chain, step): x1 = z_0, x2 = curvature x1^2 + width z_1.
    void sample(batch_view out, const philox& rng, purpose p, std::uint64_t step, index first_chain = 0) const {
        if (out.dimension != 2) detail::fail("banana::sample", "out dimension must equal 2", out.dimension);
        for (index i = 0; i < out.count; ++i) {
            float* x = out.chain(i);
            fill_normal(rng, p, static_cast<std::uint32_t>(first_chain + i), step, x, 2);
            x[1] = curvature_ * x[0] * x[0] + width_ * x[1];
        }
    }
    /// E x1 = 0, E x2 = curvature.
    [[nodiscard]] std::vector<double> mean() const { return {0.0, static_cast<double>(curvature_)}; }
    /// Var x1 = 1, Var x2 = width^2 + curvature^2 Var(x1^2) = width^2 + 2 curvature^2.
    [[nodiscard]] std::vector<double> variance() const {
        const double c = curvature_, w = width_;
        return {1.0, w * w + 2.0 * c * c};
    }

private:
    float evaluate(const float* x, float* g) const {
        const float r = x[1] - curvature_ * x[0] * x[0];
        const float inv = 1.0f / (width_ * width_);
        if (g != nullptr) {
            g[0] = x[0] - 2.0f * curvature_ * x[0] * r * inv;
            g[1] = r * inv;
        }
        return 0.5f * x[0] * x[0] + 0.5f * r * r * inv;
    }

    float curvature_;
    float width_;
};

}  // namespace ebm
