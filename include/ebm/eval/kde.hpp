#pragma once
// Gaussian kernel density estimate with the conventions of scipy.stats.gaussian_kde(dataset, bw_method=<scalar>):
//   kernel covariance  C = cov(samples, ddof = 1) * bw^2         (full covariance, not per-axis)
//   density            p(x) = 1/n sum_i N(x; x_i, C)
// operator() sums every sample exactly. on_grid() evaluates a 1D or 2D grid fast: samples are sorted along the
// last axis, each grid row only visits the samples in the band |y_i - y| <= c sd_y and, per sample, only the
// columns with |x_i - x| <= c sd_x. That box contains the whole ellipse of Mahalanobis radius c, so every
// omitted term is below exp(-c^2/2) times the kernel peak (c = 6: 1.5e-8), and the result differs from the exact
// sum by at most that fraction of the largest kernel value. Rows are independent tasks (OpenMP), each summed in
// a fixed order, so the result does not depend on the thread count.
#include <Eigen/Cholesky>
#include "../detail/eigen.hpp"  // Eigen/Core, host-compiled only

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>
#include <vector>

#include "../backend/cpu/cpu.hpp"
#include "../batch.hpp"
#include "../error.hpp"
#include "grid.hpp"

namespace ebm::eval {

class gaussian_kde {
public:
    /// samples: at least dimension + 1 finite states with a non-singular sample covariance; bandwidth: scipy's
    /// scalar bw_method (the factor multiplying the sample standard deviations).
    gaussian_kde(const_batch_view samples, double bandwidth) : dimension_(samples.dimension), factor_(bandwidth) {
        const char* where = "eval::gaussian_kde";
        detail::require_positive(where, "bandwidth", bandwidth);
        detail::require_finite(where, "bandwidth", bandwidth);
        detail::require_positive(where, "sample dimension", samples.dimension);
        if (samples.count < samples.dimension + 1)
            detail::fail(where, "needs at least dimension + 1 = " + detail::to_text(samples.dimension + 1) + " samples",
                         samples.count);
        detail::require_batch(where, "samples", samples, samples.dimension);
        const index d = dimension_, n = samples.count;
        points_.resize(static_cast<std::size_t>(d * n));
        for (index k = 0; k < d * n; ++k) points_[static_cast<std::size_t>(k)] = samples.data[k];
        Eigen::Map<const Eigen::MatrixXd> x(points_.data(), d, n);
        const Eigen::VectorXd mean = x.rowwise().mean();
        const Eigen::MatrixXd centred = x.colwise() - mean;
        const Eigen::MatrixXd cov = centred * centred.transpose() / static_cast<double>(n - 1) * (bandwidth * bandwidth);
        Eigen::LLT<Eigen::MatrixXd> llt(cov);
        const Eigen::MatrixXd lower = llt.matrixL();
        if (llt.info() != Eigen::Success || !(lower.diagonal().minCoeff() > 1e-150))
            detail::fail(where, "the sample covariance must be positive definite (samples are degenerate)",
                         llt.info() == Eigen::Success ? lower.diagonal().minCoeff() : 0.0);
        const Eigen::MatrixXd precision = llt.solve(Eigen::MatrixXd::Identity(d, d));
        covariance_.assign(cov.data(), cov.data() + d * d);
        precision_.assign(precision.data(), precision.data() + d * d);
        double log_det = 0;
        for (index i = 0; i < d; ++i) log_det += 2.0 * std::log(lower(i, i));
        log_norm_ = -0.5 * (static_cast<double>(d) * std::log(2.0 * std::numbers::pi) + log_det) -
                    std::log(static_cast<double>(n));
    }

    [[nodiscard]] index dimension() const { return dimension_; }
    [[nodiscard]] index count() const { return static_cast<index>(points_.size()) / dimension_; }
    [[nodiscard]] double bandwidth() const { return factor_; }
    /// Kernel covariance (d x d, symmetric): sample covariance (ddof 1) times bandwidth^2.
    [[nodiscard]] double covariance(index i, index j) const { return covariance_[static_cast<std::size_t>(i + j * dimension_)]; }

    /// Exact density at one point (d values), summing all n kernels.
    [[nodiscard]] double operator()(const double* x) const {
        const index d = dimension_;
        double sum = 0;
        std::vector<double> delta(static_cast<std::size_t>(d));
        for (index s = 0; s < count(); ++s) {
            for (index a = 0; a < d; ++a) delta[static_cast<std::size_t>(a)] = x[a] - points_[static_cast<std::size_t>(s * d + a)];
            double quad = 0;
            for (index a = 0; a < d; ++a)
                for (index b = 0; b < d; ++b)
                    quad += delta[static_cast<std::size_t>(a)] * precision_[static_cast<std::size_t>(a + b * d)] *
                            delta[static_cast<std::size_t>(b)];
            sum += std::exp(-0.5 * quad);
        }
        return sum * std::exp(log_norm_);
    }

    /// Densities at every point of a 1D or 2D grid (grid order, unnormalised on the grid), with kernels cut at
    /// `cutoff_sd` standard deviations per axis (see the header comment for the error bound).
    [[nodiscard]] std::vector<double> on_grid(const grid& g, double cutoff_sd = 6.0) const {
        g.validate();
        detail::require_positive("eval::gaussian_kde::on_grid", "cutoff_sd", cutoff_sd);
        if (g.dimension != dimension_)
            detail::fail("eval::gaussian_kde::on_grid", "grid dimension must equal the samples' " + detail::to_text(dimension_),
                         g.dimension);
        return dimension_ == 1 ? grid_1d(g, cutoff_sd) : grid_2d(g, cutoff_sd);
    }

private:
    // Sample indices sorted by coordinate `axis`, and those coordinates.
    void sorted_by(index axis, std::vector<double>& key, std::vector<index>& order) const {
        const index n = count();
        order.resize(static_cast<std::size_t>(n));
        std::iota(order.begin(), order.end(), index{0});
        std::stable_sort(order.begin(), order.end(), [&](index a, index b) {
            return points_[static_cast<std::size_t>(a * dimension_ + axis)] < points_[static_cast<std::size_t>(b * dimension_ + axis)];
        });
        key.resize(static_cast<std::size_t>(n));
        for (index k = 0; k < n; ++k)
            key[static_cast<std::size_t>(k)] = points_[static_cast<std::size_t>(order[static_cast<std::size_t>(k)] * dimension_ + axis)];
    }

    [[nodiscard]] std::vector<double> grid_1d(const grid& g, double c) const {
        std::vector<double> key;
        std::vector<index> order;
        sorted_by(0, key, order);
        const double p = precision_[0];
        const double reach = c * std::sqrt(covariance_[0]);
        const double norm = std::exp(log_norm_);
        std::vector<double> out(static_cast<std::size_t>(g.size()));
        cpu::parallel_tasks(g.resolution, [&](index i) {
            const double x = g.coordinate(i);
            const auto first = std::lower_bound(key.begin(), key.end(), x - reach);
            const auto last = std::upper_bound(key.begin(), key.end(), x + reach);
            double sum = 0;
            for (auto it = first; it != last; ++it) {
                const double dx = x - *it;
                sum += std::exp(-0.5 * p * dx * dx);
            }
            out[static_cast<std::size_t>(i)] = sum * norm;
        });
        return out;
    }

    [[nodiscard]] std::vector<double> grid_2d(const grid& g, double c) const {
        std::vector<double> ys;
        std::vector<index> order;
        sorted_by(1, ys, order);
        const index n = count();
        std::vector<double> xs(static_cast<std::size_t>(n));
        for (index k = 0; k < n; ++k) xs[static_cast<std::size_t>(k)] = points_[static_cast<std::size_t>(order[static_cast<std::size_t>(k)] * 2)];
        const double p00 = precision_[0], p01 = precision_[2], p11 = precision_[3];
        const double reach_x = c * std::sqrt(covariance_[0]);
        const double reach_y = c * std::sqrt(covariance_[3]);
        const double norm = std::exp(log_norm_);
        const index r = g.resolution;
        const double h = g.spacing(), a = g.extent;
        std::vector<double> out(static_cast<std::size_t>(g.size()), 0.0);
        cpu::parallel_tasks(r, [&](index iy) {
            const double y = g.coordinate(iy);
            double* row = out.data() + iy * r;
            const auto first = static_cast<std::size_t>(std::lower_bound(ys.begin(), ys.end(), y - reach_y) - ys.begin());
            const auto last = static_cast<std::size_t>(std::upper_bound(ys.begin(), ys.end(), y + reach_y) - ys.begin());
            for (std::size_t s = first; s < last; ++s) {
                const double dy = y - ys[s];
                const double xs_s = xs[s];
                const auto lo = std::max<index>(0, static_cast<index>(std::ceil((xs_s - reach_x + a) / h)));
                const auto hi = std::min<index>(r - 1, static_cast<index>(std::floor((xs_s + reach_x + a) / h)));
                const double cy = p11 * dy * dy;
                const double cxy = 2.0 * p01 * dy;
                for (index ix = lo; ix <= hi; ++ix) {
                    const double dx = g.coordinate(ix) - xs_s;
                    row[ix] += std::exp(-0.5 * (p00 * dx * dx + cxy * dx + cy));
                }
            }
            for (index ix = 0; ix < r; ++ix) row[ix] *= norm;
        });
        return out;
    }

    index dimension_;
    double factor_;
    std::vector<double> points_;      // chain-major, d x n
    std::vector<double> covariance_;  // column-major d x d
    std::vector<double> precision_;
    double log_norm_ = 0;             // log(1 / (n sqrt((2 pi)^d det C)))
};

}  // namespace ebm::eval
